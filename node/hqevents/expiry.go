package hqevents

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/patron/patron/engine"
	"github.com/patron/patron/node"
)

// The points expiry job (docs/points-expiry.md). For every member whose
// lots are due at now it emits points.expired with the latest due expiry
// as its mark; every node derives what expires from it. For every
// enrolled member owed a warning (engine.Programme.ExpiryWarningDue) it
// emits points.expiry_warned and, once that has committed, queues the
// text in this node's outbox — the leader's only, so one text goes out.
// Both are decided from the folded state, so a rerun or a new leader
// emits nothing twice.

// PointsExpiryJobName is the job's name (POST /jobs/points-expiry).
const PointsExpiryJobName = "points-expiry"

// PointsExpiryEvery is how often the job runs. Lots expire at the start
// of a day in the programme's zone, so an hourly run marks them within
// the hour; a warning is due for days, so the hour does not matter.
const PointsExpiryEvery = time.Hour

// MaxExpiryEventsPerRun bounds the events one run proposes, so a run
// after a long outage ends (and the scheduler sees a lost leadership)
// within minutes; the next run goes on where it stopped, because the
// events emitted are in the state it reviews.
const MaxExpiryEventsPerRun = 10_000

// PointsExpiryJob returns the job on node n, proposing through em.
func PointsExpiryJob(n *node.Node, em *Emitter, logger *slog.Logger) Job {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	return Job{Name: PointsExpiryJobName, Every: PointsExpiryEvery, Run: func(ctx context.Context, now time.Time) error {
		return RunPointsExpiry(ctx, n, em, logger, now)
	}}
}

// RunPointsExpiry runs the job once at now. A warning whose text could
// not be queued is recorded all the same (it is not sent again: at most
// once); the run goes on with the other members and returns that error
// at the end.
func RunPointsExpiry(ctx context.Context, n *node.Node, em *Emitter, logger *slog.Logger, now time.Time) error {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	if !n.CanWrite(engine.EventPointsExpired) {
		return nil // a chain of the previous format has no lots (node.stampLots)
	}
	emitted, marked, warned := 0, 0, 0
	var queueErrs []error
	after := ""
	for {
		page, next, err := n.ExpiryReview(ctx, now, after, 0)
		if err != nil {
			return err
		}
		for _, due := range page {
			if emitted >= MaxExpiryEventsPerRun {
				logger.Info("points expiry: event limit reached; the next run goes on", "marked", marked, "warned", warned)
				return errors.Join(queueErrs...)
			}
			if !due.Expire.IsZero() {
				if _, err := em.Emit(ctx, engine.Event{Kind: engine.EventPointsExpired, Member: due.Member, At: now,
					Expiry: &engine.PointsExpiry{Through: due.Expire}}); err != nil {
					return fmt.Errorf("hqevents: expire points of %s: %w", due.Member, err)
				}
				emitted++
				marked++
			}
			if w := due.Warning; w != nil {
				ev, err := em.Emit(ctx, engine.Event{Kind: engine.EventPointsExpiryWarned, Member: due.Member, At: now,
					Expiry: &engine.PointsExpiry{Through: w.Through, Points: w.Points, On: w.On}})
				if err != nil {
					return fmt.Errorf("hqevents: warn %s of expiring points: %w", due.Member, err)
				}
				emitted++
				warned++
				if err := n.QueueExpiryWarning(ctx, ev, due.Balance); err != nil {
					queueErrs = append(queueErrs, fmt.Errorf("hqevents: queue the expiry warning of %s: %w", due.Member, err))
				}
			}
		}
		if next == "" {
			break
		}
		after = next
	}
	if marked+warned > 0 {
		logger.Info("points expiry", "marked", marked, "warned", warned)
	}
	return errors.Join(queueErrs...)
}
