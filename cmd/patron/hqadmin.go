package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net/http"
	"slices"
	"sort"
	"sync"
	"time"

	"github.com/patron/patron/engine"
	"github.com/patron/patron/node"
	"github.com/patron/patron/node/hqevents"
	"github.com/patron/patron/replication/chain"
	"github.com/patron/patron/replication/hq"
	"github.com/patron/patron/replication/syncproto"
)

// HQ's admin API. GET /healthz, /readyz, /metrics and /status are open
// (bind the admin listener to a management network); GET /overdrafts is
// open too (it names member ids, not people). Every POST, and GET /backup
// (the node's data file, backup.go), needs the admin token as
// "Authorization: Bearer TOKEN" and is refused when none is configured:
//
//	POST /cluster/join    {"id":"HQ4","raft_addr":"10.0.0.4:7101"}
//	POST /cluster/remove  {"id":"HQ3"}
//	POST /programme       the programme document (JSON or YAML)
//	POST /members/...     card unblock, groups, erasure (hqmembers.go)
//
// The POSTs are leader-only; a follower answers 409 with the leader's id
// in an apiError, and the CLI tries its next --admin URL.

const (
	// maxAdminBody bounds a join or remove request.
	maxAdminBody = 4 << 10
	// maxProgrammeEventBytes is the largest programme event HQ accepts:
	// the largest event store sync carries (syncproto.MaxChunkedEventBytes,
	// 1 MiB, which is also hq.MaxEventBytes), so a larger one would stop
	// every store's sync at that event.
	maxProgrammeEventBytes = syncproto.MaxChunkedEventBytes
	// maxProgrammeDocBytes is the largest programme document HQ reads: the
	// event carries the document in base64 (4/3 of its size), so a larger
	// document cannot make an event of maxProgrammeEventBytes (768 KiB).
	// One just under it may still, with the event's envelope, exceed the
	// event bound: loadProgramme checks the event too.
	maxProgrammeDocBytes = maxProgrammeEventBytes / 4 * 3
	// adminRequestTimeout bounds one admin request's Raft work.
	adminRequestTimeout = 30 * time.Second
	// sessionBookEvery is how often HQ samples its store sessions, so
	// /status can say when an offline store was last seen.
	sessionBookEvery = time.Second
)

// Store sync carries events up to syncproto.MaxChunkedEventBytes, and HQ's
// Raft log takes events up to hq.MaxEventBytes: the two must be equal, or
// HQ would hold events it cannot send to stores (or refuse ones they send).
const (
	_ = uint(syncproto.MaxChunkedEventBytes - hq.MaxEventBytes)
	_ = uint(hq.MaxEventBytes - syncproto.MaxChunkedEventBytes)
)

// apiError is the JSON body of every admin error answer.
type apiError struct {
	Error    string `json:"error"`
	LeaderID string `json:"leader_id,omitempty"`
}

// hqAdmin serves HQ's admin API.
type hqAdmin struct {
	hq     *chain.HQ
	node   *node.Node
	stores func() []string // configured store ids, sorted
	token  string
	log    *slog.Logger
	book   *sessionBook
	events *hqevents.Emitter
	jobs   *hqevents.Scheduler // nil until serveHQ sets it

	// prepared, when set (tests), is called with each prepared programme
	// event before it is proposed: a test appends a competing one there.
	prepared func(engine.RawEvent)
}

func newHQAdmin(h *chain.HQ, n *node.Node, stores func() []string, token string, logger *slog.Logger) *hqAdmin {
	return &hqAdmin{hq: h, node: n, stores: stores, token: token, log: logger, book: newSessionBook(),
		events: hqevents.NewEmitter(n, raftLog{h.Raft()}, logger)}
}

// ready: the node is open, Raft has a leader and the node has not
// stopped on a store failure. A follower is ready: it serves status and
// redirects stores to the leader.
func (a *hqAdmin) ready() error {
	ctx, cancel := context.WithTimeout(context.Background(), readyTimeout)
	defer cancel()
	if err := a.node.Ping(ctx); err != nil {
		return err
	}
	r := a.hq.Raft()
	if err := r.Err(); err != nil {
		return err
	}
	if id, _ := r.Leader(); id == "" {
		return errors.New("no Raft leader known")
	}
	return nil
}

// routes adds the HQ endpoints to the common admin mux.
func (a *hqAdmin) routes(mux *http.ServeMux) *http.ServeMux {
	mux.HandleFunc("GET /status", a.status)
	mux.HandleFunc("GET /overdrafts", a.overdrafts)
	mux.HandleFunc("POST /cluster/join", a.authorized(a.join))
	mux.HandleFunc("POST /cluster/remove", a.authorized(a.remove))
	mux.HandleFunc("POST /programme", a.authorized(a.programme))
	mux.HandleFunc("POST /jobs/{name}", a.authorized(a.runJob))
	mux.HandleFunc("POST /upgrade/finalize", a.authorized(a.finalizeUpgrade))
	mux.HandleFunc("GET "+backupPath, a.authorized(backupHandler(a.node, a.log)))
	// Member administration (hqmembers.go).
	mux.HandleFunc("POST /members/{id}/cards/{number}/unblock", a.authorized(a.unblockCard))
	mux.HandleFunc("GET /groups", a.groups)
	mux.HandleFunc("POST /groups", a.authorized(a.defineGroup))
	mux.HandleFunc("POST /members/{id}/groups", a.authorized(a.memberGroups))
	mux.HandleFunc("POST /members/{id}/erase", a.authorized(a.eraseMember))
	return mountConsole(mux, hqConsole(a.node))
}

func (a *hqAdmin) authorized(h http.HandlerFunc) http.HandlerFunc {
	return requireToken(a.token, "--admin-token or --admin-token-file", h)
}

type memberRequest struct {
	ID       string `json:"id"`
	RaftAddr string `json:"raft_addr,omitempty"`
}

func (a *hqAdmin) join(w http.ResponseWriter, r *http.Request) {
	var req memberRequest
	if !decodeBody(w, r, &req) {
		return
	}
	if req.ID == "" || req.RaftAddr == "" {
		writeJSON(w, http.StatusBadRequest, apiError{Error: "join needs id and raft_addr"})
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), adminRequestTimeout)
	defer cancel()
	if err := a.hq.Raft().AddVoter(ctx, req.ID, req.RaftAddr); err != nil {
		a.fail(w, "join", err)
		return
	}
	a.log.Info("HQ node joined", "id", req.ID, "raft", req.RaftAddr)
	writeJSON(w, http.StatusOK, map[string]string{"joined": req.ID})
}

func (a *hqAdmin) remove(w http.ResponseWriter, r *http.Request) {
	var req memberRequest
	if !decodeBody(w, r, &req) {
		return
	}
	if req.ID == "" {
		writeJSON(w, http.StatusBadRequest, apiError{Error: "remove needs id"})
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), adminRequestTimeout)
	defer cancel()
	if err := a.hq.Raft().RemoveServer(ctx, req.ID); err != nil {
		a.fail(w, "remove", err)
		return
	}
	a.log.Info("HQ node removed", "id", req.ID)
	writeJSON(w, http.StatusOK, map[string]string{"removed": req.ID})
}

// programmeLoaded is the answer to a programme load.
type programmeLoaded struct {
	Version string `json:"version"`
	Event   string `json:"event"` // origin/seq of the programme.loaded event
}

// programme loads a programme at HQ: this node (the leader) prepares the
// programme.loaded event and proposes it through Raft, so every HQ node
// applies it and every store pulls it.
func (a *hqAdmin) programme(w http.ResponseWriter, r *http.Request) {
	doc, err := io.ReadAll(io.LimitReader(r.Body, maxProgrammeDocBytes+1))
	if err != nil {
		writeJSON(w, http.StatusBadRequest, apiError{Error: "read programme: " + err.Error()})
		return
	}
	if len(doc) > maxProgrammeDocBytes {
		writeJSON(w, http.StatusRequestEntityTooLarge, apiError{Error: fmt.Sprintf(
			"programme document larger than %d bytes (%d KiB): its programme.loaded event carries it in base64 and must fit "+
				"the %d bytes (%d KiB) store sync carries in one event", maxProgrammeDocBytes, maxProgrammeDocBytes>>10,
			maxProgrammeEventBytes, maxProgrammeEventBytes>>10)})
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), adminRequestTimeout)
	defer cancel()
	res, err := a.loadProgramme(ctx, doc)
	if err != nil {
		a.fail(w, "programme load", err)
		return
	}
	a.log.Info("programme loaded at HQ", "version", res.Version, "event", res.Event)
	writeJSON(w, http.StatusOK, res)
}

// errProgrammeTooLarge refuses a programme whose event would not sync.
var errProgrammeTooLarge = errors.New("programme event too large for store sync")

// loadProgramme proposes a programme event until the event stored at its
// (origin, seq) is this one (see hqevents.Emitter): a concurrent load or
// a new leader may have taken the sequence number.
func (a *hqAdmin) loadProgramme(ctx context.Context, doc []byte) (programmeLoaded, error) {
	raw, err := a.events.EmitPrepared(ctx, func(ctx context.Context) (engine.RawEvent, error) {
		ev, err := a.node.PrepareProgrammeEvent(ctx, doc)
		if err != nil {
			return engine.RawEvent{}, err
		}
		if len(ev.Data) > maxProgrammeEventBytes {
			return engine.RawEvent{}, fmt.Errorf("%w: the programme.loaded event is %d bytes, the limit is %d bytes (%d KiB); make the document smaller",
				errProgrammeTooLarge, len(ev.Data), maxProgrammeEventBytes, maxProgrammeEventBytes>>10)
		}
		if a.prepared != nil {
			a.prepared(ev)
		}
		return ev, nil
	})
	if err != nil {
		return programmeLoaded{}, err
	}
	dec, err := engine.DecodeEvent(raw.Data)
	if err != nil {
		return programmeLoaded{}, err
	}
	return programmeLoaded{Version: dec.Programme.Version, Event: fmt.Sprintf("%s/%d", raw.Origin, raw.Seq)}, nil
}

// raftLog is the HQ Raft log as hqevents proposes to it: an unknown
// outcome is retried with the same events, which are idempotent.
type raftLog struct{ raft *hq.Node }

func (l raftLog) AppendEvents(ctx context.Context, events []engine.RawEvent) (engine.VersionVector, error) {
	for {
		vv, err := l.raft.AppendEvents(ctx, events)
		if errors.Is(err, hq.ErrUnknownOutcome) && ctx.Err() == nil {
			continue
		}
		return vv, err
	}
}

// fail answers an admin error. It is the one place admin errors become
// HTTP statuses.
func (a *hqAdmin) fail(w http.ResponseWriter, what string, err error) {
	var nl *hq.NotLeaderError
	var verr *engine.ValidationError
	switch {
	case errors.As(err, &nl):
		msg := "this HQ node is not the Raft leader and no leader is known; retry shortly"
		if nl.LeaderID != "" {
			msg = fmt.Sprintf("this HQ node is not the Raft leader; the leader is %s (raft %s): send it there", nl.LeaderID, nl.LeaderAddr)
		}
		writeJSON(w, http.StatusConflict, apiError{Error: msg, LeaderID: nl.LeaderID})
	case errors.As(err, &verr), errors.Is(err, hq.ErrInvalid):
		writeJSON(w, http.StatusBadRequest, apiError{Error: err.Error()})
	case errors.Is(err, node.ErrProgrammeConflict):
		writeJSON(w, http.StatusConflict, apiError{Error: err.Error() + "; give the new edition a new version"})
	case errors.Is(err, errProgrammeTooLarge):
		writeJSON(w, http.StatusRequestEntityTooLarge, apiError{Error: err.Error()})
	default:
		a.log.Warn("admin request failed", "what", what, "err", err)
		writeJSON(w, http.StatusServiceUnavailable, apiError{Error: what + ": " + err.Error()})
	}
}

func (a *hqAdmin) overdrafts(w http.ResponseWriter, r *http.Request) {
	ods, err := a.node.Overdrafts(r.Context())
	if err != nil {
		a.fail(w, "overdrafts", err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"count": len(ods), "overdrafts": ods})
}

// hqStatus is GET /status of an HQ node.
type hqStatus struct {
	Role       string            `json:"role"` // "hq"
	ID         string            `json:"id"`
	Version    string            `json:"version"`
	Raft       raftStatus        `json:"raft"`
	Servers    []serverStatus    `json:"servers"`
	Stores     []storeSession    `json:"stores"`
	Listener   listenerStatus    `json:"listener"`
	Overdrafts int               `json:"overdrafts"`
	Programme  string            `json:"programme"` // current version, "" before one is loaded
	Events     map[string]uint64 `json:"events"`    // version vector: events held per origin
	// ChainFormat is the event format the chain writes; BuildFormat the
	// newest this build writes (patron hq upgrade finalize raises the one
	// to the other).
	ChainFormat int `json:"chain_format"`
	BuildFormat int `json:"build_format"`
}

type raftStatus struct {
	State        string    `json:"state"`
	Leader       string    `json:"leader"`
	LeaderAddr   string    `json:"leader_addr"`
	Term         uint64    `json:"term"`
	LastIndex    uint64    `json:"last_index"`
	CommitIndex  uint64    `json:"commit_index"`
	AppliedIndex uint64    `json:"applied_index"`
	LastContact  time.Time `json:"last_contact,omitzero"`
	Err          string    `json:"error,omitempty"`
}

type serverStatus struct {
	ID     string `json:"id"`
	Addr   string `json:"addr"`
	Voter  bool   `json:"voter"`
	Leader bool   `json:"leader"`
}

// storeSession is one store as this HQ node sees it. Only the Raft leader
// admits stores, so on a follower every store shows offline.
type storeSession struct {
	Store    string    `json:"store"`
	Online   bool      `json:"online"`
	Since    time.Time `json:"since,omitzero"`
	LastSeen time.Time `json:"last_seen,omitzero"`
	// Lag: events of HQ's the store has not acknowledged; Behind: events
	// the store holds that HQ lacks.
	Lag            uint64  `json:"lag"`
	Behind         uint64  `json:"behind"`
	RTTMillis      float64 `json:"rtt_ms"`
	EventsSent     uint64  `json:"events_sent"`
	EventsReceived uint64  `json:"events_received"`
	EventsHeld     uint64  `json:"events_held"` // the store's events HQ holds, every incarnation's
	Configured     bool    `json:"configured"`  // HQ holds its key
	// Origin is the store's current incarnation (its last session's);
	// Incarnations lists every origin of the store HQ holds events of.
	Origin       string   `json:"origin,omitempty"`
	Incarnations []string `json:"incarnations,omitempty"`
}

type listenerStatus struct {
	Accepted        uint64 `json:"accepted"`
	Refused         uint64 `json:"refused"`
	UnknownIdentity uint64 `json:"unknown_identity"`
	Failed          uint64 `json:"failed"`
	Incomplete      uint64 `json:"incomplete"`
	Busy            uint64 `json:"busy"`
}

func (a *hqAdmin) status(w http.ResponseWriter, r *http.Request) {
	raft := a.hq.Raft()
	st := raft.Stats()
	s := hqStatus{Role: "hq", ID: st.ID, Version: version, ChainFormat: a.node.ChainFormat(), BuildFormat: engine.CurrentChainFormat,
		Raft: raftStatus{State: st.State, Leader: st.LeaderID, LeaderAddr: st.LeaderAddr, Term: st.Term,
			LastIndex: st.LastIndex, CommitIndex: st.CommitIndex, AppliedIndex: st.AppliedIndex,
			LastContact: st.LastContact, Err: st.Err},
		Servers: []serverStatus{}, Stores: []storeSession{}}
	if servers, err := raft.Servers(); err == nil {
		for _, sv := range servers {
			s.Servers = append(s.Servers, serverStatus{ID: sv.ID, Addr: sv.Addr, Voter: sv.Voter, Leader: sv.Leader})
		}
	}
	ls := a.hq.ListenerStats()
	s.Listener = listenerStatus{Accepted: ls.Accepted, Refused: ls.Refused(), UnknownIdentity: ls.UnknownIdentity,
		Failed: ls.Failed, Incomplete: ls.Incomplete, Busy: ls.Busy}
	if ods, err := a.node.Overdrafts(r.Context()); err == nil {
		s.Overdrafts = len(ods)
	}
	if p := a.node.Programme(); p != nil {
		s.Programme = p.Version
	}
	vv, err := a.node.VersionVector(r.Context())
	if err != nil {
		a.fail(w, "status", err)
		return
	}
	s.Events = vv
	a.book.observe(a.hq.Sessions())
	s.Stores = a.book.stores(a.stores(), vv)
	writeJSON(w, http.StatusOK, s)
}

// sessionBook remembers the last state of every store session seen, so an
// offline store still shows when it was last seen.
type sessionBook struct {
	mu   sync.Mutex // guards following
	last map[string]syncproto.LinkState
	seen map[string]time.Time // when the session was last observed up
	live map[string]bool
}

func newSessionBook() *sessionBook {
	return &sessionBook{last: map[string]syncproto.LinkState{}, seen: map[string]time.Time{}, live: map[string]bool{}}
}

// run samples sessions until stop is closed.
func (b *sessionBook) run(stop <-chan struct{}, sessions func() []syncproto.LinkState) {
	t := time.NewTicker(sessionBookEvery)
	defer t.Stop()
	for {
		b.observe(sessions())
		select {
		case <-stop:
			return
		case <-t.C:
		}
	}
}

func (b *sessionBook) observe(sessions []syncproto.LinkState) {
	now := time.Now()
	b.mu.Lock()
	defer b.mu.Unlock()
	clear(b.live)
	for _, s := range sessions {
		id := engine.OriginStore(s.PeerOrigin)
		if id == "" {
			id = s.Addr
		}
		if !s.Connected {
			continue
		}
		b.live[id] = true
		b.last[id] = s
		b.seen[id] = lastSeen(s, now)
	}
}

// stores lists the configured stores and any other seen, by id.
func (b *sessionBook) stores(configured []string, vv engine.VersionVector) []storeSession {
	b.mu.Lock()
	defer b.mu.Unlock()
	ids := map[string]bool{}
	for _, id := range configured {
		ids[id] = true
	}
	for id := range b.last {
		if _, ok := ids[id]; !ok {
			ids[id] = false
		}
	}
	out := make([]storeSession, 0, len(ids))
	for id, conf := range ids {
		ls, seen := b.last[id]
		s := storeSession{Store: id, Online: b.live[id], Configured: conf}
		for _, o := range slices.Sorted(maps.Keys(vv)) {
			if engine.OriginStore(o) == id {
				s.EventsHeld += vv[o]
				s.Incarnations = append(s.Incarnations, o)
			}
		}
		if seen {
			s.Origin = ls.PeerOrigin
			s.LastSeen, s.EventsSent, s.EventsReceived = b.seen[id], ls.EventsSent, ls.EventsReceived
			if s.Online {
				s.Since, s.Lag, s.Behind = ls.Since, ls.Lag, ls.Behind
				s.RTTMillis = float64(ls.RTT.Microseconds()) / 1000
			}
		}
		out = append(out, s)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Store < out[j].Store })
	return out
}

// lastSeen is when a link's peer was last heard from: the link's own
// record when it keeps one, else now for a link observed up.
func lastSeen(l syncproto.LinkState, now time.Time) time.Time {
	if !l.LastSeen.IsZero() {
		return l.LastSeen
	}
	return now
}

// decodeBody strictly decodes a small JSON request body, answering 400
// itself when it cannot.
func decodeBody(w http.ResponseWriter, r *http.Request, v any) bool {
	dec := json.NewDecoder(io.LimitReader(r.Body, maxAdminBody))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		writeJSON(w, http.StatusBadRequest, apiError{Error: "bad request body: " + err.Error()})
		return false
	}
	return true
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.Encode(v)
}
