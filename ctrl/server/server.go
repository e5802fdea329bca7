package server

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net"
	"net/http"
	"net/netip"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/hayate-sfu/hayate/ctrl/api"
	"github.com/hayate-sfu/hayate/ctrl/audiostream"
	"github.com/hayate-sfu/hayate/ctrl/cluster"
	"github.com/hayate-sfu/hayate/ctrl/config"
	"github.com/hayate-sfu/hayate/ctrl/obs"
	"github.com/hayate-sfu/hayate/ctrl/room"
	"github.com/hayate-sfu/hayate/ctrl/signaling"
	"github.com/hayate-sfu/hayate/ctrl/uastats"
	"github.com/hayate-sfu/hayate/ctrl/webhook"
	"github.com/hayate-sfu/hayate/ctrl/webui"
	"github.com/hayate-sfu/hayate/dataplane"
	"github.com/hayate-sfu/hayate/turnsrv"
)

// Version is the server version sent to clients in offers and exported as
// hayate_build_info. Release builds set it with
// -ldflags "-X github.com/hayate-sfu/hayate/ctrl/server.Version=…".
var Version = "0.1.0-dev"

// readHeaderTimeout bounds how long a client may take to send request
// headers on the HTTP listeners (slowloris).
const readHeaderTimeout = 10 * time.Second

// Server is one running Hayate process. It owns every listener, the plane,
// the signaling server and the goroutines serving them.
type Server struct {
	cfg config.Config
	log *slog.Logger
	reg *prometheus.Registry

	plane *dataplane.Plane
	turn  *turnsrv.Server // nil when turn = false

	sessionHooks, eventHooks *webhook.Notifier
	sig                      *signaling.Server
	admin                    *obs.Admin
	uaStats                  *uastats.Store
	streams                  *audiostream.Streams
	cluster                  *cluster.Cluster // nil unless cluster = true

	sigLn, apiLn     net.Listener
	sigHTTP, apiHTTP *http.Server

	wg           sync.WaitGroup // the Serve goroutines
	shutdownOnce sync.Once
	shutdownErr  error
}

// New validates cfg, binds every listener and starts serving. log nil means
// slog.Default(). On error everything New opened is closed again.
func New(cfg config.Config, log *slog.Logger) (_ *Server, err error) {
	if log == nil {
		log = slog.Default()
	}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	publicIPs, err := cfg.ResolvePublicIPs()
	if err != nil {
		return nil, err
	}

	s := &Server{cfg: cfg, log: log, reg: prometheus.NewRegistry()}
	s.reg.MustRegister(buildInfo())

	// Undo what was opened so far when a later step fails.
	var undo []func()
	defer func() {
		if err != nil {
			for i := len(undo) - 1; i >= 0; i-- {
				undo[i]()
			}
		}
	}()

	listen := func(what string, port int) (net.Listener, error) {
		ln, err := net.Listen(tcpNetwork(cfg.ListenAddress), netip.AddrPortFrom(cfg.ListenAddress, uint16(port)).String())
		if err != nil {
			return nil, fmt.Errorf("server: %s listener: %w", what, err)
		}
		undo = append(undo, func() { ln.Close() })
		return ln, nil
	}
	if s.sigLn, err = listen("signaling", cfg.SignalingPort); err != nil {
		return nil, err
	}
	if s.apiLn, err = listen("API", cfg.APIPort); err != nil {
		return nil, err
	}
	if cfg.TLSCertFile != "" {
		cert, err := tls.LoadX509KeyPair(cfg.TLSCertFile, cfg.TLSKeyFile)
		if err != nil {
			return nil, fmt.Errorf("server: tls_cert_file / tls_key_file: %w", err)
		}
		// WebSocket upgrades need HTTP/1.1.
		tc := &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12, NextProtos: []string{"http/1.1"}}
		s.sigLn, s.apiLn = tls.NewListener(s.sigLn, tc), tls.NewListener(s.apiLn, tc)
	}
	adminAddr := netip.AddrPortFrom(cfg.AdminAddress, uint16(cfg.AdminPort)).String()
	if s.admin, err = obs.NewAdmin(adminAddr, s.reg, log.With("component", "admin")); err != nil {
		return nil, fmt.Errorf("server: %w", err)
	}
	undo = append(undo, func() { s.admin.Close() })

	s.plane, err = dataplane.New(dataplane.Config{
		ListenAddress:   cfg.ListenAddress.String(),
		Port:            cfg.MediaPort,
		PublicIPs:       publicIPs,
		GSO:             cfg.MediaGSO,
		Loops:           mediaLoops(cfg.MediaLoops),
		ICETCP:          cfg.ICETCP,
		ReadBufferSize:  cfg.MediaReadBufferSize,
		WriteBufferSize: cfg.MediaWriteBufferSize,
		Logger:          log.With("component", "dataplane"),
	})
	if err != nil {
		return nil, fmt.Errorf("server: media plane: %w", err)
	}
	undo = append(undo, func() { s.plane.Close() })
	if err := obs.RegisterPlane(s.reg, s.plane.Counters()); err != nil {
		return nil, fmt.Errorf("server: media metrics: %w", err)
	}
	if err := obs.RegisterICETCP(s.reg, s.plane.ICETCPCounters); err != nil {
		return nil, fmt.Errorf("server: ICE-TCP metrics: %w", err)
	}

	var iceServers func(string) []room.ICEServer
	if cfg.TURN {
		// Credentials are good only while their connection is alive in
		// the signaling server's rooms (created just below).
		var sig atomic.Pointer[signaling.Server]
		s.turn, err = turnsrv.New(turnsrv.Config{
			ListenAddress: cfg.ListenAddress.String(),
			Port:          cfg.TURNPort,
			RelayIP:       publicIPs[0],
			RelayMinPort:  uint16(cfg.TURNRelayPorts.Min),
			RelayMaxPort:  uint16(cfg.TURNRelayPorts.Max),
			Alive: func(id string) bool {
				if sg := sig.Load(); sg != nil {
					_, ok := sg.Rooms().Connection(id)
					return ok
				}
				return false
			},
			TLSCertFile: cfg.TLSCertFile,
			TLSKeyFile:  cfg.TLSKeyFile,
			TLSPort:     cfg.TURNTLSPort,
			Logger:      log.With("component", "turn"),
		})
		if err != nil {
			return nil, fmt.Errorf("server: %w", err)
		}
		undo = append(undo, func() { s.turn.Close() })
		if err := s.reg.Register(s.turn); err != nil {
			return nil, fmt.Errorf("server: TURN metrics: %w", err)
		}
		defer func() { sig.Store(s.sig) }()
		iceServers = func(id string) []room.ICEServer {
			c := s.turn.Credentials(id, time.Now())
			return []room.ICEServer{{URLs: s.turn.URLs(), Username: c.Username, Credential: c.Password}}
		}
	}

	nodeName := "hayate@" + publicIPs[0].String()
	if cfg.Cluster {
		nodeName = cfg.NodeName // the cluster's name of this node
	}
	s.sessionHooks = webhook.NewNotifier(webhook.NotifierConfig{URL: cfg.SessionWebhookURL, Timeout: cfg.WebhookResponseTimeout, Logger: log.With("component", "webhook")})
	s.eventHooks = webhook.NewNotifier(webhook.NotifierConfig{URL: cfg.EventWebhookURL, Timeout: cfg.WebhookResponseTimeout, Logger: log.With("component", "webhook")})
	undo = append(undo, s.sessionHooks.Close, s.eventHooks.Close)
	authHook := webhook.New(webhook.Config{
		AuthURL: cfg.AuthWebhookURL, Timeout: cfg.WebhookResponseTimeout,
		Label: "Hayate", NodeName: nodeName, Version: Version,
	})
	if err := s.reg.Register(webhook.NewCollector(authHook, s.sessionHooks, s.eventHooks)); err != nil {
		return nil, fmt.Errorf("server: webhook metrics: %w", err)
	}
	s.uaStats, err = uastats.New(uastats.Config{Registerer: s.reg})
	if err != nil {
		return nil, fmt.Errorf("server: %w", err)
	}
	var streams atomic.Pointer[audiostream.Streams] // set once the signaling server exists
	hook := func(kind string, fields map[string]any) {
		// Called with room locks held: both calls only take their own
		// short locks and never call back into the room.
		switch kind {
		case "connection.created":
			if st := streams.Load(); st != nil {
				st.Changed()
			}
		case "connection.destroyed":
			id, _ := fields["connection_id"].(string)
			s.uaStats.Forget(id)
			if st := streams.Load(); st != nil {
				st.Forget(id)
			}
		}
		n, typ := s.eventHooks, "event"
		if strings.HasPrefix(kind, "session.") {
			n, typ = s.sessionHooks, "session"
		}
		fields["type"] = kind
		fields["id"] = room.NewID()
		fields["timestamp"] = time.Now().UTC().Format("2006-01-02T15:04:05.000Z")
		fields["version"], fields["label"], fields["node_name"] = Version, "Hayate", nodeName
		if typ == "event" {
			fields["log_written"] = false
		}
		n.Send(fields)
	}

	// With a cluster, the channel's owner takes each connect; s.cluster is
	// set below, before any listener serves.
	var place func(string) (string, error)
	if cfg.Cluster {
		place = func(ch string) (string, error) { return s.cluster.Place(ch) }
	}
	s.sig, err = signaling.New(signaling.Config{
		Place:              place,
		Webhook:            hook,
		ICEServers:         iceServers,
		AuthSecret:         cfg.SignalingAuthSecret,
		AuthWebhook:        authHook,
		AuthAllowRawSecret: cfg.SignalingAuthAllowRawSecret,
		ICETransportPolicy: cfg.ICETransportPolicy,
		TURNTransportType: func(remote netip.AddrPort) string {
			t, _ := s.turn.RelayTransport(remote) // nil-safe without TURN
			return t
		},
		Plane:           s.plane,
		Logger:          log.With("component", "signaling"),
		Registerer:      s.reg,
		PingInterval:    cfg.PingInterval,
		PongTimeout:     cfg.PongTimeout,
		MaxMessageBytes: int64(cfg.SignalingMaxMessageSize),
		Notify:          cfg.SignalingNotify,

		DataChannelMaxMessageSize:   cfg.DataChannelMaxMessageSize,
		DataChannelMaxBufferedBytes: cfg.DataChannelMaxBufferedBytes,
		Version:                     Version,
		UAStats:                     s.uaStats,

		MaxConnections:                 cfg.MaxConnections,
		MaxConnectionsPerChannel:       cfg.MaxConnectionsPerChannel,
		MaxConnectsPerSecondPerAddress: cfg.MaxConnectsPerSecondPerAddress,
	})
	if err != nil {
		return nil, fmt.Errorf("server: signaling: %w", err)
	}
	s.streams, err = audiostream.New(audiostream.Config{
		URL:    cfg.AudioStreamingURL,
		Header: cfg.AudioStreamingHeader,
		Rooms: audiostream.RegistryRooms{Registry: s.sig.Rooms(),
			LanguageCode: func(i room.ConnectionInfo) string { return i.AudioStreamingLanguageCode }},
		Logger:     log.With("component", "audiostream"),
		Registerer: s.reg,
	})
	if err != nil {
		return nil, fmt.Errorf("server: audio streaming: %w", err)
	}
	undo = append(undo, s.streams.Close)
	streams.Store(s.streams)

	sigMux := http.NewServeMux()
	sigMux.Handle("/signaling", s.sig)
	sigMux.Handle("/", webui.Handler(cfg.SDKDir))
	s.sigHTTP = s.httpServer(sigMux, "signaling")
	var intercept func(string, []byte) (int, []byte, bool)
	if cfg.Cluster {
		// s.cluster is set below, before any listener serves.
		intercept = func(target string, body []byte) (int, []byte, bool) { return s.cluster.Intercept(target, body) }
	}
	apiHandler, err := api.New(api.Config{
		Intercept: intercept,
		ClusterStatus: func() (any, bool) {
			if s.cluster == nil {
				return nil, false
			}
			return s.cluster.RaftStatus()
		},
		Rooms:        s.sig.Rooms(),
		Logger:       log.With("component", "api"),
		Registerer:   s.reg,
		Version:      Version,
		CORSOrigin:   cfg.APICORSOrigin,
		LoopbackOnly: cfg.APILoopbackAddressOnly,
		MaxBodyBytes: int64(cfg.APIMaxBodySize),
		CrashLogDir:  cfg.CrashLogDir,

		RTPForwardingAllowList: cfg.RTPForwardingAllowList,
		UAStats:                s.uaStats,
		AudioStreams:           s.streams,
		ExtraCounters: func() map[string]uint64 {
			m := webhook.Counters(authHook, s.sessionHooks, s.eventHooks)
			maps.Copy(m, s.turn.Counters()) // a nil *turnsrv.Server gives zeros
			maps.Copy(m, s.sig.Counters())
			pc := s.plane.Counters()
			m["total_received_sctp"] = pc.SCTPPacketsIn.Load()
			m["total_received_sctp_byte_size"] = pc.SCTPBytesIn.Load()
			m["total_sent_sctp"] = pc.SCTPPacketsOut.Load()
			m["total_sent_sctp_byte_size"] = pc.SCTPBytesOut.Load()
			return m
		},
	})
	if err != nil {
		return nil, fmt.Errorf("server: API: %w", err)
	}
	s.apiHTTP = s.httpServer(apiHandler, "api")
	if cfg.Cluster {
		if s.cluster, err = s.newCluster(apiHandler); err != nil {
			return nil, err
		}
		undo = append(undo, func() { s.cluster.Close() })
	}

	s.serve("signaling", func() error { return s.sigHTTP.Serve(s.sigLn) })
	s.serve("api", func() error { return s.apiHTTP.Serve(s.apiLn) })
	s.serve("admin", s.admin.Serve)
	return s, nil
}

// newCluster starts this node's part of the cluster (cluster = true):
// the cluster listener on listen_address and cluster_port (or the port in
// node_name), the raft log in data_dir, and the URLs other nodes redirect
// clients to (external_*_url, or built from node_name's host and this
// server's signaling and API ports).
func (s *Server) newCluster(a *api.API) (*cluster.Cluster, error) {
	cfg := s.cfg
	host := nodeHost(cfg.NodeName)
	sigURL, apiURL := cfg.ExternalSignalingURL, cfg.ExternalAPIURL
	if sigURL == "" {
		sigURL = s.scheme("ws") + "://" + net.JoinHostPort(host, strconv.Itoa(listenerPort(s.sigLn))) + "/signaling"
	}
	if apiURL == "" {
		apiURL = s.scheme("http") + "://" + net.JoinHostPort(host, strconv.Itoa(listenerPort(s.apiLn))) + "/"
	}
	rooms := s.sig.Rooms()
	c, err := cluster.New(cluster.Config{
		NodeName:         cfg.NodeName,
		Port:             cfg.ClusterPort,
		ListenAddress:    cfg.ListenAddress,
		DataDir:          cfg.DataDir,
		ContactNodeNames: cfg.ContactNodeNameList,
		SignalingURL:     sigURL,
		APIURL:           apiURL,
		Version:          Version,
		License:          cluster.License{MaxConnections: cfg.MaxConnections, SerialCode: "HAYATE", Type: "OSS"},
		CallLocal:        a.CallLocal,
		Local: func() cluster.Local {
			l := cluster.Local{Mode: string(rooms.Mode()), Channels: map[string]int{}}
			for _, ch := range rooms.Channels() {
				l.Channels[ch.ChannelID] = ch.Connections
				l.Connections += ch.Connections
			}
			return l
		},
		Logger:     s.log.With("component", "cluster"),
		Registerer: s.reg,
	})
	if err != nil {
		return nil, fmt.Errorf("server: cluster: %w", err)
	}
	return c, nil
}

// nodeHost is the host part of a node name (name@host or name@host:port).
func nodeHost(nodeName string) string {
	_, host, _ := strings.Cut(nodeName, "@")
	if h, _, err := net.SplitHostPort(host); err == nil {
		return h
	}
	return strings.TrimSuffix(strings.TrimPrefix(host, "["), "]")
}

// mediaLoops resolves media_loops: 0 (auto) is one loop per CPU the
// process may use.
func mediaLoops(n int) int {
	if n > 0 {
		return n
	}
	return runtime.GOMAXPROCS(0)
}

func listenerPort(ln net.Listener) int {
	if a, ok := ln.Addr().(*net.TCPAddr); ok {
		return a.Port
	}
	return 0
}

// Cluster is this node's cluster part (nil unless cluster = true).
func (s *Server) Cluster() *cluster.Cluster { return s.cluster }

func (s *Server) httpServer(h http.Handler, component string) *http.Server {
	return &http.Server{
		Handler:           h,
		ReadHeaderTimeout: readHeaderTimeout,
		ErrorLog:          slog.NewLogLogger(s.log.With("component", component).Handler(), slog.LevelWarn),
	}
}

// serve runs fn on a goroutine that Shutdown waits for. An error other than
// the listener closing is logged: the other listeners keep serving.
func (s *Server) serve(what string, fn func() error) {
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		if err := fn(); err != nil && !errors.Is(err, http.ErrServerClosed) {
			s.log.Error("listener stopped", "listener", what, "err", err)
		}
	}()
}

// buildInfo is hayate_build_info{version, go_version} 1.
func buildInfo() prometheus.Collector {
	g := prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "hayate_build_info",
		Help: "Always 1; the labels say which Hayate build is running.",
	}, []string{"version", "go_version"})
	g.WithLabelValues(Version, runtime.Version()).Set(1)
	return g
}

// tcpNetwork keeps a listener to the configured family: 0.0.0.0 is IPv4
// only, as it reads, rather than Go's dual-stack "tcp".
func tcpNetwork(ip netip.Addr) string {
	if ip.Is4() {
		return "tcp4"
	}
	return "tcp6"
}

// scheme is plain ("ws", "http") or, with tls_cert_file, its TLS form.
func (s *Server) scheme(plain string) string {
	if s.cfg.TLSCertFile != "" {
		return plain + "s"
	}
	return plain
}

// SignalingURL is the WebSocket URL clients connect to, e.g.
// "ws://127.0.0.1:5000/signaling".
func (s *Server) SignalingURL() string {
	return s.scheme("ws") + "://" + urlHost(s.cfg.ListenAddress, s.sigLn.Addr()) + "/signaling"
}

// HTTPURL is the URL of the try-it page, e.g. "http://127.0.0.1:5000/".
func (s *Server) HTTPURL() string {
	return s.scheme("http") + "://" + urlHost(s.cfg.ListenAddress, s.sigLn.Addr()) + "/"
}

// APIURL is the URL of the HTTP API, e.g. "http://127.0.0.1:3000/".
func (s *Server) APIURL() string {
	return s.scheme("http") + "://" + urlHost(s.cfg.ListenAddress, s.apiLn.Addr()) + "/"
}

// AdminURL is the URL of the admin listener, e.g. "http://127.0.0.1:6060/".
func (s *Server) AdminURL() string {
	return "http://" + urlHost(s.cfg.AdminAddress, s.admin.Addr()) + "/"
}

// Plane is the media plane.
func (s *Server) Plane() *dataplane.Plane { return s.plane }

// Registry is the registry every Hayate metric is registered on.
func (s *Server) Registry() *prometheus.Registry { return s.reg }

// urlHost is "host:port" for a URL that reaches a listener bound to ip from
// this machine: a wildcard address is reached on loopback.
func urlHost(ip netip.Addr, bound net.Addr) string {
	port := 0
	if a, ok := bound.(*net.TCPAddr); ok {
		port = a.Port
	}
	switch {
	case ip.IsUnspecified() && ip.Is4():
		ip = netip.AddrFrom4([4]byte{127, 0, 0, 1})
	case ip.IsUnspecified():
		ip = netip.IPv6Loopback()
	}
	return netip.AddrPortFrom(ip, uint16(port)).String()
}

// Shutdown stops the server in the order of the package doc and waits for
// its goroutines. Calling it again returns the first call's result.
func (s *Server) Shutdown(ctx context.Context) error {
	s.shutdownOnce.Do(func() { s.shutdownErr = s.shutdown(ctx) })
	return s.shutdownErr
}

func (s *Server) shutdown(ctx context.Context) error {
	start := time.Now()
	s.log.Info("shutting down")
	var errs []error
	// 1. Stop accepting. WebSocket connections are hijacked, so these do not
	// wait for signaling clients; step 2 does.
	for _, h := range []*http.Server{s.sigHTTP, s.apiHTTP} {
		if err := h.Shutdown(ctx); err != nil {
			h.Close()
			errs = append(errs, fmt.Errorf("server: closing HTTP listener: %w", err))
		}
	}
	// 2. Tell every client why it is disconnected.
	if err := s.sig.Shutdown(ctx); err != nil {
		errs = append(errs, fmt.Errorf("server: signaling shutdown: %w", err))
	}
	// 3. No client is left: the node leaves the cluster's traffic (it
	// stays a member, connected: false for the others), then the media
	// plane goes.
	if s.cluster != nil {
		if err := s.cluster.Close(); err != nil {
			errs = append(errs, fmt.Errorf("server: cluster: %w", err))
		}
	}
	s.streams.Close() // every audio stream ends its POST
	s.sessionHooks.Close()
	s.eventHooks.Close()
	if s.turn != nil {
		if err := s.turn.Close(); err != nil {
			errs = append(errs, fmt.Errorf("turn: %w", err))
		}
	}
	if err := s.plane.Close(); err != nil {
		errs = append(errs, fmt.Errorf("server: media plane: %w", err))
	}
	// 4. Admin last.
	if err := s.admin.Close(); err != nil {
		errs = append(errs, fmt.Errorf("server: admin listener: %w", err))
	}
	// 5. The Serve goroutines return as soon as their listeners are closed.
	s.wg.Wait()
	err := errors.Join(errs...)
	if err != nil {
		s.log.Warn("shut down with errors", "err", err, "took", time.Since(start))
	} else {
		s.log.Info("shut down", "took", time.Since(start))
	}
	return err
}
