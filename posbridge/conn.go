package posbridge

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net"
	"sync"
	"time"

	"github.com/gorilla/websocket"
)

// conn is one till connection. Its reader is the goroutine that calls run;
// run starts and waits for the writer and for every request handler.
type conn struct {
	srv      *Server
	cfg      Config
	ws       *websocket.Conn
	terminal string
	log      *slog.Logger

	// ctx is the requests' parent context; it is cancelled only when the
	// server gives up on a connection (forced close), never because the
	// till went away, so a request in flight completes and its retry
	// finds the stored answer.
	ctx    context.Context
	cancel context.CancelFunc

	slots    chan struct{}  // MaxInFlight request slots
	handlers sync.WaitGroup // request goroutines
	stopping chan struct{}  // closed by stop: read no more
	stopOnce sync.Once
	dead     chan struct{} // closed by kill: the transport is closed
	killOnce sync.Once

	readMu      sync.Mutex // guards following
	readStopped bool       // the read deadline stays in the past

	sendMu     sync.Mutex // guards following
	sendClosed bool
	send       chan []byte

	watchMu sync.Mutex // guards following
	watched map[string]time.Time
}

// pastDeadline ends any read at once.
var pastDeadline = time.Unix(1, 0)

func newConn(s *Server, ws *websocket.Conn, terminal string) *conn {
	ctx, cancel := context.WithCancel(context.Background())
	return &conn{
		srv:      s,
		cfg:      s.cfg,
		ws:       ws,
		terminal: terminal,
		log:      s.log.With("terminal", terminal, "remote", ws.RemoteAddr().String()),
		ctx:      ctx,
		cancel:   cancel,
		slots:    make(chan struct{}, s.cfg.MaxInFlight),
		stopping: make(chan struct{}),
		dead:     make(chan struct{}),
		send:     make(chan []byte, s.cfg.SendQueue),
		watched:  make(map[string]time.Time),
	}
}

// run serves the connection until the till leaves, the connection is
// dropped, or the server stops it; it returns once the writer and every
// request handler have finished.
func (c *conn) run() {
	defer c.cancel()
	c.log.Debug("posbridge: connected", "subprotocol", c.ws.Subprotocol())
	c.ws.SetReadLimit(c.cfg.MaxFrameBytes)
	c.ws.SetPongHandler(func(string) error { c.extendRead(); return nil })

	writerDone := make(chan struct{})
	go func() {
		defer close(writerDone)
		c.writeLoop()
	}()

	err := c.readLoop()
	if c.isStopping() && !c.isDead() {
		// Graceful: answer what was read, say goodbye (1001), then close.
		c.handlers.Wait()
		c.closeSend()
		<-writerDone
		if !c.isDead() {
			c.linger()
		}
		_ = c.ws.Close()
		return
	}
	if errors.Is(err, websocket.ErrReadLimit) {
		// The reader has sent 1009; let the till read it rather than a
		// reset caused by the rest of its frame arriving at a closed socket.
		c.markDead("frame too large")
		<-writerDone
		c.linger()
	} else {
		c.kill(readCause(err))
	}
	<-writerDone
	_ = c.ws.Close()
	// Requests in flight run to completion so that a retry finds their
	// stored answer; their responses have nowhere to go.
	c.handlers.Wait()
	c.closeSend()
}

// readLoop reads frames and dispatches them until a read fails or the
// connection is stopped.
func (c *conn) readLoop() error {
	for {
		if !c.extendRead() {
			return errStopped
		}
		typ, r, err := c.ws.NextReader()
		if err != nil {
			return err
		}
		if typ != websocket.TextMessage {
			if _, err := io.Copy(io.Discard, r); err != nil {
				return err
			}
			c.reply(nullID, "invalid", invalidRequest("binary frames are not supported", ""))
			continue
		}
		frame, err := io.ReadAll(r)
		if err != nil {
			return err
		}
		if !c.dispatch(frame) {
			return errStopped
		}
	}
}

var errStopped = errors.New("posbridge: connection stopped")

// dispatch answers a bad frame at once and starts a handler for a
// request, waiting for a free slot (backpressure) first. Notifications
// from the till are ignored. It reports false when reading should end.
func (c *conn) dispatch(frame []byte) bool {
	req, err := decodeRequest(frame)
	if err != nil {
		c.reply(req.ID, "invalid", err)
		return true
	}
	if req.ID == nil {
		return true
	}
	select {
	case c.slots <- struct{}{}:
	case <-c.stopping:
		c.reply(req.ID, methodLabel(req.Method), errUnavailable)
		return false
	case <-c.dead:
		return false
	}
	c.handlers.Add(1)
	go func() {
		defer c.handlers.Done()
		defer func() { <-c.slots }()
		c.handle(req)
	}()
	return true
}

// handle runs one request and queues its response.
func (c *conn) handle(req request) {
	start := time.Now()
	label := methodLabel(req.Method)
	h, ok := methods[req.Method]
	if !ok {
		c.reply(req.ID, label, &protocolError{code: codeMethodNotFound, reason: reasonMethodNotFound, message: "method not found"})
		return
	}
	ctx, cancel := context.WithTimeout(c.ctx, c.cfg.RequestTimeout)
	result, err := h(ctx, c.srv.svc, c.terminal, req.Params)
	cancel()
	c.srv.met.latency.WithLabelValues(label).Observe(time.Since(start).Seconds())
	if err != nil {
		c.reply(req.ID, label, err)
		return
	}
	frame, err := encodeResult(req.ID, result)
	if err != nil {
		c.reply(req.ID, label, err)
		return
	}
	if id := watchedMember(result); id != "" {
		c.watch(id)
	}
	c.srv.met.requests.WithLabelValues(label, "ok").Inc()
	c.enqueue(frame)
}

// reply queues an error response, counting and (if internal) logging it.
func (c *conn) reply(id json.RawMessage, label string, err error) {
	e := toRPCError(err)
	reason := e.Reason()
	if reason == reasonInternal {
		c.log.Error("posbridge: internal error", "method", label, "err", err)
	}
	if _, known := reasonCodes[reason]; !known && reason != reasonInternal && reason != reasonMethodNotFound {
		reason = "other" // bound the label's values
	}
	c.srv.met.requests.WithLabelValues(label, reason).Inc()
	c.enqueue(encodeError(id, e))
}

// writeLoop is the connection's only writer: it sends queued frames and
// pings until the queue is closed (then it says goodbye with 1001) or the
// connection is killed.
func (c *conn) writeLoop() {
	ping := time.NewTicker(c.cfg.PingInterval)
	defer ping.Stop()
	for {
		select {
		case frame, ok := <-c.send:
			if !ok {
				msg := websocket.FormatCloseMessage(websocket.CloseGoingAway, "server shutting down")
				_ = c.ws.WriteControl(websocket.CloseMessage, msg, time.Now().Add(c.cfg.WriteTimeout))
				return
			}
			_ = c.ws.SetWriteDeadline(time.Now().Add(c.cfg.WriteTimeout))
			if err := c.ws.WriteMessage(websocket.TextMessage, frame); err != nil {
				c.kill("write failed")
				return
			}
		case <-ping.C:
			if err := c.ws.WriteControl(websocket.PingMessage, nil, time.Now().Add(c.cfg.WriteTimeout)); err != nil {
				c.kill("ping failed")
				return
			}
		case <-c.dead:
			return
		}
	}
}

// enqueue queues a frame without waiting; a full queue drops the till.
func (c *conn) enqueue(frame []byte) {
	c.sendMu.Lock()
	defer c.sendMu.Unlock()
	if c.sendClosed {
		return
	}
	select {
	case c.send <- frame:
	default:
		c.kill("send queue full")
	}
}

// closeSend closes the queue once every producer but the notifier is
// done; the writer flushes what is queued and says goodbye.
func (c *conn) closeSend() {
	c.sendMu.Lock()
	defer c.sendMu.Unlock()
	if !c.sendClosed {
		c.sendClosed = true
		close(c.send)
	}
}

// extendRead pushes the read deadline out by the silence allowance, unless
// the connection is stopping; it reports whether reading may go on.
func (c *conn) extendRead() bool {
	c.readMu.Lock()
	defer c.readMu.Unlock()
	if c.readStopped {
		_ = c.ws.SetReadDeadline(pastDeadline)
		return false
	}
	_ = c.ws.SetReadDeadline(time.Now().Add(c.cfg.readTimeout()))
	return true
}

// stop ends reading; run then drains requests and closes with 1001.
func (c *conn) stop() {
	c.readMu.Lock()
	c.readStopped = true
	_ = c.ws.SetReadDeadline(pastDeadline)
	c.readMu.Unlock()
	c.stopOnce.Do(func() { close(c.stopping) })
}

func (c *conn) isStopping() bool {
	select {
	case <-c.stopping:
		return true
	default:
		return false
	}
}

func (c *conn) isDead() bool {
	select {
	case <-c.dead:
		return true
	default:
		return false
	}
}

// kill closes the transport at once without waiting on anything; the
// reader and writer fail and run cleans up. Requests in flight go on.
func (c *conn) kill(cause string) {
	c.markDead(cause)
	_ = c.ws.NetConn().Close()
}

// markDead stops the writer (it writes nothing more) and, the first time,
// counts and logs why the connection ends; cause "" is a normal close.
func (c *conn) markDead(cause string) {
	c.killOnce.Do(func() {
		close(c.dead)
		if cause != "" {
			c.srv.met.dropped.WithLabelValues(cause).Inc()
			c.log.Info("posbridge: connection dropped", "cause", cause)
		} else {
			c.log.Debug("posbridge: connection closed by the till")
		}
	})
}

// force kills the connection and cancels its requests.
func (c *conn) force(cause string) {
	c.kill(cause)
	c.cancel()
}

// closeNow closes a connection that never ran, with a close frame.
func (c *conn) closeNow(code int, text string) {
	_ = c.ws.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(code, text), time.Now().Add(c.cfg.WriteTimeout))
	_ = c.ws.Close()
	c.cancel()
}

// linger half-closes the socket after the close frame and discards what
// the till still sends until it closes too (or closeGrace passes), so the
// till reads our last frames instead of a reset.
func (c *conn) linger() {
	nc := c.ws.NetConn()
	if cw, ok := nc.(interface{ CloseWrite() error }); ok {
		_ = cw.CloseWrite()
	}
	_ = nc.SetReadDeadline(time.Now().Add(closeGrace))
	_, _ = io.Copy(io.Discard, io.LimitReader(nc, c.cfg.MaxFrameBytes))
}

// readCause names why reading ended, for the drop counter; "" for a till
// that closed normally.
func readCause(err error) string {
	var ne net.Error
	switch {
	case websocket.IsCloseError(err, websocket.CloseNormalClosure, websocket.CloseGoingAway):
		return ""
	case errors.As(err, &ne) && ne.Timeout():
		return "silent"
	case errors.Is(err, errStopped):
		return "stopped"
	}
	return "read failed"
}

// watch remembers that this till deals with a member, for member.changed.
func (c *conn) watch(id string) {
	now := c.cfg.Now()
	c.watchMu.Lock()
	defer c.watchMu.Unlock()
	if _, ok := c.watched[id]; !ok && len(c.watched) >= c.cfg.MaxWatched {
		c.evictLocked(now)
	}
	c.watched[id] = now
}

// evictLocked forgets expired members, or else the least recently touched.
func (c *conn) evictLocked(now time.Time) {
	var oldest string
	var oldestAt time.Time
	for id, at := range c.watched {
		if now.Sub(at) >= c.cfg.WatchFor {
			delete(c.watched, id)
			continue
		}
		if oldest == "" || at.Before(oldestAt) {
			oldest, oldestAt = id, at
		}
	}
	if len(c.watched) >= c.cfg.MaxWatched {
		delete(c.watched, oldest)
	}
}

// watching reports whether the till dealt with the member within WatchFor.
func (c *conn) watching(id string, now time.Time) bool {
	c.watchMu.Lock()
	defer c.watchMu.Unlock()
	at, ok := c.watched[id]
	if ok && now.Sub(at) >= c.cfg.WatchFor {
		delete(c.watched, id)
		return false
	}
	return ok
}
