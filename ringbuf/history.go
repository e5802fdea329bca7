package ringbuf

import "time"

// maxHistorySlots bounds a History to half the 16-bit sequence space, so that
// "newer" and "older" stay unambiguous across wrap-around.
const maxHistorySlots = 1 << 15

// historyInitialBytes is a History's first arena: 32 KiB holds a quarter
// of a second of 1 Mb/s video.
const historyInitialBytes = 32 << 10

// History is the packet history of one RTP stream, kept to answer NACKs
// (RFC 4585) with the original bytes or an RTX packet (RFC 4588): at most
// the last Slots() packets, indexed by RTP sequence number.
//
// The packets are copied one after the other into an arena that starts at
// 32 KiB. When a packet needs room, the oldest packets give it theirs,
// unless one of them is younger than the retention given to NewHistory:
// then the arena doubles instead, up to Slots() × MaxPacketSize() bytes.
// So a stream keeps about its retention's worth of packets in memory (up to
// twice that, as the arena doubles): with 2 s, a 150 kb/s simulcast layer
// holds 64 KiB where a full-size slot per packet would hold 1.5 MB. The
// arena grows only while a stream speeds up; a steady stream's Put and Get
// do not allocate.
//
// A History has one owner (the loop that owns the stream) and no
// synchronisation: none of its methods may be called concurrently.
type History struct {
	arena    []byte
	maxArena int
	retain   int64 // ns
	pos      int   // where the next packet goes in arena

	// where maps a slot (seq & mask) to the entry holding its packet in
	// order, or -1. The slot holds seq if where[i] >= 0 and that entry's
	// seq is seq.
	where []int32
	mask  uint16

	// order is a ring of the stored packets, oldest first; within a lap of
	// the arena, a later entry lies at a higher offset. An entry whose
	// slot has since been given to another packet is stale and only waits
	// to be dropped.
	order       []histEntry
	head, count int
	maxSize     int

	newest  uint16 // highest sequence number stored (wrap-aware)
	started bool

	stored   uint64
	tooLarge uint64
}

type histEntry struct {
	at  int64 // when it was stored (the caller's clock, ns)
	off uint32
	n   uint16
	seq uint16
}

// NewHistory returns a history of at most slots packets of up to
// maxPacketSize bytes each that grows rather than drop a packet stored less
// than retain ago. slots is rounded up to a power of two and capped at
// 32768; it panics if maxPacketSize is not in 1..65535.
func NewHistory(slots, maxPacketSize int, retain time.Duration) *History {
	if maxPacketSize < 1 || maxPacketSize > 0xffff {
		panic("ringbuf: History maxPacketSize out of range")
	}
	if slots > maxHistorySlots {
		slots = maxHistorySlots
	}
	n := int(roundCapacity(slots))
	h := &History{
		maxArena: n * maxPacketSize,
		retain:   int64(retain),
		where:    make([]int32, n),
		mask:     uint16(n - 1),
		order:    make([]histEntry, n),
		maxSize:  maxPacketSize,
	}
	h.arena = make([]byte, min(historyInitialBytes, h.maxArena))
	for i := range h.where {
		h.where[i] = -1
	}
	return h
}

// Slots returns the most packets the history holds.
func (h *History) Slots() int { return len(h.where) }

// MaxPacketSize returns the largest packet Put stores.
func (h *History) MaxPacketSize() int { return h.maxSize }

// ArenaBytes returns the size of the arena the packets are copied into.
func (h *History) ArenaBytes() int { return len(h.arena) }

// Put stores a copy of pkt under seq at time now (ns, any monotonic clock),
// replacing whatever the slot held. A packet longer than MaxPacketSize is not
// stored (the slot is emptied) and is counted in TooLarge. A packet more than
// Slots() behind the newest stored sequence number is ignored: its slot
// belongs to a newer packet.
func (h *History) Put(seq uint16, pkt []byte, now int64) {
	if h.started {
		d := int16(seq - h.newest)
		if d < 0 && int(-int32(d)) >= len(h.where) {
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
	h.where[i] = -1 // whatever the slot held is stale now
	if len(pkt) > h.maxSize {
		h.tooLarge++
		return
	}
	n := len(pkt)
	for !h.makeRoom(n, now) {
		h.grow()
	}
	e := (h.head + h.count) & (len(h.order) - 1)
	h.order[e] = histEntry{at: now, off: uint32(h.pos), n: uint16(n), seq: seq}
	h.count++
	h.where[i] = int32(e)
	copy(h.arena[h.pos:], pkt)
	h.pos += n
	h.stored++
}

// makeRoom drops the oldest packets until n bytes are free at pos (moving
// pos to the arena's start when its end is too near) and an order entry is
// free. It reports false, having dropped nothing more, when the next
// packet to drop is younger than the retention and the arena may still
// grow.
func (h *History) makeRoom(n int, now int64) bool {
	if h.pos+n > len(h.arena) {
		// The packets between pos and the end are the oldest: drop them
		// all, then start again at 0.
		for h.count > 0 {
			e := &h.order[h.head]
			if int(e.off) < h.pos {
				break
			}
			if !h.drop(now) {
				return false
			}
		}
		h.pos = 0
	}
	if h.count == len(h.order) && h.where[h.order[h.head].seq&h.mask] == int32(h.head) {
		// A full order whose oldest entry is live (a stream that repeats
		// or reorders) holds stale entries further on: the slot of the
		// packet being stored was emptied, so at most Slots()-1 are live.
		h.compact(nil)
	}
	for h.count > 0 {
		e := &h.order[h.head]
		full := h.count == len(h.order)
		overlaps := int(e.off) >= h.pos && int(e.off) < h.pos+n
		if !full && !overlaps {
			return true
		}
		if !h.drop(now) {
			return false
		}
	}
	return true
}

// drop removes the oldest entry, unless it holds a packet younger than the
// retention and the arena can still grow.
func (h *History) drop(now int64) bool {
	e := &h.order[h.head]
	live := h.where[e.seq&h.mask] == int32(h.head)
	if live && now-e.at < h.retain && len(h.arena) < h.maxArena {
		return false
	}
	if live {
		h.where[e.seq&h.mask] = -1
	}
	h.head = (h.head + 1) & (len(h.order) - 1)
	h.count--
	return true
}

// grow doubles the arena (up to its bound) and copies the stored packets
// into it, oldest first from its start.
func (h *History) grow() {
	h.compact(make([]byte, min(2*len(h.arena), h.maxArena)))
}

// compact drops the stale entries from order, keeping the others in their
// order. With next, it also copies their packets into next, one after the
// other from its start, and makes next the arena.
func (h *History) compact(next []byte) {
	pos, kept := 0, 0
	mask := len(h.order) - 1
	for k := 0; k < h.count; k++ {
		src := (h.head + k) & mask
		e := h.order[src]
		if h.where[e.seq&h.mask] != int32(src) {
			continue
		}
		if next != nil {
			copy(next[pos:], h.arena[e.off:int(e.off)+int(e.n)])
			e.off = uint32(pos)
			pos += int(e.n)
		}
		dst := (h.head + kept) & mask
		h.order[dst] = e
		h.where[e.seq&h.mask] = int32(dst)
		kept++
	}
	h.count = kept
	if next != nil {
		h.arena, h.pos = next, pos
	}
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
	if d := h.newest - seq; int(d) >= len(h.where) {
		return nil, false
	}
	w := h.where[seq&h.mask]
	if w < 0 || h.order[w].seq != seq {
		return nil, false
	}
	e := h.order[w]
	end := int(e.off) + int(e.n)
	return h.arena[e.off:end:end], true
}

// Stored returns how many packets Put has stored.
func (h *History) Stored() uint64 { return h.stored }

// TooLarge returns how many packets Put refused because they exceeded
// MaxPacketSize.
func (h *History) TooLarge() uint64 { return h.tooLarge }
