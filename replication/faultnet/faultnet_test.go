package faultnet_test

import (
	"encoding/binary"
	"errors"
	"net"
	"os"
	"runtime"
	"slices"
	"testing"
	"time"

	"github.com/patron/patron/replication/faultnet"
)

// link returns two wrapped loopback sockets; a's faults are set by the
// test, b only receives.
func link(t *testing.T, seed int64) (a, b *faultnet.PacketConn) {
	t.Helper()
	for _, p := range []**faultnet.PacketConn{&a, &b} {
		pc, err := net.ListenPacket("udp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		*p = faultnet.Wrap(pc, faultnet.Config{Seed: seed})
		t.Cleanup(func() { (*p).Close() })
	}
	return a, b
}

func send(t *testing.T, from, to *faultnet.PacketConn, n int) {
	t.Helper()
	for i := range n {
		var buf [8]byte
		binary.BigEndian.PutUint64(buf[:], uint64(i))
		if _, err := from.WriteTo(buf[:], to.LocalAddr()); err != nil {
			t.Fatal(err)
		}
	}
}

// receive reads until quiet has passed with nothing arriving.
func receive(t *testing.T, pc *faultnet.PacketConn, quiet time.Duration) []uint64 {
	t.Helper()
	var got []uint64
	buf := make([]byte, 64)
	for {
		pc.SetReadDeadline(time.Now().Add(quiet))
		n, _, err := pc.ReadFrom(buf)
		if errors.Is(err, os.ErrDeadlineExceeded) {
			return got
		}
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, binary.BigEndian.Uint64(buf[:n]))
	}
}

func TestSameSeedSameFaults(t *testing.T) {
	f := faultnet.Faults{Drop: 0.3, Duplicate: 0.3, Reorder: 0.2}
	var runs [][]uint64
	for range 2 {
		a, b := link(t, 42)
		if err := a.SetFaults(faultnet.Any, faultnet.Outbound, f); err != nil {
			t.Fatal(err)
		}
		send(t, a, b, 200)
		runs = append(runs, receive(t, b, 200*time.Millisecond))
		c := a.Counters()
		if c.Dropped == 0 || c.Duplicated == 0 || c.Reordered == 0 {
			t.Errorf("faults not injected: %s", c)
		}
	}
	if !slices.Equal(runs[0], runs[1]) {
		t.Errorf("same seed, different deliveries:\n%v\n%v", runs[0], runs[1])
	}
	if slices.IsSorted(runs[0]) {
		t.Error("reordering did not reorder")
	}
}

func TestNoFaultsPassesEverythingInOrder(t *testing.T) {
	a, b := link(t, 1)
	send(t, a, b, 100)
	got := receive(t, b, 100*time.Millisecond)
	if len(got) != 100 || !slices.IsSorted(got) {
		t.Errorf("got %v", got)
	}
}

func TestAsymmetricPartition(t *testing.T) {
	a, b := link(t, 1)
	a.Partition(b.LocalAddr().String(), faultnet.Outbound)
	send(t, a, b, 10)
	send(t, b, a, 10)
	if got := receive(t, b, 100*time.Millisecond); len(got) != 0 {
		t.Errorf("b received %d across a partition", len(got))
	}
	if got := receive(t, a, 100*time.Millisecond); len(got) != 10 {
		t.Errorf("a received %d of 10 the other way", len(got))
	}
	if c := a.Counters(); c.Partitioned != 10 {
		t.Errorf("partitioned %d, want 10", c.Partitioned)
	}
	a.Heal(b.LocalAddr().String())
	send(t, a, b, 10)
	if got := receive(t, b, 100*time.Millisecond); len(got) != 10 {
		t.Errorf("after heal b received %d of 10", len(got))
	}
}

func TestInboundDelay(t *testing.T) {
	a, b := link(t, 1)
	const delay = 50 * time.Millisecond
	if err := b.SetFaults(faultnet.Any, faultnet.Inbound, faultnet.Faults{Delay: delay}); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	send(t, a, b, 1)
	buf := make([]byte, 8)
	if _, _, err := b.ReadFrom(buf); err != nil {
		t.Fatal(err)
	}
	if took := time.Since(start); took < delay {
		t.Errorf("delivered after %v, want at least %v", took, delay)
	}
}

func TestOversizeCounted(t *testing.T) {
	a, b := link(t, 1)
	for _, n := range []int{faultnet.MaxDatagramBytes, faultnet.MaxDatagramBytes + 1} {
		if _, err := a.WriteTo(make([]byte, n), b.LocalAddr()); err != nil {
			t.Fatal(err)
		}
	}
	if c := a.Counters(); c.Oversize != 1 || c.MaxWritten != faultnet.MaxDatagramBytes+1 {
		t.Errorf("counters %+v, want one oversize", c)
	}
}

func TestBadFaults(t *testing.T) {
	a, _ := link(t, 1)
	err := a.SetFaults(faultnet.Any, faultnet.Both, faultnet.Faults{Drop: 2, Delay: -1})
	if !errors.Is(err, faultnet.ErrBadFaults) {
		t.Errorf("got %v, want ErrBadFaults", err)
	}
}

func TestCloseStopsGoroutines(t *testing.T) {
	base := runtime.NumGoroutine()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	c := faultnet.Wrap(pc, faultnet.Config{})
	_ = c.SetFaults(faultnet.Any, faultnet.Both, faultnet.Faults{Delay: time.Hour})
	_, _ = c.WriteTo([]byte("held"), pc.LocalAddr())
	readErr := make(chan error, 1)
	go func() {
		_, _, err := c.ReadFrom(make([]byte, 8))
		readErr <- err
	}()
	c.Close()
	if err := <-readErr; !errors.Is(err, net.ErrClosed) {
		t.Errorf("read after close: %v", err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for runtime.NumGoroutine() > base {
		if time.Now().After(deadline) {
			t.Fatalf("%d goroutines, %d before", runtime.NumGoroutine(), base)
		}
		time.Sleep(5 * time.Millisecond) // polling interval
	}
}
