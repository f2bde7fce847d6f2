package transport_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/patron/patron/replication/transport"
)

func TestRekeyAfterRecords(t *testing.T) {
	checkGoroutines(t)
	link := testLink()
	link.MaxRecordsPerKey = 200
	p := newPair(t, 7, link)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	go func() { // drain, so the sender is never flow-controlled
		for {
			if _, err := p.server.Recv(ctx); err != nil {
				return
			}
		}
	}()
	msg := make([]byte, 3000) // three records each
	var sent int
	for {
		err := p.client.Send(ctx, msg)
		if errors.Is(err, transport.ErrRekey) {
			break
		}
		if err != nil {
			t.Fatalf("send %d: %v", sent, err)
		}
		sent++
		if sent > 10000 { // Send only queues; records are counted as SCTP sends them
			t.Fatal("no ErrRekey after 10000 messages of three records")
		}
	}
	if sent == 0 {
		t.Fatal("ErrRekey before any message")
	}
	waitFor(t, "client closed", func() bool { return p.client.Err() != nil })
	if err := p.client.Err(); !errors.Is(err, transport.ErrRekey) {
		t.Errorf("client closed with %v, want ErrRekey", err)
	}
	if _, err := p.client.Recv(ctx); !errors.Is(err, transport.ErrRekey) {
		t.Errorf("recv after rekey: %v, want ErrRekey", err)
	}
	waitFor(t, "server side closed", func() bool { return p.server.Err() != nil })

	// Re-keying is dialling again over the same socket.
	c, err := transport.Dial(ctx, p.clientPC, p.serverPC.LocalAddr(), transport.ClientConfig{Identity: "S001", Key: storeKey, Link: link})
	if err != nil {
		t.Fatalf("redial: %v", err)
	}
	defer c.Close()
	s, err := p.ln.Accept(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := c.Send(ctx, []byte("again")); err != nil {
		t.Fatal(err)
	}
	if got, err := s.Recv(ctx); err != nil || string(got) != "again" {
		t.Fatalf("after redial: %q, %v", got, err)
	}
}

func TestRekeyAfterAge(t *testing.T) {
	checkGoroutines(t)
	link := testLink()
	link.MaxKeyAge = 300 * time.Millisecond
	p := newPair(t, 8, link)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := p.client.Recv(ctx); !errors.Is(err, transport.ErrRekey) && !errors.Is(err, transport.ErrPeerClosed) {
		t.Errorf("recv: %v, want ErrRekey (or ErrPeerClosed if the server's timer won)", err)
	}
	if _, err := p.server.Recv(ctx); !errors.Is(err, transport.ErrRekey) && !errors.Is(err, transport.ErrPeerClosed) {
		t.Errorf("server recv: %v, want ErrRekey or ErrPeerClosed", err)
	}
}

func TestIdleTimeout(t *testing.T) {
	checkGoroutines(t)
	link := testLink()
	link.KeepaliveInterval = 100 * time.Millisecond
	link.IdleTimeout = 500 * time.Millisecond
	link.CloseTimeout = 200 * time.Millisecond
	p := newPair(t, 9, link)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	// Keepalives hold an idle link open past IdleTimeout.
	quiet, cancelQuiet := context.WithTimeout(ctx, 3*link.IdleTimeout)
	if _, err := p.client.Recv(quiet); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("idle link: %v, want it to stay open", err)
	}
	cancelQuiet()
	p.clientPC.Partition("*", 3)
	for name, c := range map[string]*transport.Conn{"client": p.client, "server": p.server} {
		if _, err := c.Recv(ctx); !errors.Is(err, transport.ErrPeerTimeout) {
			t.Errorf("%s: recv across a partition: %v, want ErrPeerTimeout", name, err)
		}
	}
}
