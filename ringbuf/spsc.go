package ringbuf

import (
	"math/bits"
	"sync/atomic"
)

// cacheLine is the padding unit that keeps the producer's and the consumer's
// hot fields on different cache lines (64 bytes on amd64 and most arm64; 128
// covers adjacent-line prefetching).
const cacheLine = 128

// SPSC is a bounded single-producer single-consumer ring.
//
// Push must only be called from one goroutine at a time (the producer) and Pop
// from one goroutine at a time (the consumer). Len may be called from any
// goroutine. The zero value is not usable; call NewSPSC.
type SPSC[T any] struct {
	_ [cacheLine]byte
	// tail is the next position to write; written only by the producer.
	tail atomic.Uint64
	// headCache is the producer's last view of head.
	headCache uint64
	_         [cacheLine - 16]byte
	// head is the next position to read; written only by the consumer.
	head atomic.Uint64
	// tailCache is the consumer's last view of tail.
	tailCache uint64
	_         [cacheLine - 16]byte
	mask      uint64
	buf       []T
}

// roundCapacity returns capacity rounded up to a power of two, at least 1.
func roundCapacity(capacity int) uint64 {
	if capacity < 1 {
		capacity = 1
	}
	if capacity > 1<<40 {
		panic("ringbuf: capacity too large")
	}
	c := uint64(capacity)
	if c&(c-1) == 0 {
		return c
	}
	return 1 << (64 - bits.LeadingZeros64(c))
}

// NewSPSC returns a ring holding capacity values, rounded up to a power of
// two (a capacity below 1 means 1).
func NewSPSC[T any](capacity int) *SPSC[T] {
	c := roundCapacity(capacity)
	return &SPSC[T]{mask: c - 1, buf: make([]T, c)}
}

// Cap returns the number of values the ring can hold.
func (r *SPSC[T]) Cap() int { return len(r.buf) }

// Push appends v. It returns false, and leaves the ring unchanged, when the
// ring is full: the caller drops v and counts the drop. Producer only.
func (r *SPSC[T]) Push(v T) bool {
	t := r.tail.Load()
	if t-r.headCache > r.mask {
		r.headCache = r.head.Load()
		if t-r.headCache > r.mask {
			return false
		}
	}
	r.buf[t&r.mask] = v
	r.tail.Store(t + 1) // publishes buf[t] to the consumer
	return true
}

// Pop removes and returns the oldest value, or the zero value and false when
// the ring is empty. Consumer only.
func (r *SPSC[T]) Pop() (T, bool) {
	var zero T
	h := r.head.Load()
	if h == r.tailCache {
		r.tailCache = r.tail.Load()
		if h == r.tailCache {
			return zero, false
		}
	}
	i := h & r.mask
	v := r.buf[i]
	r.buf[i] = zero
	r.head.Store(h + 1) // hands the slot back to the producer
	return v, true
}

// Len returns the number of values in the ring. Called from a goroutine other
// than the producer and the consumer it is a snapshot that may already be stale.
func (r *SPSC[T]) Len() int {
	h := r.head.Load() // head first: tail read after it is never behind it
	t := r.tail.Load()
	n := t - h
	if n > uint64(len(r.buf)) {
		n = uint64(len(r.buf))
	}
	return int(n)
}
