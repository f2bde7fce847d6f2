package transport_test

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"math/rand"
	"net"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/patron/patron/replication/faultnet"
	"github.com/patron/patron/replication/transport"
)

var seedFlag = flag.Int64("seed", 0, "seed of the randomized tests (default: from the clock)")

// testSeed returns the seed to use, logged so a failure can be replayed
// with -seed.
func testSeed(t *testing.T) int64 {
	seed := *seedFlag
	if seed == 0 {
		seed = time.Now().UnixNano()
	}
	t.Logf("seed %d (replay with -seed %d)", seed, seed)
	return seed
}

var (
	storeKey = bytes.Repeat([]byte{0x5a}, 32)
	otherKey = bytes.Repeat([]byte{0x33}, 32)
)

func keys(id string) ([]byte, bool) {
	switch id {
	case "S001", "S002":
		return storeKey, true
	}
	return nil, false
}

// testLink is tuned for loopback: fast handshake retransmits, an RTO fixed
// at 50 ms so loss recovers in milliseconds.
func testLink() transport.LinkConfig {
	return transport.LinkConfig{
		HandshakeTimeout:  10 * time.Second,
		FlightInterval:    50 * time.Millisecond,
		RTOMax:            50 * time.Millisecond,
		KeepaliveInterval: 500 * time.Millisecond,
		IdleTimeout:       10 * time.Second,
		CloseTimeout:      time.Second,
		Logger:            slog.New(slog.NewTextHandler(io.Discard, nil)),
	}
}

func listenUDP(t testing.TB) net.PacketConn {
	t.Helper()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	return pc
}

// checkGoroutines fails the test if goroutines started during it are still
// running once cleanup is done, polling until a deadline.
func checkGoroutines(t *testing.T) {
	t.Helper()
	base := runtime.NumGoroutine()
	t.Cleanup(func() {
		deadline := time.Now().Add(10 * time.Second)
		for {
			n := runtime.NumGoroutine()
			if n <= base {
				return
			}
			if time.Now().After(deadline) {
				buf := make([]byte, 1<<20)
				buf = buf[:runtime.Stack(buf, true)]
				t.Errorf("goroutines: %d running, %d at start\n%s", n, base, buf)
				return
			}
			runtime.Gosched()
			time.Sleep(10 * time.Millisecond) // polling interval, not a wait for an outcome
		}
	})
}

type pair struct {
	ln             *transport.Listener
	client, server *transport.Conn
	clientPC       *faultnet.PacketConn
	serverPC       *faultnet.PacketConn
}

// newPair connects a client to a server over faultnet-wrapped loopback
// sockets, registering cleanup in the right order.
func newPair(t *testing.T, seed int64, link transport.LinkConfig) *pair {
	return newBenchPair(t, link, seed)
}

func newBenchPair(t testing.TB, link transport.LinkConfig, seeds ...int64) *pair {
	t.Helper()
	var seed int64
	if len(seeds) > 0 {
		seed = seeds[0]
	}
	p := &pair{
		serverPC: faultnet.Wrap(listenUDP(t), faultnet.Config{Seed: seed}),
		clientPC: faultnet.Wrap(listenUDP(t), faultnet.Config{Seed: seed + 1}),
	}
	t.Cleanup(func() { p.serverPC.Close(); p.clientPC.Close() })
	ln, err := transport.Listen(p.serverPC, transport.ServerConfig{Identity: "HQ1", Keys: keys, Link: link})
	if err != nil {
		t.Fatal(err)
	}
	p.ln = ln
	t.Cleanup(func() { ln.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	accepted := make(chan *transport.Conn, 1)
	go func() {
		c, _ := ln.Accept(ctx) // nil on failure: checked below
		accepted <- c
	}()
	p.client, err = transport.Dial(ctx, p.clientPC, p.serverPC.LocalAddr(),
		transport.ClientConfig{Identity: "S001", Key: storeKey, ExpectPeer: "HQ1", Link: link})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.client.Close() })
	p.server = <-accepted
	if p.server == nil {
		t.Fatal("accept failed")
	}
	t.Cleanup(func() { p.server.Close() })
	if got, want := p.server.Peer(), "S001"; got != want {
		t.Errorf("server sees peer %q, want %q", got, want)
	}
	if got, want := p.client.Peer(), "HQ1"; got != want {
		t.Errorf("client sees peer %q, want %q", got, want)
	}
	return p
}

// message returns message i of a seeded sequence of mixed sizes, 0 B to
// MaxMessageBytes, with its index in the first bytes so order is checked.
func message(rng *rand.Rand, i int) []byte {
	var n int
	switch rng.Intn(4) {
	case 0:
		n = 1 + rng.Intn(16)
	case 1:
		n = 16 + rng.Intn(2000)
	case 2:
		n = 2000 + rng.Intn(20000)
	default:
		n = transport.MaxMessageBytes - rng.Intn(100)
	}
	if i == 0 {
		n = 0 // the empty message
	}
	msg := make([]byte, n)
	rng.Read(msg)
	if n >= 4 {
		copy(msg, fmt.Sprintf("%04d", i%10000))
	}
	return msg
}

// exchange sends count messages each way at once and checks that each side
// receives exactly the other's sequence, in order.
func exchange(t *testing.T, p *pair, seed int64, count int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	var wg sync.WaitGroup
	for dir, ends := range [][2]*transport.Conn{{p.client, p.server}, {p.server, p.client}} {
		from, to := ends[0], ends[1]
		wg.Go(func() {
			rng := rand.New(rand.NewSource(seed + int64(dir)))
			for i := range count {
				if err := from.Send(ctx, message(rng, i)); err != nil {
					t.Errorf("dir %d: send %d: %v", dir, i, err)
					return
				}
			}
		})
		wg.Go(func() {
			rng := rand.New(rand.NewSource(seed + int64(dir)))
			for i := range count {
				want := message(rng, i)
				got, err := to.Recv(ctx)
				if err != nil {
					t.Errorf("dir %d: recv %d: %v", dir, i, err)
					return
				}
				if !bytes.Equal(got, want) {
					t.Errorf("dir %d: message %d: got %d bytes, want %d (lost, reordered or corrupted)", dir, i, len(got), len(want))
					return
				}
			}
		})
	}
	wg.Wait()
}

func TestRoundTripMixedSizes(t *testing.T) {
	checkGoroutines(t)
	p := newPair(t, 1, testLink())
	exchange(t, p, 1, 300)
	for name, pc := range map[string]*faultnet.PacketConn{"client": p.clientPC, "server": p.serverPC} {
		if c := pc.Counters(); c.Oversize != 0 || c.MaxWritten > transport.MaxDatagramBytes {
			t.Errorf("%s wrote %d datagrams above %d bytes (largest %d)", name, c.Oversize, transport.MaxDatagramBytes, c.MaxWritten)
		}
	}
}

func TestLossDuplicationReordering(t *testing.T) {
	checkGoroutines(t)
	seed := testSeed(t)
	link := testLink()
	link.MinCwndBytes = 64 << 10
	p := newPair(t, seed, link)
	// The client's wrapper applies the faults both ways, so each direction
	// sees them once.
	faults := faultnet.Faults{Drop: 0.3, Duplicate: 0.5, Reorder: 0.2, ReorderAfter: 3, Jitter: 2 * time.Millisecond}
	if err := p.clientPC.SetFaults(faultnet.Any, faultnet.Both, faults); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	exchange(t, p, seed, 200)
	elapsed := time.Since(start)
	c := p.clientPC.Counters().Add(p.serverPC.Counters())
	t.Logf("200 messages each way in %v through %s", elapsed, c)
	for name, conn := range map[string]*transport.Conn{"client": p.client, "server": p.server} {
		ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
		if msg, err := conn.Recv(ctx); !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("%s received an extra message (%d bytes, %v): duplicated", name, len(msg), err)
		}
		cancel()
	}
	if c.Dropped == 0 || c.Duplicated == 0 || c.Reordered == 0 {
		t.Errorf("faults not injected: %s", c)
	}
	if c.Oversize != 0 {
		t.Errorf("%d datagrams above %d bytes (largest %d)", c.Oversize, transport.MaxDatagramBytes, c.MaxWritten)
	}
}

// TestHandshakeUnderLoss dials with the faults on from the first datagram.
func TestHandshakeUnderLoss(t *testing.T) {
	checkGoroutines(t)
	seed := testSeed(t)
	serverPC := faultnet.Wrap(listenUDP(t), faultnet.Config{Seed: seed})
	defer serverPC.Close()
	faults := faultnet.Faults{Drop: 0.3, Duplicate: 0.5, Reorder: 0.2}
	if err := serverPC.SetFaults(faultnet.Any, faultnet.Both, faults); err != nil {
		t.Fatal(err)
	}
	ln, err := transport.Listen(serverPC, transport.ServerConfig{Identity: "HQ1", Keys: keys, Link: testLink()})
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for i := range 3 {
		c := dialRetrying(t, ctx, serverPC.LocalAddr())
		s, err := ln.Accept(ctx)
		if err != nil {
			t.Fatalf("accept %d: %v", i, err)
		}
		if err := c.Send(ctx, []byte("hello")); err != nil {
			t.Fatal(err)
		}
		if got, err := s.Recv(ctx); err != nil || string(got) != "hello" {
			t.Fatalf("recv %d: %q, %v", i, got, err)
		}
		c.Close()
		s.Close()
	}
}

// dialRetrying dials from a fresh socket until it succeeds, as a sync
// session does: at 30% loss each way pion's SCTP gives up its INIT after 8
// retransmissions about once in 500 dials.
func dialRetrying(t *testing.T, ctx context.Context, raddr net.Addr) *transport.Conn {
	t.Helper()
	for attempt := 1; ; attempt++ {
		pc := listenUDP(t)
		t.Cleanup(func() { pc.Close() })
		c, err := transport.Dial(ctx, pc, raddr, transport.ClientConfig{Identity: "S001", Key: storeKey, Link: testLink()})
		if err == nil {
			return c
		}
		if attempt == 3 || !errors.Is(err, transport.ErrHandshake) {
			t.Fatalf("dial attempt %d: %v", attempt, err)
		}
		t.Logf("dial attempt %d: %v; dialling again", attempt, err)
	}
}
