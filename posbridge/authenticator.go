package posbridge

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/patron/patron/node"
)

// AuthenticatorService is the optional part of Service that serves
// member.authenticator, a repo extension of the protocol
// (docs/protocol.md, docs/otp.md); *node.Node implements it. A Service
// without it answers the method with method_not_found, as a node that
// predates it would.
type AuthenticatorService interface {
	Authenticator(ctx context.Context, terminal string, req node.AuthenticatorRequest) (*node.AuthenticatorAnswer, error)
}

// authenticator serves member.authenticator.
func authenticator(ctx context.Context, svc Service, terminal string, params json.RawMessage) (any, error) {
	a, ok := svc.(AuthenticatorService)
	if !ok {
		return nil, &protocolError{code: codeMethodNotFound, reason: reasonMethodNotFound, message: "method not found"}
	}
	var req node.AuthenticatorRequest
	if err := decodeParams(params, &req); err != nil {
		return nil, err
	}
	res, err := a.Authenticator(ctx, terminal, req)
	if err != nil {
		return nil, err
	}
	if res == nil {
		return nil, fmt.Errorf("posbridge: member.authenticator: %w", errNoResult)
	}
	return res, nil
}
