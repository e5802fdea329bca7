package media

// H.265 NAL unit types (RFC 7798 §1.1.4, H.265 Table 7-1).
const (
	h265NALIRAPFirst = 16 // BLA_W_LP
	h265NALIRAPLast  = 21 // CRA_NUT
	h265NALVPS       = 32
	h265NALSPS       = 33
	h265NALAP        = 48
	h265NALFU        = 49
)

// h265NALStartsKeyframe: a VPS/SPS, or an IRAP slice segment whose
// first_slice_segment_in_pic_flag (the first bit after the 2-byte NAL
// header) is set.
func h265NALStartsKeyframe(typ uint8, next byte, hasNext bool) bool {
	switch {
	case typ == h265NALVPS || typ == h265NALSPS:
		return true
	case typ >= h265NALIRAPFirst && typ <= h265NALIRAPLast:
		return hasNext && next&0x80 != 0
	}
	return false
}

// h265Keyframe assumes sprop-max-don-diff is 0 (no DONL fields), which is
// what browsers negotiate.
func h265Keyframe(payload []byte) bool {
	if len(payload) < 2 {
		return false
	}
	typ := (payload[0] >> 1) & 0x3f
	switch typ {
	case h265NALAP:
		for i := 2; i+2 <= len(payload); {
			size := int(payload[i])<<8 | int(payload[i+1])
			i += 2
			if size < 2 || i+size > len(payload) {
				return false
			}
			nal := payload[i : i+size]
			if h265NALStartsKeyframe((nal[0]>>1)&0x3f, at(nal, 2), len(nal) > 2) {
				return true
			}
			i += size
		}
		return false
	case h265NALFU:
		// PayloadHdr (2), FU header |S|E|FuType(6)|, payload.
		if len(payload) < 3 || payload[2]&0x80 == 0 {
			return false
		}
		return h265NALStartsKeyframe(payload[2]&0x3f, at(payload, 3), len(payload) > 3)
	default:
		return h265NALStartsKeyframe(typ, at(payload, 2), len(payload) > 2)
	}
}
