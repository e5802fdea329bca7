package load

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
)

// Measurement is what one server did in one run.
type Measurement struct {
	// Server is "hayate" or "baseline"; GSO is HAYATE_MEDIA_GSO of the run
	// (always false for the baseline).
	Server string
	GSO    bool

	// Window is the measured window; CPU is the server's CPU time in it
	// (user + system, all threads), from just before the window to just
	// after its last packets arrived.
	Window time.Duration
	CPU    time.Duration
	// Forwarded is how many packets sent inside the window the receivers
	// got; Expected is how many they should have got (each stream's packets
	// sent in the window times its receivers).
	Forwarded, Expected int64
	// P50 and P99 are the added latency (publisher's WriteRTP to the
	// subscriber's Read, both pion stacks and the server) of the forwarded
	// packets, overstated by at most 1/32.
	P50, P99 time.Duration
	// SocketP50 and SocketP99 are the added latency from the publisher's
	// socket (the datagram handed to the kernel) to the kernel's receive
	// time at the subscriber's socket (SO_TIMESTAMPNS): the server and two
	// loopback hops, without either pion stack, which share the two cores
	// with fifty others. SocketTimed is how many packets they cover (a
	// packet whose times were no longer kept is left out).
	SocketP50, SocketP99 time.Duration
	SocketTimed          uint64
	// Mallocs is the server's heap allocation count's growth over the
	// window (Hayate's /debug/allocs, else go_memstats_mallocs_total on
	// /metrics), less the cost of one read; -1 when unknown. IdleMallocs is
	// the same per second with every client joined and the publishers
	// paused (signaling keepalives, reports, timers); -1 when unknown.
	Mallocs     float64
	IdleMallocs float64
	// Incomplete is how many receivers lacked a stream when the window began.
	Incomplete int

	// JoinTime is from the first connect to every receiver having every
	// stream (forwarding scenarios) or to the last connected client (join).
	JoinTime time.Duration
	// Joined is how many clients connected; ConnectP50 is the median time of
	// one connect (WebSocket dial → PeerConnection connected and own
	// connection.created); JoinCPU is the server's CPU time over the joins
	// (join scenario only).
	Joined     int
	ConnectP50 time.Duration
	ConnectP90 time.Duration // and the 90th percentile
	JoinCPU    time.Duration
	// ClientCPU is the load generator's own CPU time over the window (all
	// clients, both pion stacks' client side): near 2 s per second of
	// window on two cores means the clients, not the server, set the pace.
	ClientCPU time.Duration
	// ServerDelayP99 is the upper bound, in seconds, of the bucket of the
	// server's own forwarding delay histogram (hayate_media_forward_delay_seconds:
	// read → sent, per flush) that holds the window's 99th percentile; -1
	// when the server has no such histogram. It leaves out what the clients
	// and the kernel add, which P99 includes.
	ServerDelayP99 float64
	// KernelShare is the part of the server's CPU in the window spent in
	// the kernel (stime over utime + stime, 10 ms ticks); -1 when unknown.
	// On loopback the kernel's share includes delivering every datagram to
	// the receiving client's socket.
	KernelShare float64
	// MemPerClient is the growth of the server's Go heap and stacks in use
	// (after a forced GC) from before the last join group to the end of the
	// window, per client of that group, in bytes: in fanout and audio the
	// last four fifths of the subscribers (splitLast), so the cost of one
	// more subscriber in steady state; in mesh every member, from the empty
	// server. -1 when the server exposes no Go metrics or a client never got
	// its streams.
	MemPerClient float64
	// LivePerClient is the same growth counting live heap objects
	// (go_memstats_heap_alloc_bytes) instead of whole spans: what the
	// clients' state holds, without the free room a churn of short-lived
	// objects (handshakes) leaves in spans that later allocations reuse.
	LivePerClient float64
	// IdleCPU is the server's CPU time per second with every client joined
	// and the publishers paused, read just before the window.
	IdleCPU time.Duration
	// TotalCPU is the server process's whole CPU time from its rusage after
	// it exited (start, joins, window and shutdown).
	TotalCPU time.Duration
}

// USPerPkt is server CPU µs per forwarded packet, NaN without packets.
func (m *Measurement) USPerPkt() float64 {
	if m == nil || m.Forwarded == 0 {
		return math.NaN()
	}
	return float64(m.CPU.Nanoseconds()) / 1e3 / float64(m.Forwarded)
}

// USPerPktAboveIdle is USPerPkt less the idle CPU over the window: the
// marginal cost of a packet. NaN without packets.
func (m *Measurement) USPerPktAboveIdle() float64 {
	if m == nil || m.Forwarded == 0 {
		return math.NaN()
	}
	idle := float64(m.IdleCPU) * m.Window.Seconds()
	return (float64(m.CPU) - idle) / 1e3 / float64(m.Forwarded)
}

// AddedP99 is the 99th percentile of the latency the server added: at the
// subscriber's socket when measured there for most packets, else as decoded.
func (m *Measurement) AddedP99() time.Duration {
	if m.SocketTimed > 0 && m.SocketTimed*10 >= uint64(m.Forwarded)*9 {
		return m.SocketP99
	}
	return m.P99
}

// LossPct is the share of expected packets that did not arrive, in percent.
func (m *Measurement) LossPct() float64 {
	if m == nil || m.Expected == 0 {
		return math.NaN()
	}
	return 100 * math.Max(0, float64(m.Expected-m.Forwarded)) / float64(m.Expected)
}

// AllocsPerPkt is server allocations per forwarded packet, NaN when unknown.
func (m *Measurement) AllocsPerPkt() float64 {
	if m == nil || m.Mallocs < 0 || m.Forwarded == 0 {
		return math.NaN()
	}
	return m.Mallocs / float64(m.Forwarded)
}

// AllocsPerPktAboveIdle is AllocsPerPkt less the idle allocation rate over
// the window: what forwarding itself allocates (0 when the idle rate covers
// it all), NaN when unknown.
func (m *Measurement) AllocsPerPktAboveIdle() float64 {
	if m == nil || m.Mallocs < 0 || m.IdleMallocs < 0 || m.Forwarded == 0 {
		return math.NaN()
	}
	return max(0, m.Mallocs-m.IdleMallocs*m.Window.Seconds()) / float64(m.Forwarded)
}

// PPS is forwarded packets per second of the window.
func (m *Measurement) PPS() float64 {
	if m == nil || m.Window <= 0 {
		return math.NaN()
	}
	return float64(m.Forwarded) / m.Window.Seconds()
}

// ConnPerSec is connections per second brought up in the join scenario.
func (m *Measurement) ConnPerSec() float64 {
	if m == nil || m.JoinTime <= 0 || m.Joined == 0 {
		return math.NaN()
	}
	return float64(m.Joined) / m.JoinTime.Seconds()
}

// Summary is a human-readable line of everything measured.
func (m *Measurement) Summary() string {
	if m == nil {
		return "not measured"
	}
	if m.Window == 0 {
		return fmt.Sprintf("%s: %d joined in %v (%.0f/s), connect median %v p90 %v, server CPU %v (%.2f ms per join), process total %v",
			m.Server, m.Joined, m.JoinTime.Round(time.Millisecond), m.ConnPerSec(), m.ConnectP50.Round(time.Microsecond), m.ConnectP90.Round(time.Microsecond),
			m.JoinCPU.Round(time.Microsecond), float64(m.JoinCPU.Microseconds())/1e3/float64(max(m.Joined, 1)), m.TotalCPU.Round(time.Millisecond))
	}
	return fmt.Sprintf("%s gso=%s: %d/%d packets in %v (%.0f pps), CPU %v = %s µs/pkt (kernel %s%%; idle %v/s; above idle %s µs/pkt), loss %s%%, added latency socket to socket p50 %v p99 %v (%d packets; decoded p50 %v p99 %v; server p99 ≤ %s), allocs/pkt %s (idle %s/s; above idle %s), memory %s KiB per subscriber (live %s), joined in %v (%d incomplete), process total %v, load clients %.2f CPU s/s",
		m.Server, onOff(m.GSO), m.Forwarded, m.Expected, m.Window.Round(time.Millisecond), m.PPS(), m.CPU.Round(time.Microsecond),
		num(m.USPerPkt(), 3), pct(m.KernelShare), m.IdleCPU.Round(time.Microsecond), num(m.USPerPktAboveIdle(), 3),
		num(m.LossPct(), 2), m.SocketP50.Round(time.Microsecond), m.SocketP99.Round(time.Microsecond), m.SocketTimed,
		m.P50.Round(time.Microsecond), m.P99.Round(time.Microsecond), seconds(m.ServerDelayP99),
		num(m.AllocsPerPkt(), 3), num(m.IdleMallocs, 0), num(m.AllocsPerPktAboveIdle(), 3), memKiB(m.MemPerClient), memKiB(m.LivePerClient), m.JoinTime.Round(time.Millisecond), m.Incomplete, m.TotalCPU.Round(time.Millisecond),
		m.ClientCPU.Seconds()/m.Window.Seconds())
}

// seconds prints a duration given in seconds ("n/a" when negative).
func seconds(s float64) string {
	if s < 0 {
		return "n/a"
	}
	if math.IsInf(s, 1) {
		return "+Inf"
	}
	return time.Duration(s * float64(time.Second)).String()
}

// pct prints a share in percent ("n/a" when unknown).
func pct(f float64) string {
	if f < 0 {
		return "n/a"
	}
	return num(f*100, 0)
}

// memKiB prints a per-client memory figure in KiB ("n/a" when unknown).
func memKiB(b float64) string {
	if b < 0 {
		return "n/a"
	}
	return num(b/1024, 1)
}

// Result is one line of output: Hayate and the baseline in the same run.
type Result struct {
	Scenario string
	Subs     int
	GSO      bool
	// Hayate and Baseline are nil when not measured (see Err).
	Hayate, Baseline *Measurement
	// Err says why a measurement is missing.
	Err error
}

// Speedup is the baseline's CPU per packet over Hayate's (join: Hayate's
// connections per second over the baseline's), NaN when one is missing.
func (r Result) Speedup() float64 {
	if r.Scenario == ScenarioJoin {
		return r.Hayate.ConnPerSec() / r.Baseline.ConnPerSec()
	}
	return r.Baseline.USPerPkt() / r.Hayate.USPerPkt()
}

// Line is the run's one-line report, for example
//
//	scenario=fanout subs=50 gso=off hayate_us_per_pkt=A baseline_us_per_pkt=B speedup=S loss_pct=L p99_added_latency_us=P allocs_per_pkt=Z
//
// where loss, latency (AddedP99: at the subscriber's socket) and allocations
// (AllocsPerPktAboveIdle) are Hayate's; a figure that was not measured is n/a. The join scenario reports
//
//	scenario=join subs=K gso=off hayate_conn_per_s=A baseline_conn_per_s=B speedup=S hayate_connect_p50_ms=M baseline_connect_p50_ms=N hayate_cpu_ms_per_join=C baseline_cpu_ms_per_join=D
func (r Result) Line() string {
	var b strings.Builder
	fmt.Fprintf(&b, "scenario=%s subs=%d gso=%s", r.Scenario, r.Subs, onOff(r.GSO))
	if r.Scenario == ScenarioJoin {
		fmt.Fprintf(&b, " hayate_conn_per_s=%s baseline_conn_per_s=%s speedup=%s hayate_connect_p50_ms=%s baseline_connect_p50_ms=%s hayate_cpu_ms_per_join=%s baseline_cpu_ms_per_join=%s",
			num(r.Hayate.ConnPerSec(), 1), num(r.Baseline.ConnPerSec(), 1), num(r.Speedup(), 2),
			num(connectMS(r.Hayate), 1), num(connectMS(r.Baseline), 1),
			num(cpuPerJoinMS(r.Hayate), 2), num(cpuPerJoinMS(r.Baseline), 2))
		return b.String()
	}
	p99 := math.NaN()
	if r.Hayate != nil && r.Hayate.Forwarded > 0 {
		p99 = float64(r.Hayate.AddedP99().Microseconds())
	}
	fmt.Fprintf(&b, " hayate_us_per_pkt=%s baseline_us_per_pkt=%s speedup=%s loss_pct=%s p99_added_latency_us=%s allocs_per_pkt=%s",
		num(r.Hayate.USPerPkt(), 3), num(r.Baseline.USPerPkt(), 3), num(r.Speedup(), 2),
		num(r.Hayate.LossPct(), 2), num(p99, 0), num(r.Hayate.AllocsPerPktAboveIdle(), 3))
	return b.String()
}

func connectMS(m *Measurement) float64 {
	if m == nil || m.Joined == 0 {
		return math.NaN()
	}
	return float64(m.ConnectP50.Microseconds()) / 1e3
}

func cpuPerJoinMS(m *Measurement) float64 {
	if m == nil || m.Joined == 0 {
		return math.NaN()
	}
	return float64(m.JoinCPU.Microseconds()) / 1e3 / float64(m.Joined)
}

// num formats v with prec decimals, or n/a for NaN and infinities.
func num(v float64, prec int) string {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return "n/a"
	}
	return strconv.FormatFloat(v, 'f', prec, 64)
}

func onOff(b bool) string {
	if b {
		return "on"
	}
	return "off"
}
