package soraclient

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/pion/interceptor"
	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"
)

// fakeSora is a minimal Sora-like server for the client's own tests: a pion
// PeerConnection that offers (recvonly sections for the client's upstream at
// mids 0 and 1, plus one sendonly video section per "peer"), answers nothing
// itself, and lets the test push messages. It is full ICE, not ICE-lite; the
// client does not care.
type fakeSora struct {
	t   *testing.T
	srv *httptest.Server
	api *webrtc.API
	// refuse, when set, closes every WebSocket after connect with this code.
	refuse websocket.StatusCode

	mu       sync.Mutex
	conn     *fakeConn
	accepted chan *fakeConn
}

// fakeConn is the server side of one client connection.
type fakeConn struct {
	ws       *websocket.Conn
	pc       *webrtc.PeerConnection
	connect  map[string]any
	msgs     chan map[string]any // everything but candidates, in order
	upstream chan *rtp.Packet    // RTP of the client's upstream tracks
	peers    map[string]*webrtc.TrackLocalStaticRTP
}

func newFakeSora(t *testing.T) *fakeSora {
	t.Helper()
	m := &webrtc.MediaEngine{}
	if err := m.RegisterDefaultCodecs(); err != nil {
		t.Fatal(err)
	}
	reg := &interceptor.Registry{}
	if err := webrtc.RegisterDefaultInterceptors(m, reg); err != nil {
		t.Fatal(err)
	}
	f := &fakeSora{
		t:        t,
		api:      webrtc.NewAPI(webrtc.WithMediaEngine(m), webrtc.WithInterceptorRegistry(reg), webrtc.WithSettingEngine(*LoopbackSettingEngine())),
		accepted: make(chan *fakeConn, 4),
	}
	f.srv = httptest.NewServer(http.HandlerFunc(f.serve))
	t.Cleanup(f.close)
	return f
}

func (f *fakeSora) url() string { return "ws" + strings.TrimPrefix(f.srv.URL, "http") + "/signaling" }

func (f *fakeSora) close() {
	f.srv.CloseClientConnections()
	f.srv.Close()
	f.mu.Lock()
	fc := f.conn
	f.mu.Unlock()
	if fc != nil {
		_ = fc.pc.Close()
	}
}

func (f *fakeSora) serve(w http.ResponseWriter, r *http.Request) {
	ws, err := websocket.Accept(w, r, nil)
	if err != nil {
		return
	}
	ws.SetReadLimit(1 << 20)
	ctx := r.Context()
	_, b, err := ws.Read(ctx)
	if err != nil {
		return
	}
	fc := &fakeConn{ws: ws, msgs: make(chan map[string]any, 64), upstream: make(chan *rtp.Packet, 1024), peers: map[string]*webrtc.TrackLocalStaticRTP{}}
	if err := json.Unmarshal(b, &fc.connect); err != nil {
		_ = ws.Close(4000, "bad json")
		return
	}
	if f.refuse != 0 {
		_ = ws.Close(f.refuse, "REFUSED-FOR-TEST")
		return
	}
	pc, err := f.api.NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		f.t.Error(err)
		return
	}
	fc.pc = pc
	f.mu.Lock()
	f.conn = fc
	f.mu.Unlock()
	for _, k := range []webrtc.RTPCodecType{webrtc.RTPCodecTypeAudio, webrtc.RTPCodecTypeVideo} {
		if _, err := pc.AddTransceiverFromKind(k, webrtc.RTPTransceiverInit{Direction: webrtc.RTPTransceiverDirectionRecvonly}); err != nil {
			f.t.Error(err)
			return
		}
	}
	if err := fc.addPeer("PEER1"); err != nil {
		f.t.Error(err)
		return
	}
	pc.OnTrack(func(tr *webrtc.TrackRemote, _ *webrtc.RTPReceiver) {
		for {
			p, _, err := tr.ReadRTP()
			if err != nil {
				return
			}
			select {
			case fc.upstream <- p:
			default:
			}
		}
	})
	pc.OnConnectionStateChange(func(s webrtc.PeerConnectionState) {
		if s == webrtc.PeerConnectionStateConnected {
			_ = fc.send(map[string]any{"type": "notify", "event_type": "connection.created", "connection_id": "SELFCONN", "role": fc.connect["role"]})
		}
	})
	sdp, err := fc.offerSDP()
	if err != nil {
		f.t.Error(err)
		return
	}
	if err := fc.send(map[string]any{
		"type": "offer", "sdp": sdp, "connection_id": "SELFCONN", "client_id": "SELFCONN", "bundle_id": "SELFCONN",
		"mid": map[string]any{"audio": "0", "video": "1"}, "config": map[string]any{"iceServers": []any{}},
	}); err != nil {
		return
	}
	f.accepted <- fc
	for {
		_, b, err := ws.Read(ctx)
		if err != nil {
			close(fc.msgs)
			return
		}
		var m map[string]any
		if err := json.Unmarshal(b, &m); err != nil {
			f.t.Errorf("fake: undecodable client message %q", b)
			continue
		}
		switch m["type"] {
		case "candidate":
			c, _ := m["candidate"].(string)
			if err := pc.AddICECandidate(webrtc.ICECandidateInit{Candidate: c}); err != nil {
				f.t.Errorf("fake: candidate %q: %v", c, err)
			}
			continue
		case "answer", "re-answer":
			s, _ := m["sdp"].(string)
			if err := pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeAnswer, SDP: s}); err != nil {
				f.t.Errorf("fake: %s: %v", m["type"], err)
			}
		case "disconnect":
			_ = ws.Close(websocket.StatusNormalClosure, "TYPE-DISCONNECT")
		}
		fc.msgs <- m
	}
}

func (fc *fakeConn) send(v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return fc.ws.Write(ctx, websocket.MessageText, b)
}

func (fc *fakeConn) addPeer(id string) error {
	tr, err := webrtc.NewTrackLocalStaticRTP(webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeVP8, ClockRate: 90000}, "video", id)
	if err != nil {
		return err
	}
	if _, err := fc.pc.AddTransceiverFromTrack(tr, webrtc.RTPTransceiverInit{Direction: webrtc.RTPTransceiverDirectionSendonly}); err != nil {
		return err
	}
	fc.peers[id] = tr
	return nil
}

// offerSDP creates and applies an offer with every candidate in it.
func (fc *fakeConn) offerSDP() (string, error) {
	off, err := fc.pc.CreateOffer(nil)
	if err != nil {
		return "", err
	}
	done := webrtc.GatheringCompletePromise(fc.pc)
	if err := fc.pc.SetLocalDescription(off); err != nil {
		return "", err
	}
	select {
	case <-done:
	case <-time.After(5 * time.Second):
	}
	return fc.pc.LocalDescription().SDP, nil
}

// next returns the next client message of type typ, skipping others.
func (fc *fakeConn) next(t *testing.T, typ string) map[string]any {
	t.Helper()
	timeout := time.After(10 * time.Second)
	for {
		select {
		case m, ok := <-fc.msgs:
			if !ok {
				t.Fatalf("fake: websocket closed while waiting for %q", typ)
			}
			if m["type"] == typ {
				return m
			}
		case <-timeout:
			t.Fatalf("fake: no %q from the client within 10 s", typ)
		}
	}
}
