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
	// The request is Sora's: settings flattened, sora_client parsed, the
	// channel's counts (one sendrecv connection is in it now).
	setAnswer(`{"allowed": true, "signaling_notify_metadata_ext": {"seat": 3}}`)
	first := dial(t, ts.url)
	first.send(connectMsg("sendrecv"))
	firstOffer := first.recv()
	if firstOffer["type"] != "offer" {
		t.Fatalf("first connect got %v, want an offer", firstOffer["type"])
	}
	// The payout's metadata ext is where the metadata operations start.
	if ext, err := ts.Rooms().MetadataExt(firstOffer["connection_id"].(string)); err != nil || string(ext["seat"]) != "3" {
		t.Errorf("metadata ext after the payout: %v, %v; want {seat: 3}", ext, err)
	}
	c = dial(t, ts.url)
	m = connectMsg("recvonly")
	m["video"] = map[string]any{"codec_type": "VP9", "bit_rate": 500, "vp9_params": map[string]any{"profile_id": 0}}
	m["libwebrtc"] = "Chrome/142"
	c.send(m)
	if m := c.recv(); m["type"] != "offer" {
		t.Fatalf("second connect got %v, want an offer", m["type"])
	}
	mu.Lock()
	got := seen[len(seen)-1]
	mu.Unlock()
	sc, _ := got["sora_client"].(map[string]any)
	for k, want := range map[string]any{
		"multistream": true, "e2ee": false, "role": "recvonly",
		"video_codec_type": "VP9", "video_bit_rate": 500.0,
		"channel_connections": 1.0, "channel_sendrecv_connections": 1.0, "channel_sendonly_connections": 0.0, "channel_recvonly_connections": 0.0,
	} {
		if got[k] != want {
			t.Errorf("auth request %s = %v, want %v", k, got[k], want)
		}
	}
	if vp9, _ := got["video_vp9_params"].(map[string]any); vp9 == nil || vp9["profile_id"] != 0.0 {
		t.Errorf("auth request video_vp9_params = %v, want the connect's", got["video_vp9_params"])
	}
	if sc == nil || sc["raw"] != "Sora JavaScript SDK 2026.1.0" || sc["type"] != "Sora JavaScript SDK" || sc["version"] != "2026.1.0" ||
		sc["environment"] != "test" || sc["libwebrtc"] != "Chrome/142" {
		t.Errorf("auth request sora_client = %v", got["sora_client"])
	}
	for _, k := range []string{"sdp", "type", "environment", "libwebrtc"} {
		if _, ok := got[k]; ok {
			t.Errorf("auth request carries the connect's %s", k)
		}
	}
}
