package node

import (
	"encoding/binary"
	"fmt"

	"github.com/patron/patron/engine"
	"go.etcd.io/bbolt"
)

// metaChainFormat is the chain format this node writes events in
// (engine.EventFormat): absent in a file made by the first released
// build, which makes it format 1 until HQ's chain.format event arrives.
var metaChainFormat = []byte("chain_format")

// ErrChainFormat is returned when a request needs an event the chain
// cannot read yet: some node may still run the previous build, so the
// event would stop its sync. Finalize the upgrade at HQ (patron hq upgrade
// finalize) once every node runs this build.
var ErrChainFormat = engine.ErrChainFormat

// initChainFormat reads the file's chain format at open; a new file is
// of the current format (a chain that starts on this build has no older
// nodes).
func (n *Node) initChainFormat(tx *bbolt.Tx, created bool) error {
	meta := tx.Bucket(bucketMeta)
	if created {
		if err := meta.Put(metaChainFormat, binary.BigEndian.AppendUint32(nil, engine.CurrentChainFormat)); err != nil {
			return fmt.Errorf("node: chain format: %w", err)
		}
	}
	f, err := readChainFormat(meta)
	if err != nil {
		return err
	}
	n.chainFormat.Store(int32(f))
	return nil
}

func readChainFormat(meta *bbolt.Bucket) (int, error) {
	v := meta.Get(metaChainFormat)
	if v == nil {
		return engine.ChainFormat1, nil
	}
	if len(v) != 4 {
		return 0, fmt.Errorf("node: chain format record: %w", ErrCorrupt)
	}
	return int(binary.BigEndian.Uint32(v)), nil
}

// ChainFormat is the chain format this node writes events in.
func (n *Node) ChainFormat() int { return int(n.chainFormat.Load()) }

// checkChainFormat refuses ev if the chain's format cannot carry it. ev
// is stamped (origin, seq, time), as it will be encoded. In a chain of
// the current format there is nothing to check.
func (n *Node) checkChainFormat(ev engine.Event) error {
	have := n.ChainFormat()
	if have >= engine.CurrentChainFormat || ev.Kind == engine.EventChainFormat {
		return nil
	}
	if need := engine.EventFormat(ev); need > have {
		return fmt.Errorf("node: %s needs chain format %d, the chain is at %d (finalize the upgrade at HQ once every node runs this build): %w",
			ev.Kind, need, have, ErrChainFormat)
	}
	return nil
}

// applyChainFormat raises the node's chain format (never lowers it).
func (n *Node) applyChainFormat(tx *bbolt.Tx, ev engine.Event) error {
	meta := tx.Bucket(bucketMeta)
	have, err := readChainFormat(meta)
	if err != nil {
		return err
	}
	if ev.Format.Version <= have {
		return nil
	}
	if err := meta.Put(metaChainFormat, binary.BigEndian.AppendUint32(nil, uint32(ev.Format.Version))); err != nil {
		return fmt.Errorf("node: chain format: %w", err)
	}
	v := int32(ev.Format.Version)
	tx.OnCommit(func() {
		n.chainFormat.Store(v)
		n.log.Info("chain format raised: this node now writes every event kind it knows", "format", v)
	})
	return nil
}

// CanWrite reports whether the chain's format lets this node write events
// of kind with no new fields: callers skip optional events (a tier change
// noted at a sale) rather than fail the request.
func (n *Node) CanWrite(kind engine.EventKind) bool {
	return n.ChainFormat() >= engine.CurrentChainFormat || engine.Format1Kind(kind)
}

// checkProgrammeFormat refuses a programme whose document the chain's
// older nodes cannot parse (engine.ProgrammeFormat).
func (n *Node) checkProgrammeFormat(p *engine.Programme) error {
	have := n.ChainFormat()
	if need := engine.ProgrammeFormat(p); need > have {
		return fmt.Errorf("node: programme %s uses settings that need chain format %d, the chain is at %d (finalize the upgrade at HQ once every node runs this build): %w",
			p.Version, need, have, ErrChainFormat)
	}
	return nil
}
