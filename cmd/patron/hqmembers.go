package main

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"net/http"

	"github.com/patron/patron/engine"
	"github.com/patron/patron/node"
)

// HQ's member administration (docs/groups.md, docs/erasure.md). Each POST
// needs the admin token, runs on the Raft leader only, names the operator
// in "by" (the card maintenance log's and the event's "who": terminal
// "admin:<by>") and answers the event it committed, "origin/seq", or
// "event": "" when the change was in place already:
//
//	POST /members/{id}/cards/{number}/unblock  {"reason": "...", "by": "alice"}
//	GET  /groups
//	POST /groups                               {"id": "vip", "name": "Very important", "by": "alice"}
//	POST /members/{id}/groups                  {"add": ["vip"], "remove": ["staff"], "by": "alice"}
//	POST /members/{id}/erase                   {"by": "dpo"}
//
// A till may block a card but not unblock it, and cannot erase a member:
// both are HQ decisions after checks a till cannot make.

// The requests.
type (
	unblockRequest struct {
		Reason string `json:"reason"`
		By     string `json:"by"`
	}
	groupRequest struct {
		ID   string `json:"id"`
		Name string `json:"name"`
		By   string `json:"by"`
	}
	memberGroupsRequest struct {
		Add    []string `json:"add"`
		Remove []string `json:"remove"`
		By     string   `json:"by"`
	}
	eraseRequest struct {
		By string `json:"by"`
	}
)

// memberChanged is the answer to a member administration POST.
type memberChanged struct {
	Member string `json:"member"`
	Event  string `json:"event"` // "origin/seq", "" when nothing changed
	// Pseudonym is what an erased member's ledger is kept under.
	Pseudonym string `json:"pseudonym,omitempty"`
}

func (a *hqAdmin) unblockCard(w http.ResponseWriter, r *http.Request) {
	var req unblockRequest
	if !decodeBody(w, r, &req) {
		return
	}
	id, number := r.PathValue("id"), r.PathValue("number")
	a.emitMember(w, r, "card unblock", id, func(ctx context.Context) (*engine.Event, error) {
		return a.node.UnblockCardEvent(ctx, id, number, req.Reason, req.By)
	})
}

func (a *hqAdmin) groups(w http.ResponseWriter, r *http.Request) {
	gs, err := a.node.Groups(r.Context())
	if err != nil {
		a.fail(w, "groups", err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"groups": gs})
}

func (a *hqAdmin) defineGroup(w http.ResponseWriter, r *http.Request) {
	var req groupRequest
	if !decodeBody(w, r, &req) {
		return
	}
	a.emitMember(w, r, "group definition", "", func(ctx context.Context) (*engine.Event, error) {
		return a.node.GroupDefinitionEvent(ctx, req.ID, req.Name, req.By)
	})
}

func (a *hqAdmin) memberGroups(w http.ResponseWriter, r *http.Request) {
	var req memberGroupsRequest
	if !decodeBody(w, r, &req) {
		return
	}
	id := r.PathValue("id")
	a.emitMember(w, r, "group change", id, func(ctx context.Context) (*engine.Event, error) {
		return a.node.GroupChangeEvent(ctx, id, req.Add, req.Remove, req.By)
	})
}

// eraseMember erases a member: the check that it is not erased already
// runs each time the event is prepared, under the Emitter's lock, so
// two requests never both erase (a retry answers the first's pseudonym).
func (a *hqAdmin) eraseMember(w http.ResponseWriter, r *http.Request) {
	var req eraseRequest
	if !decodeBody(w, r, &req) {
		return
	}
	id := r.PathValue("id")
	random := make([]byte, engine.PseudonymRandLen)
	if _, err := rand.Read(random); err != nil {
		a.fail(w, "erasure", err)
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), adminRequestTimeout)
	defer cancel()
	ans := memberChanged{Member: id}
	raw, err := a.events.EmitPrepared(ctx, func(ctx context.Context) (engine.RawEvent, error) {
		ev, p, err := a.node.ErasureEvent(ctx, id, req.By, random)
		ans.Pseudonym = p
		if err != nil {
			return engine.RawEvent{}, err
		}
		if ev == nil {
			return engine.RawEvent{}, errNothingToDo
		}
		return a.node.PrepareEvent(ctx, *ev)
	})
	switch {
	case errors.Is(err, errNothingToDo):
	case err != nil:
		a.failMember(w, "erasure", err)
		return
	default:
		ans.Event = fmt.Sprintf("%s/%d", raw.Origin, raw.Seq)
		// The log names the subject, never the member id.
		a.log.Info("member erased", "subject", engine.ErasureSubject(id), "pseudonym", ans.Pseudonym, "event", ans.Event, "by", req.By)
	}
	writeJSON(w, http.StatusOK, ans)
}

// errNothingToDo ends a prepare whose change is in place already.
var errNothingToDo = errors.New("nothing to do")

// emitMember asks decide for the event that makes a change (nil: in
// place already), proposes it and answers memberChanged.
func (a *hqAdmin) emitMember(w http.ResponseWriter, r *http.Request, what, member string,
	decide func(context.Context) (*engine.Event, error)) {
	ctx, cancel := context.WithTimeout(r.Context(), adminRequestTimeout)
	defer cancel()
	ev, err := decide(ctx)
	if err != nil {
		a.failMember(w, what, err)
		return
	}
	ans := memberChanged{Member: member}
	if ev != nil {
		done, err := a.events.Emit(ctx, *ev)
		if err != nil {
			a.failMember(w, what, err)
			return
		}
		ans.Event = fmt.Sprintf("%s/%d", done.Origin, done.Seq)
		a.log.Info("member administration", "what", what, "event", ans.Event, "terminal", done.Terminal)
	}
	writeJSON(w, http.StatusOK, ans)
}

// failMember maps member administration errors to statuses, and the rest
// through fail.
func (a *hqAdmin) failMember(w http.ResponseWriter, what string, err error) {
	switch {
	case errors.Is(err, node.ErrAdminRequest):
		writeJSON(w, http.StatusBadRequest, apiError{Error: err.Error()})
	case errors.Is(err, node.ErrNoSuchMember), errors.Is(err, node.ErrNoSuchCard), errors.Is(err, node.ErrNoSuchGroup):
		writeJSON(w, http.StatusNotFound, apiError{Error: err.Error()})
	case errors.Is(err, node.ErrErased):
		writeJSON(w, http.StatusConflict, apiError{Error: err.Error()})
	default:
		a.fail(w, what, err)
	}
}
