package posbridge

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"

	"github.com/patron/patron/engine"
	"github.com/patron/patron/node"
)

// Service is what posbridge needs from a node; *node.Node implements it.
// terminal is the authenticated terminal id. Business refusals are returned
// as *engine.Refusal (possibly wrapped); an error with an Unavailable() bool
// method returning true, or a context error, means "retry later"; any other
// error is internal.
type Service interface {
	Hello(ctx context.Context, terminal string) node.Hello
	Identify(ctx context.Context, terminal string, req node.IdentifyRequest) (*node.Member, error)
	Enroll(ctx context.Context, terminal string, req node.EnrollRequest) (*node.Member, error)
	UpdateMember(ctx context.Context, terminal string, req node.UpdateRequest) (*node.Member, error)
	SetConsents(ctx context.Context, terminal string, req node.ConsentsRequest) (*node.Member, error)
	IssueCard(ctx context.Context, terminal string, req node.IssueCardRequest) (*node.Member, error)
	BlockCard(ctx context.Context, terminal string, req node.BlockCardRequest) (*node.Member, error)
	Evaluate(ctx context.Context, terminal string, req node.EvaluateRequest) (*engine.Evaluation, error)
	RequestOTP(ctx context.Context, terminal string, req node.OTPRequest) (*node.OTPSent, error)
	CompleteSale(ctx context.Context, terminal string, req node.SaleRequest) (*node.Receipt, error)
	Return(ctx context.Context, terminal string, req node.ReturnRequest) (*node.ReturnReceipt, error)
	Void(ctx context.Context, terminal string, req node.VoidRequest) (*node.ReturnReceipt, error)
	Ledger(ctx context.Context, terminal string, req node.LedgerRequest) (*node.LedgerPage, error)
	CheckCoupon(ctx context.Context, terminal string, req node.CouponCheckRequest) (*node.CouponCheck, error)

	// Subscribe calls fn for every member change until cancel is called.
	// fn must not block; posbridge's fn only enqueues without waiting.
	Subscribe(fn func(node.MemberChange)) (cancel func())

	// AuthenticateTerminal returns the terminal a token belongs to.
	AuthenticateTerminal(token string) (terminal string, ok bool)
}

// handler serves one method: it decodes params and calls the service.
type handler func(ctx context.Context, svc Service, terminal string, params json.RawMessage) (any, error)

// methods is the method table of POS protocol v1.
var methods = map[string]handler{
	"hello":                hello,
	"member.identify":      call(Service.Identify),
	"member.enroll":        call(Service.Enroll),
	"member.update":        call(Service.UpdateMember),
	"member.consents":      call(Service.SetConsents),
	"card.issue":           call(Service.IssueCard),
	"card.block":           call(Service.BlockCard),
	"basket.evaluate":      call(Service.Evaluate),
	"redeem.otp":           call(Service.RequestOTP),
	"sale.complete":        call(Service.CompleteSale),
	"sale.return":          call(Service.Return),
	"sale.void":            call(Service.Void),
	"member.ledger":        call(Service.Ledger),
	"coupon.check":         call(Service.CheckCoupon),
	"member.authenticator": authenticator, // extension: authenticator.go
}

// errNoResult is a service that returned neither a result nor an error.
var errNoResult = errors.New("posbridge: service returned no result")

// call adapts a service method to a handler: params decode strictly into
// Req, and a nil result with a nil error is an internal error.
func call[Req any, Res any](m func(Service, context.Context, string, Req) (Res, error)) handler {
	return func(ctx context.Context, svc Service, terminal string, params json.RawMessage) (any, error) {
		var req Req
		if err := decodeParams(params, &req); err != nil {
			return nil, err
		}
		res, err := m(svc, ctx, terminal, req)
		if err != nil {
			return nil, err
		}
		if v := reflect.ValueOf(res); !v.IsValid() || (v.Kind() == reflect.Pointer && v.IsNil()) {
			return nil, fmt.Errorf("posbridge: %T: %w", m, errNoResult)
		}
		return res, nil
	}
}

// hello takes no params but still refuses params that are not an object.
func hello(ctx context.Context, svc Service, terminal string, params json.RawMessage) (any, error) {
	var none struct{}
	if err := decodeParams(params, &none); err != nil {
		return nil, err
	}
	return svc.Hello(ctx, terminal), nil
}

// watchedMember returns the member a successful result concerns, for
// member.changed: identified, enrolled, changed at this till, or in a sale.
func watchedMember(result any) string {
	switch r := result.(type) {
	case *node.Member:
		return r.MemberID
	case *node.Receipt:
		return r.MemberID
	}
	return ""
}
