package feedback

import (
	"encoding/binary"
	"errors"

	"github.com/pion/rtcp"
)

// RTCP packet types (RFC 3550 §12.1, RFC 4585 §6.1).
const (
	TypeSR    uint8 = 200
	TypeRR    uint8 = 201
	TypeSDES  uint8 = 202
	TypeBYE   uint8 = 203
	TypeAPP   uint8 = 204
	TypeRTPFB uint8 = 205 // transport layer feedback
	TypePSFB  uint8 = 206 // payload-specific feedback
)

// Feedback message types (the FMT field).
const (
	FormatNACK uint8 = 1  // RTPFB generic NACK, RFC 4585 §6.2.1
	FormatTWCC uint8 = 15 // RTPFB transport-wide CC, draft-holmer §3.1
	FormatPLI  uint8 = 1  // PSFB picture loss indication, RFC 4585 §6.3.1
	FormatFIR  uint8 = 4  // PSFB full intra request, RFC 5104 §4.3.1
	FormatREMB uint8 = 15 // PSFB application layer feedback (REMB)
)

// Errors reported by Iter.Err.
var (
	// ErrShortPacket means fewer than 4 bytes remained for an RTCP header.
	ErrShortPacket = errors.New("feedback: RTCP header truncated")
	// ErrBadVersion means an RTCP header's version field is not 2.
	ErrBadVersion = errors.New("feedback: RTCP version is not 2")
	// ErrBadLength means an RTCP header's length field runs past the buffer.
	ErrBadLength = errors.New("feedback: RTCP length field exceeds the buffer")
	// ErrBadPadding means the padding count of an RTCP packet is 0 or longer
	// than the packet.
	ErrBadPadding = errors.New("feedback: RTCP padding count invalid")
)

// Iter walks the RTCP packets of a compound packet in place. The zero value
// and NewIter(nil) yield nothing. Use:
//
//	it := feedback.NewIter(b)
//	for it.Next() {
//		switch it.Type() { … }
//	}
//	if err := it.Err(); err != nil { … }
//
// Accessors read the current packet; on a packet of another type, or one too
// short for the field, they return zero values (or false) rather than panic.
// An Iter does not copy b: b must stay unchanged while it is walked.
type Iter struct {
	b   []byte
	off int // start of the next packet
	cur []byte
	// end is the length of cur without padding.
	end int
	err error
}

// NewIter returns an Iter over the compound RTCP packet b.
func NewIter(b []byte) Iter { return Iter{b: b} }

// Next advances to the next packet and reports whether there is one. It
// returns false at the end of the buffer or at the first malformed header,
// which Err then reports.
func (it *Iter) Next() bool {
	it.cur, it.end = nil, 0
	if it.err != nil || it.off >= len(it.b) {
		return false
	}
	rest := it.b[it.off:]
	if len(rest) < 4 {
		it.err = ErrShortPacket
		return false
	}
	if rest[0]>>6 != 2 {
		it.err = ErrBadVersion
		return false
	}
	n := (int(binary.BigEndian.Uint16(rest[2:])) + 1) * 4
	if n > len(rest) {
		it.err = ErrBadLength
		return false
	}
	p := rest[:n]
	end := n
	if p[0]&0x20 != 0 {
		pad := int(p[n-1])
		if pad == 0 || pad > n-4 {
			it.err = ErrBadPadding
			return false
		}
		end -= pad
	}
	it.cur, it.end = p, end
	it.off += n
	return true
}

// Err returns the reason Next stopped early, or nil at a clean end.
func (it *Iter) Err() error { return it.err }

// Packet returns the current packet, header and padding included.
func (it *Iter) Packet() []byte { return it.cur }

// Type returns the packet type (TypeSR, TypeRTPFB, …).
func (it *Iter) Type() uint8 {
	if it.cur == nil {
		return 0
	}
	return it.cur[1]
}

// Format returns the 5-bit count field: the report count of SR/RR, the
// source count of SDES/BYE, the FMT of RTPFB/PSFB.
func (it *Iter) Format() uint8 {
	if it.cur == nil {
		return 0
	}
	return it.cur[0] & 0x1f
}

// body returns the current packet without padding.
func (it *Iter) body() []byte { return it.cur[:it.end] }

// SenderSSRC returns the first SSRC of the packet: the sender of SR, RR and
// feedback messages, the first source of SDES and BYE, the source of APP. It
// returns 0 when the packet has none.
func (it *Iter) SenderSSRC() uint32 {
	b := it.body()
	if len(b) < 8 {
		return 0
	}
	return binary.BigEndian.Uint32(b[4:])
}

// MediaSSRC returns the media source SSRC of an RTPFB or PSFB feedback
// message (RFC 4585 §6.1), and 0 for other packets. FIR and REMB carry their
// targets elsewhere (AppendFIRSSRCs, the REMB SSRC list) and set it to 0.
func (it *Iter) MediaSSRC() uint32 {
	b := it.body()
	if len(b) < 12 || (b[1] != TypeRTPFB && b[1] != TypePSFB) {
		return 0
	}
	return binary.BigEndian.Uint32(b[8:])
}

// fci returns the feedback control information of an RTPFB/PSFB message of
// the given type and format, or nil.
func (it *Iter) fci(typ, format uint8) []byte {
	b := it.body()
	if len(b) < 12 || b[1] != typ || b[0]&0x1f != format {
		return nil
	}
	return b[12:]
}

// AppendNACKs appends the sequence numbers a generic NACK (RTPFB FMT 1)
// asks for, expanding each PID+BLP pair (RFC 4585 §6.2.1), and returns the
// extended slice. For other packets it returns dst unchanged.
func (it *Iter) AppendNACKs(dst []uint16) []uint16 {
	f := it.fci(TypeRTPFB, FormatNACK)
	for ; len(f) >= 4; f = f[4:] {
		pid := binary.BigEndian.Uint16(f)
		blp := binary.BigEndian.Uint16(f[2:])
		dst = append(dst, pid)
		for i := uint16(0); blp != 0; i++ {
			if blp&1 != 0 {
				dst = append(dst, pid+i+1)
			}
			blp >>= 1
		}
	}
	return dst
}

// AppendFIRSSRCs appends the media sender SSRCs named by a full intra request
// (PSFB FMT 4, RFC 5104 §4.3.1) and returns the extended slice. For other
// packets it returns dst unchanged.
func (it *Iter) AppendFIRSSRCs(dst []uint32) []uint32 {
	f := it.fci(TypePSFB, FormatFIR)
	for ; len(f) >= 8; f = f[8:] {
		dst = append(dst, binary.BigEndian.Uint32(f))
	}
	return dst
}

// SenderReport returns the sender information of an SR (RFC 3550 §6.4.1):
// the sender's SSRC, its NTP timestamp (32.32) and the matching RTP
// timestamp. ok is false for other packets.
func (it *Iter) SenderReport() (ssrc uint32, ntp uint64, rtpTS uint32, ok bool) {
	b := it.body()
	if len(b) < 28 || b[1] != TypeSR {
		return 0, 0, 0, false
	}
	return binary.BigEndian.Uint32(b[4:]), binary.BigEndian.Uint64(b[8:]), binary.BigEndian.Uint32(b[16:]), true
}

// SenderPacketCount returns the sender's packet and octet counts of an SR.
func (it *Iter) SenderPacketCount() (packets, octets uint32, ok bool) {
	b := it.body()
	if len(b) < 28 || b[1] != TypeSR {
		return 0, 0, false
	}
	return binary.BigEndian.Uint32(b[20:]), binary.BigEndian.Uint32(b[24:]), true
}

// AppendReceptionReports appends the report blocks of an SR or RR (RFC 3550
// §6.4) and returns the extended slice. Blocks that the packet's length does
// not cover are ignored. For other packets it returns dst unchanged.
func (it *Iter) AppendReceptionReports(dst []rtcp.ReceptionReport) []rtcp.ReceptionReport {
	b := it.body()
	var at int
	switch {
	case len(b) >= 8 && b[1] == TypeRR:
		at = 8
	case len(b) >= 28 && b[1] == TypeSR:
		at = 28
	default:
		return dst
	}
	for n := int(b[0] & 0x1f); n > 0 && at+24 <= len(b); n-- {
		r := b[at : at+24]
		dst = append(dst, rtcp.ReceptionReport{
			SSRC:               binary.BigEndian.Uint32(r),
			FractionLost:       r[4],
			TotalLost:          uint32(r[5])<<16 | uint32(r[6])<<8 | uint32(r[7]),
			LastSequenceNumber: binary.BigEndian.Uint32(r[8:]),
			Jitter:             binary.BigEndian.Uint32(r[12:]),
			LastSenderReport:   binary.BigEndian.Uint32(r[16:]),
			Delay:              binary.BigEndian.Uint32(r[20:]),
		})
		at += 24
	}
	return dst
}

// REMBBitrate returns the bitrate of a receiver estimated maximum bitrate
// message (PSFB FMT 15 with the "REMB" identifier,
// draft-alvestrand-rmcat-remb-03 §2.2) in bits per second, saturating at the
// largest uint64. ok is false for other packets.
func (it *Iter) REMBBitrate() (bps uint64, ok bool) {
	f := it.fci(TypePSFB, FormatREMB)
	if len(f) < 8 || f[0] != 'R' || f[1] != 'E' || f[2] != 'M' || f[3] != 'B' {
		return 0, false
	}
	exp := f[5] >> 2
	mantissa := uint64(f[5]&0x03)<<16 | uint64(f[6])<<8 | uint64(f[7])
	if mantissa != 0 && exp > 0 && mantissa > ^uint64(0)>>exp {
		return ^uint64(0), true
	}
	return mantissa << exp, true
}

// AppendREMBSSRCs appends the SSRCs a REMB message applies to and returns
// the extended slice.
func (it *Iter) AppendREMBSSRCs(dst []uint32) []uint32 {
	f := it.fci(TypePSFB, FormatREMB)
	if len(f) < 8 || f[0] != 'R' || f[1] != 'E' || f[2] != 'M' || f[3] != 'B' {
		return dst
	}
	n := int(f[4])
	for f = f[8:]; n > 0 && len(f) >= 4; n, f = n-1, f[4:] {
		dst = append(dst, binary.BigEndian.Uint32(f))
	}
	return dst
}
