package main

import (
	"bytes"
	"context"
	"runtime"
	"strings"
	"testing"
	"time"
)

// TestDemoRunsTheScript runs the demo's loop for a few seconds into a
// buffer: the script's every step is announced, the table is drawn, the
// chain converges with no violation, and every goroutine the demo
// started has ended when it returns.
func TestDemoRunsTheScript(t *testing.T) {
	before := runtime.NumGoroutine()
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	var out bytes.Buffer
	err := run(ctx, []string{"-duration", "4s", "-refresh", "500ms", "-ansi=false", "-seed", "11"}, &out)
	got := out.String()
	if err != nil {
		t.Fatalf("demo: %v\n%s", err, got)
	}
	for _, want := range []string{"cutting S2 from HQ…", "healing S2…", "cutting HQ from every store…",
		"healing every link…", "HQ link", "behind HQ", "+919800010000", "converged", "0 violations"} {
		if !strings.Contains(got, want) {
			t.Errorf("output lacks %q:\n%s", want, got)
		}
	}
	if strings.Contains(got, "\x1b[") {
		t.Error("-ansi=false output has escape codes")
	}
	// Goroutines of closed connections end a moment after Close returns.
	deadline := time.Now().Add(10 * time.Second)
	for runtime.NumGoroutine() > before {
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<20)
			t.Fatalf("%d goroutines after the demo, %d before:\n%s", runtime.NumGoroutine(), before, buf[:runtime.Stack(buf, true)])
		}
		time.Sleep(20 * time.Millisecond) // polling the goroutine count, bounded by deadline
	}
}
