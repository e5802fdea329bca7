package feedback

import "encoding/binary"

// TWCC packet status symbols (draft-holmer-rmcat-transport-wide-cc-extensions-01 §3.1.1).
const (
	twccNotReceived = 0
	twccSmallDelta  = 1
	twccLargeDelta  = 2
)

// TWCCReader walks the per-packet results of one transport-wide CC feedback
// message in place, without allocating (pion's TransportLayerCC.Unmarshal
// allocates once per packet). Get one from Iter.TWCC.
type TWCCReader struct {
	baseSeq uint16
	count   int
	refTime int64 // µs
	fbCount uint8

	chunks []byte // remaining packet chunks
	deltas []byte // remaining receive deltas

	// state of the chunk being read
	chunk     uint16
	inChunk   int // symbols left in chunk
	runLength bool
	symbol    uint8 // for run-length chunks

	done int   // results returned so far
	at   int64 // arrival time of the last received packet, µs
	bad  bool
}

// TWCC returns a reader over the current packet when it is a transport-wide
// CC feedback message (RTPFB FMT 15) whose fixed fields are present.
func (it *Iter) TWCC() (TWCCReader, bool) {
	f := it.fci(TypeRTPFB, FormatTWCC)
	if len(f) < 8 {
		return TWCCReader{}, false
	}
	count := int(binary.BigEndian.Uint16(f[2:]))
	// The 24-bit reference time is signed, in multiples of 64 ms.
	ref := int64(int32(binary.BigEndian.Uint32(f[4:])) >> 8)
	r := TWCCReader{
		baseSeq: binary.BigEndian.Uint16(f),
		count:   count,
		refTime: ref * 64_000,
		fbCount: f[7],
	}
	// Find where the chunks end: each covers up to 8191 (run length), 14 or
	// 7 statuses.
	body := f[8:]
	covered, n := 0, 0
	for covered < count {
		if n+2 > len(body) {
			return TWCCReader{}, false
		}
		c := binary.BigEndian.Uint16(body[n:])
		switch {
		case c&0x8000 == 0:
			covered += int(c & 0x1fff)
		case c&0x4000 == 0:
			covered += 14
		default:
			covered += 7
		}
		n += 2
	}
	r.chunks, r.deltas = body[:n], body[n:]
	r.at = r.refTime
	return r, true
}

// BaseSeq returns the transport-wide sequence number of the first result.
func (r *TWCCReader) BaseSeq() uint16 { return r.baseSeq }

// Count returns the number of results (packet status count).
func (r *TWCCReader) Count() int { return r.count }

// ReferenceTime returns the reference time in microseconds (a multiple of
// 64 ms on the feedback sender's clock).
func (r *TWCCReader) ReferenceTime() int64 { return r.refTime }

// FeedbackCount returns the feedback packet count (rises by one per message).
func (r *TWCCReader) FeedbackCount() uint8 { return r.fbCount }

// Next returns the next result: the packet's transport-wide sequence
// number, whether it was received and, if so, its arrival time in
// microseconds on the feedback sender's clock (reference time plus the
// running sum of deltas). ok is false after the last result or at malformed
// data (then Malformed reports true).
func (r *TWCCReader) Next() (seq uint16, received bool, arrivalUs int64, ok bool) {
	if r.bad || r.done >= r.count {
		return 0, false, 0, false
	}
	for r.inChunk == 0 {
		if len(r.chunks) < 2 {
			r.bad = true
			return 0, false, 0, false
		}
		r.chunk = binary.BigEndian.Uint16(r.chunks)
		r.chunks = r.chunks[2:]
		switch {
		case r.chunk&0x8000 == 0:
			// An empty run is legal but says nothing; the loop reads on.
			r.runLength = true
			r.symbol = uint8(r.chunk>>13) & 0x03
			r.inChunk = int(r.chunk & 0x1fff)
		case r.chunk&0x4000 == 0:
			r.runLength = false
			r.inChunk = 14
		default:
			r.runLength = false
			r.inChunk = 7
		}
	}
	var sym uint8
	switch {
	case r.runLength:
		sym = r.symbol
	case r.chunk&0x4000 == 0: // one-bit symbols, first in the high bits
		sym = uint8(r.chunk>>(r.inChunk-1)) & 0x01
	default: // two-bit symbols
		sym = uint8(r.chunk>>(2*(r.inChunk-1))) & 0x03
	}
	r.inChunk--
	seq = r.baseSeq + uint16(r.done)
	r.done++
	switch sym {
	case twccNotReceived:
		return seq, false, 0, true
	case twccSmallDelta:
		if len(r.deltas) < 1 {
			r.bad = true
			return 0, false, 0, false
		}
		r.at += int64(r.deltas[0]) * 250
		r.deltas = r.deltas[1:]
	case twccLargeDelta:
		if len(r.deltas) < 2 {
			r.bad = true
			return 0, false, 0, false
		}
		r.at += int64(int16(binary.BigEndian.Uint16(r.deltas))) * 250
		r.deltas = r.deltas[2:]
	default:
		r.bad = true
		return 0, false, 0, false
	}
	return seq, true, r.at, true
}

// Malformed reports whether Next stopped at data that contradicts the
// message's own counts.
func (r *TWCCReader) Malformed() bool { return r.bad }
