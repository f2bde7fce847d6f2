package engine

import (
	"math"
	"time"
)

// MaxClockSkew bounds how far ahead of a node's own clock a remote HLC may
// drag it. A store whose clock jumps (a dead RTC battery, a mistyped date)
// stamps its events with that time, and the fold must keep those stamps
// as they are (changing them would make the fold depend on who saw the
// event). What the bound stops is the jump spreading: a node that
// observes an HLC more than MaxClockSkew ahead of its own clock does not
// adopt it, so its own later events are stamped from its own time and
// every other node keeps a sane clock. An hour covers every honest
// NTP-less drift between syncs; the bad store's writes still win the
// registers they stamped until someone writes after its stamp.
const MaxClockSkew = time.Hour

// HLC is a hybrid logical clock reading: the wall clock in unix
// nanoseconds, with a logical counter that orders events stamped within
// the same nanosecond (or while the wall clock stands still or runs
// backwards). HLCs of one node strictly increase.
type HLC struct {
	Wall    int64  `json:"wall"`    // unix nanoseconds
	Logical uint32 `json:"logical"` // ordering within one Wall
}

// Compare returns -1, 0 or +1 as h is before, equal to or after o.
func (h HLC) Compare(o HLC) int {
	switch {
	case h.Wall < o.Wall:
		return -1
	case h.Wall > o.Wall:
		return 1
	case h.Logical < o.Logical:
		return -1
	case h.Logical > o.Logical:
		return 1
	}
	return 0
}

// IsZero reports whether h is the zero reading (no event yet).
func (h HLC) IsZero() bool { return h == HLC{} }

// Next is the reading for a local event at now, after h: the later of h's
// wall and now, with the logical counter bumped when the wall did not
// move forward.
func (h HLC) Next(now time.Time) HLC {
	wall := now.UnixNano()
	if wall > h.Wall {
		return HLC{Wall: wall}
	}
	return h.bump()
}

// Observe is the reading after receiving an event stamped remote at now:
// later than h, than remote and than now (the HLC receive rule). A remote
// reading more than MaxClockSkew ahead of now is not adopted (see
// MaxClockSkew): the result is then h.Next(now).
func (h HLC) Observe(remote HLC, now time.Time) HLC {
	if remote.Wall > now.Add(MaxClockSkew).UnixNano() {
		return h.Next(now)
	}
	wall := now.UnixNano()
	switch {
	case wall > h.Wall && wall > remote.Wall:
		return HLC{Wall: wall}
	case h.Wall == remote.Wall:
		m := h
		if remote.Logical > m.Logical {
			m.Logical = remote.Logical
		}
		return m.bump()
	case h.Wall > remote.Wall:
		return h.bump()
	default:
		return remote.bump()
	}
}

// bump is the next reading at the same wall time; when the counter is
// exhausted the wall moves on by a nanosecond, so readings stay strictly
// increasing.
func (h HLC) bump() HLC {
	if h.Logical == math.MaxUint32 {
		return HLC{Wall: h.Wall + 1}
	}
	return HLC{Wall: h.Wall, Logical: h.Logical + 1}
}
