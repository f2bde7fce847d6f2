package node

import (
	"context"
	"fmt"
	"time"

	"github.com/patron/patron/engine"
	"go.etcd.io/bbolt"
)

// Customer groups (docs/groups.md): HQ defines them with group.defined
// events, folded here into bucketGroups (last-writer-wins on the name),
// and assigns members with member.groups events, folded into the member's
// registers by the engine (events_groups.go) through applyMember. Stores
// learn both by replication; a campaign scoped on groups sees the
// member's folded groups (facts in members.go).

// groupRecord is bucketGroups' value.
type groupRecord struct {
	V     int                `json:"v"`
	Group engine.GroupRecord `json:"group"`
}

func (r groupRecord) version() int { return r.V }

// Group is a customer group as HQ defined it.
type Group struct {
	ID   string `json:"id"`
	Name string `json:"name"`
	// DefinedAt and Store are when and where the name was last set.
	DefinedAt time.Time `json:"defined_at"`
	Store     string    `json:"store"`
}

// applyGroupDefined folds a group.defined event (stored already).
func applyGroupDefined(tx *bbolt.Tx, ev engine.Event) error {
	b := tx.Bucket(bucketGroups)
	var cur groupRecord
	found, err := getJSON(b, []byte(ev.Group.ID), &cur)
	if err != nil {
		return err
	}
	var prev *engine.GroupRecord
	if found {
		prev = &cur.Group
	}
	next, changed := engine.FoldGroupDefinition(prev, ev)
	if !changed {
		return nil
	}
	return putJSON(b, []byte(ev.Group.ID), groupRecord{V: recordVersion, Group: next})
}

// Groups lists the groups defined, by id.
func (n *Node) Groups(ctx context.Context) ([]Group, error) {
	if err := n.enter(ctx); err != nil {
		return nil, err
	}
	defer n.leave()
	out := []Group{}
	err := n.db.View(func(tx *bbolt.Tx) error {
		b := tx.Bucket(bucketGroups)
		if b == nil {
			return nil
		}
		return b.ForEach(func(_, v []byte) error {
			var rec groupRecord
			if err := decodeJSON(v, &rec); err != nil {
				return err
			}
			g := rec.Group
			out = append(out, Group{ID: g.ID, Name: g.Name, DefinedAt: g.At, Store: g.Store})
			return nil
		})
	})
	if err != nil {
		return nil, fmt.Errorf("node: groups: %w", err)
	}
	return out, nil
}

// groupDefined reports whether group id is defined.
func groupDefined(tx *bbolt.Tx, id string) (*engine.GroupRecord, error) {
	b := tx.Bucket(bucketGroups)
	if b == nil {
		return nil, nil
	}
	var rec groupRecord
	found, err := getJSON(b, []byte(id), &rec)
	if err != nil || !found {
		return nil, err
	}
	return &rec.Group, nil
}
