package ringbuf

import (
	"bytes"
	"testing"
)

func pktFor(seq uint16, n int) []byte {
	p := make([]byte, n)
	for i := range p {
		p[i] = byte(int(seq) + i)
	}
	return p
}

func TestHistoryPutGet(t *testing.T) {
	h := NewHistory(5, 100) // rounds to 8 slots
	if h.Slots() != 8 {
		t.Fatalf("Slots = %d, want 8", h.Slots())
	}
	if _, ok := h.Get(0); ok {
		t.Fatal("Get on empty history returned ok")
	}
	src := pktFor(10, 50)
	h.Put(10, src)
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
	h := NewHistory(8, 64)
	// Store 65530 .. 65535, 0 .. 9 (16 packets across the wrap).
	for i := 0; i < 16; i++ {
		seq := uint16(65530 + i)
		h.Put(seq, pktFor(seq, 20+i))
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
	h := NewHistory(8, 64)
	h.Put(100, pktFor(100, 10))
	h.Put(98, pktFor(98, 10)) // late but within the window: stored
	if _, ok := h.Get(98); !ok {
		t.Fatal("late packet within the window not stored")
	}
	h.Put(120, pktFor(120, 10))
	// 112 shares slot 0 with 120 and 104; it is 8 behind the newest: ignored,
	// so 120 must survive.
	h.Put(112, pktFor(112, 10))
	if _, ok := h.Get(112); ok {
		t.Fatal("packet older than the window was stored")
	}
	if got, ok := h.Get(120); !ok || !bytes.Equal(got, pktFor(120, 10)) {
		t.Fatal("newest packet overwritten by a stale one")
	}
	// A slot that still holds seq 4 from 65536 packets ago must not match:
	// the stream below walks all the way around while only ever writing slot 1.
	h2 := NewHistory(8, 64)
	h2.Put(4, pktFor(4, 10))
	for s := 0; s <= 65536; s += 8 * 1024 {
		h2.Put(uint16(s+1), pktFor(uint16(s+1), 10)) // slot 1 only
	}
	if _, ok := h2.Get(4); ok {
		t.Fatal("Get returned a packet 65536 sequence numbers old")
	}
}

func TestHistoryTooLarge(t *testing.T) {
	h := NewHistory(4, 16)
	h.Put(1, pktFor(1, 16))
	h.Put(2, pktFor(2, 17))
	h.Put(3, pktFor(3, 10))
	h.Put(3, pktFor(3, 17)) // replaces the stored 3 with nothing
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
	h := NewHistory(2, 8)
	h.Put(0, []byte{1, 2, 3})
	got, _ := h.Get(0)
	if cap(got) != 3 {
		t.Fatalf("cap(Get) = %d, want 3 (appending must not scribble on the next slot)", cap(got))
	}
}

func TestHistoryZeroAlloc(t *testing.T) {
	h := NewHistory(512, 1500)
	p := pktFor(0, 1200)
	var seq uint16
	if a := testing.AllocsPerRun(1000, func() {
		h.Put(seq, p)
		h.Get(seq - 3)
		seq++
	}); a != 0 {
		t.Fatalf("Put+Get allocates %v per run, want 0", a)
	}
}

func BenchmarkHistoryPut1200(b *testing.B) {
	h := NewHistory(512, 1500)
	p := pktFor(0, 1200)
	b.SetBytes(int64(len(p)))
	b.ReportAllocs()
	var seq uint16
	for b.Loop() {
		h.Put(seq, p)
		seq++
	}
}

func BenchmarkHistoryGet(b *testing.B) {
	h := NewHistory(512, 1500)
	p := pktFor(0, 1200)
	for s := 0; s < 512; s++ {
		h.Put(uint16(s), p)
	}
	b.ReportAllocs()
	var seq uint16
	for b.Loop() {
		h.Get(seq & 511)
		seq++
	}
}
