package integration

import (
	"context"
	"encoding/json"
	"net"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pion/rtcp"
	"github.com/pion/rtp"
	"github.com/pion/sdp/v3"
	"github.com/pion/webrtc/v4"

	"github.com/hayate-sfu/hayate/bench/soraclient"
)

// The media operations of the HTTP API end to end: PauseRtpStream /
// ResumeRtpStream, ChangeUpstreamVideoBitRate and Start/StopForwardingRtp,
// with pion clients and plain UDP receivers.

// isKeyframeIndex reports whether packet i of a publisher's video is a
// keyframe (payload: one every 10th).
func isKeyframeIndex(i int) bool { return i%10 == 0 }

// TestAPIPauseRtpStream: a pause stops the publisher's video to the
// subscriber while its audio goes on and ListPauseRtpStreams shows it; a
// resume restarts the video with a keyframe.
func TestAPIPauseRtpStream(t *testing.T) {
	e := newEnv(t, 50*time.Second)
	const ch = "api-pause"
	pub := e.connect(ch, "sendonly")
	sub := e.connect(ch, "recvonly")
	rs := collect(e, sub)
	e.waitSees(sub, pub.ConnectionID())
	time.Sleep(settle)
	publish(e, pub, 'P', 0, 20*time.Millisecond, audio, video)

	vrec, err := rs.track(e.ctx, pub.ConnectionID(), video)
	if err != nil {
		t.Fatal(err)
	}
	arec, err := rs.track(e.ctx, pub.ConnectionID(), audio)
	if err != nil {
		t.Fatal(err)
	}
	wait := func(r *recording, n int, what string) {
		t.Helper()
		wctx, cancel := context.WithTimeout(e.ctx, 5*time.Second)
		defer cancel()
		if !r.waitFor(wctx, atLeast(n)) {
			t.Fatalf("%s: %d packets, want %d", what, len(r.snapshot()), n)
		}
	}
	wait(vrec, 20, "video before the pause")

	pair := map[string]any{"channel_id": ch, "recv_connection_id": sub.ConnectionID(), "send_connection_id": pub.ConnectionID()}
	if got, want := string(e.mustAPI("Sora_20200401.PauseRtpStream", pair)),
		`{"channel_id":"`+ch+`","recv_connection_id":"`+sub.ConnectionID()+`","send_connection_id":"`+pub.ConnectionID()+`"}`; got != want {
		t.Errorf("PauseRtpStream = %s, want %s", got, want)
	}
	time.Sleep(settle) // packets in flight
	v0, a0 := len(vrec.snapshot()), len(arec.snapshot())
	time.Sleep(time.Second)
	v1, a1 := len(vrec.snapshot()), len(arec.snapshot())
	t.Logf("during 1 s of pause: %d video, %d audio packets", v1-v0, a1-a0)
	if v1 != v0 {
		t.Errorf("%d video packets arrived during the pause", v1-v0)
	}
	if a1-a0 < 20 {
		t.Errorf("only %d audio packets in 1 s of a video pause: audio must go on", a1-a0)
	}
	var list []map[string]string
	if err := json.Unmarshal(e.mustAPI("Sora_20200401.ListPauseRtpStreams", map[string]any{"channel_id": ch}), &list); err != nil {
		t.Fatal(err)
	}
	if len(list) != 1 || list[0]["recv_connection_id"] != sub.ConnectionID() || list[0]["send_connection_id"] != pub.ConnectionID() ||
		list[0]["role"] != "recvonly" || list[0]["channel_id"] != ch {
		t.Errorf("ListPauseRtpStreams = %v", list)
	}

	last := vrec.snapshot()[v1-1]
	e.mustAPI("Sora_20200401.ResumeRtpStream", pair)
	wait(vrec, v1+10, "video after the resume")
	after := vrec.snapshot()[v1]
	_, i, ok := decode(after.payload)
	if !ok || !isKeyframeIndex(i) {
		t.Errorf("the first video packet after the resume is index %d (ok %v), not a keyframe", i, ok)
	}
	t.Logf("resumed at index %d, sequence %d after %d", i, after.seq, last.seq)
	if v := judge(vrec.snapshot()[v1:], video, 'P'); v.mismatched > 0 || v.foreign > 0 {
		t.Errorf("after the resume: %s", v)
	}
	if got := string(e.mustAPI("Sora_20200401.ListPauseRtpStreams", map[string]any{"channel_id": ch})); got != "[]" {
		t.Errorf("ListPauseRtpStreams after the resume = %s", got)
	}
}

// TestAPIChangeUpstreamVideoBitRate: the publisher's video sender reads a
// REMB at the cap (300 kbps, then 1000 kbps) for its SSRC.
func TestAPIChangeUpstreamVideoBitRate(t *testing.T) {
	e := newEnv(t, 40*time.Second)
	const ch = "api-bitrate"
	var mu sync.Mutex
	var rembs []rtcp.ReceiverEstimatedMaximumBitrate
	pub := e.connect(ch, "sendonly", func(c *soraclient.Config) {
		c.OnSenderRTCP = func(kind webrtc.RTPCodecType, pkts []rtcp.Packet) {
			if kind != video {
				return
			}
			mu.Lock()
			defer mu.Unlock()
			for _, p := range pkts {
				if r, ok := p.(*rtcp.ReceiverEstimatedMaximumBitrate); ok {
					rembs = append(rembs, *r)
				}
			}
		}
	})
	publish(e, pub, 'B', 0, 20*time.Millisecond, video)
	ssrc := uint32(pub.Sender(video).GetParameters().Encodings[0].SSRC)

	for _, kbps := range []int{300, 1000} {
		mu.Lock()
		from := len(rembs)
		mu.Unlock()
		got := e.mustAPI("Sora_20190327.ChangeUpstreamVideoBitRate", map[string]any{"channel_id": ch, "connection_id": pub.ConnectionID(), "bit_rate": kbps})
		if want := `{"bit_rate":` + strconv.Itoa(kbps) + `,"channel_id":"` + ch + `","connection_id":"` + pub.ConnectionID() + `"}`; string(got) != want {
			t.Errorf("ChangeUpstreamVideoBitRate = %s, want %s", got, want)
		}
		found := false
		for deadline := time.Now().Add(4 * time.Second); time.Now().Before(deadline) && !found; time.Sleep(50 * time.Millisecond) {
			mu.Lock()
			for _, r := range rembs[from:] {
				// REMB's mantissa and exponent may round the value down a little.
				if r.Bitrate <= float32(kbps*1000) && r.Bitrate >= float32(kbps*1000)*0.98 && len(r.SSRCs) > 0 && r.SSRCs[0] == ssrc {
					found = true
				}
			}
			mu.Unlock()
		}
		if !found {
			mu.Lock()
			t.Errorf("no REMB of %d kbps for SSRC %d reached the publisher; it got %+v", kbps, ssrc, rembs[from:])
			mu.Unlock()
		}
	}
}

// TestAPIForwardingRtp: StartForwardingRtp sends the channel's only
// publisher's audio and video as plain RTP to two UDP ports on 127.0.0.1;
// each packet parses as RTP with the SDP's payload type and SSRC and
// carries what the publisher sent, the video starting at a keyframe;
// StopForwardingRtp ends it.
func TestAPIForwardingRtp(t *testing.T) {
	e := newEnv(t, 40*time.Second)
	const ch = "api-forward"
	pub := e.connect(ch, "sendonly")
	publish(e, pub, 'F', 0, 20*time.Millisecond, audio, video)

	listen := func() *net.UDPConn {
		conn, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { conn.Close() })
		return conn
	}
	aconn, vconn := listen(), listen()
	aport, vport := aconn.LocalAddr().(*net.UDPAddr).Port, vconn.LocalAddr().(*net.UDPAddr).Port

	var res struct {
		SDP string `json:"sdp"`
	}
	if err := json.Unmarshal(e.mustAPI("Sora_20170814.StartForwardingRtp", map[string]any{
		"channel_id": ch, "ip_address": "127.0.0.1", "audio_port": aport, "video_port": vport}), &res); err != nil {
		t.Fatal(err)
	}
	t.Logf("SDP:\n%s", res.SDP)
	var sd sdp.SessionDescription
	if err := sd.UnmarshalString(res.SDP); err != nil {
		t.Fatalf("the SDP does not parse: %v", err)
	}
	type stream struct {
		conn *net.UDPConn
		pt   uint8
		ssrc uint32
		kind webrtc.RTPCodecType
	}
	var streams []stream
	for _, md := range sd.MediaDescriptions {
		s := stream{}
		switch {
		case md.MediaName.Media == "audio" && md.MediaName.Port.Value == aport:
			s.conn, s.kind = aconn, audio
		case md.MediaName.Media == "video" && md.MediaName.Port.Value == vport:
			s.conn, s.kind = vconn, video
		default:
			t.Fatalf("unexpected m-line %+v", md.MediaName)
		}
		pt, err := strconv.Atoi(md.MediaName.Formats[0])
		if err != nil {
			t.Fatal(err)
		}
		s.pt = uint8(pt)
		if v, ok := md.Attribute("ssrc"); ok {
			n, _ := strconv.ParseUint(strings.Fields(v)[0], 10, 32)
			s.ssrc = uint32(n)
		}
		rm, _ := md.Attribute("rtpmap")
		if (s.kind == video && rm != md.MediaName.Formats[0]+" VP8/90000") || (s.kind == audio && rm != md.MediaName.Formats[0]+" opus/48000/2") {
			t.Errorf("%s rtpmap %q", s.kind, rm)
		}
		if c := md.ConnectionInformation; c == nil || c.Address.Address != "127.0.0.1" {
			t.Errorf("%s connection %+v", s.kind, md.ConnectionInformation)
		}
		streams = append(streams, s)
	}
	if len(streams) != 2 {
		t.Fatalf("%d m-lines, want audio and video", len(streams))
	}

	buf := make([]byte, 1500)
	read := func(s stream, d time.Duration) (*rtp.Packet, error) {
		_ = s.conn.SetReadDeadline(time.Now().Add(d))
		n, _, err := s.conn.ReadFromUDP(buf)
		if err != nil {
			return nil, err
		}
		var p rtp.Packet
		if err := p.Unmarshal(buf[:n]); err != nil {
			t.Fatalf("%s: a datagram of %d bytes is not RTP: %v", s.kind, n, err)
		}
		return &p, nil
	}
	for _, s := range streams {
		var prev *rtp.Packet
		for k := 0; k < 20; k++ {
			p, err := read(s, 5*time.Second)
			if err != nil {
				t.Fatalf("%s: packet %d did not arrive: %v", s.kind, k, err)
			}
			if p.PayloadType != s.pt || p.SSRC != s.ssrc {
				t.Fatalf("%s: payload type %d SSRC %d, the SDP says %d and %d", s.kind, p.PayloadType, p.SSRC, s.pt, s.ssrc)
			}
			tag, i, ok := decode(p.Payload)
			if !ok || tag != 'F' {
				t.Fatalf("%s: a payload the publisher did not send: %x", s.kind, head(p.Payload))
			}
			if want := payload(s.kind, 'F', i); string(p.Payload) != string(want) {
				t.Fatalf("%s: index %d payload differs from what was sent", s.kind, i)
			}
			if k == 0 && s.kind == video && !isKeyframeIndex(i) {
				t.Errorf("the forwarded video starts at index %d, not a keyframe", i)
			}
			if prev != nil && p.SequenceNumber != prev.SequenceNumber+1 {
				t.Logf("%s: sequence %d after %d", s.kind, p.SequenceNumber, prev.SequenceNumber)
			}
			prev = p
		}
	}

	if got := string(e.mustAPI("Sora_20170814.StopForwardingRtp", map[string]any{"channel_id": ch})); got != `{"channel_id":"`+ch+`"}` {
		t.Errorf("StopForwardingRtp = %s", got)
	}
	time.Sleep(settle)
	for _, s := range streams { // drain what was in flight
		for {
			if _, err := read(s, 50*time.Millisecond); err != nil {
				break
			}
		}
	}
	for _, s := range streams {
		if p, err := read(s, 500*time.Millisecond); err == nil {
			t.Errorf("%s: a packet (seq %d) arrived 0.3 s after StopForwardingRtp", s.kind, p.SequenceNumber)
		}
	}
}

// TestModeBlockedIsQuiet: a connect refused by ChangeMode is counted as a
// MODE-BLOCKED close and is not logged as a failure.
func TestModeBlockedIsQuiet(t *testing.T) {
	e := newEnv(t, 30*time.Second)
	e.mustAPI("Sora_20211215.ChangeMode", map[string]any{"mode": "block_new_connection"})
	ctx, cancel := context.WithTimeout(e.ctx, connectTimeout)
	defer cancel()
	c, err := soraclient.Connect(ctx, soraclient.Config{SignalingURL: e.srv.SignalingURL(), ChannelID: "api-mode-quiet",
		Role: "recvonly", Audio: true, Video: true})
	if err == nil {
		c.Close()
		t.Fatal("connect admitted in block_new_connection")
	}
	// The server counts the close when its connection goroutine ends.
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		if e.counterValue("hayate_signaling_closes_total", "code", "4503", "reason", "MODE-BLOCKED") == 1 {
			break
		}
	}
	if n := e.counterValue("hayate_signaling_closes_total", "code", "4503", "reason", "MODE-BLOCKED"); n != 1 {
		t.Errorf("hayate_signaling_closes_total{code=4503,reason=MODE-BLOCKED} = %v, want 1", n)
	}
	if log := e.log.String(); strings.Contains(log, "join failed") || strings.Contains(log, "level=ERROR") {
		t.Errorf("the refused connect was logged as an error:\n%s", log)
	}
}
