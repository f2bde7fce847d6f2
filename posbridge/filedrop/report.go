package filedrop

import (
	"github.com/patron/patron/engine"
)

// Report says what became of one file and each of its transactions. Its
// JSON form is what patron bridge replay prints.
type Report struct {
	File   string `json:"file"`
	Format string `json:"format,omitempty"` // "poslog" or "bill"; "" if unreadable
	// Outcome is OutcomeProcessed or OutcomeFailed.
	Outcome string `json:"outcome"`
	// Error says what is wrong and where, for a failed file.
	Error string `json:"error,omitempty"`
	// MovedTo is where ProcessFile moved the file ("" for Apply).
	MovedTo      string     `json:"moved_to,omitempty"`
	Transactions []TxReport `json:"transactions"`
	// Sales, Returns and Skipped count the transactions by outcome.
	Sales   int `json:"sales"`
	Returns int `json:"returns"`
	Skipped int `json:"skipped"`
}

// File outcomes.
const (
	OutcomeProcessed = "processed"
	OutcomeFailed    = "failed"
)

// Transaction outcomes (TxReport.Outcome).
const (
	TxSale       = "sale"        // recorded (or replayed) through node CompleteSale
	TxReturn     = "return"      // recorded (or replayed) through node Return
	TxSkipped    = "skipped"     // training, cancelled, control, ...: Reason says which
	TxFailed     = "failed"      // refused: Reason and Message say why
	TxNotReached = "not_reached" // after a failure; left for the next attempt
)

// TxReport is one transaction's outcome.
type TxReport struct {
	// ID is the till's identity of the transaction (poslog
	// TransactionID.String()): store/workstation/day/sequence#id.
	ID      string `json:"id"`
	Kind    string `json:"kind"`
	Outcome string `json:"outcome"`
	// Reason is a stable code: the skip reason, or why it failed (a node
	// refusal reason such as member_not_found, or one of the Reason
	// constants of this package).
	Reason  string `json:"reason,omitempty"`
	Message string `json:"message,omitempty"`

	Terminal  string `json:"terminal,omitempty"`
	ReceiptNo string `json:"receipt_no,omitempty"`
	// ReceiptID is the node's receipt (a sale's own, a return's original).
	ReceiptID string `json:"receipt_id,omitempty"`
	ReturnID  string `json:"return_id,omitempty"`
	MemberID  string `json:"member_id,omitempty"`

	// TillTotal is the till's grand total and Tax its tax, as written;
	// Net is what the node recorded (a sale's net, a return's money).
	TillTotal engine.Money `json:"till_total"`
	Tax       engine.Money `json:"tax"`
	Net       engine.Money `json:"net"`

	Earned     engine.Points `json:"earned,omitempty"`
	Redeemed   engine.Points `json:"redeemed,omitempty"`
	ClawedBack engine.Points `json:"clawed_back,omitempty"`
	Refunded   engine.Points `json:"refunded,omitempty"`
	Balance    engine.Points `json:"balance,omitempty"`
	// OfferFile is the offer file written for the sale, if any.
	OfferFile string `json:"offer_file,omitempty"`
}
