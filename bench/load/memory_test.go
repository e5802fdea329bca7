package load

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/pprof"
	"runtime"
	"sync"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// idlePool holds buffers between uses, as a server's pools do.
var idlePool sync.Pool

// memory reads what a server keeps for its clients: not the buffers its
// pools hold between uses, nor the compressors of earlier gzipped /metrics
// scrapes, but everything it keeps referenced.
func TestMemoryLeavesOutPoolsAndScrapes(t *testing.T) {
	// The admin endpoints the load tool reads, served as Hayate and the
	// baseline serve them, from this process.
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector())
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	srv := httptest.NewServer(mux)
	defer srv.Close()
	c := &child{spec: serverSpec{kind: kindHayate}, admin: srv.URL, http: srv.Client()}
	ctx := context.Background()

	read := func() float64 {
		t.Helper()
		inUse, live, err := c.memory(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if live <= 0 || inUse < live {
			t.Fatalf("memory = %v in spans, %v live; want 0 < live <= spans", inUse, live)
		}
		return live
	}
	scrapeGzipped := func() {
		t.Helper()
		resp, err := http.Get(srv.URL + "/metrics") // the default client asks for gzip
		if err != nil {
			t.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if !resp.Uncompressed {
			t.Fatal("the scrape was not gzipped: the check below would prove nothing")
		}
	}

	const mb = 1 << 20
	base := read()

	// 16 MB that the pool holds and three gzipped scrapes of /metrics, as
	// an operator's Prometheus does meanwhile.
	for range 16 {
		idlePool.Put(make([]byte, mb))
	}
	for range 3 {
		scrapeGzipped()
	}
	if d := read() - base; d > 2*mb {
		t.Errorf("pooled buffers and scrapes read as %.1f MB more", d/mb)
	}

	// 16 MB kept referenced is read (so the check above can fail).
	kept := make([][]byte, 16)
	for i := range kept {
		kept[i] = make([]byte, mb)
	}
	if d := read() - base; d < 12*mb {
		t.Errorf("16 MB kept read as %.1f MB more, want at least 12", d/mb)
	}
	runtime.KeepAlive(kept)
}
