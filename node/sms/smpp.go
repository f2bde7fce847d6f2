package sms

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"strings"
	"sync"
	"time"

	"github.com/linxGnu/gosmpp"
	"github.com/linxGnu/gosmpp/data"
	"github.com/linxGnu/gosmpp/pdu"
)

// SMPP limits.
const (
	// MaxTrackedReceipts bounds the SMSC message ids remembered for
	// matching delivery receipts; the oldest are forgotten first. A day
	// of a busy store's texts fits.
	MaxTrackedReceipts = 10_000
	// MaxMessageParts bounds the parts of one long text: a template
	// that renders longer is a mistake, not a letter.
	MaxMessageParts = 6
)

// Bind types.
const (
	BindTransceiver = "transceiver"
	BindTransmitter = "transmitter"
)

// SMPPConfig configures an SMPP sender. Addr, SystemID and Password are
// required; every other zero field means its documented default.
type SMPPConfig struct {
	// Addr is the SMSC's host:port. Required.
	Addr string
	// SystemID and Password authenticate the bind. Required.
	SystemID string
	Password string
	// SystemType is sent in the bind. Default "".
	SystemType string
	// Bind is BindTransceiver (default: delivery receipts arrive on the
	// same connection) or BindTransmitter (no receipts).
	Bind string
	// Source is the sender id shown on handsets (alphanumeric, TON 5).
	// Default "Patron".
	Source string
	// BindTimeout bounds connecting and binding. Default 10 s.
	BindTimeout time.Duration
	// SubmitTimeout bounds how long Send waits for a bind and then for
	// the SMSC's submit_sm_resp. Default 10 s.
	SubmitTimeout time.Duration
	// EnquireLink is the keep-alive interval. Default 30 s.
	EnquireLink time.Duration
	// ReconnectMin and ReconnectMax bound the back-off between binds;
	// it doubles from Min after every failed bind and resets after a
	// good one. Defaults 500 ms and 30 s.
	ReconnectMin time.Duration
	ReconnectMax time.Duration
	// OnReceipt receives delivery receipts, on the connection's reader
	// goroutine: it must not block for long. Default none.
	OnReceipt func(Receipt)
	// Dial opens the TCP connection. Default a net.Dialer.
	Dial func(ctx context.Context, network, addr string) (net.Conn, error)
	// Now is the clock of receipts. Default time.Now.
	Now func() time.Time
}

// DefaultSMPPConfig returns the defaults; Addr, SystemID and Password are
// left for the caller.
func DefaultSMPPConfig() SMPPConfig {
	return SMPPConfig{
		Bind:          BindTransceiver,
		Source:        "Patron",
		BindTimeout:   10 * time.Second,
		SubmitTimeout: 10 * time.Second,
		EnquireLink:   30 * time.Second,
		ReconnectMin:  500 * time.Millisecond,
		ReconnectMax:  30 * time.Second,
		Dial:          (&net.Dialer{}).DialContext,
		Now:           time.Now,
	}
}

// withDefaults fills zero fields.
func (c SMPPConfig) withDefaults() SMPPConfig {
	d := DefaultSMPPConfig()
	if c.Bind == "" {
		c.Bind = d.Bind
	}
	if c.Source == "" {
		c.Source = d.Source
	}
	for _, f := range []struct{ v, d *time.Duration }{{&c.BindTimeout, &d.BindTimeout},
		{&c.SubmitTimeout, &d.SubmitTimeout}, {&c.EnquireLink, &d.EnquireLink},
		{&c.ReconnectMin, &d.ReconnectMin}, {&c.ReconnectMax, &d.ReconnectMax}} {
		if *f.v == 0 {
			*f.v = *f.d
		}
	}
	if c.Dial == nil {
		c.Dial = d.Dial
	}
	if c.Now == nil {
		c.Now = d.Now
	}
	return c
}

// Validate reports every problem of the configuration at once.
func (c SMPPConfig) Validate() error {
	var errs []error
	if _, _, err := net.SplitHostPort(c.Addr); err != nil {
		errs = append(errs, fmt.Errorf("sms: smpp: Addr %q must be host:port", c.Addr))
	}
	if c.SystemID == "" || len(c.SystemID) > 15 {
		errs = append(errs, errors.New("sms: smpp: SystemID must be 1 to 15 characters (SMPP 3.4)"))
	}
	if len(c.Password) > 8 {
		errs = append(errs, errors.New("sms: smpp: Password must be at most 8 characters (SMPP 3.4)"))
	}
	if c.Bind != "" && c.Bind != BindTransceiver && c.Bind != BindTransmitter {
		errs = append(errs, fmt.Errorf("sms: smpp: Bind %q must be %q or %q", c.Bind, BindTransceiver, BindTransmitter))
	}
	if len(c.Source) > 11 {
		errs = append(errs, errors.New("sms: smpp: Source must be at most 11 characters (alphanumeric sender id)"))
	}
	for _, d := range []struct {
		name string
		v    time.Duration
	}{{"BindTimeout", c.BindTimeout}, {"SubmitTimeout", c.SubmitTimeout}, {"EnquireLink", c.EnquireLink},
		{"ReconnectMin", c.ReconnectMin}, {"ReconnectMax", c.ReconnectMax}} {
		if d.v < 0 {
			errs = append(errs, fmt.Errorf("sms: smpp: %s must not be negative", d.name))
		}
	}
	if c.ReconnectMax != 0 && c.ReconnectMin > c.ReconnectMax {
		errs = append(errs, errors.New("sms: smpp: ReconnectMin must not exceed ReconnectMax"))
	}
	return errors.Join(errs...)
}

// SMPP is a Sender over one SMPP bind, kept up by an owned goroutine.
// Create it with NewSMPP and release it with Close.
type SMPP struct {
	cfg    SMPPConfig
	cancel context.CancelFunc
	done   chan struct{} // closed when the bind goroutine returns

	mu      sync.Mutex // guards following
	sess    *gosmpp.Session
	gen     uint64        // the bind's generation: callbacks of older binds are ignored
	up      chan struct{} // closed when a bind is up; replaced when it goes down
	lastErr error         // why the last bind failed or ended
	waiting map[int32]*submitWait
	refs    map[string]string // SMSC message id → Message.ID
	order   []string          // SMSC ids in the order they were added, for eviction
	binds   int               // successful binds, for tests and status
	closed  bool
}

// submitWait is a submit_sm waiting for its answer.
type submitWait struct {
	gen  uint64
	id   string            // Message.ID, for matching receipts
	done chan submitResult // buffered 1
}

type submitResult struct {
	smscID string
	err    error
}

// NewSMPP validates cfg and starts the goroutine that binds to the SMSC.
// It does not wait for the bind: Send does.
func NewSMPP(cfg SMPPConfig) (*SMPP, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	ctx, cancel := context.WithCancel(context.Background())
	s := &SMPP{cfg: cfg, cancel: cancel, done: make(chan struct{}), up: make(chan struct{}),
		waiting: make(map[int32]*submitWait), refs: make(map[string]string),
		lastErr: errors.New("not bound yet")}
	go func() {
		defer close(s.done)
		s.run(ctx)
	}()
	return s, nil
}

// Close stops the bind goroutine, unbinds and fails the sends in flight
// with ErrClosed. It is idempotent.
func (s *SMPP) Close() error {
	s.mu.Lock()
	s.closed = true
	s.mu.Unlock()
	s.cancel()
	<-s.done
	return nil
}

// Binds reports how many binds succeeded so far (a reconnect makes it
// grow) and why the last one failed or ended.
func (s *SMPP) Binds() (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.binds, s.lastErr
}

// run binds, waits for the bind to end, and binds again with back-off,
// until ctx ends.
func (s *SMPP) run(ctx context.Context) {
	backoff := s.cfg.ReconnectMin
	for {
		down := make(chan struct{}, 1)
		sess, err := s.bind(ctx, down)
		if err == nil {
			backoff = s.cfg.ReconnectMin
			select {
			case <-ctx.Done():
			case <-down:
			}
			s.unbind(sess, ErrConnectionLost)
		} else {
			s.mu.Lock()
			s.lastErr = err
			s.mu.Unlock()
		}
		if ctx.Err() != nil {
			s.mu.Lock()
			s.lastErr = ErrClosed
			s.mu.Unlock()
			return
		}
		if err == nil {
			continue // the bind was up: try again at once
		}
		t := time.NewTimer(backoff)
		select {
		case <-ctx.Done():
			t.Stop()
		case <-t.C:
		}
		backoff = min(2*backoff, s.cfg.ReconnectMax)
	}
}

// bind opens one session; down receives a value when it ends.
func (s *SMPP) bind(ctx context.Context, down chan struct{}) (*gosmpp.Session, error) {
	s.mu.Lock()
	s.gen++
	gen := s.gen
	s.mu.Unlock()
	var sniff *headerConn
	dial := func(addr string) (net.Conn, error) {
		dctx, cancel := context.WithTimeout(ctx, s.cfg.BindTimeout)
		defer cancel()
		conn, err := s.cfg.Dial(dctx, "tcp", addr)
		if err != nil {
			return nil, err
		}
		// Bounds the bind exchange, which gosmpp reads without a
		// deadline; the session's reads and writes set their own.
		if err := conn.SetDeadline(time.Now().Add(s.cfg.BindTimeout)); err != nil {
			return nil, errors.Join(err, conn.Close())
		}
		sniff = &headerConn{Conn: conn}
		return sniff, nil
	}
	auth := gosmpp.Auth{SMSC: s.cfg.Addr, SystemID: s.cfg.SystemID, Password: s.cfg.Password, SystemType: s.cfg.SystemType}
	connector := gosmpp.TRXConnector(dial, auth)
	if s.cfg.Bind == BindTransmitter {
		connector = gosmpp.TXConnector(dial, auth)
	}
	settings := gosmpp.Settings{
		ReadTimeout:  3 * s.cfg.EnquireLink,
		WriteTimeout: s.cfg.SubmitTimeout,
		EnquireLink:  s.cfg.EnquireLink,
		OnPDU:        func(p pdu.PDU, _ bool) { s.onPDU(gen, p) },
		OnClosed: func(st gosmpp.State) {
			if st != gosmpp.ExplicitClosing && st != gosmpp.StoppingProcessOnly {
				select {
				case down <- struct{}{}:
				default:
				}
			}
		},
	}
	sess, err := gosmpp.NewSession(connector, settings, 0) // 0: we rebind ourselves, with back-off and ctx
	if err != nil {
		var be gosmpp.BindError
		if errors.As(err, &be) {
			return nil, fmt.Errorf("sms: smpp bind to %s refused: %s", s.cfg.Addr, be.Error())
		}
		if st, ok := sniff.refusal(); ok {
			// SMPP sends a refused bind_resp without a body, which
			// gosmpp v0.3.1 reads as EOF; the header says why.
			return nil, fmt.Errorf("sms: smpp bind to %s refused: %s (%s)", s.cfg.Addr, st, st.Desc())
		}
		return nil, fmt.Errorf("sms: smpp bind to %s: %w", s.cfg.Addr, err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.sess, s.binds, s.lastErr = sess, s.binds+1, nil
	close(s.up)
	return sess, nil
}

// unbind ends a session and fails the submits waiting on it with why.
func (s *SMPP) unbind(sess *gosmpp.Session, why error) {
	s.mu.Lock()
	s.sess, s.up, s.lastErr = nil, make(chan struct{}), why
	gen := s.gen
	for seq, w := range s.waiting {
		if w.gen == gen {
			w.done <- submitResult{err: why}
			delete(s.waiting, seq)
		}
	}
	s.mu.Unlock()
	_ = sess.Close() // outside mu: it waits for the reader, which may call onPDU
}

// Send submits m and waits for the SMSC's answer to every part.
func (s *SMPP) Send(ctx context.Context, m Message) error {
	ctx, cancel := context.WithTimeout(ctx, s.cfg.SubmitTimeout)
	defer cancel()
	parts, err := s.submits(m)
	if err != nil {
		return err
	}
	sess, gen, err := s.waitBound(ctx)
	if err != nil {
		return err
	}
	waits := make([]*submitWait, len(parts))
	s.mu.Lock()
	for i, p := range parts {
		waits[i] = &submitWait{gen: gen, id: m.ID, done: make(chan submitResult, 1)}
		s.waiting[p.GetSequenceNumber()] = waits[i]
	}
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		for _, p := range parts {
			delete(s.waiting, p.GetSequenceNumber())
		}
		s.mu.Unlock()
	}()
	for _, p := range parts {
		if err := sess.Transceiver().Submit(p); err != nil {
			return fmt.Errorf("%w: %w", ErrConnectionLost, err)
		}
	}
	for _, w := range waits {
		select {
		case <-ctx.Done():
			return fmt.Errorf("sms: smpp submit %s: %w", m.ID, ctx.Err())
		case r := <-w.done:
			if r.err != nil {
				return fmt.Errorf("sms: smpp submit %s: %w", m.ID, r.err)
			}
		}
	}
	return nil
}

// waitBound waits for a bind until ctx ends.
func (s *SMPP) waitBound(ctx context.Context) (*gosmpp.Session, uint64, error) {
	for {
		s.mu.Lock()
		sess, gen, up, closed := s.sess, s.gen, s.up, s.closed
		s.mu.Unlock()
		switch {
		case closed:
			return nil, 0, ErrClosed
		case sess != nil:
			return sess, gen, nil
		}
		select {
		case <-ctx.Done():
			s.mu.Lock()
			last := s.lastErr
			s.mu.Unlock()
			return nil, 0, fmt.Errorf("%w (%w): %w", ErrNotBound, last, ctx.Err())
		case <-s.done:
			return nil, 0, ErrClosed
		case <-up:
		}
	}
}

// headerConn remembers the first PDU header read on a connection: the
// bind_resp.
type headerConn struct {
	net.Conn
	n      int
	header [16]byte
}

func (c *headerConn) Read(b []byte) (int, error) {
	n, err := c.Conn.Read(b)
	if c.n < len(c.header) {
		c.n += copy(c.header[c.n:], b[:n])
	}
	return n, err
}

// refusal is the command status of a bind_resp that refused the bind.
func (c *headerConn) refusal() (data.CommandStatusType, bool) {
	if c == nil || c.n < len(c.header) {
		return 0, false
	}
	id := data.CommandIDType(int32(binary.BigEndian.Uint32(c.header[4:8])))
	st := data.CommandStatusType(binary.BigEndian.Uint32(c.header[8:12]))
	isBindResp := id == data.BIND_TRANSCEIVER_RESP || id == data.BIND_TRANSMITTER_RESP || id == data.BIND_RECEIVER_RESP
	return st, isBindResp && st != data.ESME_ROK
}

// submits builds the submit_sm PDUs of m, one per part.
func (s *SMPP) submits(m Message) ([]*pdu.SubmitSM, error) {
	src := pdu.NewAddressWithTonNpi(5, 0) // alphanumeric
	if err := src.SetAddress(s.cfg.Source); err != nil {
		return nil, fmt.Errorf("sms: smpp source: %w: %w", ErrPermanent, err)
	}
	dst := pdu.NewAddressWithTonNpi(1, 1) // international, E.164
	if err := dst.SetAddress(strings.TrimPrefix(m.To, "+")); err != nil {
		return nil, fmt.Errorf("sms: smpp destination %q: %w: %w", m.To, ErrPermanent, err)
	}
	sm := pdu.NewSubmitSM().(*pdu.SubmitSM)
	sm.SourceAddr, sm.DestAddr = src, dst
	sm.RegisteredDelivery = 1 // a receipt on final success or failure
	enc := data.GSM7BIT
	if _, err := enc.Encode(m.Text); err != nil || !fitsGSM(m.Text) {
		enc = data.UCS2
	}
	if err := sm.Message.SetLongMessageWithEnc(m.Text, enc); err != nil {
		return nil, fmt.Errorf("sms: smpp encode %s: %w: %w", m.ID, ErrPermanent, err)
	}
	parts, err := sm.Split()
	if err != nil {
		return nil, fmt.Errorf("sms: smpp split %s: %w: %w", m.ID, ErrPermanent, err)
	}
	if len(parts) > MaxMessageParts {
		return nil, fmt.Errorf("sms: smpp %s: %d parts, over MaxMessageParts: %w", m.ID, len(parts), ErrPermanent)
	}
	for _, p := range parts {
		p.AssignSequenceNumber() // Split copies the header: each part needs its own
	}
	return parts, nil
}

// onPDU handles what the SMSC sends: answers to submits and delivery
// receipts (deliver_sm, answered by gosmpp).
func (s *SMPP) onPDU(gen uint64, p pdu.PDU) {
	switch pd := p.(type) {
	case *pdu.SubmitSMResp:
		var err error
		if st := pd.CommandStatus; st != data.ESME_ROK {
			err = statusError(st)
		}
		s.answer(gen, pd.GetSequenceNumber(), submitResult{smscID: pd.MessageID, err: err})
	case *pdu.GenericNack:
		s.answer(gen, pd.GetSequenceNumber(), submitResult{err: statusError(pd.CommandStatus)})
	case *pdu.DeliverSM:
		s.onDeliver(pd)
	}
}

// answer hands a submit its result. The SMSC id is remembered here, on
// the reader, so the receipt that may follow at once finds it.
func (s *SMPP) answer(gen uint64, seq int32, r submitResult) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if w, ok := s.waiting[seq]; ok && w.gen == gen {
		if r.err == nil {
			s.trackLocked(r.smscID, w.id)
		}
		w.done <- r
		delete(s.waiting, seq)
	}
}

// onDeliver reports a delivery receipt of a message this sender sent.
func (s *SMPP) onDeliver(pd *pdu.DeliverSM) {
	if pd.EsmClass&data.SM_SMSC_DLV_RCPT_TYPE == 0 || s.cfg.OnReceipt == nil {
		return // a mobile-originated message, or nobody listens
	}
	text, err := pd.Message.GetMessage()
	if err != nil {
		return
	}
	smscID, stat := receiptFields(text)
	s.mu.Lock()
	id, ok := s.refs[smscID]
	s.mu.Unlock()
	if !ok {
		return // sent before a restart, or forgotten (MaxTrackedReceipts)
	}
	s.cfg.OnReceipt(Receipt{ID: id, Delivered: stat == "DELIVRD", Status: stat, At: s.cfg.Now()})
}

// trackLocked remembers the SMSC id of a sent message (part), forgetting
// the oldest beyond MaxTrackedReceipts.
func (s *SMPP) trackLocked(smscID, id string) {
	if smscID == "" {
		return
	}
	s.refs[smscID] = id
	s.order = append(s.order, smscID)
	for len(s.order) > MaxTrackedReceipts {
		delete(s.refs, s.order[0])
		s.order = s.order[1:]
	}
}

// receiptFields reads "id:" and "stat:" from a receipt's text (SMPP 3.4
// appendix B: "id:IIII sub:SSS dlvrd:DDD submit date:... stat:DDDDDDD
// err:E text:...").
func receiptFields(text string) (id, stat string) {
	for _, f := range strings.Fields(text) {
		k, v, ok := strings.Cut(f, ":")
		if !ok {
			continue
		}
		switch strings.ToLower(k) {
		case "id":
			id = v
		case "stat":
			stat = strings.ToUpper(v)
		}
	}
	return id, stat
}

// statusError turns an SMSC command status into an error; statuses a
// retry can mend are not ErrPermanent.
func statusError(st data.CommandStatusType) error {
	switch st {
	case data.ESME_RTHROTTLED, data.ESME_RMSGQFUL, data.ESME_RSYSERR, data.ESME_RSUBMITFAIL, data.ESME_RX_T_APPN:
		return fmt.Errorf("sms: SMSC answered %s (%s)", st, st.Desc())
	}
	return fmt.Errorf("sms: SMSC answered %s (%s): %w", st, st.Desc(), ErrPermanent)
}

// gsmBasic is the GSM 03.38 default alphabet plus its extension table.
const gsmBasic = "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?¡" +
	"ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà" + "\f^{}\\[~]|€"

// fitsGSM reports whether every character of s is in the GSM alphabet.
func fitsGSM(s string) bool {
	for _, r := range s {
		if !strings.ContainsRune(gsmBasic, r) {
			return false
		}
	}
	return true
}
