package udpio

import (
	"encoding/binary"
	"net/netip"
	"time"
)

// batchSize is the number of datagrams per recvmmsg/sendmmsg call.
const batchSize = 64

// rcvBuf is SO_RCVBUF for every socket (the kernel doubles it); see setRcvBuf.
const rcvBuf = 16 << 20

// receiver is one way of receiving datagrams on a loopback UDP socket. Each
// datagram starts with a big-endian uint32 sequence number below want.
type receiver interface {
	// Addr is the socket's address (127.0.0.1 and the chosen port).
	Addr() netip.AddrPort
	// Done is closed once want datagrams have arrived.
	Done() <-chan struct{}
	// Close stops the receiver and waits for its goroutines.
	Close() error
	// Result is valid after Done is closed or Close has returned.
	Result() Result
}

// Result is what a receiver counted.
type Result struct {
	Packets   uint64        // datagrams received
	Distinct  uint64        // distinct sequence numbers among them
	Wakes     uint64        // times the receiver found the socket empty and went back to wait
	ThreadCPU time.Duration // receiving thread's CPU from the first datagram to shutdown; 0 if unknown
	Err       error         // why the receiver stopped before Close, if it did
}

// tally counts and checks datagrams. It is owned by the receiving goroutine;
// readers synchronise through done or through the receiver's exit.
type tally struct {
	want      uint64
	res       Result
	seen      []uint64 // bitmap of sequence numbers
	measure   bool     // the receiving goroutine is locked to its thread: read its CPU
	cpu0      time.Duration
	done      chan struct{}
	signalled bool
}

func newTally(want int, measure bool) tally {
	return tally{want: uint64(want), seen: make([]uint64, (want+63)/64), measure: measure, done: make(chan struct{})}
}

// add records one datagram.
func (t *tally) add(p []byte) {
	if t.res.Packets == 0 && t.measure {
		t.cpu0 = threadCPU()
	}
	t.res.Packets++
	if len(p) < 4 {
		return
	}
	seq := binary.BigEndian.Uint32(p)
	if uint64(seq) >= t.want {
		return
	}
	w, bit := seq/64, uint64(1)<<(seq%64)
	if t.seen[w]&bit == 0 {
		t.seen[w] |= bit
		t.res.Distinct++
	}
}

// addBatch records the first n datagrams of b.
func (t *tally) addBatch(b *batch, n int) {
	for i := range n {
		t.add(b.data(i))
	}
}

// check signals done once every wanted datagram is in; called after each
// batch, not per datagram.
func (t *tally) check() {
	if !t.signalled && t.res.Packets >= t.want {
		t.signalled = true
		close(t.done)
	}
}

// stop takes the thread's CPU time; called on the receiving thread when
// the receiver shuts down.
func (t *tally) stop() {
	if t.measure && t.res.Packets > 0 {
		t.res.ThreadCPU = threadCPU() - t.cpu0
	}
}
