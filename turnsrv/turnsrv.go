package turnsrv

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha1" //nolint:gosec // RFC 8489 long-term credentials use HMAC-SHA1 by design
	"crypto/tls"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pion/logging"
	"github.com/pion/turn/v5"
	"github.com/prometheus/client_golang/prometheus"
)

// ErrConfig is returned by New for unusable settings.
var ErrConfig = errors.New("turnsrv: bad config")

// Config configures the server. The zero value of each field is documented.
type Config struct {
	// ListenAddress is the IP the UDP socket and TCP listener bind to; "" is 0.0.0.0.
	ListenAddress string
	// Port is the UDP and TCP port (turn_port); 0 picks a free port (tests).
	Port int
	// RelayIP is the address relays are allocated on and advertised at; it
	// must be reachable by clients (the first public IP).
	RelayIP netip.Addr
	// URLHost is the host written in the TURN URLs; "" means RelayIP.
	URLHost string
	// RelayMinPort..RelayMaxPort bound the relay ports; 0, 0 lets the kernel pick.
	RelayMinPort, RelayMaxPort uint16
	// Realm of the long-term credentials; "" means "hayate".
	Realm string
	// Lifetime of issued credentials; 0 means 24 hours.
	Lifetime time.Duration
	// Alive reports whether a connection id is still connected; nil admits any.
	Alive func(connectionID string) bool
	// TLSCertFile and TLSKeyFile (PEM; tls_cert_file, tls_key_file), both
	// set, add TURN over TLS on TLSPort and a turns: URL. Both empty: no
	// TLS. The URL carries URLHost (or RelayIP), which the certificate must
	// name for clients that check it.
	TLSCertFile, TLSKeyFile string
	// TLSPort is the TCP port of TURN over TLS (turn_tls_port); 0 picks a
	// free port (tests). Unused without TLSCertFile.
	TLSPort int
	Logger  *slog.Logger

	// firstFrameTimeout replaces the default in tests.
	firstFrameTimeout time.Duration
}

// Credentials are one connection's TURN username and password.
type Credentials struct {
	Username, Password string
}

// Stats are the server's counters.
type Stats struct {
	// Allocations ever created, by the client's transport to the server
	// (TCP includes TLS; the relay itself is always UDP).
	UDPAllocations, TCPAllocations uint64
	AuthFailures                   uint64
	// InvalidTCPFrames counts TCP and TLS connections closed because their
	// stream held something other than STUN and ChannelData messages.
	InvalidTCPFrames uint64
}

// Server is a running TURN server.
type Server struct {
	cfg     Config
	secret  []byte
	srv     *turn.Server
	port    int
	tlsPort int // 0 without TLS

	udpAllocs, tcpAllocs, authFailures, invalidTCP atomic.Uint64

	// relays maps each live allocation's relay address to the transport
	// its client reached us over ("udp" or "tcp"); bySrc finds it again
	// when the allocation ends (the deletion event names no relay).
	mu     sync.Mutex
	relays map[netip.AddrPort]string
	bySrc  map[string]netip.AddrPort
}

// RelayTransport reports whether a is the relay address of a live
// allocation, and over which transport ("udp", or "tcp" for TCP and TLS)
// its client reaches the TURN server: what turn_transport_type says.
func (s *Server) RelayTransport(a netip.AddrPort) (string, bool) {
	if s == nil {
		return "", false
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	t, ok := s.relays[netip.AddrPortFrom(a.Addr().Unmap(), a.Port())]
	return t, ok
}

func allocKey(src, dst net.Addr) string {
	return src.Network() + " " + src.String() + " " + dst.String()
}

func (s *Server) allocated(src, dst net.Addr, relay net.Addr) {
	proto := "udp"
	if _, tcp := src.(*net.TCPAddr); tcp {
		proto = "tcp"
	}
	ra, ok := relay.(*net.UDPAddr)
	if !ok {
		return
	}
	a := ra.AddrPort()
	a = netip.AddrPortFrom(a.Addr().Unmap(), a.Port())
	s.mu.Lock()
	defer s.mu.Unlock()
	s.relays[a] = proto
	s.bySrc[allocKey(src, dst)] = a
}

func (s *Server) deallocated(src, dst net.Addr) {
	s.mu.Lock()
	defer s.mu.Unlock()
	k := allocKey(src, dst)
	if a, ok := s.bySrc[k]; ok {
		delete(s.relays, a)
		delete(s.bySrc, k)
	}
}

// New starts the server.
func New(cfg Config) (*Server, error) {
	if !cfg.RelayIP.IsValid() || cfg.RelayIP.IsUnspecified() {
		return nil, fmt.Errorf("%w: relay IP %v is not a usable address", ErrConfig, cfg.RelayIP)
	}
	if cfg.RelayMinPort > cfg.RelayMaxPort {
		return nil, fmt.Errorf("%w: relay port range %d-%d", ErrConfig, cfg.RelayMinPort, cfg.RelayMaxPort)
	}
	if cfg.Realm == "" {
		cfg.Realm = "hayate"
	}
	if cfg.Lifetime == 0 {
		cfg.Lifetime = 24 * time.Hour
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.firstFrameTimeout == 0 {
		cfg.firstFrameTimeout = firstFrameTimeout
	}
	if (cfg.TLSCertFile == "") != (cfg.TLSKeyFile == "") {
		return nil, fmt.Errorf("%w: TLSCertFile %q and TLSKeyFile %q: set both or neither", ErrConfig, cfg.TLSCertFile, cfg.TLSKeyFile)
	}
	var tlsConfig *tls.Config
	if cfg.TLSCertFile != "" {
		cert, err := tls.LoadX509KeyPair(cfg.TLSCertFile, cfg.TLSKeyFile)
		if err != nil {
			return nil, fmt.Errorf("%w: TLS certificate: %w", ErrConfig, err)
		}
		tlsConfig = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	}
	if cfg.ListenAddress == "" {
		cfg.ListenAddress = "0.0.0.0"
	}
	s := &Server{cfg: cfg, secret: make([]byte, 32), relays: map[netip.AddrPort]string{}, bySrc: map[string]netip.AddrPort{}}
	if _, err := rand.Read(s.secret); err != nil {
		return nil, fmt.Errorf("turnsrv: secret: %w", err)
	}
	udp, tcp, err := listenPair(cfg.ListenAddress, cfg.Port)
	if err != nil {
		return nil, err
	}
	s.port = udp.LocalAddr().(*net.UDPAddr).Port
	var tlsLn net.Listener
	if tlsConfig != nil {
		if tlsLn, err = net.Listen("tcp4", net.JoinHostPort(cfg.ListenAddress, strconv.Itoa(cfg.TLSPort))); err != nil {
			udp.Close()
			tcp.Close()
			return nil, fmt.Errorf("turnsrv: TLS listener: %w", err)
		}
		s.tlsPort = tlsLn.Addr().(*net.TCPAddr).Port
	}
	relayIP := net.IP(cfg.RelayIP.AsSlice())
	gen := func() turn.RelayAddressGenerator {
		if cfg.RelayMinPort == 0 && cfg.RelayMaxPort == 0 {
			return &turn.RelayAddressGeneratorStatic{RelayAddress: relayIP, Address: cfg.ListenAddress}
		}
		return &turn.RelayAddressGeneratorPortRange{RelayAddress: relayIP, Address: cfg.ListenAddress,
			MinPort: cfg.RelayMinPort, MaxPort: cfg.RelayMaxPort}
	}
	lf := logging.NewDefaultLoggerFactory()
	lf.DefaultLogLevel = logging.LogLevelError
	listeners := []turn.ListenerConfig{{Listener: &framedListener{Listener: tcp, invalid: &s.invalidTCP, timeout: cfg.firstFrameTimeout}, RelayAddressGenerator: gen()}}
	if tlsLn != nil {
		listeners = append(listeners, turn.ListenerConfig{
			Listener: &framedListener{Listener: tlsLn, tls: tlsConfig, invalid: &s.invalidTCP, timeout: cfg.firstFrameTimeout}, RelayAddressGenerator: gen()})
	}
	s.srv, err = turn.NewServer(turn.ServerConfig{
		Realm:             cfg.Realm,
		AuthHandler:       s.auth,
		LoggerFactory:     lf,
		PacketConnConfigs: []turn.PacketConnConfig{{PacketConn: udp, RelayAddressGenerator: gen()}},
		ListenerConfigs:   listeners,
		EventHandler: turn.EventHandler{
			OnAllocationCreated: func(src, dst net.Addr, _, _, _ string, relay net.Addr, _ int) {
				// The client's transport to us (the relay itself is UDP).
				if _, tcp := src.(*net.TCPAddr); tcp {
					s.tcpAllocs.Add(1)
				} else {
					s.udpAllocs.Add(1)
				}
				s.allocated(src, dst, relay)
			},
			OnAllocationDeleted: func(src, dst net.Addr, _, _, _ string) { s.deallocated(src, dst) },
		},
	})
	if err != nil {
		udp.Close()
		tcp.Close()
		if tlsLn != nil {
			tlsLn.Close()
		}
		return nil, fmt.Errorf("turnsrv: %w", err)
	}
	return s, nil
}

// listenPair binds the UDP socket and the TCP listener on one port. With
// port 0 the kernel picks the UDP port, which may be taken for TCP: then it
// tries another, a few times.
func listenPair(addr string, port int) (net.PacketConn, net.Listener, error) {
	for attempt := 0; ; attempt++ {
		udp, err := net.ListenPacket("udp4", net.JoinHostPort(addr, strconv.Itoa(port)))
		if err != nil {
			return nil, nil, fmt.Errorf("turnsrv: UDP listener: %w", err)
		}
		p := udp.LocalAddr().(*net.UDPAddr).Port
		tcp, err := net.Listen("tcp4", net.JoinHostPort(addr, strconv.Itoa(p)))
		if err == nil {
			return udp, tcp, nil
		}
		udp.Close()
		if port != 0 || attempt == 9 {
			return nil, nil, fmt.Errorf("turnsrv: TCP listener: %w", err)
		}
	}
}

// Port is the UDP and TCP port the server listens on.
func (s *Server) Port() int { return s.port }

// TLSPort is the TCP port of TURN over TLS, 0 without TLS.
func (s *Server) TLSPort() int { return s.tlsPort }

// Credentials issues a connection's credentials, valid until the expiry and
// only while the connection is alive.
func (s *Server) Credentials(connectionID string, now time.Time) Credentials {
	user := strconv.FormatInt(now.Add(s.cfg.Lifetime).Unix(), 10) + ":" + connectionID
	return Credentials{Username: user, Password: s.password(user)}
}

func (s *Server) password(user string) string {
	m := hmac.New(sha1.New, s.secret)
	m.Write([]byte(user))
	return base64.StdEncoding.EncodeToString(m.Sum(nil))
}

// URLs are the server's TURN URLs for offer.config.iceServers: over UDP,
// over TCP and, with TLS, "turns:host:tlsport?transport=tcp".
func (s *Server) URLs() []string {
	host := s.cfg.URLHost
	if host == "" {
		host = s.cfg.RelayIP.String()
	}
	hp := net.JoinHostPort(host, strconv.Itoa(s.port))
	urls := []string{"turn:" + hp + "?transport=udp", "turn:" + hp + "?transport=tcp"}
	if s.tlsPort != 0 {
		urls = append(urls, "turns:"+net.JoinHostPort(host, strconv.Itoa(s.tlsPort))+"?transport=tcp")
	}
	return urls
}

// auth is pion/turn's AuthHandler: the key for a username we issued, whose
// expiry lies ahead and whose connection is alive.
func (s *Server) auth(ra *turn.RequestAttributes) (string, []byte, bool) {
	exp, conn, ok := strings.Cut(ra.Username, ":")
	if !ok || ra.Realm != s.cfg.Realm {
		s.authFailures.Add(1)
		return "", nil, false
	}
	t, err := strconv.ParseInt(exp, 10, 64)
	if err != nil || time.Now().Unix() > t {
		s.authFailures.Add(1)
		return "", nil, false
	}
	if s.cfg.Alive != nil && !s.cfg.Alive(conn) {
		s.authFailures.Add(1)
		return "", nil, false
	}
	return ra.Username, turn.GenerateAuthKey(ra.Username, s.cfg.Realm, s.password(ra.Username)), true
}

// Stats returns the counters.
func (s *Server) Stats() Stats {
	return Stats{UDPAllocations: s.udpAllocs.Load(), TCPAllocations: s.tcpAllocs.Load(), AuthFailures: s.authFailures.Load(),
		InvalidTCPFrames: s.invalidTCP.Load()}
}

// Counters returns the TURN counters of GetStatsReport (spec api.md §3) by
// their Sora names: total_turn_udp_connections, total_turn_tcp_connections
// (allocations by the client's transport, TLS counted as TCP) and
// total_received_invalid_turn_tcp_packet. A nil Server (TURN off) gives
// zeros. It may be called from any goroutine.
func (s *Server) Counters() map[string]uint64 {
	var st Stats
	if s != nil {
		st = s.Stats()
	}
	return map[string]uint64{
		"total_turn_udp_connections":             st.UDPAllocations,
		"total_turn_tcp_connections":             st.TCPAllocations,
		"total_received_invalid_turn_tcp_packet": st.InvalidTCPFrames,
	}
}

// Close stops the server and its relays.
func (s *Server) Close() error { return s.srv.Close() }

var (
	allocationsDesc = prometheus.NewDesc("hayate_turn_allocations_total",
		"TURN allocations created, by the client's transport to the server (tcp includes TLS).", []string{"transport"}, nil)
	authFailuresDesc = prometheus.NewDesc("hayate_turn_auth_failures_total",
		"TURN requests refused for bad, expired or ended-connection credentials.", nil, nil)
	invalidTCPDesc = prometheus.NewDesc("hayate_turn_invalid_tcp_streams_total",
		"TURN TCP and TLS connections closed because their stream held other than STUN and ChannelData.", nil, nil)
)

// Describe implements prometheus.Collector: the server exports its Stats.
func (s *Server) Describe(ch chan<- *prometheus.Desc) {
	ch <- allocationsDesc
	ch <- authFailuresDesc
	ch <- invalidTCPDesc
}

// Collect implements prometheus.Collector.
func (s *Server) Collect(ch chan<- prometheus.Metric) {
	st := s.Stats()
	ch <- prometheus.MustNewConstMetric(allocationsDesc, prometheus.CounterValue, float64(st.UDPAllocations), "udp")
	ch <- prometheus.MustNewConstMetric(allocationsDesc, prometheus.CounterValue, float64(st.TCPAllocations), "tcp")
	ch <- prometheus.MustNewConstMetric(authFailuresDesc, prometheus.CounterValue, float64(st.AuthFailures))
	ch <- prometheus.MustNewConstMetric(invalidTCPDesc, prometheus.CounterValue, float64(st.InvalidTCPFrames))
}
