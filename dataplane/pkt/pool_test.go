package pkt

import (
	"sync"
	"testing"
)

func TestGetFresh(t *testing.T) {
	p := NewPool(2)
	b := p.Get()
	if len(b.B) != 0 || cap(b.B) != BufSize {
		t.Fatalf("Get: len=%d cap=%d, want 0 and %d", len(b.B), cap(b.B), BufSize)
	}
	if b.Refs() != 1 {
		t.Fatalf("Get: refs=%d, want 1", b.Refs())
	}
	b.B = append(b.B, 1, 2, 3)
	b.Release()
	c := p.Get()
	if c != b {
		t.Fatal("Get did not reuse the most recently released buffer")
	}
	if len(c.B) != 0 || c.Refs() != 1 {
		t.Fatalf("reused buffer: len=%d refs=%d, want 0 and 1", len(c.B), c.Refs())
	}
}

func TestBuffersDoNotOverlap(t *testing.T) {
	p := NewPool(3)
	a, b := p.Get(), p.Get()
	a.B = a.B[:BufSize]
	b.B = b.B[:BufSize]
	for i := range a.B {
		a.B[i] = 0xaa
	}
	for i := range b.B {
		b.B[i] = 0xbb
	}
	for i := range a.B {
		if a.B[i] != 0xaa {
			t.Fatalf("writing buffer b changed byte %d of buffer a", i)
		}
	}
	// Appending past BufSize must not spill into a neighbour.
	a.B = append(a.B, 0xcc)
	for i := range b.B {
		if b.B[i] != 0xbb {
			t.Fatalf("append past BufSize on a changed byte %d of b", i)
		}
	}
}

func TestRefcount(t *testing.T) {
	p := NewPool(1)
	b := p.Get()
	b.Retain()
	b.Retain()
	b.Release()
	b.Release()
	if b.Refs() != 1 {
		t.Fatalf("refs=%d, want 1", b.Refs())
	}
	b.Release()
	if got := p.Get(); got != b {
		t.Fatal("buffer did not return to the pool on its last release")
	}
}

func TestEmptyPoolAllocatesAndCounts(t *testing.T) {
	p := NewPool(1)
	a := p.Get()
	b := p.Get()
	if a == b {
		t.Fatal("Get returned a buffer still in use")
	}
	if p.Allocated() != 1 {
		t.Fatalf("Allocated=%d, want 1", p.Allocated())
	}
	if cap(b.B) != BufSize {
		t.Fatalf("allocated buffer cap=%d, want %d", cap(b.B), BufSize)
	}
	a.Release()
	b.Release() // the allocated one belongs to the pool too
	x, y := p.Get(), p.Get()
	if (x != a && x != b) || (y != a && y != b) || p.Allocated() != 1 {
		t.Fatalf("released buffers not reused (Allocated=%d)", p.Allocated())
	}
}

func TestReturnRingFullDrops(t *testing.T) {
	p := NewPool(1) // return ring holds 2
	bufs := []*Buf{p.Get(), p.Get(), p.Get()}
	for _, b := range bufs {
		b.Release()
	}
	if p.Dropped() != 1 {
		t.Fatalf("Dropped=%d, want 1", p.Dropped())
	}
}

func expectPanic(t *testing.T, want string, f func()) {
	t.Helper()
	defer func() {
		t.Helper()
		r := recover()
		if r != want {
			t.Fatalf("panic = %v, want %q", r, want)
		}
	}()
	f()
}

func TestMisusePanics(t *testing.T) {
	p := NewPool(2)
	b := p.Get()
	b.Release()
	expectPanic(t, "pkt: double release", b.Release)

	c := p.Get()
	c.Release()
	expectPanic(t, "pkt: retain of released buffer", c.Retain)
}

// TestReleaseFromOtherGoroutines fans buffers out to several goroutines that
// each release their reference, as loops do with a shared packet. Run with
// -race: the owner's next Get must see every buffer whole.
func TestReleaseFromOtherGoroutines(t *testing.T) {
	const workers = 3
	const rounds = 2000
	p := NewPool(64)
	chans := make([]chan *Buf, workers)
	var wg sync.WaitGroup
	for w := range chans {
		chans[w] = make(chan *Buf, 16)
		wg.Add(1)
		go func(c chan *Buf) {
			defer wg.Done()
			for b := range c {
				if len(b.B) != 4 || b.B[0] != b.B[3] {
					panic("buffer changed while shared")
				}
				b.Release()
			}
		}(chans[w])
	}
	for i := 0; i < rounds; i++ {
		b := p.Get()
		b.B = append(b.B, byte(i), 0, 0, byte(i))
		for range workers - 1 {
			b.Retain()
		}
		for _, c := range chans {
			c <- b
		}
	}
	for _, c := range chans {
		close(c)
	}
	wg.Wait()
	if p.Dropped() != 0 {
		t.Fatalf("Dropped=%d, want 0", p.Dropped())
	}
}

func TestGetReleaseZeroAlloc(t *testing.T) {
	p := NewPool(8)
	if a := testing.AllocsPerRun(1000, func() {
		b := p.Get()
		b.B = append(b.B, 1, 2, 3)
		b.Retain()
		b.Release()
		b.Release()
	}); a != 0 {
		t.Fatalf("Get/Retain/Release allocates %v per run, want 0", a)
	}
}

func BenchmarkGetRelease(b *testing.B) {
	p := NewPool(256)
	b.ReportAllocs()
	for b.Loop() {
		x := p.Get()
		x.Release()
	}
}

func BenchmarkGetRetainReleaseFanout4(b *testing.B) {
	p := NewPool(256)
	b.ReportAllocs()
	for b.Loop() {
		x := p.Get()
		x.Retain()
		x.Retain()
		x.Retain()
		x.Release()
		x.Release()
		x.Release()
		x.Release()
	}
}
