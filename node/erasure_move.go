package node

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/patron/patron/engine"
	"go.etcd.io/bbolt"
)

// Moving an erased member's data to its pseudonym (erasure.go). Every
// step is idempotent: moving again finds nothing left to move.

// rekeyDerived rewrites what the fold derived from one event of the
// erased member, now that the event is held redacted (r): its card log
// entries, its receipt or return record, the HQ hold its sale posted;
// and it drops the answers kept for till replays of it.
func rekeyDerived(tx *bbolt.Tx, ev, r engine.Event) error {
	if err := reindexErasedEvent(tx, ev, r); err != nil {
		return err
	}
	switch {
	case ev.Enrolment != nil && len(ev.Enrolment.Cards) > 0, ev.Card != nil:
		// The same keys (time, origin, seq, index): the entries are
		// rewritten with the pseudonym and the masked number.
		return logCards(tx, r)
	case ev.Sale != nil:
		if err := setRecordMember(tx.Bucket(bucketReceipts), []byte(ev.Sale.ReceiptID), ev.Member, r.Member, &receiptRecord{}); err != nil {
			return err
		}
		if ev.Sale.HoldID != "" {
			if err := setHoldMember(tx, ev.Sale.HoldID, ev.Member, r.Member); err != nil {
				return err
			}
		}
		return deleteKey(tx.Bucket(bucketAnswers), key("s", ev.Sale.ReceiptID))
	case ev.Return != nil:
		k := key(ev.Return.ReceiptID, ev.Return.ReturnNo, ev.Origin)
		if err := setRecordMember(tx.Bucket(bucketReturns), k, ev.Member, r.Member, &returnRecord{}); err != nil {
			return err
		}
		return deleteKey(tx.Bucket(bucketAnswers), key("r", ev.Return.ReceiptID, ev.Return.ReturnNo))
	}
	return nil
}

// memberRecorded is a record with a member field.
type memberRecorded interface {
	record
	member() *string
}

func (r *receiptRecord) member() *string { return &r.Member }
func (r *returnRecord) member() *string  { return &r.Member }

// setRecordMember rewrites the member of the record at k from one id to
// another (a record of someone else, or absent, is left alone).
func setRecordMember(b *bbolt.Bucket, k []byte, from, to string, rec memberRecorded) error {
	found, err := getJSON(b, k, rec)
	if err != nil || !found || *rec.member() != from {
		return err
	}
	*rec.member() = to
	return putJSON(b, k, rec)
}

// setHoldMember rewrites an HQ hold's member.
func setHoldMember(tx *bbolt.Tx, id, from, to string) error {
	b := tx.Bucket(bucketHolds)
	var rec holdRecord
	found, err := getJSON(b, []byte(id), &rec)
	if err != nil || !found || rec.Hold.Member != from {
		return err
	}
	rec.Hold.Member = to
	return putJSON(b, []byte(id), rec)
}

// moveMember moves the data the node keys by member id from one id to
// another: it deletes the member record with its card and e-mail index
// entries, and moves the ledger, entry ids, balance, spend and points
// lots (fold: moveLots replays the lots from the moved ledger), and
// offline spending, overdraft reports and pending HQ holds (local). It
// drops the member's OTP, texts and replay answers, and rewrites the
// member of HQ holds not found through a sale. The buying pattern and the
// personal offers move too (patterns.go, offers.go).
func moveMember(tx *bbolt.Tx, from, to string) error {
	steps := []func(*bbolt.Tx, string, string) error{
		deleteMemberRecord, moveLedger, moveSums(bucketBalances, false), moveSums(bucketSpend, true),
		moveLots, // after the ledger and the balance: it replays the moved ledger
		moveSums(bucketOfflineSpent, false), moveOverdrafts, movePrefixed(bucketHoldPending), moveHolds,
		dropLocal, movePatterns, moveMemberCoupons, // patterns.go, offers.go
	}
	for _, step := range steps {
		if err := step(tx, from, to); err != nil {
			return fmt.Errorf("node: erase %s: %w", engine.ErasureSubject(from), err)
		}
	}
	return nil
}

// deleteMemberRecord deletes the member record and its index entries.
func deleteMemberRecord(tx *bbolt.Tx, from, _ string) error {
	rec, found, err := loadMember(tx, from)
	if err != nil || !found {
		return err
	}
	for number := range rec.State.Cards {
		if err := tx.Bucket(bucketCards).Delete(key(number, from)); err != nil {
			return err
		}
	}
	if e := rec.State.Field(engine.FieldEmail); e != "" {
		if err := tx.Bucket(bucketEmails).Delete(key(strings.ToLower(e), from)); err != nil {
			return err
		}
	}
	return tx.Bucket(bucketMembers).Delete([]byte(from))
}

// moveLedger moves the ledger entries and points their ids at to.
func moveLedger(tx *bbolt.Tx, from, to string) error {
	lb, ids := tx.Bucket(bucketLedger), tx.Bucket(bucketEntryIDs)
	kvs, err := prefixed(lb, key(from, ""))
	if err != nil {
		return err
	}
	for _, kv := range kvs {
		var rec ledgerRecord
		if err := decodeJSON(kv.v, &rec); err != nil {
			return err
		}
		if err := lb.Put(append(key(to, ""), kv.suffix...), kv.v); err != nil {
			return err
		}
		if err := lb.Delete(kv.k); err != nil {
			return err
		}
		// The expire entries the lots derive have no id entry
		// (replaceExpiries): a node that erased first has none either.
		if rec.Entry.Kind != engine.EntryExpire {
			if err := ids.Put([]byte(rec.Entry.ID), []byte(to)); err != nil {
				return err
			}
		}
		if err := reindexMovedEntry(tx, to, rec.Entry); err != nil {
			return err
		}
	}
	return nil
}

// moveSums adds int64 values kept under the member id (or, prefixed,
// under member \x00 suffix) to to's, and deletes from's. A key whose sum
// is zero is kept, as addSpend keeps it: the fold's bytes must not
// depend on whether the sums were made under one id or two.
func moveSums(bucket []byte, prefixedKeys bool) func(*bbolt.Tx, string, string) error {
	return func(tx *bbolt.Tx, from, to string) error {
		b := tx.Bucket(bucket)
		var kvs []kv
		if prefixedKeys {
			var err error
			if kvs, err = prefixed(b, key(from, "")); err != nil {
				return err
			}
		} else if v := b.Get([]byte(from)); v != nil {
			kvs = []kv{{k: []byte(from), v: bytes.Clone(v)}}
		}
		for _, x := range kvs {
			add, err := decodeInt64(x.v)
			if err != nil {
				return err
			}
			dst := []byte(to)
			if prefixedKeys {
				dst = append(key(to, ""), x.suffix...)
			}
			var cur int64
			if v := b.Get(dst); v != nil {
				if cur, err = decodeInt64(v); err != nil {
					return err
				}
			}
			if err := b.Put(dst, int64Value(cur+add)); err != nil {
				return err
			}
			if err := b.Delete(x.k); err != nil {
				return err
			}
		}
		return nil
	}
}

// moveLots deletes from's lot replay and, when from or to had lots,
// replays to's ledger (the moved entries with to's own) under to's expiry
// mark, as a late entry does (replayLots): the replay, the expire entries
// it derives and the balance they change are then what a node that heard
// of the erasure before the member's events folded for to. Left under
// from, the replay would keep the mobile in bucketLots and HQ's expiry
// review would go on naming it.
func moveLots(tx *bbolt.Tx, from, to string) error {
	b := tx.Bucket(bucketLots)
	if b == nil || (b.Get([]byte(from)) == nil && b.Get([]byte(to)) == nil) {
		return nil
	}
	if err := deleteKey(b, []byte(from)); err != nil {
		return err
	}
	// to's record holds the expiry register of from's marks: eraseSubject
	// folded the redacted marks into it before moving anything.
	rec, _, err := loadMember(tx, to)
	if err != nil {
		return err
	}
	bb := tx.Bucket(bucketBalances)
	bal, err := decodeBalance(bb.Get([]byte(to)))
	if err != nil {
		return err
	}
	after, err := replayLots(tx, to, rec.State.ExpiredThrough(), bal.Balance)
	if err != nil || after == bal.Balance {
		return err
	}
	if err := bb.Put([]byte(to), balanceRecord{Balance: after}.encode()); err != nil {
		return fmt.Errorf("node: balance: %w", err)
	}
	return nil
}

// moveOverdrafts re-keys the overdraft reports and names to in them.
func moveOverdrafts(tx *bbolt.Tx, from, to string) error {
	b := tx.Bucket(bucketOverdrafts)
	kvs, err := prefixed(b, key(from, ""))
	if err != nil {
		return err
	}
	for _, x := range kvs {
		var rec overdraftRecord
		if err := decodeJSON(x.v, &rec); err != nil {
			return err
		}
		rec.Overdraft.Member = to
		if err := putJSON(b, append(key(to, ""), x.suffix...), rec); err != nil {
			return err
		}
		if err := b.Delete(x.k); err != nil {
			return err
		}
	}
	return nil
}

// movePrefixed re-keys member \x00 suffix keys, values unchanged.
func movePrefixed(bucket []byte) func(*bbolt.Tx, string, string) error {
	return func(tx *bbolt.Tx, from, to string) error {
		b := tx.Bucket(bucket)
		kvs, err := prefixed(b, key(from, ""))
		if err != nil {
			return err
		}
		for _, x := range kvs {
			if err := b.Put(append(key(to, ""), x.suffix...), x.v); err != nil {
				return err
			}
			if err := b.Delete(x.k); err != nil {
				return err
			}
		}
		return nil
	}
}

// moveHolds rewrites the member of every HQ hold of from (a hold voided
// or expired is named by no sale). The bucket is scanned for the quoted
// id first, so only candidates are decoded.
func moveHolds(tx *bbolt.Tx, from, to string) error {
	b := tx.Bucket(bucketHolds)
	ids, err := mentioning(b, from)
	if err != nil {
		return err
	}
	for _, id := range ids {
		if err := setHoldMember(tx, string(id), from, to); err != nil {
			return err
		}
	}
	return nil
}

// dropLocal deletes the member's OTP record, every text of the member
// (queued or done: a done one keeps the number it went to), and every
// answer kept for a till replay that shows the member.
func dropLocal(tx *bbolt.Tx, from, _ string) error {
	if err := deleteKey(tx.Bucket(bucketOTPs), []byte(from)); err != nil {
		return err
	}
	ob, due := tx.Bucket(bucketOutbox), tx.Bucket(bucketOutboxDue)
	ids, err := mentioning(ob, from)
	if err != nil {
		return err
	}
	for _, id := range ids {
		var rec outboxRecord
		if found, err := getJSON(ob, id, &rec); err != nil || !found {
			return err
		}
		if rec.Member != from {
			continue
		}
		if err := due.Delete(dueKey(rec)); err != nil {
			return err
		}
		if err := ob.Delete(id); err != nil {
			return err
		}
	}
	ab := tx.Bucket(bucketAnswers)
	keys, err := mentioning(ab, from)
	if err != nil {
		return err
	}
	for _, k := range keys {
		if err := ab.Delete(k); err != nil {
			return err
		}
	}
	return nil
}

// kv is a key, its value and the key's part after a prefix, copied out
// of the transaction's memory.
type kv struct {
	k, v, suffix []byte
}

// prefixed returns the pairs under prefix.
func prefixed(b *bbolt.Bucket, prefix []byte) ([]kv, error) {
	var out []kv
	c := b.Cursor()
	for k, v := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, v = c.Next() {
		out = append(out, kv{k: bytes.Clone(k), v: bytes.Clone(v), suffix: bytes.Clone(k[len(prefix):])})
	}
	return out, nil
}

// mentioning returns the keys whose value holds id as a JSON string.
func mentioning(b *bbolt.Bucket, id string) ([][]byte, error) {
	quoted, err := json.Marshal(id)
	if err != nil {
		return nil, err
	}
	var out [][]byte
	err = b.ForEach(func(k, v []byte) error {
		if bytes.Contains(v, quoted) {
			out = append(out, bytes.Clone(k))
		}
		return nil
	})
	return out, err
}

func deleteKey(b *bbolt.Bucket, k []byte) error {
	if err := b.Delete(k); err != nil {
		return fmt.Errorf("node: delete %q: %w", k, err)
	}
	return nil
}
