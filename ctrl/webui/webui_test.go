package webui

import (
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

const (
	sdkBody    = "export default { version: () => \"test\" };\n"
	secretBody = "TOP-SECRET-OUTSIDE-SDK-DIR"
)

// newSDKDir lays out <tmp>/secret.txt (outside the SDK dir) and
// <tmp>/dist/{sora.js, sora.d.ts, sub/extra.js, escape.js -> ../secret.txt}.
func newSDKDir(t testing.TB) string {
	t.Helper()
	base := t.TempDir()
	dist := filepath.Join(base, "dist")
	must(t, os.MkdirAll(filepath.Join(dist, "sub"), 0o755))
	must(t, os.WriteFile(filepath.Join(base, "secret.txt"), []byte(secretBody), 0o644))
	must(t, os.WriteFile(filepath.Join(dist, SDKFile), []byte(sdkBody), 0o644))
	must(t, os.WriteFile(filepath.Join(dist, "sora.d.ts"), []byte("export {};\n"), 0o644))
	must(t, os.WriteFile(filepath.Join(dist, "sub", "extra.js"), []byte("export const x = 1;\n"), 0o644))
	must(t, os.Symlink(filepath.Join(base, "secret.txt"), filepath.Join(dist, "escape.js")))
	must(t, os.Symlink(base, filepath.Join(dist, "up")))
	return dist
}

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func do(t *testing.T, h http.Handler, method, target string) *http.Response {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(method, target, nil))
	return rec.Result()
}

func body(t *testing.T, resp *http.Response) string {
	t.Helper()
	b, err := io.ReadAll(resp.Body)
	must(t, err)
	return string(b)
}

func TestPage(t *testing.T) {
	dist := newSDKDir(t)
	tests := []struct {
		name        string
		sdkDir      string
		method      string
		wantMissing bool
	}{
		{"sdk installed", dist, http.MethodGet, false},
		{"sdk dir absent", filepath.Join(t.TempDir(), "node_modules", "sora-js-sdk", "dist"), http.MethodGet, true},
		{"sdk dir empty", t.TempDir(), http.MethodGet, true},
		{"head", dist, http.MethodHead, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp := do(t, Handler(tt.sdkDir), tt.method, "/?channel=abc")
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("GET / status = %d, want 200", resp.StatusCode)
			}
			if ct := resp.Header.Get("Content-Type"); ct != "text/html; charset=utf-8" {
				t.Errorf("Content-Type = %q, want text/html; charset=utf-8", ct)
			}
			b := body(t, resp)
			if tt.method == http.MethodHead {
				if b != "" {
					t.Errorf("HEAD / returned a body of %d bytes", len(b))
				}
				return
			}
			for _, want := range []string{
				`import("/sdk/sora.js")`, // the SDK comes from the handler, not a CDN
				`"hayate-demo"`,          // default channel
				`params.get("channel")`,  // ?channel= overrides it
				`location.host + "/signaling"`,
				`<option value="VP8"`, `<option value="VP9"`, `<option value="AV1"`, `<option value="H264"`,
				`<option value="sendrecv"`, `<option value="sendonly"`, `<option value="recvonly"`,
				`conn.on("track"`, `conn.on("removetrack"`, `conn.on("notify"`,
			} {
				if !strings.Contains(b, want) {
					t.Errorf("page lacks %s", want)
				}
			}
			if strings.Contains(b, "<!--SDK-MISSING-->") {
				t.Errorf("page still holds the SDK-MISSING marker")
			}
			gotMissing := strings.Contains(b, MissingSDKMessage)
			if gotMissing != tt.wantMissing {
				t.Errorf("page shows %q: %v, want %v", MissingSDKMessage, gotMissing, tt.wantMissing)
			}
			if gotMissing && !strings.Contains(b, `id="sdk-missing"`) {
				t.Errorf("missing-SDK banner lacks id sdk-missing, which the script checks")
			}
		})
	}
}

func TestSDKInstalledLater(t *testing.T) {
	dir := t.TempDir()
	h := Handler(dir)
	if b := body(t, do(t, h, http.MethodGet, "/")); !strings.Contains(b, MissingSDKMessage) {
		t.Fatalf("before install: page does not say the SDK is missing")
	}
	must(t, os.WriteFile(filepath.Join(dir, SDKFile), []byte(sdkBody), 0o644))
	if b := body(t, do(t, h, http.MethodGet, "/")); strings.Contains(b, MissingSDKMessage) {
		t.Fatalf("after install: page still says the SDK is missing")
	}
}

func TestSDKFiles(t *testing.T) {
	dist := newSDKDir(t)
	h := Handler(dist)
	tests := []struct {
		target     string
		wantStatus int
		wantType   string
		wantBody   string
	}{
		{"/sdk/sora.js", 200, "text/javascript; charset=utf-8", sdkBody},
		{"/sdk/sub/extra.js", 200, "text/javascript; charset=utf-8", "export const x = 1;\n"},
		{"/sdk/sora.d.ts", 200, "text/plain; charset=utf-8", "export {};\n"},
		{"/sdk/missing.js", 404, "", ""},
		{"/sdk/", 404, "", ""},       // no directory listing
		{"/sdk/sub", 404, "", ""},    // a directory
		{"/sdk/sub/", 404, "", ""},   // a directory
		{"/sdk", 404, "", ""},        // not under the prefix
		{"/nope", 404, "", ""},       // unknown
		{"/index.html", 404, "", ""}, // the page lives at / only
		{"/sora.js", 404, "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.target, func(t *testing.T) {
			resp := do(t, h, http.MethodGet, tt.target)
			b := body(t, resp)
			if resp.StatusCode != tt.wantStatus {
				t.Fatalf("GET %s status = %d, want %d (body %q)", tt.target, resp.StatusCode, tt.wantStatus, b)
			}
			if tt.wantStatus != 200 {
				return
			}
			if ct := resp.Header.Get("Content-Type"); ct != tt.wantType {
				t.Errorf("GET %s Content-Type = %q, want %q", tt.target, ct, tt.wantType)
			}
			if b != tt.wantBody {
				t.Errorf("GET %s body = %q, want %q", tt.target, b, tt.wantBody)
			}
		})
	}
}

func TestTraversalRefused(t *testing.T) {
	dist := newSDKDir(t)
	h := Handler(dist)
	for _, target := range []string{
		"/sdk/../secret.txt",
		"/sdk/..%2fsecret.txt",
		"/sdk/%2e%2e/secret.txt",
		"/sdk/%2e%2e%2fsecret.txt",
		"/sdk/sub/../../secret.txt",
		"/sdk/./../secret.txt",
		"/sdk//etc/passwd",
		"/sdk/..\\secret.txt",
		"/sdk/escape.js",     // symlink to ../secret.txt
		"/sdk/up/secret.txt", // symlink to the parent directory
		"/sdk/" + dist + "/../secret.txt",
	} {
		t.Run(target, func(t *testing.T) {
			resp := do(t, h, http.MethodGet, target)
			b := body(t, resp)
			if resp.StatusCode != http.StatusNotFound {
				t.Errorf("GET %s status = %d, want 404", target, resp.StatusCode)
			}
			if strings.Contains(b, secretBody) {
				t.Errorf("GET %s leaked a file outside the SDK directory", target)
			}
		})
	}
}

func TestMethodNotAllowed(t *testing.T) {
	h := Handler(newSDKDir(t))
	for _, tt := range []struct{ method, target string }{
		{http.MethodPost, "/"},
		{http.MethodPut, "/sdk/sora.js"},
		{http.MethodDelete, "/sdk/sora.js"},
	} {
		resp := do(t, h, tt.method, tt.target)
		if resp.StatusCode != http.StatusMethodNotAllowed {
			t.Errorf("%s %s status = %d, want 405", tt.method, tt.target, resp.StatusCode)
		}
		if allow := resp.Header.Get("Allow"); allow != "GET, HEAD" {
			t.Errorf("%s %s Allow = %q, want \"GET, HEAD\"", tt.method, tt.target, allow)
		}
	}
}

func TestOpenInsideErrors(t *testing.T) {
	dist := newSDKDir(t)
	tests := []struct {
		name string
		want error
	}{
		{"../secret.txt", ErrWebUIBadName},
		{"", ErrWebUIBadName},
		{"/etc/passwd", ErrWebUIBadName},
		{"a\\b.js", ErrWebUIBadName},
		{"sub", ErrWebUINotFile},
	}
	for _, tt := range tests {
		f, _, err := openInside(dist, tt.name)
		if f != nil {
			f.Close()
		}
		if !errors.Is(err, tt.want) {
			t.Errorf("openInside(%q) error = %v, want %v", tt.name, err, tt.want)
		}
		if err != nil && tt.name != "" && !strings.Contains(err.Error(), strconv.Quote(tt.name)) {
			t.Errorf("openInside(%q) error %q does not name the input", tt.name, err)
		}
	}
}
