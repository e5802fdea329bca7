package soraclient

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/json"
	"errors"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/pion/rtcp"
	"github.com/pion/rtp"
	"github.com/pion/sdp/v3"
	"github.com/pion/webrtc/v4"
)

// checkGoroutines fails the test when goroutines started during it are
// still running a few seconds after cleanup.
func checkGoroutines(t *testing.T) {
	t.Helper()
	before := runtime.NumGoroutine()
	t.Cleanup(func() {
		deadline := time.Now().Add(5 * time.Second)
		for runtime.NumGoroutine() > before && time.Now().Before(deadline) {
			time.Sleep(50 * time.Millisecond)
		}
		if n := runtime.NumGoroutine(); n > before {
			buf := make([]byte, 1<<20)
			t.Errorf("%d goroutines before, %d after:\n%s", before, n, buf[:runtime.Stack(buf, true)])
		}
	})
}

func TestConnectBadConfig(t *testing.T) {
	for _, tc := range []struct {
		name string
		cfg  Config
	}{
		{"no role", Config{SignalingURL: "ws://127.0.0.1:1/signaling", ChannelID: "c"}},
		{"bad role", Config{SignalingURL: "ws://127.0.0.1:1/signaling", ChannelID: "c", Role: "upstream"}},
		{"no url", Config{ChannelID: "c", Role: "sendrecv"}},
		{"no channel", Config{SignalingURL: "ws://127.0.0.1:1/signaling", Role: "recvonly"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Connect(context.Background(), tc.cfg)
			if !errors.Is(err, ErrBadConfig) {
				t.Fatalf("Connect = %v, want ErrBadConfig", err)
			}
		})
	}
}

func TestConnectRefused(t *testing.T) {
	checkGoroutines(t)
	f := newFakeSora(t)
	f.refuse = 4001
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, err := Connect(ctx, Config{SignalingURL: f.url(), ChannelID: "c", Role: "recvonly", Audio: true, Video: true})
	if !errors.Is(err, ErrClosedBeforeConnected) || !strings.Contains(err.Error(), "4001") || !strings.Contains(err.Error(), "REFUSED-FOR-TEST") {
		t.Fatalf("Connect = %v, want ErrClosedBeforeConnected naming 4001 REFUSED-FOR-TEST", err)
	}
}

// TestSession runs a whole connection against the fake server: connect
// message, answer shape, media both ways, ping/pong, notify/push, re-offer
// and disconnect.
func TestSession(t *testing.T) {
	checkGoroutines(t)
	f := newFakeSora(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	plis := make(chan rtcp.Packet, 16)
	c, err := Connect(ctx, Config{
		SignalingURL: f.url(), ChannelID: "room-1", Role: "sendrecv", Audio: true, Video: true, VideoCodec: "VP8",
		Metadata: map[string]any{"access_token": "x"}, ClientID: "cid", Extra: map[string]any{"spotlight": false},
		OnSenderRTCP: func(kind webrtc.RTPCodecType, pkts []rtcp.Packet) {
			for _, p := range pkts {
				if _, ok := p.(*rtcp.PictureLossIndication); ok && kind == webrtc.RTPCodecTypeVideo {
					select {
					case plis <- p:
					default:
					}
				}
			}
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	fc := <-f.accepted

	// The connect message.
	if fc.connect["type"] != "connect" || fc.connect["role"] != "sendrecv" || fc.connect["channel_id"] != "room-1" ||
		fc.connect["client_id"] != "cid" || fc.connect["spotlight"] != false {
		t.Errorf("connect = %v", fc.connect)
	}
	if v, _ := fc.connect["video"].(map[string]any); v["codec_type"] != "VP8" {
		t.Errorf("connect.video = %v, want codec_type VP8", fc.connect["video"])
	}
	if s, _ := fc.connect["sdp"].(string); !strings.Contains(s, "m=audio") || !strings.Contains(s, "m=video") || !strings.Contains(s, "a=recvonly") {
		t.Errorf("connect.sdp is not a recvonly audio+video offer:\n%s", s)
	}
	if c.ConnectionID() != "SELFCONN" {
		t.Errorf("ConnectionID = %q", c.ConnectionID())
	}
	var off map[string]any
	if err := json.Unmarshal(c.Offer(), &off); err != nil || off["type"] != "offer" {
		t.Errorf("Offer = %s (%v)", c.Offer(), err)
	}

	// The answer: the upstream sections sendonly with our SSRCs.
	ans := fc.next(t, "answer")
	var sd sdp.SessionDescription
	if err := sd.UnmarshalString(ans["sdp"].(string)); err != nil {
		t.Fatal(err)
	}
	for i, md := range sd.MediaDescriptions {
		mid, _ := md.Attribute("mid")
		_, sendonly := md.Attribute("sendonly")
		_, recvonly := md.Attribute("recvonly")
		_, ssrc := md.Attribute("ssrc")
		switch i {
		case 0, 1:
			if !sendonly || !ssrc || mid != []string{"0", "1"}[i] {
				t.Errorf("answer m-section %d (mid %s): sendonly %v ssrc %v, want both", i, mid, sendonly, ssrc)
			}
		case 2:
			if !recvonly {
				t.Errorf("answer m-section 2 (downstream): not recvonly")
			}
		}
	}

	// Upstream media reaches the server with our payloads.
	want := []byte{0x10, 0x00, 0x9d, 0x01, 0x2a, 0xAA, 0xBB}
	go func() {
		for i := range 50 {
			if ctx.Err() != nil {
				return
			}
			_ = c.LocalTrack(webrtc.RTPCodecTypeVideo).WriteRTP(&rtp.Packet{Header: rtp.Header{Version: 2, SequenceNumber: uint16(i), Timestamp: uint32(i * 3000)}, Payload: want})
			time.Sleep(10 * time.Millisecond)
		}
	}()
	select {
	case p := <-fc.upstream:
		if !bytes.Equal(p.Payload, want) {
			t.Errorf("server got payload %x, want %x", p.Payload, want)
		}
	case <-ctx.Done():
		t.Fatal("no upstream RTP at the server")
	}

	// A PLI written by the server reaches OnSenderRTCP.
	ssrc := c.Sender(webrtc.RTPCodecTypeVideo).GetParameters().Encodings[0].SSRC
	_ = fc.pc.WriteRTCP([]rtcp.Packet{&rtcp.PictureLossIndication{MediaSSRC: uint32(ssrc)}})
	select {
	case <-plis:
	case <-time.After(5 * time.Second):
		t.Error("no PLI seen by OnSenderRTCP")
	}

	// Downstream: a track whose stream id is the peer's connection id.
	down := func(id string) {
		t.Helper()
		stop, stopped := make(chan struct{}), make(chan struct{})
		defer func() { close(stop); <-stopped }()
		track := fc.peers[id]
		go func() {
			defer close(stopped)
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				case <-time.After(10 * time.Millisecond):
				}
				_ = track.WriteRTP(&rtp.Packet{Header: rtp.Header{Version: 2, SequenceNumber: uint16(i)}, Payload: []byte(id)})
			}
		}()
		select {
		case tr := <-c.Tracks():
			if tr.StreamID() != id {
				t.Errorf("track stream id %q, want %q", tr.StreamID(), id)
			}
			p, _, err := tr.ReadRTP()
			if err != nil || string(p.Payload) != id {
				t.Errorf("ReadRTP = %v, %v; want payload %q", p, err, id)
			}
		case <-ctx.Done():
			t.Fatalf("no remote track %s", id)
		}
	}
	down("PEER1")

	// ping with stats → pong with a stats array.
	_ = fc.send(map[string]any{"type": "ping", "stats": true})
	if pong := fc.next(t, "pong"); pong["stats"] == nil {
		t.Errorf("pong = %v, want stats", pong)
	}
	_ = fc.send(map[string]any{"type": "ping"})
	if pong := fc.next(t, "pong"); pong["stats"] != nil {
		t.Errorf("pong to ping without stats = %v", pong)
	}

	// notify and push are recorded as events.
	_ = fc.send(map[string]any{"type": "push", "data": map[string]any{"k": 1}})
	if _, err := c.WaitEvent(ctx, func(e Event) bool { return e.Type == "push" && bytes.Contains(e.Raw, []byte(`"k":1`)) }); err != nil {
		t.Error("push:", err)
	}

	// re-offer with another peer → re-answer and a new track.
	if err := fc.addPeer("PEER2"); err != nil {
		t.Fatal(err)
	}
	reSDP, err := fc.offerSDP()
	if err != nil {
		t.Fatal(err)
	}
	_ = fc.send(map[string]any{"type": "re-offer", "sdp": reSDP})
	fc.next(t, "re-answer")
	down("PEER2")
	if _, err := c.WaitEvent(ctx, func(e Event) bool { return e.Type == "re-offer" && e.SDP == reSDP }); err != nil {
		t.Error("re-offer event:", err)
	}

	// disconnect → 1000 TYPE-DISCONNECT.
	if err := c.Disconnect(ctx); err != nil {
		t.Fatal(err)
	}
	fc.next(t, "disconnect")
	if code, reason := c.CloseStatus(); code != int(websocket.StatusNormalClosure) || reason != "TYPE-DISCONNECT" {
		t.Errorf("CloseStatus = %d %q, want 1000 TYPE-DISCONNECT", code, reason)
	}
	if _, err := c.WaitEvent(ctx, func(e Event) bool { return e.Type == EventClose && e.Code == 1000 }); err != nil {
		t.Error("close event:", err)
	}
	_ = fc.pc.Close()
}

// TestSharedCertificateAndConnectSDP: clients given Certificates and a
// ConnectSDP use them, and still connect (DTLS checks the answer's
// fingerprint against the certificate the client presents).
func TestSharedCertificateAndConnectSDP(t *testing.T) {
	checkGoroutines(t)
	f := newFakeSora(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := webrtc.GenerateCertificate(key)
	if err != nil {
		t.Fatal(err)
	}
	fps, err := cert.GetFingerprints()
	if err != nil || len(fps) == 0 {
		t.Fatalf("fingerprints %v, %v", fps, err)
	}
	want := "a=fingerprint:" + fps[0].Algorithm + " " + strings.ToUpper(fps[0].Value)
	certs := []webrtc.Certificate{*cert}

	hint, err := ThrowawayOffer(Config{Certificates: certs})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(hint, "m=audio") || !strings.Contains(hint, "m=video") || !strings.Contains(hint, "a=recvonly") {
		t.Fatalf("ThrowawayOffer is not a recvonly audio+video offer:\n%s", hint)
	}
	if !strings.Contains(strings.ToUpper(hint), strings.ToUpper(want)) {
		t.Errorf("ThrowawayOffer does not carry the given certificate's %s:\n%s", want, hint)
	}

	for i := range 2 {
		c, err := Connect(ctx, Config{
			SignalingURL: f.url(), ChannelID: "room-1", Role: "recvonly", Audio: true, Video: true,
			Certificates: certs, ConnectSDP: hint,
		})
		if err != nil {
			t.Fatalf("client %d: %v", i, err)
		}
		fc := <-f.accepted
		if s, _ := fc.connect["sdp"].(string); s != hint {
			t.Errorf("client %d: connect.sdp is not the given ConnectSDP:\n%s", i, s)
		}
		ans, _ := fc.next(t, "answer")["sdp"].(string)
		if !strings.Contains(strings.ToUpper(ans), strings.ToUpper(want)) {
			t.Errorf("client %d: the answer does not carry the given certificate's %s:\n%s", i, want, ans)
		}
		c.Close()
	}
}
