package ringbuf

import (
	"bytes"
	"math/rand/v2"
	"testing"
	"time"
)

// forever is a retention no test reaches: the history keeps its last
// Slots() packets, growing its arena as far as needed.
const forever = time.Hour

func pktFor(seq uint16, n int) []byte {
	p := make([]byte, n)
	for i := range p {
		p[i] = byte(int(seq) + i)
	}
	return p
}

func TestHistoryPutGet(t *testing.T) {
	h := NewHistory(5, 100, forever) // rounds to 8 slots
	if h.Slots() != 8 {
		t.Fatalf("Slots = %d, want 8", h.Slots())
	}
	if _, ok := h.Get(0); ok {
		t.Fatal("Get on empty history returned ok")
	}
	src := pktFor(10, 50)
	h.Put(10, src, 0)
	src[0] ^= 0xff // Put must have copied
	got, ok := h.Get(10)
	if !ok || !bytes.Equal(got, pktFor(10, 50)) {
		t.Fatalf("Get(10) = %x,%v, want the stored copy", got, ok)
	}
	if _, ok := h.Get(11); ok {
		t.Fatal("Get of a never-stored seq returned ok")
	}
	if _, ok := h.Get(10 + 8); ok {
		t.Fatal("Get of a seq sharing the slot returned ok")
	}
}

func TestHistoryEvictionAndWrap(t *testing.T) {
	h := NewHistory(8, 64, forever)
	// Store 65530 .. 65535, 0 .. 9 (16 packets across the wrap).
	for i := 0; i < 16; i++ {
		seq := uint16(65530 + i)
		h.Put(seq, pktFor(seq, 20+i), 0)
	}
	for i := 0; i < 16; i++ {
		seq := uint16(65530 + i)
		got, ok := h.Get(seq)
		wantOK := i >= 8 // only the last 8 remain
		if ok != wantOK {
			t.Fatalf("Get(%d) ok = %v, want %v", seq, ok, wantOK)
		}
		if ok && !bytes.Equal(got, pktFor(seq, 20+i)) {
			t.Fatalf("Get(%d) returned wrong bytes", seq)
		}
	}
}

func TestHistoryOutOfOrderAndStale(t *testing.T) {
	h := NewHistory(8, 64, forever)
	h.Put(100, pktFor(100, 10), 0)
	h.Put(98, pktFor(98, 10), 0) // late but within the window: stored
	if _, ok := h.Get(98); !ok {
		t.Fatal("late packet within the window not stored")
	}
	h.Put(120, pktFor(120, 10), 0)
	// 112 shares slot 0 with 120 and 104; it is 8 behind the newest: ignored,
	// so 120 must survive.
	h.Put(112, pktFor(112, 10), 0)
	if _, ok := h.Get(112); ok {
		t.Fatal("packet older than the window was stored")
	}
	if got, ok := h.Get(120); !ok || !bytes.Equal(got, pktFor(120, 10)) {
		t.Fatal("newest packet overwritten by a stale one")
	}
	// A slot that still holds seq 4 from 65536 packets ago must not match:
	// the stream below walks all the way around while only ever writing slot 1.
	h2 := NewHistory(8, 64, forever)
	h2.Put(4, pktFor(4, 10), 0)
	for s := 0; s <= 65536; s += 8 * 1024 {
		h2.Put(uint16(s+1), pktFor(uint16(s+1), 10), 0) // slot 1 only
	}
	if _, ok := h2.Get(4); ok {
		t.Fatal("Get returned a packet 65536 sequence numbers old")
	}
}

func TestHistoryTooLarge(t *testing.T) {
	h := NewHistory(4, 16, forever)
	h.Put(1, pktFor(1, 16), 0)
	h.Put(2, pktFor(2, 17), 0)
	h.Put(3, pktFor(3, 10), 0)
	h.Put(3, pktFor(3, 17), 0) // replaces the stored 3 with nothing
	if _, ok := h.Get(1); !ok {
		t.Fatal("packet of exactly maxPacketSize not stored")
	}
	if _, ok := h.Get(2); ok {
		t.Fatal("oversized packet stored")
	}
	if _, ok := h.Get(3); ok {
		t.Fatal("an oversized Put left an older copy of the same seq visible")
	}
	if h.TooLarge() != 2 || h.Stored() != 2 {
		t.Fatalf("TooLarge=%d Stored=%d, want 2 and 2", h.TooLarge(), h.Stored())
	}
}

func TestHistoryGetIsBounded(t *testing.T) {
	h := NewHistory(2, 8, forever)
	h.Put(0, []byte{1, 2, 3}, 0)
	got, _ := h.Get(0)
	if cap(got) != 3 {
		t.Fatalf("cap(Get) = %d, want 3 (appending must not scribble on the next slot)", cap(got))
	}
}

// video is a stream of size-byte packets at pps packets per second: the
// sequence number and time of its i-th packet.
func video(i, pps int) (uint16, int64) {
	return uint16(i), int64(i) * int64(time.Second) / int64(pps)
}

// A steady stream keeps about its retention's worth of packets: every packet
// younger than the retention, and not much more.
func TestHistoryKeepsItsRetention(t *testing.T) {
	const pps, size = 150, 1200 // 180 kB/s
	h := NewHistory(1024, 1500, time.Second)
	if h.ArenaBytes() != historyInitialBytes {
		t.Fatalf("a new history's arena is %d bytes, want %d", h.ArenaBytes(), historyInitialBytes)
	}
	const total = 10 * pps
	for i := range total {
		seq, now := video(i, pps)
		h.Put(seq, pktFor(seq, size), now)
	}
	// One second is 180 kB: the arena doubled to 256 KiB and no further,
	// where a slot of 1500 bytes per packet would take 1.5 MB.
	if got := h.ArenaBytes(); got != 256<<10 {
		t.Errorf("arena %d bytes after 10 s at 180 kB/s with a 1 s retention, want 256 KiB", got)
	}
	_, last := video(total-1, pps)
	kept := 0
	for i := range total {
		seq, at := video(i, pps)
		got, ok := h.Get(seq)
		if ok {
			kept++
			if !bytes.Equal(got, pktFor(seq, size)) {
				t.Fatalf("Get(%d) returned other bytes", seq)
			}
		}
		if !ok && last-at < int64(time.Second) {
			t.Fatalf("packet %d, %v old, is gone: younger than the retention", seq, time.Duration(last-at))
		}
	}
	if kept > (256<<10)/size {
		t.Errorf("%d packets kept, more than the arena holds", kept)
	}
	if kept < pps {
		t.Errorf("%d packets kept, want at least a second's %d", kept, pps)
	}
}

// A burst (a keyframe) grows the arena rather than drop what the retention
// keeps; a history at its bound drops the oldest instead.
func TestHistoryGrowsForABurstUpToItsBound(t *testing.T) {
	h := NewHistory(1024, 1500, time.Second)
	i := 0
	for ; i < 150; i++ { // a second of 20 kB/s
		seq, now := video(i, 150)
		h.Put(seq, pktFor(seq, 130), now)
	}
	if h.ArenaBytes() != historyInitialBytes {
		t.Fatalf("arena %d bytes for 20 kB/s, want the initial %d", h.ArenaBytes(), historyInitialBytes)
	}
	_, now := video(i, 150)
	first := i
	for ; i < first+200; i++ { // 240 kB at once
		h.Put(uint16(i), pktFor(uint16(i), 1200), now)
	}
	for j := first; j < i; j++ {
		if got, ok := h.Get(uint16(j)); !ok || !bytes.Equal(got, pktFor(uint16(j), 1200)) {
			t.Fatalf("packet %d of the burst lost or changed (ok %v)", j, ok)
		}
	}
	if h.ArenaBytes() != 256<<10 {
		t.Errorf("arena %d bytes after a 240 kB burst, want 256 KiB", h.ArenaBytes())
	}

	// Bounded at 8 slots of 100 bytes, the arena stops at 800 bytes and the
	// history keeps what fits, the newest.
	b := NewHistory(8, 100, forever)
	for s := range 40 {
		b.Put(uint16(s), pktFor(uint16(s), 100), 0)
	}
	if b.ArenaBytes() != 800 {
		t.Errorf("bounded arena %d bytes, want 8 × 100", b.ArenaBytes())
	}
	for s := 32; s < 40; s++ {
		if _, ok := b.Get(uint16(s)); !ok {
			t.Errorf("packet %d of the last 8 lost at the bound", s)
		}
	}
}

// Against a model, with random sizes, reordering, duplicates and
// oversized packets: Get never returns other bytes than the last Put of
// that sequence number, and finds every packet that is within Slots(),
// younger than the retention, and not replaced.
func TestHistoryMatchesModel(t *testing.T) {
	type stored struct {
		b  []byte
		at int64
	}
	for _, tc := range []struct {
		seed          uint64
		slots, max    int
		retain, steps int64
	}{
		// The arena grows and wraps: the retention decides.
		{1, 1024, 1200, int64(100 * time.Millisecond), 12000},
		{2, 1024, 1200, int64(100 * time.Millisecond), 12000},
		// The arena starts at its bound (64 × 300 bytes) and Slots() decides.
		{3, 64, 300, int64(50 * time.Millisecond), 20000},
		{4, 64, 300, int64(50 * time.Millisecond), 20000},
	} {
		seed, slots, maxSize, retain := tc.seed, tc.slots, tc.max, tc.retain
		r := rand.New(rand.NewPCG(seed, 99))
		h := NewHistory(slots, maxSize, time.Duration(retain))
		model := map[uint16]stored{}
		grew := 0
		var newest uint16
		started := false
		var now int64
		next := uint16(r.IntN(65536))
		gap := int64(time.Millisecond)
		for step := range tc.steps {
			if step%1500 == 0 { // the stream changes its pace
				gap = int64(time.Duration(50+r.IntN(3000)) * time.Microsecond)
			}
			now += r.Int64N(2 * gap)
			seq := next
			switch k := r.IntN(20); {
			case k == 0:
				seq = next - uint16(1+r.IntN(slots+8)) // late, maybe too late
			case k == 1:
				seq = next - 1 // duplicate
			default:
				next++
			}
			n := 12 + r.IntN(maxSize-12+1)
			if r.IntN(50) == 0 {
				n = maxSize + 1 + r.IntN(10)
			}
			p := make([]byte, n)
			for i := range p {
				p[i] = byte(r.Uint32())
			}
			before := h.ArenaBytes()
			h.Put(seq, p, now)
			if h.ArenaBytes() != before {
				grew++
			}
			// The model: what Put promises.
			if !started || int16(seq-newest) > 0 {
				newest, started = seq, true
			}
			if int(newest-seq) < slots {
				for s := range model {
					if int(s)&(slots-1) == int(seq)&(slots-1) {
						delete(model, s)
					}
				}
				if n <= maxSize {
					model[seq] = stored{b: p, at: now}
				}
			}
			for s, m := range model {
				got, ok := h.Get(s)
				inWindow := int(newest-s) < slots
				if ok && !bytes.Equal(got, m.b) {
					t.Fatalf("seed %d step %d: Get(%d) returned other bytes", seed, step, s)
				}
				if !ok && inWindow && now-m.at < retain && h.ArenaBytes() < slots*maxSize {
					t.Fatalf("seed %d step %d: Get(%d) lost a packet %v old (arena %d)", seed, step, s, time.Duration(now-m.at), h.ArenaBytes())
				}
				if !inWindow && ok {
					t.Fatalf("seed %d step %d: Get(%d) found a packet outside the window", seed, step, s)
				}
			}
			if _, ok := h.Get(seq); ok != (n <= maxSize && int(newest-seq) < slots) {
				t.Fatalf("seed %d step %d: Get(%d) right after Put = %v", seed, step, seq, ok)
			}
		}
		if slots*maxSize > historyInitialBytes && (grew < 2 || h.ArenaBytes() == slots*maxSize) {
			t.Errorf("seed %d: the arena grew %d times to %d bytes: the model did not exercise growth below the bound", seed, grew, h.ArenaBytes())
		}
	}
}

// Once a steady stream's arena has grown, Put and Get allocate nothing.
func TestHistoryZeroAlloc(t *testing.T) {
	h := NewHistory(1024, 1500, 2*time.Second)
	p := pktFor(0, 1200)
	i := 0
	for ; i < 3*150; i++ { // three seconds at 150 pps
		seq, now := video(i, 150)
		h.Put(seq, p, now)
	}
	if a := testing.AllocsPerRun(1000, func() {
		seq, now := video(i, 150)
		h.Put(seq, p, now)
		h.Get(seq - 3)
		i++
	}); a != 0 {
		t.Fatalf("Put+Get allocates %v per run, want 0", a)
	}
}

func BenchmarkHistoryPut1200(b *testing.B) {
	h := NewHistory(1024, 1500, 2*time.Second)
	p := pktFor(0, 1200)
	b.SetBytes(int64(len(p)))
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		seq, now := video(i, 150)
		h.Put(seq, p, now)
		i++
	}
}

func BenchmarkHistoryGet(b *testing.B) {
	h := NewHistory(512, 1500, forever)
	p := pktFor(0, 1200)
	for s := 0; s < 512; s++ {
		h.Put(uint16(s), p, 0)
	}
	b.ReportAllocs()
	var seq uint16
	for b.Loop() {
		h.Get(seq & 511)
		seq++
	}
}
