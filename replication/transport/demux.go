package transport

import (
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"sync"
	"time"
)

// peerQueueDatagrams bounds the datagrams queued for one remote address
// before its reader takes them; beyond it they are dropped like a full
// socket buffer would, and SCTP retransmits. 1,024 datagrams hold a whole
// SCTP receive window (1 MiB in packets of ~1.2 KB), so a burst the window
// allows is never dropped here.
const peerQueueDatagrams = 1024

// maxReadBytes is the demultiplexer's read buffer: the largest UDP payload,
// so an oversize datagram is seen whole (and dropped by DTLS) rather than
// truncated.
const maxReadBytes = 65535

// errDatagramTooLarge guards MaxDatagramBytes: nothing in this package
// should ever build a larger datagram.
var errDatagramTooLarge = errors.New("transport: datagram above MaxDatagramBytes")

// demux reads one PacketConn and gives each remote address its own
// net.Conn (a peerConn). A client demux serves one address and drops the
// rest; a server demux offers new addresses to newPeer.
//
// The demux borrows pc: it stops its reader by setting a read deadline in
// the past and clears it again, so the caller's pc stays usable.
type demux struct {
	pc      net.PacketConn
	newPeer func(*peerConn) bool // server: take a new address, or drop its datagram
	done    chan struct{}        // closed by close
	stopped chan struct{}        // closed when the reader ends
	once    sync.Once

	mu    sync.Mutex // guards following
	peers map[string]*peerConn
	err   error // why the reader ended
}

func newDemux(pc net.PacketConn, newPeer func(*peerConn) bool) *demux {
	d := &demux{
		pc:      pc,
		newPeer: newPeer,
		done:    make(chan struct{}),
		stopped: make(chan struct{}),
		peers:   make(map[string]*peerConn),
	}
	go d.readLoop()
	return d
}

// add registers a peerConn for addr; a client demux calls it before any
// traffic.
func (d *demux) add(addr net.Addr) *peerConn {
	p := newPeerConn(d, addr)
	d.mu.Lock()
	d.peers[p.key] = p
	d.mu.Unlock()
	return p
}

func (d *demux) count() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return len(d.peers)
}

func (d *demux) remove(p *peerConn) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.peers[p.key] == p {
		delete(d.peers, p.key)
	}
}

// close stops the reader and waits for it; peerConns then read EOF.
func (d *demux) close() {
	d.once.Do(func() {
		close(d.done)
		_ = d.pc.SetReadDeadline(time.Unix(1, 0))
		<-d.stopped
		_ = d.pc.SetReadDeadline(time.Time{})
	})
}

func (d *demux) readLoop() {
	defer close(d.stopped)
	buf := make([]byte, maxReadBytes)
	for {
		n, addr, err := d.pc.ReadFrom(buf)
		if err != nil {
			select {
			case <-d.done:
				return
			default:
			}
			if errors.Is(err, os.ErrDeadlineExceeded) {
				continue // someone else's deadline on the shared pc
			}
			d.mu.Lock()
			d.err = fmt.Errorf("transport: read: %w", err)
			d.mu.Unlock()
			return
		}
		d.dispatch(addr, buf[:n])
	}
}

func (d *demux) dispatch(addr net.Addr, b []byte) {
	key := addr.String()
	d.mu.Lock()
	p, ok := d.peers[key]
	d.mu.Unlock()
	if !ok {
		if d.newPeer == nil || !isDTLSHandshake(b) {
			return // stray or stale datagram
		}
		p = newPeerConn(d, addr)
		if !d.newPeer(p) {
			return
		}
		d.mu.Lock()
		d.peers[key] = p
		d.mu.Unlock()
	}
	p.deliver(append([]byte(nil), b...))
}

// peerConn is the net.Conn of one remote address under a demux, the conn
// DTLS runs over.
type peerConn struct {
	d      *demux
	addr   net.Addr
	key    string
	in     chan []byte
	closed chan struct{}
	once   sync.Once

	mu              sync.Mutex // guards following
	readDeadline    time.Time
	deadlineChanged chan struct{} // closed and replaced on each change
}

func newPeerConn(d *demux, addr net.Addr) *peerConn {
	return &peerConn{
		d:               d,
		addr:            addr,
		key:             addr.String(),
		in:              make(chan []byte, peerQueueDatagrams),
		closed:          make(chan struct{}),
		deadlineChanged: make(chan struct{}),
	}
}

func (p *peerConn) deliver(b []byte) {
	select {
	case p.in <- b:
	default: // full: lost like a datagram; the peer retransmits
	}
}

func (p *peerConn) Read(b []byte) (int, error) {
	for {
		p.mu.Lock()
		deadline, changed := p.readDeadline, p.deadlineChanged
		p.mu.Unlock()
		n, again, err := p.readOnce(b, deadline, changed)
		if !again {
			return n, err
		}
	}
}

// readOnce waits for one datagram until deadline; again reports that the
// deadline changed meanwhile.
func (p *peerConn) readOnce(b []byte, deadline time.Time, changed <-chan struct{}) (n int, again bool, err error) {
	var expired <-chan time.Time
	if !deadline.IsZero() {
		wait := time.Until(deadline)
		if wait <= 0 {
			return 0, false, os.ErrDeadlineExceeded
		}
		t := time.NewTimer(wait)
		defer t.Stop()
		expired = t.C
	}
	select {
	case dg := <-p.in:
		return copy(b, dg), false, nil
	case <-expired:
		return 0, false, os.ErrDeadlineExceeded
	case <-changed:
		return 0, true, nil
	case <-p.closed:
		return 0, false, net.ErrClosed
	case <-p.d.stopped:
		return 0, false, io.EOF
	}
}

func (p *peerConn) Write(b []byte) (int, error) {
	if len(b) > MaxDatagramBytes {
		return 0, fmt.Errorf("%w: %d bytes", errDatagramTooLarge, len(b))
	}
	select {
	case <-p.closed:
		return 0, net.ErrClosed
	default:
	}
	return p.d.pc.WriteTo(b, p.addr)
}

func (p *peerConn) Close() error {
	p.once.Do(func() {
		close(p.closed)
		p.d.remove(p)
	})
	return nil
}

func (p *peerConn) LocalAddr() net.Addr  { return p.d.pc.LocalAddr() }
func (p *peerConn) RemoteAddr() net.Addr { return p.addr }

func (p *peerConn) SetDeadline(t time.Time) error { return p.SetReadDeadline(t) }

func (p *peerConn) SetReadDeadline(t time.Time) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.readDeadline = t
	close(p.deadlineChanged)
	p.deadlineChanged = make(chan struct{})
	return nil
}

// SetWriteDeadline is a no-op: a UDP write does not block.
func (p *peerConn) SetWriteDeadline(time.Time) error { return nil }
