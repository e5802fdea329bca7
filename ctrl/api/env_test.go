package api

import (
	"encoding/json"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hayate-sfu/hayate/ctrl/room"
	"github.com/hayate-sfu/hayate/dataplane"
	"github.com/pion/sdp/v3"
	"github.com/prometheus/client_golang/prometheus"
)

// The test world: a real room.Registry over fake media transports, with a
// manual clock and readable sequential ids, and fake signaling peers that
// record what the room sends them. Effects (pushes, closes, keyframe
// requests) are written to a shared log for the golden files.

type effects struct {
	mu    sync.Mutex
	lines []string
	on    bool // record only while a request runs
}

func (e *effects) add(format string, args ...any) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.on {
		e.lines = append(e.lines, fmt.Sprintf(format, args...))
	}
}

func (e *effects) start() {
	e.mu.Lock()
	e.on, e.lines = true, nil
	e.mu.Unlock()
}

func (e *effects) stop() []string {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.on = false
	return e.lines
}

type fakeFactory struct {
	fx *effects

	mu         sync.Mutex
	transports []*fakeTransport
}

func (f *fakeFactory) NewTransport(id string, ev dataplane.TransportEvents) (room.Transport, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	n := len(f.transports) + 1
	t := &fakeTransport{id: id, fx: f.fx, events: ev,
		local: dataplane.LocalParams{Ufrag: fmt.Sprintf("ufrag%011d", n), Pwd: fmt.Sprintf("pwd%029d", n)}}
	f.transports = append(f.transports, t)
	return t, nil
}

func (f *fakeFactory) last() *fakeTransport {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.transports[len(f.transports)-1]
}

func (f *fakeFactory) Fingerprint() string {
	return "0A:1B:2C:3D:4E:5F:60:71:82:93:A4:B5:C6:D7:E8:F9:0A:1B:2C:3D:4E:5F:60:71:82:93:A4:B5:C6:D7:E8:F9"
}

func (f *fakeFactory) Candidates() []dataplane.Candidate {
	return []dataplane.Candidate{{Addr: netip.MustParseAddrPort("127.0.0.1:50000"), Protocol: "udp"}}
}

// fakeTransport satisfies room.Transport and the optional Stats and
// RequestKeyFrame methods of *dataplane.Transport.
type fakeTransport struct {
	id     string
	fx     *effects
	events dataplane.TransportEvents
	local  dataplane.LocalParams

	mu    sync.Mutex
	stats dataplane.TransportStats
}

func (t *fakeTransport) Local() dataplane.LocalParams             { return t.local }
func (t *fakeTransport) SetRemote(dataplane.RemoteParams) error   { return nil }
func (t *fakeTransport) AddUpstream(dataplane.Upstream) error     { return nil }
func (t *fakeTransport) RemoveUpstream(string)                    {}
func (t *fakeTransport) AddDownstream(dataplane.Downstream) error { return nil }
func (t *fakeTransport) RemoveDownstream(string)                  {}
func (t *fakeTransport) Close()                                   {}

func (t *fakeTransport) OpenDataChannel(dataplane.DataChannelConfig, room.DataChannelHandler) (room.DataChannel, error) {
	return nil, dataplane.ErrNoDataChannels
}

func (t *fakeTransport) RequestKeyFrame(trackID string) {
	t.fx.add("transport of %s: RequestKeyFrame %s", t.id, trackID)
}

func (t *fakeTransport) Stats() dataplane.TransportStats {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.stats
}

func (t *fakeTransport) setStats(s dataplane.TransportStats) {
	t.mu.Lock()
	t.stats = s
	t.mu.Unlock()
}

// fakePeer records what the room sends one client.
type fakePeer struct {
	name string
	fx   *effects

	mu          sync.Mutex
	msgs        [][]byte
	closeCode   int
	closeReason string
}

func (p *fakePeer) Send(b []byte) {
	p.mu.Lock()
	p.msgs = append(p.msgs, b)
	p.mu.Unlock()
	var m struct {
		Type      string `json:"type"`
		EventType string `json:"event_type"`
	}
	_ = json.Unmarshal(b, &m)
	switch m.Type {
	case "offer", "re-offer": // SDPs are the room's business, not the API's
		p.fx.add("%s <- %s", p.name, m.Type)
	default:
		p.fx.add("%s <- %s", p.name, b)
	}
}

func (p *fakePeer) Close(code int, reason string) {
	p.mu.Lock()
	p.closeCode, p.closeReason = code, reason
	p.mu.Unlock()
	p.fx.add("%s closed %d %q", p.name, code, reason)
}

func (p *fakePeer) closed() (int, string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.closeCode, p.closeReason
}

func (p *fakePeer) lastSDP(t testing.TB) string {
	t.Helper()
	p.mu.Lock()
	defer p.mu.Unlock()
	for i := len(p.msgs) - 1; i >= 0; i-- {
		var m struct {
			SDP string `json:"sdp"`
		}
		if json.Unmarshal(p.msgs[i], &m) == nil && m.SDP != "" {
			return m.SDP
		}
	}
	t.Fatalf("%s received no offer", p.name)
	return ""
}

type env struct {
	t   testing.TB
	fx  *effects
	fac *fakeFactory
	reg *room.Registry
	api *API
	prm *prometheus.Registry

	mu    sync.Mutex
	now   time.Time
	ids   int
	peers map[string]*member
}

type member struct {
	name string
	c    *room.Connection
	p    *fakePeer
	tr   *fakeTransport
}

var start = time.Date(2026, 11, 27, 13, 44, 33, 572_000_000, time.UTC)

func newEnv(t testing.TB, mutate ...func(*Config)) *env {
	t.Helper()
	e := &env{t: t, fx: &effects{}, now: start, peers: map[string]*member{}, prm: prometheus.NewRegistry()}
	e.fac = &fakeFactory{fx: e.fx}
	reg, err := room.NewRegistry(room.Config{
		Transports: e.fac,
		Logger:     slog.New(slog.DiscardHandler),
		Notify:     true,
		Version:    "2026.1.0-test",
		Now:        e.clock,
		NewID:      e.newID,
		Rand:       rand.NewPCG(1, 2),
	})
	if err != nil {
		t.Fatal(err)
	}
	e.reg = reg
	cfg := Config{
		Rooms:       reg,
		Logger:      slog.New(slog.DiscardHandler),
		Registerer:  e.prm,
		Version:     "2026.1.0-test",
		CrashLogDir: t.TempDir(),
		Now:         e.clock,
	}
	for _, m := range mutate {
		m(&cfg)
	}
	a, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	e.api = a
	return e
}

func (e *env) clock() time.Time {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.now
}

func (e *env) advance(d time.Duration) {
	e.mu.Lock()
	e.now = e.now.Add(d)
	e.mu.Unlock()
}

// newID makes ids such as CONN0000000000000000000001 (26 characters).
func (e *env) newID() string {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.ids++
	return fmt.Sprintf("CONN%022d", e.ids)
}

// join admits a connect; created also answers the offer and brings the
// transport up (connection.created), as a browser would.
func (e *env) join(name string, req room.JoinRequest, created bool) *member {
	e.t.Helper()
	p := &fakePeer{name: name, fx: e.fx}
	c, err := e.reg.Join(req, p)
	if err != nil {
		e.t.Fatalf("join %s: %v", name, err)
	}
	m := &member{name: name, c: c, p: p, tr: e.fac.last()}
	e.peers[name] = m
	if created {
		if err := c.Answer(answerFor(e.t, p.lastSDP(e.t))); err != nil {
			e.t.Fatalf("%s answer: %v", name, err)
		}
		e.advance(250 * time.Millisecond) // ICE and DTLS take a while
		m.tr.events.OnConnected()
	}
	return m
}

func joinReq(channel, client string, role room.Role) room.JoinRequest {
	return room.JoinRequest{ChannelID: channel, ClientID: client, Role: role,
		Audio: room.Media{Enabled: true}, Video: room.Media{Enabled: true},
		SoraClient: "Sora JavaScript SDK 2026.1.0"}
}

// world fills e with two channels:
//
//	sora:  A sendrecv client alice (created, 60 s later B joins)
//	       B recvonly client bob   (created)
//	       C sendonly client alice (transport not up yet)
//	akane: D sendrecv, VP9 video at 800 kbps, Opus at 64 kbps, sora_client momo (created)
func (e *env) world() {
	e.join("A", joinReq("sora", "alice", room.RoleSendRecv), true)
	e.advance(60 * time.Second)
	e.join("B", joinReq("sora", "bob", room.RoleRecvOnly), true)
	e.join("C", joinReq("sora", "alice", room.RoleSendOnly), false)
	d := joinReq("akane", "", room.RoleSendRecv)
	d.Video = room.Media{Enabled: true, CodecType: "VP9", BitRate: 800}
	d.Audio = room.Media{Enabled: true, BitRate: 64}
	d.SoraClient = "WebRTC Native Client Momo 2025.1.0"
	e.join("D", d, true)
	e.peers["A"].tr.setStats(dataplane.TransportStats{PacketsIn: 1200, BytesIn: 960000, PacketsOut: 800, BytesOut: 500000, NACKsIn: 3, PLIsIn: 2, Retransmits: 3})
	e.peers["B"].tr.setStats(dataplane.TransportStats{PacketsIn: 40, BytesIn: 3200, PacketsOut: 1150, BytesOut: 900000, NACKsIn: 1, PLIsIn: 1})
	e.advance(30 * time.Second)
}

// answerFor writes a browser-like answer to an offer: setup active, each
// section's direction inverted, SSRCs on the sections the client sends on.
func answerFor(t testing.TB, offerSDP string) string {
	t.Helper()
	var sd sdp.SessionDescription
	if err := sd.UnmarshalString(offerSDP); err != nil {
		t.Fatalf("offer does not parse: %v\n%s", err, offerSDP)
	}
	var b strings.Builder
	b.WriteString("v=0\r\no=- 7 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\n")
	if g, ok := sd.Attribute("group"); ok {
		b.WriteString("a=group:" + g + "\r\n")
	}
	for i, md := range sd.MediaDescriptions {
		mid, _ := md.Attribute("mid")
		fmt.Fprintf(&b, "m=%s 9 %s %s\r\nc=IN IP4 0.0.0.0\r\n", md.MediaName.Media,
			strings.Join(md.MediaName.Protos, "/"), strings.Join(md.MediaName.Formats, " "))
		b.WriteString("a=ice-ufrag:clnt\r\na=ice-pwd:clientpasswordclientpassword\r\n")
		b.WriteString("a=fingerprint:sha-256 95:9C:81:5F:53:98:CD:53:E3:1D:59:B3:88:69:7B:58:D4:4F:05:22:8C:4D:9D:13:D8:31:F4:D1:F3:BC:A6:0A\r\n")
		b.WriteString("a=setup:active\r\na=mid:" + mid + "\r\n")
		dir := "inactive"
		for _, a := range md.Attributes {
			switch a.Key {
			case "extmap", "rtpmap", "fmtp", "rtcp-fb", "sctp-port":
				fmt.Fprintf(&b, "a=%s:%s\r\n", a.Key, a.Value)
			case "recvonly":
				dir = "sendonly"
			case "sendonly":
				dir = "recvonly"
			}
		}
		if md.MediaName.Media == "application" {
			continue
		}
		b.WriteString("a=" + dir + "\r\n")
		if dir == "sendonly" {
			ssrc := 1000 + 10*uint32(i)
			fmt.Fprintf(&b, "a=ssrc:%d cname:browser\r\n", ssrc)
		}
	}
	return b.String()
}
