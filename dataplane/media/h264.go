package media

// H.264 NAL unit types (RFC 6184 §5.2, H.264 Table 7-1).
const (
	h264NALIDR   = 5
	h264NALSPS   = 7
	h264NALSTAPA = 24
	h264NALSTAPB = 25
	h264NALFUA   = 28
	h264NALFUB   = 29
)

// h264NALStartsKeyframe reports whether a NAL unit of type typ whose first
// byte after the NAL header is next (when hasNext) begins a keyframe.
func h264NALStartsKeyframe(typ uint8, next byte, hasNext bool) bool {
	switch typ {
	case h264NALSPS:
		return true
	case h264NALIDR:
		// The slice header starts with first_mb_in_slice as ue(v); its value
		// is 0 (the first slice of the picture) exactly when the first bit
		// is 1.
		return hasNext && next&0x80 != 0
	}
	return false
}

func h264Keyframe(payload []byte) bool {
	if len(payload) < 1 {
		return false
	}
	typ := payload[0] & 0x1f
	switch typ {
	case h264NALSTAPA, h264NALSTAPB:
		i := 1
		if typ == h264NALSTAPB {
			i += 2 // DON
		}
		for i+2 <= len(payload) {
			size := int(payload[i])<<8 | int(payload[i+1])
			i += 2
			if size == 0 || i+size > len(payload) {
				return false
			}
			nal := payload[i : i+size]
			if h264NALStartsKeyframe(nal[0]&0x1f, at(nal, 1), len(nal) > 1) {
				return true
			}
			i += size
		}
		return false
	case h264NALFUA, h264NALFUB:
		// FU indicator, FU header |S|E|R|Type|, [DON for FU-B], payload.
		if len(payload) < 2 || payload[1]&0x80 == 0 {
			return false
		}
		data := 2
		if typ == h264NALFUB {
			data += 2
		}
		return h264NALStartsKeyframe(payload[1]&0x1f, at(payload, data), len(payload) > data)
	default:
		return h264NALStartsKeyframe(typ, at(payload, 1), len(payload) > 1)
	}
}

// at returns b[i], or 0 when i is out of range.
func at(b []byte, i int) byte {
	if i < len(b) {
		return b[i]
	}
	return 0
}
