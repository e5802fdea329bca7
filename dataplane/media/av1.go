package media

// AV1 OBU types (AV1 spec §6.2.2).
const (
	av1OBUSequenceHeader    = 1
	av1OBUTemporalDelimiter = 2
)

// leb128 decodes an unsigned LEB128 value (AV1 spec §4.10.5) at the start of
// b and returns it with the number of bytes read, or n=0 when malformed.
func leb128(b []byte) (v uint64, n int) {
	for i := 0; i < 8 && i < len(b); i++ {
		v |= uint64(b[i]&0x7f) << (7 * i)
		if b[i]&0x80 == 0 {
			return v, i + 1
		}
	}
	return 0, 0
}

// av1Keyframe reads the aggregation header |Z|Y|W|W|N|-|-|-| (AV1 RTP spec
// §4.4) and, unless the first OBU element continues a fragment (Z=1), the
// first OBU header |F|type(4)|X|S|R|.
func av1Keyframe(payload []byte) bool {
	if len(payload) < 1 {
		return false
	}
	agg := payload[0]
	if agg&0x08 != 0 { // N: first packet of a coded video sequence
		return true
	}
	if agg&0x80 != 0 { // Z: the first element continues an earlier OBU
		return false
	}
	w := int(agg>>4) & 0x03 // number of OBU elements; 0 = each has a length
	i := 1
	for elem := 1; i < len(payload); elem++ {
		size := len(payload) - i
		if w == 0 || elem < w {
			v, n := leb128(payload[i:])
			if n == 0 || v == 0 || v > uint64(len(payload)-i-n) {
				return false
			}
			i += n
			size = int(v)
		}
		switch (payload[i] >> 3) & 0x0f {
		case av1OBUSequenceHeader:
			return true
		case av1OBUTemporalDelimiter:
			// Should have been removed by the packetizer; look at the next OBU.
			if w != 0 && elem >= w {
				return false
			}
			i += size
		default:
			return false
		}
	}
	return false
}
