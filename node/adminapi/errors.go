package adminapi

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"

	"github.com/patron/patron/engine"
	"github.com/patron/patron/node"
)

// Sentinel errors an injected ProgrammeLoader (or StoreStatus) wraps to
// choose the answer's status; any other error is a 503.
var (
	// ErrConflict: the request cannot be served here now, such as a
	// programme load sent to an HQ node that is not the Raft leader (409).
	ErrConflict = errors.New("adminapi: conflict")
	// ErrTooLarge: the document is larger than what can be replicated (413).
	ErrTooLarge = errors.New("adminapi: too large")
	// ErrBadRequest: the request itself is wrong (400).
	ErrBadRequest = errors.New("adminapi: bad request")
)

// Error codes of the API's own (the refusal reasons of
// pos-protocol-v1.md are codes too, for sales and returns).
const (
	codeBadRequest       = "bad_request"
	codeUnauthorized     = "unauthorized"
	codeForbidden        = "forbidden"
	codeNotFound         = "not_found"
	codeMethodNotAllowed = "method_not_allowed"
	codeConflict         = "conflict"
	codeTooLarge         = "too_large"
	codeInvalidProgramme = "invalid_programme"
	codeProgrammeExists  = "programme_conflict"
	codeNoProgramme      = "no_programme"
	codeUnknownReport    = "unknown_report"
	codeBadFilter        = "bad_filter"
	codeTooManyExports   = "too_many_exports"
	codeNotReady         = "not_ready"
	codeNotSupported     = "not_supported"
	codeUnavailable      = "unavailable"
	codeInternal         = "internal"
)

// apiError is an answer decided by the API itself.
type apiError struct {
	status int
	code   string
	msg    string
	field  string // the query parameter or body field at fault
}

func (e *apiError) Error() string { return "adminapi: " + e.msg }

func errorf(status int, code, format string, args ...any) *apiError {
	return &apiError{status: status, code: code, msg: fmt.Sprintf(format, args...)}
}

// badParam is a 400 naming the query parameter or field.
func badParam(name, format string, args ...any) *apiError {
	return &apiError{status: http.StatusBadRequest, code: codeBadRequest, field: name,
		msg: name + ": " + fmt.Sprintf(format, args...)}
}

func forbidden(format string, args ...any) *apiError {
	return errorf(http.StatusForbidden, codeForbidden, format, args...)
}

// errorBody is the JSON of every error answer.
type errorBody struct {
	Error  errorDetail `json:"error"`
	Errors []problem   `json:"errors,omitempty"` // an invalid programme's problems
}

type errorDetail struct {
	Code    string         `json:"code"`
	Message string         `json:"message"`
	Field   string         `json:"field,omitempty"`
	Details map[string]any `json:"details,omitempty"`
}

// problem is one problem of an invalid programme.
type problem struct {
	Path    string `json:"path"`
	Message string `json:"message"`
}

// reasonStatus is the HTTP status of each refusal reason; reasons not
// listed are 422 (a business refusal of a well-formed request).
var reasonStatus = map[string]int{
	engine.ReasonInvalidParams:   http.StatusBadRequest,
	node.ReasonMemberNotFound:    http.StatusNotFound,
	node.ReasonNotFound:          http.StatusNotFound,
	node.ReasonMemberExists:      http.StatusConflict,
	node.ReasonReceiptConflict:   http.StatusConflict,
	node.ReasonEvaluationChanged: http.StatusConflict,
	node.ReasonUnavailable:       http.StatusServiceUnavailable,
	node.ReasonOTPRateLimited:    http.StatusTooManyRequests,
}

// fail answers err. It is the one place errors become statuses and codes.
func (a *API) fail(w http.ResponseWriter, r *http.Request, err error) {
	status, body := a.classify(err)
	if status == http.StatusInternalServerError || status == http.StatusServiceUnavailable {
		a.log.Warn("admin API request failed", "method", r.Method, "path", r.URL.Path, "status", status, "err", err)
	}
	if status == http.StatusUnauthorized {
		w.Header().Set("WWW-Authenticate", `Bearer realm="patron"`)
	}
	writeJSON(w, status, body)
}

func (a *API) classify(err error) (int, errorBody) {
	var (
		ae   *apiError
		ref  *engine.Refusal
		verr *engine.ValidationError
	)
	switch {
	case errors.As(err, &ae):
		return ae.status, errorBody{Error: errorDetail{Code: ae.code, Message: ae.msg, Field: ae.field}}
	case errors.As(err, &verr):
		b := errorBody{Error: errorDetail{Code: codeInvalidProgramme, Message: verr.Error()}, Errors: []problem{}}
		for _, p := range verr.Problems {
			b.Errors = append(b.Errors, problem{Path: p.Path, Message: p.Message})
		}
		return http.StatusUnprocessableEntity, b
	case errors.As(err, &ref):
		status, ok := reasonStatus[ref.Reason]
		if !ok {
			status = http.StatusUnprocessableEntity
		}
		msg := ref.Message
		if msg == "" {
			msg = ref.Reason
		}
		return status, errorBody{Error: errorDetail{Code: ref.Reason, Message: msg, Field: ref.Field, Details: ref.Details}}
	case errors.Is(err, node.ErrProgrammeConflict):
		return http.StatusConflict, body(codeProgrammeExists, err.Error()+"; give the new edition a new version")
	case errors.Is(err, node.ErrNoProgramme):
		return http.StatusServiceUnavailable, body(codeNoProgramme, "no programme loaded yet (a new store waits for HQ's)")
	case errors.Is(err, node.ErrUnknownReport):
		return http.StatusNotFound, body(codeUnknownReport, err.Error())
	case errors.Is(err, node.ErrBadFilter):
		return http.StatusBadRequest, body(codeBadFilter, err.Error())
	case errors.Is(err, ErrConflict):
		return http.StatusConflict, body(codeConflict, err.Error())
	case errors.Is(err, ErrTooLarge):
		return http.StatusRequestEntityTooLarge, body(codeTooLarge, err.Error())
	case errors.Is(err, ErrBadRequest):
		return http.StatusBadRequest, body(codeBadRequest, err.Error())
	case errors.Is(err, node.ErrClosed), errors.Is(err, errClosed),
		errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return http.StatusServiceUnavailable, body(codeUnavailable, "the node is unavailable; retry later")
	default:
		return http.StatusInternalServerError, body(codeInternal, "internal error")
	}
}

func body(code, msg string) errorBody {
	return errorBody{Error: errorDetail{Code: code, Message: msg}}
}

// writeJSON writes v with status.
func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.Encode(v) // a failed write is the client gone: nothing to tell it
}
