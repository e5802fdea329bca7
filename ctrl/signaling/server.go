package signaling

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/netip"
	"sync"
	"time"

	"github.com/coder/websocket"
	"github.com/hayate-sfu/hayate/ctrl/room"
	"github.com/hayate-sfu/hayate/ctrl/uastats"
	"github.com/hayate-sfu/hayate/ctrl/webhook"
	"github.com/hayate-sfu/hayate/dataplane"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
)

// ErrConfig is returned by New for an unusable Config.
var ErrConfig = errors.New("signaling: bad config")

// Defaults of Config's zero values.
const (
	DefaultPingInterval    = 5 * time.Second
	DefaultPongTimeout     = 30 * time.Second
	DefaultMaxMessageBytes = 262144
	// statsInterval: a ping asks for RTC stats (stats: true) at most this often.
	statsInterval = 5 * time.Second
	// updateInterval: connection.updated about each connection.
	updateInterval = time.Minute
	// sendQueueLen bounds the messages waiting for a slow client.
	sendQueueLen = 256
	// writeTimeout bounds one frame write.
	writeTimeout = 10 * time.Second
	// dcStatsInterval: req-stats on the stats DataChannel of a switched
	// connection (the replies are accepted and dropped for now).
	dcStatsInterval = 30 * time.Second
	// DefaultDataChannelMaxMessageSize is the default of
	// Config.DataChannelMaxMessageSize.
	DefaultDataChannelMaxMessageSize = room.DefaultDataChannelMaxMessageSize
	// DefaultDataChannelMaxBufferedBytes is the default of
	// Config.DataChannelMaxBufferedBytes.
	DefaultDataChannelMaxBufferedBytes = 1 << 20
)

// Config configures a Server. The zero value of each optional field is
// documented.
type Config struct {
	// Webhook receives the session and event webhooks' bodies (room.Config.Webhook).
	Webhook func(kind string, fields map[string]any)

	// AuthWebhook, when enabled, is asked about every connect before it is
	// admitted; its payouts override what the client asked for.
	AuthWebhook *webhook.Client

	// AuthSecret turns on the built-in token auth: every connect's
	// metadata.access_token must be an HS256 JWT signed with it whose
	// channel_id claim matches and whose exp has not passed (or the secret
	// itself when AuthAllowRawSecret). "" admits every connect.
	AuthSecret         string
	AuthAllowRawSecret bool

	// ICEServers gives a connection's offer.config.iceServers (the embedded
	// TURN server's URLs and that connection's credentials); nil: none.
	ICEServers func(connectionID string) []room.ICEServer
	// ICETransportPolicy goes with them: "all" or "relay".
	ICETransportPolicy string

	// TURNTransportType is room.Config.TURNTransportType (the embedded TURN
	// server's relay lookup); nil: "udp", or "tcp" for ICE-TCP.
	TURNTransportType func(remote netip.AddrPort) string

	// Place, when set (cluster), is asked about every connect's channel
	// before auth: a URL answers {"type":"redirect","location":URL} and
	// closes 1000 REDIRECT (the client connects there with redirect:
	// true); an error closes CloseClusterUnavailable with its text; "" and
	// nil let this node take the connect.
	Place func(channelID string) (redirectURL string, err error)

	// Plane is the media plane; required.
	Plane *dataplane.Plane
	// Logger; nil means slog.Default().
	Logger *slog.Logger
	// Registerer receives hayate_signaling_* and hayate_room_* metrics; nil
	// registers none.
	Registerer prometheus.Registerer
	// PingInterval between pings; 0 means 5 s. A ping carries stats: true
	// when the previous stats request is 5 s old or more.
	PingInterval time.Duration
	// PongTimeout closes a WebSocket that sent nothing (no pong, no other
	// message) for this long; 0 means 30 s.
	PongTimeout time.Duration
	// MaxMessageBytes is the largest client frame; 0 means 262144. A larger
	// frame closes the WebSocket with CloseMessageTooLarge.
	MaxMessageBytes int64
	// Notify enables notify messages (sora.conf signaling_notify).
	Notify bool
	// Version is sent as offer.version; empty omits it.
	Version string
	// UAStats, when set, records each client's stats reports (pong.stats,
	// stats on the DataChannel) for the user-agent stats API.
	UAStats *uastats.Store
	// DataChannelMaxMessageSize is the largest DataChannel message in
	// bytes; 0 means 262144. It is offered as a=max-message-size, and a
	// larger message from a client (or one whose zlib content is larger) is
	// dropped and counted in hayate_room_datachannel_drops_total{reason=
	// "too_large"}.
	DataChannelMaxMessageSize int
	// DataChannelMaxBufferedBytes bounds the unsent bytes of each
	// DataChannel the server opens; 0 means 1 MiB. Past it a messaging
	// message to that receiver is dropped (counted, reason "buffer_full")
	// and a signaling message closes the connection with 4409.
	DataChannelMaxBufferedBytes int

	// MaxConnections and MaxConnectionsPerChannel bound the connections
	// the server and one channel hold at once (room.Config); a connect
	// beyond them is closed with CloseTooManyConnections and counted. 0
	// means no limit.
	MaxConnections, MaxConnectionsPerChannel int
	// MaxConnectsPerSecondPerAddress bounds the WebSocket upgrades from one
	// client address (an IPv6 /64) with a token bucket of this rate and
	// burst; an upgrade beyond it gets HTTP 429 with Retry-After: 1 and is
	// counted. The address is the TCP peer's: behind a load balancer or
	// proxy every client shares the balancer's. 0 means no limit.
	MaxConnectsPerSecondPerAddress int

	// transports replaces Plane in tests (room's fake transports).
	transports room.TransportFactory
	// now and newID make room output deterministic in tests.
	now   func() time.Time
	newID func() string
	// writeTimeout bounds one frame write; tests shorten it (0: the
	// constant writeTimeout).
	writeTimeout time.Duration
}

// Server serves the /signaling WebSocket. See the package doc.
type Server struct {
	cfg     Config
	log     *slog.Logger
	metrics *metrics
	rooms   *room.Registry
	plane   *room.PlaneFactory // nil with test transports
	limiter *connectLimiter    // nil without MaxConnectsPerSecondPerAddress
	// clock schedules every joined connection's ping, update and
	// req-stats with one ticker, running while any is joined (clock.go).
	clock *clock

	mu       sync.Mutex
	shutting bool
	conns    map[*conn]struct{}
	wg       sync.WaitGroup
}

// New makes a Server.
func New(cfg Config) (*Server, error) {
	if cfg.Plane == nil && cfg.transports == nil {
		return nil, fmt.Errorf("%w: Plane is nil", ErrConfig)
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.PingInterval == 0 {
		cfg.PingInterval = DefaultPingInterval
	}
	if cfg.PongTimeout == 0 {
		cfg.PongTimeout = DefaultPongTimeout
	}
	if cfg.writeTimeout == 0 {
		cfg.writeTimeout = writeTimeout
	}
	if cfg.MaxMessageBytes == 0 {
		cfg.MaxMessageBytes = DefaultMaxMessageBytes
	}
	if cfg.PingInterval < 0 || cfg.PongTimeout < 0 || cfg.MaxMessageBytes < 0 {
		return nil, fmt.Errorf("%w: negative PingInterval, PongTimeout or MaxMessageBytes", ErrConfig)
	}
	if cfg.DataChannelMaxBufferedBytes < 0 {
		return nil, fmt.Errorf("%w: negative DataChannelMaxBufferedBytes", ErrConfig)
	}
	if cfg.MaxConnections < 0 || cfg.MaxConnectionsPerChannel < 0 || cfg.MaxConnectsPerSecondPerAddress < 0 {
		return nil, fmt.Errorf("%w: negative MaxConnections (%d), MaxConnectionsPerChannel (%d) or MaxConnectsPerSecondPerAddress (%d)",
			ErrConfig, cfg.MaxConnections, cfg.MaxConnectionsPerChannel, cfg.MaxConnectsPerSecondPerAddress)
	}
	m, err := newMetrics(cfg.Registerer)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrConfig, err)
	}
	s := &Server{cfg: cfg, log: cfg.Logger, metrics: m, conns: make(map[*conn]struct{}),
		limiter: newConnectLimiter(cfg.MaxConnectsPerSecondPerAddress, maxLimitedAddresses),
		clock:   newClock(cfg.PingInterval)}
	transports := cfg.transports
	if transports == nil {
		s.plane = room.PlaneTransports(cfg.Plane, cfg.Logger)
		transports = s.plane
	}
	s.rooms, err = room.NewRegistry(room.Config{
		Transports: transports,
		Logger:     cfg.Logger,
		Registerer: cfg.Registerer,
		Notify:     cfg.Notify,
		Version:    cfg.Version,
		Now:        cfg.now,
		NewID:      cfg.newID,

		DataChannelMaxMessageSize:   cfg.DataChannelMaxMessageSize,
		DataChannelMaxBufferedBytes: cfg.DataChannelMaxBufferedBytes,
		ICEServers:                  cfg.ICEServers,
		Webhook:                     cfg.Webhook,
		ICETransportPolicy:          cfg.ICETransportPolicy,
		TURNTransportType:           cfg.TURNTransportType,
		MaxConnections:              cfg.MaxConnections,
		MaxConnectionsPerChannel:    cfg.MaxConnectionsPerChannel,
	})
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrConfig, err)
	}
	return s, nil
}

// Rooms is the registry of channels and connections (for the HTTP API).
func (s *Server) Rooms() *room.Registry { return s.rooms }

// JSONImplementation names the JSON code compiled in: "sonic-native" (JIT)
// or "sonic-compat(encoding/json)" on platforms and Go versions sonic's JIT
// does not support.
func JSONImplementation() string { return jsonImpl }

// ServeHTTP upgrades to the signaling WebSocket and returns; the
// connection is served by goroutines of its own until it ends (Shutdown
// waits for them). Any Origin is accepted: Sora clients run in pages of other origins.
// While shutting down it answers 503; beyond
// MaxConnectsPerSecondPerAddress, 429.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if s.limiter != nil {
		ap, _ := netip.ParseAddrPort(r.RemoteAddr) // not an IP (a unix socket): not limited
		switch s.limiter.allow(ap.Addr(), s.now()) {
		case limitAddress:
			s.metrics.rateLimitedAddress.Inc()
			s.tooManyConnects(w, r, "too many connects from this address")
			return
		case limitTableFull:
			s.metrics.rateLimitedTableFull.Inc()
			s.tooManyConnects(w, r, "too many addresses connecting at once")
			return
		}
	}
	c := newConn(s)
	s.mu.Lock()
	if s.shutting {
		s.mu.Unlock()
		s.metrics.refused.Inc()
		http.Error(w, "shutting down", http.StatusServiceUnavailable)
		return
	}
	s.conns[c] = struct{}{}
	s.wg.Add(1)
	s.mu.Unlock()
	forget := func() {
		s.mu.Lock()
		delete(s.conns, c)
		s.mu.Unlock()
		s.wg.Done()
	}
	handed := false // to the serving goroutine, which forgets c at its end
	defer func() {
		if !handed {
			forget()
		}
	}()

	ws, err := websocket.Accept(smallBufs{w}, r, &websocket.AcceptOptions{InsecureSkipVerify: true})
	if err != nil {
		s.log.Debug("signaling: upgrade failed", "remote", r.RemoteAddr, "err", err)
		return
	}
	ws.SetReadLimit(-1) // the reader enforces MaxMessageBytes itself, to close with its own code
	s.metrics.accepted.Inc()
	s.metrics.open.Inc()
	// The connection is hijacked: net/http is done with it once this
	// handler returns. The owner loop runs in a goroutine of its own, so the
	// handler's goroutine (its stack, deep with net/http's frames) and the
	// request go now rather than at the end of the connection.
	remote := r.RemoteAddr
	handed = true
	go func() {
		defer forget()
		defer s.metrics.open.Dec()
		c.serve(ws, remote)
	}()
}

// tooManyConnects refuses an upgrade with 429.
func (s *Server) tooManyConnects(w http.ResponseWriter, r *http.Request, why string) {
	s.log.Debug("signaling: connect rate limited", "remote", r.RemoteAddr, "why", why)
	w.Header().Set("Retry-After", "1")
	http.Error(w, why+" (max_connects_per_second_per_address)", http.StatusTooManyRequests)
}

func (s *Server) now() time.Time {
	if s.cfg.now != nil {
		return s.cfg.now()
	}
	return time.Now()
}

// Counters returns the admission counters by name, for the HTTP API's
// GetStatsReport (api.Config.ExtraCounters). These names are Hayate's own
// (Sora has no such limits):
//
//	total_refused_max_connections                      connects closed with 4429 by MaxConnections
//	total_refused_max_connections_per_channel          … by MaxConnectionsPerChannel
//	total_refused_max_connects_per_second_per_address  upgrades answered 429
//	total_refused_mode                                 connects closed with 4503 by the API's ChangeMode
//	total_refused_auth                                 connects closed with 4490 (token auth or auth webhook)
//
// and Sora's total_connection_updated (connection.updated events, one per
// connection and minute). It may be called from any goroutine.
func (s *Server) Counters() map[string]uint64 {
	refused := s.rooms.Refused()
	return map[string]uint64{
		"total_refused_max_connections":                     refused[room.RefusedMaxConnections],
		"total_refused_max_connections_per_channel":         refused[room.RefusedMaxConnectionsPerChannel],
		"total_refused_max_connects_per_second_per_address": counterValue(s.metrics.rateLimitedAddress) + counterValue(s.metrics.rateLimitedTableFull),
		"total_refused_mode":                                refused[room.RefusedMode],
		"total_refused_auth":                                counterValue(s.metrics.authFailures),
		"total_connection_updated":                          s.rooms.ConnectionsUpdated(),
	}
}

func counterValue(c prometheus.Counter) uint64 {
	var m dto.Metric
	if err := c.Write(&m); err != nil {
		return 0
	}
	return uint64(m.GetCounter().GetValue())
}

// Shutdown stops accepting (new upgrades get 503), closes every WebSocket
// with 1000 "SHUTDOWN" (each connection leaves its channel; a client whose
// signaling switched to DataChannels gets {"type":"close","code":1000,
// "reason":"SHUTDOWN"} there first) and waits for the connections'
// goroutines, or for ctx.
func (s *Server) Shutdown(ctx context.Context) error {
	s.mu.Lock()
	s.shutting = true
	for c := range s.conns {
		c.Close(CloseNormal, "SHUTDOWN")
	}
	s.mu.Unlock()
	done := make(chan struct{})
	go func() {
		s.wg.Wait()
		s.clock.close() // stopped with the last connection; now for good
		s.rooms.Wait()  // transports closed after their DataChannels
		if s.plane != nil {
			s.plane.Wait()
		}
		close(done)
	}()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("signaling: shutdown: %w", ctx.Err())
	}
}
