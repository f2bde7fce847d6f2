package node

import (
	"context"
	"encoding/json"
	"fmt"

	"go.etcd.io/bbolt"
)

// Receipt returns a recorded sale's receipt exactly as CompleteSale first
// answered it (a sale made at another store, known from its event, is
// rebuilt from the event with the current balance), so a bridge that knows only the receipt id (a file till's
// return names its original sale) can find the lines to return. Any
// terminal may read any receipt of the store, as a return may be made at
// any till. An unknown id is a not_found refusal.
func (n *Node) Receipt(ctx context.Context, terminal, receiptID string) (*Receipt, error) {
	if err := n.enter(ctx); err != nil {
		return nil, err
	}
	defer n.leave()
	if !validNo(receiptID, MaxStoreIDLen+MaxTerminalIDLen+MaxReceiptNoLen+2) {
		return nil, n.refused(invalid("receipt_id", "receipt_id required"))
	}
	var (
		rc    *Receipt
		found bool
	)
	err := n.db.View(func(tx *bbolt.Tx) error {
		var ans answerRecord
		var err error
		if found, err = getJSON(tx.Bucket(bucketAnswers), key("s", receiptID), &ans); err != nil {
			return err
		}
		if found {
			rc = new(Receipt)
			if err := json.Unmarshal(ans.Answer, rc); err != nil {
				return fmt.Errorf("node: stored receipt %s: %w: %w", receiptID, ErrCorrupt, err)
			}
			return nil
		}
		var rec receiptRecord
		if found, err = getJSON(tx.Bucket(bucketReceipts), []byte(receiptID), &rec); err != nil || !found {
			return err
		}
		rc, err = receiptFromRecord(tx, &rec)
		return err
	})
	if err != nil {
		return nil, err
	}
	if !found {
		return nil, n.refused(refuse(ReasonNotFound, "no such receipt", "receipt_id", receiptID))
	}
	return rc, nil
}
