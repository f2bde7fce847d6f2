package node

import (
	"bytes"
	"fmt"
	"slices"
	"time"

	"github.com/patron/patron/engine"
	"go.etcd.io/bbolt"
)

// Lots on the node (engine/lots.go, docs/points-expiry.md). Each member
// with lots has a replay of their ledger (engine.LotReplay) in
// bucketLots, kept in the transaction that applies an entry or HQ's
// expiry mark. An entry that sorts after every entry replayed (the usual
// case: a sale or return made now) resumes the replay; an entry dated
// earlier (from a store that was offline) or a new mark replays the
// member's whole ledger. Both give the same replay. The expire entries
// the lots derive are written to the ledger bucket (and their points to
// the balance) and rewritten when they change, so the ledger still sums
// to the balance and folds alike on every node. A member none of whose
// entries has lot terms has no lots: nothing is replayed and all of the
// balance is redeemable, as before lots.

// loadLots reads member's replay (lots_codec.go), or nil.
func loadLots(tx *bbolt.Tx, member string) (*engine.LotReplay, error) {
	b := tx.Bucket(bucketLots)
	if b == nil {
		return nil, nil
	}
	data := b.Get([]byte(member))
	if data == nil {
		return nil, nil
	}
	r, err := decodeLots(data)
	if err != nil {
		return nil, fmt.Errorf("node: lots of %s: %w", member, err)
	}
	return r, nil
}

func putLots(tx *bbolt.Tx, member string, r *engine.LotReplay) error {
	b, err := tx.CreateBucketIfNotExists(bucketLots)
	if err != nil {
		return fmt.Errorf("node: lots bucket: %w", err)
	}
	if err := b.Put([]byte(member), encodeLots(r)); err != nil {
		return fmt.Errorf("node: put lots: %w", err)
	}
	return nil
}

// foldLots brings member's lots up to date after entries were applied
// (already in the ledger), when the member has lots or the entries bring
// lot terms, and returns the balance with the expiries' change.
func foldLots(tx *bbolt.Tx, member string, applied []engine.Entry, balance engine.Points) (engine.Points, error) {
	r, err := loadLots(tx, member)
	if err != nil {
		return 0, err
	}
	if r == nil && !hasLotTerms(applied) {
		return balance, nil
	}
	sorted := slices.Clone(applied)
	slices.SortFunc(sorted, engine.CompareEntries)
	if r == nil || !r.Follows(sorted[0]) {
		rec, _, err := loadMember(tx, member)
		if err != nil {
			return 0, err
		}
		return replayLots(tx, member, rec.State.ExpiredThrough(), balance)
	}
	var from *time.Time // derived entries after it may change
	if r.LastID != "" {
		last := r.LastAt // a copy: Apply moves r.LastAt
		from = &last
	}
	var fresh []engine.Entry
	for _, e := range sorted {
		fresh = append(fresh, r.Apply(e)...)
	}
	_, trailing := r.Finish()
	balance, err = replaceExpiries(tx, member, from, append(fresh, trailing...), balance)
	if err != nil {
		return 0, err
	}
	return balance, putLots(tx, member, r)
}

// applyExpiry folds HQ's points.expired or points.expiry_warned into the
// member's register; a new expiry mark replays the member's lots.
func applyExpiry(tx *bbolt.Tx, ev engine.Event, eff *effects) error {
	rec, _, err := loadMember(tx, ev.Member)
	if err != nil {
		return err
	}
	if !rec.State.Apply(ev) {
		return nil
	}
	if err := putJSON(tx.Bucket(bucketMembers), []byte(ev.Member), rec); err != nil {
		return err
	}
	if ev.Kind != engine.EventPointsExpired {
		return nil
	}
	bb := tx.Bucket(bucketBalances)
	bal, err := decodeBalance(bb.Get([]byte(ev.Member)))
	if err != nil {
		return err
	}
	after, err := replayLots(tx, ev.Member, rec.State.ExpiredThrough(), bal.Balance)
	if err != nil || after == bal.Balance {
		return err
	}
	if err := bb.Put([]byte(ev.Member), balanceRecord{Balance: after}.encode()); err != nil {
		return fmt.Errorf("node: balance: %w", err)
	}
	eff.members[ev.Member] = true
	return nil
}

// replayLots replays member's whole ledger under the mark through,
// stores the replay, rewrites the expire entries and returns the balance
// adjusted by their change.
func replayLots(tx *bbolt.Tx, member string, through time.Time, balance engine.Points) (engine.Points, error) {
	posted, err := memberLedger(tx, member, nil, false)
	if err != nil {
		return 0, err
	}
	r, expiries := engine.ReplayLots(posted, through)
	_, trailing := r.Finish()
	balance, err = replaceExpiries(tx, member, nil, append(expiries, trailing...), balance)
	if err != nil {
		return 0, err
	}
	return balance, putLots(tx, member, r)
}

// replaceExpiries makes the expire entries of member dated after from
// (all when nil) those of fresh, writing only what changed, and returns
// the balance adjusted by the change.
func replaceExpiries(tx *bbolt.Tx, member string, from *time.Time, fresh []engine.Entry, balance engine.Points) (engine.Points, error) {
	old, err := memberLedger(tx, member, from, true)
	if err != nil {
		return 0, err
	}
	keep := make(map[string]engine.Entry, len(fresh))
	for _, e := range fresh {
		keep[string(ledgerKey(member, e))] = e
	}
	lb := tx.Bucket(bucketLedger)
	for _, e := range old {
		k := ledgerKey(member, e)
		if n, ok := keep[string(k)]; ok && n.Points == e.Points {
			delete(keep, string(k)) // unchanged
			continue
		}
		if err := lb.Delete(k); err != nil {
			return 0, fmt.Errorf("node: ledger: %w", err)
		}
		if err := unindexEntry(tx, e); err != nil {
			return 0, err
		}
		balance -= e.Points
	}
	for _, e := range fresh {
		k := ledgerKey(member, e)
		if _, ok := keep[string(k)]; !ok {
			continue
		}
		if err := putJSON(lb, k, ledgerRecord{V: recordVersion, Entry: e}); err != nil {
			return 0, err
		}
		if err := indexEntry(tx, member, e); err != nil {
			return 0, err
		}
		balance += e.Points
	}
	return balance, nil
}

// memberLedger reads member's ledger entries dated after from (all when
// nil): the expire entries the lots derived when derived, else the
// posted ones.
func memberLedger(tx *bbolt.Tx, member string, from *time.Time, derived bool) ([]engine.Entry, error) {
	prefix := key(member, "")
	start := prefix
	if from != nil {
		start = append(bytes.Clone(prefix), timeKey(*from)...)
	}
	var out []engine.Entry
	c := tx.Bucket(bucketLedger).Cursor()
	for k, v := c.Seek(start); k != nil && bytes.HasPrefix(k, prefix); k, v = c.Next() {
		var rec ledgerRecord
		if err := decodeJSON(v, &rec); err != nil {
			return nil, err
		}
		e := rec.Entry
		if (e.Kind == engine.EntryExpire) == derived && (from == nil || e.At.After(*from)) {
			out = append(out, e)
		}
	}
	return out, nil
}

// stampLots stamps the lot terms on the entries a sale or return posts
// (engine.StampLots) — once the chain reads them: the fields are new in
// chain format 2, and a node of the previous build would refuse the event
// and stop syncing. Until the upgrade is finalized, points never expire
// and are never pending, whatever the programme says.
func (n *Node) stampLots(p *engine.Programme, entries []engine.Entry, source string) {
	if n.ChainFormat() >= engine.CurrentChainFormat {
		engine.StampLots(p, entries, source)
	}
}

func hasLotTerms(entries []engine.Entry) bool {
	for _, e := range entries {
		if !e.ExpiresAt.IsZero() || !e.PendingUntil.IsZero() {
			return true
		}
	}
	return false
}

// lotsAt returns member's lots as they stand at at: the replay's, or,
// when a lot is due at at but HQ has not marked it yet (due), the lots
// replayed as if HQ had (so the due points are neither redeemable nor
// spent first). nil when the member has no lots.
func lotsAt(tx *bbolt.Tx, member string, at time.Time) (lots *engine.Lots, due bool, err error) {
	r, err := loadLots(tx, member)
	if err != nil || r == nil {
		return nil, false, err
	}
	l, _ := r.Finish()
	if !l.Due(at) {
		return &l, false, nil
	}
	posted, err := memberLedger(tx, member, nil, false)
	if err != nil {
		return nil, false, err
	}
	l, _ = engine.ComputeLots(posted, at)
	return &l, true, nil
}

// lotsPosition is what a member's lots allow at an instant; the zero
// value is a member without lots.
type lotsPosition struct {
	has        bool
	redeemable engine.Points
	pending    engine.Points
	expiring   *engine.Expiring
}

// limit caps what the balance allows at what the lots allow.
func (lp lotsPosition) limit(balance engine.Points) engine.Points {
	if !lp.has {
		return balance
	}
	return min(balance, lp.redeemable)
}

// lotsPositionOf is the lots position at at under p of rec's member.
func lotsPositionOf(tx *bbolt.Tx, p *engine.Programme, rec *memberRecord, at time.Time) (lotsPosition, error) {
	lots, _, err := lotsAt(tx, rec.State.ID, at)
	if err != nil || lots == nil {
		return lotsPosition{}, err
	}
	pos := lots.PositionAt(at, p.Location, p.ExpiryWarningDays())
	return lotsPosition{has: true, redeemable: pos.Redeemable, pending: pos.Pending, expiring: pos.Expiring}, nil
}

// lotsRedeemableAt is what HQ may hold of member's balance at at: the
// balance, capped by the lots (pending and due points left out).
func lotsRedeemableAt(tx *bbolt.Tx, member string, at time.Time, balance engine.Points) (engine.Points, error) {
	lots, _, err := lotsAt(tx, member, at)
	if err != nil || lots == nil {
		return balance, err
	}
	return min(balance, lots.PositionAt(at, nil, 0).Redeemable), nil
}

// lotsText is the receipt's lines about pending and expiring points.
func lotsText(pts MemberPoints) []string {
	var out []string
	if pts.Pending > 0 {
		out = append(out, fmt.Sprintf("Points pending: %d", pts.Pending))
	}
	if x := pts.Expiring; x != nil {
		out = append(out, fmt.Sprintf("%d points expire on %s", x.Points, x.On))
	}
	return out
}
