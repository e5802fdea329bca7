package feedback

import "github.com/pion/interceptor/pkg/twcc"

// TWCC collects the transport-wide sequence numbers (draft-holmer-rmcat-
// transport-wide-cc-extensions-01) of every RTP packet arriving on one
// publisher transport and writes the feedback that lets the publisher's
// congestion controller ramp up. It wraps pion's twcc.Recorder, which works
// without the interceptor chain. One owner, no locks.
type TWCC struct {
	rec     *twcc.Recorder
	start   int64
	started bool
}

// NewTWCC returns a collector whose feedback names senderSSRC as its sender.
func NewTWCC(senderSSRC uint32) *TWCC {
	return &TWCC{rec: twcc.NewRecorder(senderSSRC)}
}

// OnPacket records that the packet of mediaSSRC carrying transport-wide
// sequence number twccSeq arrived at now. It does not allocate once the
// recorder's window has reached its working size.
func (t *TWCC) OnPacket(mediaSSRC uint32, twccSeq uint16, now int64) {
	if !t.started {
		t.started = true
		t.start = now
	}
	// The recorder wants microseconds; arrival times are relative to the
	// first packet so they stay small whatever clock now comes from.
	t.rec.Record(mediaSSRC, twccSeq, (now-t.start)/1000)
}

// PacketsHeld returns how many packets were recorded since the last feedback.
func (t *TWCC) PacketsHeld() int { return t.rec.PacketsHeld() }

// AppendFeedback appends the transport-wide CC feedback packets (RTPFB FMT
// 15) for everything recorded since the last call and returns dst; with
// nothing new it returns dst unchanged. Call it about every 100 ms. It
// allocates (pion builds rtcp.TransportLayerCC values), so call it off the
// per-packet path.
func (t *TWCC) AppendFeedback(dst []byte) []byte {
	for _, p := range t.rec.BuildFeedbackPacket() {
		b, err := p.Marshal()
		if err != nil {
			continue
		}
		dst = append(dst, b...)
	}
	return dst
}
