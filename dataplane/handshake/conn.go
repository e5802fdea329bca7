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
const queueLen = 64

// Conn is a net.PacketConn fed by the media loop. Read deadlines work (the
// DTLS library uses them to abandon a read); writes never block.
type Conn struct {
	local  net.Addr
	remote atomic.Pointer[net.UDPAddr]
	write  func(b []byte, to *net.UDPAddr) error
	in     chan []byte
	done   chan struct{}
	once   sync.Once

	dropped atomic.Uint64

	mu       sync.Mutex
	held     [][]byte // records written before a remote address was known
	deadline time.Time
	wake     chan struct{} // closed and replaced when the read deadline changes
}

// NewConn returns a Conn that sends with write. write must not retain b.
func NewConn(local net.Addr, write func(b []byte, to *net.UDPAddr) error) *Conn {
	return &Conn{local: local, write: write, in: make(chan []byte, queueLen), done: make(chan struct{}), wake: make(chan struct{})}
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
		_ = c.write(p, a)
	}
}

// Deliver queues a copy of one datagram. It never blocks: it returns false
// (and counts a drop) when the queue is full or the Conn is closed.
func (c *Conn) Deliver(b []byte) bool {
	select {
	case <-c.done:
		return false
	default:
	}
	cp := make([]byte, len(b))
	copy(cp, b)
	select {
	case c.in <- cp:
		return true
	default:
		c.dropped.Add(1)
		return false
	}
}

// Dropped counts datagrams dropped because the queue was full.
func (c *Conn) Dropped() uint64 { return c.dropped.Load() }

// ReadFrom implements net.PacketConn. It honours the read deadline: the DTLS
// library interrupts a blocked read that way when its context ends.
func (c *Conn) ReadFrom(p []byte) (int, net.Addr, error) {
	for {
		c.mu.Lock()
		deadline, wake := c.deadline, c.wake
		c.mu.Unlock()
		var expired <-chan time.Time
		if !deadline.IsZero() {
			d := time.Until(deadline)
			if d <= 0 {
				return 0, nil, os.ErrDeadlineExceeded
			}
			t := time.NewTimer(d)
			expired = t.C
			defer t.Stop()
		}
		select {
		case b := <-c.in:
			return copy(p, b), c.remoteAddr(), nil
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
