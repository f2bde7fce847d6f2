package engine

import "time"

// Greetings. Only the HQ Raft leader greets (a birthday or anniversary
// text): it appends member.greeted through Raft, so every node learns
// that the member was greeted for that kind and year, and no leader —
// this one on a rerun, or the next after a failover — greets again. The
// fold keeps, per kind, the highest year greeted; it only grows, so the
// order events arrive in does not matter.

// EventMemberGreeted records that HQ greeted a member. Its payload is
// Event.Greeting.
const EventMemberGreeted EventKind = "member.greeted"

// The greeting kinds: the profile field whose "MM-DD" day they fall on.
// They are also the message kinds of their texts (MessageBirthday,
// MessageAnniversary).
const (
	GreetingBirthday    = FieldBirthday
	GreetingAnniversary = FieldAnniversary
)

// GreetingCatchUpDays is how many days back a greeting is still due: a
// job that could not run on the day (no leader, an outage across
// midnight) greets a day late rather than not at all. A greeting is
// always counted in the year of the day it fell on.
const GreetingCatchUpDays = 1

// Greeting is a member.greeted payload: the member was greeted for Kind
// on its day in Year (the programme's zone).
type Greeting struct {
	Kind string `json:"kind"`
	Year int    `json:"year"`
}

// GreetingKinds lists the greeting kinds in their canonical order.
func GreetingKinds() []string { return []string{GreetingBirthday, GreetingAnniversary} }

// checkGreeting checks a member.greeted payload.
func checkGreeting(g *Greeting) error {
	if g.Kind != GreetingBirthday && g.Kind != GreetingAnniversary {
		return badEvent("greeting kind %q is not birthday or anniversary", g.Kind)
	}
	if g.Year < 1 || g.Year > 9999 {
		return badEvent("greeting year %d is not 1 to 9999", g.Year)
	}
	return nil
}

// setGreeted folds a member.greeted event: the highest year per kind.
func (s *MemberState) setGreeted(g Greeting) bool {
	if s.Greeted[g.Kind] >= g.Year {
		return false
	}
	if s.Greeted == nil {
		s.Greeted = map[string]int{}
	}
	s.Greeted[g.Kind] = g.Year
	return true
}

// GreetingsDue returns the greetings due to member s at now: for each
// kind whose "MM-DD" profile field falls on today or on one of the
// GreetingCatchUpDays before it (days in the programme's zone), and that
// was not greeted for that day's year. A "02-29" day falls on 28
// February in a year without a 29th. Members not enrolled get none.
// Consent is the caller's to check.
func (p *Programme) GreetingsDue(s *MemberState, now time.Time) []Greeting {
	if !s.Enrolled {
		return nil
	}
	loc := p.Location
	if loc == nil {
		loc = time.UTC
	}
	y, m, d := now.In(loc).Date()
	today := time.Date(y, m, d, 12, 0, 0, 0, time.UTC) // noon: AddDate never crosses a day twice
	var out []Greeting
	for _, kind := range GreetingKinds() {
		month, day, ok := parseMonthDay(s.Field(kind))
		if !ok {
			continue
		}
		for back := 0; back <= GreetingCatchUpDays; back++ {
			date := today.AddDate(0, 0, -back)
			if !fallsOn(month, day, date) {
				continue
			}
			if s.Greeted[kind] < date.Year() {
				out = append(out, Greeting{Kind: kind, Year: date.Year()})
			}
			break // a day falls at most once within the window
		}
	}
	return out
}

// fallsOn reports whether the yearly day (month, day) falls on date: on
// that calendar day, or for 29 February in a year without one, on the
// 28th.
func fallsOn(month time.Month, day int, date time.Time) bool {
	if month == time.February && day == 29 && !isLeap(date.Year()) {
		day = 28
	}
	return date.Month() == month && date.Day() == day
}

func isLeap(y int) bool { return y%4 == 0 && (y%100 != 0 || y%400 == 0) }

// parseMonthDay reads a calendar "MM-DD" (02-29 allowed).
func parseMonthDay(s string) (time.Month, int, bool) {
	if len(s) != 5 || s[2] != '-' {
		return 0, 0, false
	}
	t, err := time.Parse("2006-01-02", "2024-"+s) // a leap year
	if err != nil || t.Format("01-02") != s {
		return 0, 0, false
	}
	return t.Month(), t.Day(), true
}
