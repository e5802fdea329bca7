package room

import (
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/hayate-sfu/hayate/ctrl/offer"
	"github.com/hayate-sfu/hayate/dataplane"
	"github.com/pion/sdp/v3"
)

// The fakes' side of simulcast and spotlight: a transport that records
// layer and pause requests in the transcript, and a factory whose audio
// levels a test sets. They wrap the shared fakes instead of adding methods
// to them, so that other files' fakes may grow the same methods.

type layerTransport struct {
	*fakeTransport
	failLayer error
}

func (t *layerTransport) SetDownstreamLayer(trackID, rid string) error {
	if t.failLayer != nil {
		return t.failLayer
	}
	t.log.add("%s SetDownstreamLayer %s %q", t.name, trackID, rid)
	return nil
}

func (t *layerTransport) PauseDownstream(trackID string, paused bool) error {
	t.log.add("%s PauseDownstream %s %v", t.name, trackID, paused)
	return nil
}

type layerFactory struct {
	*fakeFactory

	mu     sync.Mutex
	wraps  map[*fakeTransport]*layerTransport
	levels map[string]dataplane.AudioLevel
	reads  int
}

func (f *layerFactory) NewTransport(id string, ev dataplane.TransportEvents) (Transport, error) {
	tr, err := f.fakeFactory.NewTransport(id, ev)
	if err != nil {
		return nil, err
	}
	w := &layerTransport{fakeTransport: tr.(*fakeTransport)}
	f.mu.Lock()
	f.wraps[w.fakeTransport] = w
	f.mu.Unlock()
	return w, nil
}

func (f *layerFactory) AudioLevels() (map[string]dataplane.AudioLevel, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.reads++
	out := make(map[string]dataplane.AudioLevel, len(f.levels))
	for k, v := range f.levels {
		out[k] = v
	}
	return out, nil
}

// newLayerEnv is newEnv with the layer fakes and no spotlight poller (the
// tests choose the focus with tick).
func newLayerEnv(t *testing.T, mutate ...func(*Config)) (*env, *layerFactory) {
	var lf *layerFactory
	e := newEnv(t, append([]func(*Config){func(c *Config) {
		lf = &layerFactory{fakeFactory: c.Transports.(*fakeFactory), wraps: map[*fakeTransport]*layerTransport{}}
		c.Transports = lf
		c.SpotlightInterval = -1
	}}, mutate...)...)
	return e, lf
}

// simulcastAnswerFor answers like answerFor, and in each video section the
// offer receives simulcast on it sends rids (default r0 r1 r2) the way
// Chrome does: a=rid … send and a=simulcast:send, no a=ssrc.
func simulcastAnswerFor(t *testing.T, offerSDP string, rids ...string) string {
	t.Helper()
	if len(rids) == 0 {
		rids = offer.SimulcastRIDs
	}
	var sd sdp.SessionDescription
	if err := sd.UnmarshalString(offerSDP); err != nil {
		t.Fatal(err)
	}
	simulcast := map[string]bool{}
	for _, md := range sd.MediaDescriptions {
		if _, ok := md.Attribute("simulcast"); ok {
			mid, _ := md.Attribute("mid")
			simulcast[mid] = true
		}
	}
	parts := strings.Split(answerFor(t, offerSDP), "\r\nm=")
	for i, p := range parts {
		mid := ""
		for _, l := range strings.Split(p, "\r\n") {
			if v, ok := strings.CutPrefix(l, "a=mid:"); ok {
				mid = v
			}
		}
		if !simulcast[mid] {
			continue
		}
		var kept []string
		for _, l := range strings.Split(strings.TrimSuffix(p, "\r\n"), "\r\n") {
			if !strings.HasPrefix(l, "a=ssrc") {
				kept = append(kept, l)
			}
		}
		for _, r := range rids {
			kept = append(kept, "a=rid:"+r+" send")
		}
		kept = append(kept, "a=simulcast:send "+strings.Join(rids, ";"))
		parts[i] = strings.Join(kept, "\r\n") + "\r\n"
	}
	return strings.Join(parts, "\r\nm=")
}

// connectSimulcast answers the first offer as a simulcast publisher
// sending rids and reports the transport connected.
func (m *member) connectSimulcast(t *testing.T, rids ...string) []map[string]any {
	t.Helper()
	msgs := m.p.take(t)
	m.last = lastSDP(t, msgs)
	if err := m.c.Answer(simulcastAnswerFor(t, m.last, rids...)); err != nil {
		t.Fatalf("%s answer: %v", m.p.name, err)
	}
	m.answered = true
	m.tr.events.OnConnected()
	return msgs
}

// switched plays the plane reporting a layer switch to m.
func (m *member) switched(trackID, rid, prev string) {
	m.tr.events.(dataplane.LayerEvents).OnLayerSwitched(trackID, rid, prev)
}

// notifies returns the notifies among msgs with event type ev.
func notifies(msgs []map[string]any, ev string) []map[string]any {
	var out []map[string]any
	for _, m := range msgs {
		if m["type"] == "notify" && m["event_type"] == ev {
			out = append(out, m)
		}
	}
	return out
}

func simulcastReq(role Role) JoinRequest {
	r := req(role)
	r.Simulcast = true
	return r
}

// TestSimulcastTranscript records a simulcast publisher and three
// receivers: the offer with rids and encodings, the upstream with its
// layers, each receiver's first layer (connect's rid, the default, a layer
// the publisher does not send), a RequestSimulcastRID and its notify.
func TestSimulcastTranscript(t *testing.T) {
	e, _ := newLayerEnv(t)
	a := e.join("A", simulcastReq(RoleSendOnly))
	a.connectSimulcast(t, "r0", "r1")
	b := e.join("B", JoinRequest{ChannelID: "room-1", Role: RoleRecvOnly, Audio: Media{Enabled: true}, Video: Media{Enabled: true}, SimulcastRID: "r0"})
	b.connect(t)
	c := e.join("C", req(RoleRecvOnly)) // default r2, A sends up to r1
	c.connect(t)
	video := a.c.ID() + ":1"
	b.switched(video, "r0", "none")
	if err := b.c.RequestSimulcastRID("r1", a.c.ID()); err != nil {
		t.Fatal(err)
	}
	b.switched(video, "r1", "r0")
	if err := b.c.ResetSimulcastRID(""); err != nil {
		t.Fatal(err)
	}
	b.switched(video, "r0", "r1")
	golden(t, "simulcast.txt", e.log.String())
}

func TestSimulcastOffer(t *testing.T) {
	e, _ := newLayerEnv(t)
	a := e.join("A", simulcastReq(RoleSendRecv))
	msgs := a.p.take(t)
	o := msgs[0]
	if o["simulcast"] != true || o["spotlight"] != false {
		t.Errorf("offer flags simulcast=%v spotlight=%v", o["simulcast"], o["spotlight"])
	}
	if got, want := o["encodings"], asJSON(t, offer.DefaultEncodings()); !reflect.DeepEqual(got, want) {
		t.Errorf("offer.encodings %v\nwant %v", got, want)
	}
	text := lastSDP(t, msgs)
	var sd sdp.SessionDescription
	if err := sd.UnmarshalString(text); err != nil {
		t.Fatal(err)
	}
	for _, md := range sd.MediaDescriptions {
		mid, _ := md.Attribute("mid")
		sc, ok := md.Attribute("simulcast")
		if mid == "1" && (!ok || sc != "recv r0;r1;r2") {
			t.Errorf("the own video section has simulcast %q", sc)
		}
		if mid == "0" && ok {
			t.Error("the audio section offers simulcast")
		}
	}
	// The answer's rids, in any order, become the track's layers in
	// ascending quality; rids the offer did not offer are dropped.
	if err := a.c.Answer(simulcastAnswerFor(t, text, "r2", "x9", "r0", "r1")); err != nil {
		t.Fatal(err)
	}
	a.tr.mu.Lock()
	ups := slices.Clone(a.tr.ups)
	a.tr.mu.Unlock()
	if len(ups) != 2 || !slices.Equal(ups[1].RIDs, []string{"r0", "r1", "r2"}) || ups[1].SSRC != 0 || ups[1].RTXSSRC != 0 {
		t.Errorf("video upstream %+v", ups)
	}
	if ups[0].RIDs != nil {
		t.Errorf("audio upstream has rids %v", ups[0].RIDs)
	}

	// Without simulcast the offer has neither rids nor encodings, and a
	// client that answers no rids publishes one stream.
	p := e.join("P", req(RoleSendOnly))
	msgs = p.p.take(t)
	if msgs[0]["simulcast"] != false || msgs[0]["encodings"] != nil || strings.Contains(lastSDP(t, msgs), "a=rid:") {
		t.Errorf("plain publisher's offer: simulcast=%v encodings=%v", msgs[0]["simulcast"], msgs[0]["encodings"])
	}

	// Encodings given for the connection replace the defaults.
	mine := []offer.Encoding{{RID: "r0", Active: true, MaxBitrate: 90_000, ScaleResolutionDownBy: 2}, {RID: "r1", Active: false}}
	q := e.join("Q", JoinRequest{ChannelID: "room-2", Role: RoleSendOnly, Video: Media{Enabled: true}, Simulcast: true, SimulcastEncodings: mine})
	msgs = q.p.take(t)
	if got, want := msgs[0]["encodings"], asJSON(t, mine); !reflect.DeepEqual(got, want) {
		t.Errorf("own encodings %v, want %v", got, want)
	}
	// A simulcast client that answers without simulcast sends one stream.
	if err := q.c.Answer(answerFor(t, lastSDP(t, msgs))); err != nil {
		t.Fatal(err)
	}
	if ups := q.tr.ups; len(ups) != 1 || ups[0].RIDs != nil || ups[0].SSRC == 0 {
		t.Errorf("simulcast client without rids: %+v", ups)
	}
}

// asJSON is v as a decoded JSON value (maps, slices, float64).
func asJSON(t *testing.T, v any) any {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	var out any
	if err := json.Unmarshal(b, &out); err != nil {
		t.Fatal(err)
	}
	return out
}

func TestClampRID(t *testing.T) {
	all := []string{"r0", "r1", "r2"}
	cases := []struct {
		want string
		rids []string
		got  string
	}{
		{"r2", all, "r2"}, {"r1", all, "r1"}, {"r0", all, "r0"}, {"none", all, "none"},
		{"r2", []string{"r0", "r1"}, "r1"},
		{"r1", []string{"r0", "r2"}, "r0"},
		{"r0", []string{"r1", "r2"}, "r1"}, // nothing below: the lowest
		{"r2", nil, ""},                    // a single stream
		{"none", nil, "none"},
	}
	for _, tc := range cases {
		if got := clampRID(tc.want, tc.rids); got != tc.got {
			t.Errorf("clampRID(%q, %v) = %q, want %q", tc.want, tc.rids, got, tc.got)
		}
	}
}

// simulcastWorld: A publishes simulcast r0 r1 r2; B and C receive (B at
// r1 by connect).
func simulcastWorld(t *testing.T) (*env, *member, *member, *member) {
	e, _ := newLayerEnv(t)
	a := e.join("A", simulcastReq(RoleSendRecv))
	a.connectSimulcast(t)
	b := e.join("B", JoinRequest{ChannelID: "room-1", Role: RoleRecvOnly, Audio: Media{Enabled: true}, Video: Media{Enabled: true}, SimulcastRID: "r1"})
	b.connect(t)
	c := e.join("C", simulcastReq(RoleSendRecv))
	c.connectSimulcast(t)
	for _, m := range []*member{a, b} {
		m.answer(t, m.p.take(t)) // the re-offers with C's tracks
	}
	for _, m := range []*member{a, b, c} {
		m.p.take(t)
	}
	return e, a, b, c
}

func TestRequestSimulcastRID(t *testing.T) {
	e, a, b, c := simulcastWorld(t)
	av, cv := a.c.ID()+":1", c.c.ID()+":1"
	if d := b.tr.downstreams(); d[av].RID != "r1" || d[cv].RID != "r1" || d[a.c.ID()+":0"].RID != "" {
		t.Fatalf("B's downstreams %+v", d)
	}
	if d := c.tr.downstreams(); d[av].RID != DefaultSimulcastRID {
		t.Errorf("C's first layer of A %q, want the default %s", d[av].RID, DefaultSimulcastRID)
	}

	mark := logLen(e)
	if err := b.c.RequestSimulcastRID("r0", a.c.ID()); err != nil {
		t.Fatal(err)
	}
	if err := b.c.RequestSimulcastRID("r0", a.c.ID()); err != nil { // the same again: nothing to do
		t.Fatal(err)
	}
	if err := b.c.RequestSimulcastRID("none", ""); err != nil {
		t.Fatal(err)
	}
	if err := b.c.ResetSimulcastRID(""); err != nil {
		t.Fatal(err)
	}
	checkLayerCalls(t, "layer requests", layerCalls(e, mark),
		"T2 SetDownstreamLayer "+av+` "r0"`,
		"T2 SetDownstreamLayer "+av+` "none"`,
		"T2 SetDownstreamLayer "+cv+` "none"`,
		"T2 SetDownstreamLayer "+av+` "r1"`,
		"T2 SetDownstreamLayer "+cv+` "r1"`)

	for _, tc := range []struct {
		name string
		err  error
		want error
	}{
		{"bad rid", b.c.RequestSimulcastRID("r3", ""), ErrInvalidRequest},
		{"unknown sender", b.c.RequestSimulcastRID("r0", "NOBODY"), ErrUnknownConnection},
		{"reset unknown sender", b.c.ResetSimulcastRID("NOBODY"), ErrUnknownConnection},
	} {
		if !errors.Is(tc.err, tc.want) {
			t.Errorf("%s: %v, want %v", tc.name, tc.err, tc.want)
		}
	}
	s := e.join("S", req(RoleSendOnly))
	if err := s.c.RequestSimulcastRID("r0", ""); !errors.Is(err, ErrInvalidRequest) || !strings.Contains(err.Error(), "sendonly") {
		t.Errorf("a sendonly connection asks for a layer: %v", err)
	}
	b.c.Leave()
	if err := b.c.RequestSimulcastRID("r0", ""); !errors.Is(err, ErrLeft) {
		t.Errorf("after leaving: %v", err)
	}
}

// logLen is a position in the transcript.
func logLen(e *env) int {
	e.log.mu.Lock()
	defer e.log.mu.Unlock()
	return len(e.log.lines)
}

func checkLayerCalls(t *testing.T, what string, got []string, want ...string) {
	t.Helper()
	if !slices.Equal(got, want) {
		t.Errorf("%s: the plane was asked\n  %s\nwant\n  %s", what, strings.Join(got, "\n  "), strings.Join(want, "\n  "))
	}
}

// layerCalls returns the transcript lines after mark that are layer or
// pause requests.
func layerCalls(e *env, since int) []string {
	var out []string
	e.log.mu.Lock()
	defer e.log.mu.Unlock()
	for _, l := range e.log.lines[since:] {
		if strings.Contains(l, " SetDownstreamLayer ") || strings.Contains(l, " PauseDownstream ") {
			out = append(out, l)
		}
	}
	return out
}

// TestSimulcastSwitchedNotify: every switch the plane reports reaches the
// receiver as simulcast.switched with the fields of signaling.md §6.
func TestSimulcastSwitchedNotify(t *testing.T) {
	e, a, b, _ := simulcastWorld(t)
	av := a.c.ID() + ":1"
	e.advance(1500 * 1e6)
	b.switched(av, "r1", "none") // the first layer, as connect asked
	b.switched(av, "r0", "r1")   // the bandwidth estimate went down
	if err := b.c.RequestSimulcastRID("r2", a.c.ID()); err != nil {
		t.Fatal(err)
	}
	b.switched(av, "r2", "r0")
	b.switched(a.c.ID()+":0", "r2", "r0") // not a video track: ignored
	b.switched("GONE:1", "r2", "r0")      // a sender that left: ignored
	got := notifies(b.p.take(t), EventSimulcastSwitched)
	want := []string{
		`{"auto_rids":[],"current_rid":"r1","event_type":"simulcast.switched","previous_rid":"none","priority":"higher","request_rid":"r1","rpc_rids":[],"sender_connection_id":"%s","timestamp":"2026-11-27T13:44:35.072Z","trigger":"receiver","type":"notify"}`,
		`{"auto_rids":["r0"],"current_rid":"r0","event_type":"simulcast.switched","previous_rid":"r1","priority":"lower","request_rid":"r1","rpc_rids":[],"sender_connection_id":"%s","timestamp":"2026-11-27T13:44:35.072Z","trigger":"receiver","type":"notify"}`,
		`{"auto_rids":[],"current_rid":"r2","event_type":"simulcast.switched","previous_rid":"r0","priority":"higher","request_rid":"r2","rpc_rids":["r2"],"sender_connection_id":"%s","timestamp":"2026-11-27T13:44:35.072Z","trigger":"receiver","type":"notify"}`,
	}
	if len(got) != len(want) {
		t.Fatalf("got %d simulcast.switched, want %d: %v", len(got), len(want), got)
	}
	for i := range want {
		b, _ := json.Marshal(got[i])
		if w := fmt.Sprintf(want[i], a.c.ID()); string(b) != w {
			t.Errorf("notify %d\n got %s\nwant %s", i, b, w)
		}
	}
	if n := counter(t, e.prm, "hayate_room_notifies_total", EventSimulcastSwitched); n != 3 {
		t.Errorf("counted %v simulcast.switched", n)
	}
	// Disabled notifies send nothing.
	e2, _ := newLayerEnv(t, func(c *Config) { c.Notify = false })
	p := e2.join("P", simulcastReq(RoleSendOnly))
	p.connectSimulcast(t)
	r := e2.join("R", req(RoleRecvOnly))
	r.connect(t)
	r.switched(p.c.ID()+":1", "r2", "none")
	if n := len(notifies(r.p.take(t), EventSimulcastSwitched)); n != 0 {
		t.Errorf("%d notifies with signaling_notify off", n)
	}
}

// TestLayerRefused: a plane that refuses a layer is logged and counted;
// the request is kept and tried again on the next change.
func TestLayerRefused(t *testing.T) {
	e, lf := newLayerEnv(t)
	a := e.join("A", simulcastReq(RoleSendOnly))
	a.connectSimulcast(t)
	b := e.join("B", req(RoleRecvOnly))
	b.connect(t)
	lf.mu.Lock()
	lt := lf.wraps[b.tr]
	lf.mu.Unlock()
	lt.failLayer = errors.New("fake: no such layer")
	if err := b.c.RequestSimulcastRID("r0", ""); err != nil {
		t.Fatal(err)
	}
	if got := counter(t, e.prm, "hayate_room_dataplane_errors_total"); got != 1 {
		t.Errorf("dataplane errors %v", got)
	}
	lt.failLayer = nil
	mark := logLen(e)
	if err := b.c.RequestSimulcastRID("r0", a.c.ID()); err != nil {
		t.Fatal(err)
	}
	checkLayerCalls(t, "retry", layerCalls(e, mark), "T2 SetDownstreamLayer "+a.c.ID()+`:1 "r0"`)
}

func TestDefaultRPCMethods(t *testing.T) {
	base := DefaultRPCMethods
	cases := []struct {
		name string
		req  JoinRequest
		want []string
	}{
		{"sendonly simulcast", JoinRequest{Role: RoleSendOnly, Simulcast: true}, base},
		{"recvonly plain", JoinRequest{Role: RoleRecvOnly}, base},
		{"recvonly simulcast", JoinRequest{Role: RoleRecvOnly, Simulcast: true}, append(slices.Clone(base), RPCRequestSimulcastRid)},
		{"recvonly with a rid", JoinRequest{Role: RoleRecvOnly, SimulcastRID: "r1"}, append(slices.Clone(base), RPCRequestSimulcastRid)},
		{"sendrecv spotlight", JoinRequest{Role: RoleSendRecv, Spotlight: true},
			append(slices.Clone(base), RPCRequestSimulcastRid, RPCRequestSpotlightRid, RPCResetSpotlightRid)},
	}
	for _, tc := range cases {
		if got := defaultRPCMethods(&tc.req); !slices.Equal(got, tc.want) {
			t.Errorf("%s: %v, want %v", tc.name, got, tc.want)
		}
	}
	// The offer of a simulcast receiver with DataChannel signaling lists it.
	e, _ := newLayerEnv(t)
	r := simulcastReq(RoleRecvOnly)
	r.DataChannelSignaling = true
	m := e.join("M", r)
	msgs := m.p.take(t)
	got, _ := json.Marshal(msgs[0]["rpc_methods"])
	if !strings.Contains(string(got), RPCRequestSimulcastRid) {
		t.Errorf("rpc_methods %s", got)
	}
	if !slices.Contains(m.c.RPCMethods(), RPCRequestSimulcastRid) {
		t.Errorf("RPCMethods %v", m.c.RPCMethods())
	}
}

func TestJoinValidationLayers(t *testing.T) {
	e, _ := newLayerEnv(t)
	cases := []struct {
		name string
		mut  func(*JoinRequest)
		want string
	}{
		{"simulcast rid", func(r *JoinRequest) { r.SimulcastRID = "r9" }, `simulcast_rid "r9"`},
		{"focus rid", func(r *JoinRequest) { r.SpotlightFocusRID = "high" }, `spotlight_focus_rid "high"`},
		{"unfocus rid", func(r *JoinRequest) { r.SpotlightUnfocusRID = "R0" }, `spotlight_unfocus_rid "R0"`},
		{"spotlight number", func(r *JoinRequest) { r.SpotlightNumber = 256 }, "spotlight_number 256"},
		{"negative number", func(r *JoinRequest) { r.SpotlightNumber = -1 }, "spotlight_number -1"},
		{"encodings", func(r *JoinRequest) { r.SimulcastEncodings = []offer.Encoding{{RID: "r7"}} }, `rid "r7"`},
	}
	for _, tc := range cases {
		r := req(RoleSendRecv)
		tc.mut(&r)
		_, err := e.reg.Join(r, &fakePeer{name: tc.name})
		if !errors.Is(err, ErrInvalidRequest) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want ErrInvalidRequest naming %s", tc.name, err, tc.want)
		}
	}
}

func TestInfoSimulcastSpotlight(t *testing.T) {
	e, _ := newLayerEnv(t)
	a := e.join("A", simulcastReq(RoleSendOnly))
	b := e.join("B", req(RoleRecvOnly))
	if ia, ib := a.c.Info(), b.c.Info(); !ia.Simulcast || ib.Simulcast || ia.Spotlight {
		t.Errorf("info simulcast %v %v spotlight %v", ia.Simulcast, ib.Simulcast, ia.Spotlight)
	}
	s := req(RoleSendRecv)
	s.ChannelID, s.Spotlight = "spot", true
	sp := e.join("S", s)
	if !sp.c.Info().Simulcast || !sp.c.Info().Spotlight {
		t.Errorf("spotlight sender info %+v", sp.c.Info())
	}
	var chans []string
	for _, ci := range e.reg.Channels() {
		chans = append(chans, fmt.Sprintf("%s:%v", ci.ChannelID, ci.Spotlight))
	}
	if !reflect.DeepEqual(chans, []string{"room-1:false", "spot:true"}) {
		t.Errorf("channels %v", chans)
	}
}
