package feedback

// Defaults of a NACKTracker; see its fields.
const (
	DefaultNACKRetryInterval = 100_000_000   // 100 ms
	DefaultNACKMaxRetries    = 5             // requests per packet
	DefaultNACKMaxAge        = 1_000_000_000 // 1 s
)

const (
	slotEmpty uint8 = iota
	slotReceived
	slotMissing
)

type nackSlot struct {
	seq    uint16
	state  uint8
	tries  uint8
	lostAt int64 // when the gap was seen
	askAt  int64 // last request
}

// NACKTracker finds the packets of one upstream SSRC that are missing and
// decides when to ask the publisher for them again (generic NACK, RFC 4585
// §6.2.1). It keeps a window of the last Size() sequence numbers. One owner,
// no locks, no allocation after NewNACKTracker.
//
// A packet is requested when it is missing, was not requested within
// RetryInterval, has been requested fewer than MaxRetries times, and its gap
// was seen at most MaxAge ago; after that it is given up (counted in GaveUp).
// The tracker does not wait for reordering: a gap is requested on the first
// AppendMissing after it appears. Call AppendMissing on a timer (every
// 10–20 ms) rather than per packet to give reordered packets that time.
type NACKTracker struct {
	// RetryInterval, MaxRetries and MaxAge tune the policy above; set them
	// before the first OnPacket. NewNACKTracker sets the defaults.
	RetryInterval int64
	MaxRetries    int
	MaxAge        int64

	slots   []nackSlot
	mask    uint16
	started bool
	highest uint16
	badSeq  int32 // the sequence number after a far jump back; -1 = none
	missing int   // slots in state slotMissing

	requested uint64
	recovered uint64
	gaveUp    uint64
}

// NewNACKTracker returns a tracker whose window covers size sequence
// numbers, rounded up to a power of two between 16 and 32768 (512 covers
// about a second of 4 Mbit/s video).
func NewNACKTracker(size int) *NACKTracker {
	n := 16
	for n < size && n < 1<<15 {
		n <<= 1
	}
	return &NACKTracker{
		RetryInterval: DefaultNACKRetryInterval,
		MaxRetries:    DefaultNACKMaxRetries,
		MaxAge:        DefaultNACKMaxAge,
		slots:         make([]nackSlot, n),
		mask:          uint16(n - 1),
		badSeq:        -1,
	}
}

// Size returns the window size.
func (t *NACKTracker) Size() int { return len(t.slots) }

// Missing returns how many packets are currently considered missing.
func (t *NACKTracker) Missing() int { return t.missing }

// Requested returns how many sequence numbers AppendMissing has returned
// (each retry counts).
func (t *NACKTracker) Requested() uint64 { return t.requested }

// Recovered returns how many missing packets arrived later.
func (t *NACKTracker) Recovered() uint64 { return t.recovered }

// GaveUp returns how many missing packets were abandoned (too old or asked
// too often).
func (t *NACKTracker) GaveUp() uint64 { return t.gaveUp }

func (t *NACKTracker) reset(seq uint16) {
	t.gaveUp += uint64(t.missing)
	clear(t.slots)
	t.missing = 0
	t.highest = seq
	t.badSeq = -1
	t.slots[seq&t.mask] = nackSlot{seq: seq, state: slotReceived}
}

// OnPacket records the arrival of sequence number seq at now.
func (t *NACKTracker) OnPacket(seq uint16, now int64) {
	if !t.started {
		t.started = true
		t.reset(seq)
		return
	}
	d := int(int16(seq - t.highest))
	size := len(t.slots)
	switch {
	case d == 0:
		return
	case d > 0 && d < size:
		// Newer: every sequence number skipped is missing from now on.
		for s := t.highest + 1; s != seq; s++ {
			t.setSlot(nackSlot{seq: s, state: slotMissing, lostAt: now})
		}
		t.setSlot(nackSlot{seq: seq, state: slotReceived})
		t.highest = seq
		t.badSeq = -1
	case d > 0:
		// A jump beyond the window: the packets in between cannot be
		// recovered in time anyway.
		t.reset(seq)
	case -d < size:
		// Late or retransmitted.
		sl := &t.slots[seq&t.mask]
		if sl.seq == seq && sl.state == slotMissing {
			sl.state = slotReceived
			t.missing--
			t.recovered++
		}
		t.badSeq = -1
	default:
		// Far behind the window: ignore, unless the sender evidently
		// restarted its sequence numbers (two such packets in a row).
		if int32(seq) == t.badSeq {
			t.reset(seq)
			return
		}
		t.badSeq = int32(seq + 1)
	}
}

// setSlot overwrites the slot of sl.seq, keeping the missing count right.
func (t *NACKTracker) setSlot(sl nackSlot) {
	p := &t.slots[sl.seq&t.mask]
	if p.state == slotMissing {
		t.missing--
		t.gaveUp++ // pushed out of the window while still missing
	}
	if sl.state == slotMissing {
		t.missing++
	}
	*p = sl
}

// AppendMissing appends the sequence numbers to request now, oldest first
// (ascending, wrap-aware, ready for AppendNACK), and records the request.
func (t *NACKTracker) AppendMissing(dst []uint16, now int64) []uint16 {
	if t.missing == 0 {
		return dst
	}
	size := uint16(len(t.slots))
	for s, n := t.highest-size+1, 0; n < len(t.slots); s, n = s+1, n+1 {
		sl := &t.slots[s&t.mask]
		if sl.state != slotMissing || sl.seq != s {
			continue
		}
		if now-sl.lostAt > t.MaxAge || int(sl.tries) >= t.MaxRetries {
			sl.state = slotEmpty
			t.missing--
			t.gaveUp++
			continue
		}
		if sl.tries > 0 && now-sl.askAt < t.RetryInterval {
			continue
		}
		sl.tries++
		sl.askAt = now
		t.requested++
		dst = append(dst, s)
	}
	return dst
}
