package audiostream

import (
	"encoding/binary"
	"errors"
	"io"
	"sync"
)

// HeaderSize is the size of the header that precedes each Opus packet in
// the request body when Config.Header is set: the packet's arrival time in
// microseconds since the Unix epoch (uint64), its sequence number (uint64:
// the RTP sequence number extended with its wrap count) and the payload
// length (uint32), all big-endian.
const HeaderSize = 20

// maxPayload bounds an Opus packet taken from RTP: a UDP datagram on
// loopback from the media plane is at most an MTU-sized RTP packet.
const maxPayload = 1500

// slotSize is one queued frame: header and payload.
const slotSize = HeaderSize + maxPayload

// Errors of parseRTP (each one drops the datagram and counts it).
var (
	errShortRTP   = errors.New("audiostream: datagram shorter than its RTP header")
	errRTPVersion = errors.New("audiostream: not RTP version 2")
	errPadding    = errors.New("audiostream: RTP padding longer than the payload")
)

// rtpPacket is what the stream uses of an RTP packet. payload aliases the
// datagram.
type rtpPacket struct {
	seq     uint16
	ssrc    uint32
	payload []byte
}

// parseRTP reads a plain RTP packet (RFC 3550 §5.1): the fixed header, the
// CSRC list, an extension header if X is set, and padding if P is set. It
// does not allocate.
func parseRTP(b []byte) (rtpPacket, error) {
	if len(b) < 12 {
		return rtpPacket{}, errShortRTP
	}
	if b[0]>>6 != 2 {
		return rtpPacket{}, errRTPVersion
	}
	p := rtpPacket{seq: binary.BigEndian.Uint16(b[2:4]), ssrc: binary.BigEndian.Uint32(b[8:12])}
	n := 12 + 4*int(b[0]&0x0f)
	if b[0]&0x10 != 0 { // extension: 16-bit profile, 16-bit length in words
		if len(b) < n+4 {
			return rtpPacket{}, errShortRTP
		}
		n += 4 + 4*int(binary.BigEndian.Uint16(b[n+2:n+4]))
	}
	if len(b) < n {
		return rtpPacket{}, errShortRTP
	}
	end := len(b)
	if b[0]&0x20 != 0 {
		pad := int(b[len(b)-1])
		if pad == 0 || pad > end-n {
			return rtpPacket{}, errPadding
		}
		end -= pad
	}
	p.payload = b[n:end]
	return p, nil
}

// seqExtender extends 16-bit RTP sequence numbers to 64 bits, counting
// wraps (a packet a little before the last one, reordered, keeps the wrap
// count it belongs to).
type seqExtender struct {
	started bool
	cycles  uint64 // wraps × 65536
	last    uint16
}

func (e *seqExtender) extend(seq uint16) uint64 {
	if !e.started {
		e.started, e.last = true, seq
		return uint64(seq)
	}
	d := int16(seq - e.last)
	switch {
	case d > 0 && seq < e.last: // forward across the wrap
		e.cycles += 1 << 16
		e.last = seq
	case d > 0:
		e.last = seq
	case d < 0 && seq > e.last && e.cycles > 0: // late packet from before the wrap
		return e.cycles - 1<<16 + uint64(seq)
	}
	return e.cycles + uint64(seq)
}

// appendFrame appends one body frame: the header when withHeader, then the
// payload.
func appendFrame(dst []byte, withHeader bool, atMicros, seq uint64, payload []byte) []byte {
	if withHeader {
		dst = binary.BigEndian.AppendUint64(dst, atMicros)
		dst = binary.BigEndian.AppendUint64(dst, seq)
		dst = binary.BigEndian.AppendUint32(dst, uint32(len(payload)))
	}
	return append(dst, payload...)
}

// packetQueue carries frames from a stream's UDP reader to its request
// body without allocating: a fixed set of slots circulates between free
// and full. put never blocks (a full queue drops); the body's Read blocks
// for the next frame and returns io.EOF once the queue is closed and
// drained.
//
// Ownership: put is called by one goroutine (the UDP reader), Read by
// another (the HTTP transport's body writer); close and abort by anyone.
type packetQueue struct {
	free, full chan []byte
	closed     chan struct{} // no more frames: Read drains, then io.EOF
	aborted    chan struct{} // the body was closed: Read returns io.EOF at once
	closeOnce  sync.Once
	abortOnce  sync.Once

	// Read's state (the reading goroutine only).
	cur []byte
	off int
	// sent is called after a whole frame was read, with its size.
	sent func(n int)
}

func newPacketQueue(slots int, sent func(int)) *packetQueue {
	q := &packetQueue{free: make(chan []byte, slots), full: make(chan []byte, slots),
		closed: make(chan struct{}), aborted: make(chan struct{}), sent: sent}
	mem := make([]byte, slots*slotSize)
	for i := range slots {
		q.free <- mem[i*slotSize : i*slotSize : (i+1)*slotSize]
	}
	return q
}

// put queues one frame (appendFrame's) in an empty slot; payload must be
// at most maxPayload bytes. It reports false, and queues nothing, when
// every slot is taken. It does not allocate.
func (q *packetQueue) put(withHeader bool, atMicros, seq uint64, payload []byte) bool {
	select {
	case b := <-q.free:
		q.full <- appendFrame(b, withHeader, atMicros, seq, payload)
		return true
	default:
		return false
	}
}

// Read implements io.Reader for the request body: at most one frame per
// call, so that each frame goes out in DATA frames of its own (a gateway
// reading without the header relies on that).
func (q *packetQueue) Read(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	select {
	case <-q.aborted:
		return 0, io.EOF
	default:
	}
	if q.cur == nil {
		select {
		case b := <-q.full:
			q.cur, q.off = b, 0
		case <-q.aborted:
			return 0, io.EOF
		case <-q.closed:
			select {
			case b := <-q.full:
				q.cur, q.off = b, 0
			default:
				return 0, io.EOF
			}
		}
	}
	n := copy(p, q.cur[q.off:])
	q.off += n
	if q.off == len(q.cur) {
		if q.sent != nil {
			q.sent(len(q.cur))
		}
		q.free <- q.cur[:0]
		q.cur = nil
	}
	return n, nil
}

// Close implements io.Closer for the request body (the transport closes
// it when the request ends): a Read blocked or to come returns io.EOF.
func (q *packetQueue) Close() error {
	q.abortOnce.Do(func() { close(q.aborted) })
	return nil
}

// close ends the body once the queued frames are read.
func (q *packetQueue) close() { q.closeOnce.Do(func() { close(q.closed) }) }
