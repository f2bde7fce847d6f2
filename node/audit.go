package node

import (
	"context"
	"fmt"
	"slices"

	"go.etcd.io/bbolt"
)

// MemberIDs lists every member id the node's files know of: those with a
// member record and those with a balance (ledger entries), sorted. It is
// for checkers (testcluster) and reports that must see every member, not
// only those a caller already knows by number: a balance that no till was
// told about must not hide from a conservation check.
func (n *Node) MemberIDs(ctx context.Context) ([]string, error) {
	if err := n.enter(ctx); err != nil {
		return nil, err
	}
	defer n.leave()
	seen := map[string]bool{}
	err := n.db.View(func(tx *bbolt.Tx) error {
		for _, b := range [][]byte{bucketMembers, bucketBalances} {
			if err := tx.Bucket(b).ForEach(func(k, _ []byte) error {
				seen[string(k)] = true
				return nil
			}); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("node: member ids: %w", err)
	}
	out := make([]string, 0, len(seen))
	for id := range seen {
		out = append(out, id)
	}
	slices.Sort(out)
	return out, nil
}
