package integration

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/pion/interceptor"
	"github.com/pion/rtcp"
	"github.com/pion/sdp/v3"
	"github.com/pion/webrtc/v4"

	"github.com/hayate-sfu/hayate/bench/soraclient"
)

var (
	audio = webrtc.RTPCodecTypeAudio
	video = webrtc.RTPCodecTypeVideo
)

// expectStream waits until rec has packet last of tag, then requires that
// every payload is byte-identical to the one sent, nothing is missing after
// the first packet received, and at least min packets came.
func expectStream(t *testing.T, ctx context.Context, what string, rec *recording, kind webrtc.RTPCodecType, tag byte, last, minimum int) verdict {
	t.Helper()
	wctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	arrived := rec.waitFor(wctx, hasIndex(tag, last))
	v := judge(rec.snapshot(), kind, tag)
	t.Logf("%s: %v", what, v)
	switch {
	case !arrived:
		t.Errorf("%s: packet %d never arrived (%v); track ended: %v", what, last, v, rec.ended)
	case v.mismatched > 0 || v.foreign > 0:
		t.Errorf("%s: payloads differ from what was sent: %v", what, v)
	case len(v.missing) > 0:
		t.Errorf("%s: packets lost after forwarding started: %v", what, v)
	case v.got < minimum:
		t.Errorf("%s: only %d packets, want at least %d: %v", what, v.got, minimum, v)
	}
	return v
}

// expectUpstreamAnswer checks the client's own answer: the sections named by
// offer.mid are sendonly and carry a=ssrc.
func expectUpstreamAnswer(t *testing.T, c *soraclient.Client) {
	t.Helper()
	var off struct {
		Mid map[string]string `json:"mid"`
	}
	if err := json.Unmarshal(c.Offer(), &off); err != nil {
		t.Fatalf("offer: %v", err)
	}
	ld := c.PeerConnection().LocalDescription()
	var sd sdp.SessionDescription
	if err := sd.UnmarshalString(ld.SDP); err != nil {
		t.Fatalf("own answer: %v", err)
	}
	for _, kind := range []string{"audio", "video"} {
		mid := off.Mid[kind]
		if mid == "" {
			t.Errorf("offer.mid has no %s: %s", kind, c.Offer())
			continue
		}
		found := false
		for _, md := range sd.MediaDescriptions {
			if v, _ := md.Attribute("mid"); v != mid {
				continue
			}
			found = true
			_, sendonly := md.Attribute("sendonly")
			_, ssrc := md.Attribute("ssrc")
			if md.MediaName.Media != kind || !sendonly || !ssrc {
				t.Errorf("answer section mid %s: media %s sendonly %v ssrc %v; want %s, sendonly, a=ssrc", mid, md.MediaName.Media, sendonly, ssrc, kind)
			}
		}
		if !found {
			t.Errorf("answer has no section mid %s (offer.mid.%s)", mid, kind)
		}
	}
}

// expectCreated waits for c's notify connection.created about id and checks
// its channel_connections and, when member is set, that its data list names
// member (the newcomer's own notify lists who was there before it).
func expectCreated(t *testing.T, ctx context.Context, c *soraclient.Client, id string, connections int, member string) {
	t.Helper()
	wctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	ev, err := c.WaitEvent(wctx, func(ev soraclient.Event) bool {
		return ev.Type == "notify" && ev.EventType == "connection.created" && ev.ConnectionID == id
	})
	if err != nil {
		t.Errorf("%s: no connection.created for %s: %v", c.ConnectionID(), id, err)
		return
	}
	type entry struct {
		ConnectionID string `json:"connection_id"`
	}
	var n struct {
		ChannelConnections *int    `json:"channel_connections"`
		Data               []entry `json:"data"`
	}
	if err := json.Unmarshal(ev.Raw, &n); err != nil {
		t.Errorf("%s: connection.created: %v: %s", c.ConnectionID(), err, ev.Raw)
		return
	}
	if n.ChannelConnections == nil || *n.ChannelConnections != connections {
		t.Errorf("%s: connection.created for %s has channel_connections %v, want %d: %s", c.ConnectionID(), id, n.ChannelConnections, connections, ev.Raw)
	}
	if member != "" && !slices.Contains(n.Data, entry{member}) {
		t.Errorf("%s: its own connection.created does not list %s in data: %s", c.ConnectionID(), member, ev.Raw)
	}
}

// (a) Two sendrecv clients exchange audio and video; every payload arrives
// byte for byte under a track whose stream id is the sender's connection_id.
func TestTwoPartySendrecv(t *testing.T) {
	e := newEnv(t, 40*time.Second)
	a := e.connect("two-party", "sendrecv")
	ra := collect(e, a)
	b := e.connect("two-party", "sendrecv")
	rb := collect(e, b)
	expectUpstreamAnswer(t, a)
	expectUpstreamAnswer(t, b)
	expectCreated(t, e.ctx, b, b.ConnectionID(), 2, a.ConnectionID())
	expectCreated(t, e.ctx, a, b.ConnectionID(), 2, "")
	e.waitSees(a, b.ConnectionID())
	e.waitSees(b, a.ConnectionID())
	time.Sleep(settle)

	const n = 100
	pa := publish(e, a, 'A', n, 10*time.Millisecond, audio, video)
	pb := publish(e, b, 'B', n, 10*time.Millisecond, audio, video)
	e.waitWritten(pa, pb)
	expectBothWays(e, a, b, ra, rb, 'A', 'B', n, "")
}

// (b) One sendonly publisher, ten recvonly subscribers (five joined before
// it, five after): every subscriber receives the video payloads. The late
// five answer setup:passive, so the server is their DTLS client.
func TestFanOutOneToTen(t *testing.T) {
	e := newEnv(t, 60*time.Second)
	const ch = "fan-out"
	var subs []*remote
	for range 5 {
		subs = append(subs, collect(e, e.connect(ch, "recvonly")))
	}
	pubc := e.connect(ch, "sendonly")
	for range 5 {
		subs = append(subs, collect(e, e.connect(ch, "recvonly", dtlsPassive)))
	}
	for _, s := range subs {
		e.waitSees(s.c, pubc.ConnectionID())
	}
	time.Sleep(settle)
	t.Log(e.joinSummary())
	const n = 150
	publishToAll(e, pubc, subs, 'F', n)
}

// expectBothWays expects B (through rb) to receive a's audio and video
// tagged tagA, and A (through ra) b's tagged tagB: at least 90 % of n
// packets of each, in order, byte for byte. suffix goes into the messages.
func expectBothWays(e *env, a, b *soraclient.Client, ra, rb *remote, tagA, tagB byte, n int, suffix string) {
	t := e.t
	t.Helper()
	for _, tc := range []struct {
		name string
		at   *remote
		from *soraclient.Client
		tag  byte
	}{{"B receives A", rb, a, tagA}, {"A receives B", ra, b, tagB}} {
		for _, kind := range []webrtc.RTPCodecType{video, audio} {
			rec, err := tc.at.track(e.ctx, tc.from.ConnectionID(), kind)
			if err != nil {
				t.Errorf("%s %s: %v", tc.name, kind, err)
				continue
			}
			expectStream(t, e.ctx, fmt.Sprintf("%s %s%s", tc.name, kind, suffix), rec, kind, tc.tag, n-1, n*9/10)
		}
	}
}

// publishToAll publishes n packets of audio and video tagged tag from pubc
// and expects every subscriber to receive at least 80 % of the video, in
// order, byte for byte.
func publishToAll(e *env, pubc *soraclient.Client, subs []*remote, tag byte, n int) {
	t := e.t
	t.Helper()
	p := publish(e, pubc, tag, n, 10*time.Millisecond, audio, video)
	e.waitWritten(p)
	for i, s := range subs {
		rec, err := s.track(e.ctx, pubc.ConnectionID(), video)
		if err != nil {
			t.Errorf("subscriber %d: %v", i, err)
			continue
		}
		expectStream(t, e.ctx, fmt.Sprintf("subscriber %d (%s) video", i, s.c.ConnectionID()), rec, video, tag, n-1, n*8/10)
	}
}

// activeSections lists the m-sections of an SDP whose msid stream is stream
// and which still send (not inactive/recvonly, port not 0).
func activeSections(sdpText, stream string) ([]string, error) {
	var sd sdp.SessionDescription
	if err := sd.UnmarshalString(sdpText); err != nil {
		return nil, err
	}
	var out []string
	for _, md := range sd.MediaDescriptions {
		ofStream := false
		for _, a := range md.Attributes {
			if (a.Key == "msid" && strings.HasPrefix(a.Value, stream+" ")) ||
				(a.Key == "ssrc" && strings.Contains(a.Value, "msid:"+stream+" ")) {
				ofStream = true
			}
		}
		if !ofStream || md.MediaName.Port.Value == 0 {
			continue
		}
		_, inactive := md.Attribute("inactive")
		_, recvonly := md.Attribute("recvonly")
		if !inactive && !recvonly {
			mid, _ := md.Attribute("mid")
			out = append(out, md.MediaName.Media+" mid "+mid)
		}
	}
	return out, nil
}

// (c) Three clients; one disconnects: it sees 1000 TYPE-DISCONNECT, the
// others get connection.destroyed, a re-offer that stops its sections, and
// its tracks end, while the remaining pair keeps exchanging media. Then a
// newcomer joins and both receive its media.
func TestParticipantLeaves(t *testing.T) {
	e := newEnv(t, 45*time.Second)
	const ch = "leave"
	cs := []*soraclient.Client{e.connect(ch, "sendrecv"), e.connect(ch, "sendrecv"), e.connect(ch, "sendrecv")}
	rs := []*remote{collect(e, cs[0]), collect(e, cs[1]), collect(e, cs[2])}
	tags := []byte{'X', 'Y', 'Z'}
	for i, c := range cs {
		for j, o := range cs {
			if i != j {
				e.waitSees(c, o.ConnectionID())
			}
		}
	}
	for i, c := range cs {
		publish(e, c, tags[i], 0, 20*time.Millisecond, audio, video)
	}
	leaver := cs[2]
	leaverID := leaver.ConnectionID()
	var leaverTracks []*recording
	for i := range 2 {
		for _, kind := range []webrtc.RTPCodecType{audio, video} {
			rec, err := rs[i].track(e.ctx, leaverID, kind)
			if err != nil {
				t.Fatalf("before leaving: %v", err)
			}
			wctx, cancel := context.WithTimeout(e.ctx, 5*time.Second)
			ok := rec.waitFor(wctx, atLeast(5))
			cancel()
			if !ok {
				t.Fatalf("before leaving: %s gets no %s from the leaver: %v", cs[i].ConnectionID(), kind, judge(rec.snapshot(), kind, 'Z'))
			}
			leaverTracks = append(leaverTracks, rec)
		}
	}

	left := time.Now()
	dctx, cancel := context.WithTimeout(e.ctx, 5*time.Second)
	err := leaver.Disconnect(dctx)
	cancel()
	if err != nil {
		t.Errorf("Disconnect: %v", err)
	}
	if code, reason := leaver.CloseStatus(); code != 1000 || reason != "TYPE-DISCONNECT" {
		t.Errorf("leaver's WebSocket closed with %d %q, want 1000 \"TYPE-DISCONNECT\"", code, reason)
	}

	for i := range 2 {
		c := cs[i]
		wctx, cancel := context.WithTimeout(e.ctx, 10*time.Second)
		ev, err := c.WaitEvent(wctx, func(ev soraclient.Event) bool {
			return ev.Type == "notify" && ev.EventType == "connection.destroyed" && ev.ConnectionID == leaverID
		})
		if err != nil {
			t.Errorf("%s: no connection.destroyed for %s: %v\nevents:%s", c.ConnectionID(), leaverID, err, describeEvents(c))
		} else {
			t.Logf("%s: connection.destroyed after %v: %s", c.ConnectionID(), ev.At.Sub(left).Round(time.Millisecond), ev.Raw)
		}
		var lastProblem string
		ev, err = c.WaitEvent(wctx, func(ev soraclient.Event) bool {
			if ev.Type != "re-offer" || ev.At.Before(left) {
				return false
			}
			active, perr := activeSections(ev.SDP, leaverID)
			if perr != nil {
				lastProblem = "unparsable re-offer: " + perr.Error()
				return false
			}
			if len(active) > 0 {
				lastProblem = fmt.Sprintf("re-offer still sends the leaver's %v:\n%s", active, ev.SDP)
				return false
			}
			return true
		})
		cancel()
		if err != nil {
			t.Errorf("%s: no re-offer that stops %s's sections: %v; %s", c.ConnectionID(), leaverID, err, lastProblem)
		} else {
			t.Logf("%s: re-offer without the leaver after %v", c.ConnectionID(), ev.At.Sub(left).Round(time.Millisecond))
		}
	}
	for i, rec := range leaverTracks {
		select {
		case <-rec.done:
			t.Logf("leaver's track %d (%s) ended after %v: %v", i, rec.track.Kind(), time.Since(left).Round(time.Millisecond), rec.ended)
		case <-time.After(10 * time.Second):
			t.Errorf("leaver's %s track at a remaining client still open 10 s after the re-offer (ReadRTP did not fail)", rec.track.Kind())
		}
	}
	// The two who stay still hear each other.
	for i, j := range []int{1, 0} {
		rec, err := rs[i].track(e.ctx, cs[j].ConnectionID(), video)
		if err != nil {
			t.Error(err)
			continue
		}
		n := len(rec.snapshot())
		wctx, cancel := context.WithTimeout(e.ctx, 5*time.Second)
		if !rec.waitFor(wctx, atLeast(n+20)) {
			t.Errorf("%s stopped receiving %s's video after the third left", cs[i].ConnectionID(), cs[j].ConnectionID())
		}
		cancel()
	}
	// A newcomer takes the leaver's place (the server may recycle the
	// inactive sections): both remaining clients receive all of its media.
	newcomer := e.connect(ch, "sendrecv")
	for i := range 2 {
		e.waitSees(cs[i], newcomer.ConnectionID())
	}
	time.Sleep(settle)
	const n = 100
	p := publish(e, newcomer, 'W', n, 10*time.Millisecond, audio, video)
	e.waitWritten(p)
	for i := range 2 {
		for _, kind := range []webrtc.RTPCodecType{video, audio} {
			rec, err := rs[i].track(e.ctx, newcomer.ConnectionID(), kind)
			if err != nil {
				t.Errorf("after the leave: %v", err)
				continue
			}
			expectStream(t, e.ctx, fmt.Sprintf("%s receives the newcomer's %s", cs[i].ConnectionID(), kind), rec, kind, 'W', n-1, n*9/10)
		}
	}
}

// (d) A subscriber loses one video packet before its NACK generator sees it;
// the generator NACKs it and the server retransmits it, so the very same
// payload reaches the application later.
func TestNACKRetransmission(t *testing.T) {
	e := newEnv(t, 40*time.Second)
	const ch = "nack"
	var nacksAtPublisher atomic.Int64 // informational: the server should answer NACKs itself
	pubc := e.connect(ch, "sendonly", func(c *soraclient.Config) {
		c.OnSenderRTCP = func(_ webrtc.RTPCodecType, pkts []rtcp.Packet) {
			for _, p := range pkts {
				if _, ok := p.(*rtcp.TransportLayerNack); ok {
					nacksAtPublisher.Add(1)
				}
			}
		}
	})
	drop := newDropper(40)
	sub := e.connect(ch, "recvonly", withInterceptors(func(m *webrtc.MediaEngine, r *interceptor.Registry) error {
		r.Add(drop) // first: the NACK generator added next must not see the lost packet
		return webrtc.RegisterDefaultInterceptors(m, r)
	}))
	rs := collect(e, sub)
	e.waitSees(sub, pubc.ConnectionID())
	time.Sleep(settle)
	const n = 150
	p := publish(e, pubc, 'N', n, 10*time.Millisecond, video)
	rec, err := rs.track(e.ctx, pubc.ConnectionID(), video)
	if err != nil {
		t.Fatal(err)
	}
	var lostAt time.Time
	select {
	case <-drop.lost:
		lostAt = time.Now()
	case <-time.After(10 * time.Second):
		t.Fatalf("the subscriber never received 40 video packets: %v", judge(rec.snapshot(), video, 'N'))
	}
	lost := drop.droppedPacket()
	tag, idx, ok := decode(lost.Payload)
	if !ok || tag != 'N' {
		t.Fatalf("the dropped packet (seq %d) carries no payload of ours: %x", lost.SequenceNumber, head(lost.Payload))
	}
	t.Logf("dropped seq %d (payload index %d, ssrc %d)", lost.SequenceNumber, idx, lost.SSRC)
	wctx, cancel := context.WithTimeout(e.ctx, 5*time.Second)
	defer cancel()
	if !rec.waitFor(wctx, hasIndex('N', idx)) {
		v := judge(rec.snapshot(), video, 'N')
		t.Fatalf("packet index %d (seq %d) was never retransmitted within 5 s of the loss: %v (the offer must carry a=rtcp-fb nack and, for RTX, an rtx payload type and an ssrc-group FID)\noffer: %s", idx, lost.SequenceNumber, v, sub.Offer())
	}
	for _, r := range rec.snapshot() {
		if tg, i, _ := decode(r.payload); tg == 'N' && i == idx {
			t.Logf("retransmission of index %d arrived %v after the loss as seq %d", idx, r.at.Sub(lostAt).Round(time.Millisecond), r.seq)
			if r.seq != lost.SequenceNumber {
				t.Errorf("retransmitted packet has seq %d, the lost one had %d", r.seq, lost.SequenceNumber)
			}
		}
	}
	select {
	case <-p.written:
	case <-e.ctx.Done():
	}
	expectStream(t, e.ctx, "subscriber video with one loss", rec, video, 'N', n-1, n*8/10)
	t.Logf("the subscriber NACKed the lost packet %d times; NACK packets that reached the publisher: %d", drop.nackCount(), nacksAtPublisher.Load())
}

// (e) A subscriber's PLI for a forwarded track reaches the publisher as a PLI
// for its own SSRC.
func TestPLIRelay(t *testing.T) {
	e := newEnv(t, 40*time.Second)
	const ch = "pli"
	type seen struct {
		at   time.Time
		pkt  rtcp.Packet
		ssrc uint32
	}
	var mu sync.Mutex
	var fb []seen
	pubc := e.connect(ch, "sendonly", func(c *soraclient.Config) {
		c.OnSenderRTCP = func(kind webrtc.RTPCodecType, pkts []rtcp.Packet) {
			if kind != video {
				return
			}
			mu.Lock()
			defer mu.Unlock()
			for _, p := range pkts {
				switch p := p.(type) {
				case *rtcp.PictureLossIndication:
					fb = append(fb, seen{time.Now(), p, p.MediaSSRC})
				case *rtcp.FullIntraRequest:
					fb = append(fb, seen{time.Now(), p, p.MediaSSRC})
				}
			}
		}
	})
	sub := e.connect(ch, "recvonly")
	rs := collect(e, sub)
	e.waitSees(sub, pubc.ConnectionID())
	publish(e, pubc, 'P', 0, 10*time.Millisecond, video)
	rec, err := rs.track(e.ctx, pubc.ConnectionID(), video)
	if err != nil {
		t.Fatal(err)
	}
	wctx, cancel := context.WithTimeout(e.ctx, 5*time.Second)
	ok := rec.waitFor(wctx, atLeast(10))
	cancel()
	if !ok {
		t.Fatalf("no video at the subscriber: %v", judge(rec.snapshot(), video, 'P'))
	}
	ownSSRC := uint32(pubc.Sender(video).GetParameters().Encodings[0].SSRC)

	// Let the keyframe requests of the join pass: 1 s without feedback.
	quietSince := time.Now()
	for deadline := time.Now().Add(8 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		mu.Lock()
		if len(fb) > 0 && fb[len(fb)-1].at.After(quietSince) {
			quietSince = fb[len(fb)-1].at
		}
		mu.Unlock()
		if time.Since(quietSince) > time.Second {
			break
		}
	}
	mu.Lock()
	before := len(fb)
	mu.Unlock()
	t.Logf("%d PLI/FIR reached the publisher around the join", before)

	start := time.Now()
	var got *seen
	var fir int
	for time.Since(start) < 5*time.Second && got == nil {
		if err := sub.PeerConnection().WriteRTCP([]rtcp.Packet{&rtcp.PictureLossIndication{MediaSSRC: uint32(rec.track.SSRC())}}); err != nil {
			t.Fatalf("subscriber WriteRTCP: %v", err)
		}
		time.Sleep(200 * time.Millisecond)
		mu.Lock()
		for i := before; i < len(fb); i++ {
			if _, isPLI := fb[i].pkt.(*rtcp.PictureLossIndication); isPLI && fb[i].ssrc == ownSSRC {
				s := fb[i]
				got = &s
				break
			}
			if _, isFIR := fb[i].pkt.(*rtcp.FullIntraRequest); isFIR {
				fir++
			}
		}
		mu.Unlock()
	}
	if got == nil {
		mu.Lock()
		defer mu.Unlock()
		var desc []string
		for _, s := range fb[before:] {
			desc = append(desc, fmt.Sprintf("%T ssrc %d", s.pkt, s.ssrc))
		}
		t.Fatalf("no PLI for the publisher's SSRC %d within 5 s of the subscriber's PLIs for SSRC %d; feedback seen after: %v", ownSSRC, rec.track.SSRC(), desc)
	}
	t.Logf("PLI reached the publisher %v after the subscriber's first PLI", got.at.Sub(start).Round(time.Microsecond))
}

// badInput is one misbehaving WebSocket client.
type badInput struct {
	name string
	run  func(ctx context.Context, ws *websocket.Conn) error // sends the bad input
}

// (f) While two clients exchange media, other WebSockets send garbage; each
// is closed with a 4xxx code and a reason, and the media never stops.
func TestBadInputIsolated(t *testing.T) {
	e := newEnv(t, 50*time.Second)
	const ch = "bad-input"
	a := e.connect(ch, "sendrecv")
	ra := collect(e, a)
	b := e.connect(ch, "sendrecv")
	rb := collect(e, b)
	e.waitSees(a, b.ConnectionID())
	e.waitSees(b, a.ConnectionID())
	time.Sleep(settle)
	const n = 400
	pa := publish(e, a, 'a', n, 10*time.Millisecond, audio, video)
	pb := publish(e, b, 'b', n, 10*time.Millisecond, audio, video)

	hint := throwawaySDP(t)
	connectMsg := func(role, channel string) []byte {
		m, _ := json.Marshal(map[string]any{"type": "connect", "role": role, "channel_id": channel, "sdp": hint, "audio": true, "video": true})
		return m
	}
	text := func(b []byte) func(context.Context, *websocket.Conn) error {
		return func(ctx context.Context, ws *websocket.Conn) error { return ws.Write(ctx, websocket.MessageText, b) }
	}
	afterOffer := func(then []byte) func(context.Context, *websocket.Conn) error {
		return func(ctx context.Context, ws *websocket.Conn) error {
			if err := ws.Write(ctx, websocket.MessageText, connectMsg("recvonly", ch)); err != nil {
				return err
			}
			for {
				_, m, err := ws.Read(ctx)
				if err != nil {
					return fmt.Errorf("before the offer: %w", err)
				}
				if strings.Contains(string(m), `"offer"`) {
					break
				}
			}
			return ws.Write(ctx, websocket.MessageText, then)
		}
	}
	big := fmt.Sprintf(`{"type":"connect","role":"recvonly","channel_id":"x","pad":"%s"}`, strings.Repeat("x", e.cfg.SignalingMaxMessageSize))
	cases := []badInput{
		{"not JSON", text([]byte("{{{ not json"))},
		{"JSON but not an object", text([]byte(`[1,2,3]`))},
		{"unknown type", text([]byte(`{"type":"hello"}`))},
		{"answer before connect", text([]byte(`{"type":"answer","sdp":"v=0"}`))},
		{"bad role", text([]byte(`{"type":"connect","role":"upstream","channel_id":"x"}`))},
		{"empty channel_id", text([]byte(`{"type":"connect","role":"sendrecv","channel_id":""}`))},
		{"channel_id of 256 bytes", text(connectMsg("sendrecv", strings.Repeat("c", 256)))},
		{"role of wrong type", text([]byte(`{"type":"connect","role":1,"channel_id":"x"}`))},
		{"oversized frame", text([]byte(big))},
		{"binary frame", func(ctx context.Context, ws *websocket.Conn) error {
			return ws.Write(ctx, websocket.MessageBinary, connectMsg("recvonly", ch))
		}},
		{"second connect", afterOffer(connectMsg("recvonly", ch))},
		{"garbage after the offer", afterOffer([]byte("\x00\x01garbage"))},
	}
	for _, tc := range cases {
		code, reason, err := misbehave(e.ctx, e.srv.SignalingURL(), tc.run)
		switch {
		case err != nil:
			t.Errorf("%s: %v", tc.name, err)
		case code < 4000 || code > 4999 || reason == "":
			t.Errorf("%s: closed with %d %q, want a 4xxx code and a reason naming the problem", tc.name, code, reason)
		default:
			t.Logf("%s: closed %d %q", tc.name, code, reason)
		}
	}
	if pa.sent() >= n {
		t.Logf("note: the bad inputs took longer than the %d packets of media (%d sent)", n, pa.sent())
	}
	e.waitWritten(pa, pb)
	expectBothWays(e, a, b, ra, rb, 'a', 'b', n, " during bad input")
}

// misbehave dials the signaling URL, runs bad, and returns the close code and
// reason the server sent (reading at most 5 s).
func misbehave(ctx context.Context, url string, bad func(context.Context, *websocket.Conn) error) (int, string, error) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	ws, _, err := websocket.Dial(ctx, url, nil) //nolint:bodyclose
	if err != nil {
		return 0, "", fmt.Errorf("dial: %w", err)
	}
	defer ws.CloseNow() //nolint:errcheck
	ws.SetReadLimit(16 << 20)
	if err := bad(ctx, ws); err != nil {
		// The server may close while we are still writing; what it said is what counts.
		var ce websocket.CloseError
		if errors.As(err, &ce) {
			return int(ce.Code), ce.Reason, nil
		}
	}
	for {
		_, _, err := ws.Read(ctx)
		if err == nil {
			continue
		}
		var ce websocket.CloseError
		if errors.As(err, &ce) {
			return int(ce.Code), ce.Reason, nil
		}
		return 0, "", fmt.Errorf("no close frame from the server: %w", err)
	}
}

// throwawaySDP is a recvonly audio+video offer like the one SDKs put in connect.
func throwawaySDP(t *testing.T) string {
	t.Helper()
	pc, err := webrtc.NewAPI(webrtc.WithSettingEngine(*soraclient.LoopbackSettingEngine())).NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close() //nolint:errcheck
	for _, k := range []webrtc.RTPCodecType{audio, video} {
		if _, err := pc.AddTransceiverFromKind(k, webrtc.RTPTransceiverInit{Direction: webrtc.RTPTransceiverDirectionRecvonly}); err != nil {
			t.Fatal(err)
		}
	}
	off, err := pc.CreateOffer(nil)
	if err != nil {
		t.Fatal(err)
	}
	return off.SDP
}
