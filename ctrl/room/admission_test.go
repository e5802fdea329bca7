package room

import (
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"sync"
	"testing"
	"time"
)

// refusedJoin joins r and requires the refusal of a connection limit: Join
// fails with ErrTooManyConnections, the peer is closed with 4429 and
// reason, and no transport was made.
func (e *env) refusedJoin(name string, r JoinRequest, reason string) {
	e.t.Helper()
	p := &fakePeer{name: name, log: e.log}
	e.fac.mu.Lock()
	transports := len(e.fac.transports)
	e.fac.mu.Unlock()
	c, err := e.reg.Join(r, p)
	if !errors.Is(err, ErrTooManyConnections) || c != nil {
		e.t.Fatalf("%s: Join = %v, %v; want ErrTooManyConnections", name, c, err)
	}
	if p.closeCode != CloseTooManyConnections || p.closeReason != reason {
		e.t.Errorf("%s: closed %d %q, want %d %q", name, p.closeCode, p.closeReason, CloseTooManyConnections, reason)
	}
	e.fac.mu.Lock()
	defer e.fac.mu.Unlock()
	if len(e.fac.transports) != transports {
		e.t.Errorf("%s: a refused connect created a transport", name)
	}
}

func inChannel(role Role, channel string) JoinRequest {
	r := req(role)
	r.ChannelID = channel
	return r
}

// TestConnectionLimits: a connect beyond max_connections_per_channel or
// max_connections is closed with 4429 naming the limit and counted; it
// takes no slot and starts no session; a connection that leaves, or whose
// transport could not be made, gives its slot back.
func TestConnectionLimits(t *testing.T) {
	var mu sync.Mutex
	var hooks []string
	e := newEnv(t, func(c *Config) {
		c.MaxConnections, c.MaxConnectionsPerChannel = 3, 2
		c.Webhook = func(kind string, f map[string]any) {
			mu.Lock()
			hooks = append(hooks, kind+" "+f["channel_id"].(string))
			mu.Unlock()
		}
	})
	a := e.join("A", inChannel(RoleSendRecv, "room-1"))
	a.connect(t)
	e.join("B", inChannel(RoleRecvOnly, "room-1"))
	e.refusedJoin("C", inChannel(RoleSendRecv, "room-1"), "TOO-MANY-CONNECTIONS: max_connections_per_channel 2")
	e.join("D", inChannel(RoleSendOnly, "room-2"))
	e.refusedJoin("E", inChannel(RoleSendRecv, "room-3"), "TOO-MANY-CONNECTIONS: max_connections 3")

	if n := len(e.reg.Channels()); n != 2 {
		t.Errorf("%d channels, want 2: a refused connect started a session", n)
	}
	mu.Lock()
	if want := []string{"session.created room-1", "connection.created room-1", "session.created room-2"}; !reflect.DeepEqual(hooks, want) {
		t.Errorf("webhooks %q, want %q", hooks, want)
	}
	mu.Unlock()
	for reason, want := range map[string]float64{RefusedMaxConnectionsPerChannel: 1, RefusedMaxConnections: 1, RefusedMode: 0} {
		if got := counter(t, e.prm, "hayate_room_connects_refused_total", reason); got != want {
			t.Errorf("hayate_room_connects_refused_total{reason=%q} = %v, want %v", reason, got, want)
		}
	}
	st := e.reg.Stats()
	if st.Refused[RefusedMaxConnections] != 1 || st.Refused[RefusedMaxConnectionsPerChannel] != 1 || st.Refused[RefusedMode] != 0 ||
		st.ConnectionsFailed != 2 || st.Clients["unknown"].Failed != 2 {
		t.Errorf("Stats: refused %v, failed %d, clients %+v", st.Refused, st.ConnectionsFailed, st.Clients)
	}

	// A leaves: its channel has room again, and the server too.
	a.c.Leave()
	e.join("C2", inChannel(RoleSendRecv, "room-1"))
	// Both limits are reached now; the server's is named.
	e.refusedJoin("C3", inChannel(RoleSendRecv, "room-1"), "TOO-MANY-CONNECTIONS: max_connections 3")

	// A connect whose transport cannot be made does not keep its slot.
	for _, c := range e.reg.Connections("room-2") {
		if conn, ok := e.reg.Connection(c.ConnectionID); ok {
			conn.Leave()
		}
	}
	e.fac.mu.Lock()
	e.fac.failNew = errors.New("fake: no transport")
	e.fac.mu.Unlock()
	if _, err := e.reg.Join(inChannel(RoleSendRecv, "room-2"), &fakePeer{name: "F", log: e.log}); !errors.Is(err, ErrTransport) {
		t.Fatalf("Join with a failing transport factory: %v", err)
	}
	e.fac.mu.Lock()
	e.fac.failNew = nil
	e.fac.mu.Unlock()
	e.join("G", inChannel(RoleSendRecv, "room-2"))
}

// TestConnectionLimitsRace: many connects racing for a channel's slots get
// exactly as many as the limit allows.
func TestConnectionLimitsRace(t *testing.T) {
	const limit, tries = 4, 40
	e := newEnv(t, func(c *Config) { c.MaxConnectionsPerChannel = limit })
	var wg sync.WaitGroup
	var mu sync.Mutex
	admitted, refused := 0, 0
	for i := range tries {
		wg.Go(func() {
			p := &fakePeer{name: fmt.Sprint("P", i), log: e.log}
			_, err := e.reg.Join(req(RoleSendRecv), p)
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err == nil:
				admitted++
			case errors.Is(err, ErrTooManyConnections):
				refused++
			default:
				t.Errorf("join %d: %v", i, err)
			}
		})
	}
	wg.Wait()
	if admitted != limit || refused != tries-limit {
		t.Fatalf("%d admitted, %d refused; want %d and %d", admitted, refused, limit, tries-limit)
	}
	if got := counter(t, e.prm, "hayate_room_connects_refused_total", RefusedMaxConnectionsPerChannel); got != tries-limit {
		t.Fatalf("refusals counted %v, want %d", got, tries-limit)
	}
}

// TestModeRefusalsCounted: the mode's refusals are counted under their own
// reason, beside the limits'.
func TestModeRefusalsCounted(t *testing.T) {
	e := newEnv(t, func(c *Config) { c.MaxConnections = 1 })
	if err := e.reg.SetMode(ModeBlockNewConnection); err != nil {
		t.Fatal(err)
	}
	p := &fakePeer{name: "A", log: e.log}
	if _, err := e.reg.Join(req(RoleSendRecv), p); !errors.Is(err, ErrBlocked) {
		t.Fatalf("Join = %v, want ErrBlocked (the mode is checked before the limits)", err)
	}
	if got := e.reg.Refused(); got[RefusedMode] != 1 || got[RefusedMaxConnections] != 0 {
		t.Fatalf("Refused() = %v", got)
	}
}

// webhookLog records Config.Webhook calls.
type webhookLog struct {
	mu   sync.Mutex
	hook []map[string]any
}

func (w *webhookLog) record(kind string, f map[string]any) {
	w.mu.Lock()
	defer w.mu.Unlock()
	f["type"] = kind
	w.hook = append(w.hook, f)
}

// find returns the last webhook of a type about a connection.
func (w *webhookLog) find(t *testing.T, kind, connectionID string) map[string]any {
	t.Helper()
	w.mu.Lock()
	defer w.mu.Unlock()
	for i := len(w.hook) - 1; i >= 0; i-- {
		if f := w.hook[i]; f["type"] == kind && f["connection_id"] == connectionID {
			return f
		}
	}
	t.Fatalf("no %s webhook about %s", kind, connectionID)
	return nil
}

func jsonOf(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestAuthzAndEventMetadata: the auth webhook's metadata payout goes back to
// the client in offer.metadata and to everyone in notify authz_metadata
// (the client's own connect metadata stays authn_metadata); event_metadata
// goes into the connection's event webhooks, connection.updated included.
func TestAuthzAndEventMetadata(t *testing.T) {
	hooks := &webhookLog{}
	e := newEnv(t, func(c *Config) { c.Webhook = hooks.record })
	ra := req(RoleSendRecv)
	ra.Metadata = json.RawMessage(`{"access_token":"t"}`)
	ra.AuthzMetadata = json.RawMessage(`{"plan":"gold"}`)
	ra.EventMetadata = json.RawMessage(`{"tenant":"t1"}`)
	a := e.join("A", ra)
	msgs := a.connect(t)
	if got := jsonOf(t, msgs[0]["metadata"]); msgs[0]["type"] != "offer" || got != `{"plan":"gold"}` {
		t.Fatalf("A's offer metadata %s, want the payout", got)
	}
	rb := req(RoleRecvOnly)
	rb.AuthzMetadata = json.RawMessage(`null`) // a null payout is no payout
	rb.EventMetadata = json.RawMessage(` null `)
	b := e.join("B", rb)
	msgs = b.connect(t)
	if _, ok := msgs[0]["metadata"]; ok {
		t.Errorf("B's offer has metadata %v; its payout was null", msgs[0]["metadata"])
	}
	var own map[string]any
	for _, m := range b.p.take(t) {
		if m["event_type"] == EventConnectionCreated && m["connection_id"] == b.c.ID() {
			own = m
		}
	}
	if own == nil {
		t.Fatal("B got no connection.created of its own")
	}
	if got := jsonOf(t, own["data"]); got != `[{"authn_metadata":{"access_token":"t"},"authz_metadata":{"plan":"gold"},"client_id":"`+a.c.ID()+`","connection_id":"`+a.c.ID()+`"}]` {
		t.Errorf("B's connection.created data %s, want A with its authn and authz metadata", got)
	}
	if _, ok := own["authz_metadata"]; ok {
		t.Errorf("B's own notify has authz_metadata %v", own["authz_metadata"])
	}
	var aboutA bool
	for _, m := range a.p.take(t) {
		if m["event_type"] == EventConnectionCreated && m["connection_id"] == a.c.ID() {
			aboutA = jsonOf(t, m["authz_metadata"]) == `{"plan":"gold"}` && jsonOf(t, m["authn_metadata"]) == `{"access_token":"t"}`
		}
	}
	if !aboutA {
		t.Error("A's own connection.created lacks its authz_metadata or authn_metadata")
	}

	created := hooks.find(t, "connection.created", a.c.ID())
	if got := jsonOf(t, created["event_metadata"]); got != `{"tenant":"t1"}` {
		t.Errorf("connection.created event_metadata %s", got)
	}
	if d := created["data"].(map[string]any); d["minutes"] != 0 || d["channel_connections"] != 1 || d["channel_sendrecv_connections"] != 1 ||
		d["audio_codec_type"] != "OPUS" || d["video_codec_type"] != "VP8" {
		t.Errorf("connection.created data %v", d)
	}
	if _, ok := hooks.find(t, "connection.created", b.c.ID())["event_metadata"]; ok {
		t.Error("B's webhook has event_metadata; its payout was null")
	}

	e.advance(61 * time.Second)
	a.c.NotifyUpdated()
	b.c.NotifyUpdated()
	updated := hooks.find(t, "connection.updated", a.c.ID())
	if d := updated["data"].(map[string]any); d["minutes"] != 1 || d["channel_connections"] != 2 || jsonOf(t, updated["event_metadata"]) != `{"tenant":"t1"}` {
		t.Errorf("connection.updated %v", updated)
	}
	if st := e.reg.Stats(); st.ConnectionsUpdated != 2 {
		t.Errorf("Stats().ConnectionsUpdated = %d, want 2", st.ConnectionsUpdated)
	}
	a.c.Leave()
	destroyed := hooks.find(t, "connection.destroyed", a.c.ID())
	if d := destroyed["data"].(map[string]any); jsonOf(t, destroyed["event_metadata"]) != `{"tenant":"t1"}` || d["channel_connections"] != 1 || d["destroyed_time"] == nil {
		t.Errorf("connection.destroyed %v", destroyed)
	}
}

// TestUpdatedWithoutNotify: with notify off, connection.updated still goes
// to the event webhook, and no connection gets a notify.
func TestUpdatedWithoutNotify(t *testing.T) {
	hooks := &webhookLog{}
	e := newEnv(t, func(c *Config) { c.Notify, c.Webhook = false, hooks.record })
	a := e.join("A", req(RoleSendRecv))
	a.c.NotifyUpdated() // not created yet: nothing
	a.connect(t)
	a.p.take(t)
	a.c.NotifyUpdated()
	hooks.find(t, "connection.updated", a.c.ID())
	if got := types(a.p.take(t)); got != "" {
		t.Errorf("with notify off A got %s", got)
	}
}

// TestICEPerConnection: ice_transport_policy and turn_* from the auth
// webhook change one connection's offer.config only.
func TestICEPerConnection(t *testing.T) {
	servers := []ICEServer{{URLs: []string{"turn:192.0.2.1:3478?transport=udp", "turn:192.0.2.1:3478?transport=tcp", "turns:192.0.2.1:5349?transport=tcp"},
		Username: "u", Credential: "p"}}
	e := newEnv(t, func(c *Config) {
		c.ICEServers = func(string) []ICEServer { return servers }
		c.ICETransportPolicy = "all"
	})
	r := req(RoleSendRecv)
	r.ICETransportPolicy = "relay"
	r.TURN = TURNOptions{TCPOnly: true, FQDN: "turn.example", TLSFQDN: "tls.example"}
	a := e.join("A", r)
	b := e.join("B", req(RoleSendRecv))
	if got := jsonOf(t, a.p.take(t)[0]["config"]); got != `{"iceServers":[{"credential":"p","urls":["turn:turn.example:3478?transport=tcp","turns:tls.example:5349?transport=tcp"],"username":"u"}],"iceTransportPolicy":"relay"}` {
		t.Errorf("A's offer.config %s", got)
	}
	if got := jsonOf(t, b.p.take(t)[0]["config"]); got != `{"iceServers":[{"credential":"p","urls":["turn:192.0.2.1:3478?transport=udp","turn:192.0.2.1:3478?transport=tcp","turns:192.0.2.1:5349?transport=tcp"],"username":"u"}],"iceTransportPolicy":"all"}` {
		t.Errorf("B's offer.config %s", got)
	}
	if servers[0].URLs[0] != "turn:192.0.2.1:3478?transport=udp" {
		t.Error("the options changed the configured servers")
	}
	for _, bad := range []JoinRequest{
		func() JoinRequest { r := req(RoleSendRecv); r.ICETransportPolicy = "none"; return r }(),
		func() JoinRequest { r := req(RoleSendRecv); r.TURN.FQDN = "evil.example:1/x"; return r }(),
		func() JoinRequest { r := req(RoleSendRecv); r.TURN.TLSFQDN = "a b"; return r }(),
	} {
		if _, err := e.reg.Join(bad, &fakePeer{name: "X", log: e.log}); !errors.Is(err, ErrInvalidRequest) {
			t.Errorf("Join(%+v / %+v) = %v, want ErrInvalidRequest", bad.ICETransportPolicy, bad.TURN, err)
		}
	}
}

func TestTURNOptionsApply(t *testing.T) {
	all := []string{"stun:192.0.2.1:3478", "turn:192.0.2.1:3478?transport=udp", "turn:192.0.2.1:3478?transport=tcp", "turns:192.0.2.1:5349?transport=tcp", "turn:[2001:db8::1]:3478"}
	for _, tc := range []struct {
		name string
		o    TURNOptions
		want []string // nil: the server entry is dropped
	}{
		{"zero", TURNOptions{}, all},
		{"tcp only", TURNOptions{TCPOnly: true}, []string{"turn:192.0.2.1:3478?transport=tcp", "turns:192.0.2.1:5349?transport=tcp"}},
		{"tls only", TURNOptions{TLSOnly: true}, []string{"turns:192.0.2.1:5349?transport=tcp"}},
		{"fqdn", TURNOptions{FQDN: "t.example"}, []string{"stun:192.0.2.1:3478", "turn:t.example:3478?transport=udp", "turn:t.example:3478?transport=tcp", "turns:192.0.2.1:5349?transport=tcp", "turn:t.example:3478"}},
		{"tls fqdn", TURNOptions{TLSFQDN: "s.example", TLSOnly: true}, []string{"turns:s.example:5349?transport=tcp"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := tc.o.apply([]ICEServer{{URLs: all, Username: "u", Credential: "c"}})
			if len(got) != 1 || !reflect.DeepEqual(got[0].URLs, tc.want) || got[0].Username != "u" {
				t.Errorf("apply = %+v, want URLs %q", got, tc.want)
			}
		})
	}
	if got := (TURNOptions{TLSOnly: true}).apply([]ICEServer{{URLs: []string{"turn:192.0.2.1:3478?transport=udp"}}}); len(got) != 0 {
		t.Errorf("a server left without URL was kept: %+v", got)
	}
}
