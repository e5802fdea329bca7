// Package obs is Hayate's observability: structured logs (log/slog) and the
// admin listener that serves health, Prometheus metrics and pprof.
//
// # Model
//
// Every package that has something to count registers its collectors (names
// prefixed "hayate_") on the one *prometheus.Registry that ctrl/server
// creates. The Admin serves that registry together with the Go runtime and
// process collectors, which it keeps in a registry of its own so that the
// caller's registry holds only Hayate's metrics.
//
// GET /debug/allocs answers "mallocs N", the heap objects the process has
// allocated so far, for a load generator to compute allocations per packet
// over a window: the request itself allocates a small constant number of
// objects, where a /metrics scrape allocates thousands, never the same
// number (allocs.go).
//
// The admin listener is meant for operators on a private address
// (admin_address, 127.0.0.1 by default): /debug/pprof/ exposes profiles and
// the command line. Its handlers are registered on the Admin's own mux; the
// blank import of net/http/pprof also registers them on
// http.DefaultServeMux, which Hayate never serves.
//
// # Concurrency
//
// NewLogger's logger is safe for concurrent use (slog handlers serialise
// writes to w). Admin's methods may be called from any goroutine; Serve runs
// until Close.
package obs
