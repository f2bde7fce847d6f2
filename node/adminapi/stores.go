package adminapi

import (
	"context"
	"net/http"
	"slices"
	"strings"
)

// stores lists replication status: on HQ every store, on a store node
// itself and its HQ link. A store manager sees their store (and, on
// their own node, its HQ link).
func (a *API) stores(w http.ResponseWriter, r *http.Request, p principal) error {
	if _, err := parseQuery(r); err != nil {
		return err
	}
	all := a.storeStates(r.Context())
	out := make([]StoreState, 0, len(all))
	for _, s := range all {
		if p.Role == RoleStoreManager && s.Store != p.Store && (s.Kind != "hq" || a.store != p.Store) {
			continue
		}
		out = append(out, s)
	}
	slices.SortStableFunc(out, func(x, y StoreState) int {
		if c := strings.Compare(x.Kind, y.Kind); c != 0 {
			return -c // "store" before "hq"
		}
		return strings.Compare(x.Store, y.Store)
	})
	writeJSON(w, http.StatusOK, out)
	return nil
}

func (a *API) storeStates(ctx context.Context) []StoreState {
	if a.cfg.Stores != nil {
		return a.cfg.Stores.Stores(ctx)
	}
	return []StoreState{{Store: a.store, Kind: "store", Online: true, LastSeen: a.cfg.Now().UTC()}}
}
