package filedrop

import (
	"bytes"
	"encoding/json"
	"encoding/xml"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/patron/patron/engine"
	"github.com/patron/patron/node"
	"github.com/patron/patron/posbridge/poslog"
)

// OfferFileVersion is the version of the offer file format
// (docs/offer-file.md).
const OfferFileVersion = "1"

// OfferFile is what the node writes back for a bill with a member. Its
// XML and JSON forms are documented in docs/offer-file.md. Everything in
// it comes from the stored receipt, the till's file and the programme
// version that priced the sale, so a re-delivered bill rewrites the same
// bytes.
type OfferFile struct {
	XMLName  xml.Name      `xml:"OfferFile" json:"-"`
	Version  string        `xml:"version,attr" json:"version"`
	Receipt  OfferReceipt  `xml:"Receipt" json:"receipt"`
	Customer OfferCustomer `xml:"Customer" json:"customer"`
	Points   OfferPoints   `xml:"Points" json:"points"`
	Offers   []OfferItem   `xml:"Offers>Offer" json:"offers"`
}

// OfferReceipt names the bill.
type OfferReceipt struct {
	ID          string `xml:"id,attr" json:"id"`
	Transaction string `xml:"transaction,attr" json:"transaction"` // the till's identity
	At          string `xml:"at,attr" json:"at"`                   // RFC 3339, UTC, when the node recorded it
	Currency    string `xml:"currency,attr" json:"currency"`
	Gross       string `xml:"gross,attr" json:"gross"`
	Discount    string `xml:"discount,attr" json:"discount"` // money the node's campaigns took off
	Net         string `xml:"net,attr" json:"net"`
}

// OfferCustomer is the member: the node's member id and the numbers the
// till sent.
type OfferCustomer struct {
	MemberID   string `xml:"memberId,attr" json:"member_id"`
	CustomerID string `xml:"customerId,attr,omitempty" json:"customer_id,omitempty"`
	Card       string `xml:"card,attr,omitempty" json:"card,omitempty"`
	Mobile     string `xml:"mobile,attr,omitempty" json:"mobile,omitempty"`
	Email      string `xml:"email,attr,omitempty" json:"email,omitempty"`
}

// OfferPoints is the bill's points and the member's new balance.
type OfferPoints struct {
	Earned   engine.Points `xml:"earned,attr" json:"earned"`
	Redeemed engine.Points `xml:"redeemed,attr" json:"redeemed"`
	Balance  engine.Points `xml:"balance,attr" json:"balance"`
}

// OfferItem is one of the member's usable personal offers. AmountOff or
// PercentOff is the discount it gives, when the coupon's campaign is in
// the programme version that priced the sale and gives one.
type OfferItem struct {
	Code        string `xml:"code,attr" json:"code"`
	Description string `xml:"description,attr" json:"description"`
	ValidTo     string `xml:"validTo,attr,omitempty" json:"valid_to,omitempty"`
	AmountOff   string `xml:"amountOff,attr,omitempty" json:"amount_off,omitempty"`
	PercentOff  string `xml:"percentOff,attr,omitempty" json:"percent_off,omitempty"`
}

// buildOffer assembles the offer file of a member's sale. p is the
// programme version that priced it (nil if unknown: no discount values).
func buildOffer(tx poslog.Transaction, rc *node.Receipt, p *engine.Programme, currency string, digits int) OfferFile {
	f := OfferFile{
		Version: OfferFileVersion,
		Receipt: OfferReceipt{ID: rc.ReceiptID, Transaction: tx.ID.String(), At: rc.At.UTC().Format(time.RFC3339Nano),
			Currency: currency, Gross: formatMoney(rc.Totals.Gross, digits),
			Discount: formatMoney(rc.Totals.Discount, digits), Net: formatMoney(rc.Totals.Net, digits)},
		Customer: OfferCustomer{MemberID: rc.MemberID},
		Points:   OfferPoints{Earned: rc.Points.Earned, Redeemed: rc.Points.Redeemed, Balance: rc.Points.Balance},
		Offers:   []OfferItem{},
	}
	if m := tx.Member; m != nil {
		f.Customer.CustomerID, f.Customer.Card, f.Customer.Mobile, f.Customer.Email = m.CustomerID, m.Card, m.Mobile, m.Email
	}
	camps := couponCampaigns(p)
	for _, o := range rc.Offers {
		it := OfferItem{Code: o.Code, Description: o.Description, ValidTo: o.ValidTo}
		if c := camps[o.Code]; c != nil {
			if a := c.Reward.AmountOff; a != nil {
				it.AmountOff = formatMoney(*a, digits)
			}
			if pc := c.Reward.Percent; pc != nil {
				it.PercentOff = pc.String()
			}
		}
		f.Offers = append(f.Offers, it)
	}
	return f
}

// couponCampaigns maps the programme's listed coupon codes to their
// campaigns. Generated codes are not listed: they carry no value here.
func couponCampaigns(p *engine.Programme) map[string]*engine.Campaign {
	out := map[string]*engine.Campaign{}
	if p == nil {
		return out
	}
	byID := map[string]*engine.Campaign{}
	for i := range p.Campaigns {
		byID[p.Campaigns[i].ID] = &p.Campaigns[i]
	}
	for _, b := range p.Coupons {
		for _, code := range b.Codes {
			if c := byID[b.Campaign]; c != nil {
				out[code] = c
			}
		}
	}
	return out
}

// encodeOffer renders f in format (OfferXML or OfferJSON).
func encodeOffer(f OfferFile, format string) ([]byte, error) {
	var buf bytes.Buffer
	if format == OfferJSON {
		enc := json.NewEncoder(&buf)
		enc.SetIndent("", "  ")
		if err := enc.Encode(f); err != nil {
			return nil, fmt.Errorf("filedrop: encode offer file: %w", err)
		}
		return buf.Bytes(), nil
	}
	buf.WriteString(xml.Header)
	enc := xml.NewEncoder(&buf)
	enc.Indent("", "  ")
	if err := enc.Encode(f); err != nil {
		return nil, fmt.Errorf("filedrop: encode offer file: %w", err)
	}
	buf.WriteByte('\n')
	return buf.Bytes(), nil
}

// offerName is the offer file's name: the receipt id, which names one
// bill of this node, so a re-delivered bill rewrites the same file.
func offerName(receiptID, format string) string {
	return receiptID + "." + format
}

// writeAtomic writes data to dir/name so that a reader sees the old file
// or the whole new one, never part of it, and the new one survives a
// crash: a temporary file in dir, fsync, rename, fsync of dir.
func writeAtomic(dir, name string, data []byte) error {
	tmp, err := os.CreateTemp(dir, "."+name+".*.tmp")
	if err != nil {
		return fmt.Errorf("filedrop: write %s: %w", name, err)
	}
	defer os.Remove(tmp.Name()) // after the rename: a no-op
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return fmt.Errorf("filedrop: write %s: %w", name, err)
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return fmt.Errorf("filedrop: sync %s: %w", name, err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("filedrop: write %s: %w", name, err)
	}
	if err := os.Rename(tmp.Name(), filepath.Join(dir, name)); err != nil {
		return fmt.Errorf("filedrop: rename %s: %w", name, err)
	}
	return syncDir(dir)
}

// syncDir makes a rename in dir durable. Systems that cannot fsync a
// directory (Windows) report an error that is ignored: there the rename is
// as durable as the file system makes it.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("filedrop: open %s: %w", dir, err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil && !isUnsupported(err) {
		return fmt.Errorf("filedrop: sync %s: %w", dir, err)
	}
	return nil
}

// formatMoney writes minor units as a decimal with digits fraction digits:
// 1234 → "12.34", -5 → "-0.05".
func formatMoney(m engine.Money, digits int) string {
	sign := ""
	v := int64(m)
	if v < 0 {
		sign, v = "-", -v
	}
	if digits == 0 {
		return fmt.Sprintf("%s%d", sign, v)
	}
	pow := int64(1)
	for i := 0; i < digits; i++ {
		pow *= 10
	}
	return fmt.Sprintf("%s%d.%0*d", sign, v/pow, digits, v%pow)
}
