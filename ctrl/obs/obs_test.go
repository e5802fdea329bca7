package obs

import (
	"bytes"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

func TestNewLogger(t *testing.T) {
	for _, tc := range []struct {
		level, format string
		// which of debug, info, warn, error get written
		written [4]bool
	}{
		{"debug", "text", [4]bool{true, true, true, true}},
		{"info", "text", [4]bool{false, true, true, true}},
		{"warn", "json", [4]bool{false, false, true, true}},
		{"error", "json", [4]bool{false, false, false, true}},
		{"bogus", "bogus", [4]bool{false, true, true, true}}, // info, text
	} {
		var buf bytes.Buffer
		log := NewLogger(tc.level, tc.format, &buf)
		levels := []slog.Level{slog.LevelDebug, slog.LevelInfo, slog.LevelWarn, slog.LevelError}
		for i, l := range levels {
			buf.Reset()
			log.Log(t.Context(), l, "hello", "k", "v")
			if got := buf.Len() > 0; got != tc.written[i] {
				t.Errorf("level %s format %s: %s written = %v, want %v", tc.level, tc.format, l, got, tc.written[i])
				continue
			}
			if !tc.written[i] {
				continue
			}
			line := buf.String()
			if tc.format == "json" {
				var m map[string]any
				if err := json.Unmarshal(buf.Bytes(), &m); err != nil {
					t.Errorf("json line %q: %v", line, err)
				} else if m["msg"] != "hello" || m["k"] != "v" || m["level"] != l.String() {
					t.Errorf("json line %q lacks msg/k/level", line)
				}
			} else if !strings.Contains(line, "level="+l.String()+" msg=hello k=v") {
				t.Errorf("text line %q lacks level=%s msg=hello k=v", line, l)
			}
		}
	}
}

func startAdmin(t *testing.T, reg *prometheus.Registry) *Admin {
	t.Helper()
	a, err := NewAdmin("127.0.0.1:0", reg, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- a.Serve() }()
	t.Cleanup(func() {
		if err := a.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("Serve after Close = %v, want nil", err)
			}
		case <-time.After(10 * time.Second):
			t.Errorf("Serve did not return after Close")
		}
	})
	return a
}

func get(t *testing.T, url string) (status int, contentType, body string) {
	t.Helper()
	c := &http.Client{Timeout: 10 * time.Second}
	resp, err := c.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, resp.Header.Get("Content-Type"), string(b)
}

func TestAdminEndpoints(t *testing.T) {
	reg := prometheus.NewRegistry()
	joins := prometheus.NewCounter(prometheus.CounterOpts{Name: "hayate_test_joins_total", Help: "Test counter."})
	reg.MustRegister(joins)
	joins.Add(3)
	a := startAdmin(t, reg)
	base := "http://" + a.Addr().String()
	if host, _, _ := net.SplitHostPort(a.Addr().String()); host != "127.0.0.1" {
		t.Errorf("Addr() = %s, want 127.0.0.1:<port>", a.Addr())
	}

	for _, tc := range []struct {
		path        string
		contentType string   // prefix
		contains    []string // in the body
	}{
		{"/healthz", "text/plain", []string{"ok"}},
		{"/metrics", "text/plain", []string{
			"# TYPE hayate_test_joins_total counter\nhayate_test_joins_total 3\n",
			"go_goroutines ",
			"process_cpu_seconds_total ",
		}},
		{"/debug/pprof/", "text/html", []string{"goroutine", "heap"}},
		{"/debug/pprof/goroutine?debug=1", "text/plain", []string{"goroutine profile: total"}},
		{"/debug/pprof/cmdline", "text/plain", []string{"obs.test"}},
	} {
		status, ct, body := get(t, base+tc.path)
		if status != http.StatusOK {
			t.Errorf("GET %s: status %d, want 200", tc.path, status)
		}
		if !strings.HasPrefix(ct, tc.contentType) {
			t.Errorf("GET %s: Content-Type %q, want %s…", tc.path, ct, tc.contentType)
		}
		for _, s := range tc.contains {
			if !strings.Contains(body, s) {
				t.Errorf("GET %s: body lacks %q", tc.path, s)
			}
		}
		if tc.path == "/healthz" && body != "ok" {
			t.Errorf("GET /healthz: body %q, want \"ok\"", body)
		}
	}

	// Only the admin mux is served: nothing else answers.
	if status, _, _ := get(t, base+"/debug/vars"); status != http.StatusNotFound {
		t.Errorf("GET /debug/vars: status %d, want 404", status)
	}
}

func TestAdminNilRegistry(t *testing.T) {
	a := startAdmin(t, nil)
	status, _, body := get(t, "http://"+a.Addr().String()+"/metrics")
	if status != http.StatusOK || !strings.Contains(body, "go_goroutines ") {
		t.Fatalf("GET /metrics with no registry: %d, go_goroutines present = %v", status, strings.Contains(body, "go_goroutines "))
	}
}

func TestAdminCloseStopsListening(t *testing.T) {
	a, err := NewAdmin("127.0.0.1:0", nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- a.Serve() }()
	addr := a.Addr().String()
	if status, _, _ := get(t, "http://"+addr+"/healthz"); status != http.StatusOK {
		t.Fatalf("healthz status %d", status)
	}
	if err := a.Close(); err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Fatalf("Serve after Close = %v, want nil", err)
	}
	if err := a.Close(); err != nil {
		t.Fatalf("second Close = %v, want nil", err)
	}
	if c, err := net.Dial("tcp", addr); err == nil {
		c.Close()
		t.Fatalf("%s still accepts connections after Close", addr)
	}
}

func TestAdminCloseWithoutServe(t *testing.T) {
	a, err := NewAdmin("127.0.0.1:0", nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	addr := a.Addr().String()
	if err := a.Close(); err != nil {
		t.Fatal(err)
	}
	if c, err := net.Dial("tcp", addr); err == nil {
		c.Close()
		t.Fatalf("%s still accepts connections after Close", addr)
	}
}

func TestAdminPortInUse(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	_, err = NewAdmin(ln.Addr().String(), nil, nil)
	if err == nil || !strings.Contains(err.Error(), ln.Addr().String()) {
		t.Fatalf("NewAdmin on a busy port: err = %v, want one naming %s", err, ln.Addr())
	}
}
