package transport

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pion/sctp"
)

// Payload protocol identifiers tell messages from keepalives on the one
// SCTP stream without framing bytes. The values are private to Patron
// (first-come IANA numbers are not needed between our own nodes).
const (
	ppiMessage   sctp.PayloadProtocolIdentifier = 0x50540001 // a Send message
	ppiEmpty     sctp.PayloadProtocolIdentifier = 0x50540002 // an empty Send message; SCTP cannot carry zero bytes
	ppiKeepalive sctp.PayloadProtocolIdentifier = 0x50540003 // keeps IdleTimeout from firing
)

// streamID is the one bidirectional, ordered, reliable SCTP stream a link
// uses: sync sessions are one conversation, so one stream keeps order.
const streamID = 0

// sctpMTU is the SCTP packet size that, once sealed in one DTLS record,
// makes a datagram of exactly MaxDatagramBytes.
const sctpMTU = MaxDatagramBytes - dtlsRecordOverheadBytes

// rekeyHeadroomDivisor sets where Send starts refusing: at 7/8 of
// MaxRecordsPerKey, leaving 1/8 for acknowledgements, retransmissions and
// the graceful shutdown that lets queued data reach the peer.
const rekeyHeadroomDivisor = 8

// Conn is one authenticated link to a peer node: Send and Recv carry whole
// messages, reliably and in order. Send and Recv may each be called from
// one goroutine while the other runs; Close may be called at any time.
type Conn struct {
	peer    string
	cfg     LinkConfig
	records *recordCounter
	secure  net.Conn // the DTLS conn under SCTP
	assoc   *sctp.Association
	stream  *sctp.Stream
	recvq   chan []byte   // closed when the reader ends
	sendSem chan struct{} // capacity one: serialises Send
	lowMark chan struct{} // capacity one: the send buffer drained
	done    chan struct{} // closed when the Conn starts closing
	wg      sync.WaitGroup
	once    sync.Once
	after   func(*Conn) // runs once the link is down (demux or listener cleanup)

	lastRecv atomic.Int64 // unix nanoseconds of the last message or keepalive

	mu  sync.Mutex // guards following
	err error      // why the Conn closed
}

// newConn runs the SCTP handshake over an established DTLS conn and starts
// the Conn's goroutines. after runs when the Conn is closed.
func newConn(ctx context.Context, secure net.Conn, peer string, client bool, cfg LinkConfig, after func(*Conn)) (*Conn, error) {
	c := &Conn{
		peer:    peer,
		cfg:     cfg,
		secure:  secure,
		recvq:   make(chan []byte, cfg.RecvQueueMessages),
		sendSem: make(chan struct{}, 1),
		lowMark: make(chan struct{}, 1),
		done:    make(chan struct{}),
		after:   after,
	}
	c.records = &recordCounter{Conn: secure, limit: cfg.MaxRecordsPerKey, soft: softRecordLimit(cfg.MaxRecordsPerKey), rekey: make(chan struct{})}
	assoc, err := associate(ctx, c.records, peer, client, cfg)
	if err != nil {
		_ = secure.Close()
		after(nil)
		return nil, fmt.Errorf("transport: sctp handshake with %q: %w", peer, err)
	}
	c.assoc = assoc
	c.stream, err = assoc.OpenStream(streamID, ppiMessage)
	if err != nil {
		_ = assoc.Close()
		after(nil)
		return nil, fmt.Errorf("transport: open stream to %q: %w", peer, err)
	}
	c.stream.SetBufferedAmountLowThreshold(uint64(cfg.MaxSendBufferBytes / 2))
	c.stream.OnBufferedAmountLow(func() {
		select {
		case c.lowMark <- struct{}{}:
		default:
		}
	})
	c.lastRecv.Store(time.Now().UnixNano())
	c.wg.Add(2)
	go c.readLoop()
	go c.watchLoop()
	return c, nil
}

// associate runs the SCTP handshake. pion's server side takes no context,
// so closing the conn under it is what ends a handshake that ran out of
// time.
func associate(ctx context.Context, nc net.Conn, peer string, client bool, cfg LinkConfig) (*sctp.Association, error) {
	opts := []sctp.AssociationOption{
		sctp.WithNetConn(nc),
		sctp.WithName(peer),
		sctp.WithMTU(sctpMTU),
		sctp.WithMaxMessageSize(MaxMessageBytes),
		sctp.WithRTOMax(float64(cfg.RTOMax.Milliseconds())),
		sctp.WithEnableZeroChecksum(true), // DTLS already authenticates every packet (RFC 9653)
		sctp.WithLoggerFactory(pionLogs{cfg.Logger}),
		sctp.WithMinCwnd(uint32(cfg.MinCwndBytes)),
	}
	if client {
		copts := make([]sctp.ClientOption, len(opts))
		for i, o := range opts {
			copts[i] = o
		}
		return sctp.ClientContext(ctx, copts...)
	}
	stop := context.AfterFunc(ctx, func() { _ = nc.Close() })
	defer stop()
	sopts := make([]sctp.ServerOption, len(opts))
	for i, o := range opts {
		sopts[i] = o
	}
	a, err := sctp.ServerWithOptions(sopts...)
	if err != nil && ctx.Err() != nil {
		return nil, ctx.Err()
	}
	return a, err
}

func softRecordLimit(limit uint64) uint64 { return limit - limit/rekeyHeadroomDivisor }

// Peer returns the peer's authenticated identity: the client's PSK
// identity on the server, the server's announced identity on the client.
func (c *Conn) Peer() string { return c.peer }

// Send queues msg for reliable, ordered delivery. It blocks while
// MaxSendBufferBytes of sent data await acknowledgement. A nil error means
// queued, not delivered: a message is known delivered only when the peer
// says so, which is why sync sessions acknowledge batches. msg may be
// reused once Send returns.
func (c *Conn) Send(ctx context.Context, msg []byte) error {
	if len(msg) > MaxMessageBytes {
		return fmt.Errorf("%w: %d bytes, limit %d", ErrMessageTooLarge, len(msg), MaxMessageBytes)
	}
	select {
	case c.sendSem <- struct{}{}:
		defer func() { <-c.sendSem }()
	case <-ctx.Done():
		return ctx.Err()
	case <-c.done:
		return c.closeErr()
	}
	if c.records.count() >= c.records.soft {
		return ErrRekey // watchLoop is closing the Conn
	}
	if err := c.waitBuffer(ctx); err != nil {
		return err
	}
	ppi := ppiMessage
	if len(msg) == 0 {
		ppi, msg = ppiEmpty, []byte{0}
	}
	if _, err := c.stream.WriteSCTP(msg, ppi); err != nil {
		select {
		case <-c.done:
			return c.closeErr()
		default:
			return fmt.Errorf("transport: send to %q: %w", c.peer, err)
		}
	}
	return nil
}

// waitBuffer waits until the unacknowledged data is below
// MaxSendBufferBytes.
func (c *Conn) waitBuffer(ctx context.Context) error {
	for c.stream.BufferedAmount() >= uint64(c.cfg.MaxSendBufferBytes) {
		select {
		case <-c.lowMark:
		case <-ctx.Done():
			return ctx.Err()
		case <-c.done:
			return c.closeErr()
		}
	}
	return nil
}

// Recv returns the next message. Messages that arrived before the link
// went down are still returned; then Recv returns why it went down
// (ErrClosed, ErrRekey, ErrPeerTimeout, ErrPeerClosed or a wrapped error).
func (c *Conn) Recv(ctx context.Context) ([]byte, error) {
	select {
	case msg, ok := <-c.recvq:
		if !ok {
			return nil, c.closeErr()
		}
		return msg, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// Close shuts the link down, giving queued data up to CloseTimeout to reach
// the peer, and waits for every goroutine of the Conn. It returns nil; a
// second Close does nothing.
func (c *Conn) Close() error {
	c.shut(ErrClosed, true)
	c.wg.Wait()
	return nil
}

// Err returns why the Conn closed, or nil while it is open.
func (c *Conn) Err() error {
	select {
	case <-c.done:
		return c.closeErr()
	default:
		return nil
	}
}

func (c *Conn) closeErr() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.err
}

// shut closes the link once, recording reason. graceful lets queued data
// drain first (not worth waiting for when the peer is silent).
func (c *Conn) shut(reason error, graceful bool) {
	c.once.Do(func() {
		c.mu.Lock()
		c.err = reason
		c.mu.Unlock()
		close(c.done)
		if graceful {
			ctx, cancel := context.WithTimeout(context.Background(), c.cfg.CloseTimeout)
			_ = c.assoc.Shutdown(ctx) // best effort; Close below ends it anyway
			cancel()
		}
		_ = c.assoc.Close()  // stops pion's loops and closes the DTLS conn
		_ = c.secure.Close() // in case the association had not yet closed it
		c.after(c)
	})
}

// readLoop moves received messages to recvq until the link ends.
func (c *Conn) readLoop() {
	defer c.wg.Done()
	defer close(c.recvq)
	buf := make([]byte, MaxMessageBytes)
	for {
		n, ppi, err := c.stream.ReadSCTP(buf)
		if err != nil {
			c.readFailed(err)
			return
		}
		c.lastRecv.Store(time.Now().UnixNano())
		var msg []byte
		switch ppi {
		case ppiKeepalive:
			continue
		case ppiEmpty:
			msg = []byte{}
		default:
			msg = append([]byte(nil), buf[:n]...)
		}
		select {
		case c.recvq <- msg:
		case <-c.done:
			return
		}
	}
}

func (c *Conn) readFailed(err error) {
	select {
	case <-c.done:
		return // closed locally; the reason is already set
	default:
	}
	if errors.Is(err, io.EOF) {
		c.shut(ErrPeerClosed, false)
		return
	}
	c.shut(fmt.Errorf("%w: %w", ErrPeerClosed, err), false)
}

// watchLoop sends keepalives and enforces IdleTimeout and the re-key
// limits.
func (c *Conn) watchLoop() {
	defer c.wg.Done()
	tick := time.NewTicker(c.cfg.KeepaliveInterval)
	defer tick.Stop()
	age := time.NewTimer(c.cfg.MaxKeyAge)
	defer age.Stop()
	for {
		select {
		case <-c.done:
			return
		case <-c.records.rekey:
			c.shut(ErrRekey, true)
			return
		case <-age.C:
			c.shut(ErrRekey, true)
			return
		case <-tick.C:
			if time.Since(time.Unix(0, c.lastRecv.Load())) > c.cfg.IdleTimeout {
				c.cfg.Logger.Warn("transport: peer silent, closing link", "peer", c.peer, "idle_timeout", c.cfg.IdleTimeout)
				c.shut(ErrPeerTimeout, false)
				return
			}
			_, _ = c.stream.WriteSCTP([]byte{0}, ppiKeepalive) // a failure shows up in readLoop
		}
	}
}

// recordCounter counts the DTLS records written under the current key
// (SCTP writes one packet per Write, DTLS seals one Write as one record),
// signals rekey at the soft limit and refuses to write past the hard one.
type recordCounter struct {
	net.Conn
	limit, soft uint64
	n           atomic.Uint64
	rekey       chan struct{} // closed at the soft limit
	once        sync.Once
}

func (r *recordCounter) count() uint64 { return r.n.Load() }

func (r *recordCounter) Write(b []byte) (int, error) {
	n := r.n.Add(1)
	if n >= r.soft {
		r.once.Do(func() { close(r.rekey) })
	}
	if n > r.limit {
		return 0, ErrRekey
	}
	return r.Conn.Write(b)
}
