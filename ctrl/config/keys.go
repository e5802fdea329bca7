package config

import (
	"net"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// KeyDoc documents one configuration key.
type KeyDoc struct {
	Name    string // as written in the file, e.g. "signaling_port"
	Default string // the default, as it would be written in the file
	Doc     string // what the key means, one sentence or two
}

// Env is the environment variable that overrides the key.
func (k KeyDoc) Env() string { return EnvPrefix + strings.ToUpper(k.Name) }

// EnvPrefix starts the name of every environment variable Load reads.
const EnvPrefix = "HAYATE_"

// Keys returns the documentation of every key, in the order of the table.
func Keys() []KeyDoc {
	docs := make([]KeyDoc, len(keys))
	for i, k := range keys {
		docs[i] = KeyDoc{Name: k.name, Default: k.def, Doc: k.doc}
	}
	return docs
}

// key is one row of the table. set parses a value written in a file or an
// environment variable into c and returns "" or why the value is refused;
// get prints the field back in the same syntax (set(get(c)) is the identity).
type key struct {
	name string
	def  string
	doc  string
	set  func(c *Config, v string) (reason string)
	get  func(c *Config) string
}

var (
	logLevels  = []string{"debug", "info", "warn", "error"}
	logFormats = []string{"text", "json"}
)

const (
	minMessageSize = 1 << 10
	maxMessageSize = 64 << 20
)

// keys is the one table of settings. Its order is the order of keys.md.
var keys = []key{
	{
		name: "listen_address",
		def:  "0.0.0.0",
		doc:  "IP address the signaling, API and media listeners bind to.",
		set:  func(c *Config, v string) string { return setIP(&c.ListenAddress, v) },
		get:  func(c *Config) string { return c.ListenAddress.String() },
	},
	{
		name: "signaling_port",
		def:  "5000",
		doc:  "TCP port of the WebSocket signaling endpoint `/signaling` and of the try-it page `/`.",
		set:  func(c *Config, v string) string { return setPort(&c.SignalingPort, v) },
		get:  func(c *Config) string { return strconv.Itoa(c.SignalingPort) },
	},
	{
		name: "api_port",
		def:  "3000",
		doc:  "TCP port of the HTTP API (`POST /` with `x-sora-target`).",
		set:  func(c *Config, v string) string { return setPort(&c.APIPort, v) },
		get:  func(c *Config) string { return strconv.Itoa(c.APIPort) },
	},
	{
		name: "media_port",
		def:  "50000",
		doc:  "UDP port that carries every WebRTC connection's media (ICE, DTLS, SRTP); with `ice_tcp`, the TCP port of the same number too.",
		set:  func(c *Config, v string) string { return setPort(&c.MediaPort, v) },
		get:  func(c *Config) string { return strconv.Itoa(c.MediaPort) },
	},
	{
		name: "media_gso",
		def:  "true",
		doc:  "Send runs of same-size packets to one client as one UDP GSO super-packet (UDP_SEGMENT); falls back to plain datagrams by itself where the kernel or device cannot. `false` always sends plain datagrams.",
		set:  func(c *Config, v string) string { return setBool(&c.MediaGSO, v) },
		get:  func(c *Config) string { return strconv.FormatBool(c.MediaGSO) },
	},
	{
		name: "media_loops",
		def:  "auto",
		doc:  "Number of media loops, each with its own `SO_REUSEPORT` socket on `media_port` and its own share of the connections. `auto` is one per CPU the process may use.",
		set: func(c *Config, v string) string {
			if v == "auto" {
				c.MediaLoops = 0
				return ""
			}
			return setInt(&c.MediaLoops, v, 1, 256)
		},
		get: func(c *Config) string {
			if c.MediaLoops == 0 {
				return "auto"
			}
			return strconv.Itoa(c.MediaLoops)
		},
	},
	{
		name: "media_read_buffer_size",
		def:  "4194304",
		doc:  "Receive buffer of each media socket, in bytes (`SO_RCVBUF`; the kernel caps it at `net.core.rmem_max` unless the process may raise it).",
		set:  func(c *Config, v string) string { return setInt(&c.MediaReadBufferSize, v, 65536, 1<<30) },
		get:  func(c *Config) string { return strconv.Itoa(c.MediaReadBufferSize) },
	},
	{
		name: "media_write_buffer_size",
		def:  "4194304",
		doc:  "Send buffer of each media socket, in bytes (`SO_SNDBUF`, capped by `net.core.wmem_max` likewise).",
		set:  func(c *Config, v string) string { return setInt(&c.MediaWriteBufferSize, v, 65536, 1<<30) },
		get:  func(c *Config) string { return strconv.Itoa(c.MediaWriteBufferSize) },
	},
	{
		name: "ice_tcp",
		def:  "true",
		doc:  "Also accept ICE over TCP (RFC 6544 passive candidates, RFC 4571 framing) on `media_port`, for clients whose UDP is blocked.",
		set:  func(c *Config, v string) string { return setBool(&c.ICETCP, v) },
		get:  func(c *Config) string { return strconv.FormatBool(c.ICETCP) },
	},
	{
		name: "public_ip_list",
		def:  "auto",
		doc: "Comma-separated IP addresses advertised in the server's ICE candidates. " +
			"`auto` means the IPv4 address of every interface that is up, 127.0.0.1 included.",
		set: func(c *Config, v string) string {
			if v == "auto" {
				c.PublicIPList = nil
				return ""
			}
			ips, reason := parseIPList(v)
			if reason != "" {
				return reason
			}
			c.PublicIPList = ips
			return ""
		},
		get: func(c *Config) string {
			if c.PublicIPList == nil {
				return "auto"
			}
			s := make([]string, len(c.PublicIPList))
			for i, ip := range c.PublicIPList {
				s[i] = ip.String()
			}
			return strings.Join(s, ", ")
		},
	},
	{
		name: "turn",
		def:  "false",
		doc:  "Run the embedded TURN server on `turn_port` (UDP and TCP) and hand every connection its own credentials, valid only while it is connected, in `offer.config.iceServers`.",
		set:  func(c *Config, v string) string { return setBool(&c.TURN, v) },
		get:  func(c *Config) string { return strconv.FormatBool(c.TURN) },
	},
	{
		name: "turn_port",
		def:  "3478",
		doc:  "UDP and TCP port of the embedded TURN server.",
		set:  func(c *Config, v string) string { return setPort(&c.TURNPort, v) },
		get:  func(c *Config) string { return strconv.Itoa(c.TURNPort) },
	},
	{
		name: "turn_relay_port_range",
		def:  "auto",
		doc:  "Ports the TURN server allocates relays from, as `MIN-MAX` (e.g. `55000-55999`, open them in the firewall). `auto` lets the kernel pick any free port.",
		set: func(c *Config, v string) string {
			if v == "auto" {
				c.TURNRelayPorts = PortRange{}
				return ""
			}
			lo, hi, ok := strings.Cut(v, "-")
			a, err1 := strconv.Atoi(strings.TrimSpace(lo))
			b, err2 := strconv.Atoi(strings.TrimSpace(hi))
			if !ok || err1 != nil || err2 != nil || a < 1024 || b > 65535 || a > b {
				return quoteShort(v) + " is not a port range MIN-MAX (1024-65535) or auto"
			}
			c.TURNRelayPorts = PortRange{a, b}
			return ""
		},
		get: func(c *Config) string {
			if c.TURNRelayPorts == (PortRange{}) {
				return "auto"
			}
			return strconv.Itoa(c.TURNRelayPorts.Min) + "-" + strconv.Itoa(c.TURNRelayPorts.Max)
		},
	},
	{
		name: "ice_transport_policy",
		def:  "all",
		doc:  "`offer.config.iceTransportPolicy`: `all` lets browsers use any candidate, `relay` only the TURN server's.",
		set:  func(c *Config, v string) string { return setEnum(&c.ICETransportPolicy, v, []string{"all", "relay"}) },
		get:  func(c *Config) string { return c.ICETransportPolicy },
	},
	{
		name: "turn_tls_port",
		def:  "5349",
		doc:  "TCP port of TURN over TLS; used only when `turn` is on and `tls_cert_file` is set.",
		set:  func(c *Config, v string) string { return setPort(&c.TURNTLSPort, v) },
		get:  func(c *Config) string { return strconv.Itoa(c.TURNTLSPort) },
	},
	{
		name: "tls_cert_file",
		def:  "",
		doc:  "PEM certificate chain. When set (with `tls_key_file`), signaling is served as `wss://`, the API as `https://`, and TURN also listens over TLS on `turn_tls_port`. Empty: plain TCP, for a TLS-terminating load balancer in front.",
		set:  func(c *Config, v string) string { c.TLSCertFile = v; return "" },
		get:  func(c *Config) string { return c.TLSCertFile },
	},
	{
		name: "tls_key_file",
		def:  "",
		doc:  "PEM private key of `tls_cert_file`. Empty: no TLS (both or neither).",
		set:  func(c *Config, v string) string { c.TLSKeyFile = v; return "" },
		get:  func(c *Config) string { return c.TLSKeyFile },
	},
	{
		name: "admin_address",
		def:  "127.0.0.1",
		doc:  "IP address of the admin listener (`/healthz`, `/metrics`, `/debug/pprof/`). Keep it private.",
		set:  func(c *Config, v string) string { return setIP(&c.AdminAddress, v) },
		get:  func(c *Config) string { return c.AdminAddress.String() },
	},
	{
		name: "admin_port",
		def:  "6060",
		doc:  "TCP port of the admin listener.",
		set:  func(c *Config, v string) string { return setPort(&c.AdminPort, v) },
		get:  func(c *Config) string { return strconv.Itoa(c.AdminPort) },
	},
	{
		name: "log_level",
		def:  "info",
		doc:  "Least severe log level written: `debug`, `info`, `warn` or `error`.",
		set:  func(c *Config, v string) string { return setEnum(&c.LogLevel, v, logLevels) },
		get:  func(c *Config) string { return c.LogLevel },
	},
	{
		name: "log_format",
		def:  "text",
		doc:  "Log line format: `text` (key=value) or `json` (one object per line).",
		set:  func(c *Config, v string) string { return setEnum(&c.LogFormat, v, logFormats) },
		get:  func(c *Config) string { return c.LogFormat },
	},
	{
		name: "ping_interval",
		def:  "5 s",
		doc:  "Interval of the signaling `ping` sent to every client. One clock sends the pings of all clients; it ticks every fifth of this (at most every second), so an interval above 5 s is rounded up to whole seconds.",
		set:  func(c *Config, v string) string { return setDuration(&c.PingInterval, v) },
		get:  func(c *Config) string { return formatDuration(c.PingInterval) },
	},
	{
		name: "pong_timeout",
		def:  "30 s",
		doc: "A client whose last `pong` (or any other message) is older than this is disconnected. " +
			"Must be longer than `ping_interval`.",
		set: func(c *Config, v string) string { return setDuration(&c.PongTimeout, v) },
		get: func(c *Config) string { return formatDuration(c.PongTimeout) },
	},
	{
		name: "signaling_max_message_size",
		def:  "262144",
		doc:  "Largest signaling WebSocket message accepted, in bytes (1024-67108864); a larger one closes the connection.",
		set: func(c *Config, v string) string {
			n, err := strconv.Atoi(v)
			if err != nil || n < minMessageSize || n > maxMessageSize {
				return quoteShort(v) + " is not a size in bytes (1024-67108864)"
			}
			c.SignalingMaxMessageSize = n
			return ""
		},
		get: func(c *Config) string { return strconv.Itoa(c.SignalingMaxMessageSize) },
	},
	{
		name: "signaling_notify",
		def:  "true",
		doc:  "Send `type: notify` messages (`connection.created`, …) to clients.",
		set:  func(c *Config, v string) string { return setBool(&c.SignalingNotify, v) },
		get:  func(c *Config) string { return strconv.FormatBool(c.SignalingNotify) },
	},
	{
		name: "shutdown_timeout",
		def:  "10 s",
		doc:  "On SIGTERM/SIGINT, how long clients get to be disconnected before the process exits anyway.",
		set:  func(c *Config, v string) string { return setDuration(&c.ShutdownTimeout, v) },
		get:  func(c *Config) string { return formatDuration(c.ShutdownTimeout) },
	},
	{
		name: "auth_webhook_url",
		def:  "",
		doc:  "Auth webhook (`http://` or `https://` URL) asked about every connect before it is admitted; its payouts override what the client asked for, a denial or a failure closes with 4490 `AUTH-FAILED`. Empty sends no request.",
		set: func(c *Config, v string) string {
			if v != "" {
				u, err := url.Parse(v)
				if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
					return quoteShort(v) + " is not an http(s) URL"
				}
			}
			c.AuthWebhookURL = v
			return ""
		},
		get: func(c *Config) string { return c.AuthWebhookURL },
	},
	{
		name: "session_webhook_url",
		def:  "",
		doc:  "Session webhook: `session.created` when a channel gets its first connection, `session.destroyed` when its last leaves. Sent in the background by a bounded worker pool; failures and drops are counted, never slow signaling. Empty sends nothing.",
		set: func(c *Config, v string) string {
			if v != "" {
				u, err := url.Parse(v)
				if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
					return quoteShort(v) + " is not an http(s) URL"
				}
			}
			c.SessionWebhookURL = v
			return ""
		},
		get: func(c *Config) string { return c.SessionWebhookURL },
	},
	{
		name: "event_webhook_url",
		def:  "",
		doc:  "Event webhook: `connection.created` and `connection.destroyed` of every connection, sent like the session webhook. Empty sends nothing.",
		set: func(c *Config, v string) string {
			if v != "" {
				u, err := url.Parse(v)
				if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
					return quoteShort(v) + " is not an http(s) URL"
				}
			}
			c.EventWebhookURL = v
			return ""
		},
		get: func(c *Config) string { return c.EventWebhookURL },
	},
	{
		name: "webhook_response_timeout",
		def:  "5 s",
		doc:  "How long a webhook server has to answer; an auth webhook that does not answer in time refuses the connect.",
		set:  func(c *Config, v string) string { return setDuration(&c.WebhookResponseTimeout, v) },
		get:  func(c *Config) string { return formatDuration(c.WebhookResponseTimeout) },
	},
	{
		name: "signaling_auth_secret",
		def:  "",
		doc:  "Built-in token auth for deployments without an auth webhook: every connect's `metadata.access_token` must be an HS256 JWT signed with this secret whose `channel_id` claim matches and whose `exp` has not passed; others are closed with 4490 `AUTH-FAILED`. Empty admits every connect.",
		set:  func(c *Config, v string) string { c.SignalingAuthSecret = v; return "" },
		get:  func(c *Config) string { return c.SignalingAuthSecret },
	},
	{
		name: "signaling_auth_allow_raw_secret",
		def:  "false",
		doc:  "With `signaling_auth_secret`, also accept the secret itself as the access token (as the Sora SDKs' test suites send it).",
		set:  func(c *Config, v string) string { return setBool(&c.SignalingAuthAllowRawSecret, v) },
		get:  func(c *Config) string { return strconv.FormatBool(c.SignalingAuthAllowRawSecret) },
	},
	{
		name: "data_channel_max_message_size",
		def:  "262144",
		doc:  "Largest DataChannel message, in bytes (1024-1048576), announced as `a=max-message-size`; a larger message from a client is dropped and counted.",
		set: func(c *Config, v string) string {
			n, err := strconv.Atoi(v)
			if err != nil || n < 1024 || n > 1<<20 {
				return quoteShort(v) + " is not a size in bytes (1024-1048576)"
			}
			c.DataChannelMaxMessageSize = n
			return ""
		},
		get: func(c *Config) string { return strconv.Itoa(c.DataChannelMaxMessageSize) },
	},
	{
		name: "data_channel_max_buffered_bytes",
		def:  "1048576",
		doc:  "Unsent bytes the server keeps per DataChannel (65536-67108864). Past it a messaging message to that receiver is dropped (counted) and a signaling message closes the connection.",
		set: func(c *Config, v string) string {
			n, err := strconv.Atoi(v)
			if err != nil || n < 65536 || n > 64<<20 {
				return quoteShort(v) + " is not a size in bytes (65536-67108864)"
			}
			c.DataChannelMaxBufferedBytes = n
			return ""
		},
		get: func(c *Config) string { return strconv.Itoa(c.DataChannelMaxBufferedBytes) },
	},
	{
		name: "api_cors_origin",
		def:  "",
		doc:  "Origin (`scheme://host[:port]`, no path) sent in the HTTP API's CORS headers, for browser tools such as sora-devtools. Empty sends no CORS header. Not for production.",
		set: func(c *Config, v string) string {
			if v == "" {
				c.APICORSOrigin = ""
				return ""
			}
			u, err := url.Parse(v)
			if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || (u.Path != "" && u.Path != "/") || u.RawQuery != "" {
				return quoteShort(v) + " is not an origin (scheme://host[:port])"
			}
			c.APICORSOrigin = u.Scheme + "://" + u.Host
			return ""
		},
		get: func(c *Config) string { return c.APICORSOrigin },
	},
	{
		name: "api_max_body_size",
		def:  "1048576",
		doc:  "Largest HTTP API request body accepted, in bytes (1024-1073741824); a larger one gets 413.",
		set: func(c *Config, v string) string {
			n, err := strconv.Atoi(v)
			if err != nil || n < 1024 || n > 1<<30 {
				return quoteShort(v) + " is not a size in bytes (1024-1073741824)"
			}
			c.APIMaxBodySize = n
			return ""
		},
		get: func(c *Config) string { return strconv.Itoa(c.APIMaxBodySize) },
	},
	{
		name: "api_loopback_address_only",
		def:  "false",
		doc:  "Answer HTTP API requests only from loopback addresses (others get 403), as Sora's key of the same name; recommended in production when the API is not behind a proxy.",
		set:  func(c *Config, v string) string { return setBool(&c.APILoopbackAddressOnly, v) },
		get:  func(c *Config) string { return strconv.FormatBool(c.APILoopbackAddressOnly) },
	},
	{
		name: "max_connections",
		def:  "0",
		doc:  "Most connections the server holds at once; a connect beyond it is closed with 4429 `TOO-MANY-CONNECTIONS` and counted. 0: no limit.",
		set:  func(c *Config, v string) string { return setInt(&c.MaxConnections, v, 0, 1<<24) },
		get:  func(c *Config) string { return strconv.Itoa(c.MaxConnections) },
	},
	{
		name: "max_connections_per_channel",
		def:  "0",
		doc:  "Most connections one channel holds at once; refused and counted like `max_connections`. 0: no limit.",
		set:  func(c *Config, v string) string { return setInt(&c.MaxConnectionsPerChannel, v, 0, 1<<24) },
		get:  func(c *Config) string { return strconv.Itoa(c.MaxConnectionsPerChannel) },
	},
	{
		name: "max_connects_per_second_per_address",
		def:  "0",
		doc:  "Most signaling connects per second from one client IP address (a token bucket with a burst of the same size); beyond it the WebSocket is refused with HTTP 429 and counted. 0: no limit.",
		set:  func(c *Config, v string) string { return setInt(&c.MaxConnectsPerSecondPerAddress, v, 0, 1<<20) },
		get:  func(c *Config) string { return strconv.Itoa(c.MaxConnectsPerSecondPerAddress) },
	},
	{
		name: "rtp_forwarding_allow_list",
		def:  "",
		doc:  "Comma-separated CIDR prefixes (e.g. `10.0.0.0/8, 192.0.2.7/32`) that `StartForwardingRtp` may send plain RTP to, besides loopback. Empty allows loopback only.",
		set: func(c *Config, v string) string {
			c.RTPForwardingAllowList = nil
			if strings.TrimSpace(v) == "" {
				return ""
			}
			for _, f := range strings.Split(v, ",") {
				f = strings.TrimSpace(f)
				p, err := netip.ParsePrefix(f)
				if err != nil {
					return quoteShort(f) + " is not a CIDR prefix"
				}
				c.RTPForwardingAllowList = append(c.RTPForwardingAllowList, p.Masked())
			}
			return ""
		},
		get: func(c *Config) string {
			s := make([]string, len(c.RTPForwardingAllowList))
			for i, p := range c.RTPForwardingAllowList {
				s[i] = p.String()
			}
			return strings.Join(s, ", ")
		},
	},
	{
		name: "audio_streaming_url",
		def:  "",
		doc:  "Server that `StartAudioStreaming` sends each publisher's Opus packets to: one HTTP/2 cleartext (`http://`, h2c) POST per connection. Empty: the operation is refused.",
		set:  func(c *Config, v string) string { return setURL(&c.AudioStreamingURL, v, "http") },
		get:  func(c *Config) string { return c.AudioStreamingURL },
	},
	{
		name: "audio_streaming_header",
		def:  "true",
		doc:  "Prefix each Opus packet of an audio stream with the 20-byte header (arrival time in µs, extended RTP sequence number, payload length; all big-endian), as Suzu's `audio_streaming_header = true` expects. `false` sends bare packets.",
		set:  func(c *Config, v string) string { return setBool(&c.AudioStreamingHeader, v) },
		get:  func(c *Config) string { return strconv.FormatBool(c.AudioStreamingHeader) },
	},
	{
		name: "crash_log_dir",
		def:  "",
		doc:  "Directory where the `GenerateCrashLog` API writes its reports. Empty means the system's temporary directory.",
		set:  func(c *Config, v string) string { c.CrashLogDir = v; return "" },
		get:  func(c *Config) string { return c.CrashLogDir },
	},
	{
		name: "cluster",
		def:  "false",
		doc:  "Join this node to a cluster whose state (members, channel owners) is replicated with raft; see the README's cluster section.",
		set:  func(c *Config, v string) string { return setBool(&c.Cluster, v) },
		get:  func(c *Config) string { return strconv.FormatBool(c.Cluster) },
	},
	{
		name: "node_name",
		def:  "hayate@127.0.0.1",
		doc:  "This node's name in the cluster, `name@host` or `name@host:port`: other nodes reach its cluster listener at `host:cluster_port` (or the port given).",
		set: func(c *Config, v string) string {
			if reason := checkNodeName(v); reason != "" {
				return reason
			}
			c.NodeName = v
			return ""
		},
		get: func(c *Config) string { return c.NodeName },
	},
	{
		name: "cluster_port",
		def:  "5100",
		doc:  "TCP port of the cluster listener (raft messages and forwarded API calls), the same on every node.",
		set:  func(c *Config, v string) string { return setPort(&c.ClusterPort, v) },
		get:  func(c *Config) string { return strconv.Itoa(c.ClusterPort) },
	},
	{
		name: "data_dir",
		def:  "data",
		doc:  "Directory of the node's durable cluster state (raft log and snapshots in bbolt). Keep it across restarts: a node restarted with it rejoins as itself.",
		set: func(c *Config, v string) string {
			if v == "" {
				return "is empty"
			}
			c.DataDir = v
			return ""
		},
		get: func(c *Config) string { return c.DataDir },
	},
	{
		name: "contact_node_name_list",
		def:  "",
		doc:  "Comma-separated node names of an existing cluster to join at start (as `JoinCluster` would). Empty: join only through the API.",
		set: func(c *Config, v string) string {
			c.ContactNodeNameList = nil
			if strings.TrimSpace(v) == "" {
				return ""
			}
			for _, f := range strings.Split(v, ",") {
				f = strings.TrimSpace(f)
				if reason := checkNodeName(f); reason != "" {
					return reason
				}
				c.ContactNodeNameList = append(c.ContactNodeNameList, f)
			}
			return ""
		},
		get: func(c *Config) string { return strings.Join(c.ContactNodeNameList, ", ") },
	},
	{
		name: "external_signaling_url",
		def:  "",
		doc:  "This node's signaling URL as clients reach it (`ws://` or `wss://`, e.g. `wss://node1.example/signaling`), sent in `redirect` and listed by `ListClusterNodes`. Empty: built from the node's host and `signaling_port`.",
		set:  func(c *Config, v string) string { return setURL(&c.ExternalSignalingURL, v, "ws", "wss") },
		get:  func(c *Config) string { return c.ExternalSignalingURL },
	},
	{
		name: "external_api_url",
		def:  "",
		doc:  "This node's API URL as other nodes and operators reach it (`http://` or `https://`). Empty: built from the node's host and `api_port`.",
		set:  func(c *Config, v string) string { return setURL(&c.ExternalAPIURL, v, "http", "https") },
		get:  func(c *Config) string { return c.ExternalAPIURL },
	},
	{
		name: "sdk_dir",
		def:  "e2e/node_modules/sora-js-sdk/dist",
		doc:  "Directory the try-it page loads sora-js-sdk from (relative paths are relative to the working directory).",
		set: func(c *Config, v string) string {
			if v == "" {
				return "is empty"
			}
			c.SDKDir = v
			return ""
		},
		get: func(c *Config) string { return c.SDKDir },
	},
}

// lookup returns the row of the named key, or nil.
func lookup(name string) *key {
	for i := range keys {
		if keys[i].name == name {
			return &keys[i]
		}
	}
	return nil
}

func setPort(dst *int, v string) string {
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 || n > 65535 {
		return quoteShort(v) + " is not a port (1-65535)"
	}
	*dst = n
	return ""
}

// setInt parses a decimal integer in [lo, hi].
func setInt(dst *int, v string, lo, hi int) string {
	n, err := strconv.Atoi(v)
	if err != nil || n < lo || n > hi {
		return quoteShort(v) + " is not an integer in " + strconv.Itoa(lo) + "-" + strconv.Itoa(hi)
	}
	*dst = n
	return ""
}

// setURL accepts "" or a URL with one of the schemes and a host.
func setURL(dst *string, v string, schemes ...string) string {
	if v != "" {
		u, err := url.Parse(v)
		if err != nil || !oneOf(u.Scheme, schemes) || u.Host == "" {
			return quoteShort(v) + " is not a " + strings.Join(schemes, " or ") + " URL"
		}
	}
	*dst = v
	return ""
}

// checkNodeName accepts name@host and name@host:port (host: an IP address
// or a DNS name; the name: letters, digits, '-', '_' and '.').
func checkNodeName(v string) string {
	name, host, ok := strings.Cut(v, "@")
	if !ok || name == "" || host == "" {
		return quoteShort(v) + " is not a node name (name@host or name@host:port)"
	}
	for _, r := range name {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_' || r == '.') {
			return quoteShort(v) + " is not a node name: " + strconv.QuoteRune(r) + " in the name part"
		}
	}
	if h, p, err := net.SplitHostPort(host); err == nil {
		if h == "" {
			return quoteShort(v) + " is not a node name: no host"
		}
		if n, err := strconv.Atoi(p); err != nil || n < 1 || n > 65535 {
			return quoteShort(v) + " is not a node name: " + quoteShort(p) + " is not a port"
		}
	}
	return ""
}

func setIP(dst *netip.Addr, v string) string {
	ip, err := netip.ParseAddr(v)
	if err != nil {
		return quoteShort(v) + " is not an IP address"
	}
	*dst = ip
	return ""
}

func parseIPList(v string) ([]netip.Addr, string) {
	parts := strings.Split(v, ",")
	ips := make([]netip.Addr, 0, len(parts))
	for _, p := range parts {
		p = strings.TrimSpace(p)
		ip, err := netip.ParseAddr(p)
		if err != nil {
			return nil, quoteShort(p) + " is not an IP address (list: comma-separated addresses, or auto)"
		}
		ips = append(ips, ip)
	}
	if reason := checkIPList(ips); reason != "" {
		return nil, reason
	}
	return ips, ""
}

// checkIPList refuses lists that cannot be advertised in a candidate.
func checkIPList(ips []netip.Addr) string {
	if len(ips) == 0 {
		return "is empty (leave it out, or write auto)"
	}
	for i, ip := range ips {
		switch {
		case !ip.IsValid():
			return "has an unset address"
		case ip.IsUnspecified() || ip.IsMulticast():
			return strconv.Quote(ip.String()) + " cannot be advertised to clients"
		}
		for _, prev := range ips[:i] {
			if prev == ip {
				return strconv.Quote(ip.String()) + " is listed twice"
			}
		}
	}
	return ""
}

func setBool(dst *bool, v string) string {
	switch v {
	case "true":
		*dst = true
	case "false":
		*dst = false
	default:
		return quoteShort(v) + " is not true or false"
	}
	return ""
}

func setEnum(dst *string, v string, allowed []string) string {
	if !oneOf(v, allowed) {
		return quoteShort(v) + " is not one of " + join(allowed)
	}
	*dst = v
	return ""
}

func oneOf(v string, allowed []string) bool {
	for _, a := range allowed {
		if v == a {
			return true
		}
	}
	return false
}

func join(allowed []string) string { return strings.Join(allowed, ", ") }

func setDuration(dst *time.Duration, v string) string {
	d, ok := parseDuration(v)
	if !ok {
		return quoteShort(v) + " is not a duration (a positive integer and a unit: ms, s, min, h; e.g. 30 s)"
	}
	*dst = d
	return ""
}

// durationUnits are sora.conf's units, largest first (formatDuration picks
// the largest that divides the value).
var durationUnits = []struct {
	name string
	d    time.Duration
}{
	{"h", time.Hour},
	{"min", time.Minute},
	{"s", time.Second},
	{"ms", time.Millisecond},
}

// parseDuration reads "30 s", "30s", "500ms", "5 min", "1h": a positive
// decimal integer, optional spaces, a unit. Go's "m" is refused on purpose:
// sora.conf spells minutes "min".
func parseDuration(v string) (time.Duration, bool) {
	i := 0
	for i < len(v) && v[i] >= '0' && v[i] <= '9' {
		i++
	}
	if i == 0 {
		return 0, false
	}
	n, err := strconv.ParseInt(v[:i], 10, 64) // refuses overflow
	if err != nil || n <= 0 {
		return 0, false
	}
	unit := strings.TrimLeft(v[i:], " \t")
	for _, u := range durationUnits {
		if unit == u.name {
			if n > int64(maxDuration/u.d) {
				return 0, false
			}
			return time.Duration(n) * u.d, true
		}
	}
	return 0, false
}

// maxDuration bounds every duration key; a longer one is a typo.
const maxDuration = 365 * 24 * time.Hour

func formatDuration(d time.Duration) string {
	if d > 0 {
		for _, u := range durationUnits {
			if d%u.d == 0 {
				return strconv.FormatInt(int64(d/u.d), 10) + " " + u.name
			}
		}
	}
	// Not expressible in the file syntax (Go-built config): Go's form.
	return d.String()
}
