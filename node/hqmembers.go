package node

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/patron/patron/engine"
	"go.etcd.io/bbolt"
)

// Member administration at HQ: card unblocks, group definitions and
// assignments, erasures. Each method checks a request against what this
// node holds and returns the event that makes the change — nil when the
// change is in place already — for HQ to stamp (PrepareEvent) and
// propose through Raft (node/hqevents). Tills cannot make these changes:
// unblocking a card and erasing a member are decisions for HQ staff
// after checks a till cannot make (docs/erasure.md).

// Sentinel errors of member administration.
var (
	// ErrAdminRequest refuses a malformed request (the message says what).
	ErrAdminRequest = errors.New("node: invalid request")
	// ErrNoSuchMember: this node holds no member of that id.
	ErrNoSuchMember = errors.New("node: no such member")
	// ErrNoSuchCard: the member holds no card of that number.
	ErrNoSuchCard = errors.New("node: no such card")
	// ErrNoSuchGroup: no group of that id is defined.
	ErrNoSuchGroup = errors.New("node: no such group")
	// ErrErased: the member id was erased.
	ErrErased = errors.New("node: member erased")
)

// AdminTerminalPrefix starts the terminal of an event an HQ operator
// made ("admin:<operator>"): the card maintenance log's "who".
const AdminTerminalPrefix = "admin:"

// MaxOperatorLen bounds an operator name.
const MaxOperatorLen = 64

// adminTerminal checks an operator name and returns the event terminal
// naming it.
func adminTerminal(by string) (string, error) {
	if by == "" || len(by) > MaxOperatorLen {
		return "", fmt.Errorf("%w: by (the operator) must be 1 to %d characters", ErrAdminRequest, MaxOperatorLen)
	}
	for _, r := range by {
		ok := r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '.' || r == '_' || r == '-' || r == '@'
		if !ok {
			return "", fmt.Errorf("%w: by (the operator) may hold letters, digits, '.', '_', '-' and '@'", ErrAdminRequest)
		}
	}
	return AdminTerminalPrefix + by, nil
}

// UnblockCardEvent returns the card.unblocked event that unblocks card
// number of member for reason (why: "found by the customer", a ticket
// number), made by operator by; nil when the card is active already.
func (n *Node) UnblockCardEvent(ctx context.Context, member, number, reason, by string) (*engine.Event, error) {
	term, err := adminTerminal(by)
	if err != nil {
		return nil, err
	}
	if !validNo(reason, MaxFieldLen) {
		return nil, fmt.Errorf("%w: reason must be 1 to %d printable characters", ErrAdminRequest, MaxFieldLen)
	}
	var ev *engine.Event
	err = n.adminView(ctx, func(tx *bbolt.Tx) error {
		rec, err := enrolledMember(tx, member)
		if err != nil {
			return err
		}
		c, ok := rec.card(number)
		if !ok {
			return fmt.Errorf("%w: %s holds no card %q", ErrNoSuchCard, member, number)
		}
		if c.Status == engine.CardBlocked {
			ev = &engine.Event{Kind: engine.EventCardUnblocked, Member: member, Terminal: term,
				Card: &engine.CardChange{Number: number, Reason: reason}}
		}
		return nil
	})
	return ev, err
}

// GroupDefinitionEvent returns the group.defined event that defines
// group id with name (or renames it); nil when it has that name already.
func (n *Node) GroupDefinitionEvent(ctx context.Context, id, name, by string) (*engine.Event, error) {
	term, err := adminTerminal(by)
	if err != nil {
		return nil, err
	}
	if !validNo(id, MaxFieldLen) || !validNo(name, MaxFieldLen) {
		return nil, fmt.Errorf("%w: group id and name must be 1 to %d printable characters", ErrAdminRequest, MaxFieldLen)
	}
	var ev *engine.Event
	err = n.adminView(ctx, func(tx *bbolt.Tx) error {
		g, err := groupDefined(tx, id)
		if err == nil && (g == nil || g.Name != name) {
			ev = &engine.Event{Kind: engine.EventGroupDefined, Terminal: term,
				Group: &engine.GroupDefinition{ID: id, Name: name}}
		}
		return err
	})
	return ev, err
}

// GroupChangeEvent returns the member.groups event that adds member to
// the groups add and takes it out of remove (each group defined, none in
// both), listing only what changes; nil when nothing would.
func (n *Node) GroupChangeEvent(ctx context.Context, member string, add, remove []string, by string) (*engine.Event, error) {
	term, err := adminTerminal(by)
	if err != nil {
		return nil, err
	}
	if len(add)+len(remove) == 0 || len(add)+len(remove) > MaxGroups {
		return nil, fmt.Errorf("%w: add and remove 1 to %d groups", ErrAdminRequest, MaxGroups)
	}
	for _, g := range add {
		if slices.Contains(remove, g) {
			return nil, fmt.Errorf("%w: group %q both added and removed", ErrAdminRequest, g)
		}
	}
	var ev *engine.Event
	err = n.adminView(ctx, func(tx *bbolt.Tx) error {
		rec, err := enrolledMember(tx, member)
		if err != nil {
			return err
		}
		change := &engine.GroupChange{Add: []string{}, Remove: []string{}}
		for _, list := range []struct {
			groups []string
			in     bool
			to     *[]string
		}{{add, true, &change.Add}, {remove, false, &change.Remove}} {
			for _, g := range list.groups {
				if def, err := groupDefined(tx, g); err != nil {
					return err
				} else if def == nil {
					return fmt.Errorf("%w: %q", ErrNoSuchGroup, g)
				}
				if slices.Contains(rec.State.Groups, g) != list.in && !slices.Contains(*list.to, g) {
					*list.to = append(*list.to, g)
				}
			}
		}
		if len(change.Add)+len(change.Remove) > 0 {
			ev = &engine.Event{Kind: engine.EventMemberGroups, Member: member, Terminal: term, GroupChange: change}
		}
		return nil
	})
	return ev, err
}

// ErasureEvent returns the member.erased event that erases member id,
// with the pseudonym made of random (engine.PseudonymRandLen bytes from
// crypto/rand). When id is erased already it returns no event and the
// pseudonym its ledger lives under, so a retried request answers alike.
// An id this node holds no event of is ErrNoSuchMember: an erasure of a
// mistyped number would erase nobody, and would move a later enrolment
// of that number to a new id.
func (n *Node) ErasureEvent(ctx context.Context, id, by string, random []byte) (*engine.Event, string, error) {
	term, err := adminTerminal(by)
	if err != nil {
		return nil, "", err
	}
	if id == "" || engine.IsPseudonym(id) || !validNo(id, engine.MaxEventIDLen) {
		return nil, "", fmt.Errorf("%w: %q is not a member id", ErrAdminRequest, id)
	}
	pseudonym, ok := engine.NewPseudonym(random)
	if !ok {
		return nil, "", fmt.Errorf("node: erasure needs %d random bytes", engine.PseudonymRandLen)
	}
	var ev *engine.Event
	err = n.adminView(ctx, func(tx *bbolt.Tx) error {
		to, erased, err := erasedTo(tx, id)
		if err != nil || erased {
			pseudonym = to
			return err
		}
		if !holdsEventsOf(tx, id) {
			return fmt.Errorf("%w: %s", ErrNoSuchMember, id)
		}
		ev = &engine.Event{Kind: engine.EventMemberErased, Member: pseudonym, Terminal: term,
			Erasure: &engine.Erasure{Subject: engine.ErasureSubject(id)}}
		return nil
	})
	if err != nil {
		return nil, "", err
	}
	return ev, pseudonym, nil
}

// ErasedAs reports whether member id is erased here, and the pseudonym
// its ledger lives under.
func (n *Node) ErasedAs(ctx context.Context, id string) (string, bool, error) {
	var to string
	var erased bool
	err := n.adminView(ctx, func(tx *bbolt.Tx) error {
		var err error
		to, erased, err = erasedTo(tx, id)
		return err
	})
	return to, erased, err
}

// holdsEventsOf reports whether any event held names member id.
func holdsEventsOf(tx *bbolt.Tx, id string) bool {
	b := tx.Bucket(bucketMemberEvents)
	if b == nil {
		return false
	}
	s := engine.ErasureSubjectKey(id)
	k, _ := b.Cursor().Seek(s[:])
	return k != nil && bytes.HasPrefix(k, s[:])
}

// enrolledMember loads an enrolled member for an admin change.
func enrolledMember(tx *bbolt.Tx, id string) (*memberRecord, error) {
	if _, erased, err := erasedTo(tx, id); err != nil {
		return nil, err
	} else if erased {
		return nil, fmt.Errorf("%w: %s", ErrErased, id)
	}
	rec, found, err := loadMember(tx, id)
	if err != nil {
		return nil, err
	}
	if !found || !rec.State.Enrolled {
		return nil, fmt.Errorf("%w: %s", ErrNoSuchMember, id)
	}
	return rec, nil
}

// adminView runs fn in a read transaction.
func (n *Node) adminView(ctx context.Context, fn func(*bbolt.Tx) error) error {
	if err := n.enter(ctx); err != nil {
		return err
	}
	defer n.leave()
	return n.db.View(fn)
}
