package media

// VP8Descriptor is the parsed VP8 payload descriptor (RFC 7741 §4.2). The
// offsets let a munger rewrite picture ID and TL0PICIDX in place.
type VP8Descriptor struct {
	// Len is the descriptor's length; the VP8 payload starts at payload[Len].
	Len int
	// NonReference is the N bit: the frame can be dropped without harm.
	NonReference bool
	// Start is the S bit: the packet starts a VP8 partition.
	Start bool
	// PartitionID is the PID field.
	PartitionID uint8

	// PictureIDLen is 0 (absent), 1 (7-bit) or 2 (15-bit, M=1) bytes, at
	// PictureIDOffset.
	PictureIDLen    int
	PictureIDOffset int
	PictureID       uint16

	// HasTL0PICIDX tells whether TL0PICIDX is present (at TL0PICIDXOffset).
	HasTL0PICIDX    bool
	TL0PICIDXOffset int
	TL0PICIDX       uint8

	// HasTID tells whether the T bit is set; then TID and LayerSync (Y) hold.
	HasTID    bool
	TID       uint8
	LayerSync bool
	// HasKeyIdx tells whether the K bit is set; then KeyIdx holds.
	HasKeyIdx bool
	KeyIdx    uint8
}

// ParseVP8 parses the VP8 payload descriptor at the start of payload into d
// and reports whether it is well formed (and followed by at least one byte).
func ParseVP8(payload []byte, d *VP8Descriptor) bool {
	*d = VP8Descriptor{}
	if len(payload) < 1 {
		return false
	}
	b := payload[0]
	d.NonReference = b&0x20 != 0
	d.Start = b&0x10 != 0
	d.PartitionID = b & 0x07
	i := 1
	if b&0x80 != 0 { // X
		if len(payload) < 2 {
			return false
		}
		x := payload[1]
		i = 2
		if x&0x80 != 0 { // I
			if len(payload) <= i {
				return false
			}
			d.PictureIDOffset = i
			if payload[i]&0x80 != 0 { // M: 15-bit picture ID
				if len(payload) <= i+1 {
					return false
				}
				d.PictureIDLen = 2
				d.PictureID = uint16(payload[i]&0x7f)<<8 | uint16(payload[i+1])
				i += 2
			} else {
				d.PictureIDLen = 1
				d.PictureID = uint16(payload[i])
				i++
			}
		}
		if x&0x40 != 0 { // L
			if len(payload) <= i {
				return false
			}
			d.HasTL0PICIDX = true
			d.TL0PICIDXOffset = i
			d.TL0PICIDX = payload[i]
			i++
		}
		if x&0x30 != 0 { // T or K
			if len(payload) <= i {
				return false
			}
			t := payload[i]
			if x&0x20 != 0 {
				d.HasTID = true
				d.TID = t >> 6
				d.LayerSync = t&0x20 != 0
			}
			if x&0x10 != 0 {
				d.HasKeyIdx = true
				d.KeyIdx = t & 0x1f
			}
			i++
		}
	}
	d.Len = i
	return len(payload) > i
}

func vp8Keyframe(payload []byte) bool {
	var d VP8Descriptor
	if !ParseVP8(payload, &d) || !d.Start || d.PartitionID != 0 {
		return false
	}
	// VP8 payload header, first octet: |Size0|H|VER|P|; P=0 is a key frame.
	return payload[d.Len]&0x01 == 0
}
