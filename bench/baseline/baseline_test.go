package baseline

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/pion/rtcp"
	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"

	"github.com/hayate-sfu/hayate/bench/soraclient"
)

func quiet() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// startServer runs a baseline on free ports and checks at cleanup that it
// left no goroutine behind.
func startServer(t *testing.T) *Server {
	t.Helper()
	before := runtime.NumGoroutine()
	s, err := New(Config{Logger: quiet()})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
		deadline := time.Now().Add(5 * time.Second)
		for runtime.NumGoroutine() > before && time.Now().Before(deadline) {
			time.Sleep(50 * time.Millisecond)
		}
		if n := runtime.NumGoroutine(); n > before {
			buf := make([]byte, 1<<20)
			t.Errorf("goroutine leak: %d before, %d after:\n%s", before, n, buf[:runtime.Stack(buf, true)])
		}
	})
	return s
}

func connect(t *testing.T, ctx context.Context, s *Server, role string, onRTCP func(webrtc.RTPCodecType, []rtcp.Packet)) *soraclient.Client {
	t.Helper()
	cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	c, err := soraclient.Connect(cctx, soraclient.Config{
		SignalingURL: s.SignalingURL(), ChannelID: "bench", Role: role,
		Audio: true, Video: true, VideoCodec: "VP8", OnSenderRTCP: onRTCP, Logger: quiet(),
	})
	if err != nil {
		t.Fatalf("connect %s: %v", role, err)
	}
	t.Cleanup(c.Close)
	return c
}

// TestForwards runs what the load generator relies on: a subscriber that
// joins before the publisher gets its tracks by re-offer (stream id = the
// publisher's connection id), one that joins after gets them in its offer,
// both receive the publisher's packets byte for byte, a subscriber's PLI
// reaches the publisher, and disconnect closes with TYPE-DISCONNECT.
func TestForwards(t *testing.T) {
	s := startServer(t)
	ctx, cancel := context.WithTimeout(context.Background(), 40*time.Second)
	defer cancel()

	early := connect(t, ctx, s, "recvonly", nil)
	plis := make(chan struct{}, 16)
	pub := connect(t, ctx, s, "sendonly", func(kind webrtc.RTPCodecType, pkts []rtcp.Packet) {
		for _, p := range pkts {
			if _, ok := p.(*rtcp.PictureLossIndication); ok && kind == webrtc.RTPCodecTypeVideo {
				select {
				case plis <- struct{}{}:
				default:
				}
			}
		}
	})
	stop := make(chan struct{})
	sent := make(chan struct{})
	go func() {
		defer close(sent)
		tick := time.NewTicker(10 * time.Millisecond)
		defer tick.Stop()
		for i := 0; ; i++ {
			for _, k := range []webrtc.RTPCodecType{webrtc.RTPCodecTypeAudio, webrtc.RTPCodecTypeVideo} {
				_ = pub.LocalTrack(k).WriteRTP(&rtp.Packet{
					Header:  rtp.Header{Version: 2, Marker: true, SequenceNumber: uint16(i), Timestamp: uint32(i) * 960},
					Payload: []byte{0x10, 0x50, byte(k), byte(i >> 8), byte(i)},
				})
			}
			select {
			case <-stop:
				return
			case <-tick.C:
			}
		}
	}()
	defer func() { close(stop); <-sent }()

	if _, err := early.WaitEvent(ctx, func(e soraclient.Event) bool {
		return e.Type == "re-offer" && strings.Contains(e.SDP, "msid:"+pub.ConnectionID()+" ")
	}); err != nil {
		t.Fatalf("the early subscriber got no re-offer with the publisher's stream: %v", err)
	}
	late := connect(t, ctx, s, "recvonly", nil)
	if off := late.Offer(); !strings.Contains(string(off), "msid:"+pub.ConnectionID()+" ") {
		t.Errorf("the late subscriber's offer does not carry the publisher's stream %s", pub.ConnectionID())
	}
	if _, err := late.WaitEvent(ctx, func(e soraclient.Event) bool {
		return e.Type == "notify" && e.EventType == "connection.created" && e.ConnectionID == late.ConnectionID()
	}); err != nil {
		t.Errorf("no own connection.created: %v", err)
	}

	for _, sub := range []*soraclient.Client{early, late} {
		got := map[string]bool{}
		for len(got) < 2 {
			select {
			case tr := <-sub.Tracks():
				if tr.StreamID() != pub.ConnectionID() {
					t.Fatalf("track stream id %q, want the publisher's connection id %q", tr.StreamID(), pub.ConnectionID())
				}
				p, _, err := tr.ReadRTP()
				if err != nil {
					t.Fatalf("reading %s: %v", tr.Kind(), err)
				}
				if len(p.Payload) != 5 || p.Payload[0] != 0x10 || p.Payload[2] != byte(tr.Kind()) {
					t.Errorf("%s payload %x is not what the publisher sent", tr.Kind(), p.Payload)
				}
				got[tr.Kind().String()] = true
			case <-ctx.Done():
				t.Fatalf("subscriber %s got tracks %v, want audio and video", sub.ConnectionID(), got)
			}
		}
	}
	select {
	case <-plis:
	case <-ctx.Done():
		t.Error("no PLI reached the publisher")
	}

	if err := late.Disconnect(ctx); err != nil {
		t.Fatalf("Disconnect: %v", err)
	}
	if code, reason := late.CloseStatus(); code != 1000 || reason != "TYPE-DISCONNECT" {
		t.Errorf("close after disconnect = %d %q, want 1000 TYPE-DISCONNECT", code, reason)
	}
}

func TestAdmin(t *testing.T) {
	s := startServer(t)
	for _, path := range []string{"/healthz", "/metrics", "/debug/pprof/allocs?debug=1"} {
		resp, err := http.Get(s.AdminURL() + path)
		if err != nil {
			t.Fatalf("GET %s: %v", path, err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Errorf("GET %s: %s", path, resp.Status)
		}
		if path == "/metrics" && !strings.Contains(string(b), "go_memstats_mallocs_total ") {
			t.Errorf("/metrics has no go_memstats_mallocs_total")
		}
	}
}

func TestNewRefusesBadPorts(t *testing.T) {
	for _, cfg := range []Config{{SignalingPort: -1}, {MediaPort: 70000}, {AdminPort: -2}} {
		if _, err := New(cfg); !errors.Is(err, ErrBadConfig) {
			t.Errorf("New(%+v) = %v, want ErrBadConfig", cfg, err)
		}
	}
}

func TestNewID(t *testing.T) {
	seen := map[string]bool{}
	for range 100 {
		id := newID()
		if len(id) != 26 || strings.ContainsAny(id, "ILOU") {
			t.Fatalf("id %q: want 26 characters of Crockford Base32", id)
		}
		u, err := idEncoding.DecodeString(id)
		if err != nil || len(u) != 16 {
			t.Fatalf("id %q does not decode to 16 bytes: %v", id, err)
		}
		if u[6]>>4 != 4 || u[8]>>6 != 2 {
			t.Errorf("id %q: version %d variant %b, want a UUIDv4", id, u[6]>>4, u[8]>>6)
		}
		if seen[id] {
			t.Errorf("id %q repeated", id)
		}
		seen[id] = true
	}
}
