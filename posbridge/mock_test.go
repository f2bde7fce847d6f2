package posbridge

import (
	"context"
	"errors"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/patron/patron/engine"
	"github.com/patron/patron/node"
)

// mockService is a scripted Service: each method calls its hook if set,
// else answers a canned success.
type mockService struct {
	tokens map[string]string // token → terminal

	identify func(ctx context.Context, terminal string, req node.IdentifyRequest) (*node.Member, error)
	sale     func(ctx context.Context, terminal string, req node.SaleRequest) (*node.Receipt, error)
	evaluate func(ctx context.Context, terminal string, req node.EvaluateRequest) (*engine.Evaluation, error)

	mu     sync.Mutex // guards following
	subs   map[int]func(node.MemberChange)
	nextID int
}

func newMock() *mockService {
	return &mockService{
		tokens: map[string]string{"tok-1": "T01", "tok-2": "T02"},
		subs:   make(map[int]func(node.MemberChange)),
	}
}

var errNotScripted = errors.New("mock: not scripted")

func member(id string) *node.Member {
	return &node.Member{MemberID: id, Groups: []string{}, Cards: []node.Card{}, Consents: map[string]bool{}, Offers: []node.Offer{}}
}

func (m *mockService) Hello(ctx context.Context, terminal string) node.Hello {
	return node.Hello{Protocol: "pos/v1", Store: "S001", Terminal: terminal, Currency: "INR", MinorDigits: 2, PointValue: 25}
}

func (m *mockService) Identify(ctx context.Context, terminal string, req node.IdentifyRequest) (*node.Member, error) {
	if m.identify != nil {
		return m.identify(ctx, terminal, req)
	}
	if req.Identifier == nil || req.Identifier.Mobile == "" {
		return nil, &engine.Refusal{Reason: engine.ReasonInvalidParams, Message: "identifier is required", Field: "identifier"}
	}
	return member(req.Identifier.Mobile), nil
}

func (m *mockService) Enroll(ctx context.Context, terminal string, req node.EnrollRequest) (*node.Member, error) {
	return member(req.Mobile), nil
}

func (m *mockService) UpdateMember(ctx context.Context, terminal string, req node.UpdateRequest) (*node.Member, error) {
	return member(req.MemberID), nil
}

func (m *mockService) SetConsents(ctx context.Context, terminal string, req node.ConsentsRequest) (*node.Member, error) {
	return member(req.MemberID), nil
}

func (m *mockService) IssueCard(ctx context.Context, terminal string, req node.IssueCardRequest) (*node.Member, error) {
	return member(req.MemberID), nil
}

func (m *mockService) BlockCard(ctx context.Context, terminal string, req node.BlockCardRequest) (*node.Member, error) {
	return nil, errNotScripted
}

func (m *mockService) Evaluate(ctx context.Context, terminal string, req node.EvaluateRequest) (*engine.Evaluation, error) {
	if m.evaluate != nil {
		return m.evaluate(ctx, terminal, req)
	}
	return &engine.Evaluation{Lines: []engine.LineResult{}}, nil
}

func (m *mockService) RequestOTP(ctx context.Context, terminal string, req node.OTPRequest) (*node.OTPSent, error) {
	return nil, errNotScripted
}

func (m *mockService) CompleteSale(ctx context.Context, terminal string, req node.SaleRequest) (*node.Receipt, error) {
	if m.sale != nil {
		return m.sale(ctx, terminal, req)
	}
	return nil, errNotScripted
}

func (m *mockService) Return(ctx context.Context, terminal string, req node.ReturnRequest) (*node.ReturnReceipt, error) {
	return nil, errNotScripted
}

func (m *mockService) Void(ctx context.Context, terminal string, req node.VoidRequest) (*node.ReturnReceipt, error) {
	return nil, errNotScripted
}

func (m *mockService) Ledger(ctx context.Context, terminal string, req node.LedgerRequest) (*node.LedgerPage, error) {
	return nil, nil // a broken service: no result and no error
}

func (m *mockService) CheckCoupon(ctx context.Context, terminal string, req node.CouponCheckRequest) (*node.CouponCheck, error) {
	return nil, errNotScripted
}

func (m *mockService) Subscribe(fn func(node.MemberChange)) func() {
	m.mu.Lock()
	defer m.mu.Unlock()
	id := m.nextID
	m.nextID++
	m.subs[id] = fn
	return func() {
		m.mu.Lock()
		defer m.mu.Unlock()
		delete(m.subs, id)
	}
}

// publish delivers a change to every subscriber, as the node does.
func (m *mockService) publish(ch node.MemberChange) {
	m.mu.Lock()
	subs := make([]func(node.MemberChange), 0, len(m.subs))
	for _, fn := range m.subs {
		subs = append(subs, fn)
	}
	m.mu.Unlock()
	for _, fn := range subs {
		fn(ch)
	}
}

func (m *mockService) subscribers() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.subs)
}

func (m *mockService) AuthenticateTerminal(token string) (string, bool) {
	t, ok := m.tokens[token]
	return t, ok
}

// startServer serves svc on a loopback listener and returns the server and
// its ws:// URL; cleanup shuts it down and checks Serve's result.
func startServer(t *testing.T, svc Service, cfg Config) (*Server, string) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := New(svc, cfg)
	errc := make(chan error, 1)
	go func() { errc <- s.Serve(context.Background(), ln) }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := s.Shutdown(ctx); err != nil {
			t.Errorf("Shutdown: %v", err)
		}
		if err := <-errc; !errors.Is(err, ErrServerClosed) {
			t.Errorf("Serve returned %v, want ErrServerClosed", err)
		}
	})
	return s, "ws://" + ln.Addr().String() + Path
}

// dial connects a Client and closes it at cleanup.
func dial(t *testing.T, url, token string) *Client {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, err := Dial(ctx, url, token)
	if err != nil {
		t.Fatalf("Dial: %v", err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// eventually polls cond until it holds or the deadline passes.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// testCtx is a context bounded well inside the test timeout.
func testCtx(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	return ctx
}
