package testcluster

import (
	"net"
	"sync"

	"github.com/patron/patron/replication/faultnet"
)

// links is every UDP socket of one store's outgoing links (each dial to HQ
// opens a fresh one), wrapped in faultnet. The faults are kept per
// direction and applied to the sockets open now and to every one opened
// later, so a partition outlives the redials it causes.
type links struct {
	store string

	mu     sync.Mutex // guards following
	conns  map[*linkConn]struct{}
	faults [2]faultnet.Faults // [store→HQ, HQ→store]
	closed faultnet.Counters  // of sockets already closed
	opened uint64
}

func newLinks(store string) *links {
	return &links{store: store, conns: map[*linkConn]struct{}{}}
}

// open is StoreConfig.NewPacketConn: a loopback socket behind faultnet,
// seeded from the cluster seed, the store and how many it opened before.
func (l *links) open(seed int64) func() (net.PacketConn, error) {
	return func() (net.PacketConn, error) {
		pc, err := net.ListenPacket("udp", "127.0.0.1:0")
		if err != nil {
			return nil, err
		}
		l.mu.Lock()
		defer l.mu.Unlock()
		l.opened++
		c := &linkConn{PacketConn: faultnet.Wrap(pc, faultnet.Config{Seed: seed + int64(l.opened)*7919}), l: l}
		c.applyLocked(l.faults)
		l.conns[c] = struct{}{}
		return c, nil
	}
}

// set replaces the faults of the directions in dir on every socket.
func (l *links) set(dir faultnet.Dir, f faultnet.Faults) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if dir&faultnet.Outbound != 0 {
		l.faults[0] = f
	}
	if dir&faultnet.Inbound != 0 {
		l.faults[1] = f
	}
	for c := range l.conns {
		c.applyLocked(l.faults)
	}
}

// heal removes every fault.
func (l *links) heal() { l.set(faultnet.Both, faultnet.Faults{}) }

// partitioned reports whether either direction is cut.
func (l *links) partitioned() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.faults[0].Partition || l.faults[1].Partition
}

// counters sums what every socket, open or closed, injected.
func (l *links) counters() faultnet.Counters {
	l.mu.Lock()
	defer l.mu.Unlock()
	sum := l.closed
	for c := range l.conns {
		sum = sum.Add(c.Counters())
	}
	return sum
}

// linkConn is one wrapped socket; Close files its counters.
type linkConn struct {
	*faultnet.PacketConn
	l    *links
	once sync.Once
}

// applyLocked sets both directions' faults for every peer. l.mu is held.
func (c *linkConn) applyLocked(f [2]faultnet.Faults) {
	// Validated by the callers' construction; SetFaults only refuses
	// probabilities outside [0, 1], which Faults from this package never
	// carry.
	if err := c.SetFaults(faultnet.Any, faultnet.Outbound, f[0]); err != nil {
		panic("testcluster: invalid faults: " + err.Error())
	}
	if err := c.SetFaults(faultnet.Any, faultnet.Inbound, f[1]); err != nil {
		panic("testcluster: invalid faults: " + err.Error())
	}
}

func (c *linkConn) Close() error {
	err := c.PacketConn.Close()
	c.once.Do(func() {
		c.l.mu.Lock()
		defer c.l.mu.Unlock()
		delete(c.l.conns, c)
		c.l.closed = c.l.closed.Add(c.Counters())
	})
	return err
}
