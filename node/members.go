package node

import (
	"bytes"
	"context"
	"encoding/json"
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
// invalid_params, member_not_found, card_blocked. The answer is stale
// while the hold authority reports HQ unreachable.
func (n *Node) Identify(ctx context.Context, terminal string, req IdentifyRequest) (*Member, error) {
	p, err := n.enterWithProgramme(ctx)
	if err != nil {
		return nil, err
	}
	defer n.leave()
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

// Enroll registers a new member whose id is the normalised mobile number,
// as one member.enrolled event. Refusals: invalid_params (with the
// field), member_exists (with data.member_id) when the mobile, card or
// e-mail already belongs to a member here. A retry of the same enrolment
// by the same terminal (identical params, as after a dropped connection)
// gets the original answer instead: the protocol makes every mutating
// method idempotent under retry. The same mobile enrolled at two stores
// that could not see each other folds into one member.
func (n *Node) Enroll(ctx context.Context, terminal string, req EnrollRequest) (*Member, error) {
	p, err := n.enterWithProgramme(ctx)
	if err != nil {
		return nil, err
	}
	defer n.leave()
	id, en, r := newEnrolment(p, req)
	if r != nil {
		return nil, n.refused(r)
	}
	fp, err := fingerprint("member.enroll/v1", req)
	if err != nil {
		return nil, err
	}
	replayKey := key("e", terminal, fp)
	now := n.now()
	var m *Member
	var refusal *engine.Refusal
	err = n.update(func(tx *bbolt.Tx) error {
		m, refusal = nil, nil
		live := liveID(tx, id) // erasure.go: a mobile erased here enrols as a new member
		if owner := ownerOf(tx, live, en); owner != "" {
			// The same enrolment retried by the same till (its connection
			// dropped before the answer) gets the original answer; any
			// other enrolment of a taken identifier is member_exists.
			var ans answerRecord
			found, err := getJSON(tx.Bucket(bucketAnswers), replayKey, &ans)
			if err != nil {
				return err
			}
			if found && ans.Fingerprint == fp {
				m = new(Member)
				if err := json.Unmarshal(ans.Answer, m); err != nil {
					return fmt.Errorf("node: stored enrolment answer: %w: %w", ErrCorrupt, err)
				}
				return nil
			}
			refusal = refuse(ReasonMemberExists, "already a member", "member_id", owner)
			return nil
		}
		ev := engine.Event{Kind: engine.EventMemberEnrolled, Member: live, Terminal: terminal, At: now, Enrolment: en}
		if _, err := n.emit(tx, ev, nil, newEffects()); err != nil {
			return err
		}
		rec, _, err := loadMember(tx, live)
		if err != nil {
			return err
		}
		if m, err = n.view(tx, p, rec, now); err != nil {
			return err
		}
		answer, err := json.Marshal(m)
		if err != nil {
			return fmt.Errorf("node: encode enrolment answer: %w", err)
		}
		return putJSON(tx.Bucket(bucketAnswers), replayKey, answerRecord{V: recordVersion, Fingerprint: fp, Answer: answer})
	})
	if err != nil {
		return nil, err
	}
	if refusal != nil {
		return nil, n.refused(refusal)
	}
	return m, nil
}

// UpdateMember changes profile fields (one member.updated event).
// Refusals: member_not_found, invalid_params, member_exists (the new
// e-mail belongs to another member).
func (n *Node) UpdateMember(ctx context.Context, terminal string, req UpdateRequest) (*Member, error) {
	p, err := n.enterWithProgramme(ctx)
	if err != nil {
		return nil, err
	}
	defer n.leave()
	if r := validateChange(req.Set); r != nil {
		return nil, n.refused(r)
	}
	s := req.Set
	set := map[string]string{}
	for name, v := range map[string]*string{engine.FieldFirstName: s.FirstName, engine.FieldLastName: s.LastName,
		engine.FieldEmail: s.Email, engine.FieldCountry: s.Country, engine.FieldBirthday: s.Birthday,
		engine.FieldAnniversary: s.Anniversary, engine.FieldLanguage: s.Language} {
		if v != nil {
			set[name] = strings.TrimSpace(*v)
		}
	}
	if l, ok := set[engine.FieldLanguage]; ok {
		set[engine.FieldLanguage] = canonicalLanguage(l)
	}
	m, _, err := n.changeMember(p, terminal, req.MemberID, func(tx *bbolt.Tx, rec *memberRecord) (*engine.Event, *engine.Refusal) {
		if len(set) == 0 {
			return nil, nil
		}
		if e := set[engine.FieldEmail]; e != "" && !strings.EqualFold(e, rec.State.Field(engine.FieldEmail)) {
			if id := lookupIndex(tx.Bucket(bucketEmails), strings.ToLower(e)); id != "" && id != rec.State.ID {
				return nil, refuse(ReasonMemberExists, "e-mail belongs to another member", "member_id", id)
			}
		}
		return &engine.Event{Kind: engine.EventMemberUpdated, Profile: set}, nil
	})
	return m, err
}

// SetConsents gives or withdraws consents (one member.consents event).
// Unknown consent ids are invalid_params (field "set"). Withdrawing a
// required consent is allowed and suspends earning and redemption.
func (n *Node) SetConsents(ctx context.Context, terminal string, req ConsentsRequest) (*Member, error) {
	p, err := n.enterWithProgramme(ctx)
	if err != nil {
		return nil, err
	}
	defer n.leave()
	if r := checkConsents(p, req.Set, "set"); r != nil {
		return nil, n.refused(r)
	}
	set := make(map[string]bool, len(req.Set))
	for k, v := range req.Set {
		set[k] = v
	}
	m, changed, err := n.changeMember(p, terminal, req.MemberID, func(*bbolt.Tx, *memberRecord) (*engine.Event, *engine.Refusal) {
		if len(set) == 0 {
			return nil, nil
		}
		return &engine.Event{Kind: engine.EventMemberConsents, Consents: set}, nil
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
	p, err := n.enterWithProgramme(ctx)
	if err != nil {
		return nil, err
	}
	defer n.leave()
	if r := checkCard(p, &CardRequest{Number: req.Number, Type: req.Type}, ""); r != nil {
		return nil, n.refused(r)
	}
	m, changed, err := n.changeMember(p, terminal, req.MemberID, func(tx *bbolt.Tx, rec *memberRecord) (*engine.Event, *engine.Refusal) {
		if owner := lookupIndex(tx.Bucket(bucketCards), req.Number); owner != "" {
			if c, ok := rec.card(req.Number); ok && owner == rec.State.ID && c.Status == engine.CardActive && c.Type == req.Type {
				return nil, nil
			}
			return nil, refuse(ReasonMemberExists, "card already issued", "member_id", owner)
		}
		if len(rec.State.HeldCards()) >= MaxCardsPerMember {
			return nil, invalid("number", fmt.Sprintf("a member holds at most %d cards", MaxCardsPerMember))
		}
		return &engine.Event{Kind: engine.EventCardIssued, Card: &engine.CardChange{Number: req.Number, Type: req.Type}}, nil
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
	p, err := n.enterWithProgramme(ctx)
	if err != nil {
		return nil, err
	}
	defer n.leave()
	if req.Number == "" {
		return nil, n.refused(invalid("number", "card number required"))
	}
	if !blockReasons[req.Reason] {
		return nil, n.refused(invalid("reason", "reason must be lost, stolen, damaged, fraud or customer_request"))
	}
	var memberID string
	err = n.db.View(func(tx *bbolt.Tx) error {
		memberID = lookupIndex(tx.Bucket(bucketCards), req.Number)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("node: block card: %w", err)
	}
	if memberID == "" {
		return nil, n.refused(refuse(ReasonMemberNotFound, "unknown card"))
	}
	m, changed, err := n.changeMember(p, terminal, memberID, func(tx *bbolt.Tx, rec *memberRecord) (*engine.Event, *engine.Refusal) {
		c, ok := rec.card(req.Number)
		if !ok {
			return nil, refuse(ReasonMemberNotFound, "unknown card")
		}
		if c.Status == engine.CardBlocked {
			return nil, nil
		}
		return &engine.Event{Kind: engine.EventCardBlocked, Card: &engine.CardChange{Number: req.Number, Reason: req.Reason}}, nil
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

// changeMember loads an enrolled member and asks decide for the event
// that makes the change (nil: already in place, nothing written) or a
// refusal; it emits the event in one group-committed transaction and
// returns the member's view. changed is false when nothing was written.
func (n *Node) changeMember(p *engine.Programme, terminal, id string,
	decide func(*bbolt.Tx, *memberRecord) (*engine.Event, *engine.Refusal)) (m *Member, changed bool, err error) {
	if id == "" {
		return nil, false, n.refused(invalid("member_id", "member_id required"))
	}
	var refusal *engine.Refusal
	now := n.now()
	err = n.update(func(tx *bbolt.Tx) error {
		m, refusal, changed = nil, nil, false
		rec, found, err := loadMember(tx, id)
		if err != nil {
			return err
		}
		if !found || !rec.State.Enrolled {
			refusal = refuse(ReasonMemberNotFound, "no such member")
			return nil
		}
		ev, r := decide(tx, rec)
		if r != nil {
			refusal = r
			return nil
		}
		if ev != nil {
			ev.Member, ev.Terminal, ev.At = id, terminal, now
			if _, err := n.emit(tx, *ev, nil, newEffects()); err != nil {
				return err
			}
			if rec, _, err = loadMember(tx, id); err != nil {
				return err
			}
			changed = true
		}
		m, err = n.view(tx, p, rec, now)
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

// ownerOf returns the id of an enrolled member that already holds the
// mobile id, a card or the e-mail of an enrolment, or "".
func ownerOf(tx *bbolt.Tx, id string, en *engine.Enrolment) string {
	var rec memberRecord
	if found, err := getJSON(tx.Bucket(bucketMembers), []byte(id), &rec); err == nil && found && rec.State.Enrolled {
		return id
	}
	for _, c := range en.Cards {
		if owner := lookupIndex(tx.Bucket(bucketCards), c.Number); owner != "" {
			return owner
		}
	}
	if e := en.Profile[engine.FieldEmail]; e != "" {
		if owner := lookupIndex(tx.Bucket(bucketEmails), strings.ToLower(e)); owner != "" {
			return owner
		}
	}
	return ""
}

// newEnrolment validates an enrolment and returns the member id and the
// event payload.
func newEnrolment(p *engine.Programme, req EnrollRequest) (string, *engine.Enrolment, *engine.Refusal) {
	if strings.TrimSpace(req.Mobile) == "" {
		return "", nil, invalid("mobile", "mobile required")
	}
	id, err := engine.NormalizeMobile(req.Mobile, p.DefaultCountryCode)
	if err != nil {
		return "", nil, invalid("mobile", "invalid mobile number")
	}
	str := func(s string) *string { return &s }
	change := ProfileChange{FirstName: str(req.FirstName), LastName: str(req.LastName), Email: str(req.Email),
		Country: str(req.Country), Birthday: str(req.Birthday), Anniversary: str(req.Anniversary), Language: str(req.Language)}
	if r := validateChange(change); r != nil {
		return "", nil, r
	}
	if r := checkConsents(p, req.Consents, "consents"); r != nil {
		return "", nil, r
	}
	if len(req.Groups) > MaxGroups {
		return "", nil, invalid("groups", fmt.Sprintf("at most %d groups", MaxGroups))
	}
	for _, g := range req.Groups {
		if !validNo(g, MaxFieldLen) {
			return "", nil, invalid("groups", fmt.Sprintf("a group is 1 to %d printable characters", MaxFieldLen))
		}
	}
	en := &engine.Enrolment{Profile: map[string]string{}, Consents: map[string]bool{}, Cards: []engine.CardChange{},
		Groups: append([]string{}, req.Groups...)}
	for name, v := range map[string]string{engine.FieldFirstName: req.FirstName, engine.FieldLastName: req.LastName,
		engine.FieldEmail: req.Email, engine.FieldCountry: req.Country, engine.FieldBirthday: req.Birthday,
		engine.FieldAnniversary: req.Anniversary, engine.FieldLanguage: canonicalLanguage(req.Language)} {
		if v = strings.TrimSpace(v); v != "" {
			en.Profile[name] = v
		}
	}
	for k, v := range req.Consents {
		en.Consents[k] = v
	}
	if req.Card != nil {
		if r := checkCard(p, req.Card, "card."); r != nil {
			return "", nil, r
		}
		en.Cards = append(en.Cards, engine.CardChange{Number: req.Card.Number, Type: req.Card.Type})
	}
	return id, en, nil
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
	if r := checkLanguage(s.Language); r != nil { // language.go
		return r
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
func findMember(tx *bbolt.Tx, ref memberRef) (rec *memberRecord, presented *engine.CardState, r *engine.Refusal, err error) {
	id := ref.id
	if id != "" {
		id = liveID(tx, id) // erasure.go: an erased mobile is not found, or found as its new member
	}
	switch {
	case ref.card != "":
		id = lookupIndex(tx.Bucket(bucketCards), ref.card)
	case ref.email != "":
		id = lookupIndex(tx.Bucket(bucketEmails), ref.email)
	}
	if id == "" {
		return nil, nil, refuse(ReasonMemberNotFound, "no such member"), nil
	}
	rec, found, err := loadMember(tx, id)
	if err != nil {
		return nil, nil, nil, err
	}
	if !found || !rec.State.Enrolled {
		return nil, nil, refuse(ReasonMemberNotFound, "no such member"), nil
	}
	if ref.card != "" {
		c, ok := rec.card(ref.card)
		if !ok {
			return nil, nil, nil, fmt.Errorf("node: card %q indexed to %s but not held: %w", ref.card, id, ErrCorrupt)
		}
		if c.Status == engine.CardBlocked {
			return nil, nil, refuse(ReasonCardBlocked, "card is blocked", "block_reason", c.BlockReason), nil
		}
		presented = &c
	}
	return rec, presented, nil, nil
}

// position is a member's points and spend as of a moment.
type position struct {
	balance engine.Points
	spend   engine.Money // paid within the tier window
	tier    string
	ok      bool         // required consents given
	lots    lotsPosition // pending, expired and expiring points (lots.go)
}

// redeemable is what the member may spend now.
func (pos position) redeemable() engine.Points {
	if pos.ok && pos.balance > 0 {
		return pos.lots.limit(pos.balance)
	}
	return 0
}

// positionOf reads a member's balance, spend and tier at at.
func positionOf(tx *bbolt.Tx, p *engine.Programme, rec *memberRecord, at time.Time) (position, error) {
	bal, err := decodeBalance(tx.Bucket(bucketBalances).Get([]byte(rec.State.ID)))
	if err != nil {
		return position{}, err
	}
	spend, err := spendInWindow(tx, p, rec.State.ID, at)
	if err != nil {
		return position{}, err
	}
	lots, err := lotsPositionOf(tx, p, rec, at)
	if err != nil {
		return position{}, err
	}
	return position{balance: bal.Balance, spend: spend, tier: p.TierFor(spend),
		ok: p.RequiredConsentsGiven(rec.State.ConsentValues()), lots: lots}, nil
}

// facts is what the engine needs to know about the member.
func facts(rec *memberRecord, presented *engine.CardState, pos position) *engine.MemberFacts {
	f := &engine.MemberFacts{ID: rec.State.ID, Tier: pos.tier, Groups: rec.State.Groups, SpendInWindow: pos.spend,
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
	st := &rec.State
	offers, err := memberOffers(tx, p, st.ID, at)
	if err != nil {
		return nil, err
	}
	m := &Member{MemberID: st.ID, FirstName: st.Field(engine.FieldFirstName), LastName: st.Field(engine.FieldLastName),
		Email: st.Field(engine.FieldEmail), Country: st.Field(engine.FieldCountry), Birthday: st.Field(engine.FieldBirthday),
		Anniversary: st.Field(engine.FieldAnniversary), Language: st.Field(engine.FieldLanguage), Tier: pos.tier, Groups: append([]string{}, st.Groups...),
		Cards: []Card{}, Points: MemberPoints{Balance: pos.balance, Redeemable: pos.redeemable(),
			Pending: pos.lots.pending, Expiring: pos.lots.expiring},
		Consents: st.ConsentValues(), Stale: n.stale(), Offers: offers, EnrolledAt: st.EnrolledAt}
	for _, c := range st.HeldCards() {
		m.Cards = append(m.Cards, Card{Number: c.Number, Type: c.Type, Status: c.Status,
			BlockReason: c.BlockReason, IssuedAt: c.IssuedAt})
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
