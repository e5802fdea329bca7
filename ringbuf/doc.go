// Package ringbuf holds the bounded, allocation-free rings of the media plane.
//
//   - SPSC carries values from one goroutine to exactly one other (packets
//     from one loop to a subscriber on another loop). Lock-free; a Push to a
//     full ring fails at once so the producer drops and counts.
//   - MPSC carries values from any number of goroutines to one consumer
//     (commands from the control plane to a loop). It is Dmitry Vyukov's
//     bounded queue: every slot carries a sequence number that says whose turn
//     it is, so producers claim a slot with one compare-and-swap and never wait
//     for one another.
//   - History keeps the last N RTP packets of one stream, copied into memory
//     allocated once, so a NACK can be answered with the original bytes.
//
// Concurrency contract: SPSC.Push is called by one producer goroutine and
// SPSC.Pop by one consumer goroutine (they may differ). MPSC.Push may be called
// from any goroutine; MPSC.Pop from one consumer goroutine only. Len may be
// called from anywhere and is a snapshot. History has a single owner and no
// synchronisation at all.
//
// Capacities are rounded up to a power of two so an index is a mask, not a
// division. None of these types allocates after construction.
//
// A ring slot is cleared when its value is popped, so a ring never keeps a
// popped pointer alive for the garbage collector.
package ringbuf
