package engine

import "time"

// Points expiry events. Only HQ originates them (its Raft leader's
// expiry job, node/hqevents):
//
//   - points.expired marks a member's lots expiring at or before Through
//     as expired. It carries no amount: every node derives what each lot
//     loses from the lots (ComputeLots), so an entry that arrives after
//     the mark — a redemption made offline before the expiry — still
//     counts, and nothing is expired twice.
//   - points.expiry_warned records that the member was told that points
//     expiring before Through (the end of the warning window) will
//     expire, so no leader tells them again. Points and On are what the
//     text said.
//
// The fold keeps the latest Through of each kind (ExpiryState); it only
// grows, so the order events arrive in does not matter.

// The points expiry event kinds; their payload is Event.Expiry.
const (
	EventPointsExpired      EventKind = "points.expired"
	EventPointsExpiryWarned EventKind = "points.expiry_warned"
)

// PointsExpiry is the payload of points.expired and points.expiry_warned.
type PointsExpiry struct {
	Through time.Time `json:"through"`
	Points  Points    `json:"points,omitempty"` // warned: the points the text named
	On      string    `json:"on,omitempty"`     // warned: the first expiry day the text named, "YYYY-MM-DD"
}

// ExpiryState is HQ's expiry register of a member.
type ExpiryState struct {
	// ExpiredThrough: every lot expiring at or before it has expired.
	ExpiredThrough time.Time `json:"expired_through,omitzero"`
	// WarnedThrough: the member was warned of every lot expiring before
	// it (the end of the warning's window).
	WarnedThrough time.Time `json:"warned_through,omitzero"`
}

// checkPointsExpiry checks an expiry payload. HQ cannot expire points
// ahead of its own clock: Through is at or before the event's time.
func checkPointsExpiry(ev Event) error {
	x := ev.Expiry
	switch {
	case x.Through.IsZero():
		return badEvent("expiry through required")
	case ev.Kind == EventPointsExpired && x.Through.After(ev.At):
		return badEvent("points cannot expire through %s, after the event's time %s", x.Through, ev.At)
	case ev.Kind == EventPointsExpired && (x.Points != 0 || x.On != ""):
		return badEvent("points.expired carries no points or day: the fold derives them")
	case x.Points < 0:
		return badEvent("warned points must not be negative")
	case x.On != "":
		if _, err := time.Parse(time.DateOnly, x.On); err != nil {
			return badEvent("warned day %q is not YYYY-MM-DD", x.On)
		}
	}
	return nil
}

// setExpiry folds an expiry event: the later Through of each kind.
func (s *MemberState) setExpiry(ev Event) bool {
	if s.Expiry == nil {
		s.Expiry = &ExpiryState{}
	}
	through := ev.Expiry.Through.UTC()
	reg := &s.Expiry.ExpiredThrough
	if ev.Kind == EventPointsExpiryWarned {
		reg = &s.Expiry.WarnedThrough
	}
	if !through.After(*reg) {
		return false
	}
	*reg = through
	return true
}

// ExpiredThrough is the member's expiry mark (zero when none).
func (s *MemberState) ExpiredThrough() time.Time {
	if s.Expiry == nil {
		return time.Time{}
	}
	return s.Expiry.ExpiredThrough
}

// WarnedThrough is the member's warning mark (zero when none).
func (s *MemberState) WarnedThrough() time.Time {
	if s.Expiry == nil {
		return time.Time{}
	}
	return s.Expiry.WarnedThrough
}

// Lots returns the member's lots under HQ's expiry mark.
func (f *MemberFold) Lots() Lots {
	lots, _ := ComputeLots(f.posted(), f.State.ExpiredThrough())
	return lots
}

// Expiries returns the expire entries the member's lots derive.
func (f *MemberFold) Expiries() []Entry {
	_, out := ComputeLots(f.posted(), f.State.ExpiredThrough())
	return out
}

func (f *MemberFold) posted() []Entry {
	out := make([]Entry, 0, len(f.Entries))
	for _, e := range f.Entries {
		out = append(out, e)
	}
	return out
}

// ExpiryWarning is a warning due to a member: the points of the lots
// expiring within the window that no warning named yet.
type ExpiryWarning struct {
	// Through is the new warning mark: the end of the window, the start
	// of the day after its last day.
	Through time.Time
	Points  Points
	On      string // the soonest of their expiry days, "YYYY-MM-DD" in the programme's zone
}

// ExpiryWarningDue returns the warning due at now to a member with lots
// (computed with through = now, so lots due at now are gone) and warning
// mark warned, under p's expiry_warning_days; nil when none is due. It
// names every lot with points that expires from the mark on and on a day
// (in p's zone) up to expiry_warning_days after today. At most one
// warning goes out per half window (after a warning whose window ends at
// w, the next comes at w − window/2 at the earliest), so a member who
// earns every day is not texted every day; every lot is still named
// about half a window before it expires, and no lot twice.
func (p *Programme) ExpiryWarningDue(lots Lots, warned, now time.Time) *ExpiryWarning {
	days := p.ExpiryWarningDays()
	if days <= 0 {
		return nil
	}
	if !warned.IsZero() && now.Before(warned.Add(-time.Duration(days)*12*time.Hour)) {
		return nil // within half a window of the last warning
	}
	loc := p.Location
	if loc == nil {
		loc = time.UTC
	}
	w := &ExpiryWarning{Through: windowEnd(now, loc, days)}
	var soonest time.Time
	for _, l := range lots.Live {
		if l.ExpiresAt.IsZero() || !l.ExpiresAt.After(now) || l.ExpiresAt.Before(warned) || !l.ExpiresAt.Before(w.Through) {
			continue
		}
		w.Points += l.Remaining
		if soonest.IsZero() || l.ExpiresAt.Before(soonest) {
			soonest = l.ExpiresAt
		}
	}
	if w.Points <= 0 {
		return nil
	}
	w.On = soonest.In(loc).Format(time.DateOnly)
	return w
}
