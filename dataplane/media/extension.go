package media

import "encoding/binary"

// Header extension profiles (RFC 8285 §4.2, §4.3).
const (
	profileOneByte     = 0xBEDE
	profileTwoByteMask = 0xFFF0
	profileTwoByte     = 0x1000
)

// extensionBlock returns the offsets of the extension data (after the 4-byte
// profile/length word) and the profile, or ok=false when pkt has no valid
// extension block.
func extensionBlock(pkt []byte) (start, end int, profile uint16, ok bool) {
	n, ok := RTPHeaderLen(pkt)
	if !ok || pkt[0]&0x10 == 0 {
		return 0, 0, 0, false
	}
	at := fixedHeaderLen + 4*int(pkt[0]&0x0f)
	return at + 4, n, binary.BigEndian.Uint16(pkt[at:]), true
}

// walkExtensions finds the element with the given id in the block
// pkt[start:end]. It returns the offset of the element's first header byte
// (hdr) and of its data (off) and the data length.
func walkExtensions(pkt []byte, start, end int, profile uint16, id uint8) (hdr, off, n int, ok bool) {
	switch {
	case profile == profileOneByte:
		if id == 0 || id > 14 {
			return 0, 0, 0, false
		}
		for i := start; i < end; {
			b := pkt[i]
			if b == 0 { // padding
				i++
				continue
			}
			eid := b >> 4
			if eid == 15 { // reserved: stop processing (RFC 8285 §4.2)
				return 0, 0, 0, false
			}
			l := int(b&0x0f) + 1
			if i+1+l > end {
				return 0, 0, 0, false
			}
			if eid == id {
				return i, i + 1, l, true
			}
			i += 1 + l
		}
	case profile&profileTwoByteMask == profileTwoByte:
		if id == 0 {
			return 0, 0, 0, false
		}
		for i := start; i < end; {
			eid := pkt[i]
			if eid == 0 { // padding
				i++
				continue
			}
			if i+2 > end {
				return 0, 0, 0, false
			}
			l := int(pkt[i+1])
			if i+2+l > end {
				return 0, 0, 0, false
			}
			if eid == id {
				return i, i + 2, l, true
			}
			i += 2 + l
		}
	}
	return 0, 0, 0, false
}

// FindExtension locates the header extension element with the given id in
// either the one-byte (0xBEDE) or the two-byte (0x100X) form. off and n are
// the offset and length of the element's data inside pkt, so pkt[off:off+n]
// can be read or rewritten in place. It returns false when the packet has no
// such element or its extension block is malformed.
func FindExtension(pkt []byte, id uint8) (off, n int, ok bool) {
	start, end, profile, ok := extensionBlock(pkt)
	if !ok {
		return 0, 0, false
	}
	_, off, n, ok = walkExtensions(pkt, start, end, profile, id)
	return off, n, ok
}

// ClearExtension removes the element with the given id by overwriting its
// header byte(s) and data with zero padding bytes in place (RFC 8285 §4.2:
// receivers skip padding), so the packet length does not change. It clears
// every element with that id and reports whether it found one.
func ClearExtension(pkt []byte, id uint8) bool {
	start, end, profile, ok := extensionBlock(pkt)
	if !ok {
		return false
	}
	found := false
	for {
		hdr, off, n, ok := walkExtensions(pkt, start, end, profile, id)
		if !ok {
			return found
		}
		clear(pkt[hdr : off+n])
		found = true
		start = off + n
	}
}
