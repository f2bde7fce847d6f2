package engine

import (
	"fmt"
	"slices"
	"time"
)

// Lots. Points are earned in lots: every positive ledger entry (earn,
// bonus, a refund of redeemed points, a positive adjustment) is one lot,
// with the terms its origin stamped on it (StampLots): when its points
// expire and, for earned points, until when they are pending. Every
// negative entry takes its points from the lots: a redemption from the
// lot that expires soonest; a claw-back first from the lots of the sale
// it returns (Entry.Source). What no lot can cover is debt, repaid by the
// next lots. Lots that never expire are merged into one once past their
// pending time (MergedLotID).
//
// The lots are a function of the SET of ledger entries and of HQ's
// expiry mark (ExpiryState.ExpiredThrough), never of the order they
// arrived in: ComputeLots sorts the entries by (time, id) and replays
// them. A lot expires at its ExpiresAt only once HQ has marked it (its
// ExpiresAt is at or before the mark), and then it loses what it still
// held at that instant given every entry dated before it. An entry dated
// at or after the expiry never takes from the expired lot, so a
// redemption made offline before the expiry, arriving after HQ's mark,
// still spends the lot and the expiry takes the rest: nothing is counted
// twice, and an expiry never takes a balance below zero (docs/points-expiry.md).

// Lot is the points of one positive ledger entry.
type Lot struct {
	ID           string    `json:"id"` // the entry's id
	At           time.Time `json:"at"`
	Points       Points    `json:"points"`    // as earned (merged: what its lots held when last merged)
	Remaining    Points    `json:"remaining"` // not yet spent, clawed back or expired
	ExpiresAt    time.Time `json:"expires_at,omitzero"`
	PendingUntil time.Time `json:"pending_until,omitzero"`
}

// Lots is a member's lots after every entry: the lots that still hold
// points, the debt, and what expired.
type Lots struct {
	// Live are the lots with points left, soonest expiry first (lots
	// that never expire last), then by time and id.
	Live []Lot `json:"live"`
	// Debt is what was spent beyond every lot (an offline overdraft, a
	// claw-back of points already redeemed); the next lots repay it
	// first. While there is debt no lot holds points.
	Debt Points `json:"debt,omitempty"`
	// Expired is the sum of the points that expired.
	Expired Points `json:"expired,omitempty"`
	// Through is the expiry mark the lots were computed with.
	Through time.Time `json:"through,omitzero"`
	// NextExpiry is the earliest expiry, after the mark, of a lot that
	// held points at its expiry (or still holds them): marking up to an
	// instant before it would change nothing (zero: none).
	NextExpiry time.Time `json:"next_expiry,omitzero"`
}

// ExpiryEntryID is the id of the expire entry of lot id.
func ExpiryEntryID(lot string) string { return lot + "/expire" }

// MergedLotID is the id of the lot into which the replay merges the lots
// that never expire once they are past their pending time.
const MergedLotID = "*"

// ComputeLots replays entries in ledger order (CompareEntries) under the
// expiry mark through and returns the lots and the expire entries they
// derive: one per lot that expired with points left (id ExpiryEntryID,
// at its ExpiresAt, the lot's store, ref the lot's id, minus what it
// held). Lots whose ExpiresAt is at or before through expire; later ones
// do not, whatever their date. Expire entries in entries are ignored
// (they are derived), as are zero entries and an id repeated at the same
// time. Σ entries + Σ expire entries = Σ Live.Remaining − Debt.
func ComputeLots(entries []Entry, through time.Time) (Lots, []Entry) {
	r, expiries := ReplayLots(entries, through)
	lots, trailing := r.Finish()
	expiries = append(expiries, trailing...)
	slices.SortFunc(expiries, CompareEntries)
	return lots, expiries
}

// ReplayLots replays entries (in any order) as ComputeLots does and
// returns the replay, to be resumed or finished, and the expire entries
// of the lots that expired before the last entry.
func ReplayLots(entries []Entry, through time.Time) (*LotReplay, []Entry) {
	posted := make([]Entry, 0, len(entries))
	for _, e := range entries {
		if e.Kind != EntryExpire && e.Points != 0 {
			posted = append(posted, e)
		}
	}
	slices.SortFunc(posted, CompareEntries)
	r := NewLotReplay(through)
	var expiries []Entry
	for _, e := range posted {
		if r.Follows(e) { // repeated ids sort together: the first is kept
			expiries = append(expiries, r.Apply(e)...)
		}
	}
	return r, expiries
}

// LotReplay is the replay ComputeLots runs, as a value that can be kept
// and resumed: the state after the entries applied so far. A node keeps
// it per member and applies a new entry that sorts after every entry
// applied (Follows) without reading the ledger again; any other change
// (an entry dated earlier, a new mark) replays from the start. Both give
// the same state, so every node agrees whichever path it took.
type LotReplay struct {
	// Through is the expiry mark.
	Through time.Time `json:"through,omitzero"`
	// LastAt and LastID are the last entry applied.
	LastAt time.Time `json:"last_at,omitzero"`
	LastID string    `json:"last_id,omitempty"`
	// Live are the lots holding points, in no particular order.
	Live []ReplayLot `json:"live"`
	// Debt is what no lot covered (Lots.Debt).
	Debt Points `json:"debt,omitempty"`
	// Expired sums the expire entries Apply returned.
	Expired Points `json:"expired,omitempty"`
	// Held is the earliest expiry, after the mark, of a lot that held
	// points at its expiry and was spent after it (Lots.NextExpiry).
	Held time.Time `json:"held,omitzero"`
}

// ReplayLot is a lot with what the replay needs of its entry.
type ReplayLot struct {
	Lot
	Kind  EntryKind `json:"kind"`
	Ref   string    `json:"ref,omitempty"`
	Store string    `json:"store,omitempty"`
}

// NewLotReplay starts a replay under the expiry mark through.
func NewLotReplay(through time.Time) *LotReplay {
	return &LotReplay{Through: through.UTC(), Live: []ReplayLot{}}
}

// Follows reports whether e sorts after every entry applied, so that
// Apply(e) continues the replay.
func (r *LotReplay) Follows(e Entry) bool {
	if r.LastID == "" {
		return true
	}
	return CompareEntries(e, Entry{At: r.LastAt, ID: r.LastID}) > 0
}

// Apply replays e, which must follow every entry applied (Follows), and
// returns the expire entries of the lots that expired before it. A
// positive entry makes a lot, which repays debt first; a negative one
// spends (take). Then the lots that never expire and are past their
// pending time are merged into one (MergedLotID): they are spent and
// shown alike, and a member who earns often and never spends must not
// carry one lot per sale.
func (r *LotReplay) Apply(e Entry) []Entry {
	if !r.Follows(e) {
		panic(fmt.Sprintf("engine: lot replay: entry %s (%v) does not follow %s (%v)", e.ID, e.At, r.LastID, r.LastAt))
	}
	r.LastAt, r.LastID = e.At.UTC(), e.ID
	if e.Kind == EntryExpire || e.Points == 0 {
		return nil
	}
	expiries := r.expire(e.At)
	if e.Points > 0 {
		r.add(e)
	} else {
		r.take(e)
	}
	r.merge(e.At)
	return expiries
}

// Finish returns the lots after every entry applied, the lots past the
// mark expired, and the expire entries of those; r is unchanged.
func (r *LotReplay) Finish() (Lots, []Entry) {
	c := r.clone()
	trailing := c.expire(c.Through)
	out := Lots{Live: make([]Lot, 0, len(c.Live)), Debt: c.Debt, Expired: c.Expired, Through: c.Through,
		NextExpiry: c.Held}
	for _, l := range c.Live {
		out.Live = append(out.Live, l.Lot)
		if x := l.ExpiresAt; !x.IsZero() && (out.NextExpiry.IsZero() || x.Before(out.NextExpiry)) {
			out.NextExpiry = x
		}
	}
	slices.SortFunc(out.Live, compareLots)
	slices.SortFunc(trailing, CompareEntries)
	return out, trailing
}

func utcOrZero(t time.Time) time.Time {
	if t.IsZero() {
		return time.Time{}
	}
	return t.UTC()
}

func (r *LotReplay) clone() *LotReplay {
	c := *r
	c.Live = slices.Clone(r.Live)
	return &c
}

// expire expires the lots whose ExpiresAt is at or before both at and
// the mark (a lot can be used strictly before its ExpiresAt), and
// returns their expire entries. A lot due by at but past the mark stays;
// it held points at its expiry, which Held notes.
func (r *LotReplay) expire(at time.Time) []Entry {
	limit := at
	if r.Through.Before(limit) {
		limit = r.Through
	}
	var out []Entry
	kept := r.Live[:0]
	for _, l := range r.Live {
		switch x := l.ExpiresAt; {
		case x.IsZero() || x.After(at):
			kept = append(kept, l)
		case x.After(limit):
			if r.Held.IsZero() || x.Before(r.Held) {
				r.Held = x
			}
			kept = append(kept, l)
		default:
			out = append(out, Entry{ID: ExpiryEntryID(l.ID), At: x, Store: l.Store, Kind: EntryExpire,
				Points: -l.Remaining, Ref: l.ID})
			r.Expired += l.Remaining
		}
	}
	clear(r.Live[len(kept):])
	r.Live = kept
	return out
}

// add makes a lot of a positive entry, which repays debt first.
func (r *LotReplay) add(e Entry) {
	// Times in UTC: the replay is stored, and must come back equal.
	l := ReplayLot{Lot: Lot{ID: e.ID, At: e.At.UTC(), Points: e.Points, Remaining: e.Points,
		ExpiresAt: utcOrZero(e.ExpiresAt), PendingUntil: utcOrZero(e.PendingUntil)}, Kind: e.Kind, Ref: e.Ref, Store: e.Store}
	repay := min(r.Debt, l.Remaining)
	r.Debt -= repay
	l.Remaining -= repay
	if l.Remaining > 0 {
		r.Live = append(r.Live, l)
	}
}

// take spends a negative entry's points: a claw-back first from the
// earned and bonus lots of its Source sale (not yet merged), then every
// entry from the lots in spending order at its time; the rest becomes
// debt.
func (r *LotReplay) take(e Entry) {
	need := -e.Points
	if e.Source != "" {
		need = r.takeFrom(need, e.At, func(l *ReplayLot) bool {
			return l.Ref == e.Source && (l.Kind == EntryEarn || l.Kind == EntryBonus)
		})
	}
	need = r.takeFrom(need, e.At, func(*ReplayLot) bool { return true })
	r.Debt += need
}

// takeFrom takes up to need points from the live lots that match, in
// spending order at at, and returns what is still needed.
func (r *LotReplay) takeFrom(need Points, at time.Time, match func(*ReplayLot) bool) Points {
	var from []*ReplayLot
	for i := range r.Live {
		if match(&r.Live[i]) {
			from = append(from, &r.Live[i])
		}
	}
	slices.SortFunc(from, func(a, b *ReplayLot) int { return compareSpend(a.Lot, b.Lot, at) })
	for _, l := range from {
		if need == 0 {
			break
		}
		n := min(need, l.Remaining)
		l.Remaining -= n
		need -= n
	}
	r.Live = slices.DeleteFunc(r.Live, func(l ReplayLot) bool { return l.Remaining == 0 })
	return need
}

// merge merges the lots that never expire and are past their pending
// time at at into the MergedLotID lot (at the earliest of their times).
func (r *LotReplay) merge(at time.Time) {
	var merged *ReplayLot
	n := 0
	for i := range r.Live {
		l := r.Live[i]
		if !l.ExpiresAt.IsZero() || l.PendingUntil.After(at) || l.ID == MergedLotID {
			continue
		}
		n++
		if merged == nil {
			if j := slices.IndexFunc(r.Live, func(l ReplayLot) bool { return l.ID == MergedLotID }); j >= 0 {
				merged = &ReplayLot{Lot: r.Live[j].Lot}
			} else {
				merged = &ReplayLot{Lot: Lot{ID: MergedLotID, At: l.At}}
			}
		}
		merged.Remaining += l.Remaining
		if l.At.Before(merged.At) {
			merged.At = l.At
		}
	}
	if n == 0 {
		return
	}
	r.Live = slices.DeleteFunc(r.Live, func(l ReplayLot) bool {
		return l.ExpiresAt.IsZero() && !l.PendingUntil.After(at)
	})
	merged.Points = merged.Remaining // a merged lot is as large as what it was made of held
	r.Live = append(r.Live, *merged)
}

// compareSpend is the spending order at at: lots past their pending time
// first, then by compareLots.
func compareSpend(a, b Lot, at time.Time) int {
	pa, pb := a.PendingUntil.After(at), b.PendingUntil.After(at)
	switch {
	case pa != pb && pb:
		return -1
	case pa != pb:
		return 1
	}
	return compareLots(a, b)
}

// compareLots orders lots by expiry (never last), then time, then id.
func compareLots(a, b Lot) int {
	switch ea, eb := a.ExpiresAt, b.ExpiresAt; {
	case ea.IsZero() != eb.IsZero() && ea.IsZero():
		return 1
	case ea.IsZero() != eb.IsZero():
		return -1
	case !ea.Equal(eb):
		return ea.Compare(eb)
	}
	if c := a.At.Compare(b.At); c != 0 {
		return c
	}
	return compareStrings(a.ID, b.ID)
}

// Due reports whether marking the lots expired through at would change
// them: a lot that held points at its expiry expires at or before at.
// (A lot spent before its expiry expires nothing; one spent by entries
// dated after its expiry gives those entries back to other lots.)
func (l Lots) Due(at time.Time) bool {
	return !l.NextExpiry.IsZero() && !l.NextExpiry.After(at)
}

// Position is what a member's lots allow at an instant.
type Position struct {
	// Redeemable is the points of lots past their pending time and not
	// expired, less debt (never below zero).
	Redeemable Points
	// Pending is the points of lots still pending.
	Pending Points
	// Expiring names the soonest expiry within the warning window, nil
	// when none.
	Expiring *Expiring
}

// Expiring is the soonest day within the warning window on which points
// expire, and how many.
type Expiring struct {
	Points Points `json:"points"`
	On     string `json:"on"` // "YYYY-MM-DD" in the programme's zone
}

// PositionAt is the position at now. A lot already due at now counts as
// neither redeemable nor pending (ComputeLots with through = now removes
// such lots properly). Points expiring on a day (in loc) up to warnDays
// days after today are in Expiring, summed over the lots of the soonest
// such day.
func (l Lots) PositionAt(now time.Time, loc *time.Location, warnDays int) Position {
	if loc == nil {
		loc = time.UTC
	}
	var pos Position
	var available Points
	horizon := windowEnd(now, loc, warnDays)
	soonest := ""
	for _, lot := range l.Live {
		if !lot.ExpiresAt.IsZero() && !lot.ExpiresAt.After(now) {
			continue
		}
		if lot.PendingUntil.After(now) {
			pos.Pending += lot.Remaining
		} else {
			available += lot.Remaining
		}
		if warnDays <= 0 || lot.ExpiresAt.IsZero() || !lot.ExpiresAt.Before(horizon) {
			continue
		}
		switch day := lot.ExpiresAt.In(loc).Format(time.DateOnly); {
		case soonest == "" || day < soonest:
			soonest = day
			pos.Expiring = &Expiring{Points: lot.Remaining, On: day}
		case day == soonest:
			pos.Expiring.Points += lot.Remaining
		}
	}
	pos.Redeemable = max(available-l.Debt, 0)
	return pos
}

// StampLots sets the lot terms of the entries a sale or return posts,
// under p: a positive entry expires at the start of the day (in p's
// zone) ExpireAfterDays after the day it is made; earned and bonus
// points are pending until the start of the day PendingDays after it;
// a negative return entry takes its points first from the lots of the
// receipt source. Days are calendar days, so a lot earned at any hour of
// 10 January with expire_after_days 365 expires as 10 January of the
// next year begins, and "expires on" that day.
func StampLots(p *Programme, entries []Entry, source string) {
	for i := range entries {
		e := &entries[i]
		switch {
		case e.Points > 0:
			if n := p.Earn.ExpireAfterDays; n > 0 {
				e.ExpiresAt = p.startOfDayAfter(e.At, n)
			}
			if n := p.Earn.PendingDays; n > 0 && (e.Kind == EntryEarn || e.Kind == EntryBonus) {
				e.PendingUntil = p.startOfDayAfter(e.At, n)
			}
		case e.Points < 0 && e.Kind == EntryReturn && source != "":
			e.Source = source
		}
	}
}

// windowEnd is the end of a warning window of days days from now: the
// start (in loc) of the day after the window's last day.
func windowEnd(now time.Time, loc *time.Location, days int) time.Time {
	y, m, d := now.In(loc).Date()
	return time.Date(y, m, d+days+1, 0, 0, 0, 0, loc).UTC()
}

// startOfDayAfter is the start (in p's zone, as UTC) of the day days
// after at's day.
func (p *Programme) startOfDayAfter(at time.Time, days int) time.Time {
	loc := p.Location
	if loc == nil {
		loc = time.UTC
	}
	y, m, d := at.In(loc).Date()
	return time.Date(y, m, d+days, 0, 0, 0, 0, loc).UTC()
}

// checkLotTerms checks an entry's lot terms: only lots (positive
// entries) expire or are pending, and only after they are made; only a
// negative entry names a Source; no entry is posted as an expiry (they
// are derived).
func checkLotTerms(e Entry) error {
	switch {
	case e.Kind == EntryExpire:
		return badEvent("ledger entry %s: expire entries are derived, never posted", e.ID)
	case (!e.ExpiresAt.IsZero() || !e.PendingUntil.IsZero()) && e.Points <= 0:
		return badEvent("ledger entry %s: only positive entries have an expiry or a pending time", e.ID)
	case !e.ExpiresAt.IsZero() && !e.ExpiresAt.After(e.At):
		return badEvent("ledger entry %s expires before it is made", e.ID)
	case !e.PendingUntil.IsZero() && e.PendingUntil.Before(e.At):
		return badEvent("ledger entry %s is pending until before it is made", e.ID)
	case e.Source != "" && (e.Points >= 0 || !validEventID(e.Source)):
		return badEvent("ledger entry %s: a source is 1 to %d printable characters, on a negative entry", e.ID, MaxEventIDLen)
	}
	return nil
}
