package feedback

import "github.com/pion/rtcp"

// Sequence-number tracking limits of RFC 3550 A.1.
const (
	maxDropout  = 3000
	maxMisorder = 100
)

// ReceiverStats keeps the reception statistics of one upstream SSRC and
// produces the reception report block the SFU sends its publisher (RFC 3550
// §6.4.1): loss (A.3), extended highest sequence number (A.1), interarrival
// jitter (A.8), LSR and DLSR. One owner, no locks.
//
// Differences from the RFC's sample code, chosen to match what the packets
// are here (authenticated SRTP from a known sender):
//   - no probation: the first packet starts the statistics;
//   - jitter is updated only by in-order packets whose RTP timestamp
//     differs from the previous in-order packet's (as libwebrtc does), so
//     the packets of one video frame, sent in a burst, and retransmissions do
//     not count as network jitter.
type ReceiverStats struct {
	ssrc      uint32
	clockRate uint32

	started   bool
	maxSeq    uint16
	cycles    uint32 // count of sequence number wraps, shifted left 16
	baseSeq   uint32
	badSeq    uint32 // the sequence number after a big jump; 1<<16+1 = none
	received  uint32
	expPrior  uint32
	recvPrior uint32

	start       int64 // now of the first packet: origin of arrival times
	lastTransit int32
	lastTS      uint32
	haveTransit bool
	jitter      uint32 // ×16, RFC 3550 A.8

	lastSR   uint32 // middle 32 bits of the last SR's NTP timestamp
	lastSRAt int64
	haveSR   bool
}

// NewReceiverStats returns statistics for ssrc, whose RTP clock runs at
// clockRate Hz (90000 for video, 48000 for Opus).
func NewReceiverStats(ssrc, clockRate uint32) *ReceiverStats {
	if clockRate == 0 {
		clockRate = 90000
	}
	return &ReceiverStats{ssrc: ssrc, clockRate: clockRate, badSeq: 1<<16 + 1}
}

// SSRC returns the source the statistics are about.
func (s *ReceiverStats) SSRC() uint32 { return s.ssrc }

// Received returns how many packets were counted (duplicates included, as
// RFC 3550 counts them). A report is only meaningful when it is non-zero.
func (s *ReceiverStats) Received() uint32 { return s.received }

func (s *ReceiverStats) initSeq(seq uint16) {
	s.baseSeq = uint32(seq)
	s.maxSeq = seq
	s.badSeq = 1<<16 + 1
	s.cycles = 0
	s.received = 0
	s.expPrior = 0
	s.recvPrior = 0
	s.haveTransit = false
}

// OnPacket counts an RTP packet with sequence number seq and RTP timestamp
// rtpTS that arrived at now.
func (s *ReceiverStats) OnPacket(seq uint16, rtpTS uint32, now int64) {
	if !s.started {
		s.started = true
		s.start = now
		s.initSeq(seq)
		s.received = 1
		s.updateJitter(rtpTS, now)
		return
	}
	udelta := seq - s.maxSeq
	inOrder := false
	switch {
	case udelta == 0:
		// duplicate of the newest packet
	case udelta < maxDropout:
		if seq < s.maxSeq {
			s.cycles += 1 << 16
		}
		s.maxSeq = seq
		inOrder = true
	case udelta <= 1<<16-maxMisorder:
		// A very large jump. Two sequential packets after it mean the
		// sender restarted its sequence numbers: start over.
		if uint32(seq) != s.badSeq {
			s.badSeq = uint32(seq+1) & 0xffff
			return
		}
		s.initSeq(seq)
		inOrder = true
	default:
		// duplicate or reordered packet
	}
	s.received++
	if inOrder {
		s.updateJitter(rtpTS, now)
	}
}

// rtpUnits converts a duration in nanoseconds to RTP clock units without
// overflowing for any realistic duration.
func rtpUnits(d int64, clockRate uint32) int64 {
	const sec = 1_000_000_000
	return d/sec*int64(clockRate) + d%sec*int64(clockRate)/sec
}

func (s *ReceiverStats) updateJitter(rtpTS uint32, now int64) {
	arrival := uint32(rtpUnits(now-s.start, s.clockRate))
	transit := int32(arrival - rtpTS)
	if s.haveTransit && rtpTS != s.lastTS {
		d := transit - s.lastTransit
		if d < 0 {
			d = -d
		}
		s.jitter += uint32(d) - (s.jitter+8)>>4
	}
	s.lastTransit = transit
	s.lastTS = rtpTS
	s.haveTransit = true
}

// OnSenderReport records the NTP timestamp of a sender report from the
// source, received at now, for the LSR and DLSR fields.
func (s *ReceiverStats) OnSenderReport(ntp uint64, now int64) {
	s.lastSR = uint32(ntp >> 16)
	s.lastSRAt = now
	s.haveSR = true
}

// Report returns the reception report block for now and starts a new
// interval for the fraction lost. Cumulative loss is clamped to the 24-bit
// signed range and encoded in TotalLost's low 24 bits (a negative count,
// from duplicates, in two's complement).
func (s *ReceiverStats) Report(now int64) rtcp.ReceptionReport {
	r := rtcp.ReceptionReport{SSRC: s.ssrc}
	if !s.started {
		return r
	}
	extMax := s.cycles + uint32(s.maxSeq)
	expected := extMax - s.baseSeq + 1
	lost := int64(expected) - int64(s.received)
	lost = max(min(lost, 0x7fffff), -0x800000)

	expInterval := expected - s.expPrior
	recvInterval := s.received - s.recvPrior
	s.expPrior = expected
	s.recvPrior = s.received
	if lostInterval := int64(expInterval) - int64(recvInterval); expInterval != 0 && lostInterval > 0 {
		r.FractionLost = uint8(min(lostInterval<<8/int64(expInterval), 255))
	}

	r.TotalLost = uint32(lost) & 0xffffff
	r.LastSequenceNumber = extMax
	r.Jitter = s.jitter >> 4
	if s.haveSR {
		r.LastSenderReport = s.lastSR
		r.Delay = dlsr(now - s.lastSRAt)
	}
	return r
}

// dlsr converts a delay in nanoseconds to units of 1/65536 s, clamped to
// the 32-bit field.
func dlsr(d int64) uint32 {
	if d <= 0 {
		return 0
	}
	const maxD = int64(0xffffffff) * 1_000_000_000 >> 16 // ~65536 s
	if d >= maxD {
		return 0xffffffff
	}
	return uint32(d << 16 / 1_000_000_000)
}
