//go:build !race

package syncproto

const raceEnabled = false
