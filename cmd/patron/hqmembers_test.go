package main

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/patron/patron/engine"
)

// storeEvents are a store's enrolment of a member with a card and the
// card's block, as HQ receives them from store sync.
func storeEvents(t *testing.T, member, card string) []engine.RawEvent {
	t.Helper()
	at := time.Date(2026, 6, 3, 10, 0, 0, 0, time.UTC)
	evs := []engine.Event{
		{Kind: engine.EventMemberEnrolled, Member: member, Terminal: "T01", Enrolment: &engine.Enrolment{
			Profile: map[string]string{engine.FieldFirstName: "Asha"}, Consents: map[string]bool{},
			Cards: []engine.CardChange{{Number: card, Type: "gold"}}, Groups: []string{}}},
		{Kind: engine.EventCardBlocked, Member: member, Terminal: "T01", Card: &engine.CardChange{Number: card, Reason: "lost"}},
	}
	var out []engine.RawEvent
	for i, ev := range evs {
		ev.Origin, ev.Seq, ev.Store, ev.At = "S001", uint64(i+1), "S001", at.Add(time.Duration(i)*time.Second)
		ev.HLC = engine.HLC{Wall: ev.At.UnixNano()}
		data, err := engine.EncodeEvent(ev)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, engine.RawEvent{Origin: ev.Origin, Seq: ev.Seq, Data: data})
	}
	return out
}

// TestHQMemberAdministration: unblock, groups and erasure through HQ's
// admin API, each committed through Raft and idempotent when retried.
func TestHQMemberAdministration(t *testing.T) {
	a, n, srv := singleHQ(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	const member, card = "+919800000001", "GOLD-1"
	if _, err := (raftLog{a.hq.Raft()}).AppendEvents(ctx, storeEvents(t, member, card)); err != nil {
		t.Fatal(err)
	}
	call := func(method, path, token, body string) (int, string) {
		req, _ := http.NewRequest(method, srv.URL+path, strings.NewReader(body))
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	unblock := "/members/" + member + "/cards/" + card + "/unblock"
	tests := []struct {
		name, method, path, token, body string
		wantCode                        int
		wantBody                        string
	}{
		{"unblock without token", "POST", unblock, "", `{"reason":"found","by":"alice"}`, http.StatusUnauthorized, "admin token"},
		{"unblock without reason", "POST", unblock, "secret", `{"by":"alice"}`, http.StatusBadRequest, "reason"},
		{"unblock unknown card", "POST", "/members/" + member + "/cards/NOPE/unblock", "secret", `{"reason":"x","by":"alice"}`,
			http.StatusNotFound, "no such card"},
		{"unblock", "POST", unblock, "secret", `{"reason":"found by the customer","by":"alice"}`, http.StatusOK, `"event": "HQ1/1"`},
		{"unblock again", "POST", unblock, "secret", `{"reason":"found by the customer","by":"alice"}`, http.StatusOK, `"event": ""`},
		{"assign an undefined group", "POST", "/members/" + member + "/groups", "secret", `{"add":["vip"],"by":"alice"}`,
			http.StatusNotFound, "no such group"},
		{"define a group", "POST", "/groups", "secret", `{"id":"vip","name":"Very important","by":"alice"}`, http.StatusOK, `"event": "HQ1/2"`},
		{"list groups", "GET", "/groups", "", "", http.StatusOK, `"name": "Very important"`},
		{"assign", "POST", "/members/" + member + "/groups", "secret", `{"add":["vip"],"by":"alice"}`, http.StatusOK, `"event": "HQ1/3"`},
		{"assign unknown member", "POST", "/members/+919899999999/groups", "secret", `{"add":["vip"],"by":"alice"}`,
			http.StatusNotFound, "no such member"},
		{"erase unknown member", "POST", "/members/+919899999999/erase", "secret", `{"by":"dpo"}`, http.StatusNotFound, "no such member"},
		{"erase without operator", "POST", "/members/" + member + "/erase", "secret", `{}`, http.StatusBadRequest, "operator"},
		{"erase", "POST", "/members/" + member + "/erase", "secret", `{"by":"dpo"}`, http.StatusOK, `"event": "HQ1/4"`},
		{"unblock after erasure", "POST", unblock, "secret", `{"reason":"x","by":"alice"}`, http.StatusConflict, "erased"},
	}
	for _, tt := range tests {
		code, body := call(tt.method, tt.path, tt.token, tt.body)
		if code != tt.wantCode || !strings.Contains(body, tt.wantBody) {
			t.Errorf("%s: got %d %s, want %d containing %q", tt.name, code, body, tt.wantCode, tt.wantBody)
		}
	}
	// Erasing again answers the same pseudonym and commits nothing.
	code, body := call("POST", "/members/"+member+"/erase", "secret", `{"by":"dpo"}`)
	var again memberChanged
	if err := json.Unmarshal([]byte(body), &again); err != nil || code != http.StatusOK || again.Event != "" {
		t.Fatalf("erase again: %d %s", code, body)
	}
	p, erased, err := n.ErasedAs(ctx, member)
	if err != nil || !erased || p != again.Pseudonym {
		t.Fatalf("erased as %s %v (%v), the API said %s", p, erased, err, again.Pseudonym)
	}
	log, err := n.CardLog(ctx, p)
	if err != nil || len(log) != 3 {
		t.Fatalf("card log %+v %v", log, err)
	}
	if u := log[2]; u.Action != "unblock" || u.Terminal != "admin:alice" || u.Store != "HQ1" || u.Reason != "found by the customer" {
		t.Errorf("unblock logged as %+v", u)
	}
	if ids, err := n.MemberIDs(ctx); err != nil || len(ids) != 1 || ids[0] != p {
		t.Errorf("member ids %v (%v), want only the pseudonym", ids, err)
	}
}
