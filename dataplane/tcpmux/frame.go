package tcpmux

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// HeaderLen is the size of the RFC 4571 length prefix.
const HeaderLen = 2

// MaxFrameLimit is the largest payload a 16-bit length prefix can describe.
const MaxFrameLimit = 0xFFFF

var (
	// ErrFrameSize is returned for a frame whose length is zero or above the
	// configured maximum, on either direction. Inbound, the stream cannot be
	// resynchronised after it and the connection is closed.
	ErrFrameSize = errors.New("tcpmux: bad frame length")
)

// AppendFrame appends pkt to dst with its 2-byte big-endian length prefix
// (RFC 4571 §2) and returns the extended slice. It fails, leaving dst as it
// was, if pkt is empty or longer than MaxFrameLimit.
func AppendFrame(dst, pkt []byte) ([]byte, error) {
	if len(pkt) == 0 || len(pkt) > MaxFrameLimit {
		return dst, fmt.Errorf("%w: %d bytes", ErrFrameSize, len(pkt))
	}
	dst = binary.BigEndian.AppendUint16(dst, uint16(len(pkt)))
	return append(dst, pkt...), nil
}

// Deframer splits a byte stream into RFC 4571 frames. It keeps at most one
// partial frame (its header and the payload bytes seen so far) between calls,
// in a buffer of max+HeaderLen bytes allocated on the first partial frame.
//
// A Deframer is not safe for concurrent use. After an error it must not be
// fed again: a bad length prefix desynchronises the stream for good.
type Deframer struct {
	max  int
	part []byte // the partial frame, header included; len 0 when none
}

// NewDeframer returns a Deframer that accepts payloads of 1..maxLen bytes.
// maxLen is clamped to [1, MaxFrameLimit].
func NewDeframer(maxLen int) *Deframer {
	d := &Deframer{}
	d.Reset(maxLen)
	return d
}

// Reset drops any partial frame and sets the maximum payload length (clamped
// to [1, MaxFrameLimit]). The buffer is kept if it is large enough.
func (d *Deframer) Reset(maxLen int) {
	d.max = min(max(maxLen, 1), MaxFrameLimit)
	if cap(d.part) < d.max+HeaderLen {
		d.part = nil
	}
	d.part = d.part[:0]
}

// Buffered returns how many bytes of a partial frame are held.
func (d *Deframer) Buffered() int { return len(d.part) }

// Next consumes bytes from data and returns the next complete payload, if
// any, and the bytes not consumed yet. When data ends inside a frame, the
// partial frame is kept and Next returns (nil, nil, nil). The intended use is
//
//	for len(data) > 0 {
//		pkt, data, err = d.Next(data)
//		if err != nil { … close the connection … }
//		if pkt != nil { … use pkt … }
//	}
//
// pkt aliases either data or the Deframer's buffer: it is valid until the
// next call to Next or Reset, or until data is modified. Next does not
// allocate except for the first partial frame of a Deframer.
func (d *Deframer) Next(data []byte) (pkt, rest []byte, err error) {
	if len(data) == 0 {
		return nil, nil, nil
	}
	if len(d.part) == 0 {
		// Fast path: whole frames straight out of data.
		if len(data) >= HeaderLen {
			n := int(binary.BigEndian.Uint16(data))
			if err := d.check(n); err != nil {
				return nil, nil, err
			}
			if len(data) >= HeaderLen+n {
				return data[HeaderLen : HeaderLen+n], data[HeaderLen+n:], nil
			}
		}
		d.keep(data)
		return nil, nil, nil
	}
	if len(d.part) < HeaderLen {
		// One header byte held; data supplies the second.
		d.part = append(d.part, data[0])
		data = data[1:]
		if err := d.check(int(binary.BigEndian.Uint16(d.part))); err != nil {
			return nil, nil, err
		}
	}
	want := HeaderLen + int(binary.BigEndian.Uint16(d.part))
	take := min(want-len(d.part), len(data))
	d.part = append(d.part, data[:take]...)
	data = data[take:]
	if len(d.part) < want {
		return nil, nil, nil
	}
	pkt = d.part[HeaderLen:want]
	d.part = d.part[:0]
	return pkt, data, nil
}

func (d *Deframer) check(n int) error {
	if n == 0 || n > d.max {
		return fmt.Errorf("%w: %d (max %d)", ErrFrameSize, n, d.max)
	}
	return nil
}

// keep stores the start of a frame that data does not complete. The length
// (if present) has been checked, so it fits in max+HeaderLen.
func (d *Deframer) keep(data []byte) {
	if cap(d.part) == 0 {
		d.part = make([]byte, 0, d.max+HeaderLen)
	}
	d.part = append(d.part[:0], data...)
}

// isBindingRequest reports whether pkt is shaped like a STUN Binding request
// (RFC 8489 §5: type 0x0001, magic cookie, length field matching the packet,
// a multiple of 4). RFC 6544 connections must start with one; checking its
// credentials is the caller's job.
func isBindingRequest(pkt []byte) bool {
	const stunHeader = 20
	if len(pkt) < stunHeader {
		return false
	}
	if binary.BigEndian.Uint16(pkt) != 0x0001 || binary.BigEndian.Uint32(pkt[4:]) != 0x2112A442 {
		return false
	}
	n := int(binary.BigEndian.Uint16(pkt[2:]))
	return n%4 == 0 && stunHeader+n == len(pkt)
}
