package room

import (
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hayate-sfu/hayate/dataplane"
	"github.com/pion/sdp/v3"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
)

// transcript records, in order, every message the room sends and every call
// it makes on a transport, one line each, for golden files.
type transcript struct {
	mu    sync.Mutex
	lines []string
}

func (tr *transcript) add(format string, args ...any) {
	if tr == nil {
		return
	}
	tr.mu.Lock()
	tr.lines = append(tr.lines, fmt.Sprintf(format, args...))
	tr.mu.Unlock()
}

func (tr *transcript) String() string {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	return strings.Join(tr.lines, "\n") + "\n"
}

// fakeFactory makes fakeTransports. Transports are named by the order they
// were created (T1, T2, …) in transcripts, so connection ids appear only in
// messages.
type fakeFactory struct {
	log *transcript

	mu         sync.Mutex
	transports []*fakeTransport
	failNew    error
}

func (f *fakeFactory) NewTransport(id string, ev dataplane.TransportEvents) (Transport, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.failNew != nil {
		return nil, f.failNew
	}
	n := len(f.transports) + 1
	t := &fakeTransport{
		name:   fmt.Sprintf("T%d", n),
		id:     id,
		events: ev,
		log:    f.log,
		local:  dataplane.LocalParams{Ufrag: fmt.Sprintf("ufrag%011d", n), Pwd: fmt.Sprintf("pwd%029d", n)},
		downs:  map[string]dataplane.Downstream{},
	}
	f.transports = append(f.transports, t)
	return t, nil
}

func (f *fakeFactory) Fingerprint() string {
	return "0A:1B:2C:3D:4E:5F:60:71:82:93:A4:B5:C6:D7:E8:F9:0A:1B:2C:3D:4E:5F:60:71:82:93:A4:B5:C6:D7:E8:F9"
}

func (f *fakeFactory) Candidates() []dataplane.Candidate {
	return []dataplane.Candidate{{Addr: netip.MustParseAddrPort("127.0.0.1:50000"), Protocol: "udp"}}
}

type fakeTransport struct {
	name, id string
	events   dataplane.TransportEvents
	log      *transcript
	local    dataplane.LocalParams

	mu           sync.Mutex
	remote       *dataplane.RemoteParams
	ups          []dataplane.Upstream
	downs        map[string]dataplane.Downstream // by track id
	removedDowns []string
	closed       bool
	failRemote   error
	dcs          []*fakeDC
	failOpen     error
}

// fakeDC is a DataChannel that records what the room sends. Close plays a
// well-behaved client: the channel's OnClose follows at once.
type fakeDC struct {
	t   *fakeTransport
	cfg dataplane.DataChannelConfig
	h   DataChannelHandler

	mu       sync.Mutex
	sent     []fakeDCMsg
	closed   bool
	failSend error
	once     sync.Once
}

type fakeDCMsg struct {
	data     []byte
	isString bool
}

func (d *fakeDC) Send(b []byte, isString bool) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.failSend != nil {
		return d.failSend
	}
	if d.closed {
		return errors.New("fake: closed")
	}
	d.sent = append(d.sent, fakeDCMsg{append([]byte(nil), b...), isString})
	d.t.log.add("%s", dcLine(d.t.name+" "+d.cfg.Label, b, isString))
	return nil
}

// dcLine writes a DataChannel message for a transcript: JSON as
// transcriptLine does, a zlib stream as zlib(<content>), other binary
// messages quoted.
func dcLine(name string, b []byte, isString bool) string {
	if isString && len(b) > 0 && b[0] == '{' {
		return transcriptLine(name, b)
	}
	if !isString && len(b) > 1 && b[0] == 0x78 {
		if out, err := inflate(nil, b, 1<<20); err == nil {
			return name + " <- zlib(" + strconv.Quote(string(out)) + ")"
		}
	}
	kind := "bin"
	if isString {
		kind = "text"
	}
	return name + " <- " + kind + " " + strconv.Quote(string(b))
}

func (d *fakeDC) Close() error {
	d.mu.Lock()
	d.closed = true
	d.mu.Unlock()
	d.t.log.add("%s DataChannel %s closed", d.t.name, d.cfg.Label)
	d.end()
	return nil
}

// end delivers OnClose once (the server closed it, the client did, or the
// transport went).
func (d *fakeDC) end() { d.once.Do(d.h.OnClose) }

// take returns the messages sent since the last take.
func (d *fakeDC) take() []fakeDCMsg {
	d.mu.Lock()
	defer d.mu.Unlock()
	out := d.sent
	d.sent = nil
	return out
}

func (d *fakeDC) isClosed() bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.closed
}

func (t *fakeTransport) OpenDataChannel(cfg dataplane.DataChannelConfig, h DataChannelHandler) (DataChannel, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.failOpen != nil {
		return nil, t.failOpen
	}
	d := &fakeDC{t: t, cfg: cfg, h: h}
	t.dcs = append(t.dcs, d)
	t.log.add("%s OpenDataChannel %s ordered=%v rexmit=%d lifetime=%d protocol=%q", t.name, cfg.Label, cfg.Ordered, cfg.MaxRetransmits, cfg.MaxPacketLifeTime, cfg.Protocol)
	return d, nil
}

// dc returns the channel opened with label.
func (t *fakeTransport) dc(label string) *fakeDC {
	t.mu.Lock()
	defer t.mu.Unlock()
	for _, d := range t.dcs {
		if d.cfg.Label == label {
			return d
		}
	}
	return nil
}

func (t *fakeTransport) isClosed() bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.closed
}

func (t *fakeTransport) Local() dataplane.LocalParams { return t.local }

func (t *fakeTransport) SetRemote(r dataplane.RemoteParams) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.failRemote != nil {
		return t.failRemote
	}
	t.remote = &r
	if r.DataChannels {
		t.log.add("%s SetRemote ufrag=%s role=%d twcc=%v datachannels max-message-size=%d", t.name, r.Ufrag, r.Role, r.TransportCC, r.MaxMessageSize)
	} else {
		t.log.add("%s SetRemote ufrag=%s role=%d twcc=%v", t.name, r.Ufrag, r.Role, r.TransportCC)
	}
	return nil
}

func (t *fakeTransport) AddUpstream(u dataplane.Upstream) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.ups = append(t.ups, u)
	rids := ""
	if len(u.RIDs) > 0 {
		rids = fmt.Sprintf(" rids=%v", u.RIDs)
	}
	t.log.add("%s AddUpstream %s kind=%v ssrc=%d rtx=%d pt=%d%s", t.name, u.TrackID, u.Kind, u.SSRC, u.RTXSSRC, u.PayloadType, rids)
	return nil
}

func (t *fakeTransport) RemoveUpstream(id string) {
	t.log.add("%s RemoveUpstream %s", t.name, id)
}

func (t *fakeTransport) AddDownstream(d dataplane.Downstream) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.downs[d.TrackID] = d
	rid := ""
	if d.RID != "" {
		rid = fmt.Sprintf(" rid=%s", d.RID)
	}
	t.log.add("%s AddDownstream %s mid=%s ssrc=%d rtx=%d%s", t.name, d.TrackID, d.Mid, d.SSRC, d.RTXSSRC, rid)
	return nil
}

func (t *fakeTransport) RemoveDownstream(id string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	delete(t.downs, id)
	t.removedDowns = append(t.removedDowns, id)
	t.log.add("%s RemoveDownstream %s", t.name, id)
}

// Close ends the transport; like the plane it ends the channels still
// open (their OnClose runs on another goroutine, as the plane's readers do).
func (t *fakeTransport) Close() {
	t.mu.Lock()
	if !t.closed {
		t.log.add("%s Close", t.name)
	}
	t.closed = true
	dcs := t.dcs
	t.mu.Unlock()
	for _, d := range dcs {
		go d.end()
	}
}

func (t *fakeTransport) downstreams() map[string]dataplane.Downstream {
	t.mu.Lock()
	defer t.mu.Unlock()
	out := make(map[string]dataplane.Downstream, len(t.downs))
	for k, v := range t.downs {
		out[k] = v
	}
	return out
}

// fakePeer collects what the room sends to one client.
type fakePeer struct {
	name string
	log  *transcript

	mu          sync.Mutex
	msgs        [][]byte
	closeCode   int
	closeReason string
	switched    *bool    // the ignore_disconnect_websocket given to Switched
	dcIn        []string // "label: message" handed over by ReceiveDataChannel
}

// Switched implements DataChannelPeer.
func (p *fakePeer) Switched(ignore bool) {
	p.mu.Lock()
	p.switched = &ignore
	p.mu.Unlock()
	p.log.add("%s switched (ignore_disconnect_websocket=%v)", p.name, ignore)
}

// ReceiveDataChannel implements DataChannelPeer.
func (p *fakePeer) ReceiveDataChannel(label string, msg []byte) {
	p.mu.Lock()
	p.dcIn = append(p.dcIn, label+": "+string(msg))
	p.mu.Unlock()
}

func (p *fakePeer) Send(b []byte) {
	p.mu.Lock()
	p.msgs = append(p.msgs, b)
	p.mu.Unlock()
	p.log.add("%s", transcriptLine(p.name, b))
}

// transcriptLine writes a message on one line, except that an "sdp" value
// is replaced by "…" and its lines follow, indented, for review.
func transcriptLine(name string, b []byte) string {
	var m struct {
		SDP string `json:"sdp"`
	}
	_ = json.Unmarshal(b, &m)
	if m.SDP == "" {
		return name + " <- " + string(b)
	}
	quoted, _ := json.Marshal(m.SDP)
	line := name + " <- " + strings.Replace(string(b), string(quoted), `"…"`, 1)
	return line + "\n    " + strings.ReplaceAll(strings.TrimSuffix(m.SDP, "\r\n"), "\r\n", "\n    ")
}

func (p *fakePeer) Close(code int, reason string) {
	p.mu.Lock()
	p.closeCode, p.closeReason = code, reason
	p.mu.Unlock()
	p.log.add("%s closed %d %q", p.name, code, reason)
}

// take returns the messages received since the last take, decoded.
func (p *fakePeer) take(t *testing.T) []map[string]any {
	t.Helper()
	p.mu.Lock()
	raw := p.msgs
	p.msgs = nil
	p.mu.Unlock()
	out := make([]map[string]any, len(raw))
	for i, b := range raw {
		if err := json.Unmarshal(b, &out[i]); err != nil {
			t.Fatalf("%s got invalid JSON %s: %v", p.name, b, err)
		}
	}
	return out
}

func types(msgs []map[string]any) string {
	var s []string
	for _, m := range msgs {
		typ := m["type"].(string)
		if e, ok := m["event_type"].(string); ok {
			typ += ":" + e
		}
		s = append(s, typ)
	}
	return strings.Join(s, " ")
}

// env is a registry with fakes, a manual clock and sequential ids.
type env struct {
	t   *testing.T
	reg *Registry
	fac *fakeFactory
	log *transcript
	prm *prometheus.Registry

	mu  sync.Mutex
	now time.Time
	ids int
}

func newEnv(t *testing.T, mutate ...func(*Config)) *env {
	t.Helper()
	e := &env{t: t, log: &transcript{}, prm: prometheus.NewRegistry(), now: time.Date(2026, 11, 27, 13, 44, 33, 572_000_000, time.UTC)}
	e.fac = &fakeFactory{log: e.log}
	cfg := Config{
		Transports: e.fac,
		Registerer: e.prm,
		Logger:     slog.New(slog.DiscardHandler),
		Notify:     true,
		Version:    "2026.1.0-test",
		Now:        e.clock,
		NewID:      e.newID,
		Rand:       rand.NewPCG(1, 2),
	}
	for _, m := range mutate {
		m(&cfg)
	}
	reg, err := NewRegistry(cfg)
	if err != nil {
		t.Fatal(err)
	}
	e.reg = reg
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

// newID makes readable 26-character ids: ID00…01, ID00…02, …
func (e *env) newID() string {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.ids++
	return fmt.Sprintf("ID%024d", e.ids)
}

func req(role Role) JoinRequest {
	return JoinRequest{ChannelID: "room-1", Role: role, Audio: Media{Enabled: true}, Video: Media{Enabled: true}}
}

type member struct {
	c        *Connection
	p        *fakePeer
	tr       *fakeTransport
	last     string // SDP of the last offer or re-offer
	answered bool   // the first offer was answered
}

func (e *env) join(name string, r JoinRequest) *member {
	e.t.Helper()
	p := &fakePeer{name: name, log: e.log}
	c, err := e.reg.Join(r, p)
	if err != nil {
		e.t.Fatalf("join %s: %v", name, err)
	}
	e.fac.mu.Lock()
	tr := e.fac.transports[len(e.fac.transports)-1]
	e.fac.mu.Unlock()
	return &member{c: c, p: p, tr: tr}
}

// lastSDP finds the SDP of the last offer/re-offer among msgs.
func lastSDP(t *testing.T, msgs []map[string]any) string {
	t.Helper()
	for i := len(msgs) - 1; i >= 0; i-- {
		if s, ok := msgs[i]["sdp"].(string); ok {
			return s
		}
	}
	t.Fatalf("no offer among %s", types(msgs))
	return ""
}

// answer answers the member's pending offer (first or re-offer) found in
// msgs, as a browser would.
func (m *member) answer(t *testing.T, msgs []map[string]any) {
	t.Helper()
	m.last = lastSDP(t, msgs)
	ans := answerFor(t, m.last)
	var err error
	if !m.answered {
		err = m.c.Answer(ans)
		m.answered = true
	} else {
		err = m.c.ReAnswer(ans)
	}
	if err != nil {
		t.Fatalf("%s answer: %v", m.p.name, err)
	}
}

// connect answers the first offer and reports the transport connected.
// With DataChannel signaling the client then answers the req-stats on its
// stats channel, as the SDKs do, which completes the switch.
func (m *member) connect(t *testing.T) []map[string]any {
	t.Helper()
	msgs := m.p.take(t)
	m.answer(t, msgs)
	m.tr.events.OnConnected()
	if d := m.tr.dc(LabelStats); d != nil {
		d.h.OnMessage([]byte(`{"type":"stats","reports":[]}`), true)
	}
	return msgs
}

// answerFor writes a browser-like answer: setup active, the inverse
// direction per section, and SSRCs (derived from the mid) for the sections
// it sends on.
func answerFor(t *testing.T, offerSDP string, reject ...string) string {
	t.Helper()
	var sd sdp.SessionDescription
	if err := sd.UnmarshalString(offerSDP); err != nil {
		t.Fatalf("offer does not parse: %v\n%s", err, offerSDP)
	}
	var b strings.Builder
	b.WriteString("v=0\r\no=- 99 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\n")
	g, _ := sd.Attribute("group")
	b.WriteString("a=group:" + g + "\r\n")
	for i, md := range sd.MediaDescriptions {
		mid, _ := md.Attribute("mid")
		port := 9
		for _, r := range reject {
			if r == mid {
				port = 0
			}
		}
		transport := "a=ice-ufrag:clnt\r\na=ice-pwd:clientpasswordclientpassword\r\n" +
			"a=fingerprint:sha-256 95:9C:81:5F:53:98:CD:53:E3:1D:59:B3:88:69:7B:58:D4:4F:05:22:8C:4D:9D:13:D8:31:F4:D1:F3:BC:A6:0A\r\n" +
			"a=setup:active\r\na=mid:" + mid + "\r\n"
		if md.MediaName.Media == "application" { // as Chromium answers it
			fmt.Fprintf(&b, "m=application %d UDP/DTLS/SCTP webrtc-datachannel\r\nc=IN IP4 0.0.0.0\r\n%s", port, transport)
			b.WriteString("a=sctp-port:5000\r\na=max-message-size:262144\r\n")
			continue
		}
		fmt.Fprintf(&b, "m=%s %d UDP/TLS/RTP/SAVPF %s\r\nc=IN IP4 0.0.0.0\r\n", md.MediaName.Media, port, strings.Join(md.MediaName.Formats, " "))
		b.WriteString(transport)
		dir := "inactive"
		for _, a := range md.Attributes {
			switch a.Key {
			case "extmap", "rtpmap", "fmtp", "rtcp-fb":
				fmt.Fprintf(&b, "a=%s:%s\r\n", a.Key, a.Value)
			case "recvonly":
				dir = "sendonly"
			case "sendonly":
				dir = "recvonly"
			}
		}
		b.WriteString("a=" + dir + "\r\n")
		if dir == "sendonly" {
			ssrc := 1000 + 10*uint32(i)
			if md.MediaName.Media == "video" {
				fmt.Fprintf(&b, "a=ssrc-group:FID %d %d\r\n", ssrc, ssrc+1)
				fmt.Fprintf(&b, "a=ssrc:%d cname:browser\r\na=ssrc:%d cname:browser\r\n", ssrc, ssrc+1)
			} else {
				fmt.Fprintf(&b, "a=ssrc:%d cname:browser\r\n", ssrc)
			}
		}
	}
	return b.String()
}

// sections summarises an SDP as "mid:kind:direction[:msid stream]" items.
func sections(t *testing.T, text string) []string {
	t.Helper()
	var sd sdp.SessionDescription
	if err := sd.UnmarshalString(text); err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, md := range sd.MediaDescriptions {
		mid, _ := md.Attribute("mid")
		s := mid + ":" + md.MediaName.Media
		for _, d := range []string{"sendonly", "recvonly", "inactive", "sendrecv"} {
			if _, ok := md.Attribute(d); ok {
				s += ":" + d
			}
		}
		if msid, ok := md.Attribute("msid"); ok {
			stream, _, _ := strings.Cut(msid, " ")
			s += ":" + stream
		}
		out = append(out, s)
	}
	return out
}

// ssrcOf returns the first a=ssrc of a mid in an SDP.
func ssrcOf(t *testing.T, text, mid string) string {
	t.Helper()
	var sd sdp.SessionDescription
	if err := sd.UnmarshalString(text); err != nil {
		t.Fatal(err)
	}
	for _, md := range sd.MediaDescriptions {
		if m, _ := md.Attribute("mid"); m == mid {
			v, _ := md.Attribute("ssrc")
			id, _, _ := strings.Cut(v, " ")
			return id
		}
	}
	return ""
}

// counter reads a counter or gauge (with optional label value) from reg.
func counter(t *testing.T, reg *prometheus.Registry, name string, label ...string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			if len(label) > 0 && !hasLabel(m, label[0]) {
				continue
			}
			if m.Counter != nil {
				return m.Counter.GetValue()
			}
			return m.Gauge.GetValue()
		}
	}
	return 0
}

func hasLabel(m *dto.Metric, v string) bool {
	for _, l := range m.GetLabel() {
		if l.GetValue() == v {
			return true
		}
	}
	return false
}
