package api

import (
	"log/slog"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/hayate-sfu/hayate/ctrl/room"
	"github.com/hayate-sfu/hayate/dataplane"
	"github.com/pion/sdp/v3"
	"github.com/prometheus/client_golang/prometheus"
)

// The fakes' side of simulcast and spotlight: layer choices and pauses are
// effects in the golden files. They wrap the package's fakes, as the media
// operations' do.

type layerFactory struct{ *fakeFactory }

func (f layerFactory) NewTransport(id string, ev dataplane.TransportEvents) (room.Transport, error) {
	t, err := f.fakeFactory.NewTransport(id, ev)
	if err != nil {
		return nil, err
	}
	return layerTransport{t.(*fakeTransport)}, nil
}

type layerTransport struct{ *fakeTransport }

func (t layerTransport) SetDownstreamLayer(trackID, rid string) error {
	t.fx.add("transport of %s: SetDownstreamLayer %s %q", t.id, trackID, rid)
	return nil
}

func (t layerTransport) PauseDownstream(trackID string, paused bool) error {
	t.fx.add("transport of %s: PauseDownstream %s paused=%v", t.id, trackID, paused)
	return nil
}

// newLayerEnv is newEnv over the layer fakes, without the spotlight
// poller.
func newLayerEnv(t testing.TB, mutate ...func(*Config)) *env {
	t.Helper()
	e := &env{t: t, fx: &effects{}, now: start, peers: map[string]*member{}, prm: prometheus.NewRegistry()}
	e.fac = &fakeFactory{fx: e.fx}
	reg, err := room.NewRegistry(room.Config{
		Transports:        layerFactory{e.fac},
		Logger:            slog.New(slog.DiscardHandler),
		Notify:            true,
		Version:           "2026.1.0-test",
		Now:               e.clock,
		NewID:             e.newID,
		Rand:              rand.NewPCG(1, 2),
		SpotlightInterval: -1,
	})
	if err != nil {
		t.Fatal(err)
	}
	e.reg = reg
	cfg := Config{Rooms: reg, Logger: slog.New(slog.DiscardHandler), Registerer: e.prm, Version: "2026.1.0-test",
		CrashLogDir: t.TempDir(), Now: e.clock}
	for _, m := range mutate {
		m(&cfg)
	}
	if e.api, err = New(cfg); err != nil {
		t.Fatal(err)
	}
	return e
}

// withRIDs turns an answer into a simulcast one: the video sections the
// offer receives simulcast on send r0, r1, r2 (a=rid, a=simulcast, no
// a=ssrc), as Chrome answers.
func withRIDs(t testing.TB, offerSDP, answer string) string {
	t.Helper()
	var sd sdp.SessionDescription
	if err := sd.UnmarshalString(offerSDP); err != nil {
		t.Fatal(err)
	}
	sim := map[string]bool{}
	for _, md := range sd.MediaDescriptions {
		if _, ok := md.Attribute("simulcast"); ok {
			mid, _ := md.Attribute("mid")
			sim[mid] = true
		}
	}
	parts := strings.Split(answer, "\r\nm=")
	for i, p := range parts {
		var lines []string
		isSim := false
		for _, l := range strings.Split(strings.TrimSuffix(p, "\r\n"), "\r\n") {
			if mid, ok := strings.CutPrefix(l, "a=mid:"); ok && sim[mid] {
				isSim = true
			}
			lines = append(lines, l)
		}
		if !isSim {
			continue
		}
		var kept []string
		for _, l := range lines {
			if !strings.HasPrefix(l, "a=ssrc") {
				kept = append(kept, l)
			}
		}
		kept = append(kept, "a=rid:r0 send", "a=rid:r1 send", "a=rid:r2 send", "a=simulcast:send r0;r1;r2")
		parts[i] = strings.Join(kept, "\r\n") + "\r\n"
	}
	return strings.Join(parts, "\r\nm=")
}

// joinLayers admits a connect, answers (with rids when the offer asks for
// simulcast) and brings the transport up.
func (e *env) joinLayers(name string, req room.JoinRequest) *member {
	e.t.Helper()
	p := &fakePeer{name: name, fx: e.fx}
	c, err := e.reg.Join(req, p)
	if err != nil {
		e.t.Fatalf("join %s: %v", name, err)
	}
	m := &member{name: name, c: c, p: p, tr: e.fac.last()}
	e.peers[name] = m
	offerSDP := p.lastSDP(e.t)
	if err := c.Answer(withRIDs(e.t, offerSDP, answerFor(e.t, offerSDP))); err != nil {
		e.t.Fatalf("%s answer: %v", name, err)
	}
	m.tr.events.OnConnected()
	return m
}

// reanswer answers each member's pending re-offer.
func (e *env) reanswer(names ...string) {
	for _, n := range names {
		m := e.peers[n]
		if err := m.c.ReAnswer(answerFor(e.t, m.p.lastSDP(e.t))); err != nil {
			e.t.Fatalf("%s re-answer: %v", n, err)
		}
	}
}

// Connection ids of layerWorld.
const (
	idS  = "CONN0000000000000000000001" // sc: simulcast sendrecv
	idR  = "CONN0000000000000000000003" // sc: recvonly, simulcast_rid r1
	idT  = "CONN0000000000000000000004" // sc: sendonly, not simulcast
	idP  = "CONN0000000000000000000005" // spot: sendrecv, in focus
	idQ  = "CONN0000000000000000000007" // spot: sendrecv
	idV  = "CONN0000000000000000000008" // spot: recvonly
	idNo = "CONN9999999999999999999999"
)

// layerWorld fills e with two channels:
//
//	sc:   S sendrecv simulcast (r0 r1 r2), R recvonly asking r1, T sendonly
//	spot: a spotlight channel with one place: P and Q sendrecv (P in focus), V recvonly
func (e *env) layerWorld() {
	s := joinReq("sc", "", room.RoleSendRecv)
	s.Simulcast = true
	e.joinLayers("S", s)
	r := joinReq("sc", "", room.RoleRecvOnly)
	r.SimulcastRID = "r1"
	e.joinLayers("R", r)
	e.joinLayers("T", joinReq("sc", "", room.RoleSendOnly))
	e.reanswer("S", "R")
	sp := joinReq("spot", "", room.RoleSendRecv)
	sp.Spotlight = true
	e.joinLayers("P", sp)
	e.joinLayers("Q", sp)
	e.reanswer("P")
	e.joinLayers("V", joinReq("spot", "", room.RoleRecvOnly))
}

const (
	tSimRid  = "Sora_20251217.RequestSimulcastRid"
	tRtpReq  = "Sora_20201005.RequestRtpStream"
	tRtpRst  = "Sora_20201005.ResetRtpStream"
	tFocus   = "Sora_20200807.FocusSpotlight"
	tFocusF  = "Sora_20200807.FocusSpotlightFixed"
	tUnfocus = "Sora_20200807.UnfocusSpotlight"
	tSpotNum = "Sora_20200807.ChangeSpotlightNumber"
	tSpotRid = "Sora_20211215.RequestSpotlightRid"
	tSpotRst = "Sora_20211215.ResetSpotlightRid"
	tSpotBat = "Sora_20211215.BatchRequestSpotlightRid"
)

func j(kv ...string) string {
	var b strings.Builder
	b.WriteString("{")
	for i := 0; i+1 < len(kv); i += 2 {
		if i > 0 {
			b.WriteString(",")
		}
		v := kv[i+1]
		if !strings.HasPrefix(v, "[") && !strings.HasPrefix(v, "{") && v != "null" && (v == "" || v[0] < '0' || v[0] > '9') {
			v = `"` + v + `"`
		}
		b.WriteString(`"` + kv[i] + `":` + v)
	}
	return b.String() + "}"
}

// focusOf records the spotlight focus after the request.
func focusOf(e *env) { e.fx.add("focus of spot: %v", e.reg.SpotlightFocus("spot")) }

var layerGoldenCases = []goldenCase{
	// --- simulcast ---
	{name: "RequestSimulcastRid/one_sender", target: tSimRid, body: j("channel_id", "sc", "receiver_connection_id", idR, "rid", "r0", "sender_connection_id", idS)},
	{name: "RequestSimulcastRid/every_sender", target: tSimRid, body: j("channel_id", "sc", "receiver_connection_id", idR, "rid", "none")},
	{name: "RequestSimulcastRid/same_layer", target: tSimRid, body: j("channel_id", "sc", "receiver_connection_id", idR, "rid", "r1")},
	{name: "RequestSimulcastRid/bad_rid", target: tSimRid, body: j("channel_id", "sc", "receiver_connection_id", idR, "rid", "auto")},
	{name: "RequestSimulcastRid/missing_rid", target: tSimRid, body: j("channel_id", "sc", "receiver_connection_id", idR)},
	{name: "RequestSimulcastRid/unknown_receiver", target: tSimRid, body: j("channel_id", "sc", "receiver_connection_id", idNo, "rid", "r0")},
	{name: "RequestSimulcastRid/sender_in_other_channel", target: tSimRid, body: j("channel_id", "sc", "receiver_connection_id", idR, "rid", "r0", "sender_connection_id", idP)},
	{name: "RequestSimulcastRid/sendonly_receiver", target: tSimRid, body: j("channel_id", "sc", "receiver_connection_id", idT, "rid", "r0")},
	{name: "RequestSimulcastRid/spotlight_channel", target: tSimRid, body: j("channel_id", "spot", "receiver_connection_id", idV, "rid", "r0")},
	{name: "RequestRtpStream/ok", target: tRtpReq, body: j("channel_id", "sc", "recv_connection_id", idR, "rid", "r2", "send_connection_id", idS)},
	{name: "RequestRtpStream/missing_recv", target: tRtpReq, body: j("channel_id", "sc", "rid", "r2")},
	{name: "ResetRtpStream/ok", target: tRtpRst, body: j("channel_id", "sc", "connection_id", idR),
		before: layerCall(tSimRid, j("channel_id", "sc", "receiver_connection_id", idR, "rid", "r0"))},
	{name: "ResetRtpStream/stream_id", target: tRtpRst, body: j("channel_id", "sc", "connection_id", idR, "stream_id", idS),
		before: layerCall(tSimRid, j("channel_id", "sc", "receiver_connection_id", idR, "rid", "r2", "sender_connection_id", idS))},

	// --- spotlight ---
	{name: "FocusSpotlight/ok", target: tFocus, body: j("channel_id", "spot", "connection_id", idQ), after: focusOf},
	{name: "FocusSpotlight/receiver", target: tFocus, body: j("channel_id", "spot", "connection_id", idV)},
	{name: "FocusSpotlight/not_spotlight", target: tFocus, body: j("channel_id", "sc", "connection_id", idS)},
	{name: "FocusSpotlightFixed/ok", target: tFocusF, body: j("channel_id", "spot", "connection_id", idQ), after: focusOf},
	{name: "UnfocusSpotlight/ok", target: tUnfocus, body: j("channel_id", "spot", "connection_id", idP), after: focusOf},
	{name: "ChangeSpotlightNumber/ok", target: tSpotNum, body: j("channel_id", "spot", "spotlight_number", "2"), after: focusOf},
	{name: "ChangeSpotlightNumber/zero", target: tSpotNum, body: j("channel_id", "spot", "spotlight_number", "0")},
	{name: "ChangeSpotlightNumber/string", target: tSpotNum, body: `{"channel_id":"spot","spotlight_number":"2"}`},
	{name: "ChangeSpotlightNumber/unknown_channel", target: tSpotNum, body: j("channel_id", "nowhere", "spotlight_number", "2")},
	{name: "ChangeSpotlightNumber/not_spotlight", target: tSpotNum, body: j("channel_id", "sc", "spotlight_number", "2")},
	{name: "RequestSpotlightRid/one_sender", target: tSpotRid,
		body: j("channel_id", "spot", "recv_connection_id", idV, "send_connection_id", idP, "spotlight_focus_rid", "r1", "spotlight_unfocus_rid", "none")},
	{name: "RequestSpotlightRid/every_sender", target: tSpotRid,
		body: j("channel_id", "spot", "recv_connection_id", idV, "spotlight_focus_rid", "r1", "spotlight_unfocus_rid", "none")},
	{name: "RequestSpotlightRid/missing_unfocus", target: tSpotRid,
		body: j("channel_id", "spot", "recv_connection_id", idV, "spotlight_focus_rid", "r1")},
	{name: "RequestSpotlightRid/not_spotlight", target: tSpotRid,
		body: j("channel_id", "sc", "recv_connection_id", idR, "spotlight_focus_rid", "r1", "spotlight_unfocus_rid", "r0")},
	{name: "ResetSpotlightRid/ok", target: tSpotRst, body: j("channel_id", "spot", "recv_connection_id", idV),
		before: layerCall(tSpotRid, j("channel_id", "spot", "recv_connection_id", idV, "spotlight_focus_rid", "r0", "spotlight_unfocus_rid", "none"))},
	{name: "BatchRequestSpotlightRid/ok", target: tSpotBat, body: `{"channel_id":"spot","item_list":[` +
		j("recv_connection_id", idV, "send_connection_id", idP, "spotlight_focus_rid", "r1", "spotlight_unfocus_rid", "r0") + "," +
		j("recv_connection_id", idQ, "spotlight_focus_rid", "r0", "spotlight_unfocus_rid", "none") + `]}`},
	{name: "BatchRequestSpotlightRid/bad_item", target: tSpotBat, body: `{"channel_id":"spot","item_list":[` +
		j("recv_connection_id", idV, "spotlight_focus_rid", "r1", "spotlight_unfocus_rid", "r0") + "," +
		j("recv_connection_id", idQ, "spotlight_focus_rid", "r9", "spotlight_unfocus_rid", "none") + `]}`},
	{name: "BatchRequestSpotlightRid/unknown_sender_applies_nothing", target: tSpotBat, body: `{"channel_id":"spot","item_list":[` +
		j("recv_connection_id", idV, "spotlight_focus_rid", "r1", "spotlight_unfocus_rid", "r0") + "," +
		j("recv_connection_id", idQ, "send_connection_id", idNo, "spotlight_focus_rid", "r0", "spotlight_unfocus_rid", "none") + `]}`},
	{name: "BatchRequestSpotlightRid/empty", target: tSpotBat, body: `{"channel_id":"spot","item_list":[]}`},
	{name: "BatchRequestSpotlightRid/not_objects", target: tSpotBat, body: `{"channel_id":"spot","item_list":[1]}`},
}

// TestLayerGolden is TestGolden for the simulcast and spotlight operations.
func TestLayerGolden(t *testing.T) {
	runGoldenCases(t, layerGoldenCases, func(t *testing.T, cfgs ...func(*Config)) *env {
		e := newLayerEnv(t, cfgs...)
		e.layerWorld()
		return e
	})
}

// FuzzLayerRequests runs arbitrary bodies through the simulcast and
// spotlight request decoders: no panic, every error names a key (or is
// INVALID-JSON), and decoded rids are valid.
func FuzzLayerRequests(f *testing.F) {
	for _, tc := range layerGoldenCases {
		f.Add(tc.body)
	}
	f.Add(`{"channel_id":"a","item_list":[{"recv_connection_id":"x","spotlight_focus_rid":"r0","spotlight_unfocus_rid":"r0"}]}`)
	f.Fuzz(func(t *testing.T, s string) {
		b, e := parseBody([]byte(s))
		if e != nil {
			if e.Type != TypeInvalidJSON {
				t.Fatalf("parseBody(%q) = %v", s, e)
			}
			return
		}
		okRID := func(r string) bool { return r == "none" || r == "r0" || r == "r1" || r == "r2" }
		check := func(what string, e *Error, rids ...string) {
			if e != nil {
				if e.Reason.Key == "" {
					t.Fatalf("%s(%q): an error without a key: %v", what, s, e)
				}
				return
			}
			for _, r := range rids {
				if !okRID(r) {
					t.Fatalf("%s(%q): rid %q", what, s, r)
				}
			}
		}
		var a simulcastRidRequest
		check("simulcastRidRequest", a.decode(b), a.RID)
		var r rtpStreamRidRequest
		check("rtpStreamRidRequest", r.decode(b), r.RID)
		var rs resetRtpStreamRequest
		check("resetRtpStreamRequest", rs.decode(b))
		var n spotlightNumberRequest
		if e := n.decode(b); e == nil && (n.SpotlightNumber < 1 || n.SpotlightNumber > room.MaxSpotlightNumber) {
			t.Fatalf("spotlight_number %d from %q", n.SpotlightNumber, s)
		} else {
			check("spotlightNumberRequest", e)
		}
		var sr spotlightRidRequest
		check("spotlightRidRequest", sr.decode(b), sr.SpotlightFocusRID, sr.SpotlightUnfocusRID)
		var br batchSpotlightRidRequest
		e = br.decode(b)
		check("batchSpotlightRidRequest", e)
		if e == nil {
			if len(br.Items) == 0 || len(br.Items) > maxBatchItems {
				t.Fatalf("%d items from %q", len(br.Items), s)
			}
			for _, it := range br.Items {
				check("batch item", nil, it.SpotlightFocusRID, it.SpotlightUnfocusRID)
			}
		}
	})
}

// layerCall runs an operation before the recorded request and requires 200.
func layerCall(target, body string) func(*env) {
	return func(e *env) {
		if status, resp := e.api.Call(target, []byte(body)); status != 200 {
			e.t.Fatalf("%s %s: %d %s", target, body, status, resp)
		}
	}
}
