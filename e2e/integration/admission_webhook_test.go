package integration

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/hayate-sfu/hayate/bench/soraclient"
	"github.com/hayate-sfu/hayate/ctrl/config"
)

// hookRecorder is a webhook server that records every body it receives.
type hookRecorder struct {
	mu     sync.Mutex
	bodies []map[string]any
}

func (h *hookRecorder) record(r *http.Request) map[string]any {
	b, _ := io.ReadAll(r.Body)
	var m map[string]any
	_ = json.Unmarshal(b, &m)
	if m != nil {
		m["_path"] = r.URL.Path
		h.mu.Lock()
		h.bodies = append(h.bodies, m)
		h.mu.Unlock()
	}
	return m
}

// wait returns the first body that match accepts, waiting up to 10 s.
func (h *hookRecorder) wait(t *testing.T, what string, match func(map[string]any) bool) map[string]any {
	t.Helper()
	for range 1000 {
		h.mu.Lock()
		for _, m := range h.bodies {
			if match(m) {
				h.mu.Unlock()
				return m
			}
		}
		h.mu.Unlock()
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("no webhook %s", what)
	return nil
}

func jsonString(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

// TestAuthWebhookPayoutsEndToEnd: the auth webhook's metadata payout
// reaches the client in offer.metadata and the other members in notify
// authz_metadata (the connect's own metadata stays authn_metadata), and
// event_metadata reaches the event webhooks of that connection.
func TestAuthWebhookPayoutsEndToEnd(t *testing.T) {
	hooks := &hookRecorder{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		m := hooks.record(r)
		if r.URL.Path != "/auth" {
			return
		}
		if m["client_id"] == "teacher" {
			_, _ = io.WriteString(w, `{"allowed": true, "metadata": {"room_role": "host"}, "event_metadata": {"course": "go-101"}}`)
			return
		}
		_, _ = io.WriteString(w, `{"allowed": true}`)
	}))
	defer srv.Close()
	e := newEnvWith(t, 40*time.Second, func(c *config.Config) {
		c.AuthWebhookURL = srv.URL + "/auth"
		c.EventWebhookURL = srv.URL + "/event"
	})
	teacher := e.connect("payouts", "sendrecv", func(c *soraclient.Config) {
		c.ClientID, c.Metadata = "teacher", map[string]any{"access_token": "tok"}
	})
	var offer struct {
		Metadata json.RawMessage `json:"metadata"`
	}
	if err := json.Unmarshal(teacher.Offer(), &offer); err != nil {
		t.Fatal(err)
	}
	if got := jsonString(offer.Metadata); got != `{"room_role":"host"}` {
		t.Errorf("offer.metadata %s, want the auth webhook's metadata", got)
	}
	student := e.connect("payouts", "recvonly", func(c *soraclient.Config) { c.ClientID = "student" })
	own := e.waitEvent(student, "the student's own connection.created", func(ev soraclient.Event) bool {
		return ev.Type == "notify" && ev.EventType == "connection.created" && ev.ConnectionID == student.ConnectionID()
	})
	var n struct {
		Data []struct {
			ConnectionID  string          `json:"connection_id"`
			AuthnMetadata json.RawMessage `json:"authn_metadata"`
			AuthzMetadata json.RawMessage `json:"authz_metadata"`
		} `json:"data"`
	}
	if err := json.Unmarshal(own.Raw, &n); err != nil {
		t.Fatal(err)
	}
	if len(n.Data) != 1 || n.Data[0].ConnectionID != teacher.ConnectionID() ||
		jsonString(n.Data[0].AuthzMetadata) != `{"room_role":"host"}` || jsonString(n.Data[0].AuthnMetadata) != `{"access_token":"tok"}` {
		t.Errorf("the student's connection.created data: %s", own.Raw)
	}

	created := hooks.wait(t, "connection.created about the teacher", func(m map[string]any) bool {
		return m["_path"] == "/event" && m["type"] == "connection.created" && m["connection_id"] == teacher.ConnectionID()
	})
	if got := jsonString(created["event_metadata"]); got != `{"course":"go-101"}` {
		t.Errorf("connection.created event_metadata %s", got)
	}
	if err := teacher.Disconnect(e.ctx); err != nil {
		t.Fatal(err)
	}
	destroyed := hooks.wait(t, "connection.destroyed about the teacher", func(m map[string]any) bool {
		return m["_path"] == "/event" && m["type"] == "connection.destroyed" && m["connection_id"] == teacher.ConnectionID()
	})
	if got := jsonString(destroyed["event_metadata"]); got != `{"course":"go-101"}` {
		t.Errorf("connection.destroyed event_metadata %s", got)
	}
	studentCreated := hooks.wait(t, "connection.created about the student", func(m map[string]any) bool {
		return m["_path"] == "/event" && m["type"] == "connection.created" && m["connection_id"] == student.ConnectionID()
	})
	if _, ok := studentCreated["event_metadata"]; ok {
		t.Errorf("the student's webhook has event_metadata %v without a payout", studentCreated["event_metadata"])
	}
}

// TestHangingWebhooksDoNotDelayJoins: session and event webhook servers
// that do not answer (and would not for a minute) neither delay nor block
// connects, media set-up or leaving; the bodies go out once they answer.
func TestHangingWebhooksDoNotDelayJoins(t *testing.T) {
	hooks := &hookRecorder{}
	release := make(chan struct{})
	var once sync.Once
	unblock := func() { once.Do(func() { close(release) }) }
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
			return
		}
		hooks.record(r)
	}))
	defer srv.Close()
	defer unblock()
	e := newEnvWith(t, 40*time.Second, func(c *config.Config) {
		c.SessionWebhookURL = srv.URL + "/session"
		c.EventWebhookURL = srv.URL + "/event"
		// Far beyond connectTimeout: a join that waited for a webhook
		// answer would fail.
		c.WebhookResponseTimeout = time.Minute
	})
	t.Cleanup(unblock) // before the server's shutdown, which sends the last bodies

	a := e.connect("hanging-hooks", "sendrecv")
	b := e.connect("hanging-hooks", "sendrecv")
	e.waitSees(a, b.ConnectionID())
	e.waitSees(b, a.ConnectionID())
	c := e.connect("hanging-hooks-2", "sendonly")
	if err := c.Disconnect(e.ctx); err != nil {
		t.Fatal(err)
	}
	t.Log(e.joinSummary())

	unblock()
	for _, want := range []struct{ path, typ, channel string }{
		{"/session", "session.created", "hanging-hooks"}, {"/event", "connection.created", "hanging-hooks"},
		{"/session", "session.created", "hanging-hooks-2"}, {"/event", "connection.destroyed", "hanging-hooks-2"},
		{"/session", "session.destroyed", "hanging-hooks-2"},
	} {
		hooks.wait(t, want.typ+" of "+want.channel, func(m map[string]any) bool {
			return m["_path"] == want.path && m["type"] == want.typ && m["channel_id"] == want.channel
		})
	}
}
