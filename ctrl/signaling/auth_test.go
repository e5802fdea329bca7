package signaling

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"testing"
	"time"
)

func hs256(secret string, claims map[string]any) string {
	h := base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"HS256","typ":"JWT"}`))
	c, _ := json.Marshal(claims)
	p := base64.RawURLEncoding.EncodeToString(c)
	m := hmac.New(sha256.New, []byte(secret))
	m.Write([]byte(h + "." + p))
	return h + "." + p + "." + base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

// TestTokenAuth: with AuthSecret set, a connect needs a valid access token
// in its metadata; a refused one closes with 4490 AUTH-FAILED naming why.
func TestTokenAuth(t *testing.T) {
	ts := newTestServer(t, func(c *Config) { c.AuthSecret = "s3cret" })
	exp := float64(time.Now().Add(time.Minute).Unix())
	for _, tc := range []struct {
		name     string
		metadata any
		reason   string
	}{
		{"no metadata", nil, "AUTH-FAILED: metadata.access_token is missing"},
		{"raw secret not allowed", map[string]any{"access_token": "s3cret"}, "AUTH-FAILED: not a JWT"},
		{"other channel", map[string]any{"access_token": hs256("s3cret", map[string]any{"channel_id": "other", "exp": exp})}, "AUTH-FAILED: channel_id claim"},
		{"wrong key", map[string]any{"access_token": hs256("nope", map[string]any{"channel_id": "sora", "exp": exp})}, "AUTH-FAILED: signature"},
	} {
		c := dial(t, ts.url)
		m := connectMsg("sendrecv")
		m["metadata"] = tc.metadata
		c.send(m)
		c.expectClose(CloseAuthFailed, tc.reason)
	}
	c := dial(t, ts.url)
	m := connectMsg("sendrecv")
	m["metadata"] = map[string]any{"access_token": hs256("s3cret", map[string]any{"channel_id": "sora", "exp": exp})}
	c.send(m)
	if got := c.recv(); got["type"] != "offer" {
		t.Fatalf("a valid token got %v, want the offer", got)
	}
	if n := ts.counter(t, "hayate_signaling_auth_failures_total"); n != 4 {
		t.Fatalf("auth failures counted %v, want 4", n)
	}
}
