package syncproto

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/patron/patron/engine"
	"github.com/patron/patron/replication"
)

// Local is what a session runs against on this node.
type Local struct {
	// Log is this node's event log. Required.
	Log replication.EventLog
	// Role is this node's role in the session. Required.
	Role Role
	// Applier commits received batches. Default LogApplier{Log}.
	Applier Applier
	// Feed wakes the session on commits. Default: the session makes and
	// runs its own (fine for a node with one session).
	Feed *Feed
	// Holds decides HoldRequest and VoidRequest. Default nil: every
	// request is answered ReplyUnavailable.
	Holds HoldServer
	// Admit vets the peer's Hello. Default nil: every peer whose role
	// pairs with Role is admitted.
	Admit AdmitFunc
}

// LinkState is what a session, or a Client's link, reports for metrics and
// the admin page.
type LinkState struct {
	Addr       string // dialed address, or the peer's identity on a server
	PeerOrigin string // from the peer's Hello
	PeerRole   Role
	Connected  bool      // a session is up (Hello exchanged)
	Since      time.Time // when Connected last changed
	LastSeen   time.Time // last message received
	RTT        time.Duration
	// EventsSent and EventsReceived count events in acknowledged
	// batches, each way.
	EventsSent     uint64
	EventsReceived uint64
	// Lag is how many of this node's own events the peer has not
	// acknowledged.
	Lag uint64
	// Behind is how many events the peer holds that this node lacks, as
	// of the peer's last version vector: catch-up progress.
	Behind    uint64
	LastError string
	// PeerHave is the version vector the peer announced in its Hello.
	PeerHave engine.VersionVector
}

// Session runs one sync session over a MsgConn. Create it with NewSession
// and call Run once.
type Session struct {
	conn  MsgConn
	local Local
	cfg   SessionConfig
	log   *slog.Logger

	out      *outbox
	inbox    chan any    // reader and applier → main loop
	applyCh  chan Events // reader → applier
	reqSem   chan struct{}
	onUp     func(*Session) // called by the main loop once Hello is exchanged
	handlers sync.WaitGroup // hold and void request handlers
	done     chan struct{}  // closed when Run returns

	// asm is the chunked event being reassembled: the reader's alone.
	asm *assembly
	// chunkBusy: a chunked batch was started and not yet answered. The
	// reader sets it at an event's first chunk, the applier clears it
	// before it answers the batch.
	chunkBusy atomic.Bool

	lastRecv atomic.Int64 // when a message last arrived: nanoseconds after start (monotonic)
	start    time.Time

	pendMu  sync.Mutex // guards following
	pending map[string][]chan any
	npend   int
	ended   bool

	mu    sync.Mutex // guards following
	state LinkState
}

// NewSession returns a session over conn for local. Run closes conn.
func NewSession(conn MsgConn, local Local, cfg SessionConfig) (*Session, error) {
	var errs []error
	if local.Log == nil {
		errs = append(errs, errors.New("syncproto: session: Local.Log is required"))
	}
	if local.Role < RoleStore || local.Role > RolePeer {
		errs = append(errs, fmt.Errorf("syncproto: session: Local.Role %d is not a role", local.Role))
	}
	errs = append(errs, cfg.Validate())
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	if local.Applier == nil {
		local.Applier = LogApplier{Log: local.Log}
	}
	limit := 2*MaxInFlightBatches + 2*cfg.MaxPendingRequests + 64
	s := &Session{
		conn:    conn,
		local:   local,
		cfg:     cfg,
		log:     cfg.Logger.With("peer", conn.Peer(), "role", local.Role.String()),
		out:     newOutbox(limit),
		inbox:   make(chan any, 2*MaxInFlightBatches),
		applyCh: make(chan Events, MaxInFlightBatches),
		reqSem:  make(chan struct{}, cfg.MaxPendingRequests),
		done:    make(chan struct{}),
		pending: make(map[string][]chan any),
		start:   time.Now(),
	}
	s.state.Addr = conn.Peer()
	return s, nil
}

// Run runs the session until it fails, the peer ends it or ctx is done,
// and returns why: the peer's *RedirectError, ErrPeerSilent, ErrProtocol,
// a decode or transport error, or ctx's cause. Every goroutine it started
// has ended when it returns, and conn is closed.
func (s *Session) Run(ctx context.Context) error {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	feed := s.local.Feed
	var wg sync.WaitGroup
	if feed == nil {
		feed = NewFeed(s.local.Log)
		wg.Go(func() { feed.Run(ctx) })
	}
	commits, unsubscribe := feed.subscribe()
	defer unsubscribe()
	s.touch()
	var err error
	if s.local.Admit == nil {
		// With an Admit hook the reader says Hello once the peer's is
		// admitted, so a refused or redirected peer learns nothing.
		err = s.sayHello(ctx)
	}
	if err == nil {
		wg.Go(func() { cancel(s.readLoop(ctx)) })
		wg.Go(func() { cancel(s.writeLoop(ctx)) })
		wg.Go(func() { cancel(s.applyLoop(ctx, feed)) })
		err = s.mainLoop(ctx, commits)
	}
	cancel(err)
	err = context.Cause(ctx)
	s.conn.Close() // unblocks Recv and Send; its error adds nothing to err
	wg.Wait()
	s.handlers.Wait()
	s.endRequests()
	close(s.done)
	s.setDown(err)
	return err
}

// Done is closed when Run has returned.
func (s *Session) Done() <-chan struct{} { return s.done }

// State reports the session's link state.
func (s *Session) State() LinkState {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.state
}

// sayHello queues our Hello; the writer sends it first.
func (s *Session) sayHello(ctx context.Context) error {
	have, err := s.local.Log.VersionVector(ctx)
	if err != nil {
		return fmt.Errorf("syncproto: hello: %w", err)
	}
	return s.out.push(Hello{Protocol: ProtocolVersion, Origin: s.local.Log.Origin(), Role: s.local.Role, Have: canonical(have)})
}

// touch records that a message arrived.
func (s *Session) touch() {
	s.lastRecv.Store(int64(time.Since(s.start)))
}

func (s *Session) silentFor() time.Duration {
	return time.Since(s.start) - time.Duration(s.lastRecv.Load())
}

// writeLoop sends what the outbox holds, each Send bounded by DeadAfter.
func (s *Session) writeLoop(ctx context.Context) error {
	for {
		item := s.out.pop()
		if item == nil {
			select {
			case <-ctx.Done():
				return context.Cause(ctx)
			case <-s.out.signal:
				continue
			}
		}
		if mark, ok := item.(flushMark); ok {
			close(mark.done)
			continue
		}
		b, err := Encode(item.(Message))
		if err != nil {
			return err
		}
		sctx, cancel := context.WithTimeout(ctx, s.cfg.DeadAfter)
		err = s.conn.Send(sctx, b)
		cancel()
		if err != nil {
			if ctx.Err() != nil {
				return context.Cause(ctx)
			}
			return fmt.Errorf("syncproto: send %s: %w", item.(Message).Type(), err)
		}
	}
}

// deliver hands an item to the main loop.
func (s *Session) deliver(ctx context.Context, item any) error {
	select {
	case s.inbox <- item:
		return nil
	case <-ctx.Done():
		return context.Cause(ctx)
	}
}

func (s *Session) setDown(err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.state.Connected {
		s.state.Since = s.cfg.Now()
	}
	s.state.Connected = false
	if err != nil {
		s.state.LastError = err.Error()
	}
}

// canonical returns vv without zero entries, as the wire wants it.
func canonical(vv engine.VersionVector) engine.VersionVector {
	out := make(engine.VersionVector, len(vv))
	for o, n := range vv {
		if n > 0 {
			out[o] = n
		}
	}
	return out
}

// merge raises dst to at least src, origin by origin.
func merge(dst, src engine.VersionVector) {
	for o, n := range src {
		if n > dst[o] {
			dst[o] = n
		}
	}
}

func clone(vv engine.VersionVector) engine.VersionVector {
	out := make(engine.VersionVector, len(vv))
	for o, n := range vv {
		out[o] = n
	}
	return out
}

// missing counts the events have lacks of want.
func missing(have, want engine.VersionVector) uint64 {
	var n uint64
	for o, w := range want {
		if w > have[o] {
			n += w - have[o]
		}
	}
	return n
}
