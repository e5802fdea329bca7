package server

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/hayate-sfu/hayate/ctrl/config"
)

// testConfig is the default configuration on free loopback ports.
func testConfig(t *testing.T) config.Config {
	c := config.Default()
	c.ListenAddress = netip.MustParseAddr("127.0.0.1")
	c.SignalingPort, c.APIPort, c.MediaPort, c.AdminPort = 0, 0, 0, 0
	c.PublicIPList = []netip.Addr{netip.MustParseAddr("127.0.0.1")}
	c.SDKDir = t.TempDir() // no SDK: the page says how to install it
	return c
}

func quietLog() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

func startServer(t *testing.T, c config.Config) *Server {
	t.Helper()
	s, err := New(c, quietLog())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := s.Shutdown(ctx); err != nil {
			t.Errorf("Shutdown: %v", err)
		}
	})
	return s
}

func do(t *testing.T, method, url string, header http.Header) (*http.Response, string) {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), method, url, strings.NewReader("{}"))
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range header {
		req.Header[k] = v
	}
	c := &http.Client{Timeout: 10 * time.Second}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, string(b)
}

func TestURLs(t *testing.T) {
	s := startServer(t, testConfig(t))
	for _, tc := range []struct {
		name, url, scheme, path string
	}{
		{"SignalingURL", s.SignalingURL(), "ws", "/signaling"},
		{"HTTPURL", s.HTTPURL(), "http", "/"},
		{"APIURL", s.APIURL(), "http", "/"},
		{"AdminURL", s.AdminURL(), "http", "/"},
	} {
		u, err := url.Parse(tc.url)
		if err != nil {
			t.Errorf("%s = %q: %v", tc.name, tc.url, err)
			continue
		}
		if u.Scheme != tc.scheme || u.Hostname() != "127.0.0.1" || u.Port() == "0" || u.Port() == "" || u.Path != tc.path {
			t.Errorf("%s = %q, want %s://127.0.0.1:<bound port>%s", tc.name, tc.url, tc.scheme, tc.path)
		}
	}
	if !strings.HasSuffix(s.HTTPURL(), strings.TrimPrefix(strings.TrimSuffix(s.SignalingURL(), "signaling"), "ws")) {
		t.Errorf("HTTPURL %s and SignalingURL %s are not on the same port", s.HTTPURL(), s.SignalingURL())
	}
	if s.Plane() == nil || s.Registry() == nil {
		t.Errorf("Plane() or Registry() is nil")
	}
}

func TestWildcardURLsUseLoopback(t *testing.T) {
	c := testConfig(t)
	c.ListenAddress = netip.MustParseAddr("0.0.0.0")
	s := startServer(t, c)
	if !strings.HasPrefix(s.SignalingURL(), "ws://127.0.0.1:") || !strings.HasPrefix(s.APIURL(), "http://127.0.0.1:") {
		t.Errorf("listen_address 0.0.0.0: SignalingURL %s, APIURL %s; want 127.0.0.1 hosts", s.SignalingURL(), s.APIURL())
	}
}

func TestListenersAnswer(t *testing.T) {
	s := startServer(t, testConfig(t))

	resp, body := do(t, "GET", s.AdminURL()+"healthz", nil)
	if resp.StatusCode != 200 || body != "ok" {
		t.Errorf("GET /healthz = %d %q, want 200 ok", resp.StatusCode, body)
	}
	resp, body = do(t, "GET", s.AdminURL()+"metrics", nil)
	if resp.StatusCode != 200 || !strings.Contains(body, `hayate_build_info{go_version="`) ||
		!strings.Contains(body, `version="`+Version+`"} 1`) {
		t.Errorf("GET /metrics = %d, hayate_build_info with version %s missing:\n%.2000s", resp.StatusCode, Version, body)
	}

	resp, body = do(t, "GET", s.HTTPURL(), nil)
	if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/html") ||
		!strings.Contains(body, "sora-js-sdk is not installed") {
		t.Errorf("GET try-it page = %d %s, want 200 text/html saying the SDK is missing", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
}

// TestAPI: api_port serves ctrl/api over the signaling server's rooms (the
// operations themselves are tested in ctrl/api and e2e/integration).
func TestAPI(t *testing.T) {
	s := startServer(t, testConfig(t))
	for _, tc := range []struct {
		method, path, target string
		status               int
		errorType            string // "" for a success
		body                 string // the exact body of a success
	}{
		{"POST", "", "Sora_20201013.ListChannels", 200, "", "[]"},
		{"POST", "", "Sora_20211215.GetMode", 200, "", `{"mode":"normal"}`},
		{"POST", "", "", 400, "UNKNOWN-TARGET", ""},
		{"POST", "", "Sora_20201013.ListChannelConnections", 400, "MISSING-KEY", ""},
		{"GET", "", "Sora_20201013.ListChannels", 405, "METHOD-NOT-ALLOWED", ""},
		{"POST", "api", "Sora_20201013.ListChannels", 404, "NOT-FOUND", ""},
	} {
		h := http.Header{}
		if tc.target != "" {
			h.Set("x-sora-target", tc.target)
		}
		resp, body := do(t, tc.method, s.APIURL()+tc.path, h)
		if resp.StatusCode != tc.status || resp.Header.Get("Content-Type") != "application/json" {
			t.Errorf("%s /%s target %q = %d %s %s, want %d application/json", tc.method, tc.path, tc.target,
				resp.StatusCode, resp.Header.Get("Content-Type"), body, tc.status)
			continue
		}
		if tc.errorType == "" {
			if body != tc.body {
				t.Errorf("%s /%s target %q: body %s, want %s", tc.method, tc.path, tc.target, body, tc.body)
			}
			continue
		}
		var got struct {
			ErrorType   string `json:"error_type"`
			ErrorReason struct {
				Message string `json:"message"`
			} `json:"error_reason"`
		}
		if err := json.Unmarshal([]byte(body), &got); err != nil || got.ErrorType != tc.errorType || got.ErrorReason.Message == "" {
			t.Errorf("%s /%s target %q: body %s, want error_type %s and an error_reason.message (%v)",
				tc.method, tc.path, tc.target, body, tc.errorType, err)
		}
	}
}

// TestShutdownDisconnectsClients: a connected WebSocket client is closed with
// a close frame that carries a reason, and every port stops accepting.
func TestShutdownDisconnectsClients(t *testing.T) {
	s, err := New(testConfig(t), quietLog())
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	ws, _, err := websocket.Dial(ctx, s.SignalingURL(), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer ws.CloseNow()
	readErr := make(chan error, 1)
	go func() {
		for {
			if _, _, err := ws.Read(ctx); err != nil {
				readErr <- err
				return
			}
		}
	}()

	addrs := []string{hostPort(t, s.SignalingURL()), hostPort(t, s.APIURL()), hostPort(t, s.AdminURL())}
	if err := s.Shutdown(ctx); err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	if err := s.Shutdown(ctx); err != nil {
		t.Fatalf("second Shutdown: %v", err)
	}

	err = <-readErr
	var ce websocket.CloseError
	if !errors.As(err, &ce) || ce.Reason == "" {
		t.Errorf("client read after Shutdown: %v; want a close frame with a reason", err)
	}
	for _, a := range addrs {
		if c, err := net.DialTimeout("tcp", a, 5*time.Second); err == nil {
			c.Close()
			t.Errorf("%s still accepts connections after Shutdown", a)
		}
	}
}

func hostPort(t *testing.T, raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		t.Fatal(err)
	}
	return u.Host
}

func TestNewRefusesBadConfig(t *testing.T) {
	c := testConfig(t)
	c.PongTimeout = c.PingInterval
	if _, err := New(c, quietLog()); !errors.Is(err, config.ErrBadValue) {
		t.Fatalf("New with pong_timeout = ping_interval: %v, want config.ErrBadValue", err)
	}
}

// TestNewBusyPortClosesEverything: when a port is taken, New fails naming
// it and leaves nothing open (the other ports can be bound again).
func TestNewBusyPortClosesEverything(t *testing.T) {
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	free, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	freePort := free.Addr().(*net.TCPAddr).Port
	free.Close()

	c := testConfig(t)
	c.SignalingPort = freePort
	c.AdminPort = busy.Addr().(*net.TCPAddr).Port
	if _, err := New(c, quietLog()); err == nil || !strings.Contains(err.Error(), busy.Addr().String()) {
		t.Fatalf("New with a busy admin port: %v, want an error naming %s", err, busy.Addr())
	}
	ln, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(freePort)))
	if err != nil {
		t.Fatalf("signaling port %d still bound after New failed: %v", freePort, err)
	}
	ln.Close()
}
