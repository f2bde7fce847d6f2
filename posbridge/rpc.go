package posbridge

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"sort"

	"github.com/patron/patron/engine"
	"github.com/patron/patron/node"
)

// JSON-RPC 2.0 protocol error codes.
const (
	codeParseError     = -32700
	codeInvalidRequest = -32600
	codeMethodNotFound = -32601
	codeInvalidParams  = -32602
	codeInternal       = -32603
)

// Application error codes, one per data.reason (docs/protocol.md has the
// table). Clients should switch on data.reason; the codes are stable too.
const (
	codeRefused     = -32000 // a business reason not in this table
	codeUnavailable = -32001
)

// reasonCodes maps each business reason to its stable application code.
var reasonCodes = map[string]int{
	engine.ReasonInvalidParams:      codeInvalidParams,
	node.ReasonUnavailable:          codeUnavailable,
	node.ReasonNotFound:             -32002,
	node.ReasonMemberNotFound:       -32010,
	node.ReasonMemberExists:         -32011,
	node.ReasonCardBlocked:          -32012,
	node.ReasonCouponInvalid:        -32020,
	node.ReasonCouponUsed:           -32021,
	node.ReasonCouponExpired:        -32022,
	node.ReasonReceiptConflict:      -32030,
	node.ReasonEvaluationChanged:    -32031,
	engine.ReasonInsufficientPoints: -32040,
	engine.ReasonConsentRequired:    -32041,
	reasonOfflineLimit:              -32042,
	node.ReasonOTPRequired:          -32050,
	node.ReasonOTPInvalid:           -32051,
	node.ReasonOTPExpired:           -32052,
	node.ReasonOTPLocked:            -32053,
	node.ReasonOTPRateLimited:       -32054,
	reasonUpgradePending:            -32060,
}

// Reasons that posbridge itself produces.
const (
	reasonUnavailable    = node.ReasonUnavailable
	reasonInternal       = "internal"
	reasonMethodNotFound = "method_not_found"
	// reasonUpgradePending: the request needs an event the chain's
	// format cannot carry until HQ finalizes an upgrade (node.ErrChainFormat).
	reasonUpgradePending = "upgrade_pending"
	// reasonOfflineLimit is produced by the node's redemption path; it
	// is listed here so that its code is fixed before it exists there.
	reasonOfflineLimit = "offline_limit"
)

// jsonrpcVersion is the only JSON-RPC version spoken.
const jsonrpcVersion = "2.0"

// RPCError is a JSON-RPC error object. Data always carries "reason", the
// stable snake_case code clients switch on, and may carry "field" and other
// details.
type RPCError struct {
	Code    int            `json:"code"`
	Message string         `json:"message"`
	Data    map[string]any `json:"data,omitempty"`
}

// Error implements error.
func (e *RPCError) Error() string {
	return fmt.Sprintf("posbridge: rpc error %d (%s): %s", e.Code, e.Reason(), e.Message)
}

// Reason returns data.reason, or "" if there is none.
func (e *RPCError) Reason() string {
	r, _ := e.Data["reason"].(string)
	return r
}

// Field returns data.field, or "" if there is none.
func (e *RPCError) Field() string {
	f, _ := e.Data["field"].(string)
	return f
}

// protocolError is a JSON-RPC level failure found by posbridge itself
// (parse error, invalid request, unknown method).
type protocolError struct {
	code    int
	reason  string
	message string
	field   string
}

func (e *protocolError) Error() string { return "posbridge: " + e.message }

// unavailabler is implemented by service errors that mean "retry later"
// (the node is closing or overloaded).
type unavailabler interface{ Unavailable() bool }

// errUnavailable is the reply to a request read while the server stops.
var errUnavailable = &engine.Refusal{Reason: reasonUnavailable, Message: "the node is shutting down; retry later"}

// toRPCError maps any error met while serving a request onto the wire. It
// is the one place where errors become codes: refusals keep their reason,
// field and details; "retry later" conditions become unavailable; anything
// else is internal, without internals in the message.
func toRPCError(err error) *RPCError {
	var pe *protocolError
	if errors.As(err, &pe) {
		data := map[string]any{"reason": pe.reason}
		if pe.field != "" {
			data["field"] = pe.field
		}
		return &RPCError{Code: pe.code, Message: pe.message, Data: data}
	}
	var ref *engine.Refusal
	if errors.As(err, &ref) {
		data := make(map[string]any, len(ref.Details)+2)
		for k, v := range ref.Details {
			data[k] = v
		}
		data["reason"] = ref.Reason
		if ref.Field != "" {
			data["field"] = ref.Field
		}
		code, ok := reasonCodes[ref.Reason]
		if !ok {
			code = codeRefused
		}
		msg := ref.Message
		if msg == "" {
			msg = ref.Reason
		}
		return &RPCError{Code: code, Message: msg, Data: data}
	}
	if errors.Is(err, node.ErrNoProgramme) {
		// A new store waits for HQ to send it the programme: retryable.
		return &RPCError{Code: codeUnavailable, Message: "no programme loaded yet (the store is waiting for HQ); retry later",
			Data: map[string]any{"reason": reasonUnavailable}}
	}
	if errors.Is(err, node.ErrChainFormat) {
		return &RPCError{Code: reasonCodes[reasonUpgradePending],
			Message: "not available until the chain's upgrade is finalized at HQ (some node may still run the previous build)",
			Data:    map[string]any{"reason": reasonUpgradePending}}
	}
	if errors.Is(err, node.ErrCatchingUp) {
		// A new data directory (first start, replacement, restore)
		// catching up from HQ: retryable.
		return &RPCError{Code: codeUnavailable, Message: "the store is catching up from HQ (a new data directory: first start, replacement or restore); retry shortly",
			Data: map[string]any{"reason": reasonUnavailable}}
	}
	var u unavailabler
	if (errors.As(err, &u) && u.Unavailable()) ||
		errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) ||
		errors.Is(err, ErrServerClosed) || errors.Is(err, node.ErrClosed) {
		return &RPCError{Code: codeUnavailable, Message: "the node is unavailable; retry later",
			Data: map[string]any{"reason": reasonUnavailable}}
	}
	return &RPCError{Code: codeInternal, Message: "internal error",
		Data: map[string]any{"reason": reasonInternal}}
}

// request is a decoded JSON-RPC request or notification.
type request struct {
	ID     json.RawMessage // nil for a notification
	Method string
	Params json.RawMessage // nil or JSON null when absent
}

// envelope is the wire form of a request.
type envelope struct {
	JSONRPC *string         `json:"jsonrpc"`
	ID      json.RawMessage `json:"id"`
	Method  *string         `json:"method"`
	Params  json.RawMessage `json:"params"`
}

// decodeRequest strictly decodes one frame into a request. On failure it
// returns the id to answer with (JSON null when it cannot be known) and a
// *protocolError. Unknown members of the request object are ignored.
func decodeRequest(frame []byte) (request, error) {
	trimmed := bytes.TrimLeft(frame, " \t\r\n")
	if len(trimmed) > 0 && trimmed[0] == '[' {
		if !json.Valid(trimmed) {
			return request{}, errParse
		}
		return request{}, invalidRequest("batch requests are not supported", "")
	}
	var env envelope
	if err := json.Unmarshal(frame, &env); err != nil {
		var se *json.SyntaxError
		if errors.As(err, &se) || !json.Valid(frame) {
			return request{}, errParse
		}
		return request{}, invalidRequest("a request must be a JSON object with string jsonrpc and method", "")
	}
	req := request{Method: derefString(env.Method), Params: env.Params}
	if env.ID != nil {
		switch env.ID[0] {
		case '"', '-', '0', '1', '2', '3', '4', '5', '6', '7', '8', '9':
			req.ID = env.ID
		default:
			return request{}, invalidRequest("id must be a number or a string", "id")
		}
	}
	switch {
	case env.JSONRPC == nil || *env.JSONRPC != jsonrpcVersion:
		return req, invalidRequest(`jsonrpc must be "2.0"`, "jsonrpc")
	case req.Method == "":
		return req, invalidRequest("method is missing", "method")
	}
	return req, nil
}

var errParse = &protocolError{code: codeParseError, reason: engine.ReasonInvalidParams, message: "parse error"}

func invalidRequest(msg, field string) error {
	return &protocolError{code: codeInvalidRequest, reason: engine.ReasonInvalidParams,
		message: "invalid request: " + msg, field: field}
}

func derefString(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

// decodeParams decodes params into v: absent or null params are {}; params
// must otherwise be an object; unknown fields are ignored (additive
// extensions); a value of the wrong type is invalid_params naming the
// field's path (array indices elided, as encoding/json reports it).
func decodeParams(params json.RawMessage, v any) error {
	if len(params) == 0 || string(params) == "null" {
		params = json.RawMessage("{}")
	}
	if params[0] != '{' {
		return invalidParams("params", "params must be an object")
	}
	err := json.Unmarshal(params, v)
	if err == nil {
		return nil
	}
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) && te.Field != "" {
		return invalidParams(te.Field, fmt.Sprintf("%s: expected %s, got %s", te.Field, jsonKind(te.Type), te.Value))
	}
	field := failingField(params, reflect.TypeOf(v).Elem())
	if field == "" {
		return invalidParams("params", "params: "+err.Error())
	}
	return invalidParams(field, field+": "+err.Error())
}

func invalidParams(field, msg string) error {
	return &engine.Refusal{Reason: engine.ReasonInvalidParams, Message: msg, Field: field}
}

// failingField finds the top-level member of params whose value alone
// fails to decode into a t, for errors that encoding/json reports without
// a field (a bad time, say). It returns "" if none does on its own.
func failingField(params json.RawMessage, t reflect.Type) string {
	var members map[string]json.RawMessage
	if json.Unmarshal(params, &members) != nil {
		return ""
	}
	keys := make([]string, 0, len(members))
	for k := range members {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		one, err := json.Marshal(map[string]json.RawMessage{k: members[k]})
		if err != nil {
			continue
		}
		if json.Unmarshal(one, reflect.New(t).Interface()) != nil {
			return k
		}
	}
	return ""
}

// jsonKind names the JSON type that decodes into t.
func jsonKind(t reflect.Type) string {
	if t == nil {
		return "a value"
	}
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch t.Kind() {
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return "integer"
	case reflect.Float32, reflect.Float64:
		return "number"
	case reflect.String:
		return "string"
	case reflect.Bool:
		return "boolean"
	case reflect.Slice, reflect.Array:
		return "array"
	case reflect.Map, reflect.Struct:
		return "object"
	}
	return "a value"
}

// response is the wire form of a JSON-RPC response.
type response struct {
	JSONRPC string          `json:"jsonrpc"`
	ID      json.RawMessage `json:"id"`
	Result  any             `json:"result,omitempty"`
	Error   *RPCError       `json:"error,omitempty"`
}

// notification is the wire form of a server notification.
type notification struct {
	JSONRPC string `json:"jsonrpc"`
	Method  string `json:"method"`
	Params  any    `json:"params"`
}

// nullID answers requests whose id cannot be known.
var nullID = json.RawMessage("null")

// encodeResult encodes a success response. A result that fails to encode
// becomes an internal error.
func encodeResult(id json.RawMessage, result any) ([]byte, error) {
	b, err := json.Marshal(response{JSONRPC: jsonrpcVersion, ID: id, Result: result})
	if err != nil {
		return nil, fmt.Errorf("posbridge: encode result: %w", err)
	}
	return b, nil
}

// encodeError encodes an error response; data that fails to encode (a
// refusal detail that is not JSON) degrades to internal.
func encodeError(id json.RawMessage, e *RPCError) []byte {
	if id == nil {
		id = nullID
	}
	b, err := json.Marshal(response{JSONRPC: jsonrpcVersion, ID: id, Error: e})
	if err != nil {
		b, _ = json.Marshal(response{JSONRPC: jsonrpcVersion, ID: id, Error: toRPCError(err)})
	}
	return b
}
