package obs

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"net/netip"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Admin is the admin HTTP listener:
//
//	/healthz       200 "ok" while the process serves
//	/metrics       Prometheus text exposition (Hayate's registry, Go and process collectors)
//	/debug/pprof/  net/http/pprof
//	/debug/allocs  "mallocs N": heap objects allocated so far (?exact=1: stop the world, exact)
//
// It owns its listener and the goroutine running Serve.
type Admin struct {
	ln   net.Listener
	srv  *http.Server
	log  *slog.Logger
	once sync.Once
}

// NewAdmin binds addr ("host:port"; port 0 picks a free port) at once, so a
// busy port is reported before anything else starts. reg holds Hayate's
// metrics; nil serves only the Go and process collectors. log nil means
// slog.Default(). Call Serve to answer requests.
func NewAdmin(addr string, reg *prometheus.Registry, log *slog.Logger) (*Admin, error) {
	if log == nil {
		log = slog.Default()
	}
	runtime := prometheus.NewRegistry()
	runtime.MustRegister(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
	)
	gatherers := prometheus.Gatherers{runtime}
	if reg != nil {
		gatherers = append(gatherers, reg)
	}

	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		io.WriteString(w, "ok")
	})
	mux.Handle("GET /metrics", promhttp.HandlerFor(gatherers, promhttp.HandlerOpts{
		ErrorLog:      slog.NewLogLogger(log.Handler(), slog.LevelError),
		ErrorHandling: promhttp.ContinueOnError,
	}))
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	mux.Handle("GET /debug/allocs", newAllocCounter())

	network := "tcp"
	if ap, err := netip.ParseAddrPort(addr); err == nil && ap.Addr().Is4() {
		network = "tcp4" // 0.0.0.0 means IPv4 only, as it reads
	}
	ln, err := net.Listen(network, addr)
	if err != nil {
		return nil, fmt.Errorf("obs: admin listener: %w", err)
	}
	return &Admin{
		ln:  ln,
		log: log,
		srv: &http.Server{
			Handler:           mux,
			ReadHeaderTimeout: 10 * time.Second,
			ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
		},
	}, nil
}

// Addr is the bound address (with the real port when 0 was asked).
func (a *Admin) Addr() net.Addr { return a.ln.Addr() }

// Serve answers requests until Close; it returns nil after Close and the
// listener's error otherwise. Call it once.
func (a *Admin) Serve() error {
	err := a.srv.Serve(a.ln)
	if errors.Is(err, http.ErrServerClosed) {
		return nil
	}
	return fmt.Errorf("obs: admin listener: %w", err)
}

// Close closes the listener and every open connection at once, including a
// CPU profile or trace in progress. Safe to call more than once and before
// Serve.
func (a *Admin) Close() error {
	var err error
	a.once.Do(func() {
		err = a.srv.Close()
		// Serve closes the listener; without Serve it is still ours.
		if cerr := a.ln.Close(); cerr != nil && !errors.Is(cerr, net.ErrClosed) && err == nil {
			err = cerr
		}
	})
	return err
}
