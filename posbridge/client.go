package posbridge

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/gorilla/websocket"
)

// Client limits.
const (
	// clientIdleTimeout drops a connection on which the server has sent
	// nothing (not even a ping) for this long; the server pings every 15 s.
	clientIdleTimeout = time.Minute
	// clientWriteTimeout bounds a request write when ctx has no deadline.
	clientWriteTimeout = 10 * time.Second
	// clientNotifications is how many notifications wait unread; when the
	// channel is full further ones are dropped, so a caller that ignores
	// them never stalls responses.
	clientNotifications = 64
	// clientMaxFrameBytes bounds a response frame read by the client.
	clientMaxFrameBytes = 16 << 20
)

// ErrClientClosed is returned by calls on a closed or broken [Client].
var ErrClientClosed = errors.New("posbridge: client closed")

// Notification is a server notification such as member.changed.
type Notification struct {
	Method string
	Params json.RawMessage
}

// Client is a POS protocol client for tests and the CLI till. Calls may be
// made concurrently; they are pipelined on one connection and matched by
// id. A single reader goroutine, owned by the client, delivers responses
// and notifications; Close waits for it.
type Client struct {
	ws         *websocket.Conn
	readerDone chan struct{}
	notes      chan Notification

	writeMu sync.Mutex // serialises request writes

	mu      sync.Mutex // guards following
	nextID  uint64
	pending map[string]chan clientResponse
	err     error // set once the connection is gone
}

type clientResponse struct {
	Result json.RawMessage `json:"result"`
	Error  *RPCError       `json:"error"`
}

// incoming is any frame the server sends.
type incoming struct {
	ID     json.RawMessage `json:"id"`
	Method string          `json:"method"`
	Params json.RawMessage `json:"params"`
	Result json.RawMessage `json:"result"`
	Error  *RPCError       `json:"error"`
}

// DialOption changes how [Dial] connects.
type DialOption func(*websocket.Dialer)

// WithTLSConfig makes a wss:// dial use cfg (for example a RootCAs pool
// holding a till listener's self-signed certificate). Default: the
// system's roots.
func WithTLSConfig(cfg *tls.Config) DialOption {
	return func(d *websocket.Dialer) { d.TLSClientConfig = cfg }
}

// Dial connects to url (ws://host:port/pos/v1, or wss:// when the node
// serves tills over TLS) as the terminal owning token.
func Dial(ctx context.Context, url, token string, opts ...DialOption) (*Client, error) {
	d := websocket.Dialer{
		Subprotocols:     []string{Subprotocol},
		HandshakeTimeout: readHeaderTimeout,
	}
	for _, o := range opts {
		o(&d)
	}
	h := http.Header{}
	h.Set("Authorization", "Bearer "+token)
	ws, resp, err := d.DialContext(ctx, url, h)
	if err != nil {
		if resp != nil {
			return nil, fmt.Errorf("posbridge: dial %s: HTTP %d: %w", url, resp.StatusCode, err)
		}
		return nil, fmt.Errorf("posbridge: dial %s: %w", url, err)
	}
	c := &Client{
		ws:         ws,
		readerDone: make(chan struct{}),
		notes:      make(chan Notification, clientNotifications),
		pending:    make(map[string]chan clientResponse),
	}
	ws.SetReadLimit(clientMaxFrameBytes)
	ws.SetPingHandler(func(data string) error {
		_ = ws.SetReadDeadline(time.Now().Add(clientIdleTimeout))
		err := ws.WriteControl(websocket.PongMessage, []byte(data), time.Now().Add(clientWriteTimeout))
		if errors.Is(err, websocket.ErrCloseSent) {
			return nil
		}
		var ne interface{ Timeout() bool }
		if errors.As(err, &ne) && ne.Timeout() {
			return nil
		}
		return err
	})
	go c.readLoop()
	return c, nil
}

// Call sends method with params and decodes the result into result (which
// may be nil). A JSON-RPC error comes back as *RPCError.
func (c *Client) Call(ctx context.Context, method string, params any, result any) error {
	if params == nil {
		params = struct{}{}
	}
	rawParams, err := json.Marshal(params)
	if err != nil {
		return fmt.Errorf("posbridge: call %s: encode params: %w", method, err)
	}
	ch := make(chan clientResponse, 1)
	c.mu.Lock()
	if c.err != nil {
		err := c.err
		c.mu.Unlock()
		return fmt.Errorf("posbridge: call %s: %w", method, err)
	}
	c.nextID++
	id := strconv.FormatUint(c.nextID, 10)
	c.pending[id] = ch
	c.mu.Unlock()
	defer func() {
		c.mu.Lock()
		delete(c.pending, id)
		c.mu.Unlock()
	}()

	frame, err := json.Marshal(struct {
		JSONRPC string          `json:"jsonrpc"`
		ID      json.RawMessage `json:"id"`
		Method  string          `json:"method"`
		Params  json.RawMessage `json:"params"`
	}{jsonrpcVersion, json.RawMessage(id), method, rawParams})
	if err != nil {
		return fmt.Errorf("posbridge: call %s: %w", method, err)
	}
	if err := c.write(ctx, frame); err != nil {
		return fmt.Errorf("posbridge: call %s: %w", method, err)
	}
	select {
	case resp := <-ch:
		if resp.Error != nil {
			return resp.Error
		}
		if result == nil {
			return nil
		}
		if err := json.Unmarshal(resp.Result, result); err != nil {
			return fmt.Errorf("posbridge: call %s: decode result: %w", method, err)
		}
		return nil
	case <-ctx.Done():
		return fmt.Errorf("posbridge: call %s: %w", method, ctx.Err())
	case <-c.readerDone:
		return fmt.Errorf("posbridge: call %s: %w", method, c.closedErr())
	}
}

func (c *Client) write(ctx context.Context, frame []byte) error {
	deadline, ok := ctx.Deadline()
	if !ok {
		deadline = time.Now().Add(clientWriteTimeout)
	}
	c.writeMu.Lock()
	defer c.writeMu.Unlock()
	_ = c.ws.SetWriteDeadline(deadline)
	return c.ws.WriteMessage(websocket.TextMessage, frame)
}

// Notifications returns the server's notifications; it is closed when the
// connection ends. Notifications beyond its buffer are dropped.
func (c *Client) Notifications() <-chan Notification { return c.notes }

// Close says goodbye, closes the connection and waits for the reader.
func (c *Client) Close() error {
	c.writeMu.Lock()
	_ = c.ws.WriteControl(websocket.CloseMessage,
		websocket.FormatCloseMessage(websocket.CloseNormalClosure, ""), time.Now().Add(time.Second))
	c.writeMu.Unlock()
	err := c.ws.Close()
	<-c.readerDone
	if err != nil && !errors.Is(err, net.ErrClosed) {
		return fmt.Errorf("posbridge: close: %w", err)
	}
	return nil
}

// Err returns why the connection ended, or nil while it is up. A close
// from the server is a *websocket.CloseError inside.
func (c *Client) Err() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.err
}

func (c *Client) closedErr() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.err == nil {
		return ErrClientClosed
	}
	return c.err
}

// readLoop is the client's one reader.
func (c *Client) readLoop() {
	defer close(c.readerDone)
	defer close(c.notes)
	for {
		_ = c.ws.SetReadDeadline(time.Now().Add(clientIdleTimeout))
		_, data, err := c.ws.ReadMessage()
		if err != nil {
			c.mu.Lock()
			c.err = fmt.Errorf("%w: %w", ErrClientClosed, err)
			c.mu.Unlock()
			// Nothing more can be read: release the socket now, so a
			// server waiting for our side of the close is not kept.
			_ = c.ws.Close()
			return
		}
		var in incoming
		if json.Unmarshal(data, &in) != nil {
			continue // not JSON-RPC; nothing to match it to
		}
		if in.ID == nil || string(in.ID) == "null" {
			if in.Method != "" {
				select {
				case c.notes <- Notification{Method: in.Method, Params: in.Params}:
				default:
				}
			}
			continue
		}
		c.mu.Lock()
		ch := c.pending[string(in.ID)]
		c.mu.Unlock()
		if ch != nil {
			select {
			case ch <- clientResponse{Result: in.Result, Error: in.Error}:
			default: // a duplicate answer; the first one counts
			}
		}
	}
}
