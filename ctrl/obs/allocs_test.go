package obs

import (
	"bytes"
	"net"
	"net/http"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"
)

// readMallocs GETs /debug/allocs (with query, if any) and parses its line.
func readMallocs(t *testing.T, base, query string) uint64 {
	t.Helper()
	status, ct, body := get(t, base+"/debug/allocs"+query)
	if status != http.StatusOK || !strings.HasPrefix(ct, "text/plain") {
		t.Fatalf("GET /debug/allocs%s: status %d, Content-Type %q", query, status, ct)
	}
	rest, ok := strings.CutPrefix(body, "mallocs ")
	if !ok || !strings.HasSuffix(rest, "\n") || strings.Count(body, "\n") != 1 {
		t.Fatalf("GET /debug/allocs%s: body %q, want one line \"mallocs N\"", query, body)
	}
	n, err := strconv.ParseUint(strings.TrimSuffix(rest, "\n"), 10, 64)
	if err != nil {
		t.Fatalf("GET /debug/allocs%s: body %q: %v", query, body, err)
	}
	return n
}

type node struct{ next *node }

var sink []any

// The count grows by at least K after the process allocates K objects.
func TestAllocsEndpointCounts(t *testing.T) {
	a := startAdmin(t, nil)
	base := "http://" + a.Addr().String()
	const k = 2000
	for _, tc := range []struct {
		name, query string
		alloc       func(i int) any
		gc          bool // collect before the second read
	}{
		// runtime/metrics counts a large object (> 32 KiB) when it is
		// allocated; small ones only when their span leaves the P's cache,
		// so only large objects give an exact lower bound here.
		{"metrics, large objects", "", func(int) any { return make([]byte, 40<<10) }, false},
		// A GC flushes every P's counts too; tiny objects count only with
		// "/gc/heap/tiny/allocs:objects" (2000 of 4 bytes fill 500 blocks).
		{"metrics after GC, tiny objects", "", func(i int) any { b := new([4]byte); b[0] = byte(i); return b }, true},
		// ReadMemStats flushes every P's counts: small objects count too,
		// and tiny ones (noscan, < 16 B, packed into shared blocks).
		{"exact, small objects", "?exact=1", func(int) any { return &node{} }, false},
		{"exact, tiny objects", "?exact=true", func(i int) any { b := new([4]byte); b[0] = byte(i); return b }, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := readMallocs(t, base, tc.query)
			sink = make([]any, k) // one allocation more, not counted in k
			for i := range sink {
				sink[i] = tc.alloc(i)
			}
			if tc.gc {
				runtime.GC()
			}
			after := readMallocs(t, base, tc.query)
			sink = nil
			if after < before+k {
				t.Fatalf("mallocs %d → %d after %d allocations: grew by %d, want ≥ %d", before, after, k, after-before, k)
			}
			t.Logf("grew by %d for %d allocations (the rest: the HTTP requests)", after-before, k)
		})
	}
}

// fakeWriter is a ResponseWriter that reuses its header and body.
type fakeWriter struct {
	h    http.Header
	body []byte
}

func (w *fakeWriter) Header() http.Header         { return w.h }
func (w *fakeWriter) Write(b []byte) (int, error) { w.body = append(w.body, b...); return len(b), nil }
func (w *fakeWriter) WriteHeader(int)             {}

// The handler allocates nothing itself: what a read costs is net/http's.
func TestAllocsHandlerZeroAlloc(t *testing.T) {
	c := newAllocCounter()
	for _, target := range []string{"/debug/allocs", "/debug/allocs?exact=1"} {
		req, err := http.NewRequest(http.MethodGet, target, nil)
		if err != nil {
			t.Fatal(err)
		}
		w := &fakeWriter{h: http.Header{}, body: make([]byte, 0, 64)}
		serve := func() {
			w.body = w.body[:0]
			c.ServeHTTP(w, req)
		}
		serve()
		if n := testing.AllocsPerRun(50, serve); n != 0 {
			t.Errorf("GET %s: handler allocates %.1f objects, want 0", target, n)
		}
		if !bytes.HasPrefix(w.body, []byte("mallocs ")) || w.h.Get("Content-Type") != "text/plain; charset=utf-8" {
			t.Errorf("GET %s: body %q, Content-Type %q", target, w.body, w.h.Get("Content-Type"))
		}
	}
}

// TestAllocsRequestCost measures what one read costs the server: with a
// client that allocates nothing (a raw kept-alive connection and a reused
// buffer), consecutive exact counts differ by the server's allocations for
// one request. The figure is in allocCounter's doc.
func TestAllocsRequestCost(t *testing.T) {
	a := startAdmin(t, nil)
	conn, err := net.Dial("tcp", a.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(20 * time.Second))
	req := []byte("GET /debug/allocs?exact=1 HTTP/1.1\r\nHost: admin\r\n\r\n")
	buf := make([]byte, 4096)
	read := func() uint64 {
		if _, err := conn.Write(req); err != nil {
			t.Fatal(err)
		}
		n := 0
		for {
			k, err := conn.Read(buf[n:])
			if err != nil {
				t.Fatal(err)
			}
			n += k
			if i := bytes.Index(buf[:n], []byte("\r\n\r\nmallocs ")); i >= 0 {
				body := buf[i+len("\r\n\r\nmallocs ") : n]
				if j := bytes.IndexByte(body, '\n'); j >= 0 {
					var v uint64
					for _, c := range body[:j] {
						v = v*10 + uint64(c-'0')
					}
					return v
				}
			}
			if n == len(buf) {
				t.Fatalf("no count in %q", buf)
			}
		}
	}
	prev := read()
	lo, hi := ^uint64(0), uint64(0)
	for range 30 {
		n := read()
		d := n - prev
		lo, hi = min(lo, d), max(hi, d)
		prev = n
	}
	t.Logf("server-side allocations per request: min %d, max %d", lo, hi)
	if lo == 0 || hi > 64 {
		t.Fatalf("a request costs %d..%d allocations, want a small constant (1..64)", lo, hi)
	}
}

func TestQueryFlag(t *testing.T) {
	for _, tc := range []struct {
		query string
		want  bool
	}{
		{"", false},
		{"exact=1", true},
		{"exact=true", true},
		{"x=2&exact=1", true},
		{"exact=0", false},
		{"exact", false},
		{"inexact=1", false},
		{"exact=1x", false},
	} {
		if got := queryFlag(tc.query, "exact"); got != tc.want {
			t.Errorf("queryFlag(%q) = %v, want %v", tc.query, got, tc.want)
		}
	}
}
