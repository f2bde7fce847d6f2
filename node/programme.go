package node

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base32"
	"encoding/binary"
	"fmt"

	"github.com/patron/patron/engine"
	"github.com/patron/patron/node/programmeyaml"
	"go.etcd.io/bbolt"
)

// LoadProgramme parses and validates a programme document (JSON or YAML)
// and appends it as a programme.loaded event, which stores it under its
// version, writes its coupon codes and makes it current (here and, once
// replicated, on every node: the latest programme event is current). Loading the same version again with the same content only makes
// it current; with different content it fails with ErrProgrammeConflict.
// Validation problems are an *engine.ValidationError (wrapped).
//
// Older versions stay stored, so a receipt priced with one can be audited
// with it. Coupon codes of older versions stay stored too; a code is valid
// while its campaign exists in the current programme.
func (n *Node) LoadProgramme(ctx context.Context, data []byte) (*engine.Programme, error) {
	if err := n.enter(ctx); err != nil {
		return nil, err
	}
	defer n.leave()
	p, err := programmeyaml.ParseProgramme(data, n.cfg.Zones)
	if err != nil {
		return nil, fmt.Errorf("node: load programme: %w", err)
	}
	if err := n.checkProgrammeFormat(p); err != nil {
		return nil, err
	}
	if _, err := programmeCoupons(p); err != nil {
		return nil, err
	}
	// Held across the commit so two loads cannot interleave their
	// conflict checks. progMu itself is never held across a commit:
	// transaction functions of other calls in the same group read it.
	n.loadMu.Lock()
	defer n.loadMu.Unlock()
	eff := newEffects()
	err = n.update(func(tx *bbolt.Tx) error {
		eff.reset()
		var old programmeRecord
		found, err := getJSON(tx.Bucket(bucketProgrammes), []byte(p.Version), &old)
		if err != nil {
			return err
		}
		if found && !bytes.Equal(old.Document, data) {
			return fmt.Errorf("node: load programme %q: %w", p.Version, ErrProgrammeConflict)
		}
		ev := engine.Event{Kind: engine.EventProgrammeLoaded, At: n.now(),
			Programme: &engine.ProgrammeLoaded{Version: p.Version, Document: data}}
		_, err = n.emit(tx, ev, p, eff)
		return err
	})
	if err != nil {
		return nil, err
	}
	n.installProgrammes(eff.programmes)
	return n.Programme(), nil
}

// Programme returns the current programme, or nil before one is loaded.
// It must be treated as immutable.
func (n *Node) Programme() *engine.Programme {
	n.progMu.RLock()
	defer n.progMu.RUnlock()
	return n.current
}

// ProgrammeVersion returns a stored programme by version (parsed once and
// cached), so a receipt can be audited with the rules that priced it.
// Unknown versions are a not_found refusal.
func (n *Node) ProgrammeVersion(ctx context.Context, version string) (*engine.Programme, error) {
	if err := n.enter(ctx); err != nil {
		return nil, err
	}
	defer n.leave()
	n.progMu.RLock()
	p := n.programmes[version]
	n.progMu.RUnlock()
	if p != nil {
		return p, nil
	}
	var raw []byte
	err := n.db.View(func(tx *bbolt.Tx) error {
		var rec programmeRecord
		found, err := getJSON(tx.Bucket(bucketProgrammes), []byte(version), &rec)
		if found {
			raw = rec.Document
		}
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("node: read programme: %w", err)
	}
	if raw == nil {
		return nil, n.refused(refuse(ReasonNotFound, "no programme version "+version))
	}
	p, err = programmeyaml.ParseProgramme(raw, n.cfg.Zones)
	if err != nil {
		return nil, fmt.Errorf("node: stored programme %q: %w", version, err)
	}
	n.progMu.Lock()
	defer n.progMu.Unlock()
	if cached := n.programmes[version]; cached != nil {
		return cached, nil
	}
	n.programmes[version] = p
	return p, nil
}

// enterWithProgramme is enter followed by currentProgramme, the start of
// every till method; on success the caller must call n.leave.
func (n *Node) enterWithProgramme(ctx context.Context) (*engine.Programme, error) {
	if err := n.enter(ctx); err != nil {
		return nil, err
	}
	p, err := n.currentProgramme()
	if err == nil && n.catchingUp.Load() {
		err = ErrCatchingUp
	}
	if err != nil {
		n.leave()
		return nil, err
	}
	return p, nil
}

// enterTill is enter for a till method that does not need the programme
// first: while a new incarnation catches up from HQ it answers
// ErrCatchingUp (see incarnation.go), as enterWithProgramme does.
func (n *Node) enterTill(ctx context.Context) error {
	if err := n.enter(ctx); err != nil {
		return err
	}
	if n.catchingUp.Load() {
		n.leave()
		return ErrCatchingUp
	}
	return nil
}

// currentProgramme returns the current programme or ErrNoProgramme.
func (n *Node) currentProgramme() (*engine.Programme, error) {
	if p := n.Programme(); p != nil {
		return p, nil
	}
	return nil, ErrNoProgramme
}

// loadedCoupon is a code with its record, ready to write.
type loadedCoupon struct {
	code string
	rec  couponRecord
}

// programmeCoupons lists the codes of a programme: listed codes as given,
// generated ones derived by GeneratedCouponCode.
func programmeCoupons(p *engine.Programme) ([]loadedCoupon, error) {
	var out []loadedCoupon
	generated := 0
	for _, b := range p.Coupons {
		uses := b.UsesPerCode
		if uses == 0 {
			uses = 1
		}
		rec := couponRecord{V: recordVersion, Campaign: b.Campaign, UsesPerCode: uses,
			ValidTo: b.ValidTo, Member: b.Member, Programme: p.Version}
		for _, c := range b.Codes {
			out = append(out, loadedCoupon{code: c, rec: rec})
		}
		generated += b.Generate
		if generated > MaxGeneratedCoupons {
			return nil, fmt.Errorf("node: load programme: more than %d generated coupons", MaxGeneratedCoupons)
		}
		for i := 0; i < b.Generate; i++ {
			out = append(out, loadedCoupon{code: GeneratedCouponCode(p.Version, b.Campaign, b.Prefix, i), rec: rec})
		}
	}
	return out, nil
}

// couponAlphabet is Crockford's base32: no I, L, O or U to misread.
var couponEncoding = base32.NewEncoding("0123456789ABCDEFGHJKMNPQRSTVWXYZ").WithPadding(base32.NoPadding)

// GeneratedCouponCode is the index-th code of a `generate` coupon batch:
// prefix followed by 10 Crockford base32 characters (50 bits) of
// sha256("patron coupon v1" ‖ version ‖ campaign ‖ index). The same
// programme version always generates the same codes on every node, so HQ
// and stores agree without shipping the list. The codes are not secret
// from whoever holds the programme document; a new version generates new
// codes (the old ones stay valid while their campaign exists).
func GeneratedCouponCode(version, campaign, prefix string, index int) string {
	h := sha256.New()
	h.Write([]byte("patron coupon v1\x00"))
	h.Write([]byte(version))
	h.Write([]byte{0})
	h.Write([]byte(campaign))
	h.Write([]byte{0})
	h.Write(binary.BigEndian.AppendUint64(nil, uint64(index)))
	return prefix + couponEncoding.EncodeToString(h.Sum(nil))[:10]
}

// writeCoupons stores the coupon records of a programme loaded by the
// event stamped st, and the member offer index. Of two programmes listing
// one code, the later event's record stands, whatever the arrival order.
func writeCoupons(tx *bbolt.Tx, coupons []loadedCoupon, st engine.Stamp) error {
	cb := tx.Bucket(bucketCoupons)
	ob := tx.Bucket(bucketMemberOffers)
	for _, c := range coupons {
		var old couponRecord
		found, err := getJSON(cb, []byte(c.code), &old)
		if err != nil {
			return err
		}
		if found && old.Stamp.Compare(st) >= 0 {
			continue
		}
		if found && old.Member != "" && old.Member != c.rec.Member {
			if err := ob.Delete(key(old.Member, c.code)); err != nil {
				return fmt.Errorf("node: coupon index: %w", err)
			}
		}
		rec := c.rec
		rec.Stamp = st
		if err := putJSON(cb, []byte(c.code), rec); err != nil {
			return err
		}
		if rec.Member != "" {
			if err := ob.Put(key(rec.Member, c.code), nil); err != nil {
				return fmt.Errorf("node: coupon index: %w", err)
			}
		}
	}
	return nil
}
