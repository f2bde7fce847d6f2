package transport_test

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/patron/patron/replication/transport"
)

// syncBuffer is a log destination safe for concurrent writers.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func TestRefusedWhileGoodClientConnects(t *testing.T) {
	checkGoroutines(t)
	var logs syncBuffer
	link := testLink()
	link.HandshakeTimeout = 2 * time.Second
	link.Logger = slog.New(slog.NewTextHandler(&logs, nil))
	serverPC := listenUDP(t)
	defer serverPC.Close()
	ln, err := transport.Listen(serverPC, transport.ServerConfig{Identity: "HQ1", Keys: keys, Link: link})
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()

	clients := []struct {
		name    string
		cfg     transport.ClientConfig
		wantErr bool
	}{
		{"wrong key", transport.ClientConfig{Identity: "S001", Key: otherKey}, true},
		{"unknown identity", transport.ClientConfig{Identity: "S999", Key: storeKey}, true},
		{"good", transport.ClientConfig{Identity: "S002", Key: storeKey}, false},
	}
	var wg sync.WaitGroup
	for _, c := range clients {
		wg.Go(func() {
			pc := listenUDP(t)
			defer pc.Close()
			c.cfg.Link = testLink()
			c.cfg.Link.HandshakeTimeout = 3 * time.Second
			conn, err := transport.Dial(ctx, pc, serverPC.LocalAddr(), c.cfg)
			if c.wantErr {
				if !errors.Is(err, transport.ErrHandshake) {
					t.Errorf("%s: dial: %v, want ErrHandshake", c.name, err)
				}
				if conn != nil {
					conn.Close()
				}
				return
			}
			if err != nil {
				t.Errorf("%s: dial: %v", c.name, err)
				return
			}
			defer conn.Close()
			s, err := ln.Accept(ctx)
			if err != nil {
				t.Errorf("%s: accept: %v", c.name, err)
				return
			}
			if s.Peer() != "S002" {
				t.Errorf("accepted %q, want S002", s.Peer())
			}
			if err := conn.Send(ctx, []byte("ok")); err != nil {
				t.Error(err)
			}
			if got, err := s.Recv(ctx); err != nil || string(got) != "ok" {
				t.Errorf("recv %q, %v", got, err)
			}
		})
	}
	wg.Wait()
	// The server notices the wrong key only when its handshake times out.
	waitFor(t, "refusals counted", func() bool { return ln.Stats().Refused() == 2 })
	st := ln.Stats()
	if st.Accepted != 1 || st.UnknownIdentity != 1 || st.Failed != 1 {
		t.Errorf("stats %+v, want 1 accepted, 1 unknown identity, 1 failed", st)
	}
	for _, want := range []string{"identity=S999 reason=unknown_identity", "identity=S001 reason=failed"} {
		if !strings.Contains(logs.String(), want) {
			t.Errorf("log lacks %q:\n%s", want, logs.String())
		}
	}
	select {
	case c := <-acceptNow(ln):
		t.Errorf("refused client was accepted: %q", c.Peer())
	default:
	}
}

func acceptNow(ln *transport.Listener) <-chan *transport.Conn {
	ch := make(chan *transport.Conn, 1)
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if c, err := ln.Accept(ctx); err == nil {
		ch <- c
	}
	return ch
}

// firstOnly passes the first datagram written and drops the rest: a peer
// that sends one ClientHello and then goes silent.
type firstOnly struct {
	net.PacketConn
	once sync.Once
	sent chan struct{}
}

func (f *firstOnly) WriteTo(p []byte, addr net.Addr) (int, error) {
	passed := false
	f.once.Do(func() {
		passed = true
		_, _ = f.PacketConn.WriteTo(p, addr)
		close(f.sent)
	})
	if !passed {
		return len(p), nil
	}
	return len(p), nil
}

func TestSlowHandshakeDoesNotBlockOthers(t *testing.T) {
	checkGoroutines(t)
	link := testLink()
	link.HandshakeTimeout = 3 * time.Second
	serverPC := listenUDP(t)
	defer serverPC.Close()
	ln, err := transport.Listen(serverPC, transport.ServerConfig{Identity: "HQ1", Keys: keys, Link: link})
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()

	slow := &firstOnly{PacketConn: listenUDP(t), sent: make(chan struct{})}
	defer slow.Close()
	slowDone := make(chan error, 1)
	go func() {
		cfg := transport.ClientConfig{Identity: "S001", Key: storeKey, Link: testLink()}
		cfg.Link.HandshakeTimeout = 2 * time.Second
		_, err := transport.Dial(ctx, slow, serverPC.LocalAddr(), cfg)
		slowDone <- err
	}()
	<-slow.sent

	start := time.Now()
	pc := listenUDP(t)
	defer pc.Close()
	c, err := transport.Dial(ctx, pc, serverPC.LocalAddr(), transport.ClientConfig{Identity: "S002", Key: storeKey, Link: testLink()})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	s, err := ln.Accept(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if took := time.Since(start); took > 2*time.Second {
		t.Errorf("good client took %v behind a silent one", took)
	}
	if s.Peer() != "S002" {
		t.Errorf("accepted %q, want S002", s.Peer())
	}
	if err := <-slowDone; !errors.Is(err, transport.ErrHandshake) {
		t.Errorf("silent client: %v, want ErrHandshake", err)
	}
	waitFor(t, "silent handshake counted", func() bool { return ln.Stats().Incomplete+ln.Stats().Failed == 1 })
}

// waitFor polls cond until it holds or a deadline passes.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond) // polling interval
	}
}
