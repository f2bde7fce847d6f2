package syncproto

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"log/slog"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/patron/patron/engine"
	"github.com/patron/patron/replication"
)

// DialFunc opens a message connection to addr.
type DialFunc func(ctx context.Context, addr string) (MsgConn, error)

// ClientConfig configures a store's Client. The zero value of every field
// but Log, HQ and Dial is valid and documents its default.
type ClientConfig struct {
	// Log is the store's event log. Required.
	Log replication.EventLog
	// HQ lists the HQ nodes' sync addresses, tried in turn. Required.
	HQ []string
	// Peers lists peer stores' sync addresses, synced with only while HQ
	// is unreachable. Default none.
	Peers []string
	// Dial opens a connection. Required.
	Dial DialFunc
	// Applier commits received batches. Default LogApplier{Log}.
	Applier Applier
	// Feed wakes sessions on commits; share one with the node's Server.
	// Default: the Client makes and runs its own.
	Feed *Feed
	// Session tunes every session.
	Session SessionConfig
	// HoldTimeout bounds Hold and Void: past it the store redeems by its
	// offline rules. Default 1.5 s.
	HoldTimeout time.Duration
	// PeerFallbackAfter is how long HQ must have been unreachable before
	// the Client also syncs with Peers. Default 10 s.
	PeerFallbackAfter time.Duration
	// DialTimeout bounds one dial (handshake included). Default 5 s.
	DialTimeout time.Duration
	// BackoffMin and BackoffMax bound the pause between rounds of failed
	// attempts: it doubles from min to max, each pause drawn uniformly
	// from its upper half. Defaults 100 ms and 10 s.
	BackoffMin time.Duration
	BackoffMax time.Duration
	// MaxRedirects bounds the redirects followed in a row before backing
	// off (HQ mid-election may point around). Default 3.
	MaxRedirects int
	// OnHQSession, if set, is called with HQ's version vector each time an
	// HQ session comes up (a new incarnation waits to hold it before
	// serving tills: node.CatchUpTo). It must not block.
	OnHQSession func(hq engine.VersionVector)
	// Seed seeds the jitter. Default: a hash of the log's origin, so stores
	// do not retry in step and a test replays.
	Seed uint64
}

// DefaultClientConfig returns a ClientConfig with the defaults filled
// (Log, HQ, Dial and Seed left for the caller).
func DefaultClientConfig() ClientConfig {
	return ClientConfig{
		Session:           DefaultSessionConfig(),
		HoldTimeout:       1500 * time.Millisecond,
		PeerFallbackAfter: 10 * time.Second,
		DialTimeout:       5 * time.Second,
		BackoffMin:        100 * time.Millisecond,
		BackoffMax:        10 * time.Second,
		MaxRedirects:      3,
	}
}

// Validate reports every problem of the configuration at once.
func (c ClientConfig) Validate() error {
	var errs []error
	add := func(ok bool, msg string) {
		if !ok {
			errs = append(errs, errors.New("syncproto: client config: "+msg))
		}
	}
	add(c.Log != nil, "Log is required")
	add(len(c.HQ) > 0, "HQ needs at least one address")
	add(c.Dial != nil, "Dial is required")
	add(c.HoldTimeout >= 0 && c.PeerFallbackAfter >= 0 && c.DialTimeout >= 0 &&
		c.BackoffMin >= 0 && c.BackoffMax >= 0 && c.MaxRedirects >= 0, "durations and counts must not be negative")
	add(c.BackoffMax == 0 || c.BackoffMin <= c.BackoffMax, "BackoffMin exceeds BackoffMax")
	errs = append(errs, c.Session.Validate())
	return errors.Join(errs...)
}

func (c ClientConfig) withDefaults() ClientConfig {
	d := DefaultClientConfig()
	c.Session = c.Session.withDefaults()
	setDefault(&c.HoldTimeout, d.HoldTimeout)
	setDefault(&c.PeerFallbackAfter, d.PeerFallbackAfter)
	setDefault(&c.DialTimeout, d.DialTimeout)
	setDefault(&c.BackoffMin, d.BackoffMin)
	setDefault(&c.BackoffMax, d.BackoffMax)
	setDefault(&c.MaxRedirects, d.MaxRedirects)
	if c.BackoffMax < c.BackoffMin {
		c.BackoffMax = c.BackoffMin
	}
	if c.Seed == 0 && c.Log != nil {
		h := fnv.New64a()
		h.Write([]byte(c.Log.Origin()))
		c.Seed = h.Sum64()
	}
	return c
}

// ClientState is what a Client reports for metrics and the admin page.
type ClientState struct {
	HQ LinkState
	// HQDownSince is when the HQ session was last lost (or the Client
	// started), zero while connected.
	HQDownSince time.Time
	// Peers has one entry per peer link running (only during fallback).
	Peers []LinkState
}

// Client keeps a store synced: one session to HQ at all times, and
// sessions to peer stores while HQ has been unreachable for
// PeerFallbackAfter. Run it once; its HoldClient serves holds meanwhile.
type Client struct {
	cfg   ClientConfig
	log   *slog.Logger
	holds *HoldClient

	hqChanged chan struct{} // capacity one: the HQ link went up or down

	mu          sync.Mutex // guards following
	hq          LinkState
	hqSession   *Session // current, nil while down
	hqDownSince time.Time
	hqDownMono  time.Time // hqDownSince on the monotonic clock
	peers       map[string]*peerLink
}

// peerLink is one peer store's link during fallback.
type peerLink struct {
	session *Session // current, nil while down
	last    LinkState
}

// NewClient validates cfg and returns a Client.
func NewClient(cfg ClientConfig) (*Client, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	now := time.Now()
	return &Client{
		cfg:         cfg,
		log:         cfg.Session.Logger.With("component", "sync-client"),
		holds:       newHoldClient(cfg.HoldTimeout, cfg.Session.RetryDelay/5+time.Millisecond, 2*cfg.Session.PingInterval),
		hqChanged:   make(chan struct{}, 1),
		hqDownSince: cfg.Session.Now(),
		hqDownMono:  now,
		peers:       make(map[string]*peerLink),
	}, nil
}

// Holds is the store's hold authority over the current HQ session.
func (c *Client) Holds() *HoldClient { return c.holds }

// State reports the links.
func (c *Client) State() ClientState {
	c.mu.Lock()
	defer c.mu.Unlock()
	st := ClientState{HQ: c.hq}
	if c.hqSession != nil {
		st.HQ = c.hqSession.State()
	} else {
		st.HQDownSince = c.hqDownSince
	}
	for _, p := range c.peers {
		if p.session != nil {
			st.Peers = append(st.Peers, p.session.State())
		} else {
			st.Peers = append(st.Peers, p.last)
		}
	}
	return st
}

// Run keeps the links up until ctx is done, then returns nil once every
// session has ended.
func (c *Client) Run(ctx context.Context) error {
	var wg sync.WaitGroup
	feed := c.cfg.Feed
	if feed == nil {
		feed = NewFeed(c.cfg.Log)
		wg.Go(func() { feed.Run(ctx) })
	}
	wg.Go(func() { c.runLink(ctx, feed, RoleStore, c.cfg.HQ, c.hqLink()) })
	wg.Go(func() { c.runFallback(ctx, feed) })
	wg.Wait()
	return nil
}

// link is the bookkeeping runLink does for one link.
type link struct {
	up   func(*Session)
	down func(s *Session, addr string, err error)
}

func (c *Client) hqLink() link {
	return link{
		up: func(s *Session) {
			c.holds.set(s)
			st := s.State()
			c.mu.Lock()
			c.hq, c.hqSession = st, s
			c.mu.Unlock()
			c.signalHQ()
			c.log.Info("HQ session up", "addr", st.Addr, "hq", st.PeerOrigin, "behind", st.Behind)
			if c.cfg.OnHQSession != nil {
				c.cfg.OnHQSession(st.PeerHave)
			}
		},
		down: func(s *Session, addr string, err error) {
			if s != nil {
				c.holds.clear(s)
			}
			c.mu.Lock()
			wasUp := c.hqSession != nil
			if s != nil {
				c.hq = s.State()
			}
			c.hqSession = nil
			c.hq.Addr, c.hq.Connected, c.hq.LastError = addr, false, errString(err)
			if wasUp {
				c.hqDownSince, c.hqDownMono = c.cfg.Session.Now(), time.Now()
				c.hq.Since = c.hqDownSince
			}
			c.mu.Unlock()
			c.signalHQ()
			if wasUp {
				c.log.Warn("HQ session down", "addr", addr, "err", err)
			}
		},
	}
}

func (c *Client) peerLink(addr string) link {
	return link{
		up: func(s *Session) {
			c.mu.Lock()
			c.peers[addr] = &peerLink{session: s}
			c.mu.Unlock()
		},
		down: func(s *Session, _ string, err error) {
			st := LinkState{Addr: addr}
			if s != nil {
				st = s.State()
			}
			st.Connected, st.LastError = false, errString(err)
			c.mu.Lock()
			c.peers[addr] = &peerLink{last: st}
			c.mu.Unlock()
		},
	}
}

func (c *Client) signalHQ() {
	select {
	case c.hqChanged <- struct{}{}:
	default:
	}
}

// hqStatus reports whether HQ is connected, and for how long it has not
// been.
func (c *Client) hqStatus() (up bool, down time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.hqSession != nil, time.Since(c.hqDownMono)
}

// runLink keeps one session up: it tries addrs in turn, follows
// redirects, and backs off after a full round of failures.
func (c *Client) runLink(ctx context.Context, feed *Feed, role Role, addrs []string, l link) {
	rng := rand.New(rand.NewPCG(c.cfg.Seed, uint64(len(addrs))^uint64(role)))
	bo := backoff{min: c.cfg.BackoffMin, max: c.cfg.BackoffMax, rng: rng}
	next, failures, redirects := 0, 0, 0
	redirect := ""
	for ctx.Err() == nil {
		addr := addrs[next%len(addrs)]
		if redirect != "" {
			addr, redirect = redirect, ""
		}
		established, err := c.runOnce(ctx, feed, role, addr, l)
		if ctx.Err() != nil {
			return
		}
		var re *RedirectError
		if errors.As(err, &re) && redirects < c.cfg.MaxRedirects {
			redirects++
			if re.LeaderAddr != "" {
				redirect = re.LeaderAddr
			} else {
				next++
			}
			continue
		}
		redirects = 0
		if established {
			failures = 0
			bo.reset()
		} else {
			failures++
			next++
		}
		if failures > 0 && failures%len(addrs) != 0 {
			continue // try the next address at once
		}
		if !sleepCtx(ctx, bo.next()) {
			return
		}
	}
}

// runOnce dials addr and runs one session; it reports whether the session
// got past Hello.
func (c *Client) runOnce(ctx context.Context, feed *Feed, role Role, addr string, l link) (bool, error) {
	dctx, cancel := context.WithTimeout(ctx, c.cfg.DialTimeout)
	conn, err := c.cfg.Dial(dctx, addr)
	cancel()
	if err != nil {
		err = fmt.Errorf("syncproto: dial %s: %w", addr, err)
		l.down(nil, addr, err)
		return false, err
	}
	s, err := NewSession(conn, Local{Log: c.cfg.Log, Role: role, Applier: c.cfg.Applier, Feed: feed}, c.cfg.Session)
	if err != nil {
		conn.Close()
		l.down(nil, addr, err)
		return false, err
	}
	s.mu.Lock()
	s.state.Addr = addr
	s.mu.Unlock()
	established := false
	s.onUp = func(s *Session) {
		established = true
		l.up(s)
	}
	err = s.Run(ctx)
	l.down(s, addr, err)
	return established, err
}

// runFallback starts the peer links once HQ has been unreachable for
// PeerFallbackAfter and stops them when HQ is back.
func (c *Client) runFallback(ctx context.Context, feed *Feed) {
	if len(c.cfg.Peers) == 0 {
		return
	}
	var stop func() // cancels the peer links and waits for them
	defer func() {
		if stop != nil {
			stop()
		}
	}()
	timer := time.NewTimer(c.cfg.PeerFallbackAfter)
	defer timer.Stop()
	for {
		up, down := c.hqStatus()
		switch {
		case up && stop != nil:
			stop()
			stop = nil
			c.mu.Lock()
			clear(c.peers)
			c.mu.Unlock()
			c.log.Info("HQ back: peer sync stopped")
		case !up && stop == nil && down >= c.cfg.PeerFallbackAfter:
			c.log.Warn("HQ unreachable: syncing with peer stores", "down", down.Round(time.Millisecond), "peers", len(c.cfg.Peers))
			stop = c.startPeers(ctx, feed)
		case !up && stop == nil:
			timer.Reset(c.cfg.PeerFallbackAfter - down)
		}
		select {
		case <-ctx.Done():
			return
		case <-c.hqChanged:
		case <-timer.C:
		}
	}
}

// startPeers runs one link per peer; the returned function stops them
// and waits.
func (c *Client) startPeers(ctx context.Context, feed *Feed) func() {
	ctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	for _, addr := range c.cfg.Peers {
		wg.Go(func() { c.runLink(ctx, feed, RolePeer, []string{addr}, c.peerLink(addr)) })
	}
	return func() {
		cancel()
		wg.Wait()
	}
}

// backoff doubles a pause from min to max; each pause is drawn from the
// upper half of the current one ("equal jitter").
type backoff struct {
	min, max time.Duration
	cur      time.Duration
	rng      *rand.Rand
}

func (b *backoff) next() time.Duration {
	if b.cur == 0 {
		b.cur = b.min
	} else {
		b.cur = min(2*b.cur, b.max)
	}
	half := b.cur / 2
	return half + time.Duration(b.rng.Int64N(int64(half)+1))
}

func (b *backoff) reset() { b.cur = 0 }

// sleepCtx waits d or until ctx is done; it reports whether d passed.
func sleepCtx(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}
