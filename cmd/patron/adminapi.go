package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"github.com/patron/patron/node"
	"github.com/patron/patron/node/adminapi"
	"github.com/patron/patron/replication/hq"
)

// The admin API (node/adminapi, docs/admin-api.md) on every node's admin
// listener under /api/v1/: its tokens from --admin-token (hq-admin on HQ
// and dev, store-manager of the node's store on patron store) and
// --admin-tokens-file, and HQ's abilities it reaches through interfaces.

// adminAPIPrefix is where the API is mounted on the admin mux.
const adminAPIPrefix = "/api/v1/"

// readAdminTokens reads --admin-tokens-file ("" reads nothing).
func readAdminTokens(path string) ([]adminapi.Token, error) {
	if path == "" {
		return nil, nil
	}
	data, err := readLimited(path, maxSecretFileBytes)
	if err != nil {
		return nil, fmt.Errorf("--admin-tokens-file: %w", err)
	}
	tokens, err := adminapi.ParseTokens(data)
	if err != nil {
		return nil, fmt.Errorf("--admin-tokens-file %s: %w", path, err)
	}
	return tokens, nil
}

// adminTokens are the API's tokens: --admin-token's with the role the
// process gives it, then the file's. The token must not also be in the
// file (its role would be ambiguous).
func adminTokens(legacy string, role adminapi.Role, store string, file []adminapi.Token) ([]adminapi.Token, error) {
	out := make([]adminapi.Token, 0, len(file)+1)
	if legacy != "" {
		t := adminapi.Token{Role: role, Secret: legacy}
		if role == adminapi.RoleStoreManager {
			t.Store = store
		}
		out = append(out, t)
	}
	for _, t := range file {
		if legacy != "" && t.Secret == legacy {
			return nil, errors.New("--admin-tokens-file holds the --admin-token too: give it one role, in one place")
		}
		out = append(out, t)
	}
	return out, nil
}

// Stores is the store node's replication status for the admin API: the
// store itself, and its link to HQ.
func (a *storeAdmin) Stores(context.Context) []adminapi.StoreState {
	st := a.link.State()
	now := time.Now()
	hqID := st.HQ.PeerOrigin
	if hqID == "" {
		hqID = "HQ"
	}
	return []adminapi.StoreState{
		{Store: a.store, Kind: "store", Online: true, LagEvents: st.HQ.Lag, LastSeen: now.UTC()},
		{Store: hqID, Kind: "hq", Online: st.HQ.Connected, LagEvents: st.HQ.Behind, LastSeen: linkLastSeen(st.HQ, now).UTC()},
	}
}

// hqStores is HQ's store sessions for the admin API (as /status lists
// them: only the Raft leader holds sessions).
type hqStores struct{ a *hqAdmin }

func (s hqStores) Stores(ctx context.Context) []adminapi.StoreState {
	vv, err := s.a.node.VersionVector(ctx)
	if err != nil {
		s.a.log.Warn("admin API stores: version vector", "err", err)
	}
	s.a.book.observe(s.a.hq.Sessions())
	var out []adminapi.StoreState
	for _, st := range s.a.book.stores(s.a.stores(), vv) {
		out = append(out, adminapi.StoreState{Store: st.Store, Kind: "store", Online: st.Online, LagEvents: st.Lag,
			LastSeen: st.LastSeen.UTC()})
	}
	return out
}

// hqProgrammes loads programmes through Raft, as POST /programme does,
// translating HQ's errors into the API's.
type hqProgrammes struct{ a *hqAdmin }

func (l hqProgrammes) LoadProgramme(ctx context.Context, doc []byte) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, adminRequestTimeout)
	defer cancel()
	res, err := l.a.loadProgramme(ctx, doc)
	var nl *hq.NotLeaderError
	switch {
	case err == nil:
		l.a.log.Info("programme loaded at HQ", "version", res.Version, "event", res.Event)
		return res.Version, nil
	case errors.As(err, &nl) && nl.LeaderID != "":
		return "", fmt.Errorf("%w: this HQ node is not the Raft leader; the leader is %s: send it there", adminapi.ErrConflict, nl.LeaderID)
	case errors.As(err, &nl):
		return "", fmt.Errorf("%w: this HQ node is not the Raft leader and no leader is known; retry shortly", adminapi.ErrConflict)
	case errors.Is(err, errProgrammeTooLarge):
		return "", fmt.Errorf("%w: %w", adminapi.ErrTooLarge, err)
	case errors.Is(err, hq.ErrInvalid):
		return "", fmt.Errorf("%w: %w", adminapi.ErrBadRequest, err)
	}
	return "", err // a ValidationError or ErrProgrammeConflict keeps its meaning
}

// mountAdminAPI builds the API, mounts it on mux and returns it; the
// caller closes it once the admin listener has stopped.
func mountAdminAPI(mux *http.ServeMux, cfg adminapi.Config, logger *slog.Logger) *adminapi.API {
	cfg.Logger = logger
	api := adminapi.New(cfg)
	mux.Handle(adminAPIPrefix, api.Handler())
	return api
}

// storeAPIConfig is the admin API's configuration on a store-like node
// (dev, store): the node loads programmes itself.
func storeAPIConfig(n *node.Node, tokens []adminapi.Token, stores adminapi.StoreStatus) adminapi.Config {
	cfg := adminapi.Config{Node: n, Tokens: tokens, MaxProgrammeBytes: maxProgrammeDocBytes}
	if stores != nil {
		cfg.Stores = stores
	}
	return cfg
}
