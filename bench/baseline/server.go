package baseline

import (
	"context"
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

	"github.com/coder/websocket"
	"github.com/pion/ice/v4"
	"github.com/pion/interceptor"
	"github.com/pion/logging"
	"github.com/pion/webrtc/v4"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Errors returned by New.
var (
	// ErrBadConfig is returned by New when a Config field is out of range.
	ErrBadConfig = errors.New("baseline: bad config")
	// ErrClosed is returned when a connection arrives after Close.
	ErrClosed = errors.New("baseline: server closed")
)

// Config configures a Server. The zero value listens on 127.0.0.1 with a
// free port for each of signaling, media and admin.
type Config struct {
	// ListenAddress is the IP every listener binds and the address of the
	// media candidate; the zero value means 127.0.0.1.
	ListenAddress netip.Addr
	// SignalingPort is the TCP port of ws://…/signaling; 0 picks a free port.
	SignalingPort int
	// MediaPort is the UDP port every PeerConnection shares; 0 picks a free port.
	MediaPort int
	// AdminPort is the TCP port of /healthz, /metrics (Go and process
	// collectors) and /debug/pprof/; 0 picks a free port, -1 disables it.
	AdminPort int
	// Logger receives the server's logs; nil means slog.Default().
	Logger *slog.Logger
}

// Server is the baseline SFU. See the package doc for the model.
type Server struct {
	log *slog.Logger
	api *webrtc.API
	udp *net.UDPConn
	mux ice.UDPMux

	sigLn   net.Listener
	sigSrv  *http.Server
	adminLn net.Listener
	admSrv  *http.Server

	wg sync.WaitGroup // Serve goroutines and every connection's handler

	mu     sync.Mutex
	rooms  map[string]*room
	conns  map[*conn]struct{}
	closed bool
}

// New binds every listener, starts serving and returns. Call Close to stop.
func New(cfg Config) (_ *Server, err error) {
	if !cfg.ListenAddress.IsValid() {
		cfg.ListenAddress = netip.MustParseAddr("127.0.0.1")
	}
	for _, p := range []struct {
		name string
		v    int
		min  int
	}{{"SignalingPort", cfg.SignalingPort, 0}, {"MediaPort", cfg.MediaPort, 0}, {"AdminPort", cfg.AdminPort, -1}} {
		if p.v < p.min || p.v > 65535 {
			return nil, fmt.Errorf("%w: %s %d (want %d-65535)", ErrBadConfig, p.name, p.v, p.min)
		}
	}
	log := cfg.Logger
	if log == nil {
		log = slog.Default()
	}
	s := &Server{log: log, rooms: map[string]*room{}, conns: map[*conn]struct{}{}}
	defer func() {
		if err != nil {
			s.closeListeners()
		}
	}()

	ip := cfg.ListenAddress.AsSlice()
	s.udp, err = net.ListenUDP("udp4", &net.UDPAddr{IP: ip, Port: cfg.MediaPort})
	if err != nil {
		return nil, fmt.Errorf("baseline: media socket: %w", err)
	}
	// A bigger socket buffer than the default keeps bursts of 200 subscribers'
	// RTCP from being dropped by the kernel; errors only mean a smaller one.
	_ = s.udp.SetReadBuffer(4 << 20)
	_ = s.udp.SetWriteBuffer(4 << 20)
	s.mux = webrtc.NewICEUDPMux(logging.NewDefaultLoggerFactory().NewLogger("udpmux"), s.udp)
	if s.api, err = newAPI(s.mux); err != nil {
		return nil, err
	}

	s.sigLn, err = net.Listen("tcp4", netip.AddrPortFrom(cfg.ListenAddress, uint16(cfg.SignalingPort)).String())
	if err != nil {
		return nil, fmt.Errorf("baseline: signaling listener: %w", err)
	}
	sigMux := http.NewServeMux()
	sigMux.HandleFunc("/signaling", s.serveSignaling)
	sigMux.HandleFunc("GET /healthz", healthz)
	s.sigSrv = &http.Server{Handler: sigMux, ReadHeaderTimeout: 10 * time.Second}

	if cfg.AdminPort >= 0 {
		s.adminLn, err = net.Listen("tcp4", netip.AddrPortFrom(cfg.ListenAddress, uint16(cfg.AdminPort)).String())
		if err != nil {
			return nil, fmt.Errorf("baseline: admin listener: %w", err)
		}
		s.admSrv = &http.Server{Handler: adminHandler(log), ReadHeaderTimeout: 10 * time.Second}
	}

	s.serve(s.sigSrv, s.sigLn)
	if s.admSrv != nil {
		s.serve(s.admSrv, s.adminLn)
	}
	return s, nil
}

// newAPI is the pion API every PeerConnection is made from: Opus and VP8,
// pion's default interceptors, ICE-lite over the shared UDP mux, IPv4 only.
func newAPI(mux ice.UDPMux) (*webrtc.API, error) {
	m := &webrtc.MediaEngine{}
	codecs := []struct {
		kind webrtc.RTPCodecType
		c    webrtc.RTPCodecParameters
	}{
		{webrtc.RTPCodecTypeAudio, webrtc.RTPCodecParameters{
			RTPCodecCapability: webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeOpus, ClockRate: 48000, Channels: 2, SDPFmtpLine: "minptime=10;useinbandfec=1"},
			PayloadType:        111,
		}},
		{webrtc.RTPCodecTypeVideo, webrtc.RTPCodecParameters{
			RTPCodecCapability: webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeVP8, ClockRate: 90000},
			PayloadType:        96,
		}},
	}
	for _, c := range codecs {
		if err := m.RegisterCodec(c.c, c.kind); err != nil {
			return nil, fmt.Errorf("baseline: registering %s: %w", c.c.MimeType, err)
		}
	}
	reg := &interceptor.Registry{}
	if err := webrtc.RegisterDefaultInterceptors(m, reg); err != nil {
		return nil, fmt.Errorf("baseline: default interceptors: %w", err)
	}
	se := webrtc.SettingEngine{}
	se.SetLite(true)
	se.SetICEUDPMux(mux)
	se.SetNetworkTypes([]webrtc.NetworkType{webrtc.NetworkTypeUDP4})
	se.SetIncludeLoopbackCandidate(true)
	se.SetICEMulticastDNSMode(ice.MulticastDNSModeDisabled)
	return webrtc.NewAPI(webrtc.WithMediaEngine(m), webrtc.WithInterceptorRegistry(reg), webrtc.WithSettingEngine(se)), nil
}

func healthz(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	_, _ = io.WriteString(w, "ok")
}

// adminHandler serves /healthz, /metrics (the Go and process collectors, so
// go_memstats_mallocs_total is comparable with Hayate's) and /debug/pprof/.
func adminHandler(log *slog.Logger) http.Handler {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", healthz)
	mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{
		ErrorLog:      slog.NewLogLogger(log.Handler(), slog.LevelError),
		ErrorHandling: promhttp.ContinueOnError,
	}))
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	return mux
}

func (s *Server) serve(h *http.Server, ln net.Listener) {
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		if err := h.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			s.log.Error("baseline: serving", "addr", ln.Addr().String(), "err", err)
		}
	}()
}

// SignalingURL is ws://ip:port/signaling.
func (s *Server) SignalingURL() string { return "ws://" + s.sigLn.Addr().String() + "/signaling" }

// AdminURL is http://ip:port of the admin listener, "" when it is disabled.
func (s *Server) AdminURL() string {
	if s.adminLn == nil {
		return ""
	}
	return "http://" + s.adminLn.Addr().String()
}

// MediaAddr is the UDP address every PeerConnection uses.
func (s *Server) MediaAddr() netip.AddrPort { return s.udp.LocalAddr().(*net.UDPAddr).AddrPort() }

// Close stops the listeners, ends every connection (WebSocket and
// PeerConnection) and waits for the server's goroutines. Safe to call more
// than once.
func (s *Server) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	conns := make([]*conn, 0, len(s.conns))
	for c := range s.conns {
		conns = append(conns, c)
	}
	s.mu.Unlock()

	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	_ = s.sigSrv.Shutdown(ctx)
	if s.admSrv != nil {
		_ = s.admSrv.Shutdown(ctx)
	}
	var aborts sync.WaitGroup
	for _, c := range conns {
		aborts.Go(func() { c.abort(websocket.StatusGoingAway, "SHUTDOWN") })
	}
	aborts.Wait()
	s.wg.Wait()
	s.closeListeners()
	return nil
}

func (s *Server) closeListeners() {
	for _, ln := range []net.Listener{s.sigLn, s.adminLn} {
		if ln != nil {
			_ = ln.Close()
		}
	}
	if s.mux != nil {
		_ = s.mux.Close()
	}
	if s.udp != nil {
		_ = s.udp.Close()
	}
}

// register adds c to the server's set; it fails after Close.
func (s *Server) register(c *conn) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return ErrClosed
	}
	s.conns[c] = struct{}{}
	s.wg.Add(1)
	return nil
}

func (s *Server) unregister(c *conn) {
	s.mu.Lock()
	delete(s.conns, c)
	s.mu.Unlock()
	s.wg.Done()
}

// room returns the channel's room, creating it.
func (s *Server) room(channel string) *room {
	s.mu.Lock()
	defer s.mu.Unlock()
	r := s.rooms[channel]
	if r == nil {
		r = &room{channel: channel, sessionID: newID(), conns: map[string]*conn{}}
		s.rooms[channel] = r
	}
	return r
}

// dropRoomIfEmpty forgets r once its last connection left.
func (s *Server) dropRoomIfEmpty(r *room) {
	s.mu.Lock()
	defer s.mu.Unlock()
	r.mu.Lock()
	empty := len(r.conns) == 0
	r.mu.Unlock()
	if empty && s.rooms[r.channel] == r {
		delete(s.rooms, r.channel)
	}
}
