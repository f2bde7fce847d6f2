package faultnet

import (
	"container/heap"
	"errors"
	"fmt"
	"math/rand"
	"net"
	"os"
	"sync"
	"time"
)

// MaxDatagramBytes is the largest datagram a Patron link may send: 1,200
// bytes fits every path MTU seen in practice (IPv6 minimum 1,280 less
// headers), so no datagram is ever fragmented by IP. Larger ones are still
// passed on but counted as Oversize.
const MaxDatagramBytes = 1200

// MaxQueuedDatagrams bounds both the datagrams waiting to be read and those
// waiting in the delay queue, like a socket buffer: beyond it datagrams are
// dropped and counted as Overflowed, so a stalled reader cannot grow memory
// without limit.
const MaxQueuedDatagrams = 4096

// ReorderMaxHold is the longest a datagram held for reordering waits for
// later ones: after it the datagram goes out anyway, so an idle link delays
// it rather than losing it.
const ReorderMaxHold = 50 * time.Millisecond

// maxReadBytes is the read buffer: the largest UDP payload, so the wrapper
// never truncates what the code under test would have received.
const maxReadBytes = 65535

// Any is the peer key of SetFaults that applies to every peer without faults
// of its own.
const Any = "*"

// Dir selects the direction of traffic faults apply to.
type Dir uint8

const (
	// Outbound is what this conn writes (WriteTo).
	Outbound Dir = 1 << iota
	// Inbound is what this conn reads (ReadFrom).
	Inbound
	// Both is Outbound and Inbound.
	Both = Outbound | Inbound
)

// ErrBadFaults is returned by SetFaults for a Faults value out of range.
var ErrBadFaults = errors.New("faultnet: bad faults")

// Faults are the faults applied to one peer in one direction. The zero value
// passes every datagram unchanged.
type Faults struct {
	// Drop is the probability in [0, 1] that a datagram is lost.
	Drop float64
	// Duplicate is the probability in [0, 1] that a datagram is delivered
	// twice.
	Duplicate float64
	// Delay is added to every datagram; zero delivers at once.
	Delay time.Duration
	// Jitter adds a uniform random delay in [0, Jitter) on top of Delay.
	Jitter time.Duration
	// Reorder is the probability in [0, 1] that a datagram is held back and
	// released after ReorderAfter later ones (or ReorderMaxHold).
	Reorder float64
	// ReorderAfter is how many later datagrams in the same direction
	// overtake a held one; zero means 1.
	ReorderAfter int
	// Partition drops every datagram (counted as Partitioned, not Dropped).
	Partition bool
}

func (f Faults) validate() error {
	var errs []error
	probs := []struct {
		name string
		p    float64
	}{{"Drop", f.Drop}, {"Duplicate", f.Duplicate}, {"Reorder", f.Reorder}}
	for _, pr := range probs {
		if pr.p < 0 || pr.p > 1 {
			errs = append(errs, fmt.Errorf("%w: %s = %v, want [0, 1]", ErrBadFaults, pr.name, pr.p))
		}
	}
	if f.Delay < 0 || f.Jitter < 0 || f.ReorderAfter < 0 {
		errs = append(errs, fmt.Errorf("%w: negative Delay, Jitter or ReorderAfter", ErrBadFaults))
	}
	return errors.Join(errs...)
}

// Counters count datagrams by what happened to them.
type Counters struct {
	Written     uint64 // datagrams passed to WriteTo
	Read        uint64 // datagrams returned by ReadFrom
	Dropped     uint64 // lost to Faults.Drop
	Duplicated  uint64 // extra copies made
	Delayed     uint64 // delivered later through the delay queue
	Reordered   uint64 // held back for later ones to overtake
	Partitioned uint64 // lost to a partition
	Overflowed  uint64 // lost because a queue was full
	Oversize    uint64 // written with more than MaxDatagramBytes
	MaxWritten  int    // largest datagram written, in bytes
}

// Add returns the sum of c and o (MaxWritten is the larger).
func (c Counters) Add(o Counters) Counters {
	c.Written += o.Written
	c.Read += o.Read
	c.Dropped += o.Dropped
	c.Duplicated += o.Duplicated
	c.Delayed += o.Delayed
	c.Reordered += o.Reordered
	c.Partitioned += o.Partitioned
	c.Overflowed += o.Overflowed
	c.Oversize += o.Oversize
	c.MaxWritten = max(c.MaxWritten, o.MaxWritten)
	return c
}

// String is the faults part of a one-line summary.
func (c Counters) String() string {
	return fmt.Sprintf("dropped=%d duplicated=%d delayed=%d reordered=%d partitioned=%d overflowed=%d oversize=%d max_datagram=%d",
		c.Dropped, c.Duplicated, c.Delayed, c.Reordered, c.Partitioned, c.Overflowed, c.Oversize, c.MaxWritten)
}

// Config configures a PacketConn. The zero value is valid.
type Config struct {
	// Seed seeds the fault decisions; the same seed and the same sequence
	// of calls inject the same faults.
	Seed int64
}

// PacketConn is a net.PacketConn that injects Faults. It is safe for
// concurrent use.
type PacketConn struct {
	pc       net.PacketConn
	inbound  chan datagram // ready for ReadFrom
	wake     chan struct{} // capacity one: the queue head changed
	done     chan struct{} // closed by Close
	readDone chan struct{} // closed when the reader stops; readErr set
	wg       sync.WaitGroup
	once     sync.Once

	mu              sync.Mutex // guards following
	rng             *rand.Rand
	faults          map[string]*[2]Faults // peer → [outbound, inbound]
	queue           timerQueue
	held            [2][]*datagram
	counters        Counters
	readErr         error
	readDeadline    time.Time
	deadlineChanged chan struct{} // closed and replaced by SetReadDeadline
	seq             uint64
}

type datagram struct {
	payload   []byte
	addr      net.Addr
	dir       int // 0 outbound, 1 inbound
	at        time.Time
	seq       uint64
	remaining int  // later datagrams still to overtake a held one
	released  bool // a held datagram already went out
}

// Wrap returns a PacketConn over pc that owns it.
func Wrap(pc net.PacketConn, cfg Config) *PacketConn {
	c := &PacketConn{
		pc:              pc,
		inbound:         make(chan datagram, MaxQueuedDatagrams),
		wake:            make(chan struct{}, 1),
		done:            make(chan struct{}),
		readDone:        make(chan struct{}),
		rng:             rand.New(rand.NewSource(cfg.Seed)),
		faults:          make(map[string]*[2]Faults),
		deadlineChanged: make(chan struct{}),
	}
	c.wg.Add(2)
	go c.readLoop()
	go c.scheduleLoop()
	return c
}

// SetFaults sets the faults for peer (an address as net.Addr.String()
// prints it, or Any) in the directions of dir, replacing earlier ones.
func (c *PacketConn) SetFaults(peer string, dir Dir, f Faults) error {
	if err := f.validate(); err != nil {
		return err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	fs := c.faults[peer]
	if fs == nil {
		fs = new([2]Faults)
		c.faults[peer] = fs
	}
	if dir&Outbound != 0 {
		fs[0] = f
	}
	if dir&Inbound != 0 {
		fs[1] = f
	}
	return nil
}

// Partition drops everything to (Outbound), from (Inbound) or both ways
// with peer, keeping no other faults for it.
func (c *PacketConn) Partition(peer string, dir Dir) {
	_ = c.SetFaults(peer, dir, Faults{Partition: true}) // always valid
}

// Heal removes every fault set for peer.
func (c *PacketConn) Heal(peer string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.faults, peer)
}

// Counters returns what has been injected so far.
func (c *PacketConn) Counters() Counters {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.counters
}

// WriteTo sends p to addr through the outbound faults. Like UDP, a
// datagram lost to a fault still reports success.
func (c *PacketConn) WriteTo(p []byte, addr net.Addr) (int, error) {
	select {
	case <-c.done:
		return 0, net.ErrClosed
	default:
	}
	c.mu.Lock()
	c.counters.Written++
	c.counters.MaxWritten = max(c.counters.MaxWritten, len(p))
	if len(p) > MaxDatagramBytes {
		c.counters.Oversize++
	}
	now := c.decideLocked(0, p, addr, time.Now())
	c.mu.Unlock()
	for _, d := range now {
		if _, err := c.pc.WriteTo(d.payload, d.addr); err != nil {
			return 0, err
		}
	}
	return len(p), nil
}

// ReadFrom returns the next datagram that passed the inbound faults.
func (c *PacketConn) ReadFrom(p []byte) (int, net.Addr, error) {
	for {
		c.mu.Lock()
		deadline, changed := c.readDeadline, c.deadlineChanged
		c.mu.Unlock()
		n, addr, again, err := c.readOnce(p, deadline, changed)
		if !again {
			return n, addr, err
		}
	}
}

// readOnce waits for one datagram until deadline; again reports that the
// deadline changed meanwhile.
func (c *PacketConn) readOnce(p []byte, deadline time.Time, changed <-chan struct{}) (n int, addr net.Addr, again bool, err error) {
	var expired <-chan time.Time
	if !deadline.IsZero() {
		wait := time.Until(deadline)
		if wait <= 0 {
			return 0, nil, false, os.ErrDeadlineExceeded
		}
		t := time.NewTimer(wait)
		defer t.Stop()
		expired = t.C
	}
	select {
	case d := <-c.inbound:
		c.mu.Lock()
		c.counters.Read++
		c.mu.Unlock()
		return copy(p, d.payload), d.addr, false, nil
	case <-expired:
		return 0, nil, false, os.ErrDeadlineExceeded
	case <-changed:
		return 0, nil, true, nil
	case <-c.done:
		return 0, nil, false, net.ErrClosed
	case <-c.readDone:
		c.mu.Lock()
		err := c.readErr
		c.mu.Unlock()
		return 0, nil, false, err
	}
}

// Close closes the wrapped conn and stops the wrapper's goroutines.
func (c *PacketConn) Close() error {
	err := net.ErrClosed
	c.once.Do(func() {
		close(c.done)
		err = c.pc.Close()
		c.wg.Wait()
	})
	return err
}

// LocalAddr returns the wrapped conn's address.
func (c *PacketConn) LocalAddr() net.Addr { return c.pc.LocalAddr() }

// SetDeadline sets the read and write deadlines.
func (c *PacketConn) SetDeadline(t time.Time) error {
	if err := c.SetReadDeadline(t); err != nil {
		return err
	}
	return c.SetWriteDeadline(t)
}

// SetReadDeadline sets the deadline of ReadFrom, pending calls included.
func (c *PacketConn) SetReadDeadline(t time.Time) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.readDeadline = t
	close(c.deadlineChanged)
	c.deadlineChanged = make(chan struct{})
	return nil
}

// SetWriteDeadline sets the wrapped conn's write deadline.
func (c *PacketConn) SetWriteDeadline(t time.Time) error { return c.pc.SetWriteDeadline(t) }

// decideLocked applies the faults of direction dir to one datagram and
// returns the datagrams to deliver now; delayed and held ones go to the
// queue.
func (c *PacketConn) decideLocked(dir int, p []byte, addr net.Addr, now time.Time) []datagram {
	f := c.faultsLocked(addr, dir)
	if f.Partition {
		c.counters.Partitioned++
		return nil
	}
	if f.Drop > 0 && c.rng.Float64() < f.Drop {
		c.counters.Dropped++
		return nil
	}
	copies := 1
	if f.Duplicate > 0 && c.rng.Float64() < f.Duplicate {
		copies = 2
		c.counters.Duplicated++
	}
	var out []datagram
	for range copies {
		// Every later datagram brings held ones closer to release; they go
		// out right after it.
		released := c.overtakeLocked(dir)
		d := &datagram{payload: append([]byte(nil), p...), addr: addr, dir: dir}
		delay := f.Delay
		if f.Jitter > 0 {
			delay += time.Duration(c.rng.Int63n(int64(f.Jitter)))
		}
		switch {
		case f.Reorder > 0 && c.rng.Float64() < f.Reorder:
			c.counters.Reordered++
			d.remaining = max(f.ReorderAfter, 1)
			c.held[dir] = append(c.held[dir], d)
			c.enqueueLocked(d, now.Add(delay+ReorderMaxHold))
		case delay > 0:
			c.counters.Delayed++
			c.enqueueLocked(d, now.Add(delay))
		default:
			out = append(out, *d)
		}
		out = append(out, released...)
	}
	return out
}

// overtakeLocked counts one later datagram against every held one of dir
// and returns those now released, to go out after it.
func (c *PacketConn) overtakeLocked(dir int) []datagram {
	var out []datagram
	kept := c.held[dir][:0]
	for _, d := range c.held[dir] {
		d.remaining--
		if d.remaining <= 0 && !d.released {
			d.released = true
			out = append(out, *d)
			continue
		}
		if !d.released {
			kept = append(kept, d)
		}
	}
	clear(c.held[dir][len(kept):])
	c.held[dir] = kept
	return out
}

func (c *PacketConn) faultsLocked(addr net.Addr, dir int) Faults {
	if fs, ok := c.faults[addr.String()]; ok {
		return fs[dir]
	}
	if fs, ok := c.faults[Any]; ok {
		return fs[dir]
	}
	return Faults{}
}

func (c *PacketConn) enqueueLocked(d *datagram, at time.Time) {
	if c.queue.Len() >= MaxQueuedDatagrams {
		c.counters.Overflowed++
		d.released = true
		return
	}
	c.seq++
	d.at, d.seq = at, c.seq
	heap.Push(&c.queue, d)
	select {
	case c.wake <- struct{}{}:
	default:
	}
}

// readLoop reads the wrapped conn and applies the inbound faults.
func (c *PacketConn) readLoop() {
	defer c.wg.Done()
	defer close(c.readDone)
	buf := make([]byte, maxReadBytes)
	for {
		n, addr, err := c.pc.ReadFrom(buf)
		if err != nil {
			c.mu.Lock()
			c.readErr = err
			c.mu.Unlock()
			return
		}
		c.mu.Lock()
		now := c.decideLocked(1, buf[:n], addr, time.Now())
		c.mu.Unlock()
		for _, d := range now {
			c.deliverInbound(d)
		}
	}
}

func (c *PacketConn) deliverInbound(d datagram) {
	select {
	case c.inbound <- d:
	default:
		c.mu.Lock()
		c.counters.Overflowed++
		c.mu.Unlock()
	}
}

// scheduleLoop releases queued datagrams when they are due.
func (c *PacketConn) scheduleLoop() {
	defer c.wg.Done()
	t := time.NewTimer(time.Hour)
	defer t.Stop()
	for {
		due, next := c.dueDatagrams(time.Now())
		for _, d := range due {
			if d.dir == 0 {
				_, _ = c.pc.WriteTo(d.payload, d.addr) // lost like any datagram
			} else {
				c.deliverInbound(d)
			}
		}
		wait := time.Hour
		if !next.IsZero() {
			wait = max(time.Until(next), 0)
		}
		t.Reset(wait)
		select {
		case <-c.done:
			return
		case <-c.wake:
		case <-t.C:
		}
	}
}

// dueDatagrams pops the datagrams due at now and returns when the next is.
func (c *PacketConn) dueDatagrams(now time.Time) ([]datagram, time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	var due []datagram
	for c.queue.Len() > 0 {
		d := c.queue[0]
		if d.at.After(now) {
			return due, d.at
		}
		heap.Pop(&c.queue)
		if d.released {
			continue
		}
		d.released = true // a held one leaves its hold by timeout
		due = append(due, *d)
	}
	return due, time.Time{}
}

// timerQueue is a min-heap of datagrams by release time, then arrival.
type timerQueue []*datagram

func (q timerQueue) Len() int { return len(q) }
func (q timerQueue) Less(i, j int) bool {
	if q[i].at.Equal(q[j].at) {
		return q[i].seq < q[j].seq
	}
	return q[i].at.Before(q[j].at)
}
func (q timerQueue) Swap(i, j int) { q[i], q[j] = q[j], q[i] }
func (q *timerQueue) Push(x any)   { *q = append(*q, x.(*datagram)) }
func (q *timerQueue) Pop() any {
	old := *q
	d := old[len(old)-1]
	old[len(old)-1] = nil
	*q = old[:len(old)-1]
	return d
}
