package cluster

import (
	"context"
	"io"
	"log/slog"
	"os"
	"runtime"
	"strings"
	"testing"
	"time"
)

// checkGoroutines fails the test when, once it is cleaned up, goroutines
// of this package are still running (a Close that does not wait).
func checkGoroutines(t *testing.T) {
	t.Cleanup(func() {
		deadline := time.Now().Add(5 * time.Second)
		for {
			buf := make([]byte, 1<<20)
			stacks := string(buf[:runtime.Stack(buf, true)])
			var ours []string
			for _, g := range strings.Split(stacks, "\n\n") {
				if strings.Contains(g, "hayate/ctrl/cluster.") && !strings.Contains(g, "checkGoroutines") && !strings.Contains(g, "testing.tRunner") {
					ours = append(ours, g)
				}
			}
			if len(ours) == 0 {
				return
			}
			if time.Now().After(deadline) {
				t.Errorf("%d goroutines left running:\n%s", len(ours), strings.Join(ours, "\n\n"))
				return
			}
			time.Sleep(50 * time.Millisecond)
		}
	})
}

// testCtx bounds a test's waits.
func testCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// waitLeader waits until r knows a leader.
func waitLeader(ctx context.Context, r *replica) error {
	for r.lead.Load() == 0 {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(10 * time.Millisecond):
		}
	}
	return nil
}

// testLogger is silent unless CLUSTER_DEBUG is set.
func testLogger() *slog.Logger {
	if os.Getenv("CLUSTER_DEBUG") != "" {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.NewTextHandler(io.Discard, nil))
}
