package node

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"time"

	"github.com/patron/patron/engine"
)

// The stored records. Each JSON record carries "v" (recordVersion).

// memberRecord is a member's folded registers (engine.MemberState).
type memberRecord struct {
	V     int                `json:"v"`
	State engine.MemberState `json:"state"`
}

func (r memberRecord) version() int { return r.V }

// card returns the member's held card with number.
func (r *memberRecord) card(number string) (engine.CardState, bool) {
	c, ok := r.State.Cards[number]
	return c, ok && c.Held()
}

// newestActiveCard is the last active card issued, or nil.
func (r *memberRecord) newestActiveCard() *engine.CardState {
	cards := r.State.HeldCards()
	for i := len(cards) - 1; i >= 0; i-- {
		if cards[i].Status == engine.CardActive {
			return &cards[i]
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
	Action   string    `json:"action"` // "issue", "block" or "unblock"
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

// balanceRecord is a member's balance, kept in the transaction that
// writes the entries.
type balanceRecord struct {
	Balance engine.Points
}

func (b balanceRecord) encode() []byte { return int64Value(int64(b.Balance)) }

func decodeBalance(data []byte) (balanceRecord, error) {
	if data == nil {
		return balanceRecord{}, nil
	}
	v, err := decodeInt64(data)
	if err != nil {
		return balanceRecord{}, fmt.Errorf("node: decode balance: %w", err)
	}
	return balanceRecord{Balance: engine.Points(v)}, nil
}

// receiptRecord is a completed sale, as its event recorded it.
type receiptRecord struct {
	V      int                  `json:"v"`
	Member string               `json:"member"`
	Store  string               `json:"store"`
	At     time.Time            `json:"at"`
	Sale   engine.SaleCompleted `json:"sale"`
}

func (r receiptRecord) version() int { return r.V }

// returnRecord is a completed return, as its event recorded it.
type returnRecord struct {
	V      int                 `json:"v"`
	Member string              `json:"member"`
	Origin string              `json:"origin"`
	At     time.Time           `json:"at"`
	Return engine.SaleReturned `json:"return"`
}

func (r returnRecord) version() int { return r.V }

// answerRecord is the answer this node gave a till, kept for replays.
type answerRecord struct {
	V           int             `json:"v"`
	Fingerprint string          `json:"fingerprint"`
	Answer      json.RawMessage `json:"answer"`
}

func (r answerRecord) version() int { return r.V }

// couponRecord is a coupon code loaded from a programme. Stamp is the
// programme event's: of two programmes listing one code, the later one's
// record stands, whatever order they arrive in.
type couponRecord struct {
	V           int          `json:"v"`
	Campaign    string       `json:"campaign"`
	UsesPerCode int          `json:"uses_per_code"`
	ValidTo     string       `json:"valid_to,omitempty"`
	Member      string       `json:"member,omitempty"`
	Programme   string       `json:"programme"` // version that loaded it
	Stamp       engine.Stamp `json:"stamp"`
}

func (r couponRecord) version() int { return r.V }

// Coupon use values: a release dominates a use, so a return's release
// arriving before its sale still leaves the use released.
const (
	useUsed     byte = 1
	useReleased byte = 2
)

// programmeRecord is a stored programme document with the stamp of the
// event that first loaded it.
type programmeRecord struct {
	V        int          `json:"v"`
	Stamp    engine.Stamp `json:"stamp"`
	Document []byte       `json:"document"`
}

func (r programmeRecord) version() int { return r.V }

// otpRecord is a member's current redemption OTP, stored hashed.
type otpRecord struct {
	V         int           `json:"v"`
	Salt      []byte        `json:"salt"`
	Hash      []byte        `json:"hash"` // sha256(salt ‖ code)
	Points    engine.Points `json:"points"`
	ExpiresAt time.Time     `json:"expires_at"`
	Tries     int           `json:"tries"`
	Sends     []time.Time   `json:"sends"` // send times within OTPSendWindow
	// IssuedAt (with Salt and the node's OTP key) derives the code again
	// for a re-send; Resends counts them (otp.go).
	IssuedAt time.Time `json:"issued_at,omitzero"`
	Resends  int       `json:"resends,omitempty"`
	// Auth is this node's authenticator state of the member (authenticator.go).
	Auth *authLocal `json:"auth,omitempty"`
}

func (r otpRecord) version() int { return r.V }

// holdRecord is a hold HQ decided, with its current status in Decision.
type holdRecord struct {
	V        int                 `json:"v"`
	Hold     engine.Hold         `json:"hold"`
	Decision engine.HoldDecision `json:"decision"`
}

func (r holdRecord) version() int { return r.V }

// overdraftRecord is an overdraft found when events were applied.
type overdraftRecord struct {
	V         int       `json:"v"`
	Overdraft Overdraft `json:"overdraft"`
}

func (r overdraftRecord) version() int { return r.V }

// pendingValue is a pending hold's points and placing time:
// 0x01 + points (int64) + unix nanoseconds (int64).
func pendingValue(points engine.Points, at time.Time) []byte {
	v := []byte{binaryVersion}
	v = binary.BigEndian.AppendUint64(v, uint64(points))
	return binary.BigEndian.AppendUint64(v, uint64(at.UnixNano()))
}

func decodePending(data []byte) (engine.Points, time.Time, error) {
	if len(data) != 17 || data[0] != binaryVersion {
		return 0, time.Time{}, fmt.Errorf("node: decode pending hold: %w", ErrCorrupt)
	}
	return engine.Points(int64(binary.BigEndian.Uint64(data[1:9]))),
		time.Unix(0, int64(binary.BigEndian.Uint64(data[9:]))).UTC(), nil
}

// encodeHLC and decodeHLC store the node's last HLC.
func encodeHLC(h engine.HLC) []byte {
	v := binary.BigEndian.AppendUint64([]byte{binaryVersion}, uint64(h.Wall))
	return binary.BigEndian.AppendUint32(v, h.Logical)
}

func decodeHLC(data []byte) (engine.HLC, error) {
	if data == nil {
		return engine.HLC{}, nil
	}
	if len(data) != 13 || data[0] != binaryVersion {
		return engine.HLC{}, fmt.Errorf("node: decode hlc: %w", ErrCorrupt)
	}
	return engine.HLC{Wall: int64(binary.BigEndian.Uint64(data[1:9])), Logical: binary.BigEndian.Uint32(data[9:])}, nil
}
