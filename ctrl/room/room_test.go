package room

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hayate-sfu/hayate/ctrl/offer"
	"github.com/hayate-sfu/hayate/dataplane"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

func golden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.MkdirAll("testdata", 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if got != string(want) {
		t.Errorf("%s differs from the golden file (go test -update rewrites it)\n--- got\n%s\n--- want\n%s", name, got, want)
	}
}

// TestTwoPartyTranscript records the whole exchange of a two-party call —
// every message (exact JSON, SDP included) and every media-plane call — and
// compares it with testdata/two_party.txt.
func TestTwoPartyTranscript(t *testing.T) {
	e := newEnv(t)
	a := e.join("A", JoinRequest{ChannelID: "room-1", Role: RoleSendRecv,
		Audio: Media{Enabled: true}, Video: Media{Enabled: true, CodecType: "VP9", BitRate: 1500},
		Metadata: json.RawMessage(`{"access_token":"x"}`), NotifyMetadata: json.RawMessage(`{"name":"alice"}`),
		SoraClient: "Sora JavaScript SDK 2026.1.0"})
	a.connect(t)
	e.advance(90 * time.Second)
	b := e.join("B", req(RoleSendRecv))
	b.connect(t)
	a.answer(t, a.p.take(t)) // the re-offer with B's tracks
	e.advance(30 * time.Second)
	b.c.Leave()
	a.answer(t, a.p.take(t)) // the re-offer with B's sections inactive
	a.c.Leave()
	golden(t, "two_party.txt", e.log.String())
}

func TestTwoParty(t *testing.T) {
	e := newEnv(t)
	a := e.join("A", req(RoleSendRecv))
	msgs := a.connect(t)
	if got := types(msgs); got != "offer" {
		t.Fatalf("A got %s before answering", got)
	}
	offerA := msgs[0]
	if got := sections(t, offerA["sdp"].(string)); !slices.Equal(got, []string{"0:audio:recvonly", "1:video:recvonly"}) {
		t.Errorf("A's first offer: %v", got)
	}
	if mid := offerA["mid"].(map[string]any); mid["audio"] != "0" || mid["video"] != "1" {
		t.Errorf("offer.mid = %v", mid)
	}
	msgs = a.p.take(t)
	if got := types(msgs); got != "notify:connection.created" {
		t.Fatalf("A after connecting: %s", got)
	}
	if msgs[0]["connection_id"] != a.c.ID() || len(msgs[0]["data"].([]any)) != 0 || msgs[0]["channel_connections"] != 1.0 {
		t.Errorf("A's own connection.created: %v", msgs[0])
	}

	b := e.join("B", req(RoleSendRecv))
	msgs = b.p.take(t)
	offerB := lastSDP(t, msgs)
	want := []string{"0:audio:recvonly", "1:video:recvonly", "2:audio:sendonly:" + a.c.ID(), "3:video:sendonly:" + a.c.ID()}
	if got := sections(t, offerB); !slices.Equal(got, want) {
		t.Errorf("B's first offer: %v, want %v", got, want)
	}
	if msgs[0]["session_id"] != offerA["session_id"] {
		t.Errorf("B's session %v, A's %v", msgs[0]["session_id"], offerA["session_id"])
	}
	b.answer(t, msgs)
	// B's plane forwards A's two tracks on the SSRCs B's offer announced.
	downs := b.tr.downstreams()
	if d := downs[a.c.ID()+":0"]; d.Mid != "2" || fmt.Sprint(d.SSRC) != ssrcOf(t, offerB, "2") {
		t.Errorf("B's audio downstream %+v", d)
	}
	if d := downs[a.c.ID()+":1"]; d.Mid != "3" || d.RTXSSRC == 0 {
		t.Errorf("B's video downstream %+v", d)
	}
	if got := types(a.p.take(t)); got != "" {
		t.Errorf("A got %s before B's transport was up", got)
	}
	b.tr.events.OnConnected()

	msgs = b.p.take(t)
	if got := types(msgs); got != "notify:connection.created" {
		t.Fatalf("B after connecting: %s", got)
	}
	data := msgs[0]["data"].([]any)
	if len(data) != 1 || data[0].(map[string]any)["connection_id"] != a.c.ID() || msgs[0]["channel_connections"] != 2.0 {
		t.Errorf("B's own connection.created: %v", msgs[0])
	}
	msgs = a.p.take(t)
	if got := types(msgs); got != "notify:connection.created re-offer" {
		t.Fatalf("A after B connected: %s", got)
	}
	if msgs[0]["connection_id"] != b.c.ID() || msgs[0]["data"] != nil {
		t.Errorf("A's notify about B: %v", msgs[0])
	}
	want = []string{"0:audio:recvonly", "1:video:recvonly", "2:audio:sendonly:" + b.c.ID(), "3:video:sendonly:" + b.c.ID()}
	if got := sections(t, lastSDP(t, msgs)); !slices.Equal(got, want) {
		t.Errorf("A's re-offer: %v, want %v", got, want)
	}
	if len(a.tr.downstreams()) != 0 {
		t.Error("A forwards before its re-answer")
	}
	a.answer(t, msgs)
	if len(a.tr.downstreams()) != 2 {
		t.Errorf("A's downstreams after re-answer: %v", a.tr.downstreams())
	}
	if got := counter(t, e.prm, "hayate_room_offers_total", "re-offer"); got != 1 {
		t.Errorf("re-offers counted: %v", got)
	}
}

func TestUpstreamFromAnswer(t *testing.T) {
	e := newEnv(t)
	a := e.join("A", JoinRequest{ChannelID: "c", Role: RoleSendOnly, Audio: Media{Enabled: true}, Video: Media{Enabled: true, CodecType: "H264"}})
	a.connect(t)
	a.tr.mu.Lock()
	ups := slices.Clone(a.tr.ups)
	remote := a.tr.remote
	a.tr.mu.Unlock()
	if remote == nil || remote.Ufrag != "clnt" || remote.Role != dataplane.DTLSServer || !remote.TransportCC {
		t.Errorf("SetRemote got %+v", remote)
	}
	want := []dataplane.Upstream{
		{TrackID: a.c.ID() + ":0", Kind: dataplane.KindAudio, Mid: "0", SSRC: 1000, PayloadType: 111, ClockRate: 48000},
		{TrackID: a.c.ID() + ":1", Kind: dataplane.KindVideo, Mid: "1", SSRC: 1010, RTXSSRC: 1011, PayloadType: 102, ClockRate: 90000},
	}
	if !reflect.DeepEqual(ups, want) {
		t.Errorf("upstreams %+v\nwant %+v", ups, want)
	}

	// A rejected upstream section is not published.
	e2 := newEnv(t)
	s := e2.join("S", req(RoleSendOnly))
	msgs := s.p.take(t)
	if err := s.c.Answer(answerFor(t, lastSDP(t, msgs), "1")); err != nil {
		t.Fatal(err)
	}
	if len(s.tr.ups) != 1 || s.tr.ups[0].Mid != "0" {
		t.Errorf("upstreams with video rejected: %+v", s.tr.ups)
	}
}

// TestReOfferQueued: never two renegotiations in flight; changes during one
// are folded into exactly one more re-offer after the re-answer.
func TestReOfferQueued(t *testing.T) {
	e := newEnv(t)
	v := e.join("V", req(RoleRecvOnly))
	v.connect(t)
	v.p.take(t)

	s1 := e.join("S1", req(RoleSendOnly))
	s1.connect(t)
	msgs := v.p.take(t)
	if got := types(msgs); got != "notify:connection.created re-offer" {
		t.Fatalf("V after S1: %s", got)
	}
	inflight := msgs

	s2 := e.join("S2", req(RoleSendOnly))
	s2.connect(t)
	s3 := e.join("S3", req(RoleSendOnly))
	s3.connect(t)
	if got := types(v.p.take(t)); got != "notify:connection.created notify:connection.created" {
		t.Fatalf("V while a re-offer is in flight: %s (want no second re-offer)", got)
	}
	v.answer(t, inflight)
	msgs = v.p.take(t)
	if got := types(msgs); got != "re-offer" {
		t.Fatalf("V after the re-answer: %s", got)
	}
	got := sections(t, lastSDP(t, msgs))
	want := []string{"0:audio:sendonly:" + s1.c.ID(), "1:video:sendonly:" + s1.c.ID(),
		"2:audio:sendonly:" + s2.c.ID(), "3:video:sendonly:" + s2.c.ID(),
		"4:audio:sendonly:" + s3.c.ID(), "5:video:sendonly:" + s3.c.ID()}
	if !slices.Equal(got, want) {
		t.Errorf("folded re-offer %v\nwant %v", got, want)
	}
	v.answer(t, msgs)
	if got := types(v.p.take(t)); got != "" {
		t.Errorf("V after the second re-answer: %s", got)
	}
	if n := len(v.tr.downstreams()); n != 6 {
		t.Errorf("V forwards %d tracks, want 6", n)
	}
	// Senders never get re-offers.
	for _, s := range []*member{s1, s2, s3} {
		for _, m := range s.p.take(t) {
			if m["type"] == "re-offer" {
				t.Errorf("%s (sendonly) got a re-offer", s.p.name)
			}
		}
	}
}

// TestRecvOnlyPlaceholdersAndRecycling: a receiver alone gets inactive
// sections so its transport can come up; they carry the first sender's
// tracks; a leaving sender's sections go inactive and are reused.
func TestRecvOnlyPlaceholdersAndRecycling(t *testing.T) {
	e := newEnv(t)
	v := e.join("V", req(RoleRecvOnly))
	msgs := v.p.take(t)
	if got := sections(t, lastSDP(t, msgs)); !slices.Equal(got, []string{"0:audio:inactive", "1:video:inactive"}) {
		t.Errorf("lone receiver's offer: %v", got)
	}
	if _, ok := msgs[0]["mid"]; ok {
		t.Errorf("recvonly offer has mid %v", msgs[0]["mid"])
	}
	v.answer(t, msgs)
	v.tr.events.OnConnected()
	v.p.take(t)

	s1 := e.join("S1", req(RoleSendOnly))
	s1.connect(t)
	msgs = v.p.take(t)
	if got := sections(t, lastSDP(t, msgs)); !slices.Equal(got, []string{"0:audio:sendonly:" + s1.c.ID(), "1:video:sendonly:" + s1.c.ID()}) {
		t.Errorf("placeholders not reused: %v", got)
	}
	v.answer(t, msgs)
	first := v.last

	s1.c.Leave()
	if n := len(v.tr.downstreams()); n != 0 {
		t.Errorf("V still forwards %d tracks right after S1 left", n)
	}
	msgs = v.p.take(t)
	if got := types(msgs); got != "notify:connection.destroyed re-offer" {
		t.Fatalf("V after S1 left: %s", got)
	}
	if msgs[0]["connection_id"] != s1.c.ID() || msgs[0]["channel_connections"] != 1.0 {
		t.Errorf("destroyed notify %v", msgs[0])
	}
	if got := sections(t, lastSDP(t, msgs)); !slices.Equal(got, []string{"0:audio:inactive", "1:video:inactive"}) {
		t.Errorf("after leave: %v", got)
	}
	v.answer(t, msgs)

	s2 := e.join("S2", req(RoleSendOnly))
	s2.connect(t)
	msgs = v.p.take(t)
	if got := sections(t, lastSDP(t, msgs)); !slices.Equal(got, []string{"0:audio:sendonly:" + s2.c.ID(), "1:video:sendonly:" + s2.c.ID()}) {
		t.Errorf("inactive sections not recycled: %v", got)
	}
	if ssrcOf(t, lastSDP(t, msgs), "1") == ssrcOf(t, first, "1") {
		t.Error("a recycled section kept the old SSRC")
	}
	v.answer(t, msgs)
	if d := v.tr.downstreams()[s2.c.ID()+":1"]; d.Mid != "1" {
		t.Errorf("S2's video forwarded on %+v", d)
	}
}

// TestLeaveDuringReOffer: a track that leaves while its re-offer is in
// flight is not forwarded after the re-answer, and one more re-offer
// takes it away.
func TestLeaveDuringReOffer(t *testing.T) {
	e := newEnv(t)
	v := e.join("V", req(RoleRecvOnly))
	v.connect(t)
	v.p.take(t)
	s := e.join("S", req(RoleSendOnly))
	s.connect(t)
	inflight := v.p.take(t)
	s.c.Leave()
	v.p.take(t) // connection.destroyed
	v.answer(t, inflight)
	if n := len(v.tr.downstreams()); n != 0 {
		t.Errorf("V forwards %d tracks of a connection that left", n)
	}
	msgs := v.p.take(t)
	if got := sections(t, lastSDP(t, msgs)); !slices.Equal(got, []string{"0:audio:inactive", "1:video:inactive"}) {
		t.Errorf("after the re-answer: %s %v", types(msgs), got)
	}
}

func TestBundleID(t *testing.T) {
	e := newEnv(t)
	r := req(RoleSendRecv)
	r.BundleID = "bundle-x"
	a := e.join("A", r)
	a.connect(t)
	a.p.take(t)
	b := e.join("B", r)
	msgs := b.p.take(t)
	if msgs[0]["bundle_id"] != "bundle-x" || msgs[0]["client_id"] != b.c.ID() {
		t.Errorf("ids in B's offer: bundle %v client %v", msgs[0]["bundle_id"], msgs[0]["client_id"])
	}
	if got := sections(t, lastSDP(t, msgs)); len(got) != 2 {
		t.Errorf("B receives from its own bundle: %v", got)
	}
	b.answer(t, msgs)
	b.tr.events.OnConnected()
	msgs = b.p.take(t)
	if len(msgs) != 1 || len(msgs[0]["data"].([]any)) != 0 {
		t.Errorf("B's created lists its own bundle: %v", msgs)
	}
	if got := types(a.p.take(t)); got != "" {
		t.Errorf("A got %s about its own bundle", got)
	}
	c := e.join("C", req(RoleRecvOnly))
	c.connect(t)
	if got := len(sections(t, c.last)); got != 4 {
		t.Errorf("C's offer has %d sections, want both bundle members' 4", got)
	}
}

func TestTransportClosed(t *testing.T) {
	e := newEnv(t)
	a := e.join("A", req(RoleSendRecv))
	a.connect(t)
	b := e.join("B", req(RoleSendRecv))
	b.connect(t)
	a.answer(t, a.p.take(t))
	b.tr.events.OnClosed(errors.New("ice: no check for 25s"))
	if b.p.closeCode != CloseTransportFailed || b.p.closeReason != "TRANSPORT-CLOSED: ice: no check for 25s" {
		t.Errorf("B closed with %d %q", b.p.closeCode, b.p.closeReason)
	}
	if got := types(a.p.take(t)); got != "notify:connection.destroyed re-offer" {
		t.Errorf("A after B's transport failed: %s", got)
	}
	if _, ok := e.reg.Connection(b.c.ID()); ok {
		t.Error("B is still registered")
	}
	if !b.tr.closed {
		t.Error("B's transport not closed")
	}
	b.c.Leave() // the signaling side's Leave is a no-op now
	b.tr.events.OnClosed(nil)
	if got := counter(t, e.prm, "hayate_room_connections_left_total"); got != 1 {
		t.Errorf("left counted %v times", got)
	}
	if got := counter(t, e.prm, "hayate_room_transport_failures_total"); got != 1 {
		t.Errorf("transport failures %v", got)
	}
}

func TestSessionLifecycle(t *testing.T) {
	e := newEnv(t)
	a := e.join("A", req(RoleSendRecv))
	b := e.join("B", req(RoleRecvOnly))
	other := e.join("O", JoinRequest{ChannelID: "room-2", Role: RoleSendOnly, Audio: Media{Enabled: true}})
	s1 := a.c.SessionID()
	if b.c.SessionID() != s1 || other.c.SessionID() == s1 {
		t.Errorf("sessions a=%s b=%s other=%s", s1, b.c.SessionID(), other.c.SessionID())
	}
	chans := e.reg.Channels()
	if len(chans) != 2 || chans[0].ChannelID != "room-1" || chans[0].Connections != 2 || chans[0].SessionID != s1 {
		t.Errorf("Channels() = %+v", chans)
	}
	conns := e.reg.Connections("room-1")
	if len(conns) != 2 || conns[0].ConnectionID != a.c.ID() || conns[1].Role != RoleRecvOnly || conns[0].Created {
		t.Errorf("Connections(room-1) = %+v", conns)
	}
	if n := len(e.reg.Connections("")); n != 3 {
		t.Errorf("Connections(\"\") has %d", n)
	}
	a.c.Leave()
	b.c.Leave()
	if n := len(e.reg.Channels()); n != 1 {
		t.Errorf("%d channels after room-1 emptied", n)
	}
	c := e.join("C", req(RoleSendRecv))
	if c.c.SessionID() == s1 {
		t.Error("a channel that emptied kept its session id")
	}
	if got := counter(t, e.prm, "hayate_room_sessions_created_total"); got != 3 {
		t.Errorf("sessions created %v", got)
	}
	if got := counter(t, e.prm, "hayate_room_sessions_ended_total"); got != 1 {
		t.Errorf("sessions ended %v", got)
	}
	if got := counter(t, e.prm, "hayate_room_connections"); got != 2 {
		t.Errorf("connections gauge %v", got)
	}
}

func TestAnswerErrors(t *testing.T) {
	e := newEnv(t)
	a := e.join("A", req(RoleSendRecv))
	msgs := a.p.take(t)
	good := answerFor(t, lastSDP(t, msgs))

	if err := a.c.ReAnswer(good); !errors.Is(err, ErrUnexpectedAnswer) {
		t.Errorf("re-answer to a first offer: %v", err)
	}
	if err := a.c.Answer("v=0 nonsense"); !errors.Is(err, offer.ErrInvalidAnswer) {
		t.Errorf("garbage: %v", err)
	}
	missing := good[:strings.Index(good, "m=video")]
	if err := a.c.Answer(missing); !errors.Is(err, offer.ErrInvalidAnswer) || !strings.Contains(err.Error(), `mid "1"`) {
		t.Errorf("answer without the video section: %v", err)
	}
	a.tr.failRemote = dataplane.ErrBadRemote
	if err := a.c.Answer(good); !errors.Is(err, ErrTransport) || !errors.Is(err, dataplane.ErrBadRemote) {
		t.Errorf("SetRemote failure: %v", err)
	}
	a.tr.failRemote = nil
	if err := a.c.Answer(good); err != nil {
		t.Fatal(err)
	}
	if err := a.c.Answer(good); !errors.Is(err, ErrUnexpectedAnswer) {
		t.Errorf("second answer: %v", err)
	}
	a.c.Leave()
	if err := a.c.ReAnswer(good); !errors.Is(err, ErrLeft) {
		t.Errorf("after leave: %v", err)
	}
}

func TestJoinValidation(t *testing.T) {
	cases := []struct {
		name   string
		mutate func(*JoinRequest)
		want   string
	}{
		{"role", func(r *JoinRequest) { r.Role = "upstream" }, `role "upstream"`},
		{"empty channel", func(r *JoinRequest) { r.ChannelID = "" }, "channel_id of 0 bytes"},
		{"long channel", func(r *JoinRequest) { r.ChannelID = strings.Repeat("x", 256) }, "channel_id of 256 bytes"},
		{"long client id", func(r *JoinRequest) { r.ClientID = strings.Repeat("x", 256) }, "client_id"},
		{"long bundle id", func(r *JoinRequest) { r.BundleID = strings.Repeat("x", 256) }, "bundle_id"},
		{"no media", func(r *JoinRequest) { r.Audio.Enabled, r.Video.Enabled = false, false }, "both false"},
		{"video codec", func(r *JoinRequest) { r.Video.CodecType = "H265" }, `video.codec_type "H265"`},
		{"audio as video", func(r *JoinRequest) { r.Audio.CodecType = "VP8" }, `audio.codec_type "VP8"`},
		{"video bit rate", func(r *JoinRequest) { r.Video.BitRate = 50001 }, "video.bit_rate 50001"},
		{"audio bit rate", func(r *JoinRequest) { r.Audio.BitRate = 511 }, "audio.bit_rate 511"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t)
			r := req(RoleSendRecv)
			tc.mutate(&r)
			_, err := e.reg.Join(r, &fakePeer{})
			if !errors.Is(err, ErrInvalidRequest) || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("err = %v, want ErrInvalidRequest naming %q", err, tc.want)
			}
			if len(e.reg.Channels()) != 0 {
				t.Error("a refused join left a channel behind")
			}
		})
	}
	e := newEnv(t)
	e.fac.failNew = errors.New("no ports")
	if _, err := e.reg.Join(req(RoleSendRecv), &fakePeer{}); !errors.Is(err, ErrTransport) {
		t.Errorf("transport failure: %v", err)
	}
	if len(e.reg.Channels()) != 0 {
		t.Error("a failed join left a channel behind")
	}
}

func TestMediaOptionsInOffer(t *testing.T) {
	e := newEnv(t)
	yes, no := true, false
	a := e.join("A", JoinRequest{ChannelID: "c", Role: RoleSendOnly,
		Audio: Media{Enabled: true, BitRate: 64, OpusParams: &OpusParams{UseDTX: &yes, Stereo: &yes, UseInbandFEC: &no}},
		Video: Media{Enabled: true, CodecType: "AV1", BitRate: 800}})
	msgs := a.p.take(t)
	o := msgs[0]
	text := o["sdp"].(string)
	for _, want := range []string{"a=fmtp:111 minptime=10;useinbandfec=0;stereo=1;usedtx=1;maxaveragebitrate=64000", "b=AS:800", "b=TIAS:800000", "a=rtpmap:45 AV1/90000"} {
		if !strings.Contains(text, want) {
			t.Errorf("offer lacks %q", want)
		}
	}
	if strings.Contains(text, "VP8") {
		t.Error("offer lists VP8 although AV1 was asked for")
	}
	if o["audio_bit_rate"] != 64.0 || o["video_codec_type"] != "AV1" || o["video_bit_rate"] != 800.0 || o["audio_codec_type"] != "OPUS" {
		t.Errorf("effective media fields: %v", o)
	}
	// A receiver gets the sender's codec.
	a.answer(t, msgs)
	a.tr.events.OnConnected()
	v := e.join("V", JoinRequest{ChannelID: "c", Role: RoleRecvOnly, Audio: Media{Enabled: false}, Video: Media{Enabled: true}})
	msgs = v.p.take(t)
	if got := sections(t, lastSDP(t, msgs)); !slices.Equal(got, []string{"0:video:sendonly:" + a.c.ID()}) {
		t.Errorf("video-only receiver: %v", got)
	}
	if !strings.Contains(lastSDP(t, msgs), "AV1/90000") {
		t.Error("receiver's section is not in the sender's codec")
	}
}

func TestNotifyUpdatedAndDisabled(t *testing.T) {
	e := newEnv(t)
	a := e.join("A", req(RoleSendRecv))
	a.connect(t)
	b := e.join("B", req(RoleRecvOnly))
	b.connect(t)
	a.p.take(t)
	b.p.take(t)
	e.advance(150 * time.Second)
	a.c.NotifyUpdated()
	for _, p := range []*fakePeer{a.p, b.p} {
		msgs := p.take(t)
		if types(msgs) != "notify:connection.updated" || msgs[0]["minutes"] != 2.0 || msgs[0]["connection_id"] != a.c.ID() {
			t.Errorf("%s: %v", p.name, msgs)
		}
	}

	e2 := newEnv(t, func(c *Config) { c.Notify = false })
	x := e2.join("X", req(RoleSendRecv))
	x.connect(t)
	y := e2.join("Y", req(RoleSendRecv))
	y.connect(t)
	if got := types(x.p.take(t)); got != "re-offer" {
		t.Errorf("with notify off X got %s", got)
	}

	// The auth webhook's signaling_notify: false silences one connection;
	// the others still hear about it.
	e3 := newEnv(t)
	off := false
	quiet := req(RoleSendRecv)
	quiet.SignalingNotify = &off
	q := e3.join("Q", quiet)
	q.connect(t)
	if got := types(q.p.take(t)); strings.Contains(got, "notify") {
		t.Errorf("with signaling_notify false Q got %s", got)
	}
	r := e3.join("R", req(RoleSendRecv))
	r.connect(t)
	if got := types(q.p.take(t)); got != "re-offer" {
		t.Errorf("with signaling_notify false Q got %s when R joined, want only the re-offer", got)
	}
	if got := types(r.p.take(t)); !strings.Contains(got, "notify:connection.created") {
		t.Errorf("R got %s, want its own connection.created", got)
	}
}

func TestPushAndDisconnect(t *testing.T) {
	e := newEnv(t)
	a := e.join("A", req(RoleSendRecv))
	a.p.take(t)
	if err := a.c.Push(map[string]any{"n": 1}); err != nil {
		t.Fatal(err)
	}
	if got := string(a.p.msgs[0]); got != `{"type":"push","data":{"n":1}}` {
		t.Errorf("push = %s", got)
	}
	if err := a.c.Push(make(chan int)); err == nil {
		t.Error("unencodable push data accepted")
	}
	a.c.Disconnect("DISCONNECTED-API")
	if a.p.closeCode != 1000 || a.p.closeReason != "DISCONNECTED-API" {
		t.Errorf("closed %d %q", a.p.closeCode, a.p.closeReason)
	}
	if err := a.c.Push(1); !errors.Is(err, ErrLeft) {
		t.Errorf("push after leave: %v", err)
	}
	if got := counter(t, e.prm, "hayate_room_pushes_total"); got != 1 {
		t.Errorf("pushes %v", got)
	}
}

// TestConcurrentChurn joins, answers, connects and leaves from many
// goroutines in one channel; run with -race it checks the locking, and at
// the end the registry must be empty.
func TestConcurrentChurn(t *testing.T) {
	e := newEnv(t, func(c *Config) { c.NewID = NewID })
	var wg sync.WaitGroup
	for g := range 6 {
		wg.Go(func() {
			for i := range 15 {
				role := []Role{RoleSendRecv, RoleSendOnly, RoleRecvOnly}[(g+i)%3]
				p := &fakePeer{name: "p"}
				c, err := e.reg.Join(req(role), p)
				if err != nil {
					t.Error(err)
					return
				}
				p.mu.Lock()
				first := string(p.msgs[0])
				p.mu.Unlock()
				var o struct{ SDP string }
				_ = json.Unmarshal([]byte(first), &o)
				if err := c.Answer(answerFor(t, o.SDP)); err != nil {
					t.Error(err)
				}
				e.fac.mu.Lock()
				var tr *fakeTransport
				for _, x := range e.fac.transports {
					if x.id == c.ID() {
						tr = x
					}
				}
				e.fac.mu.Unlock()
				tr.events.OnConnected()
				if i%2 == 0 {
					c.Leave()
				} else {
					tr.events.OnClosed(errors.New("gone"))
				}
			}
		})
	}
	wg.Wait()
	if n := len(e.reg.Channels()); n != 0 {
		t.Errorf("%d channels left", n)
	}
	if got := counter(t, e.prm, "hayate_room_connections"); got != 0 {
		t.Errorf("connections gauge %v", got)
	}
}
