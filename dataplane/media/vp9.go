package media

// VP9Descriptor is the parsed part of a VP9 payload descriptor (RFC 9628
// §4.2) that forwarding decisions use.
type VP9Descriptor struct {
	// Flags of the first octet.
	InterPicture bool // P: inter-picture predicted
	Flexible     bool // F
	Begin        bool // B: first packet of a layer frame
	End          bool // E: last packet of a layer frame
	HasSS        bool // V: scalability structure present
	NotReference bool // Z: not used for inter-layer prediction of upper spatial layers

	// PictureIDLen is 0 (absent), 1 or 2 bytes, at PictureIDOffset.
	PictureIDLen    int
	PictureIDOffset int
	PictureID       uint16

	// HasLayer tells whether layer indices are present (L=1).
	HasLayer             bool
	TID                  uint8
	SwitchUp             bool // U
	SID                  uint8
	InterLayerDependency bool // D
	// HasTL0PICIDX is set in non-flexible mode with layer indices.
	HasTL0PICIDX    bool
	TL0PICIDXOffset int
	TL0PICIDX       uint8
}

// ParseVP9 parses the first octets of a VP9 payload descriptor into d (up
// to the layer indices; P_DIFF and the scalability structure are not
// decoded). It reports whether those octets are present.
func ParseVP9(payload []byte, d *VP9Descriptor) bool {
	*d = VP9Descriptor{}
	if len(payload) < 1 {
		return false
	}
	b := payload[0]
	d.InterPicture = b&0x40 != 0
	d.Flexible = b&0x10 != 0
	d.Begin = b&0x08 != 0
	d.End = b&0x04 != 0
	d.HasSS = b&0x02 != 0
	d.NotReference = b&0x01 != 0
	i := 1
	if b&0x80 != 0 { // I
		if len(payload) <= i {
			return false
		}
		d.PictureIDOffset = i
		if payload[i]&0x80 != 0 { // M
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
	if b&0x20 != 0 { // L
		if len(payload) <= i {
			return false
		}
		l := payload[i]
		d.HasLayer = true
		d.TID = l >> 5
		d.SwitchUp = l&0x10 != 0
		d.SID = (l >> 1) & 0x07
		d.InterLayerDependency = l&0x01 != 0
		i++
		if !d.Flexible {
			if len(payload) <= i {
				return false
			}
			d.HasTL0PICIDX = true
			d.TL0PICIDXOffset = i
			d.TL0PICIDX = payload[i]
		}
	}
	return true
}

func vp9Keyframe(payload []byte) bool {
	var d VP9Descriptor
	return ParseVP9(payload, &d) && d.Begin && !d.InterPicture && d.SID == 0
}
