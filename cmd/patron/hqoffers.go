package main

import (
	"context"
	"log/slog"
	"time"

	"github.com/patron/patron/node"
	"github.com/patron/patron/node/hqevents"
)

// jobPersonalOffers is the personal offers job's name (POST
// /jobs/personal-offers). See docs/personal-offers.md.
const jobPersonalOffers = "personal-offers"

// personalOffersJob issues the personal offers due (daily, and on
// demand): the programme's personal_offers rules applied to every
// member's buying pattern, one offers.issued event per member offered.
func personalOffersJob(n *node.Node, events *hqevents.Emitter, logger *slog.Logger) hqevents.Job {
	return hqevents.Job{Name: jobPersonalOffers, Every: node.PersonalOffersEvery, Run: func(ctx context.Context, now time.Time) error {
		run, err := n.RunPersonalOffers(ctx, now, events.Emit)
		if run.Offered > 0 { // an error is the scheduler's to log
			logger.Info("personal offers", "members", run.Members, "offered", run.Offered, "offers", run.Offers)
		}
		return err
	}}
}
