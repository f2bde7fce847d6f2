package node

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"fmt"
	"time"

	"go.etcd.io/bbolt"
)

// AddTerminal registers a terminal and its bearer token (stored as its
// sha256). Adding an existing id replaces its token (rotation).
func (n *Node) AddTerminal(ctx context.Context, id, token string) error {
	if err := n.enter(ctx); err != nil {
		return err
	}
	defer n.leave()
	if !validID(id, MaxTerminalIDLen) || len(token) < MinTerminalTokenLen {
		return fmt.Errorf("node: add terminal %q: %w", id, ErrBadTerminal)
	}
	h := sha256.Sum256([]byte(token))
	// termMu is taken after the commit, never inside it.
	err := n.update(func(tx *bbolt.Tx) error {
		return tx.Bucket(bucketTerminals).Put([]byte(id), append([]byte{binaryVersion}, h[:]...))
	})
	if err != nil {
		return fmt.Errorf("node: add terminal: %w", err)
	}
	n.termMu.Lock()
	n.terminals[id] = h[:]
	n.termMu.Unlock()
	return nil
}

// AuthenticateTerminal returns the terminal whose token this is. It
// compares the token's hash with every terminal's in constant time.
func (n *Node) AuthenticateTerminal(token string) (id string, ok bool) {
	h := sha256.Sum256([]byte(token))
	n.termMu.RLock()
	defer n.termMu.RUnlock()
	for tid, th := range n.terminals {
		if subtle.ConstantTimeCompare(h[:], th) == 1 {
			id, ok = tid, true
		}
	}
	return id, ok
}

// Hello returns the node facts a till needs (hello). A node without a
// hold authority is its own HQ, so HQReachable is then always true. It
// reads no storage, so it answers even while the node closes.
func (n *Node) Hello(ctx context.Context, terminal string) Hello {
	h := Hello{Protocol: "pos/v1", Store: n.cfg.Store, Terminal: terminal,
		ServerTime: n.now().Format(time.RFC3339), HQReachable: !n.stale()}
	if p := n.Programme(); p != nil {
		h.Currency, h.MinorDigits, h.PointValue, h.Programme = p.Currency, p.MinorDigits, p.Redeem.PointValue, p.Version
	}
	return h
}
