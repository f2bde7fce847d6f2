package node

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"time"

	"github.com/patron/patron/engine"
)

// The stored records. Each JSON record carries "v" (recordVersion).

// memberRecord is a member as stored.
type memberRecord struct {
	V           int             `json:"v"`
	ID          string          `json:"id"`
	FirstName   string          `json:"first_name"`
	LastName    string          `json:"last_name"`
	Email       string          `json:"email"`
	Country     string          `json:"country"`
	Birthday    string          `json:"birthday"`
	Anniversary string          `json:"anniversary"`
	Groups      []string        `json:"groups"`
	Consents    map[string]bool `json:"consents"`
	EnrolledAt  time.Time       `json:"enrolled_at"`
	Cards       []cardRecord    `json:"cards"` // issue order: the last active one is the newest
}

func (r memberRecord) version() int { return r.V }

// cardRecord is one card of a member.
type cardRecord struct {
	Number      string    `json:"number"`
	Type        string    `json:"type"`
	Status      string    `json:"status"`
	BlockReason string    `json:"block_reason,omitempty"`
	IssuedAt    time.Time `json:"issued_at"`
	BlockedAt   time.Time `json:"blocked_at,omitzero"`
}

// Card statuses.
const (
	cardActive  = "active"
	cardBlocked = "blocked"
)

// card returns the member's card with number.
func (m *memberRecord) card(number string) (*cardRecord, bool) {
	for i := range m.Cards {
		if m.Cards[i].Number == number {
			return &m.Cards[i], true
		}
	}
	return nil, false
}

// newestActiveCard is the last active card issued, or nil.
func (m *memberRecord) newestActiveCard() *cardRecord {
	for i := len(m.Cards) - 1; i >= 0; i-- {
		if m.Cards[i].Status == cardActive {
			return &m.Cards[i]
		}
	}
	return nil
}

// cardLogRecord is one entry of the card maintenance log.
type cardLogRecord struct {
	V        int       `json:"v"`
	At       time.Time `json:"at"`
	Store    string    `json:"store"`
	Terminal string    `json:"terminal"`
	Member   string    `json:"member"`
	Card     string    `json:"card"`
	Action   string    `json:"action"` // "issue" or "block"
	Type     string    `json:"type,omitempty"`
	Reason   string    `json:"reason,omitempty"`
}

func (r cardLogRecord) version() int { return r.V }

// CardLogEntry is one entry of the card maintenance log (who, where,
// when, what, why).
type CardLogEntry struct {
	At       time.Time `json:"at"`
	Store    string    `json:"store"`
	Terminal string    `json:"terminal"`
	Member   string    `json:"member"`
	Card     string    `json:"card"`
	Action   string    `json:"action"`
	Type     string    `json:"type,omitempty"`
	Reason   string    `json:"reason,omitempty"`
}

// ledgerRecord wraps an engine.Entry.
type ledgerRecord struct {
	V     int          `json:"v"`
	Entry engine.Entry `json:"entry"`
}

func (r ledgerRecord) version() int { return r.V }

// balanceRecord is a member's balance and last ledger sequence, kept in
// the transaction that writes the entries.
type balanceRecord struct {
	Balance engine.Points
	LastSeq uint64
}

func (b balanceRecord) encode() []byte {
	v := []byte{binaryVersion}
	v = binary.BigEndian.AppendUint64(v, uint64(b.Balance))
	return binary.BigEndian.AppendUint64(v, b.LastSeq)
}

func decodeBalance(data []byte) (balanceRecord, error) {
	if data == nil {
		return balanceRecord{}, nil
	}
	if len(data) != 17 || data[0] != binaryVersion {
		return balanceRecord{}, fmt.Errorf("node: decode balance: %w", ErrCorrupt)
	}
	return balanceRecord{
		Balance: engine.Points(int64(binary.BigEndian.Uint64(data[1:9]))),
		LastSeq: binary.BigEndian.Uint64(data[9:]),
	}, nil
}

// receiptRecord is a completed sale.
type receiptRecord struct {
	V                int               `json:"v"`
	ReceiptID        string            `json:"receipt_id"`
	Terminal         string            `json:"terminal"`
	ReceiptNo        string            `json:"receipt_no"`
	Fingerprint      string            `json:"fingerprint"` // hex sha256 of the canonical params
	At               time.Time         `json:"at"`
	Day              int64             `json:"day"` // spend day, programme zone
	MemberID         string            `json:"member_id"`
	ProgrammeVersion string            `json:"programme_version"`
	Evaluation       engine.Evaluation `json:"evaluation"`
	Answer           json.RawMessage   `json:"answer"` // the Receipt as first sent
}

func (r receiptRecord) version() int { return r.V }

// returnRecord is a completed return.
type returnRecord struct {
	V           int                 `json:"v"`
	ReturnNo    string              `json:"return_no"`
	Fingerprint string              `json:"fingerprint"`
	At          time.Time           `json:"at"`
	Result      engine.ReturnResult `json:"result"`
	Answer      json.RawMessage     `json:"answer"`
}

func (r returnRecord) version() int { return r.V }

// couponRecord is a coupon code loaded from a programme.
type couponRecord struct {
	V           int    `json:"v"`
	Campaign    string `json:"campaign"`
	UsesPerCode int    `json:"uses_per_code"`
	ValidTo     string `json:"valid_to,omitempty"`
	Member      string `json:"member,omitempty"`
	Programme   string `json:"programme"` // version that loaded it
}

func (r couponRecord) version() int { return r.V }

// otpRecord is a member's current redemption OTP, stored hashed.
type otpRecord struct {
	V         int           `json:"v"`
	Salt      []byte        `json:"salt"`
	Hash      []byte        `json:"hash"` // sha256(salt ‖ code)
	Points    engine.Points `json:"points"`
	ExpiresAt time.Time     `json:"expires_at"`
	Tries     int           `json:"tries"`
	Sends     []time.Time   `json:"sends"` // send times within OTPSendWindow
}

func (r otpRecord) version() int { return r.V }
