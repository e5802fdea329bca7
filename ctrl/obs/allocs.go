package obs

import (
	"net/http"
	"runtime"
	"runtime/metrics"
	"strconv"
	"strings"
	"sync"
)

// The runtime/metrics counters whose sum is the process's heap allocation
// count, the runtime's MemStats.Mallocs: "/gc/heap/allocs:objects" counts
// tiny blocks but not the tiny objects packed into them, which
// "/gc/heap/tiny/allocs:objects" counts (runtime/metrics doc).
const (
	metricAllocs     = "/gc/heap/allocs:objects"
	metricTinyAllocs = "/gc/heap/tiny/allocs:objects"
)

var textPlain = []string{"text/plain; charset=utf-8"} // shared, never modified

// allocCounter serves GET /debug/allocs: one line "mallocs N\n", N the count
// of heap objects the process has allocated so far. A load generator reads it
// before and after a window and divides the growth by the packets forwarded;
// unlike go_memstats_mallocs_total on /metrics, whose scrape allocates
// thousands of objects (a different number each time), the request itself
// costs a small constant:
//
//   - the handler allocates nothing (TestAllocsHandlerZeroAlloc);
//   - one request over a kept-alive connection costs the server 16 to 18
//     allocations (net/http's per-request state; Go 1.26, measured by
//     TestAllocsRequestCost, which logs it): subtract about 17 per read.
//
// By default N comes from runtime/metrics, which does not stop the world but
// lags: small objects allocated from the span a P has cached for their size
// class are counted when the P takes its next span of that class or at a GC
// (large ones at once), so N can be short by up to a span's worth of objects
// per size class in use, per P: hundreds, against the hundreds of thousands
// of a load window.
// ?exact=1 reads runtime.ReadMemStats instead, which stops the world (tens of
// µs) to flush every P's counts: exact to the object.
//
// Requests are serialised on mu: the samples, MemStats and output buffer
// are preallocated and reused.
type allocCounter struct {
	mu      sync.Mutex
	samples [2]metrics.Sample
	mem     runtime.MemStats
	out     []byte
}

func newAllocCounter() *allocCounter {
	c := &allocCounter{out: make([]byte, 0, 64)}
	c.samples[0].Name = metricAllocs
	c.samples[1].Name = metricTinyAllocs
	return c
}

// mallocsLocked returns the heap allocation count. c.mu must be held.
func (c *allocCounter) mallocsLocked(exact bool) uint64 {
	if exact {
		runtime.ReadMemStats(&c.mem)
		return c.mem.Mallocs
	}
	metrics.Read(c.samples[:])
	var n uint64
	for i := range c.samples {
		if c.samples[i].Value.Kind() == metrics.KindUint64 {
			n += c.samples[i].Value.Uint64()
		}
	}
	return n
}

func (c *allocCounter) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	exact := queryFlag(r.URL.RawQuery, "exact")
	c.mu.Lock()
	defer c.mu.Unlock()
	n := c.mallocsLocked(exact)
	c.out = append(c.out[:0], "mallocs "...)
	c.out = strconv.AppendUint(c.out, n, 10)
	c.out = append(c.out, '\n')
	w.Header()["Content-Type"] = textPlain // Header().Set would allocate the []string
	_, _ = w.Write(c.out)
}

// queryFlag reports whether the raw query has name set to 1 or true, without
// the map url.ParseQuery allocates.
func queryFlag(rawQuery, name string) bool {
	for rawQuery != "" {
		var kv string
		kv, rawQuery, _ = strings.Cut(rawQuery, "&")
		k, v, _ := strings.Cut(kv, "=")
		if k == name {
			return v == "1" || v == "true"
		}
	}
	return false
}
