package media

// RTX (RFC 4588 §4): a retransmission travels on its own SSRC, sequence
// numbers and payload type; its payload is the original sequence number
// (OSN, 2 bytes) followed by the original payload. Timestamp, marker, CSRCs
// and header extensions are kept.

// AppendRTX appends to dst the RTX packet that retransmits pkt with the
// given RTX SSRC, sequence number and payload type, and returns the extended
// slice. Padding of pkt is dropped. It returns dst unchanged and false when
// pkt is malformed. With enough capacity in dst it does not allocate.
func AppendRTX(dst, pkt []byte, ssrc uint32, seq uint16, pt uint8) ([]byte, bool) {
	n, ok := RTPHeaderLen(pkt)
	if !ok {
		return dst, false
	}
	payload, ok := Payload(pkt)
	if !ok {
		return dst, false
	}
	start := len(dst)
	dst = append(dst, pkt[:n]...)
	h := dst[start:]
	h[0] &^= 0x20 // no padding
	osn := Seq(pkt)
	SetSSRC(h, ssrc)
	SetSeq(h, seq)
	SetPayloadType(h, pt)
	dst = append(dst, byte(osn>>8), byte(osn))
	return append(dst, payload...), true
}

// UnwrapRTX turns an RTX packet back into the original packet in place: the
// header is moved 2 bytes towards the end over the OSN, and SSRC, sequence
// number (the OSN) and payload type are restored to ssrc and pt. It returns
// the original packet, a sub-slice of pkt starting 2 bytes later, and false
// when pkt is malformed or carries no OSN (an RTX padding-only probe).
func UnwrapRTX(pkt []byte, ssrc uint32, pt uint8) ([]byte, bool) {
	n, ok := RTPHeaderLen(pkt)
	if !ok {
		return nil, false
	}
	payload, ok := Payload(pkt)
	if !ok || len(payload) < 2 {
		return nil, false
	}
	osn := uint16(pkt[n])<<8 | uint16(pkt[n+1])
	copy(pkt[2:n+2], pkt[:n])
	out := pkt[2:]
	SetSSRC(out, ssrc)
	SetSeq(out, osn)
	SetPayloadType(out, pt)
	return out, true
}
