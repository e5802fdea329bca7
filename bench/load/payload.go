package load

import (
	"encoding/binary"
)

// A load packet's payload ends with an 18-byte stamp:
//
//	sequence number (2) | magic "HYLD" (4) | stream id (2, big endian) | flags (1) | 0 (1) | send time (8, ns since the run's epoch)
//
// The sequence number is the publisher's (the server rewrites the header's):
// with the publisher's SSRC it finds the time the datagram left the
// publisher's socket.
// The receiver finds it at the end of the RTP payload whatever the server did
// to the header (SSRC, sequence number, extensions, padding).
const (
	stampLen   = 18
	stampMagic = 0x48594c44 // "HYLD"
	// flagMeasured marks a packet sent inside the measured window: only those
	// are counted, by the sender and by every receiver.
	flagMeasured = 1
)

// Stamp is what a load packet carries besides filler.
type Stamp struct {
	Stream   uint16 // which publisher stream sent it
	Seq      uint16 // the publisher's RTP sequence number
	Measured bool   // sent inside the measured window
	SentNs   int64  // send time, monotonic ns since the run's epoch
}

// putStamp writes s into the last stampLen bytes of payload, which must be
// at least that long.
func putStamp(payload []byte, s Stamp) {
	b := payload[len(payload)-stampLen:]
	binary.BigEndian.PutUint16(b[0:2], s.Seq)
	b = b[2:]
	binary.BigEndian.PutUint32(b[0:4], stampMagic)
	binary.BigEndian.PutUint16(b[4:6], s.Stream)
	b[6] = 0
	if s.Measured {
		b[6] = flagMeasured
	}
	b[7] = 0
	binary.BigEndian.PutUint64(b[8:16], uint64(s.SentNs))
}

// ReadStamp finds the stamp of a load packet in pkt, a whole RTP packet as
// received (header, CSRCs, extension, payload, padding). ok is false when
// pkt is not a well-formed RTP packet or its payload carries no stamp. It
// does not allocate.
func ReadStamp(pkt []byte) (s Stamp, ok bool) {
	if len(pkt) < 12 || pkt[0]>>6 != 2 {
		return Stamp{}, false
	}
	off := 12 + 4*int(pkt[0]&0x0f)
	if pkt[0]&0x10 != 0 { // extension: 4-byte header, then length words
		if len(pkt) < off+4 {
			return Stamp{}, false
		}
		off += 4 + 4*int(binary.BigEndian.Uint16(pkt[off+2:off+4]))
	}
	end := len(pkt)
	if pkt[0]&0x20 != 0 { // padding: the last byte counts it
		end -= int(pkt[end-1])
	}
	if end-off < stampLen {
		return Stamp{}, false
	}
	seq := binary.BigEndian.Uint16(pkt[end-stampLen:])
	b := pkt[end-stampLen+2 : end]
	if binary.BigEndian.Uint32(b[0:4]) != stampMagic || b[6]&^flagMeasured != 0 || b[7] != 0 {
		return Stamp{}, false
	}
	return Stamp{
		Stream:   binary.BigEndian.Uint16(b[4:6]),
		Seq:      seq,
		Measured: b[6]&flagMeasured != 0,
		SentNs:   int64(binary.BigEndian.Uint64(b[8:16])),
	}, true
}

// VP8 payload starts (RFC 7741): the payload descriptor, then for the first
// packet of a frame the frame tag (a keyframe also carries the start code
// and the size, here 640x480).
var (
	vp8KeyframeStart   = []byte{0x10, 0x50, 0x01, 0x00, 0x9d, 0x01, 0x2a, 0x80, 0x02, 0xe0, 0x01}
	vp8InterframeStart = []byte{0x10, 0x51, 0x01, 0x00}
	vp8Continuation    = []byte{0x00} // S=0: not the start of a partition
	opusStart          = []byte{0xfc} // TOC: CELT fullband 20 ms, one frame
)

// fillPayload makes buf a payload of its full length: head, zero filler, and
// room for the stamp at the end. len(buf) must be ≥ len(head)+stampLen.
func fillPayload(buf, head []byte) {
	n := copy(buf, head)
	clear(buf[n : len(buf)-stampLen])
}
