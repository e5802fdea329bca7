package config

import (
	"errors"
	"net/netip"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

func ip(s string) netip.Addr { return netip.MustParseAddr(s) }

// want is the configuration of the key list, written out by hand so
// that a changed default is a failing test, not a silent change.
var wantDefault = Config{
	ListenAddress:               ip("0.0.0.0"),
	SignalingPort:               5000,
	APIPort:                     3000,
	MediaPort:                   50000,
	PublicIPList:                nil, // auto
	MediaGSO:                    true,
	MediaReadBufferSize:         4194304,
	MediaWriteBufferSize:        4194304,
	ICETCP:                      true,
	AudioStreamingHeader:        true,
	TURNPort:                    3478,
	TURNTLSPort:                 5349,
	NodeName:                    "hayate@127.0.0.1",
	ClusterPort:                 5100,
	DataDir:                     "data",
	ICETransportPolicy:          "all",
	AdminAddress:                ip("127.0.0.1"),
	AdminPort:                   6060,
	LogLevel:                    "info",
	LogFormat:                   "text",
	PingInterval:                5 * time.Second,
	PongTimeout:                 30 * time.Second,
	SignalingMaxMessageSize:     262144,
	SignalingNotify:             true,
	ShutdownTimeout:             10 * time.Second,
	WebhookResponseTimeout:      5 * time.Second,
	APIMaxBodySize:              1048576,
	DataChannelMaxMessageSize:   262144,
	DataChannelMaxBufferedBytes: 1048576,
	SDKDir:                      "e2e/node_modules/sora-js-sdk/dist",
}

func TestDefault(t *testing.T) {
	got := Default()
	if !reflect.DeepEqual(got, wantDefault) {
		t.Fatalf("Default() = %+v\nwant %+v", got, wantDefault)
	}
	if err := got.Validate(); err != nil {
		t.Fatalf("Default().Validate() = %v", err)
	}
}

func TestLoadNothing(t *testing.T) {
	got, err := Load("", []string{"PATH=/bin", "HOME=/root", "HAYATEX=1", "HAYATE=2"})
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, wantDefault) {
		t.Fatalf("Load with no file and no HAYATE_ variable = %+v, want the defaults", got)
	}
}

func writeFile(t *testing.T, text string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "hayate.conf")
	if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestLoadFileEveryKey(t *testing.T) {
	const text = "# Hayate test configuration\r\n" +
		"\n" +
		"   # indented comment\n" +
		"listen_address = 127.0.0.1\n" +
		"signaling_port=5001   # no spaces around '='\n" +
		"api_port = 3001\t# tab before the comment\n" +
		"media_port = 50001\n" +
		"media_gso = false\n" +
		"media_loops = 3\n" +
		"media_read_buffer_size = 1048576\n" +
		"media_write_buffer_size = 2097152\n" +
		"ice_tcp = false\n" +
		"turn_tls_port = 5350\n" +
		"tls_cert_file = /etc/hayate/cert.pem\n" +
		"tls_key_file = /etc/hayate/key.pem\n" +
		"max_connections = 1000\n" +
		"max_connections_per_channel = 50\n" +
		"max_connects_per_second_per_address = 20\n" +
		"audio_streaming_url = http://127.0.0.1:9000/stream\n" +
		"audio_streaming_header = false\n" +
		"cluster = true\n" +
		"node_name = node1@127.0.0.2\n" +
		"cluster_port = 5101\n" +
		"data_dir = /var/lib/hayate\n" +
		"contact_node_name_list = node2@127.0.0.3, node3@127.0.0.4:5102\n" +
		"external_signaling_url = wss://node1.example/signaling\n" +
		"external_api_url = https://node1.example:3000/\n" +
		"turn = true\n" +
		"turn_port = 3479\n" +
		"turn_relay_port_range = 55000-55999\n" +
		"ice_transport_policy = relay\n" +
		"public_ip_list = 192.0.2.1,192.0.2.2 , 2001:db8::1\r\n" +
		"admin_address = ::1\n" +
		"admin_port = 6061\n" +
		"log_level = debug\n" +
		"log_format = json\n" +
		"ping_interval = 500ms\n" +
		"pong_timeout = 2 min\n" +
		"signaling_max_message_size = 1024\n" +
		"signaling_notify = false\n" +
		"shutdown_timeout = 1h\n" +
		"auth_webhook_url = http://127.0.0.1:8080/auth\n" +
		"session_webhook_url = http://127.0.0.1:8080/session\n" +
		"event_webhook_url = https://hooks.example/event\n" +
		"webhook_response_timeout = 30 s\n" +
		"signaling_auth_secret = s3cret\n" +
		"signaling_auth_allow_raw_secret = true\n" +
		"data_channel_max_message_size = 65536\n" +
		"data_channel_max_buffered_bytes = 131072\n" +
		"api_cors_origin = http://127.0.0.1:3333\n" +
		"api_max_body_size = 2048\n" +
		"api_loopback_address_only = true\n" +
		"crash_log_dir = /var/log/hayate\n" +
		"rtp_forwarding_allow_list = 192.0.2.0/24, 198.51.100.7/32\n" +
		"sdk_dir = /opt/sdk#1/dist # the first '#' is part of the path\n"
	got, err := Load(writeFile(t, text), nil)
	if err != nil {
		t.Fatal(err)
	}
	want := Config{
		ListenAddress:                  ip("127.0.0.1"),
		SignalingPort:                  5001,
		APIPort:                        3001,
		MediaPort:                      50001,
		PublicIPList:                   []netip.Addr{ip("192.0.2.1"), ip("192.0.2.2"), ip("2001:db8::1")},
		MediaLoops:                     3,
		MediaReadBufferSize:            1048576,
		MediaWriteBufferSize:           2097152,
		TURNTLSPort:                    5350,
		TLSCertFile:                    "/etc/hayate/cert.pem",
		TLSKeyFile:                     "/etc/hayate/key.pem",
		MaxConnections:                 1000,
		MaxConnectionsPerChannel:       50,
		MaxConnectsPerSecondPerAddress: 20,
		AudioStreamingURL:              "http://127.0.0.1:9000/stream",
		Cluster:                        true,
		NodeName:                       "node1@127.0.0.2",
		ClusterPort:                    5101,
		DataDir:                        "/var/lib/hayate",
		ContactNodeNameList:            []string{"node2@127.0.0.3", "node3@127.0.0.4:5102"},
		ExternalSignalingURL:           "wss://node1.example/signaling",
		ExternalAPIURL:                 "https://node1.example:3000/",
		TURN:                           true,
		TURNPort:                       3479,
		TURNRelayPorts:                 PortRange{55000, 55999},
		ICETransportPolicy:             "relay",
		AdminAddress:                   ip("::1"),
		AdminPort:                      6061,
		LogLevel:                       "debug",
		LogFormat:                      "json",
		PingInterval:                   500 * time.Millisecond,
		PongTimeout:                    2 * time.Minute,
		SignalingMaxMessageSize:        1024,
		SignalingNotify:                false,
		ShutdownTimeout:                time.Hour,
		AuthWebhookURL:                 "http://127.0.0.1:8080/auth",
		SessionWebhookURL:              "http://127.0.0.1:8080/session",
		EventWebhookURL:                "https://hooks.example/event",
		WebhookResponseTimeout:         30 * time.Second,
		SignalingAuthSecret:            "s3cret",
		SignalingAuthAllowRawSecret:    true,
		DataChannelMaxMessageSize:      65536,
		DataChannelMaxBufferedBytes:    131072,
		APICORSOrigin:                  "http://127.0.0.1:3333",
		APIMaxBodySize:                 2048,
		APILoopbackAddressOnly:         true,
		CrashLogDir:                    "/var/log/hayate",
		RTPForwardingAllowList:         []netip.Prefix{netip.MustParsePrefix("192.0.2.0/24"), netip.MustParsePrefix("198.51.100.7/32")},
		SDKDir:                         "/opt/sdk#1/dist",
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("got  %+v\nwant %+v", got, want)
	}
}

func TestEnvOverridesFile(t *testing.T) {
	path := writeFile(t, "signaling_port = 5001\napi_port = 3001\nlog_level = warn\n")
	got, err := Load(path, []string{
		"HAYATE_API_PORT=3002",
		"HAYATE_PUBLIC_IP_LIST= 127.0.0.1 ",
		"HAYATE_LOG_LEVEL=error",
		"HAYATE_LOG_LEVEL=debug", // the later entry wins, as in exec.Cmd.Env
		"HAYATE_SIGNALING_NOTIFY=false",
		"OTHER_API_PORT=1",
	})
	if err != nil {
		t.Fatal(err)
	}
	if got.SignalingPort != 5001 {
		t.Errorf("signaling_port = %d, want 5001 from the file", got.SignalingPort)
	}
	if got.APIPort != 3002 {
		t.Errorf("api_port = %d, want 3002 from HAYATE_API_PORT over the file's 3001", got.APIPort)
	}
	if got.LogLevel != "debug" {
		t.Errorf("log_level = %q, want debug (last HAYATE_LOG_LEVEL)", got.LogLevel)
	}
	if want := []netip.Addr{ip("127.0.0.1")}; !reflect.DeepEqual(got.PublicIPList, want) {
		t.Errorf("public_ip_list = %v, want %v", got.PublicIPList, want)
	}
	if got.SignalingNotify {
		t.Errorf("signaling_notify = true, want false from the environment")
	}
	if got.MediaPort != 50000 {
		t.Errorf("media_port = %d, want the default 50000", got.MediaPort)
	}
}

func TestDurations(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want time.Duration
	}{
		{"30s", 30 * time.Second},
		{"30 s", 30 * time.Second},
		{"30\ts", 30 * time.Second},
		{"500ms", 500 * time.Millisecond},
		{"500 ms", 500 * time.Millisecond},
		{"5 min", 5 * time.Minute},
		{"5min", 5 * time.Minute},
		{"1h", time.Hour},
		{"1 h", time.Hour},
		{"8760 h", 365 * 24 * time.Hour},
	} {
		got, err := Load("", []string{"HAYATE_SHUTDOWN_TIMEOUT=" + tc.in})
		if err != nil {
			t.Errorf("%q: %v", tc.in, err)
			continue
		}
		if got.ShutdownTimeout != tc.want {
			t.Errorf("%q = %v, want %v", tc.in, got.ShutdownTimeout, tc.want)
		}
	}
	for _, in := range []string{"", "30", "s", "1m", "5 minutes", "0s", "-1s", "1.5s", "30 s s", "8761 h",
		"99999999999999999999 ms", "+3s", "3 S"} {
		_, err := Load("", []string{"HAYATE_SHUTDOWN_TIMEOUT=" + in})
		if !errors.Is(err, ErrBadValue) {
			t.Errorf("%q: err = %v, want ErrBadValue", in, err)
		}
	}
}

// TestBadValues checks the message a user sees for every kind of refused
// value, from the file (with the line) and from the environment.
func TestBadValues(t *testing.T) {
	for _, tc := range []struct {
		file, env string
		want      string
	}{
		{file: "api_port = abc", want: `config: line 1: api_port: "abc" is not a port (1-65535)`},
		{env: "HAYATE_API_PORT=abc", want: `config: HAYATE_API_PORT: "abc" is not a port (1-65535)`},
		{env: "HAYATE_SIGNALING_PORT=0", want: `config: HAYATE_SIGNALING_PORT: "0" is not a port (1-65535)`},
		{file: "media_port = 65536", want: `config: line 1: media_port: "65536" is not a port (1-65535)`},
		{file: "admin_port =", want: `config: line 1: admin_port: "" is not a port (1-65535)`},
		{file: "listen_address = localhost", want: `config: line 1: listen_address: "localhost" is not an IP address`},
		{env: "HAYATE_ADMIN_ADDRESS=1.2.3", want: `config: HAYATE_ADMIN_ADDRESS: "1.2.3" is not an IP address`},
		{file: "public_ip_list = 192.0.2.1,,192.0.2.2",
			want: `config: line 1: public_ip_list: "" is not an IP address (list: comma-separated addresses, or auto)`},
		{file: "public_ip_list = 192.0.2.1, 192.0.2.1",
			want: `config: line 1: public_ip_list: "192.0.2.1" is listed twice`},
		{file: "public_ip_list = 0.0.0.0",
			want: `config: line 1: public_ip_list: "0.0.0.0" cannot be advertised to clients`},
		{file: "log_level = verbose", want: `config: line 1: log_level: "verbose" is not one of debug, info, warn, error`},
		{file: "log_level = INFO", want: `config: line 1: log_level: "INFO" is not one of debug, info, warn, error`},
		{env: "HAYATE_LOG_FORMAT=xml", want: `config: HAYATE_LOG_FORMAT: "xml" is not one of text, json`},
		{file: "ping_interval = 5",
			want: `config: line 1: ping_interval: "5" is not a duration (a positive integer and a unit: ms, s, min, h; e.g. 30 s)`},
		{file: "signaling_max_message_size = 256k",
			want: `config: line 1: signaling_max_message_size: "256k" is not a size in bytes (1024-67108864)`},
		{file: "signaling_max_message_size = 100",
			want: `config: line 1: signaling_max_message_size: "100" is not a size in bytes (1024-67108864)`},
		{env: "HAYATE_SIGNALING_NOTIFY=yes", want: `config: HAYATE_SIGNALING_NOTIFY: "yes" is not true or false`},
		{file: "sdk_dir = ", want: `config: line 1: sdk_dir: is empty`},
		// Rules that tie keys together (Validate).
		{file: "ping_interval = 30 s", want: `config: pong_timeout: 30 s is not longer than ping_interval (30 s)`},
		{env: "HAYATE_API_PORT=5000", want: `config: api_port: 5000 is also signaling_port`},
	} {
		path := ""
		if tc.file != "" {
			path = writeFile(t, tc.file+"\n")
		}
		var env []string
		if tc.env != "" {
			env = []string{tc.env}
		}
		_, err := Load(path, env)
		if err == nil {
			t.Errorf("%s%s: no error, want %s", tc.file, tc.env, tc.want)
			continue
		}
		if err.Error() != tc.want {
			t.Errorf("%s%s:\n got %s\nwant %s", tc.file, tc.env, err, tc.want)
		}
		if !errors.Is(err, ErrBadValue) {
			t.Errorf("%s%s: errors.Is(err, ErrBadValue) = false", tc.file, tc.env)
		}
	}
}

func TestUnknownKey(t *testing.T) {
	path := writeFile(t, "# comment\nsignaling_port = 5000\nsigaling_port = 5000\nfrobnicate = 1\nLOG_LEVEL = info\n")
	_, err := Load(path, []string{"HAYATE_API_PROT=3000"})
	want := `config: line 3: unknown key "sigaling_port" (did you mean "signaling_port"?)` + "\n" +
		`config: line 4: unknown key "frobnicate"` + "\n" +
		`config: line 5: unknown key "LOG_LEVEL" (did you mean "log_level"?)` + "\n" +
		`config: HAYATE_API_PROT: unknown key "api_prot" (did you mean "api_port"?)`
	if err == nil || err.Error() != want {
		t.Fatalf("err = %v\nwant %s", err, want)
	}
	if !errors.Is(err, ErrUnknownKey) {
		t.Errorf("errors.Is(err, ErrUnknownKey) = false")
	}
	var e *Error
	if !errors.As(err, &e) || e.Line != 3 || e.Key != "sigaling_port" {
		t.Errorf("errors.As: first *Error = %+v, want line 3, key sigaling_port", e)
	}
}

func TestSyntaxAndDuplicate(t *testing.T) {
	for _, tc := range []struct {
		file     string
		want     string
		sentinel error
	}{
		{"signaling_port 5000\n", `config: line 1: "signaling_port 5000" is not a "key = value" line`, ErrSyntax},
		{"\n\n= 5000\n", `config: line 3: "= 5000" is not a "key = value" line`, ErrSyntax},
		{"api_port = 3001\nlog_level = info\napi_port = 3002\n",
			`config: line 3: api_port: set again (first set on line 1)`, ErrDuplicateKey},
	} {
		_, err := Load(writeFile(t, tc.file), nil)
		if err == nil || err.Error() != tc.want {
			t.Errorf("%q: err = %v\nwant %s", tc.file, err, tc.want)
		}
		if !errors.Is(err, tc.sentinel) {
			t.Errorf("%q: errors.Is(err, %v) = false", tc.file, tc.sentinel)
		}
	}
}

func TestLoadMissingFile(t *testing.T) {
	_, err := Load(filepath.Join(t.TempDir(), "nope.conf"), nil)
	if !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("err = %v, want os.ErrNotExist", err)
	}
}

func TestValidateGoConfig(t *testing.T) {
	c := Default()
	c.SignalingPort, c.APIPort, c.MediaPort, c.AdminPort = 0, 0, 0, 0
	c.PublicIPList = []netip.Addr{ip("127.0.0.1")}
	if err := c.Validate(); err != nil {
		t.Fatalf("ports 0 (free port) from Go: %v", err)
	}

	c = Default()
	c.APIPort = -1
	c.MediaPort = 70000
	c.ListenAddress = netip.Addr{}
	c.PublicIPList = []netip.Addr{}
	c.LogLevel = ""
	c.PingInterval = 0
	c.SDKDir = ""
	err := c.Validate()
	want := strings.Join([]string{
		`config: api_port: -1 is not a port (0-65535)`,
		`config: media_port: 70000 is not a port (0-65535)`,
		`config: listen_address: is not set`,
		`config: public_ip_list: is empty (leave it out, or write auto)`,
		`config: log_level: "" is not one of debug, info, warn, error`,
		`config: ping_interval: 0s is not a positive duration`,
		`config: sdk_dir: is empty`,
	}, "\n")
	if err == nil || err.Error() != want {
		t.Fatalf("err =\n%v\nwant\n%s", err, want)
	}
}

// TestRoundTrip: what LogValue prints is a valid file that loads back to the
// same configuration.
func TestRoundTrip(t *testing.T) {
	c := Default()
	c.PublicIPList = []netip.Addr{ip("127.0.0.1"), ip("2001:db8::2")}
	c.PongTimeout = 90 * time.Second
	c.PingInterval = 1500 * time.Millisecond
	got, err := load([]byte(format(c)), nil)
	if err != nil {
		t.Fatalf("%v\nfile:\n%s", err, format(c))
	}
	if !reflect.DeepEqual(got, c) {
		t.Fatalf("round trip:\n got %+v\nwant %+v", got, c)
	}
}

// format writes c in the file syntax, one key per line.
func format(c Config) string {
	var b strings.Builder
	for _, a := range c.LogValue().Group() {
		b.WriteString(a.Key + " = " + a.Value.String() + "\n")
	}
	return b.String()
}

func TestHostIPs(t *testing.T) {
	ips, err := HostIPs()
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, a := range ips {
		if !a.Is4() {
			t.Errorf("HostIPs() has %v, want IPv4 only", a)
		}
		found = found || a == ip("127.0.0.1")
	}
	if !found {
		t.Errorf("HostIPs() = %v, want 127.0.0.1 among them", ips)
	}
	resolved, err := Default().ResolvePublicIPs()
	if err != nil || !reflect.DeepEqual(resolved, ips) {
		t.Errorf("Default().ResolvePublicIPs() = %v, %v; want HostIPs() %v", resolved, err, ips)
	}
}

func TestKeysMatchConfig(t *testing.T) {
	// Every field of Config is set by exactly one key: a field added without
	// a key (or the other way round) fails here.
	if n, k := reflect.TypeFor[Config]().NumField(), len(Keys()); n != k {
		t.Fatalf("Config has %d fields but the key table has %d keys", n, k)
	}
	for _, k := range Keys() {
		if k.Doc == "" {
			t.Errorf("key %s lacks a doc", k.Name)
		}
		// An empty default must be explained: the doc says what empty means.
		if k.Default == "" && !strings.Contains(k.Doc, "Empty") {
			t.Errorf("key %s has an empty default that its doc does not explain", k.Name)
		}
		if k.Env() != "HAYATE_"+strings.ToUpper(k.Name) {
			t.Errorf("Env() of %s = %s", k.Name, k.Env())
		}
	}
}
