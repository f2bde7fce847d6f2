package main

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/patron/patron/node"
	"github.com/patron/patron/node/hqevents"
)

// hqJobTick is how often an HQ node checks whether it leads and which of
// its jobs are due.
const hqJobTick = time.Minute

// hqJobs lists the periodic jobs the HQ Raft leader runs; each emits its
// events through events (see node/hqevents).
func hqJobs(n *node.Node, events *hqevents.Emitter, logger *slog.Logger) []hqevents.Job {
	var jobs []hqevents.Job
	jobs = append(jobs, tierAndGreetingJobs(n, events, logger)...) // hqjobs_tiers.go
	// Points expiry and its warnings (node/hqevents/expiry.go).
	jobs = append(jobs, hqevents.PointsExpiryJob(n, events, logger))
	jobs = append(jobs, personalOffersJob(n, events, logger)) // hqoffers.go
	return jobs
}

// runJob runs one HQ job now: POST /jobs/{name}, on the leader.
func (a *hqAdmin) runJob(w http.ResponseWriter, r *http.Request) {
	if a.jobs == nil {
		writeJSON(w, http.StatusNotFound, apiError{Error: "no jobs on this node"})
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), adminRequestTimeout)
	defer cancel()
	err := a.jobs.RunNow(ctx, r.PathValue("name"))
	switch {
	case errors.Is(err, hqevents.ErrUnknownJob):
		writeJSON(w, http.StatusNotFound, apiError{Error: err.Error() + "; jobs: " + strings.Join(a.jobs.JobNames(), ", ")})
		return
	case errors.Is(err, hqevents.ErrNotLeader):
		id, _ := a.hq.Raft().Leader()
		writeJSON(w, http.StatusConflict, apiError{Error: "this HQ node is not the Raft leader; send it to " + id, LeaderID: id})
		return
	case err != nil:
		a.fail(w, "run job", err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"job": r.PathValue("name"), "result": "done"})
}
