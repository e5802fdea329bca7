package load

import (
	"errors"
	"testing"
	"time"
)

func TestLine(t *testing.T) {
	h := &Measurement{Server: "hayate", Window: 5 * time.Second, CPU: 150 * time.Millisecond, Forwarded: 100000, Expected: 100500, P99: 812 * time.Microsecond, SocketP99: 640 * time.Microsecond, SocketTimed: 99000, Mallocs: 2500, IdleMallocs: 100}
	b := &Measurement{Server: "baseline", Window: 5 * time.Second, CPU: 800 * time.Millisecond, Forwarded: 100000, Expected: 100000, Mallocs: 700000}
	hj := &Measurement{Server: "hayate", Joined: 20, JoinTime: 50 * time.Millisecond, ConnectP50: 12300 * time.Microsecond, JoinCPU: 40 * time.Millisecond}
	bj := &Measurement{Server: "baseline", Joined: 20, JoinTime: 200 * time.Millisecond, ConnectP50: 45600 * time.Microsecond, JoinCPU: 120 * time.Millisecond}
	for _, tc := range []struct {
		name string
		r    Result
		want string
	}{
		{"both", Result{Scenario: "fanout", Subs: 50, Hayate: h, Baseline: b},
			"scenario=fanout subs=50 gso=off hayate_us_per_pkt=1.500 baseline_us_per_pkt=8.000 speedup=5.33 loss_pct=0.50 p99_added_latency_us=640 allocs_per_pkt=0.020"},
		{"gso on, no baseline", Result{Scenario: "mesh", Subs: 10, GSO: true, Hayate: h},
			"scenario=mesh subs=10 gso=on hayate_us_per_pkt=1.500 baseline_us_per_pkt=n/a speedup=n/a loss_pct=0.50 p99_added_latency_us=640 allocs_per_pkt=0.020"},
		{"hayate failed", Result{Scenario: "audio", Subs: 100, Baseline: b, Err: errors.New("boom")},
			"scenario=audio subs=100 gso=off hayate_us_per_pkt=n/a baseline_us_per_pkt=8.000 speedup=n/a loss_pct=n/a p99_added_latency_us=n/a allocs_per_pkt=n/a"},
		{"no packets", Result{Scenario: "fanout", Subs: 3, Hayate: &Measurement{Window: time.Second, CPU: time.Millisecond, Expected: 10, Mallocs: -1}},
			"scenario=fanout subs=3 gso=off hayate_us_per_pkt=n/a baseline_us_per_pkt=n/a speedup=n/a loss_pct=100.00 p99_added_latency_us=n/a allocs_per_pkt=n/a"},
		{"join", Result{Scenario: "join", Subs: 20, Hayate: hj, Baseline: bj},
			"scenario=join subs=20 gso=off hayate_conn_per_s=400.0 baseline_conn_per_s=100.0 speedup=4.00 hayate_connect_p50_ms=12.3 baseline_connect_p50_ms=45.6 hayate_cpu_ms_per_join=2.00 baseline_cpu_ms_per_join=6.00"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.r.Line(); got != tc.want {
				t.Errorf("Line()\n got %s\nwant %s", got, tc.want)
			}
		})
	}
}

func TestAddedP99FallsBackWhenFewPacketsWereTimedAtTheSocket(t *testing.T) {
	m := &Measurement{Forwarded: 1000, P99: 3 * time.Millisecond, SocketP99: time.Millisecond, SocketTimed: 899}
	if got := m.AddedP99(); got != 3*time.Millisecond {
		t.Errorf("AddedP99 with 899 of 1000 packets timed = %v, want the decoded p99 3ms", got)
	}
	m.SocketTimed = 900
	if got := m.AddedP99(); got != time.Millisecond {
		t.Errorf("AddedP99 with 900 of 1000 packets timed = %v, want the socket p99 1ms", got)
	}
}
