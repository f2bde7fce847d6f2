package transport

import (
	"context"
	"fmt"
	"net"
)

// Dial opens a link to the node at raddr over pc and authenticates both
// ends with the pre-shared key. The Conn borrows pc until it is closed:
// nothing else may read pc meanwhile, and the caller closes pc afterwards
// (or dials again over it, which is how a re-key after ErrRekey is done).
func Dial(ctx context.Context, pc net.PacketConn, raddr net.Addr, cfg ClientConfig) (*Conn, error) {
	cfg = cfg.withDefaults()
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	d := newDemux(pc, nil)
	p := d.add(raddr)
	ctx, cancel := context.WithTimeout(ctx, cfg.Link.HandshakeTimeout)
	defer cancel()
	params := dtlsParams{flightInterval: cfg.Link.FlightInterval, logs: pionLogs{cfg.Link.Logger}}
	secure, server, err := dtlsClient(ctx, p, cfg.Identity, cfg.Key, params)
	if err != nil {
		_ = p.Close()
		d.close()
		return nil, fmt.Errorf("%w: with %s: %w", ErrHandshake, raddr, err)
	}
	if cfg.ExpectPeer != "" && server != cfg.ExpectPeer {
		_ = secure.Close()
		d.close()
		return nil, fmt.Errorf("%w: %s announced %q, want %q", ErrPeerMismatch, raddr, server, cfg.ExpectPeer)
	}
	c, err := newConn(ctx, secure, server, true, cfg.Link, func(*Conn) { d.close() })
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrHandshake, err)
	}
	return c, nil
}
