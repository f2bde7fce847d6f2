package node

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"fmt"

	"github.com/patron/patron/engine"
	"go.etcd.io/bbolt"
)

// Ledger pages through a member's ledger in ledger order (time, ties by
// entry id: the same on every node whatever order events arrived in), each entry with
// the running balance after it. From and To (inclusive) filter by time;
// the running balance still counts every earlier entry. Limit defaults to
// DefaultLedgerLimit and is capped at MaxLedgerLimit. Cursor is the
// opaque cursor of the previous page; an empty Cursor in the result means
// the last page. Refusals: invalid_params, member_not_found.
func (n *Node) Ledger(ctx context.Context, terminal string, req LedgerRequest) (*LedgerPage, error) {
	if err := n.enterTill(ctx); err != nil {
		return nil, err
	}
	defer n.leave()
	if req.MemberID == "" {
		return nil, n.refused(invalid("member_id", "member_id required"))
	}
	limit := req.Limit
	switch {
	case limit < 0:
		return nil, n.refused(invalid("limit", "limit must not be negative"))
	case limit == 0:
		limit = DefaultLedgerLimit
	case limit > MaxLedgerLimit:
		limit = MaxLedgerLimit
	}
	cur := ledgerCursor{}
	if req.Cursor != "" {
		var ok bool
		if cur, ok = decodeCursor(req.Cursor, req.MemberID); !ok {
			return nil, n.refused(invalid("cursor", "invalid cursor"))
		}
	}
	page := &LedgerPage{Entries: []LedgerEntry{}}
	err := n.db.View(func(tx *bbolt.Tx) error {
		if rec, found, err := loadMember(tx, req.MemberID); err != nil {
			return err
		} else if !found || !rec.State.Enrolled {
			return refuse(ReasonMemberNotFound, "no such member")
		}
		prefix := key(req.MemberID, "")
		c := tx.Bucket(bucketLedger).Cursor()
		balance := cur.balance
		for k, v := c.Seek(append(bytes.Clone(prefix), cur.next...)); k != nil && bytes.HasPrefix(k, prefix); k, v = c.Next() {
			if len(page.Entries) == limit {
				page.Cursor = encodeCursor(req.MemberID, ledgerCursor{next: bytes.Clone(k[len(prefix):]), balance: balance})
				return nil
			}
			var rec ledgerRecord
			if err := decodeJSON(v, &rec); err != nil {
				return err
			}
			e := rec.Entry
			balance += e.Points
			if req.From != nil && e.At.Before(*req.From) || req.To != nil && e.At.After(*req.To) {
				continue
			}
			page.Entries = append(page.Entries, LedgerEntry{At: e.At, Store: e.Store, Kind: e.Kind,
				Points: e.Points, Ref: e.Ref, Balance: balance, Offline: e.Offline})
		}
		return nil
	})
	if err != nil {
		return nil, n.result(err)
	}
	return page, nil
}

// Entries returns every ledger entry of a member in ledger order, and the
// stored balance (kept in the same transactions); Fold(entries) equals it.
func (n *Node) Entries(ctx context.Context, memberID string) ([]engine.Entry, engine.Points, error) {
	if err := n.enter(ctx); err != nil {
		return nil, 0, err
	}
	defer n.leave()
	var out []engine.Entry
	var bal balanceRecord
	err := n.db.View(func(tx *bbolt.Tx) error {
		var err error
		if bal, err = decodeBalance(tx.Bucket(bucketBalances).Get([]byte(memberID))); err != nil {
			return err
		}
		prefix := key(memberID, "")
		c := tx.Bucket(bucketLedger).Cursor()
		for k, v := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, v = c.Next() {
			var rec ledgerRecord
			if err := decodeJSON(v, &rec); err != nil {
				return err
			}
			out = append(out, rec.Entry)
		}
		return nil
	})
	if err != nil {
		return nil, 0, fmt.Errorf("node: entries: %w", err)
	}
	return out, bal.Balance, nil
}

// ledgerCursor is where the next page starts (the ledger key after the
// member prefix) and the balance before it.
type ledgerCursor struct {
	next    []byte
	balance engine.Points
}

// cursorVersion is the first byte of an encoded cursor. Version 2 keys
// pages by (time, entry id).
const cursorVersion byte = 2

// encodeCursor: version, 8 bytes of sha256(member) (so a cursor cannot be
// used for another member), balance, next key; base64url.
func encodeCursor(member string, c ledgerCursor) string {
	h := sha256.Sum256([]byte(member))
	b := append([]byte{cursorVersion}, h[:8]...)
	b = binary.BigEndian.AppendUint64(b, uint64(c.balance))
	b = append(b, c.next...)
	return base64.RawURLEncoding.EncodeToString(b)
}

func decodeCursor(s, member string) (ledgerCursor, bool) {
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil || len(b) < 17+8 || len(b) > 17+8+engine.MaxEventIDLen || b[0] != cursorVersion {
		return ledgerCursor{}, false
	}
	h := sha256.Sum256([]byte(member))
	if !bytes.Equal(b[1:9], h[:8]) {
		return ledgerCursor{}, false
	}
	return ledgerCursor{balance: engine.Points(int64(binary.BigEndian.Uint64(b[9:17]))), next: b[17:]}, true
}
