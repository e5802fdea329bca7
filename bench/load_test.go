package bench

import (
	"context"
	"flag"
	"fmt"
	"math"
	"os"
	"testing"
	"time"

	"github.com/hayate-sfu/hayate/bench/load"
)

var (
	loadDuration = flag.Duration("load.duration", 5*time.Second, "measured window of each BenchmarkLoad case")
	loadGSO      = flag.String("load.gso", "both", "HAYATE_MEDIA_GSO runs: off, on or both (on needs the media_gso key)")
	loadHayate   = flag.String("load.hayate", "", "Hayate binary (default: go build ./cmd/hayate)")
	loadBaseline = flag.String("load.baseline", "", "baseline binary (default: go build ./bench/baseline/cmd/baseline)")
)

// BenchmarkLoad runs load.StandardSet once per case (whatever b.N is: one
// case is seconds of real traffic) and prints each result line. Metrics:
// hayate-µs/pkt, baseline-µs/pkt, speedup, loss-%, p99-µs, allocs/pkt
// (join: hayate-conn/s, baseline-conn/s, connect-p50-ms).
func BenchmarkLoad(b *testing.B) {
	mode, err := load.ParseGSO(*loadGSO)
	if err != nil {
		b.Fatal(err)
	}
	bins := load.Binaries{Hayate: *loadHayate, Baseline: *loadBaseline}
	if bins.Hayate == "" || bins.Baseline == "" {
		dir := b.TempDir()
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
		bins, err = load.Build(ctx, dir)
		cancel()
		if err != nil {
			b.Fatal(err)
		}
	}
	if mode != load.GSOOff {
		ok, err := load.SupportsGSO(context.Background(), bins.Hayate)
		if err != nil {
			b.Fatal(err)
		}
		if !ok {
			fmt.Fprintf(os.Stderr, "# note: %s has no media_gso key yet: gso=on runs skipped\n", bins.Hayate)
			mode = load.GSOOff
		}
	}
	for _, c := range load.StandardSet() {
		b.Run(fmt.Sprintf("%s-%d", c.Scenario, c.Subs), func(b *testing.B) {
			o := load.Options{
				Scenario: c.Scenario, Subs: c.Subs, Duration: *loadDuration, GSO: mode,
				HayateBin: bins.Hayate, BaselineCmd: []string{bins.Baseline},
			}
			if c.Scenario == load.ScenarioJoin {
				o.GSO = load.GSOOff
			}
			if testing.Verbose() {
				o.Log = os.Stderr
			}
			var results []load.Result
			for b.Loop() {
				if results != nil {
					continue // one run is the measurement; b.Loop may ask for more
				}
				ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
				results, err = load.Run(ctx, o)
				cancel()
				if err != nil {
					b.Fatal(err)
				}
			}
			for _, r := range results {
				fmt.Println(r.Line())
				if r.Err != nil {
					b.Error(r.Err)
				}
			}
			report(b, results)
		})
	}
}

// report puts the results' figures on the benchmark line (a gso=on run's
// Hayate figures with a "gso-" prefix); figures not measured are left out.
func report(b *testing.B, results []load.Result) {
	b.ReportMetric(0, "ns/op")
	put := func(v float64, unit string) {
		if !math.IsNaN(v) {
			b.ReportMetric(v, unit)
		}
	}
	for _, r := range results {
		if r.Scenario == load.ScenarioJoin {
			put(r.Hayate.ConnPerSec(), "hayate-conn/s")
			put(r.Baseline.ConnPerSec(), "baseline-conn/s")
			if r.Hayate != nil {
				put(float64(r.Hayate.ConnectP50.Microseconds())/1e3, "connect-p50-ms")
			}
			continue
		}
		pre := ""
		if r.GSO {
			pre = "gso-"
		}
		put(r.Hayate.USPerPkt(), pre+"hayate-µs/pkt")
		put(r.Baseline.USPerPkt(), "baseline-µs/pkt")
		put(r.Speedup(), pre+"speedup")
		put(r.Hayate.LossPct(), pre+"loss-%")
		put(r.Hayate.AllocsPerPkt(), pre+"allocs/pkt")
		if r.Hayate != nil && r.Hayate.Forwarded > 0 {
			put(float64(r.Hayate.P99.Microseconds()), pre+"p99-µs")
		}
	}
}
