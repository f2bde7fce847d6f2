package engine

import (
	"reflect"
	"testing"
	"time"

	"pgregory.net/rapid"
)

func rapidSeconds(t *rapid.T) time.Duration {
	return time.Duration(rapid.IntRange(0, 5).Draw(t, "tick")) * time.Second
}

func TestGreetingsDue(t *testing.T) {
	kolkata := time.FixedZone("IST", 5*3600+1800)
	p := &Programme{Location: kolkata}
	member := func(birthday, anniversary string, greeted map[string]int) *MemberState {
		s := NewMemberState("m")
		s.Enrolled = true
		for k, v := range map[string]string{FieldBirthday: birthday, FieldAnniversary: anniversary} {
			if v != "" {
				s.Profile[k] = StringRegister{Value: v}
			}
		}
		s.Greeted = greeted
		return s
	}
	at := func(s string) time.Time {
		tm, err := time.Parse(time.RFC3339, s)
		if err != nil {
			t.Fatal(err)
		}
		return tm
	}
	b := func(year int) Greeting { return Greeting{Kind: GreetingBirthday, Year: year} }
	a := func(year int) Greeting { return Greeting{Kind: GreetingAnniversary, Year: year} }
	tests := []struct {
		name  string
		state *MemberState
		now   string
		want  []Greeting
	}{
		{"birthday today", member("06-03", "", nil), "2026-06-03T10:00:00Z", []Greeting{b(2026)}},
		{"both today", member("06-03", "06-03", nil), "2026-06-03T10:00:00Z", []Greeting{b(2026), a(2026)}},
		{"not today", member("06-05", "01-01", nil), "2026-06-03T10:00:00Z", nil},
		// 20:00 UTC on 2 June is 01:30 on 3 June in Kolkata.
		{"today in the zone, not in UTC", member("06-03", "", nil), "2026-06-02T20:00:00Z", []Greeting{b(2026)}},
		// 18:00 UTC on 3 June is 23:30 on 3 June in Kolkata: the 4th is not yet.
		{"tomorrow in UTC, today in the zone", member("06-04", "", nil), "2026-06-03T18:00:00Z", nil},
		{"yesterday: caught up", member("06-02", "", nil), "2026-06-03T10:00:00Z", []Greeting{b(2026)}},
		{"two days ago: missed", member("06-01", "", nil), "2026-06-03T10:00:00Z", nil},
		{"already greeted this year", member("06-03", "", map[string]int{GreetingBirthday: 2026}), "2026-06-03T10:00:00Z", nil},
		{"greeted last year", member("06-03", "", map[string]int{GreetingBirthday: 2025}), "2026-06-03T10:00:00Z", []Greeting{b(2026)}},
		{"greeted for the other kind only", member("06-03", "06-03", map[string]int{GreetingAnniversary: 2026}), "2026-06-03T10:00:00Z", []Greeting{b(2026)}},
		{"29 Feb in a leap year", member("02-29", "", nil), "2028-02-29T10:00:00Z", []Greeting{b(2028)}},
		{"29 Feb not on the 28th of a leap year", member("02-29", "", nil), "2028-02-28T10:00:00Z", nil},
		{"29 Feb falls on the 28th otherwise", member("02-29", "", nil), "2027-02-28T10:00:00Z", []Greeting{b(2027)}},
		{"29 Feb caught up on 1 March", member("02-29", "", nil), "2027-03-01T10:00:00Z", []Greeting{b(2027)}},
		{"29 Feb greeted on the 28th is not due on 1 March", member("02-29", "", map[string]int{GreetingBirthday: 2027}), "2027-03-01T10:00:00Z", nil},
		{"28 Feb is not moved", member("02-28", "", nil), "2028-02-28T10:00:00Z", []Greeting{b(2028)}},
		{"31 Dec caught up on 1 Jan counts for the old year", member("12-31", "", nil), "2027-01-01T10:00:00Z", []Greeting{b(2026)}},
		{"31 Dec greeted in its year", member("12-31", "", map[string]int{GreetingBirthday: 2026}), "2027-01-01T10:00:00Z", nil},
		{"no day in the profile", member("", "", nil), "2026-06-03T10:00:00Z", nil},
		{"malformed day", member("6-3", "13-01", nil), "2026-06-03T10:00:00Z", nil},
	}
	for _, tt := range tests {
		got := p.GreetingsDue(tt.state, at(tt.now))
		if !reflect.DeepEqual(got, tt.want) {
			t.Errorf("%s: got %v, want %v", tt.name, got, tt.want)
		}
	}
	notEnrolled := member("06-03", "", nil)
	notEnrolled.Enrolled = false
	if got := p.GreetingsDue(notEnrolled, at("2026-06-03T10:00:00Z")); got != nil {
		t.Errorf("a member not enrolled is due %v", got)
	}
	// Without a zone the programme's days are UTC's.
	if got := (&Programme{}).GreetingsDue(member("06-03", "", nil), at("2026-06-02T20:00:00Z")); got != nil {
		t.Errorf("UTC programme: due %v on 2 June", got)
	}
}

func TestSetGreetedKeepsTheHighestYear(t *testing.T) {
	s := NewMemberState("m")
	for _, tt := range []struct {
		g       Greeting
		changed bool
		want    int
	}{
		{Greeting{GreetingBirthday, 2026}, true, 2026},
		{Greeting{GreetingBirthday, 2026}, false, 2026},
		{Greeting{GreetingBirthday, 2025}, false, 2026},
		{Greeting{GreetingBirthday, 2027}, true, 2027},
	} {
		if got := s.setGreeted(tt.g); got != tt.changed || s.Greeted[GreetingBirthday] != tt.want {
			t.Errorf("greet %v: changed %v, year %d; want %v, %d", tt.g, got, s.Greeted[GreetingBirthday], tt.changed, tt.want)
		}
	}
}
