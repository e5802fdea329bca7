package forward

import "github.com/hayate-sfu/hayate/dataplane/feedback"

// Estimator is a send-side bandwidth estimate for one downstream transport,
// fed by the transport-wide sequence numbers we stamp (OnSent) and the
// subscriber's transport-cc feedback (OnFeedback, draft-holmer-rmcat-
// transport-wide-cc-extensions-01).
//
// The model is deliberately small, in the spirit of GCC's two controllers
// (draft-ietf-rmcat-gcc-02): a loss controller (more than 10 % lost shrinks
// the estimate, under 2 % lets it grow) and a delay check (when packets of a
// report took clearly longer to arrive than to send, a queue is building:
// the estimate drops under the rate actually delivered, once two reports in
// a row show it). Without congestion the estimate grows by 15 % a second,
// up to 1.5 Mb/s above (or twice) the delivered rate, so a subscriber held
// at a low layer can still earn a higher one: the allocator then tries it,
// and loss brings it back.
type Estimator struct {
	sent     [sentSlots]sentPacket
	estimate float64 // bits per second
	loss     float64 // smoothed loss fraction
	last     int64   // time of the last update
	min, max float64

	// Delivered rate, smoothed over reports.
	delivered float64
	// queued counts the reports in a row whose packets took clearly longer
	// to arrive than to send.
	queued int

	Reports uint64 // feedback reports applied
}

const sentSlots = 4096

// Growth without congestion: 15 % a second, up to headroomBps above (or
// twice) the delivered rate.
const (
	growthPerSecond = 0.15
	headroomBps     = 1_500_000
)

type sentPacket struct {
	seq   uint16
	size  uint16
	at    int64 // ns
	valid bool
}

// NewEstimator starts at initial bps, kept within [min, max].
func NewEstimator(initial, min, max float64) *Estimator {
	return &Estimator{estimate: initial, min: min, max: max}
}

// Estimate is the current estimate in bits per second.
func (e *Estimator) Estimate() float64 { return e.estimate }

// Loss is the smoothed loss fraction (0–1).
func (e *Estimator) Loss() float64 { return e.loss }

// Delivered is the smoothed rate the subscriber acknowledged, bits per second.
func (e *Estimator) Delivered() float64 { return e.delivered }

// OnSent records a packet sent with transport-wide sequence seq.
func (e *Estimator) OnSent(seq uint16, size int, now int64) {
	s := &e.sent[seq%sentSlots]
	s.seq, s.size, s.at, s.valid = seq, uint16(min(size, 65535)), now, true
}

// OnFeedback applies one transport-cc feedback report.
func (e *Estimator) OnFeedback(r *feedback.TWCCReader, now int64) {
	var (
		acked, lost         int
		ackedBytes          int
		firstSend, lastSend int64
		firstArr, lastArr   int64
		haveFirst           bool
	)
	for {
		seq, received, arrivalUs, ok := r.Next()
		if !ok {
			break
		}
		s := &e.sent[seq%sentSlots]
		if !s.valid || s.seq != seq {
			continue // not ours, or too old
		}
		if !received {
			lost++
			continue
		}
		acked++
		ackedBytes += int(s.size)
		arr := arrivalUs * 1000
		if !haveFirst {
			firstSend, lastSend, firstArr, lastArr, haveFirst = s.at, s.at, arr, arr, true
		} else {
			firstSend, lastSend = min(firstSend, s.at), max(lastSend, s.at)
			firstArr, lastArr = min(firstArr, arr), max(lastArr, arr)
		}
	}
	if acked+lost == 0 {
		return
	}
	e.Reports++
	frac := float64(lost) / float64(acked+lost)
	e.loss = 0.7*e.loss + 0.3*frac

	sendSpan, arrSpan := lastSend-firstSend, lastArr-firstArr
	const minSpan = 20_000_000 // 20 ms: shorter reports say little about rates
	if arrSpan >= minSpan {
		rate := float64(ackedBytes*8) / (float64(arrSpan) / 1e9)
		if e.delivered == 0 {
			e.delivered = rate
		} else {
			e.delivered = 0.8*e.delivered + 0.2*rate
		}
	}
	// A queue shows in two reports in a row: one alone is as likely a
	// receiver that stamped a burst of arrivals late (a browser's busy
	// network thread), which a queue-based cut would punish for seconds.
	if sendSpan >= minSpan && arrSpan > sendSpan+sendSpan/4 && arrSpan-sendSpan > 15_000_000 {
		e.queued++
	} else {
		e.queued = 0
	}
	queueing := e.queued >= 2

	dt := float64(now-e.last) / 1e9
	if e.last == 0 || dt > 1 {
		dt = 0.1
	}
	e.last = now
	switch {
	case e.loss > 0.10:
		e.estimate *= 1 - 0.5*e.loss
	case queueing && e.delivered > 0:
		e.estimate = min(e.estimate, 0.85*e.delivered)
	case e.loss < 0.02:
		grown := e.estimate * (1 + growthPerSecond*dt)
		if e.delivered > 0 {
			// Without probing, the estimate may run ahead of what is
			// delivered by a bounded amount: enough for the allocator to try
			// the next simulcast layer (and come back down on loss).
			grown = min(grown, max(2*e.delivered, e.delivered+headroomBps, e.estimate))
		}
		e.estimate = grown
	}
	e.estimate = min(max(e.estimate, e.min), e.max)
}
