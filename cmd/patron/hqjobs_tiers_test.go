package main

import (
	"context"
	"log/slog"
	"path/filepath"
	"slices"
	"testing"

	"github.com/patron/patron/node"
	"github.com/patron/patron/node/hqevents"
	"github.com/patron/patron/node/sms"
)

// The tier review always runs; greetings only on a node that sends SMS.
func TestTierAndGreetingJobs(t *testing.T) {
	for _, tt := range []struct {
		name   string
		sender node.Sender
		want   []string
	}{
		{"no sender", nil, []string{jobTierReview}},
		{"with a sender", sms.Log{Logger: slog.New(slog.DiscardHandler)}, []string{jobTierReview, jobGreetings}},
	} {
		n, err := node.Open(context.Background(), node.Config{Path: filepath.Join(t.TempDir(), "hq.db"), Store: "HQ1",
			Origin: "HQ1", NoSync: true, SMS: tt.sender})
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, j := range tierAndGreetingJobs(n, hqevents.NewEmitter(n, nil, nil), slog.New(slog.DiscardHandler)) {
			got = append(got, j.Name)
		}
		n.Close()
		if !slices.Equal(got, tt.want) {
			t.Errorf("%s: jobs %v, want %v", tt.name, got, tt.want)
		}
	}
}
