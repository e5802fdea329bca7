package webhook

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestAuthAllowedDeniedAndFailures(t *testing.T) {
	var mu sync.Mutex
	var got map[string]any
	var gotHeader string
	answer := `{"allowed": true, "client_id": "alice", "metadata": {"k": 1}}`
	status := 200
	delay := time.Duration(0)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		d, st, a := delay, status, answer
		mu.Unlock()
		time.Sleep(d)
		b, _ := io.ReadAll(r.Body)
		mu.Lock()
		_ = json.Unmarshal(b, &got)
		gotHeader = r.Header.Get("sora-connection-id")
		mu.Unlock()
		w.WriteHeader(st)
		_, _ = io.WriteString(w, a)
	}))
	defer srv.Close()
	c := New(Config{AuthURL: srv.URL, Timeout: 300 * time.Millisecond, Label: "Hayate", Version: "0.1"})
	now := time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)
	req := AuthRequest{ConnectionID: "CONN", Fields: map[string]any{"role": "sendrecv", "channel_id": "ch", "metadata": map[string]any{"access_token": "x"}}}

	res, err := c.Auth(context.Background(), req, now)
	if err != nil {
		t.Fatal(err)
	}
	if string(res.Payouts["client_id"]) != `"alice"` || string(res.Payouts["metadata"]) != `{"k": 1}` {
		t.Fatalf("payouts %v", res.Payouts)
	}
	if _, ok := res.Payouts["allowed"]; ok {
		t.Fatal("allowed is not a payout")
	}
	mu.Lock()
	if got["connection_id"] != "CONN" || got["role"] != "sendrecv" || got["label"] != "Hayate" || got["timestamp"] != "2026-11-27T12:00:00.000Z" || gotHeader != "CONN" {
		t.Fatalf("request body %v header %q", got, gotHeader)
	}
	mu.Unlock()

	mu.Lock()
	answer = `{"allowed": false, "reason": "NO-TICKET"}`
	mu.Unlock()
	if _, err := c.Auth(context.Background(), req, now); !errors.Is(err, ErrDenied) || !strings.Contains(err.Error(), "NO-TICKET") {
		t.Fatalf("denied: %v", err)
	}
	for name, tweak := range map[string]func(){
		"status 500": func() { status, answer = 500, `{"allowed": true}` },
		"not JSON":   func() { status, answer = 200, `allowed` },
		"timeout":    func() { status, answer, delay = 200, `{"allowed": true}`, time.Second },
	} {
		mu.Lock()
		tweak()
		mu.Unlock()
		if _, err := c.Auth(context.Background(), req, now); !errors.Is(err, ErrAuthFailed) {
			t.Fatalf("%s: %v", name, err)
		}
		mu.Lock()
		delay = 0
		mu.Unlock()
	}
	if c.Counters.Allowed.Load() != 1 || c.Counters.Denied.Load() != 1 || c.Counters.Failed.Load() != 3 || c.Counters.Successful.Load() != 2 {
		t.Fatalf("counters allowed=%d denied=%d failed=%d successful=%d", c.Counters.Allowed.Load(), c.Counters.Denied.Load(), c.Counters.Failed.Load(), c.Counters.Successful.Load())
	}
}

func TestNotifierNeverBlocks(t *testing.T) {
	release := make(chan struct{})
	arrived := make(chan struct{}, 16)
	var mu sync.Mutex
	var bodies []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		arrived <- struct{}{}
		<-release
		b, _ := io.ReadAll(r.Body)
		mu.Lock()
		bodies = append(bodies, string(b))
		mu.Unlock()
	}))
	defer srv.Close()
	n := NewNotifier(NotifierConfig{URL: srv.URL, Workers: 1, Queue: 2, Timeout: 5 * time.Second})
	start := time.Now()
	n.Send(map[string]int{"i": 0})
	<-arrived // the one worker is now stuck on the slow server
	for i := 1; i < 10; i++ {
		n.Send(map[string]int{"i": i})
	}
	if time.Since(start) > time.Second {
		t.Fatal("Send blocked on a slow webhook server")
	}
	close(release)
	n.Close()
	// One in flight, two queued; the other seven dropped and counted.
	if n.Successful.Load() != 3 || n.Ignored.Load() != 7 {
		t.Fatalf("successful %d ignored %d", n.Successful.Load(), n.Ignored.Load())
	}
	n.Send("late") // after Close: counted, no panic
	n.Close()
	if n.Ignored.Load() != 8 {
		t.Fatalf("a send after Close was not counted as ignored")
	}
}

func jwt(secret string, claims map[string]any) string {
	h := base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"HS256","typ":"JWT"}`))
	c, _ := json.Marshal(claims)
	p := base64.RawURLEncoding.EncodeToString(c)
	m := hmac.New(sha256.New, []byte(secret))
	m.Write([]byte(h + "." + p))
	return h + "." + p + "." + base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

func TestVerifyAccessToken(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	good := jwt("s3cret", map[string]any{"channel_id": "ch", "exp": float64(now.Unix() + 30), "simulcast": true})
	claims, err := VerifyAccessToken("s3cret", good, "ch", false, now)
	if err != nil || claims["simulcast"] != true {
		t.Fatalf("good token: %v %v", claims, err)
	}
	if _, err := VerifyAccessToken("s3cret", "s3cret", "ch", true, now); err != nil {
		t.Fatalf("raw secret allowed: %v", err)
	}
	for name, tc := range map[string]struct {
		token    string
		allowRaw bool
		want     string
	}{
		"missing":       {"", false, "missing"},
		"raw disabled":  {"s3cret", false, "not a JWT"},
		"wrong secret":  {jwt("other", map[string]any{"channel_id": "ch"}), false, "signature"},
		"wrong channel": {jwt("s3cret", map[string]any{"channel_id": "other"}), false, "channel_id"},
		"expired":       {jwt("s3cret", map[string]any{"channel_id": "ch", "exp": float64(now.Unix() - 1)}), false, "expired"},
		"tampered":      {good[:len(good)-2] + "AA", false, "signature"},
	} {
		if _, err := VerifyAccessToken("s3cret", tc.token, "ch", tc.allowRaw, now); !errors.Is(err, ErrBadToken) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want an error saying %q", name, err, tc.want)
		}
	}
}

func FuzzVerifyAccessToken(f *testing.F) {
	f.Add(jwt("k", map[string]any{"channel_id": "c"}))
	f.Add("a.b.c")
	f.Fuzz(func(t *testing.T, tok string) {
		_, _ = VerifyAccessToken("k", tok, "c", true, time.Unix(0, 0))
	})
}
