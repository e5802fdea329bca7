package api

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/netip"
	"os"
	"runtime/debug"
	"strconv"
	"time"

	"github.com/bytedance/sonic"
	"github.com/hayate-sfu/hayate/ctrl/audiostream"
	"github.com/hayate-sfu/hayate/ctrl/room"
	"github.com/hayate-sfu/hayate/ctrl/uastats"
	"github.com/prometheus/client_golang/prometheus"
)

// ErrConfig is returned by New for an unusable Config.
var ErrConfig = errors.New("api: bad config")

// DefaultMaxBodyBytes is the request body limit when Config.MaxBodyBytes is 0.
const DefaultMaxBodyBytes = 1 << 20

// CORS headers sent with every response when Config.CORSOrigin is set, as
// Sora sends them (spec/api.md §1).
const (
	corsAllowMethods = "POST, OPTIONS"
	corsAllowHeaders = "Origin, X-Requested-With, Content-Type, Accept, x-sora-target"
	corsMaxAge       = "1000"
)

// DisconnectReason is the WebSocket close reason (code 1000) of a
// connection the API disconnects.
const DisconnectReason = "DISCONNECTED-API"

// ProductName is GetLicense's product_name.
const ProductName = "Hayate"

// Config configures an API. The zero value of each optional field is
// documented.
type Config struct {
	// Rooms is the registry the operations act on; required.
	Rooms *room.Registry
	// Logger; nil means slog.Default().
	Logger *slog.Logger
	// Registerer receives hayate_api_requests_total; nil registers nothing.
	Registerer prometheus.Registerer
	// Version is GetStatsReport's version (the server version).
	Version string
	// CORSOrigin (sora.conf api_cors_origin), e.g. "http://127.0.0.1:5000":
	// when set, every response carries access-control-allow-origin with it
	// and the other CORS headers of Sora. Empty sends no CORS header.
	CORSOrigin string
	// LoopbackOnly (sora.conf api_loopback_address_only) refuses requests
	// from other than a loopback address with 403.
	LoopbackOnly bool
	// MaxBodyBytes limits a request body; a larger one is refused with 413.
	// 0 means DefaultMaxBodyBytes (1 MiB).
	MaxBodyBytes int64
	// License is what GetLicense reports.
	License License
	// CrashLogDir is where GenerateCrashLog writes its reports; empty means
	// os.TempDir().
	CrashLogDir string
	// RTPForwardingAllowList are the destinations StartForwardingRtp may
	// send plain RTP to besides loopback addresses (always allowed); nil
	// allows loopback only. (Media operations, media_ops.go.)
	RTPForwardingAllowList []netip.Prefix
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// Intercept, when set, sees every operation before this node runs it:
	// the cluster (ctrl/cluster) serves its own operations there, forwards
	// an operation addressed to a channel another node owns, and widens
	// ListChannels with local: false. handled=false lets the node run the
	// operation itself. Call with it; CallLocal without it (what a node
	// runs for an operation another node forwarded to it).
	Intercept func(target string, body []byte) (status int, response []byte, handled bool)
	// UAStats holds the clients' last RTC stats reports, which the
	// signaling code records (pong.stats, DataChannel stats) and the
	// user-agent stats operations read. nil answers those operations with
	// 501 NOT-IMPLEMENTED.
	UAStats *uastats.Store
	// AudioStreams runs audio streaming (StartAudioStreaming and the
	// operations around it) and supplies its counters to GetStatsReport.
	// nil answers those operations with 501 NOT-IMPLEMENTED and reports the
	// audio streaming counters as 0.
	AudioStreams *audiostream.Streams
	// ExtraCounters, when set, supplies GetStatsReport's counters that
	// other parts of the server keep, by their JSON key: the webhook
	// counters (total_auth_webhook_allowed, …), the TURN counters
	// (total_turn_udp_connections, total_turn_tcp_connections,
	// total_received_invalid_turn_tcp_packet), the SCTP counters
	// (total_received_sctp, …). A key GetStatsReport computes itself (see
	// computedReportKeys) is ignored; any other key is reported. The webhook
	// and TURN keys are 0 when absent; other absent keys are left out. It
	// is called once per GetStatsReport and must not block.
	ExtraCounters func() map[string]uint64
	// ClusterStatus, when set, gives GetStatsReport's cluster block
	// ({raft_state, raft_term, raft_commit_index}); ok=false (no cluster
	// joined yet) leaves the block out, as without clustering.
	ClusterStatus func() (status any, ok bool)
}

// License is GetLicense's answer. Hayate needs no license: these are the
// limits the operator configured, reported so that Sora tooling
// (sora_exporter, which marks a server up only when GetLicense answers)
// works.
type License struct {
	// ExpiredAt is "YYYY-MM"; empty means "9999-12" (never).
	ExpiredAt string
	// MaxConnections is the configured limit of concurrent connections; 0
	// means none and is reported as 0.
	MaxConnections int
	// SerialCode; empty means "HAYATE".
	SerialCode string
	// Type; empty means "OSS".
	Type string
}

// API serves the HTTP API. It is an http.Handler for api_port; Call runs
// one operation without HTTP. Both may be called from any goroutine.
type API struct {
	cfg      Config
	log      *slog.Logger
	requests *prometheus.CounterVec
}

// New makes an API.
func New(cfg Config) (*API, error) {
	if cfg.Rooms == nil {
		return nil, fmt.Errorf("%w: Rooms is nil", ErrConfig)
	}
	if cfg.MaxBodyBytes < 0 {
		return nil, fmt.Errorf("%w: MaxBodyBytes %d is negative", ErrConfig, cfg.MaxBodyBytes)
	}
	if cfg.MaxBodyBytes == 0 {
		cfg.MaxBodyBytes = DefaultMaxBodyBytes
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.CrashLogDir == "" {
		cfg.CrashLogDir = os.TempDir()
	}
	a := &API{cfg: cfg, log: cfg.Logger}
	a.requests = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "hayate_api_requests_total",
		Help: "HTTP API requests, by x-sora-target (\"unknown\" for none of this server's) and status code.",
	}, []string{"target", "code"})
	if cfg.Registerer != nil {
		if err := cfg.Registerer.Register(a.requests); err != nil {
			return nil, fmt.Errorf("%w: %w", ErrConfig, err)
		}
	}
	return a, nil
}

// ServeHTTP serves POST / with an x-sora-target header; see the package
// doc for every status.
func (a *API) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	if o := a.cfg.CORSOrigin; o != "" {
		h.Set("Access-Control-Allow-Origin", o)
		h.Set("Access-Control-Allow-Methods", corsAllowMethods)
		h.Set("Access-Control-Allow-Headers", corsAllowHeaders)
		h.Set("Access-Control-Max-Age", corsMaxAge)
	}
	target := r.Header.Get("X-Sora-Target")
	switch {
	case r.Method == http.MethodOptions:
		// A CORS preflight (or a client asking what is allowed).
		h.Set("Allow", corsAllowMethods)
		w.WriteHeader(http.StatusNoContent)
		return
	case a.cfg.LoopbackOnly && !isLoopback(r.RemoteAddr):
		a.writeError(w, target, &Error{Status: http.StatusForbidden, Type: TypeForbidden,
			Reason: Reason{Message: "the API answers loopback addresses only (api_loopback_address_only)"}})
		return
	case r.URL.Path != "/":
		a.writeError(w, target, &Error{Status: http.StatusNotFound, Type: TypeNotFound,
			Reason: Reason{Path: r.URL.Path, Message: "the API is served at POST /, not " + strconv.Quote(r.URL.Path)}})
		return
	case r.Method != http.MethodPost:
		h.Set("Allow", corsAllowMethods)
		a.writeError(w, target, &Error{Status: http.StatusMethodNotAllowed, Type: TypeMethodNotAllowed,
			Reason: Reason{Method: r.Method, Message: "the API accepts POST (and OPTIONS), not " + r.Method}})
		return
	case r.ContentLength > a.cfg.MaxBodyBytes:
		a.writeError(w, target, a.tooLarge())
		return
	}
	b, err := io.ReadAll(http.MaxBytesReader(w, r.Body, a.cfg.MaxBodyBytes))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			a.writeError(w, target, a.tooLarge())
			return
		}
		a.writeError(w, target, invalidJSON("reading the body: %v", err))
		return
	}
	status, resp := a.Call(target, b)
	h.Set("Content-Type", "application/json")
	h.Set("Content-Length", strconv.Itoa(len(resp)))
	w.WriteHeader(status)
	_, _ = w.Write(resp)
}

// isLoopback reports whether an http.Request.RemoteAddr is a loopback
// address.
func isLoopback(remote string) bool {
	ap, err := netip.ParseAddrPort(remote)
	return err == nil && ap.Addr().Unmap().IsLoopback()
}

func (a *API) tooLarge() *Error {
	return &Error{Status: http.StatusRequestEntityTooLarge, Type: TypeBodyTooLarge,
		Reason: Reason{Limit: a.cfg.MaxBodyBytes, Message: fmt.Sprintf("the body is larger than %d bytes", a.cfg.MaxBodyBytes)}}
}

func (a *API) writeError(w http.ResponseWriter, target string, e *Error) {
	resp := a.encodeError(e)
	a.count(target, e.Status)
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", strconv.Itoa(len(resp)))
	w.WriteHeader(e.Status)
	_, _ = w.Write(resp)
}

// Call runs the operation target with a request body and returns the HTTP
// status and the JSON response. It never panics (a panic in an operation is
// a 500 INTERNAL-ERROR) and the response is always a JSON value.
func (a *API) Call(target string, reqBody []byte) (status int, response []byte) {
	if a.cfg.Intercept != nil {
		if status, response, handled := a.cfg.Intercept(target, reqBody); handled {
			a.count(target, status)
			return status, response
		}
	}
	return a.CallLocal(target, reqBody)
}

// CallLocal is Call without Config.Intercept: the operation as this node
// alone runs it.
func (a *API) CallLocal(target string, reqBody []byte) (status int, response []byte) {
	v, e := a.call(target, reqBody)
	if e != nil {
		a.count(target, e.Status)
		if e.Status >= 500 && e.Type != TypeNotImplemented {
			a.log.Error("api: operation failed", "target", target, "err", e)
		} else {
			a.log.Debug("api: refused", "target", target, "status", e.Status, "error_type", e.Type, "message", e.Reason.Message)
		}
		return e.Status, a.encodeError(e)
	}
	b, err := sonic.ConfigStd.Marshal(v)
	if err != nil {
		e := internalError("encoding the response: %v", err)
		a.log.Error("api: encoding a response", "target", target, "err", err)
		a.count(target, e.Status)
		return e.Status, a.encodeError(e)
	}
	a.count(target, http.StatusOK)
	a.log.Debug("api: done", "target", target)
	return http.StatusOK, b
}

func (a *API) call(target string, reqBody []byte) (v any, e *Error) {
	op, ok := operations[target]
	if !ok {
		return nil, unknownTarget(target)
	}
	if op.missing != "" {
		return nil, notImplemented(target, op.missing)
	}
	b, e := parseBody(reqBody)
	if e != nil {
		return nil, e
	}
	defer func() {
		if r := recover(); r != nil {
			a.log.Error("api: panic", "target", target, "panic", r, "stack", string(debug.Stack()))
			v, e = nil, internalError("the server failed while running %s", target)
		}
	}()
	return op.run(a, b)
}

func (a *API) encodeError(e *Error) []byte {
	b, err := sonic.ConfigStd.Marshal(errorBody{ErrorReason: e.Reason, ErrorType: e.Type})
	if err != nil { // a struct of strings: cannot happen
		return []byte(`{"error_reason":{"message":"encoding the error failed"},"error_type":"INTERNAL-ERROR"}`)
	}
	return b
}

func (a *API) count(target string, status int) {
	label := target
	if _, ok := operations[target]; !ok {
		label = "unknown"
	}
	a.requests.WithLabelValues(label, strconv.Itoa(status)).Inc()
}
