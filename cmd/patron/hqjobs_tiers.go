package main

import (
	"context"
	"log/slog"
	"time"

	"github.com/patron/patron/node"
	"github.com/patron/patron/node/hqevents"
)

// HQ job names (POST /jobs/{name}).
const (
	jobTierReview = "tier-review"
	jobGreetings  = "greetings"
)

// tierAndGreetingJobs are the tier review (daily) and the birthday and
// anniversary greetings (hourly; only on a node that sends SMS, since a
// greeting recorded without a text to send would be used up). See
// docs/tiers-and-greetings.md.
func tierAndGreetingJobs(n *node.Node, events *hqevents.Emitter, logger *slog.Logger) []hqevents.Job {
	jobs := []hqevents.Job{{Name: jobTierReview, Every: node.TierReviewEvery, Run: func(ctx context.Context, now time.Time) error {
		run, err := n.RunTierReview(ctx, now, events.Emit)
		if run.Changed > 0 { // an error is the scheduler's to log
			logger.Info("tier review", "members", run.Members, "changed", run.Changed, "texts", run.Queued)
		}
		return err
	}}}
	if !n.SendsSMS() {
		logger.Info("no SMS sender (--sms): birthday and anniversary greetings are off")
		return jobs
	}
	return append(jobs, hqevents.Job{Name: jobGreetings, Every: node.GreetingEvery, Run: func(ctx context.Context, now time.Time) error {
		run, err := n.RunGreetings(ctx, now, events.Emit)
		if run.Emitted > 0 {
			logger.Info("greetings", "due", run.Due, "greeted", run.Emitted, "texts", run.Queued)
		}
		return err
	}})
}
