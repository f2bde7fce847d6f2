package engine

import "time"

// LiveAt reports whether the campaign's validity window (dates, days and
// hours in loc, the programme's zone; nil is UTC) contains at: the same
// rule evaluation applies, for callers that list campaigns (the admin
// API) rather than price a basket. Scopes (stores, members, coupons) are
// not considered. It errors on a malformed window, which a programme
// from ParseProgramme never has.
func (c *Campaign) LiveAt(at time.Time, loc *time.Location) (bool, error) {
	return c.Valid.validAt(newLocalMoment(at, loc))
}
