package media

import "encoding/binary"

const fixedHeaderLen = 12

// RTPHeaderLen returns the length of the RTP header of pkt: the fixed 12 bytes,
// the CSRC list and the header extension block. It returns false when pkt is
// not RTP version 2 or is too short for what its header announces.
func RTPHeaderLen(pkt []byte) (int, bool) {
	if len(pkt) < fixedHeaderLen || pkt[0]>>6 != 2 {
		return 0, false
	}
	n := fixedHeaderLen + 4*int(pkt[0]&0x0f)
	if pkt[0]&0x10 != 0 { // X
		if len(pkt) < n+4 {
			return 0, false
		}
		n += 4 + 4*int(binary.BigEndian.Uint16(pkt[n+2:]))
	}
	if len(pkt) < n {
		return 0, false
	}
	return n, true
}

// Payload returns the payload of pkt: what follows the header, without the
// padding (RFC 3550 §5.1, P bit). It returns false for a malformed packet or
// padding longer than the payload.
func Payload(pkt []byte) ([]byte, bool) {
	n, ok := RTPHeaderLen(pkt)
	if !ok {
		return nil, false
	}
	end := len(pkt)
	if pkt[0]&0x20 != 0 { // P
		if end == n {
			return nil, false
		}
		pad := int(pkt[end-1])
		if pad == 0 || pad > end-n {
			return nil, false
		}
		end -= pad
	}
	return pkt[n:end], true
}

// Seq returns the sequence number.
func Seq(pkt []byte) uint16 { return binary.BigEndian.Uint16(pkt[2:]) }

// SetSeq writes the sequence number.
func SetSeq(pkt []byte, seq uint16) { binary.BigEndian.PutUint16(pkt[2:], seq) }

// Timestamp returns the RTP timestamp.
func Timestamp(pkt []byte) uint32 { return binary.BigEndian.Uint32(pkt[4:]) }

// SetTimestamp writes the RTP timestamp.
func SetTimestamp(pkt []byte, ts uint32) { binary.BigEndian.PutUint32(pkt[4:], ts) }

// SSRC returns the synchronisation source.
func SSRC(pkt []byte) uint32 { return binary.BigEndian.Uint32(pkt[8:]) }

// SetSSRC writes the synchronisation source.
func SetSSRC(pkt []byte, ssrc uint32) { binary.BigEndian.PutUint32(pkt[8:], ssrc) }

// PayloadType returns the 7-bit payload type.
func PayloadType(pkt []byte) uint8 { return pkt[1] & 0x7f }

// SetPayloadType writes the 7-bit payload type and keeps the marker bit.
func SetPayloadType(pkt []byte, pt uint8) { pkt[1] = pkt[1]&0x80 | pt&0x7f }

// Marker returns the marker bit (for video: the last packet of a frame).
func Marker(pkt []byte) bool { return pkt[1]&0x80 != 0 }

// SetMarker writes the marker bit.
func SetMarker(pkt []byte, m bool) {
	if m {
		pkt[1] |= 0x80
	} else {
		pkt[1] &^= 0x80
	}
}
