package webui

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// FuzzOpenInside checks that no name, however odd, opens a file outside the
// SDK directory, and that the handler answers every /sdk/ path without
// panicking or leaking that file.
func FuzzOpenInside(f *testing.F) {
	for _, seed := range []string{
		"sora.js", "sub/extra.js", "../secret.txt", "sub/../../secret.txt", "escape.js", "up/secret.txt",
		"/etc/passwd", "..", ".", "", "a\\..\\secret.txt", "sora.js\x00", "%2e%2e/secret.txt", "sub//extra.js",
	} {
		f.Add(seed)
	}
	dist := newSDKDir(f)
	h := Handler(dist)
	f.Fuzz(func(t *testing.T, name string) {
		if file, _, err := openInside(dist, name); err == nil {
			b, rerr := io.ReadAll(file)
			file.Close()
			if rerr == nil && strings.Contains(string(b), secretBody) {
				t.Fatalf("openInside(%q) opened a file outside the SDK directory", name)
			}
		}
		req := httptest.NewRequest(http.MethodGet, "/", nil)
		req.URL.Path = sdkPrefix + name
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if strings.Contains(rec.Body.String(), secretBody) {
			t.Fatalf("GET %q served a file outside the SDK directory", req.URL.Path)
		}
	})
}
