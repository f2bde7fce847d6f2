package node

import (
	"encoding/json"
	"errors"
	"reflect"
	"testing"

	"github.com/patron/patron/engine"
)

// programmeWithGroupCampaign is programmeWith("v2", 0) plus a campaign
// that takes Rs 50 off for members of the group "vip".
func programmeWithGroupCampaign(t *testing.T) []byte {
	t.Helper()
	var doc map[string]any
	if err := json.Unmarshal(programmeWith("v1", 0), &doc); err != nil {
		t.Fatal(err)
	}
	doc["version"] = "v2"
	doc["campaigns"] = append(doc["campaigns"].([]any), map[string]any{"id": "VIP", "name": "Rs 50 off for VIPs",
		"level": "invoice", "order": 2, "members_only": true, "groups": []string{"vip"}, "reward": map[string]any{"amount_off": 5000}})
	data, err := json.Marshal(doc)
	if err != nil {
		t.Fatal(err)
	}
	return data
}

// TestGroupsDefinedAtHQReachStores: HQ defines a group and assigns a
// member; the store lists the group, shows it on identify, and prices a
// campaign scoped on it for that member only; taking the member out
// stops the campaign.
func TestGroupsDefinedAtHQReachStores(t *testing.T) {
	c := newChain(t, 21)
	if _, err := c.hq.LoadProgramme(ctx, programmeWithGroupCampaign(t)); err != nil {
		t.Fatal(err)
	}
	enrolAndTrade(t, c.s1, c.clock)
	c.sync(t)

	def, err := c.hq.GroupDefinitionEvent(ctx, "vip", "Very important", "alice")
	if err != nil || def == nil {
		t.Fatalf("define: %v %v", def, err)
	}
	c.emit(t, def)
	add, err := c.hq.GroupChangeEvent(ctx, eraseMobile, []string{"vip"}, nil, "alice")
	if err != nil || add == nil {
		t.Fatalf("assign: %v %v", add, err)
	}
	c.emit(t, add)
	c.sync(t)

	groups, err := c.s1.Groups(ctx)
	if err != nil || len(groups) != 1 || groups[0].ID != "vip" || groups[0].Name != "Very important" {
		t.Fatalf("groups at the store %+v (%v)", groups, err)
	}
	vipDiscount := func(n *peer) engine.Money {
		t.Helper()
		ev, err := n.Evaluate(ctx, "T01", EvaluateRequest{Basket: books(1, 45000), Member: mobile(eraseMobile)})
		if err != nil {
			t.Fatal(err)
		}
		var off engine.Money
		for _, d := range ev.BillDiscounts {
			if d.Campaign == "VIP" {
				off += d.Amount
			}
		}
		return off
	}
	m, err := c.s2.Identify(ctx, "T01", IdentifyRequest{Identifier: mobile(eraseMobile)})
	if err != nil || !reflect.DeepEqual(m.Groups, []string{"vip"}) {
		t.Fatalf("identify at S2: groups %v (%v), want [vip]", m.Groups, err)
	}
	if got := vipDiscount(c.s2); got != 5000 {
		t.Errorf("VIP discount %d, want 5000", got)
	}

	remove, err := c.hq.GroupChangeEvent(ctx, eraseMobile, nil, []string{"vip"}, "alice")
	if err != nil || remove == nil {
		t.Fatalf("unassign: %v %v", remove, err)
	}
	c.emit(t, remove)
	c.sync(t)
	if m, _ := c.s2.Identify(ctx, "T01", IdentifyRequest{Identifier: mobile(eraseMobile)}); len(m.Groups) != 0 {
		t.Errorf("groups after removal %v", m.Groups)
	}
	if got := vipDiscount(c.s2); got != 0 {
		t.Errorf("VIP discount after removal %d, want 0", got)
	}
	checkConverged(t, []string{eraseMobile}, c.hq, c.s1, c.s2)
}

// TestGroupAdminRequests: what HQ refuses, and what it finds in place.
func TestGroupAdminRequests(t *testing.T) {
	c := newChain(t, 22)
	enrolAndTrade(t, c.s1, c.clock)
	c.sync(t)
	def, err := c.hq.GroupDefinitionEvent(ctx, "vip", "VIP", "alice")
	if err != nil {
		t.Fatal(err)
	}
	c.emit(t, def)
	if again, err := c.hq.GroupDefinitionEvent(ctx, "vip", "VIP", "alice"); again != nil || err != nil {
		t.Errorf("defining again with the same name: %v %v, want nothing to do", again, err)
	}
	if rename, err := c.hq.GroupDefinitionEvent(ctx, "vip", "V.I.P.", "alice"); rename == nil || err != nil {
		t.Errorf("renaming: %v %v, want an event", rename, err)
	}
	add, err := c.hq.GroupChangeEvent(ctx, eraseMobile, []string{"vip"}, nil, "alice")
	if err != nil {
		t.Fatal(err)
	}
	c.emit(t, add)
	if again, err := c.hq.GroupChangeEvent(ctx, eraseMobile, []string{"vip"}, nil, "alice"); again != nil || err != nil {
		t.Errorf("assigning again: %v %v, want nothing to do", again, err)
	}
	tests := []struct {
		name string
		call func() error
		want error
	}{
		{"undefined group", func() error {
			_, err := c.hq.GroupChangeEvent(ctx, eraseMobile, []string{"gold"}, nil, "alice")
			return err
		}, ErrNoSuchGroup},
		{"unknown member", func() error {
			_, err := c.hq.GroupChangeEvent(ctx, "+919899999999", []string{"vip"}, nil, "alice")
			return err
		}, ErrNoSuchMember},
		{"added and removed", func() error {
			_, err := c.hq.GroupChangeEvent(ctx, eraseMobile, []string{"vip"}, []string{"vip"}, "alice")
			return err
		}, ErrAdminRequest},
		{"nothing", func() error { _, err := c.hq.GroupChangeEvent(ctx, eraseMobile, nil, nil, "alice"); return err }, ErrAdminRequest},
		{"no operator", func() error { _, err := c.hq.GroupDefinitionEvent(ctx, "b2b", "B2B", ""); return err }, ErrAdminRequest},
		{"operator with a space", func() error { _, err := c.hq.GroupDefinitionEvent(ctx, "b2b", "B2B", "a b"); return err }, ErrAdminRequest},
		{"no name", func() error { _, err := c.hq.GroupDefinitionEvent(ctx, "b2b", "", "alice"); return err }, ErrAdminRequest},
	}
	for _, tt := range tests {
		if err := tt.call(); !errors.Is(err, tt.want) {
			t.Errorf("%s: %v, want %v", tt.name, err, tt.want)
		}
	}
}

// TestGroupsAtEnrolmentAndAtHQ: a group a till named at enrolment is an
// assignment at the enrolment's time: a later removal at HQ wins over it
// on every node, whatever order they learn the two in.
func TestGroupsAtEnrolmentAndAtHQ(t *testing.T) {
	c := newChain(t, 23)
	if _, err := c.s1.Enroll(ctx, "T01", EnrollRequest{Mobile: eraseMobile, Consents: map[string]bool{"programme_terms": true},
		Groups: []string{"staff"}}); err != nil {
		t.Fatal(err)
	}
	pull(t, c.rng, c.s1, c.hq)
	c.emit(t, &engine.Event{Kind: engine.EventGroupDefined, Terminal: "admin:alice", Group: &engine.GroupDefinition{ID: "staff", Name: "Staff"}})
	remove, err := c.hq.GroupChangeEvent(ctx, eraseMobile, nil, []string{"staff"}, "alice")
	if err != nil || remove == nil {
		t.Fatalf("%v %v", remove, err)
	}
	c.emit(t, remove)
	pull(t, c.rng, c.hq, c.s2) // S2 hears the removal before it hears of the enrolment's store
	c.sync(t)
	for _, n := range []*peer{c.hq, c.s1, c.s2} {
		m, err := n.Identify(ctx, "T01", IdentifyRequest{Identifier: mobile(eraseMobile)})
		if err != nil || len(m.Groups) != 0 {
			t.Errorf("%s: groups %v (%v), want none", n.Origin(), m.Groups, err)
		}
	}
	checkConverged(t, []string{eraseMobile}, c.hq, c.s1, c.s2)
}
