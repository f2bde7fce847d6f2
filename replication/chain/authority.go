package chain

import (
	"context"
	"fmt"
	"sync/atomic"

	"github.com/patron/patron/engine"
	"github.com/patron/patron/replication/syncproto"
)

// Authority is a store node's hold authority (node.Config.Authority). It
// exists before the store's sync client, which needs the node, so the node
// can be opened with it; StartStore binds it to the client. Until then HQ
// is unreachable and the store redeems by its offline rules.
type Authority struct {
	holds atomic.Pointer[syncproto.HoldClient]
}

// NewAuthority returns an unbound Authority.
func NewAuthority() *Authority { return &Authority{} }

// Hold asks HQ to reserve points for a redemption.
func (a *Authority) Hold(ctx context.Context, h engine.Hold) (engine.HoldDecision, error) {
	c := a.holds.Load()
	if c == nil {
		return engine.HoldDecision{}, fmt.Errorf("chain: no sync client yet: %w", engine.ErrHQUnreachable)
	}
	return c.Hold(ctx, h)
}

// Void releases a hold.
func (a *Authority) Void(ctx context.Context, id string) error {
	c := a.holds.Load()
	if c == nil {
		return fmt.Errorf("chain: no sync client yet: %w", engine.ErrHQUnreachable)
	}
	return c.Void(ctx, id)
}

// Reachable reports whether a session with HQ is up.
func (a *Authority) Reachable() bool {
	c := a.holds.Load()
	return c != nil && c.Reachable()
}

func (a *Authority) bind(c *syncproto.HoldClient) { a.holds.Store(c) }
