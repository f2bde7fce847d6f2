package posbridge

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/patron/patron/engine"
	"github.com/patron/patron/node"
)

func testConfig() Config {
	return Config{Logger: slog.New(slog.DiscardHandler)}
}

// rawDial opens a bare gorilla connection for frame-level tests.
func rawDial(t *testing.T, url string, h http.Header, protocols ...string) (*websocket.Conn, *http.Response, error) {
	t.Helper()
	d := websocket.Dialer{Subprotocols: protocols, HandshakeTimeout: 5 * time.Second}
	ws, resp, err := d.Dial(url, h)
	if ws != nil {
		t.Cleanup(func() { _ = ws.Close() })
	}
	return ws, resp, err
}

func bearer(token string) http.Header {
	return http.Header{"Authorization": {"Bearer " + token}}
}

// roundTrip writes one text frame and reads one frame back.
func roundTrip(t *testing.T, ws *websocket.Conn, frame string) map[string]any {
	t.Helper()
	if err := ws.WriteMessage(websocket.TextMessage, []byte(frame)); err != nil {
		t.Fatalf("write: %v", err)
	}
	return readFrame(t, ws)
}

func readFrame(t *testing.T, ws *websocket.Conn) map[string]any {
	t.Helper()
	_ = ws.SetReadDeadline(time.Now().Add(5 * time.Second))
	_, data, err := ws.ReadMessage()
	if err != nil {
		t.Fatalf("read: %v", err)
	}
	var m map[string]any
	if err := json.Unmarshal(data, &m); err != nil {
		t.Fatalf("frame %s: %v", data, err)
	}
	return m
}

func TestAuthBeforeUpgrade(t *testing.T) {
	_, url := startServer(t, newMock(), testConfig())
	tests := []struct {
		name   string
		header http.Header
		query  string
		want   int
	}{
		{"no token", nil, "", http.StatusUnauthorized},
		{"wrong header", bearer("nope"), "", http.StatusUnauthorized},
		{"wrong scheme", http.Header{"Authorization": {"Basic tok-1"}}, "", http.StatusUnauthorized},
		{"wrong query", nil, "?token=nope", http.StatusUnauthorized},
		{"bad header wins over good query", bearer("nope"), "?token=tok-1", http.StatusUnauthorized},
		{"header", bearer("tok-1"), "", http.StatusSwitchingProtocols},
		{"lower-case scheme", http.Header{"Authorization": {"bearer tok-1"}}, "", http.StatusSwitchingProtocols},
		{"query", nil, "?token=tok-2", http.StatusSwitchingProtocols},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ws, resp, err := rawDial(t, url+tt.query, tt.header, Subprotocol)
			if resp == nil {
				t.Fatalf("no response: %v", err)
			}
			if got := resp.StatusCode; got != tt.want {
				t.Fatalf("status %d, want %d", got, tt.want)
			}
			if tt.want != http.StatusUnauthorized {
				if ws == nil {
					t.Fatalf("no connection: %v", err)
				}
				return
			}
			body, _ := io.ReadAll(resp.Body)
			if len(body) != 0 {
				t.Errorf("401 body %q, want empty", body)
			}
		})
	}
}

func TestSubprotocol(t *testing.T) {
	_, url := startServer(t, newMock(), testConfig())
	tests := []struct {
		name      string
		offered   []string
		wantProto string
		wantCode  int
	}{
		{"ours", []string{Subprotocol}, Subprotocol, http.StatusSwitchingProtocols},
		{"ours among others", []string{"chat", Subprotocol}, Subprotocol, http.StatusSwitchingProtocols},
		{"none", nil, "", http.StatusSwitchingProtocols},
		{"only others", []string{"patron.pos.v2"}, "", http.StatusBadRequest},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ws, resp, err := rawDial(t, url, bearer("tok-1"), tt.offered...)
			if resp == nil {
				t.Fatalf("no response: %v", err)
			}
			if resp.StatusCode != tt.wantCode {
				t.Fatalf("status %d, want %d", resp.StatusCode, tt.wantCode)
			}
			if ws == nil {
				return
			}
			if got := ws.Subprotocol(); got != tt.wantProto {
				t.Errorf("subprotocol %q, want %q", got, tt.wantProto)
			}
			got := roundTrip(t, ws, `{"jsonrpc":"2.0","id":1,"method":"hello"}`)
			if res, _ := got["result"].(map[string]any); res["terminal"] != "T01" {
				t.Errorf("hello = %v", got)
			}
		})
	}
}

func TestPipelinedOutOfOrder(t *testing.T) {
	release := make(chan struct{})
	svc := newMock()
	svc.identify = func(ctx context.Context, _ string, req node.IdentifyRequest) (*node.Member, error) {
		if req.Identifier.Mobile == "slow" {
			select {
			case <-release:
			case <-ctx.Done():
				return nil, ctx.Err()
			}
		}
		return member(req.Identifier.Mobile), nil
	}
	_, url := startServer(t, svc, testConfig())
	ws, _, err := rawDial(t, url, bearer("tok-1"), Subprotocol)
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{
		`{"jsonrpc":"2.0","id":1,"method":"member.identify","params":{"identifier":{"mobile":"slow"}}}`,
		`{"jsonrpc":"2.0","id":"two","method":"member.identify","params":{"identifier":{"mobile":"fast"}}}`,
	} {
		if err := ws.WriteMessage(websocket.TextMessage, []byte(f)); err != nil {
			t.Fatal(err)
		}
	}
	first := readFrame(t, ws)
	close(release)
	second := readFrame(t, ws)
	check := func(got map[string]any, wantID any, wantMember string) {
		t.Helper()
		res, _ := got["result"].(map[string]any)
		if got["id"] != wantID || res["member_id"] != wantMember {
			t.Errorf("got %v, want id %v member %s", got, wantID, wantMember)
		}
	}
	check(first, "two", "fast")
	check(second, float64(1), "slow")
}

func TestClientPipelinesConcurrentCalls(t *testing.T) {
	svc := newMock()
	svc.identify = func(ctx context.Context, _ string, req node.IdentifyRequest) (*node.Member, error) {
		// Later calls answer sooner, so responses come back out of order.
		d := time.Duration(10-len(req.Identifier.Mobile)) * time.Millisecond
		select {
		case <-time.After(d):
		case <-ctx.Done():
			return nil, ctx.Err()
		}
		return member(req.Identifier.Mobile), nil
	}
	_, url := startServer(t, svc, testConfig())
	c := dial(t, url, "tok-1")
	ctx := testCtx(t)
	errc := make(chan error, 8)
	for i := 1; i <= 8; i++ {
		go func() {
			mobile := strings.Repeat("9", i)
			var m node.Member
			err := c.Call(ctx, "member.identify", node.IdentifyRequest{Identifier: &node.Identifier{Mobile: mobile}}, &m)
			if err == nil && m.MemberID != mobile {
				err = errors.New("got member " + m.MemberID + ", want " + mobile)
			}
			errc <- err
		}()
	}
	for range 8 {
		if err := <-errc; err != nil {
			t.Error(err)
		}
	}
}

func TestFrameTooLarge(t *testing.T) {
	_, url := startServer(t, newMock(), testConfig())
	ws, _, err := rawDial(t, url, bearer("tok-1"), Subprotocol)
	if err != nil {
		t.Fatal(err)
	}
	// A frame of exactly the limit is fine.
	pad := func(n int) string {
		head := `{"jsonrpc":"2.0","id":1,"method":"hello","params":{"pad":"`
		tail := `"}}`
		return head + strings.Repeat("x", n-len(head)-len(tail)) + tail
	}
	got := roundTrip(t, ws, pad(1<<20))
	if got["result"] == nil {
		t.Fatalf("1 MiB frame: %v", got)
	}
	_ = ws.WriteMessage(websocket.TextMessage, []byte(pad(1<<20+1)))
	_ = ws.SetReadDeadline(time.Now().Add(5 * time.Second))
	_, _, err = ws.ReadMessage()
	var ce *websocket.CloseError
	if !errors.As(err, &ce) || ce.Code != websocket.CloseMessageTooBig {
		t.Fatalf("read after oversized frame: %v, want close 1009", err)
	}
}

func TestProtocolErrors(t *testing.T) {
	svc := newMock()
	svc.sale = func(context.Context, string, node.SaleRequest) (*node.Receipt, error) {
		return &node.Receipt{ReceiptID: "S001-T01-1"}, nil
	}
	_, url := startServer(t, svc, testConfig())
	ws, _, err := rawDial(t, url, bearer("tok-1"), Subprotocol)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name      string
		frame     string
		wantID    any // decoded id; nil for null
		wantCode  float64
		wantRsn   string
		wantField string
	}{
		{"parse error", `{"jsonrpc":`, nil, -32700, "invalid_params", ""},
		{"trailing data", `{"jsonrpc":"2.0","id":1,"method":"hello"} x`, nil, -32700, "invalid_params", ""},
		{"batch", `[{"jsonrpc":"2.0","id":1,"method":"hello"}]`, nil, -32600, "invalid_params", ""},
		{"not an object", `42`, nil, -32600, "invalid_params", ""},
		{"wrong version", `{"jsonrpc":"1.0","id":3,"method":"hello"}`, float64(3), -32600, "invalid_params", "jsonrpc"},
		{"object id", `{"jsonrpc":"2.0","id":{"a":1},"method":"hello"}`, nil, -32600, "invalid_params", "id"},
		{"no method", `{"jsonrpc":"2.0","id":4}`, float64(4), -32600, "invalid_params", "method"},
		{"unknown method", `{"jsonrpc":"2.0","id":"x","method":"no.such"}`, "x", -32601, "method_not_found", ""},
		{"wrong param type", `{"jsonrpc":"2.0","id":7,"method":"sale.complete","params":{"receipt_no":"1","basket":{"lines":[{"line":1,"qty":"1"}]}}}`,
			float64(7), -32602, "invalid_params", "basket.lines.qty"},
		{"float money", `{"jsonrpc":"2.0","id":8,"method":"sale.complete","params":{"tenders":[{"type":"cash","amount":10.5}]}}`,
			float64(8), -32602, "invalid_params", "tenders.amount"},
		{"bad time", `{"jsonrpc":"2.0","id":9,"method":"basket.evaluate","params":{"coupons":[],"at":"yesterday"}}`,
			float64(9), -32602, "invalid_params", "at"},
		{"array params", `{"jsonrpc":"2.0","id":10,"method":"hello","params":[1]}`, float64(10), -32602, "invalid_params", "params"},
		{"service refusal", `{"jsonrpc":"2.0","id":11,"method":"member.identify","params":{}}`, float64(11), -32602, "invalid_params", "identifier"},
		{"no result", `{"jsonrpc":"2.0","id":12,"method":"member.ledger","params":{}}`, float64(12), -32603, "internal", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := roundTrip(t, ws, tt.frame)
			e, _ := got["error"].(map[string]any)
			data, _ := e["data"].(map[string]any)
			if got["id"] != tt.wantID || e["code"] != tt.wantCode || data["reason"] != tt.wantRsn {
				t.Fatalf("got %v, want id %v code %v reason %s", got, tt.wantID, tt.wantCode, tt.wantRsn)
			}
			if f, _ := data["field"].(string); f != tt.wantField {
				t.Errorf("field %q, want %q", f, tt.wantField)
			}
			if got["jsonrpc"] != "2.0" {
				t.Errorf("jsonrpc = %v", got["jsonrpc"])
			}
		})
	}

	t.Run("binary frame", func(t *testing.T) {
		if err := ws.WriteMessage(websocket.BinaryMessage, []byte(`{}`)); err != nil {
			t.Fatal(err)
		}
		got := readFrame(t, ws)
		if e, _ := got["error"].(map[string]any); e["code"] != float64(-32600) {
			t.Fatalf("got %v", got)
		}
	})
	t.Run("notification ignored, unknown fields and null params allowed", func(t *testing.T) {
		for _, f := range []string{
			`{"jsonrpc":"2.0","method":"hello"}`,
			`{"jsonrpc":"2.0","method":"no.such"}`,
		} {
			if err := ws.WriteMessage(websocket.TextMessage, []byte(f)); err != nil {
				t.Fatal(err)
			}
		}
		got := roundTrip(t, ws, `{"jsonrpc":"2.0","id":20,"method":"member.identify","params":{"identifier":{"mobile":"+911"},"future_field":{"x":1}},"extension":true}`)
		if got["id"] != float64(20) || got["result"] == nil {
			t.Fatalf("got %v, want the result of id 20", got)
		}
		got = roundTrip(t, ws, `{"jsonrpc":"2.0","id":21,"method":"hello","params":null}`)
		if got["id"] != float64(21) || got["result"] == nil {
			t.Fatalf("got %v, want the result of id 21", got)
		}
	})
}

func TestRefusalOverTheWire(t *testing.T) {
	svc := newMock()
	svc.sale = func(context.Context, string, node.SaleRequest) (*node.Receipt, error) {
		return nil, errors.Join(errors.New("while pricing"), &engine.Refusal{
			Reason: "evaluation_changed", Message: "the totals changed",
			Details: map[string]any{"evaluation": &engine.Evaluation{Totals: engine.Totals{Net: 86500}}},
		})
	}
	_, url := startServer(t, svc, testConfig())
	c := dial(t, url, "tok-1")
	err := c.Call(testCtx(t), "sale.complete", node.SaleRequest{ReceiptNo: "1"}, nil)
	var re *RPCError
	if !errors.As(err, &re) {
		t.Fatalf("err %v, want *RPCError", err)
	}
	if re.Code != -32031 || re.Reason() != "evaluation_changed" || re.Message != "the totals changed" {
		t.Fatalf("got %+v", re)
	}
	ev, _ := re.Data["evaluation"].(map[string]any)
	totals, _ := ev["totals"].(map[string]any)
	if totals["net"] != float64(86500) {
		t.Errorf("data.evaluation = %v", re.Data["evaluation"])
	}
}

func TestMemberChangedGoesToWatchingTerminals(t *testing.T) {
	svc := newMock()
	now := time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC)
	clock := make(chan time.Time, 1)
	clock <- now
	cfg := testConfig()
	cfg.Now = func() time.Time { t := <-clock; clock <- t; return t }
	advance := func(d time.Duration) { clock <- (<-clock).Add(d) }
	_, url := startServer(t, svc, cfg)
	c1, c2 := dial(t, url, "tok-1"), dial(t, url, "tok-2")
	ctx := testCtx(t)
	identify := func(c *Client, mobile string) {
		t.Helper()
		if err := c.Call(ctx, "member.identify", node.IdentifyRequest{Identifier: &node.Identifier{Mobile: mobile}}, nil); err != nil {
			t.Fatal(err)
		}
	}
	next := func(c *Client) string {
		t.Helper()
		select {
		case n := <-c.Notifications():
			var p struct {
				Member node.Member `json:"member"`
			}
			if n.Method != "member.changed" || json.Unmarshal(n.Params, &p) != nil {
				t.Fatalf("notification %s %s", n.Method, n.Params)
			}
			return p.Member.MemberID
		case <-ctx.Done():
			t.Fatal("no notification")
		}
		return ""
	}
	change := func(id string) { svc.publish(node.MemberChange{Member: *member(id)}) }

	identify(c1, "+91A")
	identify(c2, "+91B")
	change("+91A")
	change("+91B")
	if got := next(c1); got != "+91A" {
		t.Errorf("T01 got %s, want +91A", got)
	}
	if got := next(c2); got != "+91B" {
		t.Errorf("T02 got %s first, want +91B (it never identified +91A)", got)
	}

	// A sale for a member watches it too.
	svc.sale = func(_ context.Context, _ string, req node.SaleRequest) (*node.Receipt, error) {
		return &node.Receipt{ReceiptID: "S001-T02-" + req.ReceiptNo, MemberID: req.Member.Mobile}, nil
	}
	if err := c2.Call(ctx, "sale.complete", node.SaleRequest{ReceiptNo: "9", Member: &node.Identifier{Mobile: "+91D"}}, nil); err != nil {
		t.Fatal(err)
	}
	change("+91D")
	if got := next(c2); got != "+91D" {
		t.Errorf("T02 got %s, want +91D", got)
	}

	// After WatchFor the member is forgotten.
	advance(10*time.Minute + time.Second)
	identify(c1, "+91C")
	change("+91A")
	change("+91C")
	if got := next(c1); got != "+91C" {
		t.Errorf("T01 got %s, want +91C (+91A expired)", got)
	}
}

func TestWatchIsBounded(t *testing.T) {
	cfg := testConfig().withDefaults()
	cfg.MaxWatched = 3
	s := &Server{cfg: cfg}
	c := &conn{srv: s, cfg: cfg, watched: map[string]time.Time{}}
	base := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for i, id := range []string{"a", "b", "c", "d"} {
		now := base.Add(time.Duration(i) * time.Second)
		c.cfg.Now = func() time.Time { return now }
		c.watch(id)
	}
	at := base.Add(time.Minute)
	for id, want := range map[string]bool{"a": false, "b": true, "c": true, "d": true} {
		if got := c.watching(id, at); got != want {
			t.Errorf("watching(%s) = %v, want %v", id, got, want)
		}
	}
	if len(c.watched) > cfg.MaxWatched {
		t.Errorf("%d watched, limit %d", len(c.watched), cfg.MaxWatched)
	}
}

func TestShutdownFinishesInFlight(t *testing.T) {
	entered, release := make(chan struct{}), make(chan struct{})
	svc := newMock()
	svc.identify = func(ctx context.Context, _ string, req node.IdentifyRequest) (*node.Member, error) {
		close(entered)
		<-release
		return member(req.Identifier.Mobile), nil
	}
	s, url := startServer(t, svc, testConfig())
	c := dial(t, url, "tok-1")
	ctx := testCtx(t)

	type result struct {
		m   node.Member
		err error
	}
	callDone := make(chan result, 1)
	go func() {
		var r result
		r.err = c.Call(ctx, "member.identify", node.IdentifyRequest{Identifier: &node.Identifier{Mobile: "+91S"}}, &r.m)
		callDone <- r
	}()
	<-entered
	shutDone := make(chan error, 1)
	go func() { shutDone <- s.Shutdown(ctx) }()

	// New terminals are turned away while the old request runs.
	eventually(t, "the listener to close", func() bool {
		ws, _, err := rawDial(t, url, bearer("tok-2"), Subprotocol)
		return ws == nil && err != nil
	})
	select {
	case err := <-shutDone:
		t.Fatalf("Shutdown returned %v with a request in flight", err)
	default:
	}
	close(release)
	r := <-callDone
	if r.err != nil || r.m.MemberID != "+91S" {
		t.Fatalf("in-flight call: %+v", r)
	}
	if err := <-shutDone; err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	for range c.Notifications() { // closed when the reader ends
	}
	var ce *websocket.CloseError
	if err := c.Err(); !errors.As(err, &ce) || ce.Code != websocket.CloseGoingAway {
		t.Errorf("client ended with %v, want close 1001", err)
	}
	if n := svc.subscribers(); n != 0 {
		t.Errorf("%d subscriptions left after Shutdown", n)
	}
}

func TestShutdownDeadlineForcesClose(t *testing.T) {
	svc := newMock()
	entered := make(chan struct{})
	svc.identify = func(ctx context.Context, _ string, req node.IdentifyRequest) (*node.Member, error) {
		close(entered)
		<-ctx.Done()
		return nil, ctx.Err()
	}
	s, url := startServer(t, svc, testConfig())
	c := dial(t, url, "tok-1")
	callDone := make(chan error, 1)
	go func() {
		callDone <- c.Call(context.Background(), "member.identify", node.IdentifyRequest{Identifier: &node.Identifier{Mobile: "x"}}, nil)
	}()
	<-entered
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if err := s.Shutdown(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Shutdown = %v, want deadline exceeded", err)
	}
	eventually(t, "the forced connection to go", func() bool { return s.numConns() == 0 })
	if err := <-callDone; !errors.Is(err, ErrClientClosed) {
		t.Errorf("call on a forced connection: %v, want ErrClientClosed", err)
	}
}

func TestSlowClientDroppedWithoutBlockingOthers(t *testing.T) {
	svc := newMock()
	cfg := testConfig()
	cfg.SendQueue = 4
	cfg.WriteTimeout = 30 * time.Second // the queue, not the write deadline, must drop it
	s, url := startServer(t, svc, cfg)

	slow, _, err := rawDial(t, url, bearer("tok-1"), Subprotocol)
	if err != nil {
		t.Fatal(err)
	}
	got := roundTrip(t, slow, `{"jsonrpc":"2.0","id":1,"method":"member.identify","params":{"identifier":{"mobile":"+91SLOW"}}}`)
	if got["result"] == nil {
		t.Fatalf("identify: %v", got)
	}
	fast := dial(t, url, "tok-2")
	ctx := testCtx(t)

	// The slow till stops reading; big notifications fill its socket and
	// then its queue. Publishing must never wait on it.
	big := *member("+91SLOW")
	big.Groups = []string{strings.Repeat("g", 256<<10)}
	for i := 0; s.numConns() == 2; i++ {
		if i == 2000 {
			t.Fatal("the slow till was never dropped")
		}
		start := time.Now()
		svc.publish(node.MemberChange{Member: big})
		if d := time.Since(start); d > time.Second {
			t.Fatalf("publish blocked for %v", d)
		}
		if i%16 == 0 {
			if err := fast.Call(ctx, "hello", nil, nil); err != nil {
				t.Fatalf("fast till: %v", err)
			}
		}
	}
	var h node.Hello
	if err := fast.Call(ctx, "hello", nil, &h); err != nil || h.Terminal != "T02" {
		t.Fatalf("fast till after the drop: %v %+v", err, h)
	}
}

func TestPingPongKeepsAlive(t *testing.T) {
	cfg := testConfig()
	cfg.PingInterval = 50 * time.Millisecond // loose enough for a loaded -race run
	cfg.MaxMissedPongs = 2
	s, url := startServer(t, newMock(), cfg)

	// A till that reads answers pings (gorilla does it while reading).
	alive, _, err := rawDial(t, url, bearer("tok-1"), Subprotocol)
	if err != nil {
		t.Fatal(err)
	}
	pings := make(chan struct{}, 100)
	alive.SetPingHandler(func(data string) error {
		select {
		case pings <- struct{}{}:
		default:
		}
		return alive.WriteControl(websocket.PongMessage, []byte(data), time.Now().Add(time.Second))
	})
	frames := make(chan []byte, 1)
	readerDone := make(chan error, 1)
	go func() {
		for {
			_, data, err := alive.ReadMessage()
			if err != nil {
				readerDone <- err
				return
			}
			frames <- data
		}
	}()
	t.Cleanup(func() { _ = alive.Close(); <-readerDone })

	// A till that never reads never pongs.
	silent, _, err := rawDial(t, url, bearer("tok-2"), Subprotocol)
	if err != nil {
		t.Fatal(err)
	}
	_ = silent

	// Eight pings span more than twice the silence allowance (150 ms).
	for range 8 {
		select {
		case <-pings:
		case <-time.After(5 * time.Second):
			t.Fatal("no ping")
		}
	}
	eventually(t, "the silent till to be dropped", func() bool { return s.numConns() == 1 })
	if err := alive.WriteMessage(websocket.TextMessage, []byte(`{"jsonrpc":"2.0","id":1,"method":"hello"}`)); err != nil {
		t.Fatal(err)
	}
	select {
	case data := <-frames:
		if !strings.Contains(string(data), `"result"`) {
			t.Fatalf("hello after idling: %s", data)
		}
	case err := <-readerDone:
		t.Fatalf("the answering till was dropped: %v", err)
	}
}

func TestBackpressureBoundsInFlight(t *testing.T) {
	svc := newMock()
	var running, peak int
	var mu = make(chan struct{}, 1)
	release := make(chan struct{})
	svc.identify = func(ctx context.Context, _ string, req node.IdentifyRequest) (*node.Member, error) {
		mu <- struct{}{}
		running++
		peak = max(peak, running)
		<-mu
		<-release
		mu <- struct{}{}
		running--
		<-mu
		return member(req.Identifier.Mobile), nil
	}
	cfg := testConfig()
	cfg.MaxInFlight = 2
	_, url := startServer(t, svc, cfg)
	c := dial(t, url, "tok-1")
	ctx := testCtx(t)
	errc := make(chan error, 6)
	for range 6 {
		go func() {
			errc <- c.Call(ctx, "member.identify", node.IdentifyRequest{Identifier: &node.Identifier{Mobile: "m"}}, nil)
		}()
	}
	eventually(t, "two requests running", func() bool {
		mu <- struct{}{}
		defer func() { <-mu }()
		return running == 2
	})
	close(release)
	for range 6 {
		if err := <-errc; err != nil {
			t.Fatal(err)
		}
	}
	if peak != 2 {
		t.Errorf("peak in flight %d, want 2", peak)
	}
}

func TestConfigValidateReportsEveryProblem(t *testing.T) {
	cfg := Config{SendQueue: -1, MaxInFlight: -2, PingInterval: -time.Second}
	err := cfg.Validate()
	if err == nil {
		t.Fatal("no error")
	}
	for _, name := range []string{"SendQueue", "MaxInFlight", "PingInterval"} {
		if !strings.Contains(err.Error(), name) {
			t.Errorf("error %q does not name %s", err, name)
		}
	}
	if err := (Config{}).Validate(); err != nil {
		t.Errorf("zero Config: %v", err)
	}
	if err := DefaultConfig().Validate(); err != nil {
		t.Errorf("DefaultConfig: %v", err)
	}
}
