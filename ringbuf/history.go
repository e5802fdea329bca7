package ringbuf

// maxHistorySlots bounds a History to half the 16-bit sequence space, so that
// "newer" and "older" stay unambiguous across wrap-around.
const maxHistorySlots = 1 << 15

// History is the packet history of one RTP stream: the last Slots() packets,
// indexed by RTP sequence number, kept to answer NACKs (RFC 4585) with the
// original bytes or an RTX packet (RFC 4588).
//
// All memory is allocated by NewHistory. A History has one owner (the loop
// that owns the stream) and no synchronisation: none of its methods may be
// called concurrently.
type History struct {
	data    []byte   // slots × maxSize bytes
	lens    []uint16 // stored length per slot; valid only when present[i]
	seqs    []uint16 // sequence number held by each slot
	present []bool
	maxSize int
	mask    uint16

	newest  uint16 // highest sequence number stored (wrap-aware)
	started bool

	stored   uint64
	tooLarge uint64
}

// NewHistory returns a history of slots packets of up to maxPacketSize bytes
// each. slots is rounded up to a power of two and capped at 32768; it panics if
// maxPacketSize is not in 1..65535.
func NewHistory(slots, maxPacketSize int) *History {
	if maxPacketSize < 1 || maxPacketSize > 0xffff {
		panic("ringbuf: History maxPacketSize out of range")
	}
	if slots > maxHistorySlots {
		slots = maxHistorySlots
	}
	n := int(roundCapacity(slots))
	return &History{
		data:    make([]byte, n*maxPacketSize),
		lens:    make([]uint16, n),
		seqs:    make([]uint16, n),
		present: make([]bool, n),
		maxSize: maxPacketSize,
		mask:    uint16(n - 1),
	}
}

// Slots returns the number of packets the history holds.
func (h *History) Slots() int { return len(h.seqs) }

// MaxPacketSize returns the largest packet Put stores.
func (h *History) MaxPacketSize() int { return h.maxSize }

// Put stores a copy of pkt under seq, replacing whatever the slot held. A
// packet longer than MaxPacketSize is not stored (the slot is emptied) and is
// counted in TooLarge. A packet more than Slots() behind the newest stored
// sequence number is ignored: its slot belongs to a newer packet.
func (h *History) Put(seq uint16, pkt []byte) {
	if h.started {
		d := int16(seq - h.newest)
		if d < 0 && int(-int32(d)) >= len(h.seqs) {
			return
		}
		if d > 0 {
			h.newest = seq
		}
	} else {
		h.started = true
		h.newest = seq
	}
	i := int(seq & h.mask)
	h.seqs[i] = seq
	if len(pkt) > h.maxSize {
		h.present[i] = false
		h.tooLarge++
		return
	}
	off := i * h.maxSize
	copy(h.data[off:off+len(pkt)], pkt)
	h.lens[i] = uint16(len(pkt))
	h.present[i] = true
	h.stored++
}

// Get returns the stored copy of the packet with sequence number seq, if it is
// still in the history. The slice aliases the history's memory: it is valid
// until the next Put and must not be modified or retained.
func (h *History) Get(seq uint16) ([]byte, bool) {
	if !h.started {
		return nil, false
	}
	// Only the Slots() sequence numbers up to the newest can be present; this
	// also rejects a slot that still holds the same number from 65536 packets ago.
	if d := h.newest - seq; int(d) >= len(h.seqs) {
		return nil, false
	}
	i := int(seq & h.mask)
	if !h.present[i] || h.seqs[i] != seq {
		return nil, false
	}
	off := i * h.maxSize
	return h.data[off : off+int(h.lens[i]) : off+int(h.lens[i])], true
}

// Stored returns how many packets Put has stored.
func (h *History) Stored() uint64 { return h.stored }

// TooLarge returns how many packets Put refused because they exceeded
// MaxPacketSize.
func (h *History) TooLarge() uint64 { return h.tooLarge }
