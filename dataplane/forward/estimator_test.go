package forward

import (
	"testing"

	"github.com/hayate-sfu/hayate/dataplane/feedback"
	"github.com/pion/interceptor/pkg/twcc"
	"github.com/pion/rtcp"
)

// link simulates a bottleneck: a FIFO drained at capacity bps that holds at
// most queueBytes; what does not fit is lost.
type link struct {
	capacity   float64
	queueBytes float64
	free       int64 // when the link finishes what it holds, ns
}

func (l *link) send(at int64, size int) (arrival int64, ok bool) {
	start := max(at, l.free)
	backlog := float64(start-at) / 1e9 * l.capacity / 8
	if backlog > l.queueBytes {
		return 0, false
	}
	l.free = start + int64(float64(size*8)/l.capacity*1e9)
	return l.free + 5_000_000, true // + 5 ms propagation
}

// run sends size-byte packets at the rate the estimator allows (capped at
// sendCap) for dur, with transport-cc feedback every 100 ms, and returns the
// estimator.
func run(t *testing.T, l *link, e *Estimator, sendCap float64, dur int64) *Estimator {
	t.Helper()
	const size = 1200
	rec := twcc.NewRecorder(1)
	var seq uint16
	now := int64(0)
	nextFeedback := int64(100_000_000)
	for now < dur {
		rate := min(e.Estimate(), sendCap)
		gap := int64(float64(size*8) / rate * 1e9)
		now += gap
		e.OnSent(seq, size, now)
		if arr, ok := l.send(now, size); ok {
			rec.Record(2, seq, arr/1000)
		}
		seq++
		if now >= nextFeedback {
			nextFeedback += 100_000_000
			deliverFeedback(t, rec, e, now)
		}
	}
	return e
}

// deliverFeedback hands e the transport-cc feedback of what rec recorded.
func deliverFeedback(t *testing.T, rec *twcc.Recorder, e *Estimator, now int64) {
	t.Helper()
	for _, p := range rec.BuildFeedbackPacket() {
		raw, err := p.Marshal()
		if err != nil {
			t.Fatal(err)
		}
		it := feedback.NewIter(raw)
		for it.Next() {
			if r, ok := it.TWCC(); ok {
				e.OnFeedback(&r, now)
			}
		}
	}
}

var _ = rtcp.TransportLayerCC{}

func TestEstimatorFindsBottleneck(t *testing.T) {
	l := &link{capacity: 1_000_000, queueBytes: 30_000}
	e := run(t, l, NewEstimator(2_500_000, 50_000, 20_000_000), 2_500_000, 10_000_000_000)
	if e.Reports == 0 {
		t.Fatal("no feedback applied")
	}
	t.Logf("estimate %.0f, loss %.3f, delivered %.0f, reports %d", e.Estimate(), e.Loss(), e.Delivered(), e.Reports)
	if est := e.Estimate(); est < 500_000 || est > 1_200_000 {
		t.Fatalf("over a 1 Mb/s bottleneck the estimate is %.0f b/s (loss %.2f, delivered %.0f), want 0.5–1.2 Mb/s", est, e.Loss(), e.Delivered())
	}
}

// A bottleneck with a buffer deep enough to lose nothing: only the delay
// check can find it.
func TestEstimatorSeesAQueueWithoutLoss(t *testing.T) {
	l := &link{capacity: 1_000_000, queueBytes: 1e9}
	e := run(t, l, NewEstimator(2_500_000, 50_000, 20_000_000), 2_500_000, 10_000_000_000)
	t.Logf("estimate %.0f, loss %.3f, delivered %.0f, reports %d", e.Estimate(), e.Loss(), e.Delivered(), e.Reports)
	if e.Loss() != 0 {
		t.Fatalf("loss %.3f on a link that loses nothing", e.Loss())
	}
	if est := e.Estimate(); est < 500_000 || est > 1_300_000 {
		t.Fatalf("over a 1 Mb/s bottleneck without loss the estimate is %.0f b/s (delivered %.0f), want 0.5–1.3 Mb/s", est, e.Delivered())
	}
}

func TestEstimatorGrowsWithoutCongestion(t *testing.T) {
	l := &link{capacity: 10_000_000, queueBytes: 100_000}
	e := run(t, l, NewEstimator(300_000, 50_000, 20_000_000), 20_000_000, 10_000_000_000)
	t.Logf("estimate %.0f, loss %.3f, delivered %.0f", e.Estimate(), e.Loss(), e.Delivered())
	if est := e.Estimate(); est < 600_000 {
		t.Fatalf("on a free 10 Mb/s link the estimate stayed at %.0f b/s after 10 s, want ≥ 600 kb/s", est)
	}
	if e.Loss() > 0.01 {
		t.Fatalf("loss %.3f on a free link", e.Loss())
	}
}

func TestEstimatorIgnoresForeignSequenceNumbers(t *testing.T) {
	e := NewEstimator(1_000_000, 50_000, 20_000_000)
	rec := twcc.NewRecorder(1)
	for i := 0; i < 50; i++ {
		rec.Record(2, uint16(i), int64(i)*1000)
	}
	deliverFeedback(t, rec, e, 1)
	if e.Reports != 0 || e.Estimate() != 1_000_000 {
		t.Fatalf("feedback about packets never sent changed the estimate: %d reports, %.0f", e.Reports, e.Estimate())
	}
}

func TestAllocate(t *testing.T) {
	sim := []float64{150_000, 500_000, 1_500_000}
	tests := []struct {
		name    string
		streams []Stream
		budget  float64
		want    []int
	}{
		{"everything fits", []Stream{{Rates: sim, Requested: 2, Current: 2}}, 3_000_000, []int{2}},
		{"step down to fit", []Stream{{Rates: sim, Requested: 2, Current: 2}}, 700_000, []int{1}},
		{"never above the request", []Stream{{Rates: sim, Requested: 0, Current: 0}}, 3_000_000, []int{0}},
		{"lowest layer even if over budget", []Stream{{Rates: sim, Requested: 2, Current: 2}}, 10_000, []int{0}},
		{"none requested", []Stream{{Rates: sim, Requested: -1, Current: -1}}, 3_000_000, []int{-1}},
		{"fair between two", []Stream{{Rates: sim, Requested: 2, Current: 0}, {Rates: sim, Requested: 2, Current: 0}}, 1_300_000, []int{1, 1}},
		{"headroom needed to go up", []Stream{{Rates: sim, Requested: 2, Current: 1}}, 1_600_000, []int{1}},
		{"no headroom needed to stay", []Stream{{Rates: sim, Requested: 2, Current: 2}}, 1_600_000, []int{2}},
		{"missing layer skipped", []Stream{{Rates: []float64{0, 500_000, 1_500_000}, Requested: 2, Current: -1}}, 600_000, []int{1}},
		{"single layer", []Stream{{Rates: []float64{800_000}, Requested: 0, Current: 0}}, 100_000, []int{0}},
	}
	for _, tt := range tests {
		got := Allocate(tt.streams, tt.budget, 1.2, nil)
		if len(got) != len(tt.want) {
			t.Fatalf("%s: got %v", tt.name, got)
		}
		for i := range got {
			if got[i] != tt.want[i] {
				t.Errorf("%s: Allocate = %v, want %v", tt.name, got, tt.want)
				break
			}
		}
	}
}

func TestAllocateZeroAlloc(t *testing.T) {
	streams := []Stream{{Rates: []float64{1, 2, 3}, Requested: 2}, {Rates: []float64{1, 2, 3}, Requested: 2}}
	out := make([]int, 0, 8)
	if n := testing.AllocsPerRun(100, func() { out = Allocate(streams, 5, 1.2, out) }); n != 0 {
		t.Fatalf("%v allocations", n)
	}
}

// A receiver that stalls once (the packets of the last 40 ms before a
// feedback report are stamped 40 ms late, as a busy browser's network
// thread hands them over) is not a queue: the estimate stays where the free
// link had it.
func TestEstimatorRidesOutOneStall(t *testing.T) {
	e := NewEstimator(2_000_000, 50_000, 20_000_000)
	rec := twcc.NewRecorder(1)
	const size = 1200
	gap := int64(float64(size*8) / 1_500_000 * 1e9) // 1.5 Mb/s
	var seq uint16
	now := int64(0)
	stallFrom, stallTo := int64(5_060_000_000), int64(5_100_000_000)
	var before float64
	low := 1e18
	for report := 1; report <= 60; report++ { // 6 s, feedback every 100 ms
		end := int64(report) * 100_000_000
		for now+gap <= end {
			now += gap
			e.OnSent(seq, size, now)
			arr := now + 5_000_000
			if now >= stallFrom && now < stallTo {
				arr = stallTo + 40_000_000 // held, then handed over together
			}
			rec.Record(2, seq, arr/1000)
			seq++
		}
		if report == 50 {
			before = e.Estimate()
		}
		deliverFeedback(t, rec, e, now)
		if report >= 50 {
			low = min(low, e.Estimate())
		}
	}
	if before < 1_500_000 {
		t.Fatalf("before the stall the estimate is %.0f b/s on a free link carrying 1.5 Mb/s", before)
	}
	if low < 0.9*before {
		t.Fatalf("one 40 ms stall of the receiver took the estimate from %.0f to %.0f b/s", before, low)
	}
}
