package ringbuf

import (
	"runtime"
	"sync"
	"testing"
)

func TestMPSCFIFOAndFull(t *testing.T) {
	r := NewMPSC[int](4)
	if _, ok := r.Pop(); ok {
		t.Fatal("Pop on empty ring returned ok")
	}
	for lap := 0; lap < 5; lap++ {
		for i := 0; i < 4; i++ {
			if !r.Push(lap*10 + i) {
				t.Fatalf("lap %d: Push %d failed on a ring with room", lap, i)
			}
		}
		if r.Push(99) {
			t.Fatalf("lap %d: Push succeeded on a full ring", lap)
		}
		if r.Len() != 4 {
			t.Fatalf("lap %d: Len = %d, want 4", lap, r.Len())
		}
		for i := 0; i < 4; i++ {
			v, ok := r.Pop()
			if !ok || v != lap*10+i {
				t.Fatalf("lap %d: Pop = %d,%v, want %d,true", lap, v, ok, lap*10+i)
			}
		}
		if _, ok := r.Pop(); ok {
			t.Fatalf("lap %d: Pop on drained ring returned ok", lap)
		}
	}
}

func TestMPSCInterleaved(t *testing.T) {
	// Alternate single pushes and pops so the positions walk around the ring
	// many times with the ring never full.
	r := NewMPSC[int](2)
	for i := 0; i < 1000; i++ {
		if !r.Push(i) {
			t.Fatalf("Push %d failed", i)
		}
		if v, ok := r.Pop(); !ok || v != i {
			t.Fatalf("Pop = %d,%v, want %d", v, ok, i)
		}
	}
}

// TestMPSCConcurrent has several producers push disjoint value ranges while
// one consumer pops: every value must arrive exactly once, and each
// producer's values in the order it pushed them. Run with -race.
func TestMPSCConcurrent(t *testing.T) {
	const producers = 4
	const perProducer = 50_000
	r := NewMPSC[uint64](128)
	var wg sync.WaitGroup
	for p := 0; p < producers; p++ {
		wg.Add(1)
		go func(p uint64) {
			defer wg.Done()
			for i := uint64(0); i < perProducer; {
				if r.Push(p<<32 | i) {
					i++
				} else {
					runtime.Gosched()
				}
			}
		}(uint64(p))
	}
	var next [producers]uint64
	for got := 0; got < producers*perProducer; {
		v, ok := r.Pop()
		if !ok {
			runtime.Gosched()
			continue
		}
		p, i := v>>32, v&0xffffffff
		if p >= producers {
			t.Fatalf("value %x from unknown producer", v)
		}
		if i != next[p] {
			t.Fatalf("producer %d: got %d, want %d", p, i, next[p])
		}
		next[p]++
		got++
	}
	wg.Wait()
	if _, ok := r.Pop(); ok {
		t.Fatal("extra value after all were consumed")
	}
}

func TestMPSCZeroAlloc(t *testing.T) {
	r := NewMPSC[*int](16)
	x := 7
	if a := testing.AllocsPerRun(1000, func() {
		r.Push(&x)
		r.Pop()
	}); a != 0 {
		t.Fatalf("Push+Pop allocates %v per run, want 0", a)
	}
}

func BenchmarkMPSCPushPop(b *testing.B) {
	r := NewMPSC[*int](1024)
	x := 1
	b.ReportAllocs()
	for b.Loop() {
		r.Push(&x)
		r.Pop()
	}
}

// BenchmarkMPSCContended has GOMAXPROCS producers push while one consumer
// drains; it reports the time per value.
func BenchmarkMPSCContended(b *testing.B) {
	r := NewMPSC[uint64](1024)
	done := make(chan struct{})
	n := b.N
	go func() {
		defer close(done)
		for got := 0; got < n; {
			if _, ok := r.Pop(); ok {
				got++
			} else {
				runtime.Gosched()
			}
		}
	}()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			for !r.Push(1) {
				runtime.Gosched()
			}
		}
	})
	<-done
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N), "ns/value")
}
