package integration

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/hayate-sfu/hayate/ctrl/config"
)

// TestSessionAndEventWebhooks: a connection's life produces session.created,
// connection.created, connection.destroyed and session.destroyed, with the
// ids a webhook server needs.
func TestSessionAndEventWebhooks(t *testing.T) {
	var mu sync.Mutex
	var got []map[string]any
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		var m map[string]any
		if err := json.Unmarshal(b, &m); err == nil {
			m["_path"] = r.URL.Path
			mu.Lock()
			got = append(got, m)
			mu.Unlock()
		}
	}))
	defer hook.Close()
	e := newEnvWith(t, 30*time.Second, func(c *config.Config) {
		c.SessionWebhookURL = hook.URL + "/session"
		c.EventWebhookURL = hook.URL + "/event"
	})
	a := e.connect("hooks", "sendrecv")
	if err := a.Disconnect(e.ctx); err != nil {
		t.Fatal(err)
	}
	want := []struct{ path, typ string }{
		{"/session", "session.created"}, {"/event", "connection.created"},
		{"/event", "connection.destroyed"}, {"/session", "session.destroyed"},
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		mu.Lock()
		n := len(got)
		mu.Unlock()
		if n >= len(want) || time.Now().After(deadline) {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	mu.Lock()
	defer mu.Unlock()
	find := func(typ string) map[string]any {
		for _, m := range got {
			if m["type"] == typ {
				return m
			}
		}
		return nil
	}
	for _, w := range want {
		m := find(w.typ)
		if m == nil {
			t.Fatalf("no %s webhook; got %v", w.typ, got)
		}
		if m["_path"] != w.path || m["channel_id"] != "hooks" || m["session_id"] == "" || m["id"] == "" || m["timestamp"] == "" || m["version"] == "" {
			t.Errorf("%s: %v", w.typ, m)
		}
		if w.path == "/event" && (m["connection_id"] != a.ConnectionID() || m["role"] != "sendrecv") {
			t.Errorf("%s names connection %v role %v, want %s sendrecv", w.typ, m["connection_id"], m["role"], a.ConnectionID())
		}
	}
	if find("session.created")["session_id"] != find("session.destroyed")["session_id"] {
		t.Error("session.created and session.destroyed name different sessions")
	}
}
