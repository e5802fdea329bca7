// Package pkt provides the refcounted, pooled packet buffers of the media
// plane.
//
// A Pool belongs to one loop. The loop takes buffers with Get (refcount 1,
// length 0, capacity BufSize), reads a datagram into B, and hands the buffer
// on. Everyone who keeps a reference beyond the current call takes one with
// Retain and gives it back with Release; the last Release returns the buffer
// to its pool. A buffer that has been fanned out to several subscribers is
// read-only: each subscriber writes its own copy into a buffer of its own.
//
// Concurrency contract:
//   - Pool.Get may only be called by the pool's owner goroutine.
//   - Buf.Retain and Buf.Release may be called from any goroutine (the
//     refcount is atomic and a released buffer travels back to its pool
//     through a lock-free many-producer ring), so a buffer handed to another
//     loop is released there.
//   - A Buf's bytes are owned by whoever holds a reference; with more than one
//     holder nobody writes to them.
//
// Misuse panics, as quic-go's buffer pool does: releasing a buffer whose count
// is already zero panics with "pkt: double release", and retaining a released
// buffer with "pkt: retain of released buffer". Use after release cannot be
// detected and is a bug of the caller.
//
// A Pool never blocks. When it is empty Get allocates a fresh buffer and
// counts it (Allocated); when its return ring is full a released buffer is
// left to the garbage collector and counted (Dropped).
package pkt
