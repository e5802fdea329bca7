package load

import (
	"bytes"
	"context"
	"flag"
	"strings"
	"sync"
	"testing"
	"time"
)

var (
	hayateBin   = flag.String("hayate-bin", "", "Hayate binary to load (default: build ./cmd/hayate)")
	baselineBin = flag.String("baseline-bin", "", "baseline binary to load (default: build ./bench/baseline/cmd/baseline)")
)

var (
	buildOnce sync.Once
	built     Binaries
	buildErr  error
	buildDir  string
)

// binaries builds the two servers once per test binary (or takes the flags).
func binaries(t *testing.T) Binaries {
	t.Helper()
	if *hayateBin != "" && *baselineBin != "" {
		return Binaries{Hayate: *hayateBin, Baseline: *baselineBin}
	}
	buildOnce.Do(func() {
		buildDir, buildErr = osMkdirTemp()
		if buildErr == nil {
			ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
			defer cancel()
			built, buildErr = Build(ctx, buildDir)
		}
	})
	if buildErr != nil {
		t.Fatalf("building the servers: %v", buildErr)
	}
	return built
}

// TestRunTinyFanout drives both servers with one publisher and three
// subscribers for 2 s and checks the line a user reads: every field there,
// packets forwarded by both, hardly any loss, a CPU figure.
func TestRunTinyFanout(t *testing.T) {
	if testing.Short() {
		t.Skip("starts two servers and 8 WebRTC clients")
	}
	b := binaries(t)
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	var log bytes.Buffer
	results, err := Run(ctx, Options{
		Scenario: ScenarioFanout, Subs: 3, Duration: 2 * time.Second, Warmup: 500 * time.Millisecond,
		HayateBin: b.Hayate, BaselineCmd: []string{b.Baseline}, Log: &log,
	})
	t.Logf("progress:\n%s", log.String())
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	if len(results) != 1 {
		t.Fatalf("%d results, want 1", len(results))
	}
	r := results[0]
	line := r.Line()
	t.Log(line)
	if r.Err != nil {
		t.Fatalf("run failed: %v", r.Err)
	}
	for _, key := range []string{"scenario=fanout", "subs=3", "gso=off", "hayate_us_per_pkt=", "baseline_us_per_pkt=", "speedup=", "loss_pct=", "p99_added_latency_us=", "allocs_per_pkt="} {
		if !strings.Contains(line, key) {
			t.Errorf("line %q has no %s", line, key)
		}
	}
	if strings.Contains(line, "n/a") {
		t.Errorf("line %q has a figure missing", line)
	}
	for _, m := range []*Measurement{r.Hayate, r.Baseline} {
		// 3 subscribers × 200 packets a second × 2 s = 1200.
		if m.Forwarded < 600 || m.Expected < 600 {
			t.Errorf("%s: %d of %d packets forwarded, want most of 1200", m.Server, m.Forwarded, m.Expected)
		}
		if loss := m.LossPct(); !(loss < 5) {
			t.Errorf("%s: loss %.2f %%, want under 5 %%", m.Server, loss)
		}
		if us := m.USPerPkt(); !(us > 0) {
			t.Errorf("%s: %v µs per packet, want a positive figure", m.Server, us)
		}
		if m.P99 <= 0 || m.P99 > 2*time.Second {
			t.Errorf("%s: p99 latency %v, want between 0 and 2 s", m.Server, m.P99)
		}
		if m.Incomplete != 0 {
			t.Errorf("%s: %d subscribers lacked a stream", m.Server, m.Incomplete)
		}
		if m.TotalCPU < m.CPU {
			t.Errorf("%s: process CPU %v less than the window's %v", m.Server, m.TotalCPU, m.CPU)
		}
	}
}

// TestRunJoin brings 4 clients up on each server.
func TestRunJoin(t *testing.T) {
	if testing.Short() {
		t.Skip("starts two servers and 8 WebRTC clients")
	}
	b := binaries(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	results, err := Run(ctx, Options{Scenario: ScenarioJoin, Subs: 4, HayateBin: b.Hayate, BaselineCmd: []string{b.Baseline}})
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	r := results[0]
	t.Log(r.Line())
	if r.Err != nil {
		t.Fatalf("run failed: %v", r.Err)
	}
	for _, m := range []*Measurement{r.Hayate, r.Baseline} {
		if m.Joined != 4 || !(m.ConnPerSec() > 0) || m.ConnectP50 <= 0 {
			t.Errorf("%s: %d joined, %.1f/s, median %v; want 4 joined and positive figures", m.Server, m.Joined, m.ConnPerSec(), m.ConnectP50)
		}
	}
}

// A server that cannot start is reported in Result.Err, with its stderr.
func TestRunServerFails(t *testing.T) {
	results, err := Run(context.Background(), Options{Scenario: ScenarioFanout, Subs: 1, HayateBin: "/bin/false"})
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	if r := results[0]; r.Err == nil || r.Hayate != nil || !strings.Contains(r.Line(), "hayate_us_per_pkt=n/a") {
		t.Errorf("result %+v, line %q: want an error and n/a", r, r.Line())
	}
}
