package feedback

import (
	"encoding/binary"
	"time"
)

// ntpEpochOffset is the number of seconds from 1900-01-01 (NTP era 0) to
// 1970-01-01 (Unix).
const ntpEpochOffset = 2_208_988_800

// NTP returns t as a 64-bit NTP timestamp: seconds since 1900 in the high 32
// bits, the fraction of a second in the low 32 (RFC 3550 §4, RFC 5905 §6).
func NTP(t time.Time) uint64 {
	secs := uint64(t.Unix() + ntpEpochOffset)
	frac := uint64(t.Nanosecond()) << 32 / 1_000_000_000
	return secs<<32 | frac
}

// ntpDuration converts d nanoseconds (d ≥ 0) to 32.32 fixed point seconds.
func ntpDuration(d int64) uint64 {
	const sec = 1_000_000_000
	return uint64(d/sec)<<32 | uint64(d%sec)<<32/sec
}

// SenderStats keeps what the SFU has sent on one downstream stream and
// writes its sender reports (RFC 3550 §6.4.1). The zero value is ready to
// use. One owner, no locks.
//
// The SR's RTP timestamp must describe the same instant as its NTP
// timestamp. Two ways are offered:
//   - By default the RTP time is extrapolated from the last packet sent, at
//     the stream's clock rate, and paired with the wallNTP the caller passes.
//     This suits a stream whose capture clock is the sender's wall clock.
//   - After SetReference, the pair comes from the publisher's own latest SR
//     (NTP, RTP already shifted by the munging offset) advanced by the time
//     since it arrived, and wallNTP is ignored. This keeps a subscriber's
//     audio and video of one sender in lip sync, because both are anchored
//     to the publisher's clock (media-plane.md §6).
type SenderStats struct {
	packets uint32
	octets  uint32
	lastTS  uint32
	lastAt  int64
	sent    bool

	refNTP uint64
	refTS  uint32
	refAt  int64
	hasRef bool
}

// OnSent counts a packet sent at now with RTP timestamp rtpTS and size
// payload octets (RFC 3550 counts payload octets, without header and
// padding).
func (s *SenderStats) OnSent(rtpTS uint32, size int, now int64) {
	s.packets++
	s.octets += uint32(size)
	s.lastTS = rtpTS
	s.lastAt = now
	s.sent = true
}

// Packets returns how many packets OnSent counted (wrapping at 2^32).
func (s *SenderStats) Packets() uint32 { return s.packets }

// Octets returns how many payload octets OnSent counted (wrapping at 2^32).
func (s *SenderStats) Octets() uint32 { return s.octets }

// SetReference anchors later sender reports to the publisher's sender report
// (ntp, rtpTS) that arrived at now; rtpTS must already be translated into
// the downstream stream's timestamp space.
func (s *SenderStats) SetReference(ntp uint64, rtpTS uint32, now int64) {
	s.refNTP, s.refTS, s.refAt, s.hasRef = ntp, rtpTS, now, true
}

// AppendSenderReport appends an SR without report blocks for ssrc at now. It
// returns dst unchanged when nothing has been sent yet (an SR's RTP
// timestamp would mean nothing). clockRate is the stream's RTP clock in Hz.
func (s *SenderStats) AppendSenderReport(dst []byte, ssrc uint32, now int64, wallNTP uint64, clockRate uint32) []byte {
	if !s.sent {
		return dst
	}
	var ntp uint64
	var ts uint32
	if s.hasRef {
		d := now - s.refAt
		if d >= 0 {
			ntp = s.refNTP + ntpDuration(d)
		} else {
			ntp = s.refNTP - ntpDuration(-d)
		}
		ts = s.refTS + uint32(rtpUnits(d, clockRate))
	} else {
		ntp = wallNTP
		ts = s.lastTS + uint32(rtpUnits(now-s.lastAt, clockRate))
	}
	dst = appendHeader(dst, 0, TypeSR, 6)
	dst = appendU32(dst, ssrc)
	dst = binary.BigEndian.AppendUint64(dst, ntp)
	dst = appendU32(dst, ts)
	dst = appendU32(dst, s.packets)
	return appendU32(dst, s.octets)
}
