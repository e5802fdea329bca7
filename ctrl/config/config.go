package config

import (
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"time"
)

// Config is the server's configuration. Build one with Default or Load; the
// meaning and default of each field are in the key table (see Keys and
// keys.md), under the key named in the field's comment.
type Config struct {
	ListenAddress netip.Addr // listen_address
	SignalingPort int        // signaling_port; 0 picks a free port (Go only)
	APIPort       int        // api_port; 0 picks a free port (Go only)
	MediaPort     int        // media_port; 0 picks a free port (Go only)
	// PublicIPList is public_ip_list. nil means "auto": every IPv4 address of
	// every interface that is up (see HostIPs); ResolvePublicIPs applies it.
	PublicIPList []netip.Addr

	MediaGSO             bool // media_gso
	MediaLoops           int  // media_loops; 0: one per CPU (auto)
	MediaReadBufferSize  int  // media_read_buffer_size, in bytes
	MediaWriteBufferSize int  // media_write_buffer_size, in bytes
	ICETCP               bool // ice_tcp

	TURN               bool      // turn
	TURNPort           int       // turn_port; 0 picks a free port (Go only)
	TURNRelayPorts     PortRange // turn_relay_port_range; zero: any port
	ICETransportPolicy string    // ice_transport_policy: all or relay
	TURNTLSPort        int       // turn_tls_port

	TLSCertFile string // tls_cert_file; empty: no TLS
	TLSKeyFile  string // tls_key_file

	AdminAddress netip.Addr // admin_address
	AdminPort    int        // admin_port; 0 picks a free port (Go only)

	LogLevel  string // log_level: debug, info, warn or error
	LogFormat string // log_format: text or json

	PingInterval            time.Duration // ping_interval
	PongTimeout             time.Duration // pong_timeout
	SignalingMaxMessageSize int           // signaling_max_message_size, in bytes
	SignalingNotify         bool          // signaling_notify
	ShutdownTimeout         time.Duration // shutdown_timeout

	AuthWebhookURL         string        // auth_webhook_url; empty: none
	SessionWebhookURL      string        // session_webhook_url; empty: none
	EventWebhookURL        string        // event_webhook_url; empty: none
	WebhookResponseTimeout time.Duration // webhook_response_timeout

	SignalingAuthSecret         string // signaling_auth_secret; empty: no token auth
	SignalingAuthAllowRawSecret bool   // signaling_auth_allow_raw_secret

	DataChannelMaxMessageSize   int // data_channel_max_message_size, in bytes
	DataChannelMaxBufferedBytes int // data_channel_max_buffered_bytes

	APICORSOrigin          string // api_cors_origin; empty: no CORS headers
	APIMaxBodySize         int    // api_max_body_size, in bytes
	APILoopbackAddressOnly bool   // api_loopback_address_only
	CrashLogDir            string // crash_log_dir; empty: os.TempDir()

	MaxConnections                 int // max_connections; 0: no limit
	MaxConnectionsPerChannel       int // max_connections_per_channel; 0: no limit
	MaxConnectsPerSecondPerAddress int // max_connects_per_second_per_address; 0: no limit

	RTPForwardingAllowList []netip.Prefix // rtp_forwarding_allow_list; loopback is always allowed
	AudioStreamingURL      string         // audio_streaming_url; empty: none
	AudioStreamingHeader   bool           // audio_streaming_header

	Cluster              bool     // cluster
	NodeName             string   // node_name: name@host or name@host:port
	ClusterPort          int      // cluster_port; 0 picks a free port (Go only)
	DataDir              string   // data_dir
	ContactNodeNameList  []string // contact_node_name_list
	ExternalSignalingURL string   // external_signaling_url; empty: derived
	ExternalAPIURL       string   // external_api_url; empty: derived

	SDKDir string // sdk_dir
}

// PortRange is an inclusive range of ports; the zero value means any port.
type PortRange struct{ Min, Max int }

// Default returns the built-in configuration: what `hayate` runs with when
// there is no file and no HAYATE_* variable.
func Default() Config {
	var c Config
	for i := range keys {
		k := &keys[i]
		if reason := k.set(&c, k.def); reason != "" {
			panic(fmt.Sprintf("config: default of %s: %s", k.name, reason))
		}
	}
	return c
}

// Validate checks a Config as a whole: every field in range (ports 0-65535,
// so that Go callers may ask for a free port) and the rules that tie keys
// together. Load calls it; ctrl/server calls it on configs built in Go.
func (c Config) Validate() error {
	var errs []error
	bad := func(key, format string, args ...any) {
		errs = append(errs, &Error{Key: key, Err: ErrBadValue, Reason: fmt.Sprintf(format, args...)})
	}
	ports := []struct {
		key  string
		port int
	}{
		{"signaling_port", c.SignalingPort},
		{"api_port", c.APIPort},
		{"media_port", c.MediaPort},
		{"turn_port", c.turnPortIfOn()},
		{"admin_port", c.AdminPort},
		{"turn_tls_port", c.turnTLSPortIfOn()},
		{"cluster_port", c.clusterPortIfOn()},
	}
	for i, p := range ports {
		if p.port < 0 || p.port > 65535 {
			bad(p.key, "%d is not a port (0-65535)", p.port)
			continue
		}
		// The media port takes UDP and (for ICE-TCP) TCP, so every listener
		// needs its own number; 0 is a fresh free port each time.
		for _, q := range ports[:i] {
			if p.port != 0 && p.port == q.port {
				bad(p.key, "%d is also %s", p.port, q.key)
			}
		}
	}
	if !c.ListenAddress.IsValid() {
		bad("listen_address", "is not set")
	}
	if !c.AdminAddress.IsValid() {
		bad("admin_address", "is not set")
	}
	if c.PublicIPList != nil {
		if reason := checkIPList(c.PublicIPList); reason != "" {
			bad("public_ip_list", "%s", reason)
		}
	}
	if !oneOf(c.LogLevel, logLevels) {
		bad("log_level", "%q is not one of %s", c.LogLevel, join(logLevels))
	}
	if !oneOf(c.LogFormat, logFormats) {
		bad("log_format", "%q is not one of %s", c.LogFormat, join(logFormats))
	}
	for _, d := range []struct {
		key string
		d   time.Duration
	}{
		{"ping_interval", c.PingInterval},
		{"pong_timeout", c.PongTimeout},
		{"shutdown_timeout", c.ShutdownTimeout},
	} {
		if d.d <= 0 {
			bad(d.key, "%s is not a positive duration", d.d)
		}
	}
	if c.PingInterval > 0 && c.PongTimeout > 0 && c.PongTimeout <= c.PingInterval {
		// A client answers a ping only when one is sent: a timeout no longer
		// than the interval would disconnect healthy clients.
		bad("pong_timeout", "%s is not longer than ping_interval (%s)",
			formatDuration(c.PongTimeout), formatDuration(c.PingInterval))
	}
	if c.SignalingMaxMessageSize < minMessageSize || c.SignalingMaxMessageSize > maxMessageSize {
		bad("signaling_max_message_size", "%d is not a size in bytes (%d-%d)",
			c.SignalingMaxMessageSize, minMessageSize, maxMessageSize)
	}
	if (c.TLSCertFile == "") != (c.TLSKeyFile == "") {
		bad("tls_key_file", "tls_cert_file and tls_key_file go together (one is empty)")
	}
	if c.Cluster && c.NodeName == "" {
		bad("node_name", "is empty but cluster is on")
	}
	if c.SDKDir == "" {
		bad("sdk_dir", "is empty")
	}
	return joinErrors(errs)
}

// ResolvePublicIPs returns the addresses to advertise in ICE candidates:
// PublicIPList when set, otherwise HostIPs.
func (c Config) ResolvePublicIPs() ([]netip.Addr, error) {
	if c.PublicIPList != nil {
		return append([]netip.Addr(nil), c.PublicIPList...), nil
	}
	return HostIPs()
}

// HostIPs returns the IPv4 address of every interface that is up, loopback
// (127.0.0.1) included, in interface order and without duplicates. It is the
// "auto" value of public_ip_list.
func HostIPs() ([]netip.Addr, error) {
	ifaces, err := net.Interfaces()
	if err != nil {
		return nil, fmt.Errorf("config: listing interfaces for public_ip_list = auto: %w", err)
	}
	var ips []netip.Addr
	seen := make(map[netip.Addr]bool)
	for _, ifc := range ifaces {
		if ifc.Flags&net.FlagUp == 0 {
			continue
		}
		addrs, err := ifc.Addrs()
		if err != nil {
			return nil, fmt.Errorf("config: addresses of interface %s for public_ip_list = auto: %w", ifc.Name, err)
		}
		for _, a := range addrs {
			ipn, ok := a.(*net.IPNet)
			if !ok {
				continue
			}
			ip, ok := netip.AddrFromSlice(ipn.IP)
			if !ok {
				continue
			}
			ip = ip.Unmap()
			if !ip.Is4() || seen[ip] {
				continue
			}
			seen[ip] = true
			ips = append(ips, ip)
		}
	}
	if len(ips) == 0 {
		return nil, fmt.Errorf("config: public_ip_list = auto: no interface that is up has an IPv4 address")
	}
	return ips, nil
}

// LogValue prints every key with its value as it would be written in a
// file, so the effective configuration can be logged at start.
func (c Config) LogValue() slog.Value {
	attrs := make([]slog.Attr, 0, len(keys))
	for i := range keys {
		attrs = append(attrs, slog.String(keys[i].name, keys[i].get(&c)))
	}
	return slog.GroupValue(attrs...)
}

// turnPortIfOn is turn_port when the TURN server runs, else 0 (not checked).
func (c Config) turnPortIfOn() int {
	if !c.TURN {
		return 0
	}
	return c.TURNPort
}

func (c Config) turnTLSPortIfOn() int {
	if c.TURN && c.TLSCertFile != "" {
		return c.TURNTLSPort
	}
	return 0
}

func (c Config) clusterPortIfOn() int {
	if c.Cluster {
		return c.ClusterPort
	}
	return 0
}
