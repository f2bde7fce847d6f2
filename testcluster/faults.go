package testcluster

import (
	"context"
	"errors"
	"fmt"
	"github.com/patron/patron/node"
	"os"
	"path/filepath"
	"sync/atomic"

	"github.com/patron/patron/replication/faultnet"
)

// The directions of a store's HQ link, as faultnet sees the store's
// sockets.
const (
	// ToHQ is what the store sends.
	ToHQ = faultnet.Outbound
	// FromHQ is what the store receives.
	FromHQ = faultnet.Inbound
	// BothWays is both.
	BothWays = faultnet.Both
)

// ErrBadFaults refuses faults out of range.
var ErrBadFaults = errors.New("testcluster: bad faults")

// FaultCounts counts the faults a cluster injected, by kind.
type FaultCounts struct {
	// Datagrams are the store links' datagram faults (faultnet).
	Datagrams faultnet.Counters
	// Partitions counts partitions set (one store one way or both).
	Partitions uint64
	// RaftCuts counts Raft link cuts (CutRaft, IsolateRaft: one each).
	RaftCuts uint64
	// HQKills and StoreCrashes count nodes stopped without a clean
	// shutdown; ClockJumps counts skew changes.
	HQKills, StoreCrashes, ClockJumps uint64
	// StoreReplacements counts stores whose disk was lost (ReplaceStore).
	StoreReplacements uint64
}

// String is the faults part of a summary line.
func (f FaultCounts) String() string {
	d := f.Datagrams
	return fmt.Sprintf("dropped=%d duplicated=%d delayed=%d reordered=%d partitioned_datagrams=%d partitions=%d raft_cuts=%d hq_kills=%d store_crashes=%d store_replacements=%d clock_jumps=%d",
		d.Dropped, d.Duplicated, d.Delayed, d.Reordered, d.Partitioned, f.Partitions, f.RaftCuts, f.HQKills, f.StoreCrashes, f.StoreReplacements, f.ClockJumps)
}

// Add sums two counts.
func (f FaultCounts) Add(o FaultCounts) FaultCounts {
	f.Datagrams = f.Datagrams.Add(o.Datagrams)
	f.Partitions += o.Partitions
	f.RaftCuts += o.RaftCuts
	f.HQKills += o.HQKills
	f.StoreCrashes += o.StoreCrashes
	f.StoreReplacements += o.StoreReplacements
	f.ClockJumps += o.ClockJumps
	return f
}

// faultStats are the cluster's own fault counters.
type faultStats struct {
	partitions, raftCuts, hqKills, storeCrashes, storeReplacements, clockJumps atomic.Uint64
}

// SetLinkFaults sets datagram faults (loss, duplication, delay, jitter,
// reordering) on a store's HQ link in the directions of dir.
func (c *Cluster) SetLinkFaults(store string, dir faultnet.Dir, f faultnet.Faults) error {
	for _, p := range []float64{f.Drop, f.Duplicate, f.Reorder} {
		if p < 0 || p > 1 {
			return fmt.Errorf("%w: probability %v", ErrBadFaults, p)
		}
	}
	if f.Delay < 0 || f.Jitter < 0 || f.ReorderAfter < 0 {
		return fmt.Errorf("%w: negative delay, jitter or reorder count", ErrBadFaults)
	}
	if f.Partition {
		c.stats.partitions.Add(1)
	}
	c.Store(store).links.set(dir, f)
	return nil
}

// Partition cuts a store from HQ in the directions of dir (ToHQ or
// FromHQ alone is an asymmetric partition).
func (c *Cluster) Partition(store string, dir faultnet.Dir) {
	_ = c.SetLinkFaults(store, dir, faultnet.Faults{Partition: true}) // always valid
}

// PartitionHQ cuts HQ from every store.
func (c *Cluster) PartitionHQ() {
	for _, s := range c.Stores {
		c.Partition(s.ID, BothWays)
	}
}

// Heal removes every fault of a store's link.
func (c *Cluster) Heal(store string) { c.Store(store).links.heal() }

// HealAll removes every link fault, Raft cuts included.
func (c *Cluster) HealAll() {
	for _, s := range c.Stores {
		s.links.heal()
	}
	c.HealRaft()
}

// CutRaft cuts the Raft link between HQ nodes a and b ("HQ1", "HQ2")
// both ways until HealRaft: their connections close and new dials
// between them hang as into a partition (see raftLinks). The nodes and
// their store links stay up.
func (c *Cluster) CutRaft(a, b string) {
	c.hqByID(a)
	c.hqByID(b)
	if a == b {
		panic("testcluster: CutRaft of " + a + " with itself")
	}
	c.stats.raftCuts.Add(1)
	c.raft.cutPairs([2]string{a, b})
}

// IsolateRaft cuts HQ node id's Raft links to every other HQ node.
func (c *Cluster) IsolateRaft(id string) {
	c.hqByID(id)
	var pairs [][2]string
	for _, m := range c.HQs {
		if m.ID != id {
			pairs = append(pairs, [2]string{id, m.ID})
		}
	}
	c.stats.raftCuts.Add(1)
	c.raft.cutPairs(pairs...)
}

// HealRaft lifts every Raft cut; dials held by a cut go through.
func (c *Cluster) HealRaft() { c.raft.heal() }

// RaftCut lists the pairs of HQ nodes whose Raft link is cut now.
func (c *Cluster) RaftCut() [][2]string { return c.raft.cutNow() }

// RaftCutEffects returns how many Raft connections cuts closed and how
// many dials met a cut, so far.
func (c *Cluster) RaftCutEffects() (closed, held uint64) { return c.raft.counts() }

// hqByID returns the HQ member with id; an unknown id is a bug in the
// caller.
func (c *Cluster) hqByID(id string) *HQMember {
	for _, m := range c.HQs {
		if m.ID == id {
			return m
		}
	}
	panic("testcluster: no HQ " + id)
}

// Partitioned lists the stores cut from HQ (either way) now.
func (c *Cluster) Partitioned() []string {
	var out []string
	for _, s := range c.Stores {
		if s.links.partitioned() {
			out = append(out, s.ID)
		}
	}
	return out
}

// KillHQ stops HQ node i without leaving the Raft cluster: its Raft,
// sockets and node close; its files stay for RestartHQ.
func (c *Cluster) KillHQ(i int) error {
	if c.HQs[i].HQ() == nil {
		return nil
	}
	c.stats.hqKills.Add(1)
	return c.stopHQ(c.HQs[i])
}

// KillLeader kills the current Raft leader and returns its index, or -1
// when there is none.
func (c *Cluster) KillLeader() (int, error) {
	i := c.Leader()
	if i < 0 {
		return -1, nil
	}
	return i, c.KillHQ(i)
}

// RestartHQ reopens HQ node i from its files on its old addresses.
func (c *Cluster) RestartHQ(ctx context.Context, i int) error {
	m := c.HQs[i]
	if m.HQ() != nil {
		return nil
	}
	ln, err := listenRetry(ctx, "tcp", m.raftAddr)
	if err != nil {
		return err
	}
	pc, err := listenPacketRetry(ctx, m.syncAddr)
	if err != nil {
		ln.Close()
		return err
	}
	return c.startHQ(ctx, m, ln, pc)
}

// CrashStore stops a store abruptly (see stopStore); its files stay.
func (c *Cluster) CrashStore(store string) error {
	s := c.Store(store)
	if s.Node() == nil {
		return nil
	}
	c.stats.storeCrashes.Add(1)
	return c.stopStore(s)
}

// RestartStore reopens a crashed store from its files.
func (c *Cluster) RestartStore(ctx context.Context, store string) error {
	s := c.Store(store)
	if s.Node() != nil {
		return nil
	}
	return c.startStore(ctx, s, false)
}

// ReplaceStore stands in for a store whose disk died: it stops the store
// abruptly, deletes its data directory and starts it on an empty one —
// a new incarnation that pulls members, ledger and programme back from
// HQ and serves tills once it holds what HQ held (node.CatchUpTo). Its
// terminals are configured again, as an installer would.
func (c *Cluster) ReplaceStore(ctx context.Context, store string) error {
	s := c.Store(store)
	if err := c.CrashStore(store); err != nil {
		return err
	}
	if err := os.RemoveAll(s.dir); err != nil {
		return fmt.Errorf("testcluster: wipe %s: %w", store, err)
	}
	c.stats.storeReplacements.Add(1)
	s.mu.Lock()
	s.replaced, s.freshFile = true, true
	s.mu.Unlock()
	return c.startStore(ctx, s, false)
}

// RestoreStore stands in for a store put back to a backup (patron
// restore): it stops the store abruptly, replaces its data file with the
// backup at from under a new incarnation (node.Reincarnate, as restore
// does) and starts it. The events the store wrote after the backup come
// back from HQ before it serves tills again.
func (c *Cluster) RestoreStore(ctx context.Context, store, from string) error {
	s := c.Store(store)
	if err := c.CrashStore(store); err != nil {
		return err
	}
	data, err := os.ReadFile(from)
	if err != nil {
		return fmt.Errorf("testcluster: read backup: %w", err)
	}
	path := filepath.Join(s.dir, "patron.db")
	if err := os.WriteFile(path, data, 0o600); err != nil {
		return fmt.Errorf("testcluster: restore %s: %w", store, err)
	}
	if _, err := node.Reincarnate(path, store); err != nil {
		return err
	}
	s.mu.Lock()
	s.replaced, s.freshFile = true, true
	s.mu.Unlock()
	return c.startStore(ctx, s, false)
}

// RestartAll brings every stopped node back.
func (c *Cluster) RestartAll(ctx context.Context) error {
	for i := range c.HQs {
		if err := c.RestartHQ(ctx, i); err != nil {
			return err
		}
	}
	for _, s := range c.Stores {
		if err := c.RestartStore(ctx, s.ID); err != nil {
			return err
		}
	}
	return nil
}

// Clock returns a node's clock by id ("HQ1", "S2").
func (c *Cluster) Clock(id string) *Clock {
	for _, m := range c.HQs {
		if m.ID == id {
			return m.Clock
		}
	}
	return c.Store(id).Clock
}

// countClockJump counts a skew change made by a schedule.
func (c *Cluster) countClockJump() { c.stats.clockJumps.Add(1) }

// Faults returns what the cluster injected so far.
func (c *Cluster) Faults() FaultCounts {
	var f FaultCounts
	for _, s := range c.Stores {
		f.Datagrams = f.Datagrams.Add(s.links.counters())
	}
	f.Partitions = c.stats.partitions.Load()
	f.RaftCuts = c.stats.raftCuts.Load()
	f.HQKills = c.stats.hqKills.Load()
	f.StoreCrashes = c.stats.storeCrashes.Load()
	f.StoreReplacements = c.stats.storeReplacements.Load()
	f.ClockJumps = c.stats.clockJumps.Load()
	return f
}
