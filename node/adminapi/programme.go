package adminapi

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"slices"

	"github.com/patron/patron/engine"
)

// programmeAnswer is GET /api/v1/programme.
type programmeAnswer struct {
	Version  string          `json:"version"`
	Current  bool            `json:"current"`
	Document json.RawMessage `json:"document"`
}

// programme answers the current programme, or a stored one by version.
func (a *API) programme(w http.ResponseWriter, r *http.Request, _ principal) error {
	q, err := parseQuery(r, "version")
	if err != nil {
		return err
	}
	p := a.node.Programme()
	if v := q.get("version"); v != "" && (p == nil || v != p.Version) {
		if p, err = a.node.ProgrammeVersion(r.Context(), v); err != nil {
			return err
		}
	}
	if p == nil {
		return errorf(http.StatusNotFound, codeNoProgramme, "no programme loaded yet")
	}
	doc, err := json.Marshal(p)
	if err != nil {
		return fmt.Errorf("adminapi: encode programme %s: %w", p.Version, err)
	}
	cur := a.node.Programme()
	writeJSON(w, http.StatusOK, programmeAnswer{Version: p.Version, Current: cur != nil && cur.Version == p.Version, Document: doc})
	return nil
}

// loadedAnswer is POST /api/v1/programme's answer.
type loadedAnswer struct {
	Version string `json:"version"`
}

// loadProgramme loads a programme document (JSON or YAML) through the
// configured loader.
func (a *API) loadProgramme(w http.ResponseWriter, r *http.Request, _ principal) error {
	if _, err := parseQuery(r); err != nil {
		return err
	}
	limit := a.cfg.MaxProgrammeBytes
	doc, err := io.ReadAll(io.LimitReader(r.Body, limit+1))
	if err != nil {
		return badParam("body", "read: %v", err)
	}
	if int64(len(doc)) > limit {
		return errorf(http.StatusRequestEntityTooLarge, codeTooLarge,
			"programme document larger than %d bytes (%d KiB): its event must fit what store sync carries", limit, limit>>10)
	}
	if len(doc) == 0 {
		return badParam("body", "empty; want the programme document (JSON or YAML)")
	}
	version, err := a.cfg.Programmes.LoadProgramme(r.Context(), doc)
	if err != nil {
		if status, _ := a.classify(err); status == http.StatusInternalServerError {
			// The loader's own failure (HQ's Raft): retryable.
			err = errorf(http.StatusServiceUnavailable, codeUnavailable, "programme load: %v", err)
		}
		return err
	}
	a.log.Info("programme loaded through the admin API", "version", version)
	writeJSON(w, http.StatusOK, loadedAnswer{Version: version})
	return nil
}

// campaignAnswer is one campaign of GET /api/v1/campaigns.
type campaignAnswer struct {
	ID   string `json:"id"`
	Name string `json:"name"`
	// Kind is the reward: percent, amount_off, free_items, bonus_points,
	// points_multiplier_pct or cashback.
	Kind           string          `json:"kind"`
	Level          engine.Level    `json:"level"`
	Order          int             `json:"order"`
	Live           bool            `json:"live"`
	Valid          engine.Validity `json:"valid"`
	Stores         []string        `json:"stores"`
	MembersOnly    bool            `json:"members_only"`
	Tiers          []string        `json:"tiers"`
	Groups         []string        `json:"groups"`
	CouponRequired bool            `json:"coupon_required"`
	Programme      string          `json:"programme_version"`
}

// campaigns lists the current programme's campaigns, live or not at
// at= (default now) in the programme's zone. A store manager sees the
// campaigns that may apply at their store.
func (a *API) campaigns(w http.ResponseWriter, r *http.Request, p principal) error {
	q, err := parseQuery(r, "at")
	if err != nil {
		return err
	}
	pr, err := a.current()
	if err != nil {
		return err
	}
	at, err := q.instant("at", pr.Location, false)
	if err != nil {
		return err
	}
	if at.IsZero() {
		at = a.cfg.Now()
	}
	store, _ := confine(p, "")
	out := []campaignAnswer{}
	for i := range pr.Campaigns {
		c := &pr.Campaigns[i]
		if store != "" && len(c.Stores) > 0 && !slices.Contains(c.Stores, store) {
			continue
		}
		live, err := c.LiveAt(at, pr.Location)
		if err != nil {
			return fmt.Errorf("adminapi: campaign %s: %w", c.ID, err)
		}
		out = append(out, campaignAnswer{ID: c.ID, Name: c.Name, Kind: rewardKind(c.Reward), Level: c.Level, Order: c.Order,
			Live: live, Valid: c.Valid, Stores: nonNil(c.Stores), MembersOnly: c.MembersOnly, Tiers: nonNil(c.Tiers),
			Groups: nonNil(c.Groups), CouponRequired: c.CouponRequired, Programme: pr.Version})
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

// rewardKind names the one reward a campaign gives.
func rewardKind(rw engine.Reward) string {
	switch {
	case rw.Percent != nil:
		return "percent"
	case rw.AmountOff != nil:
		return "amount_off"
	case rw.FreeItems != nil:
		return "free_items"
	case rw.BonusPoints != nil:
		return "bonus_points"
	case rw.PointsMultiplierPct != nil:
		return "points_multiplier_pct"
	case rw.Cashback != nil:
		return "cashback"
	}
	return "unknown" // a reward kind this build does not know yet
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}
