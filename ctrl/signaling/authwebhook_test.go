package signaling

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hayate-sfu/hayate/ctrl/webhook"
)

// TestAuthWebhook: the webhook sees the connect (with the connection id it
// will get), a denial closes with its reason, payouts override what the
// client asked for, and connection_lifetime ends the connection normally.
func TestAuthWebhook(t *testing.T) {
	var mu sync.Mutex
	var seen []map[string]any
	answer := ""
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		var m map[string]any
		_ = json.Unmarshal(b, &m)
		mu.Lock()
		seen = append(seen, m)
		a := answer
		mu.Unlock()
		_, _ = io.WriteString(w, a)
	}))
	defer hook.Close()
	ts := newTestServer(t, func(c *Config) {
		c.AuthWebhook = webhook.New(webhook.Config{AuthURL: hook.URL, Timeout: 2 * time.Second})
	})
	setAnswer := func(a string) { mu.Lock(); answer = a; mu.Unlock() }

	setAnswer(`{"allowed": false, "reason": "NO-TICKET"}`)
	c := dial(t, ts.url)
	m := connectMsg("sendrecv")
	m["metadata"] = map[string]any{"access_token": "t"}
	c.send(m)
	c.expectClose(CloseAuthFailed, "AUTH-FAILED: NO-TICKET")
	mu.Lock()
	if len(seen) != 1 || seen[0]["channel_id"] != "sora" || seen[0]["role"] != "sendrecv" || seen[0]["connection_id"] == "" ||
		seen[0]["metadata"].(map[string]any)["access_token"] != "t" || seen[0]["sdp"] != nil {
		t.Fatalf("the webhook saw %v", seen)
	}
	mu.Unlock()

	setAnswer(`{"allowed": true, "client_id": "from-webhook", "video_codec_type": "VP9", "connection_lifetime": 1, "rpc_methods": []}`)
	c = dial(t, ts.url)
	c.send(connectMsg("sendrecv"))
	offer := c.recv()
	if offer["type"] != "offer" || offer["client_id"] != "from-webhook" {
		t.Fatalf("offer %v, want client_id from the payout", offer["client_id"])
	}
	mu.Lock()
	wantID := seen[len(seen)-1]["connection_id"]
	mu.Unlock()
	if offer["connection_id"] != wantID {
		t.Fatalf("offer connection_id %v, the webhook was told %v", offer["connection_id"], wantID)
	}
	if sdp, _ := offer["sdp"].(string); !strings.Contains(sdp, "VP9/90000") || strings.Contains(sdp, "VP8/90000") {
		t.Fatal("the offer does not carry only the payout's VP9")
	}
	c.expectClose(CloseNormal, "LIFETIME-EXPIRED")

	setAnswer(`not json`)
	c = dial(t, ts.url)
	c.send(connectMsg("sendrecv"))
	c.expectClose(CloseAuthFailed, "AUTH-FAILED: auth webhook failed")

	setAnswer(`{"allowed": true, "video_codec_type": "NOPE"}`)
	c = dial(t, ts.url)
	c.send(connectMsg("sendrecv"))
	c.expectClose(CloseInvalidField, "INVALID-FIELD")
}
