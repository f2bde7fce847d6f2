package testcluster

import (
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"strconv"
	"strings"
)

// Ports a node keeps across restarts (HQ Raft and sync, store till
// servers) are taken below the kernel's ephemeral range: a port freed by
// a crash must not be handed to one of the many sockets stores and tills
// open while it is down, or the restart could not have it back.
const (
	fixedPortMin = 20000
	// fixedPortTries bounds the draws for a free fixed port.
	fixedPortTries = 200
)

// fixedPortMax is the last port below the ephemeral range.
func fixedPortMax() int {
	b, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range")
	if err == nil {
		if f := strings.Fields(string(b)); len(f) == 2 {
			if lo, err := strconv.Atoi(f[0]); err == nil && lo > fixedPortMin+1000 {
				return lo - 1
			}
		}
	}
	return 32767 // Linux's default range starts at 32768
}

// listenFixed listens on a free loopback port outside the ephemeral range.
func listenFixed(rng *rand.Rand) (net.Listener, error) {
	hi := fixedPortMax()
	var last error
	for range fixedPortTries {
		ln, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", fixedPortMin+rng.IntN(hi-fixedPortMin)))
		if err == nil {
			return ln, nil
		}
		last = err
	}
	return nil, fmt.Errorf("testcluster: no free fixed TCP port: %w", last)
}

// listenPacketFixed is listenFixed for UDP.
func listenPacketFixed(rng *rand.Rand) (net.PacketConn, error) {
	hi := fixedPortMax()
	var last error
	for range fixedPortTries {
		pc, err := net.ListenPacket("udp", fmt.Sprintf("127.0.0.1:%d", fixedPortMin+rng.IntN(hi-fixedPortMin)))
		if err == nil {
			return pc, nil
		}
		last = err
	}
	return nil, fmt.Errorf("testcluster: no free fixed UDP port: %w", last)
}
