package tcpmux

import (
	"context"
	"encoding/binary"
	"net/netip"
	"sync"
	"sync/atomic"

	"github.com/panjf2000/gnet/v2"
	"golang.org/x/sys/unix"
)

// conn is one accepted connection. Its fields are owned as follows:
//   - immutable after OnOpen: s, gc, el, fd, remote, opened;
//   - the connection's event loop only: de;
//   - atomics (the loop writes, the ticker reads): active, lastRecv, kicked;
//   - mu: the outbound state below (writers on any goroutine, the loop's flush).
//
// Outbound bytes go one of two ways, never both at once, so they stay in
// order. Direct: nothing is pending anywhere, and Write itself does one
// non-blocking write(2) on the socket. Loop-owned: once the kernel did not
// take everything, Write only queues into pend and the loop flushes pend
// through gnet (which buffers and waits for writability); the loop hands
// the socket back to Write once pend and gnet's buffer are both empty.
// The socket is closed by gnet only after OnClose has set dead under mu,
// so a direct write never hits a closed (or reused) descriptor.
type conn struct {
	s      *Server
	gc     gnet.Conn
	el     gnet.EventLoop
	fd     int
	remote netip.AddrPort
	opened int64 // Server.now at accept

	de Deframer

	active   atomic.Bool  // a first frame (a Binding request) arrived
	lastRecv atomic.Int64 // Server.now at the last inbound frame
	kicked   atomic.Bool  // the ticker asked for a close

	mu        sync.Mutex
	pend      []byte // framed packets not handed to the socket or gnet yet
	pendHead  int    // leading bytes of pend that finish a frame already partly sent: never dropped
	spare     []byte // the other buffer; nil while a flush holds it
	loopOwned bool   // the loop writes; Write only queues
	scheduled bool   // a flush task is queued on the loop
	dead      bool   // OnClose ran: queue nothing more
}

// enqueue frames one packet (pkt non-nil) or several (pkts), as many as fit
// in MaxOutbound, and writes them at once when the socket is direct. Lengths
// are already checked. flush reports whether the caller must schedule a
// flush on the loop.
func (tc *conn) enqueue(pkt []byte, pkts [][]byte) (n int, flush bool, err error) {
	s := tc.s
	limit := s.cfg.MaxOutbound
	tc.mu.Lock()
	if tc.dead {
		tc.mu.Unlock()
		s.c.dropNoConn.Add(1)
		return 0, false, ErrNoConn
	}
	var full uint64 // packets that did not fit
	if pkt != nil {
		if len(tc.pend)+HeaderLen+len(pkt) > limit {
			full = 1
		} else {
			tc.pend = appendFrame(tc.pend, pkt)
			n = 1
		}
	} else {
		for _, p := range pkts {
			if len(tc.pend)+HeaderLen+len(p) > limit {
				full = uint64(len(pkts) - n)
				break
			}
			tc.pend = appendFrame(tc.pend, p)
			n++
		}
	}
	if full > 0 {
		err = ErrOutboundFull
	}
	if n > 0 {
		if tc.loopOwned {
			if !tc.scheduled {
				tc.scheduled, flush = true, true
			}
		} else if werr := tc.writeDirectLocked(); werr != nil {
			err = werr
		} else if tc.loopOwned {
			tc.scheduled, flush = true, true
		}
	}
	tc.mu.Unlock()
	if full > 0 {
		s.c.dropOutboundFull.Add(full)
	}
	return n, flush, err
}

// writeDirectLocked writes pend (which holds only frames just appended: in
// direct mode nothing else is pending) with one non-blocking write. What the
// kernel does not take stays in pend, the socket becomes loop-owned, and the
// caller schedules a flush.
func (tc *conn) writeDirectLocked() error {
	s := tc.s
	w, err := unix.Write(tc.fd, tc.pend)
	switch {
	case err == unix.EAGAIN || err == unix.EINTR:
		w = 0
	case err != nil:
		// Reset or broken: gnet sees it on the read side and closes.
		s.c.dropNoConn.Add(countFrames(tc.pend))
		tc.pend = tc.pend[:0]
		return ErrNoConn
	}
	// Count the frames the kernel has started on: those are committed (a
	// partly sent frame is finished by the loop, never dropped).
	var frames, bytes uint64
	off, head := 0, 0
	for off < w {
		l := int(binary.BigEndian.Uint16(tc.pend[off:]))
		frames++
		bytes += uint64(l)
		off += HeaderLen + l
		if off > w {
			head = off - w
		}
	}
	s.c.framesOut.Add(frames)
	s.c.bytesOut.Add(bytes)
	if w == len(tc.pend) {
		tc.pend = tc.pend[:0]
		return nil
	}
	rest := copy(tc.pend, tc.pend[w:])
	tc.pend = tc.pend[:rest]
	tc.pendHead = head
	tc.loopOwned = true
	return nil
}

// appendFrame is AppendFrame without the checks the caller has done.
func appendFrame(dst, pkt []byte) []byte {
	dst = binary.BigEndian.AppendUint16(dst, uint16(len(pkt)))
	return append(dst, pkt...)
}

// Run flushes the queued frames through gnet; it runs on the connection's
// event loop (gnet.Runnable, scheduled by enqueue).
func (tc *conn) Run(context.Context) error {
	s := tc.s
	tc.mu.Lock()
	batch, head := tc.pend, tc.pendHead
	tc.pend, tc.spare, tc.pendHead = tc.spare[:0], nil, 0
	tc.scheduled = false
	dead := tc.dead
	tc.mu.Unlock()
	if dead {
		s.c.dropNoConn.Add(countFrames(batch[head:]))
		tc.giveBack(batch)
		return nil
	}
	// The tail of a partly sent frame always goes; then whole frames, as
	// many as fit beside what gnet still buffers.
	room := s.cfg.MaxOutbound - tc.gc.OutboundBuffered()
	n := head
	var frames, bytes uint64
	for n < len(batch) {
		l := int(binary.BigEndian.Uint16(batch[n:]))
		if n+HeaderLen+l > room {
			break
		}
		n += HeaderLen + l
		frames++
		bytes += uint64(l)
	}
	if n < len(batch) {
		s.c.dropOutboundFull.Add(countFrames(batch[n:]))
	}
	s.c.framesOut.Add(frames)
	s.c.bytesOut.Add(bytes)
	if n > 0 {
		// gnet writes what the kernel takes and copies the rest into its
		// outbound buffer; on a hard error it closes the connection
		// (OnClose runs inside this call).
		_, _ = tc.gc.Write(batch[:n])
	}
	tc.giveBack(batch)
	return nil
}

// giveBack returns a flushed buffer for reuse and, when nothing is pending
// here or in gnet, hands the socket back to direct writes. On the loop.
func (tc *conn) giveBack(b []byte) {
	tc.mu.Lock()
	if !tc.dead {
		tc.spare = b[:0]
		if len(tc.pend) == 0 && !tc.scheduled && tc.gc.OutboundBuffered() == 0 {
			tc.loopOwned = false
		}
	}
	tc.mu.Unlock()
}

// kill marks the connection closed and drops what is still queued. Called
// from OnClose, on the loop, before gnet closes the socket.
func (tc *conn) kill() {
	tc.mu.Lock()
	tc.dead = true
	dropped := countFrames(tc.pend[tc.pendHead:])
	tc.pend, tc.spare, tc.pendHead = nil, nil, 0
	tc.mu.Unlock()
	tc.s.c.dropNoConn.Add(dropped)
}

// countFrames counts the frames in a buffer built by appendFrame.
func countFrames(b []byte) uint64 {
	var k uint64
	for len(b) >= HeaderLen {
		b = b[min(len(b), HeaderLen+int(binary.BigEndian.Uint16(b))):]
		k++
	}
	return k
}
