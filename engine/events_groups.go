package engine

import (
	"slices"
	"time"
)

// Customer groups (docs/groups.md). HQ defines a group — an id and a
// display name — with a group.defined event, and assigns members to
// groups or takes them out with member.groups events; stores learn both
// by replication like any other event. Campaigns scope on the member's
// groups (Campaign.Groups, scope.go).
//
// Membership is a set of last-writer-wins registers, one per (member,
// group), ordered by Stamp: an assignment at HQ and a removal at HQ made
// while one of them was on a stale leader resolve to the later one on
// every node, whatever order the events arrive in. A group named at
// enrolment (the till's "groups" extension) is an assignment at the
// enrolment's stamp. A definition is a last-writer-wins register of its
// name. Membership does not need the definition: events of the two kinds
// arrive in any order, so the fold never checks one against the other
// (HQ refuses to assign an undefined group before it emits anything).

// The group event kinds.
const (
	// EventGroupDefined defines a group or renames it. It names no
	// member; its payload is Event.Group.
	EventGroupDefined EventKind = "group.defined"
	// EventMemberGroups adds a member to groups or removes it from them.
	// Its payload is Event.GroupChange.
	EventMemberGroups EventKind = "member.groups"
)

// GroupDefinition is a group.defined payload.
type GroupDefinition struct {
	ID   string `json:"id"`
	Name string `json:"name"`
}

// GroupChange is a member.groups payload: the groups the member joins
// and those it leaves. A group in both is refused (ErrBadEvent).
type GroupChange struct {
	Add    []string `json:"add"`
	Remove []string `json:"remove"`
}

// GroupRecord is a group definition as folded: the name register, and
// the time and store of the write that set it.
type GroupRecord struct {
	ID    string    `json:"id"`
	Name  string    `json:"name"`
	At    time.Time `json:"at"`
	Store string    `json:"store"`
	Stamp Stamp     `json:"stamp"`
}

// FoldGroupDefinition folds a group.defined event into the definition it
// names (cur is nil when none is held) and reports whether it changed:
// the later write by Stamp wins.
func FoldGroupDefinition(cur *GroupRecord, ev Event) (GroupRecord, bool) {
	st := ev.Stamp()
	if cur != nil && cur.Stamp.Compare(st) >= 0 {
		return *cur, false
	}
	return GroupRecord{ID: ev.Group.ID, Name: ev.Group.Name, At: ev.At, Store: ev.Store, Stamp: st}, true
}

// ValidGroupID reports whether id can name a group: 1 to MaxEventIDLen
// printable characters (group ids are parts of keys).
func ValidGroupID(id string) bool { return validEventID(id) }

// checkGroupDefinition checks a group.defined payload.
func checkGroupDefinition(ev Event) error {
	if ev.Member != "" {
		return badEvent("a group definition names no member")
	}
	g := ev.Group
	if !validEventID(g.ID) || !validEventID(g.Name) {
		return badEvent("group id and name must be 1 to %d printable characters", MaxEventIDLen)
	}
	return nil
}

// checkGroupChange checks a member.groups payload.
func checkGroupChange(c *GroupChange) error {
	if len(c.Add)+len(c.Remove) == 0 {
		return badEvent("a group change adds or removes at least one group")
	}
	if len(c.Add)+len(c.Remove) > MaxEventItems {
		return badEvent("more than %d groups changed", MaxEventItems)
	}
	seen := make(map[string]bool, len(c.Add)+len(c.Remove))
	for _, g := range slices.Concat(c.Add, c.Remove) {
		if !validEventID(g) {
			return badEvent("group %q must be 1 to %d printable characters", g, MaxEventIDLen)
		}
		if seen[g] {
			return badEvent("group %q named twice", g)
		}
		seen[g] = true
	}
	return nil
}

// applyGroupChange folds a member.groups event.
func (s *MemberState) applyGroupChange(c *GroupChange, st Stamp) bool {
	changed := false
	for _, g := range c.Add {
		changed = s.setGroup(g, true, st) || changed
	}
	for _, g := range c.Remove {
		changed = s.setGroup(g, false, st) || changed
	}
	return changed
}

// setGroup writes the (member, group) register if st is later than what
// it holds, and keeps Groups, the sorted set of groups whose register is
// true, in step. A group in Groups without a register (a record folded
// before registers existed) counts as written at the zero stamp.
func (s *MemberState) setGroup(g string, in bool, st Stamp) bool {
	if old, ok := s.GroupRegs[g]; ok && old.Stamp.Compare(st) >= 0 {
		return false
	}
	if s.GroupRegs == nil {
		s.GroupRegs = map[string]BoolRegister{}
	}
	s.GroupRegs[g] = BoolRegister{Value: in, Stamp: st}
	i, found := slices.BinarySearch(s.Groups, g)
	switch {
	case in && !found:
		s.Groups = slices.Insert(s.Groups, i, g)
	case !in && found:
		s.Groups = slices.Delete(s.Groups, i, i+1)
	}
	return true
}
