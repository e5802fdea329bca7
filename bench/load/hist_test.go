package load

import (
	"testing"
	"time"
)

// Every value lands in a bucket whose bounds hold it, and the buckets are
// in order without gaps.
func TestHistBuckets(t *testing.T) {
	prev := -1
	check := func(v int64) {
		i := histIndex(v)
		if i < 0 || i >= histBuckets {
			t.Fatalf("histIndex(%d) = %d, outside 0..%d", v, i, histBuckets-1)
		}
		if up := histUpper(i); up < v || (v < 1<<histMaxBits && float64(up-v) > float64(v)/histSub+1) {
			t.Fatalf("value %d in bucket %d whose upper bound is %d", v, i, up)
		}
		if i > 0 && histUpper(i-1) >= v && v < 1<<histMaxBits {
			t.Fatalf("value %d in bucket %d, but bucket %d already reaches %d", v, i, i-1, histUpper(i-1))
		}
		if i < prev {
			t.Fatalf("histIndex is not monotonic at %d", v)
		}
		prev = i
	}
	for v := int64(0); v < 5000; v++ {
		check(v)
	}
	for v := int64(5000); v < 1<<histMaxBits; v += v / 97 {
		check(v)
	}
	if got := histIndex(1 << 50); got != histBuckets-1 {
		t.Errorf("a huge value lands in bucket %d, want the last, %d", got, histBuckets-1)
	}
	if got := histIndex(-5); got != 0 {
		t.Errorf("a negative value lands in bucket %d, want 0", got)
	}
}

func TestQuantile(t *testing.T) {
	for _, tc := range []struct {
		name    string
		samples []time.Duration
		q       float64
		want    time.Duration // an upper bound within 1/32
	}{
		{"empty", nil, 0.99, 0},
		{"one", []time.Duration{500 * time.Microsecond}, 0.5, 500 * time.Microsecond},
		{"median of 1..100 ms", ms(1, 100), 0.5, 50 * time.Millisecond},
		{"p99 of 1..100 ms", ms(1, 100), 0.99, 99 * time.Millisecond},
		{"p100 of 1..100 ms", ms(1, 100), 1, 100 * time.Millisecond},
		{"small", []time.Duration{3, 5, 9}, 0.5, 5},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var h histogram
			for _, d := range tc.samples {
				h.record(d.Nanoseconds())
			}
			var l latencies
			l.add(&h)
			got := l.quantile(tc.q)
			if got < tc.want || float64(got-tc.want) > float64(tc.want)/histSub+1 {
				t.Errorf("quantile(%v) = %v, want %v (at most 1/32 above)", tc.q, got, tc.want)
			}
		})
	}
}

func ms(from, to int) []time.Duration {
	var out []time.Duration
	for i := from; i <= to; i++ {
		out = append(out, time.Duration(i)*time.Millisecond)
	}
	return out
}

func TestHistRecordAllocs(t *testing.T) {
	var h histogram
	if n := testing.AllocsPerRun(100, func() { h.record(123456) }); n != 0 {
		t.Errorf("record allocates %v times, want 0", n)
	}
}
