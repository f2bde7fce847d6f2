package node

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"hash"
	"slices"

	"go.etcd.io/bbolt"
)

// DigestState is the StateDigest key of the materialized state's hash.
// It cannot be an origin id ('#' is not allowed in one).
const DigestState = "#state"

// StateDigest returns hashes a convergence checker compares across nodes:
// per origin, a hash over that origin's events held (key and bytes), and
// under DigestState a hash over the materialized state (members, cards,
// e-mails, card log, ledger, balances, spend, receipts, returns,
// programmes, coupons and their uses). Two nodes that hold the same
// events have equal digests whatever order the events arrived in; local
// data (answers to tills, OTPs, terminals, HQ holds, overdraft reports)
// is left out.
func (n *Node) StateDigest(ctx context.Context) (map[string]string, error) {
	if err := n.enter(ctx); err != nil {
		return nil, err
	}
	defer n.leave()
	out := map[string]string{}
	err := n.db.View(func(tx *bbolt.Tx) error {
		vv, err := readVV(tx)
		if err != nil {
			return err
		}
		for origin := range vv {
			h := sha256.New()
			prefix := key(origin, "")
			c := tx.Bucket(bucketEvents).Cursor()
			for k, v := c.Seek(prefix); k != nil && hasPrefix(k, prefix); k, v = c.Next() {
				writeKV(h, k, v)
			}
			out[origin] = hex.EncodeToString(h.Sum(nil))
		}
		h := sha256.New()
		for _, name := range foldBuckets {
			writeKV(h, name, nil)
			if err := tx.Bucket(name).ForEach(func(k, v []byte) error {
				writeKV(h, k, v)
				return nil
			}); err != nil {
				return err
			}
		}
		out[DigestState] = hex.EncodeToString(h.Sum(nil))
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("node: state digest: %w", err)
	}
	return out, nil
}

// writeKV hashes a key and value with their lengths, so no two
// sequences of pairs hash alike by concatenation.
func writeKV(h hash.Hash, k, v []byte) {
	var n [16]byte
	binary.BigEndian.PutUint64(n[:8], uint64(len(k)))
	binary.BigEndian.PutUint64(n[8:], uint64(len(v)))
	h.Write(n[:])
	h.Write(k)
	h.Write(v)
}

func hasPrefix(k, prefix []byte) bool {
	return len(k) >= len(prefix) && string(k[:len(prefix)]) == string(prefix)
}

// sortedMembers returns a set's members in order.
func sortedMembers(set map[string]bool) []string {
	out := make([]string, 0, len(set))
	for id := range set {
		out = append(out, id)
	}
	slices.Sort(out)
	return out
}
