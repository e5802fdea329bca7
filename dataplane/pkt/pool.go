package pkt

import (
	"sync/atomic"

	"github.com/hayate-sfu/hayate/ringbuf"
)

// BufSize is the capacity of every buffer: a full Ethernet-MTU datagram plus
// room for SRTP's tag and index when encrypting in place.
const BufSize = 2048

// Buf is one packet buffer. B's length is the data in it and its capacity is
// BufSize; the buffer may be resliced within that capacity (B = B[:n]) but B
// must never be replaced by a slice of other memory.
type Buf struct {
	B []byte

	refs atomic.Int32
	pool *Pool
}

// Pool hands out buffers. Get is for the owner goroutine only; buffers
// come back through Release from any goroutine.
type Pool struct {
	// free holds never-used or owner-recycled buffers; owner only.
	free []*Buf
	// returned receives buffers released by anyone, in release order.
	returned *ringbuf.MPSC[*Buf]

	allocated atomic.Uint64
	dropped   atomic.Uint64
}

// NewPool returns a pool with n buffers allocated up front in one block.
func NewPool(n int) *Pool {
	if n < 1 {
		n = 1
	}
	p := &Pool{
		free: make([]*Buf, n),
		// Room for every preallocated buffer plus as many again allocated on
		// demand before releases start being dropped.
		returned: ringbuf.NewMPSC[*Buf](2 * n),
	}
	slab := make([]byte, n*BufSize)
	bufs := make([]Buf, n)
	for i := range bufs {
		b := &bufs[i]
		b.B = slab[i*BufSize : i*BufSize : (i+1)*BufSize]
		b.pool = p
		// Hand out the low addresses first (the free list is a stack).
		p.free[n-1-i] = b
	}
	return p
}

// Get returns a buffer with refcount 1 and length 0. It prefers the most
// recently released buffers, whose memory is likely still in cache. Owner
// goroutine only.
func (p *Pool) Get() *Buf {
	b, ok := p.returned.Pop()
	if !ok {
		if n := len(p.free); n > 0 {
			b = p.free[n-1]
			p.free[n-1] = nil
			p.free = p.free[:n-1]
		} else {
			b = &Buf{B: make([]byte, 0, BufSize), pool: p}
			p.allocated.Add(1)
		}
	}
	b.B = b.B[:0]
	b.refs.Store(1)
	return b
}

// Allocated returns how many buffers Get allocated because the pool was empty.
// Safe from any goroutine.
func (p *Pool) Allocated() uint64 { return p.allocated.Load() }

// Dropped returns how many released buffers were left to the garbage
// collector because the pool's return ring was full. Safe from any goroutine.
func (p *Pool) Dropped() uint64 { return p.dropped.Load() }

// Retain adds a reference. Safe from any goroutine.
func (b *Buf) Retain() {
	if b.refs.Add(1) <= 1 {
		panic("pkt: retain of released buffer")
	}
}

// Release drops a reference; the last one returns the buffer to its pool.
// Safe from any goroutine. It panics if the count is already zero.
func (b *Buf) Release() {
	n := b.refs.Add(-1)
	if n > 0 {
		return
	}
	if n < 0 {
		panic("pkt: double release")
	}
	if b.pool == nil || !b.pool.returned.Push(b) {
		if b.pool != nil {
			b.pool.dropped.Add(1)
		}
	}
}

// Refs returns the current reference count (for tests and assertions).
func (b *Buf) Refs() int32 { return b.refs.Load() }
