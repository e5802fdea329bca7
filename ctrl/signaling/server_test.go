package signaling

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/hayate-sfu/hayate/ctrl/room"
	"github.com/hayate-sfu/hayate/dataplane"
	"github.com/pion/sdp/v3"
	"github.com/prometheus/client_golang/prometheus"
)

// --- fakes: the room's transports without media ---

type fakeTransports struct {
	mu     sync.Mutex
	byID   map[string]*fakeTransport
	panics atomic.Bool // SetRemote panics (to test recovery)
}

func (f *fakeTransports) NewTransport(id string, ev dataplane.TransportEvents) (room.Transport, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.byID == nil {
		f.byID = map[string]*fakeTransport{}
	}
	t := &fakeTransport{f: f, events: ev, local: dataplane.LocalParams{Ufrag: "ufrag" + id[:11], Pwd: "pwd" + id + "xxx"}}
	f.byID[id] = t
	return t, nil
}

func (f *fakeTransports) Fingerprint() string {
	return "0A:1B:2C:3D:4E:5F:60:71:82:93:A4:B5:C6:D7:E8:F9:0A:1B:2C:3D:4E:5F:60:71:82:93:A4:B5:C6:D7:E8:F9"
}

func (f *fakeTransports) Candidates() []dataplane.Candidate {
	return []dataplane.Candidate{{Addr: netip.MustParseAddrPort("127.0.0.1:50000"), Protocol: "udp"}}
}

func (f *fakeTransports) get(id string) *fakeTransport {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.byID[id]
}

type fakeTransport struct {
	f      *fakeTransports
	events dataplane.TransportEvents
	local  dataplane.LocalParams

	mu        sync.Mutex
	remoteSet bool
	remote    dataplane.RemoteParams
	downs     int
	closed    bool
	dcs       []*fakeDC
	order     []string // "close <label>" and "transport close", in order
}

// fakeDC is a DataChannel that records what the server sends; Close plays
// a client that closes its side at once.
type fakeDC struct {
	t     *fakeTransport
	label string
	h     room.DataChannelHandler

	mu     sync.Mutex
	sent   [][]byte
	signal chan struct{} // closed and replaced on every send
	closed bool
	once   sync.Once
}

func (d *fakeDC) Send(b []byte, isString bool) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.closed {
		return errors.New("fake: closed")
	}
	d.sent = append(d.sent, append([]byte(nil), b...))
	close(d.signal)
	d.signal = make(chan struct{})
	return nil
}

func (d *fakeDC) Close() error {
	d.mu.Lock()
	d.closed = true
	d.mu.Unlock()
	d.t.mu.Lock()
	d.t.order = append(d.t.order, "close "+d.label)
	d.t.mu.Unlock()
	d.once.Do(d.h.OnClose)
	return nil
}

// next waits for the n-th message sent on the channel (0-based) and
// returns it decoded.
func (d *fakeDC) next(t *testing.T, n int) map[string]any {
	t.Helper()
	deadline := time.After(5 * time.Second)
	for {
		d.mu.Lock()
		if len(d.sent) > n {
			b := d.sent[n]
			d.mu.Unlock()
			var m map[string]any
			if err := json.Unmarshal(b, &m); err != nil {
				t.Fatalf("%s: invalid JSON %s", d.label, b)
			}
			return m
		}
		sig := d.signal
		d.mu.Unlock()
		select {
		case <-sig:
		case <-deadline:
			t.Fatalf("no message %d on %s", n, d.label)
		}
	}
}

func (d *fakeDC) count() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return len(d.sent)
}

func (t *fakeTransport) OpenDataChannel(cfg dataplane.DataChannelConfig, h room.DataChannelHandler) (room.DataChannel, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	d := &fakeDC{t: t, label: cfg.Label, h: h, signal: make(chan struct{})}
	t.dcs = append(t.dcs, d)
	return d, nil
}

func (t *fakeTransport) dc(label string) *fakeDC {
	t.mu.Lock()
	defer t.mu.Unlock()
	for _, d := range t.dcs {
		if d.label == label {
			return d
		}
	}
	return nil
}

func (t *fakeTransport) Local() dataplane.LocalParams { return t.local }
func (t *fakeTransport) SetRemote(r dataplane.RemoteParams) error {
	if t.f.panics.Load() {
		panic("fake SetRemote panic")
	}
	t.mu.Lock()
	t.remoteSet = true
	t.remote = r
	t.mu.Unlock()
	return nil
}
func (t *fakeTransport) AddUpstream(dataplane.Upstream) error { return nil }
func (t *fakeTransport) RemoveUpstream(string)                {}
func (t *fakeTransport) AddDownstream(dataplane.Downstream) error {
	t.mu.Lock()
	t.downs++
	t.mu.Unlock()
	return nil
}
func (t *fakeTransport) RemoveDownstream(string) {}
func (t *fakeTransport) Close() {
	t.mu.Lock()
	t.closed = true
	t.order = append(t.order, "transport close")
	dcs := t.dcs
	t.mu.Unlock()
	for _, d := range dcs {
		go d.once.Do(d.h.OnClose)
	}
}

// --- test server and client ---

type testServer struct {
	*Server
	url   string
	fakes *fakeTransports
	prom  *prometheus.Registry
}

func newTestServer(t *testing.T, mutate ...func(*Config)) *testServer {
	t.Helper()
	ts := &testServer{fakes: &fakeTransports{}, prom: prometheus.NewRegistry()}
	cfg := Config{
		Logger:     testLogger(),
		Registerer: ts.prom,
		Notify:     true,
		Version:    "test",
		transports: ts.fakes,
	}
	for _, m := range mutate {
		m(&cfg)
	}
	s, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ts.Server = s
	hs := httptest.NewServer(s)
	ts.url = "ws" + strings.TrimPrefix(hs.URL, "http") + "/signaling"
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := s.Shutdown(ctx); err != nil {
			t.Errorf("shutdown: %v", err)
		}
		hs.Close()
	})
	return ts
}

func (ts *testServer) counter(t *testing.T, name string, labels ...string) float64 {
	t.Helper()
	mfs, err := ts.prom.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var sum float64
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
	next:
		for _, m := range mf.GetMetric() {
			for i := 0; i+1 < len(labels); i += 2 {
				found := false
				for _, l := range m.GetLabel() {
					if l.GetName() == labels[i] && l.GetValue() == labels[i+1] {
						found = true
					}
				}
				if !found {
					continue next
				}
			}
			if m.Counter != nil {
				sum += m.Counter.GetValue()
			} else {
				sum += m.Gauge.GetValue()
			}
		}
	}
	return sum
}

type client struct {
	t  *testing.T
	ws *websocket.Conn
}

func dial(t *testing.T, url string) *client {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	ws, _, err := websocket.Dial(ctx, url, &websocket.DialOptions{HTTPHeader: http.Header{"Origin": {"https://elsewhere.example"}}})
	if err != nil {
		t.Fatal(err)
	}
	ws.SetReadLimit(1 << 20)
	t.Cleanup(func() { ws.CloseNow() })
	return &client{t: t, ws: ws}
}

func (c *client) sendRaw(s string) {
	c.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := c.ws.Write(ctx, websocket.MessageText, []byte(s)); err != nil {
		c.t.Fatal(err)
	}
}

func (c *client) send(v any) {
	c.t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		c.t.Fatal(err)
	}
	c.sendRaw(string(b))
}

// recv reads the next message, skipping pings unless keepPings.
func (c *client) recv(keepPings ...bool) map[string]any {
	c.t.Helper()
	for range 1000 {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		_, b, err := c.ws.Read(ctx)
		cancel()
		if err != nil {
			c.t.Fatalf("read: %v", err)
		}
		var m map[string]any
		if err := json.Unmarshal(b, &m); err != nil {
			c.t.Fatalf("server sent invalid JSON %s", b)
		}
		if m["type"] == "ping" && len(keepPings) == 0 {
			continue
		}
		return m
	}
	c.t.Fatal("only pings")
	return nil
}

// closed reads until the server closes and returns the close frame.
func (c *client) closed() websocket.CloseError {
	c.t.Helper()
	for range 1000 {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		_, _, err := c.ws.Read(ctx)
		cancel()
		if err == nil {
			continue
		}
		var ce websocket.CloseError
		if !errors.As(err, &ce) {
			c.t.Fatalf("connection ended without a close frame: %v", err)
		}
		return ce
	}
	c.t.Fatal("no close")
	return websocket.CloseError{}
}

func (c *client) expectClose(code int, reasonPrefix string) {
	c.t.Helper()
	ce := c.closed()
	if int(ce.Code) != code || !strings.HasPrefix(ce.Reason, reasonPrefix) {
		c.t.Errorf("closed with %d %q, want %d %q…", ce.Code, ce.Reason, code, reasonPrefix)
	}
}

func connectMsg(role string) map[string]any {
	return map[string]any{"type": "connect", "role": role, "channel_id": "sora", "audio": true, "video": true,
		"sora_client": "Sora JavaScript SDK 2026.1.0", "environment": "test", "metadata": nil}
}

// answerFor writes a browser-like answer to an offer.
func answerFor(t *testing.T, offerSDP string) string {
	t.Helper()
	var sd sdp.SessionDescription
	if err := sd.UnmarshalString(offerSDP); err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	b.WriteString("v=0\r\no=- 99 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\n")
	for i, md := range sd.MediaDescriptions {
		mid, _ := md.Attribute("mid")
		if md.MediaName.Media == "application" {
			b.WriteString("m=application 9 UDP/DTLS/SCTP webrtc-datachannel\r\nc=IN IP4 0.0.0.0\r\n")
			b.WriteString("a=ice-ufrag:clnt\r\na=ice-pwd:clientpasswordclientpassword\r\n")
			b.WriteString("a=fingerprint:sha-256 95:9C:81:5F:53:98:CD:53:E3:1D:59:B3:88:69:7B:58:D4:4F:05:22:8C:4D:9D:13:D8:31:F4:D1:F3:BC:A6:0A\r\n")
			b.WriteString("a=setup:active\r\na=mid:" + mid + "\r\na=sctp-port:5000\r\na=max-message-size:262144\r\n")
			continue
		}
		fmt.Fprintf(&b, "m=%s 9 UDP/TLS/RTP/SAVPF %s\r\nc=IN IP4 0.0.0.0\r\n", md.MediaName.Media, strings.Join(md.MediaName.Formats, " "))
		b.WriteString("a=ice-ufrag:clnt\r\na=ice-pwd:clientpasswordclientpassword\r\n")
		b.WriteString("a=fingerprint:sha-256 95:9C:81:5F:53:98:CD:53:E3:1D:59:B3:88:69:7B:58:D4:4F:05:22:8C:4D:9D:13:D8:31:F4:D1:F3:BC:A6:0A\r\n")
		b.WriteString("a=setup:active\r\na=mid:" + mid + "\r\n")
		dir := "inactive"
		if _, ok := md.Attribute("recvonly"); ok {
			dir = "sendonly"
		}
		if _, ok := md.Attribute("sendonly"); ok {
			dir = "recvonly"
		}
		b.WriteString("a=" + dir + "\r\n")
		if dir == "sendonly" {
			fmt.Fprintf(&b, "a=ssrc:%d cname:browser\r\n", 1000+i)
		}
	}
	return b.String()
}

// join connects, answers and reports the transport connected; it returns
// the offer.
func (ts *testServer) join(t *testing.T, c *client, role string) map[string]any {
	t.Helper()
	c.send(connectMsg(role))
	o := c.recv()
	if o["type"] != "offer" {
		t.Fatalf("got %v, want offer", o["type"])
	}
	c.send(map[string]any{"type": "answer", "sdp": answerFor(t, o["sdp"].(string))})
	c.send(map[string]any{"type": "candidate", "candidate": "candidate:1 1 udp 2122260223 192.0.2.1 50000 typ host", "sdpMid": "0", "sdpMLineIndex": 0, "usernameFragment": "clnt"})
	id := o["connection_id"].(string)
	ts.waitFor(t, "answer applied", func() bool {
		tr := ts.fakes.get(id)
		if tr == nil {
			return false
		}
		tr.mu.Lock()
		defer tr.mu.Unlock()
		return tr.remoteSet
	})
	return o
}

// waitFor polls cond for at most 5 s (the condition, not the time, is
// what the test checks).
func (ts *testServer) waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for range 500 {
		if cond() {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("timed out waiting for %s", what)
}

// --- tests ---

func TestConnectOffer(t *testing.T) {
	ts := newTestServer(t)
	c := dial(t, ts.url)
	c.send(connectMsg("sendrecv"))
	o := c.recv()
	for _, k := range []string{"type", "sdp", "connection_id", "client_id", "bundle_id", "session_id", "channel_id", "version",
		"simulcast", "simulcast_multicodec", "spotlight", "config", "mid", "audio", "video", "audio_codec_type", "video_codec_type"} {
		if _, ok := o[k]; !ok {
			t.Errorf("offer lacks %q", k)
		}
	}
	id := o["connection_id"].(string)
	u, ok := room.DecodeID(id)
	if !ok || u[6]>>4 != 4 || u[8]>>6 != 2 {
		t.Errorf("connection_id %q is not a Base32 UUIDv4", id)
	}
	if o["client_id"] != id || o["bundle_id"] != id || o["channel_id"] != "sora" || o["version"] != "test" {
		t.Errorf("ids: %v", o)
	}
	if _, ok := room.DecodeID(o["session_id"].(string)); !ok {
		t.Errorf("session_id %v", o["session_id"])
	}
	if o["simulcast"] != false || o["simulcast_multicodec"] != false || o["spotlight"] != false {
		t.Errorf("flags: %v %v %v", o["simulcast"], o["simulcast_multicodec"], o["spotlight"])
	}
	cfg, _ := json.Marshal(o["config"])
	if string(cfg) != `{"iceServers":[]}` {
		t.Errorf("config %s", cfg)
	}
	mid, _ := json.Marshal(o["mid"])
	if string(mid) != `{"audio":"0","video":"1"}` {
		t.Errorf("mid %s", mid)
	}
	if s := o["sdp"].(string); !strings.Contains(s, "a=ice-lite\r\n") || !strings.Contains(s, "a=candidate:") {
		t.Errorf("sdp lacks ice-lite or candidates:\n%s", s)
	}
	if got := ts.counter(t, "hayate_signaling_messages_received_total", "type", "connect"); got != 1 {
		t.Errorf("connect counted %v", got)
	}
}

func TestBadInputCloses(t *testing.T) {
	cases := []struct {
		name   string
		steps  func(c *client)
		code   int
		reason string
	}{
		{"not json", func(c *client) { c.sendRaw("hello") }, CloseInvalidJSON, "INVALID-JSON: the message is not a JSON object"},
		{"binary frame", func(c *client) {
			_ = c.ws.Write(context.Background(), websocket.MessageBinary, []byte(`{"type":"connect"}`))
		}, CloseInvalidJSON, "INVALID-JSON: binary frame"},
		{"unknown type", func(c *client) { c.sendRaw(`{"type":"hello"}`) }, CloseUnknownType, `UNKNOWN-TYPE: "hello"`},
		{"before connect", func(c *client) { c.sendRaw(`{"type":"answer","sdp":"v=0"}`) }, CloseUnexpectedMessage, "UNEXPECTED-MESSAGE: answer before connect"},
		{"invalid field", func(c *client) {
			m := connectMsg("sendrecv")
			m["channel_id"] = strings.Repeat("x", 256)
			c.send(m)
		}, CloseInvalidField, "INVALID-FIELD: channel_id: 256 bytes (want 1-255)"},
		{"refused by the room", func(c *client) {
			m := connectMsg("sendrecv")
			m["audio"], m["video"] = false, false
			c.send(m)
		}, CloseInvalidField, "INVALID-FIELD: audio and video are both false"},
		{"second connect", func(c *client) {
			c.send(connectMsg("sendrecv"))
			c.recv()
			c.send(connectMsg("sendrecv"))
		}, CloseUnexpectedMessage, "UNEXPECTED-MESSAGE: second connect"},
		{"bad answer", func(c *client) {
			c.send(connectMsg("sendrecv"))
			c.recv()
			c.send(map[string]any{"type": "answer", "sdp": "v=0\r\n"})
		}, CloseInvalidAnswer, "INVALID-ANSWER: "},
		{"re-answer without re-offer", func(c *client) {
			c.send(connectMsg("sendrecv"))
			o := c.recv()
			c.send(map[string]any{"type": "re-answer", "sdp": answerFor(c.t, o["sdp"].(string))})
		}, CloseUnexpectedMessage, "UNEXPECTED-MESSAGE: re-answer while awaiting answer"},
		{"too large", func(c *client) {
			c.sendRaw(`{"type":"connect","pad":"` + strings.Repeat("x", 5000) + `"}`)
		}, CloseMessageTooLarge, "MESSAGE-TOO-LARGE: limit is 4096 bytes"},
		{"disconnect", func(c *client) {
			c.send(connectMsg("sendonly"))
			c.recv()
			c.send(map[string]any{"type": "disconnect", "reason": "NO-ERROR"})
		}, CloseNormal, "TYPE-DISCONNECT"},
	}
	ts := newTestServer(t, func(c *Config) { c.MaxMessageBytes = 4096 })
	bystander := dial(t, ts.url)
	ts.join(t, bystander, "recvonly")
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := dial(t, ts.url)
			c.t = t
			tc.steps(c)
			c.expectClose(tc.code, tc.reason)
		})
	}
	// The bystander was not affected: it still talks to the server.
	bystander.send(map[string]any{"type": "pong"})
	if n := len(ts.Rooms().Connections("sora")); n != 1 {
		t.Errorf("%d connections in the channel, want only the bystander", n)
	}
	ts.waitFor(t, "two 4400 closes counted", func() bool {
		return ts.counter(t, "hayate_signaling_closes_total", "code", "4400", "reason", "INVALID-JSON") == 2
	})
	if got := ts.counter(t, "hayate_signaling_panics_total"); got != 0 {
		t.Errorf("panics %v", got)
	}
}

func TestPingPongTimeout(t *testing.T) {
	ts := newTestServer(t, func(c *Config) {
		c.PingInterval = 20 * time.Millisecond
		c.PongTimeout = 300 * time.Millisecond
	})
	c := dial(t, ts.url)
	c.send(connectMsg("sendonly"))
	c.recv()
	// Answer 25 pings (≈ 500 ms, longer than PongTimeout): the connection
	// stays because every pong resets the timer.
	var stats []bool
	for len(stats) < 25 {
		m := c.recv(true)
		if m["type"] != "ping" {
			continue
		}
		stats = append(stats, m["stats"].(bool))
		c.send(map[string]any{"type": "pong"})
	}
	if !stats[0] || stats[1] {
		t.Errorf("stats flags %v: want true on the first ping, then false until 5 s passed", stats[:3])
	}
	// Now stay silent.
	c.expectClose(ClosePongTimeout, "PONG-TIMEOUT: nothing received for 300ms")
	ts.waitFor(t, "the connection to leave", func() bool { return len(ts.Rooms().Channels()) == 0 })
	ts.waitFor(t, "the close to be counted", func() bool {
		return ts.counter(t, "hayate_signaling_closes_total", "code", "4408", "reason", "PONG-TIMEOUT") == 1
	})
}

func TestSilentBeforeConnect(t *testing.T) {
	ts := newTestServer(t, func(c *Config) { c.PongTimeout = 100 * time.Millisecond })
	c := dial(t, ts.url)
	c.expectClose(ClosePongTimeout, "PONG-TIMEOUT")
}

func TestTwoClients(t *testing.T) {
	ts := newTestServer(t)
	a := dial(t, ts.url)
	oa := ts.join(t, a, "sendrecv")
	idA := oa["connection_id"].(string)
	ts.fakes.get(idA).events.OnConnected()
	created := a.recv()
	if created["event_type"] != "connection.created" || created["connection_id"] != idA {
		t.Fatalf("A got %v", created)
	}

	b := dial(t, ts.url)
	ob := ts.join(t, b, "sendrecv")
	idB := ob["connection_id"].(string)
	if !strings.Contains(ob["sdp"].(string), "a=msid:"+idA+" ") {
		t.Error("B's offer does not carry A's tracks")
	}
	ts.fakes.get(idB).events.OnConnected()
	cb := b.recv()
	if cb["event_type"] != "connection.created" || cb["connection_id"] != idB || cb["channel_connections"] != 2.0 {
		t.Fatalf("B got %v", cb)
	}
	if data := cb["data"].([]any); len(data) != 1 || data[0].(map[string]any)["connection_id"] != idA {
		t.Errorf("B's data %v", cb["data"])
	}
	ca := a.recv()
	if ca["event_type"] != "connection.created" || ca["connection_id"] != idB {
		t.Errorf("A got %v about B", ca)
	}
	re := a.recv()
	if re["type"] != "re-offer" || !strings.Contains(re["sdp"].(string), "a=msid:"+idB+" ") {
		t.Fatalf("A got %v, want a re-offer with B's tracks", re["type"])
	}
	a.send(map[string]any{"type": "re-answer", "sdp": answerFor(t, re["sdp"].(string))})
	ts.waitFor(t, "A's downstreams", func() bool {
		tr := ts.fakes.get(idA)
		tr.mu.Lock()
		defer tr.mu.Unlock()
		return tr.downs == 2
	})

	// B goes away without disconnect: A hears connection.destroyed.
	b.ws.Close(websocket.StatusGoingAway, "bye")
	d := a.recv()
	if d["event_type"] != "connection.destroyed" || d["connection_id"] != idB {
		t.Errorf("A got %v", d)
	}
	if re := a.recv(); re["type"] != "re-offer" {
		t.Errorf("A got %v, want the re-offer removing B", re["type"])
	}
}

func TestTransportFailureCloses(t *testing.T) {
	ts := newTestServer(t)
	c := dial(t, ts.url)
	o := ts.join(t, c, "sendonly")
	ts.fakes.get(o["connection_id"].(string)).events.OnClosed(errors.New("ice: timeout"))
	c.expectClose(CloseTransportFailed, "TRANSPORT-CLOSED: ice: timeout")
}

func TestPanicRecovered(t *testing.T) {
	ts := newTestServer(t)
	other := dial(t, ts.url)
	ts.join(t, other, "recvonly")
	ts.fakes.panics.Store(true)
	c := dial(t, ts.url)
	c.send(connectMsg("sendrecv"))
	o := c.recv()
	c.send(map[string]any{"type": "answer", "sdp": answerFor(t, o["sdp"].(string))})
	c.expectClose(CloseInternalError, "INTERNAL-ERROR")
	if got := ts.counter(t, "hayate_signaling_panics_total"); got != 1 {
		t.Errorf("panics counted %v", got)
	}
	// The channel's lock was released: the other connection still works.
	ts.fakes.panics.Store(false)
	ts.waitFor(t, "the channel to be usable", func() bool { return len(ts.Rooms().Connections("sora")) == 1 })
	d := dial(t, ts.url)
	ts.join(t, d, "sendonly")
}

func TestShutdown(t *testing.T) {
	ts := newTestServer(t)
	a := dial(t, ts.url)
	ts.join(t, a, "sendrecv")
	b := dial(t, ts.url) // never sends connect
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	errc := make(chan error, 1)
	go func() { errc <- ts.Shutdown(ctx) }()
	a.expectClose(CloseNormal, "SHUTDOWN")
	b.expectClose(CloseNormal, "SHUTDOWN")
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
	if n := len(ts.Rooms().Channels()); n != 0 {
		t.Errorf("%d channels after shutdown", n)
	}
	// Shutdown waited for every connection goroutine.
	buf := make([]byte, 1<<20)
	if stacks := string(buf[:runtime.Stack(buf, true)]); strings.Contains(stacks, "signaling.(*conn)") {
		t.Errorf("connection goroutines left after Shutdown:\n%s", stacks)
	}
	_, resp, err := websocket.Dial(ctx, ts.url, nil)
	if err == nil || resp == nil || resp.StatusCode != http.StatusServiceUnavailable {
		t.Errorf("upgrade after shutdown: %v %v", resp, err)
	}
}

func TestSendQueueOverflow(t *testing.T) {
	ts := newTestServer(t)
	c := newConn(ts.Server)
	for range sendQueueLen {
		c.Send([]byte("{}"))
	}
	if c.closing {
		t.Fatal("closed before the queue was full")
	}
	c.Send([]byte("{}"))
	if !c.closing || c.code != CloseSendQueueFull || !c.abrupt {
		t.Errorf("after overflow: closing=%v code=%d abrupt=%v", c.closing, c.code, c.abrupt)
	}
	if got := ts.counter(t, "hayate_signaling_send_queue_overflows_total"); got != 1 {
		t.Errorf("overflows counted %v", got)
	}
}

// A connection without DataChannel signaling has no DataChannel queue; a
// message handed to it anyway is dropped at once rather than holding the
// caller until the connection ends.
func TestReceiveDataChannelWithoutSignaling(t *testing.T) {
	ts := newTestServer(t)
	c := newConn(ts.Server)
	if c.dcIn != nil {
		t.Fatal("a new connection has a DataChannel queue")
	}
	c.ReceiveDataChannel("signaling", []byte(`{"type":"disconnect"}`)) // returns
	if got := ts.counter(t, "hayate_signaling_messages_received_total", "type", "invalid"); got != 1 {
		t.Errorf("dropped message counted %v times", got)
	}
}

func TestPush(t *testing.T) {
	ts := newTestServer(t)
	c := dial(t, ts.url)
	o := ts.join(t, c, "recvonly")
	rc, ok := ts.Rooms().Connection(o["connection_id"].(string))
	if !ok {
		t.Fatal("connection not found")
	}
	if err := rc.Push(map[string]any{"x": "y"}); err != nil {
		t.Fatal(err)
	}
	m := c.recv()
	if m["type"] != "push" || m["data"].(map[string]any)["x"] != "y" {
		t.Errorf("got %v", m)
	}
	rc.Disconnect("DISCONNECTED-API")
	c.expectClose(CloseNormal, "DISCONNECTED-API")
}

func TestNewConfig(t *testing.T) {
	if _, err := New(Config{}); !errors.Is(err, ErrConfig) {
		t.Errorf("nil Plane: %v", err)
	}
	if _, err := New(Config{transports: &fakeTransports{}, PingInterval: -1}); !errors.Is(err, ErrConfig) {
		t.Errorf("negative interval: %v", err)
	}
}

func testLogger() *slog.Logger {
	if testing.Verbose() {
		return slog.Default()
	}
	return slog.New(slog.DiscardHandler)
}
