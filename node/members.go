package node

import (
	"bytes"
	"context"
	"fmt"
	"net/mail"
	"strings"
	"time"

	"github.com/patron/patron/engine"
	"go.etcd.io/bbolt"
)

// Card block reasons accepted by card.block.
var blockReasons = map[string]bool{
	"lost": true, "stolen": true, "damaged": true, "fraud": true, "customer_request": true,
}

// Identify finds a member by mobile (normalised with the programme's
// default_country_code), card or e-mail (case-insensitive). Refusals:
// invalid_params, member_not_found, card_blocked.
func (n *Node) Identify(ctx context.Context, terminal string, req IdentifyRequest) (*Member, error) {
	if err := n.enter(ctx); err != nil {
		return nil, err
	}
	defer n.leave()
	p, err := n.currentProgramme()
	if err != nil {
		return nil, err
	}
	ref, r := parseIdentifier(p, req.Identifier, "identifier")
	if r != nil {
		return nil, n.refused(r)
	}
	var m *Member
	err = n.db.View(func(tx *bbolt.Tx) error {
		rec, _, r, err := findMember(tx, ref)
		if err != nil {
			return err
		}
		if r != nil {
			return r
		}
		m, err = n.view(tx, p, rec, n.now())
		return err
	})
	if err != nil {
		return nil, n.result(err)
	}
	return m, nil
}

// Enroll registers a new member whose id is the normalised mobile number.
// Refusals: invalid_params (with the field), member_exists (with
// data.member_id) when the mobile, card or e-mail already belongs to a
// member — including a retry of the same enrolment, as the protocol says.
func (n *Node) Enroll(ctx context.Context, terminal string, req EnrollRequest) (*Member, error) {
	if err := n.enter(ctx); err != nil {
		return nil, err
	}
	defer n.leave()
	p, err := n.currentProgramme()
	if err != nil {
		return nil, err
	}
	rec, r := newMemberRecord(p, req)
	if r != nil {
		return nil, n.refused(r)
	}
	now := n.now()
	rec.EnrolledAt = now
	for i := range rec.Cards {
		rec.Cards[i].IssuedAt = now
	}
	var m *Member
	var refusal *engine.Refusal
	err = n.update(func(tx *bbolt.Tx) error {
		m, refusal = nil, nil
		if id := ownerOf(tx, rec); id != "" {
			refusal = refuse(ReasonMemberExists, "already a member", "member_id", id)
			return nil
		}
		if err := putMember(tx, rec, ""); err != nil {
			return err
		}
		for _, c := range rec.Cards {
			if err := n.logCard(tx, terminal, rec.ID, c.Number, "issue", c.Type, "enrol", now); err != nil {
				return err
			}
		}
		var err error
		m, err = n.view(tx, p, rec, now)
		return err
	})
	if err != nil {
		return nil, err
	}
	if refusal != nil {
		return nil, n.refused(refusal)
	}
	return m, nil
}

// UpdateMember changes profile fields. Refusals: member_not_found,
// invalid_params, member_exists (the new e-mail belongs to another
// member).
func (n *Node) UpdateMember(ctx context.Context, terminal string, req UpdateRequest) (*Member, error) {
	if err := n.enter(ctx); err != nil {
		return nil, err
	}
	defer n.leave()
	p, err := n.currentProgramme()
	if err != nil {
		return nil, err
	}
	if r := validateChange(req.Set); r != nil {
		return nil, n.refused(r)
	}
	m, _, err := n.changeMember(p, req.MemberID, func(tx *bbolt.Tx, rec *memberRecord) (*engine.Refusal, error) {
		s := req.Set
		if s.Email != nil && !strings.EqualFold(*s.Email, rec.Email) && *s.Email != "" {
			if id := tx.Bucket(bucketEmails).Get([]byte(strings.ToLower(*s.Email))); id != nil && string(id) != rec.ID {
				return refuse(ReasonMemberExists, "e-mail belongs to another member", "member_id", string(id)), nil
			}
		}
		set := func(dst *string, src *string) {
			if src != nil {
				*dst = strings.TrimSpace(*src)
			}
		}
		set(&rec.FirstName, s.FirstName)
		set(&rec.LastName, s.LastName)
		set(&rec.Email, s.Email)
		set(&rec.Country, s.Country)
		set(&rec.Birthday, s.Birthday)
		set(&rec.Anniversary, s.Anniversary)
		return nil, nil
	})
	return m, err
}

// SetConsents gives or withdraws consents. Unknown consent ids are
// invalid_params (field "set"). Withdrawing a required consent is allowed
// and suspends earning and redemption.
func (n *Node) SetConsents(ctx context.Context, terminal string, req ConsentsRequest) (*Member, error) {
	if err := n.enter(ctx); err != nil {
		return nil, err
	}
	defer n.leave()
	p, err := n.currentProgramme()
	if err != nil {
		return nil, err
	}
	if r := checkConsents(p, req.Set, "set"); r != nil {
		return nil, n.refused(r)
	}
	m, changed, err := n.changeMember(p, req.MemberID, func(_ *bbolt.Tx, rec *memberRecord) (*engine.Refusal, error) {
		for k, v := range req.Set {
			rec.Consents[k] = v
		}
		return nil, nil
	})
	if changed {
		n.notify(m)
	}
	return m, err
}

// IssueCard gives a member a new card, which becomes the member's newest
// active card (the one whose type earns). The balance stays with the
// member. Issuing a card the member already holds active is a no-op (a
// retry); a card number known otherwise is member_exists.
func (n *Node) IssueCard(ctx context.Context, terminal string, req IssueCardRequest) (*Member, error) {
	if err := n.enter(ctx); err != nil {
		return nil, err
	}
	defer n.leave()
	p, err := n.currentProgramme()
	if err != nil {
		return nil, err
	}
	if r := checkCard(p, &CardRequest{Number: req.Number, Type: req.Type}, ""); r != nil {
		return nil, n.refused(r)
	}
	now := n.now()
	m, changed, err := n.changeMember(p, req.MemberID, func(tx *bbolt.Tx, rec *memberRecord) (*engine.Refusal, error) {
		owner := tx.Bucket(bucketCards).Get([]byte(req.Number))
		if owner != nil {
			if c, ok := rec.card(req.Number); ok && c.Status == cardActive && c.Type == req.Type {
				return errUnchanged, nil
			}
			return refuse(ReasonMemberExists, "card already issued", "member_id", string(owner)), nil
		}
		if len(rec.Cards) >= MaxCardsPerMember {
			return invalid("number", fmt.Sprintf("a member holds at most %d cards", MaxCardsPerMember)), nil
		}
		rec.Cards = append(rec.Cards, cardRecord{Number: req.Number, Type: req.Type, Status: cardActive, IssuedAt: now})
		return nil, n.logCard(tx, terminal, rec.ID, req.Number, "issue", req.Type, "", now)
	})
	if changed {
		n.notify(m)
	}
	return m, err
}

// BlockCard blocks a card for reason (lost, stolen, damaged, fraud,
// customer_request). Unknown cards are member_not_found; blocking a
// blocked card again is a no-op.
func (n *Node) BlockCard(ctx context.Context, terminal string, req BlockCardRequest) (*Member, error) {
	if err := n.enter(ctx); err != nil {
		return nil, err
	}
	defer n.leave()
	p, err := n.currentProgramme()
	if err != nil {
		return nil, err
	}
	if req.Number == "" {
		return nil, n.refused(invalid("number", "card number required"))
	}
	if !blockReasons[req.Reason] {
		return nil, n.refused(invalid("reason", "reason must be lost, stolen, damaged, fraud or customer_request"))
	}
	var memberID string
	err = n.db.View(func(tx *bbolt.Tx) error {
		memberID = string(tx.Bucket(bucketCards).Get([]byte(req.Number)))
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("node: block card: %w", err)
	}
	if memberID == "" {
		return nil, n.refused(refuse(ReasonMemberNotFound, "unknown card"))
	}
	now := n.now()
	m, changed, err := n.changeMember(p, memberID, func(tx *bbolt.Tx, rec *memberRecord) (*engine.Refusal, error) {
		c, ok := rec.card(req.Number)
		if !ok {
			return refuse(ReasonMemberNotFound, "unknown card"), nil
		}
		if c.Status == cardBlocked {
			return errUnchanged, nil
		}
		c.Status, c.BlockReason, c.BlockedAt = cardBlocked, req.Reason, now
		return nil, n.logCard(tx, terminal, rec.ID, req.Number, "block", c.Type, req.Reason, now)
	})
	if changed {
		n.notify(m)
	}
	return m, err
}

// CardLog returns the card maintenance log of a member, oldest first
// (every member's when memberID is "").
func (n *Node) CardLog(ctx context.Context, memberID string) ([]CardLogEntry, error) {
	if err := n.enter(ctx); err != nil {
		return nil, err
	}
	defer n.leave()
	out := []CardLogEntry{}
	err := n.db.View(func(tx *bbolt.Tx) error {
		return tx.Bucket(bucketCardLog).ForEach(func(_, v []byte) error {
			var r cardLogRecord
			if err := decodeJSON(v, &r); err != nil {
				return err
			}
			if memberID == "" || r.Member == memberID {
				out = append(out, CardLogEntry{At: r.At, Store: r.Store, Terminal: r.Terminal, Member: r.Member,
					Card: r.Card, Action: r.Action, Type: r.Type, Reason: r.Reason})
			}
			return nil
		})
	})
	if err != nil {
		return nil, fmt.Errorf("node: card log: %w", err)
	}
	return out, nil
}

// errUnchanged is returned by a changeMember function when the change is
// already in place (a retry): nothing is written and the member returned.
var errUnchanged = &engine.Refusal{Reason: "unchanged"}

// changeMember loads a member, applies change and stores it, in one
// group-committed transaction, and returns the member's view. changed is
// false when nothing was written.
func (n *Node) changeMember(p *engine.Programme, id string, change func(*bbolt.Tx, *memberRecord) (*engine.Refusal, error)) (m *Member, changed bool, err error) {
	if id == "" {
		return nil, false, n.refused(invalid("member_id", "member_id required"))
	}
	var refusal *engine.Refusal
	now := n.now()
	err = n.update(func(tx *bbolt.Tx) error {
		m, refusal, changed = nil, nil, false
		var rec memberRecord
		found, err := getJSON(tx.Bucket(bucketMembers), []byte(id), &rec)
		if err != nil {
			return err
		}
		if !found {
			refusal = refuse(ReasonMemberNotFound, "no such member")
			return nil
		}
		oldEmail := rec.Email
		r, err := change(tx, &rec)
		switch {
		case err != nil:
			return err
		case r == errUnchanged:
		case r != nil:
			refusal = r
			return nil
		default:
			if err := putMember(tx, &rec, oldEmail); err != nil {
				return err
			}
			changed = true
		}
		m, err = n.view(tx, p, &rec, now)
		return err
	})
	if err != nil {
		return nil, false, err
	}
	if refusal != nil {
		return nil, false, n.refused(refusal)
	}
	return m, changed, nil
}

// putMember stores rec and its card and e-mail index entries; oldEmail is
// the e-mail it was indexed under before ("" for a new member).
func putMember(tx *bbolt.Tx, rec *memberRecord, oldEmail string) error {
	if err := putJSON(tx.Bucket(bucketMembers), []byte(rec.ID), rec); err != nil {
		return err
	}
	cards := tx.Bucket(bucketCards)
	for _, c := range rec.Cards {
		if err := cards.Put([]byte(c.Number), []byte(rec.ID)); err != nil {
			return fmt.Errorf("node: card index: %w", err)
		}
	}
	emails := tx.Bucket(bucketEmails)
	if oldEmail != "" && !strings.EqualFold(oldEmail, rec.Email) {
		if err := emails.Delete([]byte(strings.ToLower(oldEmail))); err != nil {
			return fmt.Errorf("node: e-mail index: %w", err)
		}
	}
	if rec.Email != "" {
		if err := emails.Put([]byte(strings.ToLower(rec.Email)), []byte(rec.ID)); err != nil {
			return fmt.Errorf("node: e-mail index: %w", err)
		}
	}
	return nil
}

// ownerOf returns the id of a member that already holds rec's mobile, a
// card or the e-mail, or "".
func ownerOf(tx *bbolt.Tx, rec *memberRecord) string {
	if tx.Bucket(bucketMembers).Get([]byte(rec.ID)) != nil {
		return rec.ID
	}
	for _, c := range rec.Cards {
		if id := tx.Bucket(bucketCards).Get([]byte(c.Number)); id != nil {
			return string(id)
		}
	}
	if rec.Email != "" {
		if id := tx.Bucket(bucketEmails).Get([]byte(strings.ToLower(rec.Email))); id != nil {
			return string(id)
		}
	}
	return ""
}

// logCard appends to the card maintenance log.
func (n *Node) logCard(tx *bbolt.Tx, terminal, member, card, action, typ, reason string, at time.Time) error {
	b := tx.Bucket(bucketCardLog)
	seq, err := b.NextSequence()
	if err != nil {
		return fmt.Errorf("node: card log: %w", err)
	}
	return putJSON(b, seqKey("", seq), cardLogRecord{V: recordVersion, At: at, Store: n.cfg.Store,
		Terminal: terminal, Member: member, Card: card, Action: action, Type: typ, Reason: reason})
}

// newMemberRecord validates an enrolment.
func newMemberRecord(p *engine.Programme, req EnrollRequest) (*memberRecord, *engine.Refusal) {
	if strings.TrimSpace(req.Mobile) == "" {
		return nil, invalid("mobile", "mobile required")
	}
	id, err := engine.NormalizeMobile(req.Mobile, p.DefaultCountryCode)
	if err != nil {
		return nil, invalid("mobile", "invalid mobile number")
	}
	str := func(s string) *string { return &s }
	change := ProfileChange{FirstName: str(req.FirstName), LastName: str(req.LastName), Email: str(req.Email),
		Country: str(req.Country), Birthday: str(req.Birthday), Anniversary: str(req.Anniversary)}
	if r := validateChange(change); r != nil {
		return nil, r
	}
	if r := checkConsents(p, req.Consents, "consents"); r != nil {
		return nil, r
	}
	if len(req.Groups) > MaxGroups {
		return nil, invalid("groups", fmt.Sprintf("at most %d groups", MaxGroups))
	}
	rec := &memberRecord{V: recordVersion, ID: id, FirstName: strings.TrimSpace(req.FirstName),
		LastName: strings.TrimSpace(req.LastName), Email: strings.TrimSpace(req.Email),
		Country: strings.TrimSpace(req.Country), Birthday: req.Birthday, Anniversary: req.Anniversary,
		Groups: append([]string{}, req.Groups...), Consents: make(map[string]bool), Cards: []cardRecord{}}
	for k, v := range req.Consents {
		rec.Consents[k] = v
	}
	if req.Card != nil {
		if r := checkCard(p, req.Card, "card."); r != nil {
			return nil, r
		}
		rec.Cards = append(rec.Cards, cardRecord{Number: req.Card.Number, Type: req.Card.Type, Status: cardActive})
	}
	return rec, nil
}

// validateChange checks profile fields.
func validateChange(s ProfileChange) *engine.Refusal {
	for _, f := range []struct {
		name string
		v    *string
	}{{"first_name", s.FirstName}, {"last_name", s.LastName}, {"email", s.Email}, {"country", s.Country}} {
		if f.v != nil && len(*f.v) > MaxFieldLen {
			return invalid(f.name, fmt.Sprintf("longer than %d bytes", MaxFieldLen))
		}
	}
	if s.Email != nil && strings.TrimSpace(*s.Email) != "" {
		e := strings.TrimSpace(*s.Email)
		if a, err := mail.ParseAddress(e); err != nil || a.Address != e {
			return invalid("email", "invalid e-mail address")
		}
	}
	if s.Birthday != nil && *s.Birthday != "" && !validMonthDay(*s.Birthday) {
		return invalid("birthday", "birthday must be MM-DD")
	}
	if s.Anniversary != nil && *s.Anniversary != "" && !validMonthDay(*s.Anniversary) {
		return invalid("anniversary", "anniversary must be MM-DD")
	}
	return nil
}

// validMonthDay reports whether s is a calendar "MM-DD" (02-29 allowed).
func validMonthDay(s string) bool {
	if len(s) != 5 || s[2] != '-' {
		return false
	}
	t, err := time.Parse("2006-01-02", "2024-"+s) // a leap year
	return err == nil && t.Format("01-02") == s
}

// checkConsents rejects consent ids the programme does not define.
func checkConsents(p *engine.Programme, set map[string]bool, field string) *engine.Refusal {
	for id := range set {
		known := false
		for _, c := range p.Consents {
			known = known || c.ID == id
		}
		if !known {
			return invalid(field, "unknown consent "+id)
		}
	}
	return nil
}

// checkCard validates a card to issue; prefix is prepended to field names.
func checkCard(p *engine.Programme, c *CardRequest, prefix string) *engine.Refusal {
	if c.Number == "" || len(c.Number) > MaxFieldLen {
		return invalid(prefix+"number", "card number required")
	}
	if len(p.Earn.CardTypes) > 0 {
		if _, ok := p.Earn.CardTypes[c.Type]; !ok {
			return invalid(prefix+"type", "unknown card type "+c.Type)
		}
	}
	return nil
}

// memberRef is a parsed identifier: exactly one field is set.
type memberRef struct {
	id, card, email string
}

// parseIdentifier checks an identifier and normalises its mobile number.
func parseIdentifier(p *engine.Programme, id *Identifier, field string) (memberRef, *engine.Refusal) {
	if id == nil {
		return memberRef{}, invalid(field, "identifier required")
	}
	set := 0
	for _, s := range []string{id.Mobile, id.Card, id.Email} {
		if s != "" {
			set++
		}
	}
	if set != 1 {
		return memberRef{}, invalid(field, "exactly one of mobile, card or email")
	}
	switch {
	case id.Mobile != "":
		m, err := engine.NormalizeMobile(id.Mobile, p.DefaultCountryCode)
		if err != nil {
			return memberRef{}, invalid(field+".mobile", "invalid mobile number")
		}
		return memberRef{id: m}, nil
	case id.Card != "":
		return memberRef{card: id.Card}, nil
	default:
		return memberRef{email: strings.ToLower(strings.TrimSpace(id.Email))}, nil
	}
}

// findMember resolves ref. presented is the card named by ref, if any.
func findMember(tx *bbolt.Tx, ref memberRef) (rec *memberRecord, presented *cardRecord, r *engine.Refusal, err error) {
	id := ref.id
	switch {
	case ref.card != "":
		id = string(tx.Bucket(bucketCards).Get([]byte(ref.card)))
	case ref.email != "":
		id = string(tx.Bucket(bucketEmails).Get([]byte(ref.email)))
	}
	if id == "" {
		return nil, nil, refuse(ReasonMemberNotFound, "no such member"), nil
	}
	rec = new(memberRecord)
	found, err := getJSON(tx.Bucket(bucketMembers), []byte(id), rec)
	if err != nil {
		return nil, nil, nil, err
	}
	if !found {
		return nil, nil, refuse(ReasonMemberNotFound, "no such member"), nil
	}
	if ref.card != "" {
		c, ok := rec.card(ref.card)
		if !ok {
			return nil, nil, nil, fmt.Errorf("node: card %q indexed to %s but not held: %w", ref.card, id, ErrCorrupt)
		}
		if c.Status == cardBlocked {
			return nil, nil, refuse(ReasonCardBlocked, "card is blocked", "block_reason", c.BlockReason), nil
		}
		presented = c
	}
	return rec, presented, nil, nil
}

// position is a member's points and spend as of a moment.
type position struct {
	balance engine.Points
	spend   engine.Money // paid within the tier window
	tier    string
	ok      bool // required consents given
}

// redeemable is what the member may spend now.
func (pos position) redeemable() engine.Points {
	if pos.ok && pos.balance > 0 {
		return pos.balance
	}
	return 0
}

// positionOf reads a member's balance, spend and tier at at.
func positionOf(tx *bbolt.Tx, p *engine.Programme, rec *memberRecord, at time.Time) (position, error) {
	bal, err := decodeBalance(tx.Bucket(bucketBalances).Get([]byte(rec.ID)))
	if err != nil {
		return position{}, err
	}
	spend, err := spendInWindow(tx, p, rec.ID, at)
	if err != nil {
		return position{}, err
	}
	return position{balance: bal.Balance, spend: spend, tier: p.TierFor(spend),
		ok: p.RequiredConsentsGiven(rec.Consents)}, nil
}

// facts is what the engine needs to know about the member.
func facts(rec *memberRecord, presented *cardRecord, pos position) *engine.MemberFacts {
	f := &engine.MemberFacts{ID: rec.ID, Tier: pos.tier, Groups: rec.Groups, SpendInWindow: pos.spend,
		Balance: pos.balance, Redeemable: pos.redeemable(), ConsentsOK: pos.ok}
	if presented != nil {
		f.CardType = presented.Type
	} else if c := rec.newestActiveCard(); c != nil {
		f.CardType = c.Type
	}
	return f
}

// view is the member as tills see it.
func (n *Node) view(tx *bbolt.Tx, p *engine.Programme, rec *memberRecord, at time.Time) (*Member, error) {
	pos, err := positionOf(tx, p, rec, at)
	if err != nil {
		return nil, err
	}
	offers, err := memberOffers(tx, p, rec.ID, at)
	if err != nil {
		return nil, err
	}
	m := &Member{MemberID: rec.ID, FirstName: rec.FirstName, LastName: rec.LastName, Email: rec.Email,
		Country: rec.Country, Birthday: rec.Birthday, Anniversary: rec.Anniversary, Tier: pos.tier,
		Groups: append([]string{}, rec.Groups...), Cards: make([]Card, 0, len(rec.Cards)),
		Points:   MemberPoints{Balance: pos.balance, Redeemable: pos.redeemable()},
		Consents: make(map[string]bool, len(rec.Consents)), Offers: offers, EnrolledAt: rec.EnrolledAt}
	for _, c := range rec.Cards {
		m.Cards = append(m.Cards, Card{Number: c.Number, Type: c.Type, Status: c.Status,
			BlockReason: c.BlockReason, IssuedAt: c.IssuedAt})
	}
	for k, v := range rec.Consents {
		m.Consents[k] = v
	}
	return m, nil
}

// dayOf is the civil day of at in the programme's zone, as days since
// 1970-01-01.
func dayOf(p *engine.Programme, at time.Time) int64 {
	loc := p.Location
	if loc == nil {
		loc = time.UTC
	}
	y, mo, d := at.In(loc).Date()
	return time.Date(y, mo, d, 0, 0, 0, 0, time.UTC).Unix() / 86400
}

// spendInWindow sums the money a member paid in the tier window ending on
// at's day (inclusive).
func spendInWindow(tx *bbolt.Tx, p *engine.Programme, member string, at time.Time) (engine.Money, error) {
	days := int64(p.TierWindowDays)
	if days <= 0 {
		days = DefaultTierWindowDays
	}
	today := dayOf(p, at)
	from, to := dayKey(member, today-days+1), dayKey(member, today)
	var sum engine.Money
	c := tx.Bucket(bucketSpend).Cursor()
	for k, v := c.Seek(from); k != nil && bytes.Compare(k, to) <= 0; k, v = c.Next() {
		x, err := decodeInt64(v)
		if err != nil {
			return 0, err
		}
		sum += engine.Money(x)
	}
	return sum, nil
}

// addSpend adds money to a member's spend on day.
func addSpend(tx *bbolt.Tx, member string, day int64, money engine.Money) error {
	if money == 0 {
		return nil
	}
	b := tx.Bucket(bucketSpend)
	k := dayKey(member, day)
	var cur int64
	if v := b.Get(k); v != nil {
		x, err := decodeInt64(v)
		if err != nil {
			return err
		}
		cur = x
	}
	if err := b.Put(k, int64Value(cur+int64(money))); err != nil {
		return fmt.Errorf("node: spend: %w", err)
	}
	return nil
}
