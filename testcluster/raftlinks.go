package testcluster

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sync"
)

// errRaftCut is what a dial across a cut Raft link returns once its
// deadline passes.
var errRaftCut = errors.New("testcluster: raft link cut")

// raftLinks is the fault layer under the HQ nodes' Raft connections
// (hq.Config.Dial on the dialling side, a wrapped RaftListener on the
// accepting side). A cut between HQ a and b is symmetric and total:
//
//   - every live connection between them, whichever side dialled, is
//     closed at once (raft sees its RPCs fail, as when a cable is pulled
//     and the kernel gives up);
//   - a new dial from either to the other blackholes: it waits until the
//     link heals (then dials for real) or its deadline passes (then
//     fails), as a SYN into a partition would. A dial refused at once
//     would drive raft's replication backoff up far faster than a real
//     partition does.
//
// Connections are tracked on both ends. The dialling end knows both ids
// (its own; the peer's from the raft address it dials) and records its
// ephemeral local address; the accepting end only sees that address as
// its peer's, and resolves it through that record when a cut sweeps.
// Closing the dialling end alone would already end the connection on
// loopback; closing the accepting end too means neither side waits for a
// read to notice.
type raftLinks struct {
	mu      sync.Mutex        // guards following
	ids     map[string]string // raft address → HQ id
	cut     map[[2]string]bool
	healed  chan struct{} // closed, and replaced, by heal
	conns   map[*raftConn]struct{}
	dialers map[string]string // local address of a live dialled conn → HQ id
	closed  uint64            // connections closed by cuts
	held    uint64            // dials that met a cut
}

func newRaftLinks() *raftLinks {
	return &raftLinks{ids: map[string]string{}, cut: map[[2]string]bool{}, healed: make(chan struct{}),
		conns: map[*raftConn]struct{}{}, dialers: map[string]string{}}
}

// add names the HQ listening for Raft at addr.
func (l *raftLinks) add(addr, id string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.ids[addr] = id
}

// dialer is hq.Config.Dial for HQ local.
func (l *raftLinks) dialer(local string) func(context.Context, string) (net.Conn, error) {
	return func(ctx context.Context, addr string) (net.Conn, error) {
		l.mu.Lock()
		remote := l.ids[addr] // "" for an address not in the cluster: never cut
		l.mu.Unlock()
		if err := l.waitLinked(ctx, local, remote); err != nil {
			return nil, err
		}
		var d net.Dialer
		c, err := d.DialContext(ctx, "tcp", addr)
		if err != nil {
			return nil, err
		}
		rc := &raftConn{Conn: c, l: l, local: local, remote: remote}
		l.mu.Lock()
		defer l.mu.Unlock()
		if l.cut[pair(local, remote)] {
			// Cut while the dial was under way: the sweep missed it.
			c.Close()
			return nil, fmt.Errorf("%w: %s→%s", errRaftCut, local, remote)
		}
		l.conns[rc] = struct{}{}
		l.dialers[c.LocalAddr().String()] = local
		return rc, nil
	}
}

// waitLinked returns when local and remote are not cut, or with an error
// when ctx ends first.
func (l *raftLinks) waitLinked(ctx context.Context, local, remote string) error {
	counted := false
	for {
		l.mu.Lock()
		cut, healed := l.cut[pair(local, remote)], l.healed
		if cut && !counted {
			l.held++
			counted = true
		}
		l.mu.Unlock()
		if !cut {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%w: %s→%s: %w", errRaftCut, local, remote, ctx.Err())
		case <-healed:
		}
	}
}

// listener wraps HQ local's Raft listener.
func (l *raftLinks) listener(local string, ln net.Listener) net.Listener {
	return &raftListener{Listener: ln, l: l, local: local}
}

// cutPairs cuts each pair and closes the connections between them.
func (l *raftLinks) cutPairs(pairs ...[2]string) {
	l.mu.Lock()
	for _, p := range pairs {
		l.cut[pair(p[0], p[1])] = true
	}
	var doomed []*raftConn
	for c := range l.conns {
		if l.cut[pair(c.local, c.peerLocked())] {
			doomed = append(doomed, c)
		}
	}
	l.closed += uint64(len(doomed))
	l.mu.Unlock()
	for _, c := range doomed {
		c.Close()
	}
}

// heal lifts every cut and wakes the dials it held.
func (l *raftLinks) heal() {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.cut) == 0 {
		return
	}
	clear(l.cut)
	close(l.healed)
	l.healed = make(chan struct{})
}

// cutNow lists the pairs cut now.
func (l *raftLinks) cutNow() [][2]string {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out [][2]string
	for p := range l.cut {
		out = append(out, p)
	}
	return out
}

// counts returns the connections cuts closed and the dials they held.
func (l *raftLinks) counts() (closed, held uint64) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.closed, l.held
}

// pair is the unordered pair {a, b} as a map key.
func pair(a, b string) [2]string {
	if b < a {
		a, b = b, a
	}
	return [2]string{a, b}
}

// raftListener tracks the connections it accepts.
type raftListener struct {
	net.Listener
	l     *raftLinks
	local string
}

func (ln *raftListener) Accept() (net.Conn, error) {
	c, err := ln.Listener.Accept()
	if err != nil {
		return nil, err
	}
	rc := &raftConn{Conn: c, l: ln.l, local: ln.local, accepted: true}
	ln.l.mu.Lock()
	ln.l.conns[rc] = struct{}{}
	ln.l.mu.Unlock()
	return rc, nil
}

// raftConn is one end of a Raft connection; Close forgets it.
type raftConn struct {
	net.Conn
	l        *raftLinks
	local    string // this end's HQ
	remote   string // the other end's HQ; "" on an accepted conn (see peerLocked)
	accepted bool
	once     sync.Once
}

// peerLocked is the HQ at the other end: known when dialled, looked up
// by the dialler's address when accepted ("" if that dialler is gone).
// l.mu is held.
func (c *raftConn) peerLocked() string {
	if !c.accepted {
		return c.remote
	}
	return c.l.dialers[c.RemoteAddr().String()]
}

func (c *raftConn) Close() error {
	c.once.Do(func() {
		c.l.mu.Lock()
		defer c.l.mu.Unlock()
		delete(c.l.conns, c)
		if !c.accepted {
			delete(c.l.dialers, c.LocalAddr().String())
		}
	})
	return c.Conn.Close()
}
