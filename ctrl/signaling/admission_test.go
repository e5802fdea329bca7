package signaling

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hayate-sfu/hayate/ctrl/room"
	"github.com/hayate-sfu/hayate/ctrl/webhook"
)

// joinWith sends connect m, answers the offer and reports the transport up;
// it returns the offer.
func (ts *testServer) joinWith(t *testing.T, c *client, m map[string]any) map[string]any {
	t.Helper()
	c.send(m)
	o := c.recv()
	if o["type"] != "offer" {
		t.Fatalf("got %v, want offer", o)
	}
	c.send(map[string]any{"type": "answer", "sdp": answerFor(t, o["sdp"].(string))})
	id := o["connection_id"].(string)
	ts.waitFor(t, "answer applied", func() bool {
		tr := ts.fakes.get(id)
		tr.mu.Lock()
		defer tr.mu.Unlock()
		return tr.remoteSet
	})
	ts.fakes.get(id).events.OnConnected()
	return o
}

// recvNotify reads until a notify of event about connection id.
func (c *client) recvNotify(event, id string) map[string]any {
	c.t.Helper()
	for range 20 {
		m := c.recv()
		if m["type"] == "notify" && m["event_type"] == event && m["connection_id"] == id {
			return m
		}
	}
	c.t.Fatalf("no %s notify about %s", event, id)
	return nil
}

// TestConnectionLimitsClose: a connect beyond max_connections_per_channel
// or max_connections is closed with 4429 naming the limit, counted in the
// closes metric and in Counters; the connections already in are not
// touched.
func TestConnectionLimitsClose(t *testing.T) {
	ts := newTestServer(t, func(c *Config) { c.MaxConnections, c.MaxConnectionsPerChannel = 2, 1 })
	a := dial(t, ts.url)
	ts.join(t, a, "sendrecv")

	b := dial(t, ts.url)
	b.send(connectMsg("recvonly"))
	b.expectClose(CloseTooManyConnections, "TOO-MANY-CONNECTIONS: max_connections_per_channel 1")

	other := dial(t, ts.url)
	m := connectMsg("sendrecv")
	m["channel_id"] = "other"
	other.send(m)
	if o := other.recv(); o["type"] != "offer" {
		t.Fatalf("a connect to another channel got %v", o["type"])
	}
	third := dial(t, ts.url)
	m["channel_id"] = "third"
	third.send(m)
	third.expectClose(CloseTooManyConnections, "TOO-MANY-CONNECTIONS: max_connections 2")

	a.send(map[string]any{"type": "pong"}) // A still talks to the server
	if n := len(ts.Rooms().Connections("")); n != 2 {
		t.Errorf("%d connections, want 2", n)
	}
	ts.waitFor(t, "the 4429 closes counted", func() bool {
		return ts.counter(t, "hayate_signaling_closes_total", "code", "4429", "reason", "TOO-MANY-CONNECTIONS") == 2
	})
	got := ts.Counters()
	if got["total_refused_max_connections"] != 1 || got["total_refused_max_connections_per_channel"] != 1 || got["total_refused_mode"] != 0 {
		t.Errorf("Counters() = %v", got)
	}
	if _, err := New(Config{transports: ts.fakes, MaxConnections: -1}); !errors.Is(err, ErrConfig) {
		t.Errorf("New with MaxConnections -1: %v, want ErrConfig", err)
	}
}

// authHook is a test auth webhook answering with answer(request).
type authHook struct {
	srv *httptest.Server
	mu  sync.Mutex
	got []map[string]any
}

func newAuthHook(t *testing.T, answer func(req map[string]any) string) *authHook {
	h := &authHook{}
	h.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		var m map[string]any
		_ = json.Unmarshal(b, &m)
		h.mu.Lock()
		h.got = append(h.got, m)
		h.mu.Unlock()
		_, _ = io.WriteString(w, answer(m))
	}))
	t.Cleanup(h.srv.Close)
	return h
}

// TestAuthWebhookMetadataPayouts: the metadata payout reaches the client as
// offer.metadata and the others as authz_metadata (connect's own metadata
// stays authn_metadata), event_metadata is in the connection's event
// webhooks, and the TURN payouts shape offer.config.
func TestAuthWebhookMetadataPayouts(t *testing.T) {
	hook := newAuthHook(t, func(req map[string]any) string {
		if req["client_id"] == "a" {
			return `{"allowed": true, "metadata": {"role": "teacher"}, "event_metadata": {"course": 7},
				"ice_transport_policy": "relay", "turn_tls_only": true, "turn_tls_fqdn": "turn.example"}`
		}
		return `{"allowed": true}`
	})
	var mu sync.Mutex
	events := map[string]map[string]any{}
	ts := newTestServer(t, func(c *Config) {
		c.AuthWebhook = webhook.New(webhook.Config{AuthURL: hook.srv.URL, Timeout: 5 * time.Second})
		c.ICEServers = func(string) []room.ICEServer {
			return []room.ICEServer{{URLs: []string{"turn:192.0.2.1:3478?transport=udp", "turns:192.0.2.1:5349?transport=tcp"}, Username: "u", Credential: "p"}}
		}
		c.ICETransportPolicy = "all"
		c.Webhook = func(kind string, f map[string]any) {
			mu.Lock()
			events[kind+" "+fmt.Sprint(f["client_id"])] = f
			mu.Unlock()
		}
	})
	a := dial(t, ts.url)
	ma := connectMsg("sendrecv")
	ma["client_id"], ma["metadata"] = "a", map[string]any{"access_token": "xyz"}
	oa := ts.joinWith(t, a, ma)
	idA := oa["connection_id"].(string)
	if got, _ := json.Marshal(oa["metadata"]); string(got) != `{"role":"teacher"}` {
		t.Errorf("offer.metadata %s, want the payout", got)
	}
	if got, _ := json.Marshal(oa["config"]); string(got) != `{"iceServers":[{"credential":"p","urls":["turns:turn.example:5349?transport=tcp"],"username":"u"}],"iceTransportPolicy":"relay"}` {
		t.Errorf("offer.config %s", got)
	}
	own := a.recvNotify("connection.created", idA)
	if got, _ := json.Marshal(own["authz_metadata"]); string(got) != `{"role":"teacher"}` {
		t.Errorf("A's connection.created authz_metadata %s", got)
	}

	b := dial(t, ts.url)
	mb := connectMsg("recvonly")
	mb["client_id"] = "b"
	ob := ts.joinWith(t, b, mb)
	if _, ok := ob["metadata"]; ok {
		t.Errorf("B's offer has metadata %v without a payout", ob["metadata"])
	}
	if got, _ := json.Marshal(ob["config"]); !strings.Contains(string(got), `"iceTransportPolicy":"all"`) || !strings.Contains(string(got), "transport=udp") {
		t.Errorf("B's offer.config %s: A's payouts leaked", got)
	}
	created := b.recvNotify("connection.created", ob["connection_id"].(string))
	data, _ := json.Marshal(created["data"])
	if !strings.Contains(string(data), `"authn_metadata":{"access_token":"xyz"}`) || !strings.Contains(string(data), `"authz_metadata":{"role":"teacher"}`) {
		t.Errorf("B's connection.created data %s, want A's authn and authz metadata", data)
	}

	mu.Lock()
	defer mu.Unlock()
	if got, _ := json.Marshal(events["connection.created a"]["event_metadata"]); string(got) != `{"course":7}` {
		t.Errorf("A's connection.created webhook event_metadata %s", got)
	}
	if _, ok := events["connection.created b"]["event_metadata"]; ok {
		t.Error("B's webhook has event_metadata without a payout")
	}
}

// TestAuthWebhookHangingDoesNotBlockOthers: while the auth webhook keeps
// one connect waiting, other connects are admitted, and the waiting one is
// refused when its time is up; Shutdown does not wait for the webhook.
func TestAuthWebhookHangingDoesNotBlockOthers(t *testing.T) {
	release := make(chan struct{})
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		if strings.Contains(string(b), `"slow"`) {
			select {
			case <-release:
			case <-r.Context().Done():
			}
		}
		_, _ = io.WriteString(w, `{"allowed": true}`)
	}))
	defer hook.Close()
	defer close(release)
	ts := newTestServer(t, func(c *Config) {
		c.AuthWebhook = webhook.New(webhook.Config{AuthURL: hook.URL, Timeout: time.Hour})
	})
	slow := dial(t, ts.url)
	m := connectMsg("sendrecv")
	m["channel_id"] = "slow"
	slow.send(m)
	var others []*client
	for i := range 3 {
		c := dial(t, ts.url)
		c.send(connectMsg("sendrecv"))
		if o := c.recv(); o["type"] != "offer" {
			t.Fatalf("connect %d behind a hanging webhook request got %v", i, o["type"])
		}
		others = append(others, c)
	}
	// Shutdown ends the wait of the hanging connect: it gets SHUTDOWN, not
	// an offer an hour later.
	done := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		done <- ts.Shutdown(ctx)
	}()
	slow.expectClose(CloseNormal, "SHUTDOWN")
	for _, c := range others {
		c.expectClose(CloseNormal, "SHUTDOWN")
	}
	if err := <-done; err != nil {
		t.Fatalf("Shutdown while an auth webhook hangs: %v", err)
	}
}
