package engine

import (
	"reflect"
	"slices"
	"strings"
	"testing"
)

func TestEventFormat(t *testing.T) {
	for _, ev := range sampleEvents() {
		if !slices.Contains(format1Kinds, ev.Kind) {
			continue
		}
		if got := EventFormat(ev); got != ChainFormat1 {
			t.Errorf("%s: format %d, want 1 (the first build reads it)", ev.Kind, got)
		}
	}
	base := sampleEvents()[0]
	withProfile := func(field string) Event {
		ev := base
		ev.Kind, ev.Enrolment, ev.Profile = EventMemberUpdated, nil, map[string]string{field: "x"}
		return ev
	}
	for _, tc := range []struct {
		name string
		ev   Event
		want int
	}{
		{"a format-1 profile field", withProfile(FieldFirstName), ChainFormat1},
		{"a profile field the first build rejects", withProfile("language"), CurrentChainFormat},
		{"chain.format itself", Event{Origin: "HQ1", Seq: 1, Kind: EventChainFormat, Store: "HQ", At: base.At,
			Format: &ChainFormatChange{Version: CurrentChainFormat}}, CurrentChainFormat},
		{"a kind the first build does not know", Event{Kind: "member.erased"}, CurrentChainFormat},
	} {
		if got := EventFormat(tc.ev); got != tc.want {
			t.Errorf("%s: format %d, want %d", tc.name, got, tc.want)
		}
	}
}

func TestFormat1JSONRefusesUnknownKeys(t *testing.T) {
	for _, tc := range []struct {
		name string
		v    map[string]any
		ok   bool
	}{
		{"envelope", map[string]any{"v": 1.0, "kind": "sale.completed"}, true},
		{"unknown envelope key", map[string]any{"v": 1.0, "lots": []any{}}, false},
		{"unknown nested key", map[string]any{"sale": map[string]any{"evaluation": map[string]any{
			"lines": []any{map[string]any{"sku": "A", "expires": "2027-01-01"}}}}}, false},
		{"data maps are values", map[string]any{"consents": map[string]any{"anything": true}}, true},
	} {
		err := format1JSON(tc.v, "")
		if (err == nil) != tc.ok {
			t.Errorf("%s: %v, want ok=%v", tc.name, err, tc.ok)
		}
	}
}

// Every key the first build writes must still decode here: renaming or
// dropping one would break reading the events old nodes wrote.
func TestFormat1KeysStillDecode(t *testing.T) {
	now := map[string][]string{}
	jsonKeys(reflect.TypeOf(wireEvent{}), "", now)
	for path, keys := range format1Keys {
		for _, k := range keys {
			if !slices.Contains(now[path], k) {
				t.Errorf("format 1 key %s.%s is gone from this build's event types", path, k)
			}
		}
	}
}

// jsonKeys collects the JSON keys of t's structs by path (as format1Keys).
func jsonKeys(t reflect.Type, path string, out map[string][]string) {
	for t.Kind() == reflect.Pointer || t.Kind() == reflect.Slice || t.Kind() == reflect.Array {
		if t.Kind() != reflect.Pointer {
			path += "[]"
		}
		t = t.Elem()
	}
	if t.Kind() != reflect.Struct || t.PkgPath() == "time" {
		return
	}
	if _, seen := out[path]; seen {
		return
	}
	out[path] = []string{}
	for i := range t.NumField() {
		f := t.Field(i)
		name := strings.Split(f.Tag.Get("json"), ",")[0]
		if !f.IsExported() || name == "-" {
			continue
		}
		if name == "" {
			name = f.Name
		}
		out[path] = append(out[path], name)
		jsonKeys(f.Type, path+"."+name, out)
	}
}

func TestProgrammeFormat(t *testing.T) {
	days := 30
	for _, tc := range []struct {
		name string
		p    Programme
		want int
	}{
		{"plain", Programme{}, ChainFormat1},
		{"format-1 templates", Programme{Messages: &Messages{Templates: map[string]map[string]string{
			MessageOTP: {"en": "{{.Code}} for {{.Points}}", "hi-IN": "{{.Code}}"}}}}, ChainFormat1},
		{"lot settings", Programme{Earn: EarnRules{ExpireAfterDays: 365}}, CurrentChainFormat},
		{"expiry warning days", Programme{Earn: EarnRules{ExpiryWarningDays: &days}}, CurrentChainFormat},
		{"personal offers", Programme{PersonalOffers: &PersonalOffers{}}, CurrentChainFormat},
		{"a message kind the first build lacks", Programme{Messages: &Messages{Templates: map[string]map[string]string{
			MessageAuthenticatorOTP: {"en": "{{.Code}}"}}}}, CurrentChainFormat},
		{"a template field the first build lacks", Programme{Messages: &Messages{Templates: map[string]map[string]string{
			MessagePointsExpiring: {"en": "{{.Points}} points expire on {{.ExpiresOn}}"}}}}, CurrentChainFormat},
	} {
		if got := ProgrammeFormat(&tc.p); got != tc.want {
			t.Errorf("%s: format %d, want %d", tc.name, got, tc.want)
		}
	}
}
