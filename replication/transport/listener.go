package transport

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sync"
	"sync/atomic"
)

// Listener accepts links from client nodes on one PacketConn. Each new
// remote address gets its own handshake goroutine with HandshakeTimeout,
// at most MaxHandshakes at once, so a slow or hostile peer never holds up
// another.
type Listener struct {
	cfg      ServerConfig
	d        *demux
	accepted chan *Conn
	slots    chan struct{} // one per running handshake
	ctx      context.Context
	cancel   context.CancelFunc
	wg       sync.WaitGroup // handshake goroutines
	once     sync.Once
	stats    listenerStats
	metrics  *metrics

	mu    sync.Mutex // guards following
	conns map[*Conn]struct{}
}

// ListenerStats counts handshakes by outcome.
type ListenerStats struct {
	Accepted        uint64 // handshakes that produced a Conn
	UnknownIdentity uint64 // refused: no key for the identity
	Failed          uint64 // refused: identity known but the handshake failed (wrong key, or too slow)
	Incomplete      uint64 // never reached the key exchange (silent peer, garbage, timeout)
	Busy            uint64 // new addresses dropped because MaxHandshakes or MaxConns were reached
}

// Refused is the number of handshakes refused for authentication: unknown
// identity or failed with a known one.
func (s ListenerStats) Refused() uint64 { return s.UnknownIdentity + s.Failed }

type listenerStats struct {
	accepted, unknown, failed, incomplete, busy atomic.Uint64
}

// Listen serves links on pc. The Listener borrows pc until Close: nothing
// else may read it meanwhile, and the caller closes it afterwards.
func Listen(pc net.PacketConn, cfg ServerConfig) (*Listener, error) {
	cfg = cfg.withDefaults()
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	l := &Listener{
		cfg:      cfg,
		accepted: make(chan *Conn, cfg.MaxHandshakes),
		slots:    make(chan struct{}, cfg.MaxHandshakes),
		ctx:      ctx,
		cancel:   cancel,
		metrics:  newMetrics(cfg.Metrics),
		conns:    make(map[*Conn]struct{}),
	}
	l.d = newDemux(pc, l.newPeer)
	return l, nil
}

// Accept returns the next authenticated link.
func (l *Listener) Accept(ctx context.Context) (*Conn, error) {
	select {
	case c := <-l.accepted:
		return c, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	case <-l.ctx.Done():
		return nil, ErrClosed
	}
}

// Addr returns the address the Listener serves.
func (l *Listener) Addr() net.Addr { return l.d.pc.LocalAddr() }

// Stats returns the handshake counters.
func (l *Listener) Stats() ListenerStats {
	return ListenerStats{
		Accepted:        l.stats.accepted.Load(),
		UnknownIdentity: l.stats.unknown.Load(),
		Failed:          l.stats.failed.Load(),
		Incomplete:      l.stats.incomplete.Load(),
		Busy:            l.stats.busy.Load(),
	}
}

// Close stops accepting, ends running handshakes, closes every Conn this
// Listener produced (accepted or not) and waits for all of it.
func (l *Listener) Close() error {
	l.once.Do(func() {
		l.cancel()
		l.wg.Wait()
		l.mu.Lock()
		conns := make([]*Conn, 0, len(l.conns))
		for c := range l.conns {
			conns = append(conns, c)
		}
		l.mu.Unlock()
		var wg sync.WaitGroup
		for _, c := range conns {
			wg.Go(func() { _ = c.Close() }) // each may wait CloseTimeout
		}
		wg.Wait()
		l.d.close()
	})
	return nil
}

// newPeer is called by the demux reader for the first handshake datagram
// from a new address; it starts a handshake if a slot is free.
func (l *Listener) newPeer(p *peerConn) bool {
	if l.ctx.Err() != nil {
		return false
	}
	if p.d.count() >= l.cfg.MaxConns {
		l.refuseBusy()
		return false
	}
	select {
	case l.slots <- struct{}{}:
	default:
		l.refuseBusy()
		return false
	}
	l.wg.Add(1)
	go l.handshake(p)
	return true
}

func (l *Listener) refuseBusy() {
	l.stats.busy.Add(1)
	l.metrics.handshakes.WithLabelValues("busy").Inc()
}

// handshake authenticates one new address and hands its Conn to Accept.
func (l *Listener) handshake(p *peerConn) {
	defer l.wg.Done()
	defer func() { <-l.slots }()
	ctx, cancel := context.WithTimeout(l.ctx, l.cfg.Link.HandshakeTimeout)
	defer cancel()
	params := dtlsParams{flightInterval: l.cfg.Link.FlightInterval, logs: pionLogs{l.cfg.Link.Logger}}
	secure, client, err := dtlsServer(ctx, p, l.cfg.Identity, l.cfg.Keys, params)
	if err != nil {
		_ = p.Close()
		l.refused(p, err)
		return
	}
	c, err := newConn(ctx, secure, client, false, l.cfg.Link, l.untrack)
	if err != nil {
		l.refused(p, &handshakeError{identity: client, reason: refusedIncomplete, err: err})
		return
	}
	if !l.track(c) {
		_ = c.Close()
		return
	}
	l.stats.accepted.Add(1)
	l.metrics.handshakes.WithLabelValues("accepted").Inc()
	select {
	case l.accepted <- c: // blocks only while MaxHandshakes Conns already wait for Accept
	case <-l.ctx.Done():
		_ = c.Close()
	}
}

// refused logs and counts a failed handshake.
func (l *Listener) refused(p *peerConn, err error) {
	var he *handshakeError
	if !errors.As(err, &he) {
		he = &handshakeError{reason: refusedIncomplete, err: err}
	}
	if l.ctx.Err() != nil {
		return // closing: not the peer's fault
	}
	switch he.reason {
	case refusedUnknownIdentity:
		l.stats.unknown.Add(1)
	case refusedFailed:
		l.stats.failed.Add(1)
	default:
		l.stats.incomplete.Add(1)
	}
	l.metrics.handshakes.WithLabelValues(string(he.reason)).Inc()
	level := l.cfg.Link.Logger.Warn
	if he.reason == refusedIncomplete {
		level = l.cfg.Link.Logger.Info // scanners and lossy links, not an attack on a key
	}
	level("transport: handshake refused", "remote", p.addr.String(), "identity", he.identity,
		"reason", string(he.reason), "err", fmt.Sprint(he.err))
}

func (l *Listener) track(c *Conn) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.ctx.Err() != nil {
		return false
	}
	l.conns[c] = struct{}{}
	return true
}

func (l *Listener) untrack(c *Conn) {
	if c == nil {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	delete(l.conns, c)
}
