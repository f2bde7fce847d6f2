package posbridge

import (
	"context"
	"errors"
	"testing"

	"github.com/patron/patron/engine"
	"github.com/patron/patron/node"
)

// authMock is a mockService that also serves member.authenticator.
type authMock struct {
	*mockService
	got []node.AuthenticatorRequest
}

func (m *authMock) Authenticator(_ context.Context, terminal string, req node.AuthenticatorRequest) (*node.AuthenticatorAnswer, error) {
	m.got = append(m.got, req)
	if req.Action == "pause" {
		return nil, errors.Join(errors.New("checking"),
			&engine.Refusal{Reason: engine.ReasonInvalidParams, Message: "no such action", Field: "action"})
	}
	return &node.AuthenticatorAnswer{MemberID: req.MemberID, Status: node.AuthenticatorActive}, nil
}

// TestAuthenticatorMethod: member.authenticator decodes its params and
// answers through a service that has it; a service without it answers
// method_not_found, as an older node would.
func TestAuthenticatorMethod(t *testing.T) {
	svc := &authMock{mockService: newMock()}
	_, url := startServer(t, svc, testConfig())
	c := dial(t, url, "tok-1")
	var ans node.AuthenticatorAnswer
	err := c.Call(testCtx(t), "member.authenticator", map[string]any{"member_id": "+919876543210", "action": "confirm",
		"code": "123456", "sms_otp": "654321"}, &ans)
	if err != nil || ans.Status != node.AuthenticatorActive || ans.MemberID != "+919876543210" {
		t.Fatalf("answer %+v, %v", ans, err)
	}
	want := node.AuthenticatorRequest{MemberID: "+919876543210", Action: "confirm", Code: "123456", SMSOTP: "654321"}
	if len(svc.got) != 1 || svc.got[0] != want {
		t.Fatalf("service got %+v, want %+v", svc.got, want)
	}
	var re *RPCError
	if err := c.Call(testCtx(t), "member.authenticator", map[string]any{"member_id": 7}, nil); !errors.As(err, &re) ||
		re.Reason() != "invalid_params" || re.Field() != "member_id" {
		t.Fatalf("bad params: %v", err)
	}
	if err := c.Call(testCtx(t), "member.authenticator", map[string]any{"member_id": "x", "action": "pause"}, nil); !errors.As(err, &re) ||
		re.Reason() != "invalid_params" || re.Field() != "action" {
		t.Fatalf("refusal: %v", err)
	}

	_, plain := startServer(t, newMock(), testConfig())
	err = dial(t, plain, "tok-1").Call(testCtx(t), "member.authenticator", map[string]any{"member_id": "x"}, nil)
	if !errors.As(err, &re) || re.Code != codeMethodNotFound || re.Reason() != reasonMethodNotFound {
		t.Fatalf("without the extension: %v", err)
	}
}
