package adminapi

import (
	"net/http"

	"github.com/patron/patron/node"
)

// Back-office sales and returns: a system that sells without a till (a
// web shop, an ERP posting a B2B invoice) posts the params of the till's
// sale.complete or sale.return, plus the name it posts under. The node
// treats it as a terminal "BO.<name>": receipt ids are
// <store>-BO.<name>-<receipt_no>, a retry with the same params gets the
// stored answer, different params under a used receipt_no are 409
// receipt_conflict, exactly as for a till.

// TerminalHeader names the back-office system when the body does not.
const TerminalHeader = "X-Patron-Terminal"

// backOfficePrefix marks back-office terminals, so that no back-office
// name can collide with a till's id.
const backOfficePrefix = "BO."

// maxBackOfficeName keeps "BO."+name within node.MaxTerminalIDLen.
const maxBackOfficeName = node.MaxTerminalIDLen - len(backOfficePrefix)

// saleBody is POST /api/v1/sales's body: sale.complete's params and the
// back-office system's name.
type saleBody struct {
	Terminal string `json:"terminal"`
	node.SaleRequest
}

// returnBody is POST /api/v1/returns's body: sale.return's params and the
// back-office system's name.
type returnBody struct {
	Terminal string `json:"terminal"`
	node.ReturnRequest
}

func (a *API) sale(w http.ResponseWriter, r *http.Request, p principal) error {
	if err := a.mayPost(r, p); err != nil {
		return err
	}
	var b saleBody
	if err := decodeJSON(w, r, MaxBodyBytes, &b); err != nil {
		return err
	}
	terminal, err := backOfficeTerminal(r, b.Terminal)
	if err != nil {
		return err
	}
	rc, err := a.node.CompleteSale(r.Context(), terminal, b.SaleRequest)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, rc)
	return nil
}

func (a *API) saleReturn(w http.ResponseWriter, r *http.Request, p principal) error {
	if err := a.mayPost(r, p); err != nil {
		return err
	}
	var b returnBody
	if err := decodeJSON(w, r, MaxBodyBytes, &b); err != nil {
		return err
	}
	terminal, err := backOfficeTerminal(r, b.Terminal)
	if err != nil {
		return err
	}
	rr, err := a.node.Return(r.Context(), terminal, b.ReturnRequest)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, rr)
	return nil
}

// mayPost: sales are taken on store nodes only, and a store manager
// posts on their own store's node only.
func (a *API) mayPost(r *http.Request, p principal) error {
	if _, err := parseQuery(r); err != nil {
		return err
	}
	if a.cfg.HQ {
		return errorf(http.StatusNotImplemented, codeNotSupported,
			"an HQ node takes no sales or returns: post them to the admin API of the store's node")
	}
	if p.Role == RoleStoreManager && p.Store != a.store {
		return forbidden("a store manager of %s may not post sales at store %s", p.Store, a.store)
	}
	return nil
}

// backOfficeTerminal is the terminal id a back-office request posts
// under: "BO." and the name from the body's terminal field or the
// X-Patron-Terminal header (they must agree when both are given).
func backOfficeTerminal(r *http.Request, inBody string) (string, error) {
	name := inBody
	if h := r.Header.Get(TerminalHeader); h != "" {
		if name != "" && name != h {
			return "", badParam("terminal", "the body says %q and %s %q", truncate(name, 40), TerminalHeader, truncate(h, 40))
		}
		name = h
	}
	if name == "" {
		return "", badParam("terminal", "required: the name the back-office system posts under (the body's terminal or the %s header), so its retries are recognised", TerminalHeader)
	}
	if len(name) > maxBackOfficeName || !validStoreID(name) {
		return "", badParam("terminal", "%q: want 1 to %d letters, digits, '_' or '.'", truncate(name, 40), maxBackOfficeName)
	}
	return backOfficePrefix + name, nil
}
