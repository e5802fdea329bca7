package ringbuf

import (
	"runtime"
	"sync"
	"testing"
)

func TestRoundCapacity(t *testing.T) {
	for _, tc := range []struct{ in, want int }{
		{-5, 1}, {0, 1}, {1, 1}, {2, 2}, {3, 4}, {4, 4}, {5, 8}, {1000, 1024}, {1024, 1024}, {1025, 2048},
	} {
		if got := NewSPSC[int](tc.in).Cap(); got != tc.want {
			t.Errorf("NewSPSC(%d).Cap() = %d, want %d", tc.in, got, tc.want)
		}
	}
	if got := NewMPSC[int](1).Cap(); got != 2 {
		t.Errorf("NewMPSC(1).Cap() = %d, want 2", got)
	}
}

func TestSPSCFIFOAndFull(t *testing.T) {
	r := NewSPSC[int](3) // rounds to 4
	if _, ok := r.Pop(); ok {
		t.Fatal("Pop on empty ring returned ok")
	}
	for lap := 0; lap < 5; lap++ { // several laps cross the index wrap
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
		if r.Len() != 0 {
			t.Fatalf("lap %d: Len = %d after draining", lap, r.Len())
		}
	}
}

func TestSPSCClearsPoppedSlot(t *testing.T) {
	r := NewSPSC[*int](2)
	x := 1
	r.Push(&x)
	r.Pop()
	for i, p := range r.buf {
		if p != nil {
			t.Fatalf("slot %d still references a popped value", i)
		}
	}
}

// TestSPSCConcurrent runs a producer and a consumer on separate goroutines and
// checks that every value arrives exactly once and in order. Run with -race.
func TestSPSCConcurrent(t *testing.T) {
	const n = 200_000
	r := NewSPSC[uint64](64)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := uint64(1); i <= n; {
			if r.Push(i) {
				i++
			} else {
				runtime.Gosched()
			}
		}
	}()
	var next uint64 = 1
	for next <= n {
		v, ok := r.Pop()
		if !ok {
			runtime.Gosched()
			continue
		}
		if v != next {
			t.Fatalf("got %d, want %d", v, next)
		}
		next++
	}
	wg.Wait()
	if r.Len() != 0 {
		t.Fatalf("Len = %d after all values consumed", r.Len())
	}
}

func TestSPSCZeroAlloc(t *testing.T) {
	r := NewSPSC[*int](16)
	x := 7
	if a := testing.AllocsPerRun(1000, func() {
		r.Push(&x)
		r.Pop()
	}); a != 0 {
		t.Fatalf("Push+Pop allocates %v per run, want 0", a)
	}
}

func BenchmarkSPSCPushPop(b *testing.B) {
	r := NewSPSC[*int](1024)
	x := 1
	b.ReportAllocs()
	for b.Loop() {
		r.Push(&x)
		r.Pop()
	}
}

// BenchmarkSPSCCrossGoroutine measures the throughput of one producer
// goroutine feeding one consumer goroutine.
func BenchmarkSPSCCrossGoroutine(b *testing.B) {
	r := NewSPSC[uint64](1024)
	done := make(chan struct{})
	n := uint64(b.N)
	go func() {
		defer close(done)
		for got := uint64(0); got < n; {
			if _, ok := r.Pop(); ok {
				got++
			} else {
				runtime.Gosched()
			}
		}
	}()
	b.ResetTimer()
	for i := uint64(0); i < n; {
		if r.Push(i) {
			i++
		} else {
			runtime.Gosched()
		}
	}
	<-done
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N), "ns/value")
}
