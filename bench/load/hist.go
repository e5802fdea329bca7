package load

import (
	"math"
	"math/bits"
	"sync/atomic"
	"time"
)

// Latencies are kept in a log-linear histogram of nanoseconds: exact below
// 64 ns, then 32 buckets per power of two (at most 1/32 ≈ 3 % wide), up to
// 2^40 ns (18 minutes; longer values land in the last bucket). Recording is
// one atomic add, so the reader goroutines of a receiver share one.
const (
	histSub     = 32
	histMaxBits = 40
	histBuckets = (histMaxBits-6)*histSub + 2*histSub // the last index is histIndex(2^40-1)
)

// histogram counts latencies. record may be called from any goroutine.
type histogram struct {
	counts [histBuckets]atomic.Uint64
}

func histIndex(ns int64) int {
	if ns < 0 {
		ns = 0
	}
	v := uint64(ns)
	if v >= 1<<histMaxBits {
		v = 1<<histMaxBits - 1
	}
	if v < 2*histSub {
		return int(v)
	}
	shift := bits.Len64(v) - 6 // v>>shift is in [32, 64)
	return shift*histSub + int(v>>shift)
}

// histUpper is the largest value of bucket i.
func histUpper(i int) int64 {
	if i < 2*histSub {
		return int64(i)
	}
	shift := i/histSub - 1
	mant := i - shift*histSub
	return int64(mant+1)<<shift - 1
}

func (h *histogram) record(ns int64) { h.counts[histIndex(ns)].Add(1) }

// latencies is a plain copy of histograms, merged.
type latencies struct {
	counts [histBuckets]uint64
	n      uint64
}

func (l *latencies) add(h *histogram) {
	for i := range h.counts {
		c := h.counts[i].Load()
		l.counts[i] += c
		l.n += c
	}
}

// quantile returns the upper bound of the bucket holding the q-quantile
// (0 < q ≤ 1), or 0 without samples. It overstates by at most 1/32.
func (l *latencies) quantile(q float64) time.Duration {
	if l.n == 0 {
		return 0
	}
	rank := uint64(math.Ceil(q * float64(l.n)))
	rank = max(rank, 1)
	var seen uint64
	for i, c := range l.counts {
		seen += c
		if seen >= rank {
			return time.Duration(histUpper(i))
		}
	}
	return time.Duration(histUpper(histBuckets - 1))
}
