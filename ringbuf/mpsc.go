package ringbuf

import "sync/atomic"

// mpscSlot is one cell of an MPSC ring. seq says whose turn the slot is:
// seq == pos means free for the producer claiming position pos; seq == pos+1
// means filled and readable by the consumer at pos.
type mpscSlot[T any] struct {
	seq atomic.Uint64
	val T
}

// MPSC is a bounded many-producer single-consumer ring (Vyukov's bounded
// queue with per-slot sequence numbers).
//
// Push may be called from any goroutine. Pop must only be called from one
// goroutine at a time (the consumer). Values pushed by one producer are popped
// in the order it pushed them. A producer that has claimed a slot but not yet
// filled it makes the ring look empty from that slot on until it finishes;
// this is a window of a few instructions. The zero value is not usable; call
// NewMPSC.
type MPSC[T any] struct {
	_ [cacheLine]byte
	// enq is the next position a producer claims.
	enq atomic.Uint64
	_   [cacheLine - 8]byte
	// deq is the next position the consumer reads; written only by it.
	deq   atomic.Uint64
	_     [cacheLine - 8]byte
	mask  uint64
	slots []mpscSlot[T]
}

// NewMPSC returns a ring holding capacity values, rounded up to a power of
// two (a capacity below 2 means 2).
func NewMPSC[T any](capacity int) *MPSC[T] {
	// With one slot the "filled" and "free for the next lap" sequence numbers
	// coincide, so the smallest ring has two.
	if capacity < 2 {
		capacity = 2
	}
	c := roundCapacity(capacity)
	r := &MPSC[T]{mask: c - 1, slots: make([]mpscSlot[T], c)}
	for i := range r.slots {
		r.slots[i].seq.Store(uint64(i))
	}
	return r
}

// Cap returns the number of values the ring can hold.
func (r *MPSC[T]) Cap() int { return len(r.slots) }

// Push appends v. It returns false, and leaves the ring unchanged, when the
// ring is full. Safe for concurrent use by many producers.
func (r *MPSC[T]) Push(v T) bool {
	pos := r.enq.Load()
	for {
		s := &r.slots[pos&r.mask]
		seq := s.seq.Load()
		switch d := int64(seq - pos); {
		case d == 0:
			if r.enq.CompareAndSwap(pos, pos+1) {
				s.val = v
				s.seq.Store(pos + 1) // publishes val to the consumer
				return true
			}
			pos = r.enq.Load()
		case d < 0:
			// The slot still holds the value of the previous lap: full.
			return false
		default:
			// Another producer claimed pos; retry at the current position.
			pos = r.enq.Load()
		}
	}
}

// Pop removes and returns the oldest published value, or the zero value and
// false when there is none. Consumer only.
func (r *MPSC[T]) Pop() (T, bool) {
	var zero T
	pos := r.deq.Load()
	s := &r.slots[pos&r.mask]
	if s.seq.Load() != pos+1 {
		return zero, false
	}
	v := s.val
	s.val = zero
	s.seq.Store(pos + r.mask + 1) // free for the producer of the next lap
	r.deq.Store(pos + 1)
	return v, true
}

// Len returns the number of claimed slots (values pushed or being pushed and
// not yet popped). It is a snapshot.
func (r *MPSC[T]) Len() int {
	d := r.deq.Load()
	e := r.enq.Load()
	n := e - d
	if n > uint64(len(r.slots)) {
		n = uint64(len(r.slots))
	}
	return int(n)
}
