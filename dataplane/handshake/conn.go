package handshake

import (
	"net"
	"os"
	"sync"
	"sync/atomic"
	"time"
)

// queueLen bounds the datagrams waiting for the DTLS goroutine. A handshake
// flight is a handful of datagrams; beyond that we drop (DTLS retransmits).
// The queue holds only what waits: an idle Conn keeps no buffer.
const queueLen = 64

// Conn is a net.PacketConn fed by the media loop. Read deadlines work (the
// DTLS library uses them to abandon a read); writes never block.
//
// Release retires a Conn whose association is no longer needed without a
// word to the peer: from then on writes are discarded, reads end and
// delivered datagrams are dropped and counted.
type Conn struct {
	local  net.Addr
	remote atomic.Pointer[net.UDPAddr]
	write  func(b []byte, to *net.UDPAddr) error
	ready  chan struct{} // one token: a datagram was queued
	done   chan struct{}
	once   sync.Once

	dropped   atomic.Uint64
	delivered atomic.Uint64 // datagrams queued for the DTLS library
	sent      atomic.Uint64 // datagrams handed to write (held ones when sent)
	discarded atomic.Uint64 // writes dropped after Release
	released  atomic.Bool
	late      atomic.Pointer[atomic.Uint64] // counts Deliver after Release

	mu       sync.Mutex
	in       [][]byte // datagrams for the DTLS library, oldest first
	held     [][]byte // records written before a remote address was known
	deadline time.Time
	wake     chan struct{} // closed and replaced when the read deadline changes
}

// NewConn returns a Conn that sends with write. write must not retain b.
func NewConn(local net.Addr, write func(b []byte, to *net.UDPAddr) error) *Conn {
	return &Conn{local: local, write: write, ready: make(chan struct{}, 1), done: make(chan struct{}), wake: make(chan struct{})}
}

// SetRemote sets the address DTLS records are sent to and reported from: the
// transport's selected ICE pair. Records written before there was one are
// sent now (as DTLS client we may start before the peer's first check).
// Safe from any goroutine.
func (c *Conn) SetRemote(a *net.UDPAddr) {
	c.mu.Lock()
	c.remote.Store(a)
	held := c.held
	c.held = nil
	c.mu.Unlock()
	for _, p := range held {
		if c.released.Load() {
			c.discarded.Add(1)
			continue
		}
		if c.write(p, a) == nil {
			c.sent.Add(1)
		}
	}
}

// Deliver queues a copy of one datagram. It never blocks: it returns false
// (and counts a drop) when the queue is full or the Conn is closed. After
// Release it drops the datagram and counts it in Release's counter.
func (c *Conn) Deliver(b []byte) bool {
	if c.released.Load() {
		c.countLate()
		return false
	}
	select {
	case <-c.done:
		return false
	default:
	}
	c.mu.Lock()
	if c.released.Load() { // Release ran since the check above
		c.mu.Unlock()
		c.countLate()
		return false
	}
	if len(c.in) >= queueLen {
		c.mu.Unlock()
		c.dropped.Add(1)
		return false
	}
	c.in = append(c.in, append([]byte(nil), b...))
	c.mu.Unlock()
	c.delivered.Add(1)
	select {
	case c.ready <- struct{}{}:
	default: // a token is waiting already
	}
	return true
}

func (c *Conn) countLate() {
	if n := c.late.Load(); n != nil {
		n.Add(1)
	}
}

// Dropped counts datagrams dropped because the queue was full.
func (c *Conn) Dropped() uint64 { return c.dropped.Load() }

// Delivered counts the datagrams queued for the DTLS library: a change
// means the peer sent a DTLS record.
func (c *Conn) Delivered() uint64 { return c.delivered.Load() }

// Sent counts the datagrams the DTLS library wrote that went to write.
func (c *Conn) Sent() uint64 { return c.sent.Load() }

// Discarded counts the writes dropped because the Conn was released (a
// close_notify of the DTLS library closing its association, for one).
func (c *Conn) Discarded() uint64 { return c.discarded.Load() }

// Release retires the Conn without telling the peer anything: every later
// write is discarded (so closing the dtls.Conn on top of it sends no alert,
// which would make a browser tear its PeerConnection down), the reader ends
// as on Close, the queued datagrams are let go, and every datagram delivered
// later is dropped and counted in late (nil: not counted). Call it before
// closing the association.
func (c *Conn) Release(late *atomic.Uint64) {
	c.late.Store(late)
	c.released.Store(true)
	c.mu.Lock()
	c.held, c.in = nil, nil
	c.mu.Unlock()
	_ = c.Close()
}

// ReadFrom implements net.PacketConn. It honours the read deadline: the DTLS
// library interrupts a blocked read that way when its context ends.
func (c *Conn) ReadFrom(p []byte) (int, net.Addr, error) {
	var timer *time.Timer
	defer func() {
		if timer != nil {
			timer.Stop()
		}
	}()
	for {
		c.mu.Lock()
		if len(c.in) > 0 {
			b := c.in[0]
			c.in[0] = nil
			c.in = c.in[1:]
			if len(c.in) == 0 {
				c.in = nil // let the flight's backing array go
			}
			c.mu.Unlock()
			return copy(p, b), c.remoteAddr(), nil
		}
		deadline, wake := c.deadline, c.wake
		c.mu.Unlock()
		var expired <-chan time.Time
		if !deadline.IsZero() {
			d := time.Until(deadline)
			if d <= 0 {
				return 0, nil, os.ErrDeadlineExceeded
			}
			if timer == nil {
				timer = time.NewTimer(d)
			} else {
				timer.Reset(d)
			}
			expired = timer.C
		}
		select {
		case <-c.ready:
		case <-c.done:
			return 0, nil, net.ErrClosed
		case <-expired:
			return 0, nil, os.ErrDeadlineExceeded
		case <-wake:
		}
	}
}

func (c *Conn) remoteAddr() net.Addr {
	if a := c.remote.Load(); a != nil {
		return a
	}
	return &net.UDPAddr{}
}

// WriteTo implements net.PacketConn; the address argument is ignored in
// favour of the selected pair, which can change under the handshake.
func (c *Conn) WriteTo(p []byte, _ net.Addr) (int, error) {
	if c.released.Load() {
		c.discarded.Add(1)
		return len(p), nil
	}
	select {
	case <-c.done:
		return 0, net.ErrClosed
	default:
	}
	a := c.remote.Load()
	if a == nil {
		// No pair selected yet: hold the record until SetRemote (a DTLS
		// server peer would not retransmit for us, and our own retransmit
		// comes only a second later).
		c.mu.Lock()
		if a = c.remote.Load(); a == nil {
			if len(c.held) < queueLen {
				c.held = append(c.held, append([]byte(nil), p...))
			}
			c.mu.Unlock()
			return len(p), nil
		}
		c.mu.Unlock()
	}
	if err := c.write(p, a); err != nil {
		return 0, err
	}
	c.sent.Add(1)
	return len(p), nil
}

// SetReadDeadline implements net.PacketConn.
func (c *Conn) SetReadDeadline(t time.Time) error {
	c.mu.Lock()
	c.deadline = t
	close(c.wake)
	c.wake = make(chan struct{})
	c.mu.Unlock()
	return nil
}

// SetDeadline sets the read deadline; writes never block.
func (c *Conn) SetDeadline(t time.Time) error { return c.SetReadDeadline(t) }

// Close implements net.PacketConn; it unblocks ReadFrom.
func (c *Conn) Close() error {
	c.once.Do(func() { close(c.done) })
	return nil
}

// LocalAddr implements net.PacketConn.
func (c *Conn) LocalAddr() net.Addr { return c.local }

// SetWriteDeadline is a no-op: writes never block.
func (c *Conn) SetWriteDeadline(time.Time) error { return nil }
