package integration

import (
	"encoding/binary"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/hayate-sfu/hayate/ctrl/config"
)

// audioGateway is an audio streaming gateway in the test: HTTP/2 cleartext
// on 127.0.0.1, like Suzu. It keeps each stream's headers and body and
// answers the lines the test gives it.
type audioGateway struct {
	url  string
	srv  *http.Server
	reqs chan *gatewayStream
}

type gatewayStream struct {
	proto  int
	header http.Header
	lines  chan string

	mu    sync.Mutex
	body  []byte
	ended error // io.EOF for a clean end of the body
}

func (g *gatewayStream) snapshot() ([]byte, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	return append([]byte(nil), g.body...), g.ended
}

func newAudioGateway(t *testing.T) *audioGateway {
	t.Helper()
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	g := &audioGateway{url: "http://" + ln.Addr().String() + "/speech", reqs: make(chan *gatewayStream, 8)}
	p := new(http.Protocols)
	p.SetUnencryptedHTTP2(true)
	g.srv = &http.Server{Protocols: p, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s := &gatewayStream{proto: r.ProtoMajor, header: r.Header.Clone(), lines: make(chan string, 8)}
		g.reqs <- s
		w.Header().Set("content-type", "application/json")
		w.WriteHeader(http.StatusOK)
		w.(http.Flusher).Flush()
		done := make(chan struct{})
		go func() {
			defer close(done)
			buf := make([]byte, 4096)
			for {
				n, err := r.Body.Read(buf)
				s.mu.Lock()
				s.body = append(s.body, buf[:n]...)
				if err != nil {
					s.ended = err
				}
				s.mu.Unlock()
				if err != nil {
					return
				}
			}
		}()
		for {
			select {
			case l := <-s.lines:
				_, _ = io.WriteString(w, l+"\n")
				w.(http.Flusher).Flush()
			case <-done:
				return
			case <-r.Context().Done():
				return
			}
		}
	})}
	go func() { _ = g.srv.Serve(ln) }()
	t.Cleanup(func() { _ = g.srv.Close() })
	return g
}

// opusPayloads splits a stream body into its Opus packets (with the
// 20-byte header when withHeader).
func opusPayloads(t *testing.T, b []byte, withHeader bool) [][]byte {
	t.Helper()
	if !withHeader {
		return [][]byte{b}
	}
	var out [][]byte
	for len(b) >= 20 {
		n := int(binary.BigEndian.Uint32(b[16:20]))
		if len(b) < 20+n {
			break // the rest is still on its way
		}
		out = append(out, b[20:20+n])
		b = b[20+n:]
	}
	return out
}

// TestAudioStreaming: a publisher with audio_streaming_language_code, a
// subscriber; StartAudioStreaming posts the publisher's Opus packets to the
// gateway (HTTP/2, Sora's headers), the gateway's result line reaches the
// subscribed client as a push, StopAudioStreaming ends the body cleanly.
func TestAudioStreaming(t *testing.T) {
	gw := newAudioGateway(t)
	e := newEnvWith(t, 40*time.Second, func(c *config.Config) { c.AudioStreamingURL = gw.url })
	const ch = "audio-streaming"
	pub := e.connect(ch, "sendonly", withConnect(map[string]any{"audio_streaming_language_code": "ja-JP"}))
	sub := e.connect(ch, "recvonly")
	publish(e, pub, 'S', 0, 20*time.Millisecond, audio)

	if status, b := e.callAPI("Sora_20221221.SubscribeAudioStreamingResultPush",
		map[string]any{"channel_id": ch, "connection_id": sub.ConnectionID()}); status == http.StatusNotImplemented {
		t.Fatalf("audio streaming is not wired into the server: %s", b)
	} else if status != http.StatusOK {
		t.Fatalf("SubscribeAudioStreamingResultPush: %d %s", status, b)
	}
	var started struct {
		SessionID string `json:"session_id"`
	}
	if err := json.Unmarshal(e.mustAPI("Sora_20221221.StartAudioStreaming", map[string]any{"channel_id": ch}), &started); err != nil || started.SessionID == "" {
		t.Fatalf("StartAudioStreaming answer: %+v %v", started, err)
	}

	var s *gatewayStream
	select {
	case s = <-gw.reqs:
	case <-time.After(10 * time.Second):
		t.Fatal("the gateway got no stream within 10 s")
	}
	if s.proto != 2 {
		t.Errorf("the stream is HTTP/%d, want HTTP/2", s.proto)
	}
	for k, want := range map[string]string{
		"sora-channel-id": ch, "sora-session-id": started.SessionID, "sora-connection-id": pub.ConnectionID(),
		"sora-audio-streaming-language-code": "ja-JP",
	} {
		if got := s.header.Get(k); got != want {
			t.Errorf("header %s: %q, want %q", k, got, want)
		}
	}
	withHeader := s.header.Get("sora-audio-streaming-header") == "true"

	// The publisher's packets arrive as written (payload() with its trailer).
	deadline := time.Now().Add(10 * time.Second)
	var got [][]byte
	for time.Now().Before(deadline) {
		b, _ := s.snapshot()
		got = opusPayloads(t, b, withHeader)
		if withHeader && len(got) >= 10 || !withHeader && len(b) > 1000 {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if withHeader {
		if len(got) < 10 {
			t.Fatalf("%d Opus packets at the gateway in 10 s", len(got))
		}
		for _, p := range got[:10] {
			if tag, _, ok := decode(p); !ok || tag != 'S' || p[0] != 0xfc {
				t.Fatalf("a packet at the gateway is not one the publisher sent: %x", head(p))
			}
		}
	} else if len(got[0]) <= 1000 {
		t.Fatalf("%d bytes at the gateway in 10 s", len(got[0]))
	}

	// A result line reaches the subscriber, with the speaker's connection id.
	s.lines <- `{"type":"test","message":"n: 42","channel_id":"` + ch + `"}`
	e.waitPush(sub, `{"channel_id":"`+ch+`","connection_id":"`+pub.ConnectionID()+`","message":"n: 42","type":"test"}`)
	for _, p := range pushes(pub) {
		t.Errorf("the publisher did not subscribe but got %s", p)
	}

	e.mustAPI("Sora_20221221.StopAudioStreaming", map[string]any{"channel_id": ch})
	deadline = time.Now().Add(10 * time.Second)
	for {
		if _, err := s.snapshot(); err != nil {
			if err != io.EOF {
				t.Fatalf("the stream's body ended with %v, want a clean end", err)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the stream's body did not end within 10 s of StopAudioStreaming")
		}
		time.Sleep(50 * time.Millisecond)
	}

	var report map[string]any
	if err := json.Unmarshal(e.mustAPI("Sora_20171010.GetStatsReport", nil), &report); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"total_started_audio_streaming", "total_successful_audio_streaming", "total_received_audio_streaming_result"} {
		if v, _ := report[k].(float64); v < 1 {
			t.Errorf("GetStatsReport %s = %v, want at least 1", k, report[k])
		}
	}
	if v, _ := report["total_failed_audio_streaming"].(float64); v != 0 {
		t.Errorf("GetStatsReport total_failed_audio_streaming = %v", v)
	}
}
