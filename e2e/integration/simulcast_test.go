package integration

import (
	"context"
	"encoding/json"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pion/interceptor"
	"github.com/pion/rtcp"
	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"

	"github.com/hayate-sfu/hayate/bench/soraclient"
)

// Simulcast end to end: a pion publisher sends three rids (VP8 frames whose
// payload names the layer and the frame), pion subscribers ask for layers
// at connect, by the API and by RPC, and one subscriber's downlink is
// capped by an interceptor that drops what exceeds a rate.

var layerRIDs = []string{"r0", "r1", "r2"}

const (
	layerFPS       = 25
	keyframeFrames = 25 // a keyframe every second on every layer
	layerMagic     = 0xB7
)

// layerShape: packets per frame and bytes per packet of each layer, for
// about 200, 300 and 450 kb/s. The rates are close enough (×1.5 a step)
// for the plane's estimate, which grows up to twice the delivered rate, to
// climb back to r2 once a cap is lifted.
var layerShape = [3]struct{ pkts, size int }{{1, 1000}, {2, 750}, {2, 1125}}

// layerPayload is packet part of frame on layer: a VP8 payload descriptor
// (S=1 on the first packet), on the first packet of a keyframe the frame
// tag and start code, filler, and a trailer naming layer, frame and part.
func layerPayload(layer, frame, part int, key bool) []byte {
	size := layerShape[layer].size
	b := make([]byte, 0, size)
	if part == 0 {
		b = append(b, 0x10) // S=1, PID 0
		if key {
			// frame tag (P=0, show_frame), start code, 320x180
			b = append(b, 0x50, 0x01, 0x00, 0x9d, 0x01, 0x2a, 0x40, 0x01, 0xb4, 0x00)
		} else {
			b = append(b, 0x51, 0x01, 0x00)
		}
	} else {
		b = append(b, 0x00)
	}
	for len(b) < size-5 {
		b = append(b, byte(len(b)*7+frame))
	}
	return append(b, byte(layer), layerMagic, byte(frame>>8), byte(frame), byte(part))
}

// decodeLayer reads a layerPayload trailer.
func decodeLayer(p []byte) (layer, frame int, ok bool) {
	n := len(p)
	if n < 5 || p[n-4] != layerMagic || p[n-5] > 2 {
		return 0, 0, false
	}
	return int(p[n-5]), int(p[n-3])<<8 | int(p[n-2]), true
}

// isKeyStart reports whether p is the first packet of a VP8 keyframe.
func isKeyStart(p []byte) bool { return len(p) > 1 && p[0]&0x10 != 0 && p[1]&0x01 == 0 }

// simulcastPublisher sends the three layers at layerFPS and answers a PLI
// or FIR for a layer's SSRC with a keyframe on its next frame, at most one
// every 200 ms per layer, as libwebrtc does.
type simulcastPublisher struct {
	c      *soraclient.Client
	client atomic.Pointer[soraclient.Client]

	mu       sync.Mutex
	forced   [3]bool
	lastKey  [3]time.Time
	requests [3]int
	err      error

	stop, done chan struct{}
}

func startSimulcast(e *env, ch string) *simulcastPublisher {
	e.t.Helper()
	p := &simulcastPublisher{stop: make(chan struct{}), done: make(chan struct{})}
	p.c = e.connect(ch, "sendonly", func(c *soraclient.Config) {
		c.Audio = false
		c.SimulcastRIDs = layerRIDs
		c.OnSenderRTCP = p.onRTCP
		// Stamp transport-wide sequence numbers as browsers do: the plane
		// estimates a subscriber's bandwidth from the ones it rewrites.
		c.Interceptors = func(m *webrtc.MediaEngine, r *interceptor.Registry) error {
			if err := webrtc.RegisterDefaultInterceptors(m, r); err != nil {
				return err
			}
			return webrtc.ConfigureTWCCHeaderExtensionSender(m, r)
		}
	})
	p.client.Store(p.c)
	go p.run(e.ctx)
	e.t.Cleanup(func() {
		close(p.stop)
		<-p.done
	})
	return p
}

func (p *simulcastPublisher) onRTCP(_ webrtc.RTPCodecType, pkts []rtcp.Packet) {
	c := p.client.Load()
	if c == nil {
		return
	}
	for _, pkt := range pkts {
		var ssrc uint32
		switch pkt := pkt.(type) {
		case *rtcp.PictureLossIndication:
			ssrc = pkt.MediaSSRC
		case *rtcp.FullIntraRequest:
			ssrc = pkt.MediaSSRC
		default:
			continue
		}
		for i, rid := range layerRIDs {
			if c.SimulcastSSRC(rid) == ssrc {
				p.mu.Lock()
				p.forced[i] = true
				p.requests[i]++
				p.mu.Unlock()
			}
		}
	}
}

func (p *simulcastPublisher) run(ctx context.Context) {
	defer close(p.done)
	tick := time.NewTicker(time.Second / layerFPS)
	defer tick.Stop()
	var seq [3]uint16
	for frame := 0; ; frame++ {
		for layer, rid := range layerRIDs {
			p.mu.Lock()
			key := frame%keyframeFrames == 0
			if p.forced[layer] && time.Since(p.lastKey[layer]) > 200*time.Millisecond {
				key = true
			}
			if key {
				p.forced[layer] = false
				p.lastKey[layer] = time.Now()
			}
			p.mu.Unlock()
			n := layerShape[layer].pkts
			for part := range n {
				pkt := &rtp.Packet{
					Header:  rtp.Header{Version: 2, Marker: part == n-1, SequenceNumber: seq[layer], Timestamp: uint32(frame) * (90000 / layerFPS)},
					Payload: layerPayload(layer, frame, part, key),
				}
				seq[layer]++
				if err := p.c.WriteSimulcastRTP(rid, pkt); err != nil {
					p.mu.Lock()
					p.err = err
					p.mu.Unlock()
				}
			}
		}
		select {
		case <-p.stop:
			return
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

func (p *simulcastPublisher) keyRequests() [3]int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.requests
}

// subscribe connects a recvonly client and returns its recording of the
// publisher's video.
func (e *env) subscribe(ch string, pub *simulcastPublisher, opts ...clientOpt) (*soraclient.Client, *recording) {
	e.t.Helper()
	sub := e.connect(ch, "recvonly", opts...)
	rs := collect(e, sub)
	e.waitSees(sub, pub.c.ConnectionID())
	ctx, cancel := context.WithTimeout(e.ctx, 10*time.Second)
	defer cancel()
	rec, err := rs.track(ctx, pub.c.ConnectionID(), video)
	if err != nil {
		e.t.Fatal(err)
	}
	return sub, rec
}

// layersOf lists the layer of each packet (-1 for a foreign payload).
func layersOf(ps []received) []int {
	out := make([]int, len(ps))
	for i, p := range ps {
		l, _, ok := decodeLayer(p.payload)
		if !ok {
			l = -1
		}
		out[i] = l
	}
	return out
}

// firstOfLayer is the index of the first packet of layer at or after from, or -1.
func firstOfLayer(ps []received, from, layer int) int {
	for i := from; i < len(ps); i++ {
		if l, _, ok := decodeLayer(ps[i].payload); ok && l == layer {
			return i
		}
	}
	return -1
}

// switchedTo is a WaitEvent match: a simulcast.switched notify about the
// publisher with current_rid rid, recorded at or after since.
func switchedTo(pub string, rid string, since time.Time) func(soraclient.Event) bool {
	return func(ev soraclient.Event) bool {
		if ev.EventType != "simulcast.switched" || ev.At.Before(since) {
			return false
		}
		var m struct {
			Sender  string `json:"sender_connection_id"`
			Current string `json:"current_rid"`
		}
		return json.Unmarshal(ev.Raw, &m) == nil && m.Sender == pub && m.Current == rid
	}
}

func layerIndex(rid string) int { return slices.Index(layerRIDs, rid) }

// TestSimulcastLayers: subscribers that ask for r0, r1 and r2 at connect
// receive only that layer, from a keyframe on, with continuous sequence
// numbers, and are told so by simulcast.switched.
func TestSimulcastLayers(t *testing.T) {
	e := newEnv(t, 60*time.Second)
	const ch = "simulcast-layers"
	pub := startSimulcast(e, ch)
	type sub struct {
		rid string
		c   *soraclient.Client
		rec *recording
	}
	var subs []sub
	for _, rid := range layerRIDs {
		c, rec := e.subscribe(ch, pub, withConnect(map[string]any{"simulcast": true, "simulcast_rid": rid}))
		subs = append(subs, sub{rid, c, rec})
	}
	for _, s := range subs {
		ctx, cancel := context.WithTimeout(e.ctx, 10*time.Second)
		ok := s.rec.waitFor(ctx, atLeast(60))
		cancel()
		ps := s.rec.snapshot()
		if !ok {
			t.Fatalf("subscriber at %s got %d packets (layers %v)", s.rid, len(ps), first(layersOf(ps), 20))
		}
		want := layerIndex(s.rid)
		for i, l := range layersOf(ps) {
			if l != want {
				t.Fatalf("subscriber at %s: packet %d is of layer %d (layers %v)", s.rid, i, l, first(layersOf(ps), 40))
			}
		}
		if !isKeyStart(ps[0].payload) {
			t.Errorf("subscriber at %s: the first packet is not a keyframe's", s.rid)
		}
		gaps := 0
		for i := 1; i < len(ps); i++ {
			if ps[i].seq != ps[i-1].seq+1 {
				gaps++
			}
		}
		if gaps > len(ps)/20 {
			t.Errorf("subscriber at %s: %d sequence gaps in %d packets", s.rid, gaps, len(ps))
		}
		e.waitEvent(s.c, "simulcast.switched to "+s.rid, switchedTo(pub.c.ConnectionID(), s.rid, time.Time{}))
		t.Logf("subscriber at %s: %d packets, all of layer %s", s.rid, len(ps), s.rid)
	}
	t.Logf("keyframe requests per layer at the publisher: %v", pub.keyRequests())
}

// TestSimulcastRequestRid: RequestSimulcastRid (API) and the RPC switch a
// subscriber to another layer within one keyframe interval; the time from
// the request to the first packet of the new layer is measured.
func TestSimulcastRequestRid(t *testing.T) {
	e := newEnv(t, 90*time.Second)
	const ch = "simulcast-request"
	pub := startSimulcast(e, ch)
	sub, rec := e.subscribe(ch, pub, withConnect(map[string]any{"simulcast": true, "simulcast_rid": "r0"}))
	ctx, cancel := context.WithTimeout(e.ctx, 10*time.Second)
	defer cancel()
	if !rec.waitFor(ctx, atLeast(20)) {
		t.Fatal("no video at the subscriber")
	}

	// switchTo asks for rid with request and returns how long it took until
	// the first packet of that layer arrived.
	switchTo := func(rid string, how string, request func()) time.Duration {
		t.Helper()
		from := len(rec.snapshot())
		want := layerIndex(rid)
		start := time.Now()
		request()
		ctx, cancel := context.WithTimeout(e.ctx, 5*time.Second)
		defer cancel()
		if !rec.waitFor(ctx, func(ps []received) bool { return firstOfLayer(ps, from, want) >= 0 }) {
			t.Fatalf("%s %s: no packet of that layer within 5 s (layers since: %v)", how, rid, first(layersOf(rec.snapshot()[from:]), 40))
		}
		ps := rec.snapshot()
		i := firstOfLayer(ps, from, want)
		took := ps[i].at.Sub(start)
		if !isKeyStart(ps[i].payload) {
			t.Errorf("%s %s: the new layer starts without a keyframe", how, rid)
		}
		// Once switched, only the new layer comes (checked over the next packets).
		wctx, wcancel := context.WithTimeout(e.ctx, 2*time.Second)
		rec.waitFor(wctx, atLeast(i+20))
		wcancel()
		ps = rec.snapshot()
		for j := i; j < len(ps) && j < i+20; j++ {
			if l, _, _ := decodeLayer(ps[j].payload); l != want {
				t.Errorf("%s %s: packet %d after the switch is of layer %d", how, rid, j-i, l)
				break
			}
		}
		e.waitEvent(sub, "simulcast.switched to "+rid, switchedTo(pub.c.ConnectionID(), rid, start))
		return took
	}

	api := func(rid string) func() {
		return func() {
			e.mustAPI("Sora_20251217.RequestSimulcastRid", map[string]any{
				"channel_id": ch, "receiver_connection_id": sub.ConnectionID(), "rid": rid, "sender_connection_id": pub.c.ConnectionID()})
		}
	}
	var took []time.Duration
	for _, rid := range []string{"r2", "r0", "r1", "r2", "r1", "r0", "r2", "r0"} {
		d := switchTo(rid, "RequestSimulcastRid", api(rid))
		if d > time.Second+500*time.Millisecond {
			t.Errorf("RequestSimulcastRid %s: the new layer came %v later (more than one keyframe interval)", rid, d)
		}
		took = append(took, d)
	}
	// The deprecated RequestRtpStream does the same.
	d := switchTo("r1", "RequestRtpStream", func() {
		e.mustAPI("Sora_20201005.RequestRtpStream", map[string]any{
			"channel_id": ch, "recv_connection_id": sub.ConnectionID(), "rid": "r1"})
	})
	took = append(took, d)
	sorted := slices.Clone(took)
	slices.Sort(sorted)
	t.Logf("request to first packet of the new layer: median %v over %d switches (all: %v); keyframe requests at the publisher %v",
		sorted[len(sorted)/2].Round(time.Millisecond), len(sorted), roundAll(took), pub.keyRequests())

	// "none" stops the video; an unknown sender is a 404.
	if code, body := e.callAPI("Sora_20251217.RequestSimulcastRid", map[string]any{
		"channel_id": ch, "receiver_connection_id": sub.ConnectionID(), "rid": "r0", "sender_connection_id": "NOSUCHCONNECTION0000000000"}); code != http.StatusNotFound {
		t.Errorf("unknown sender: %d %s", code, body)
	}
	e.mustAPI("Sora_20251217.RequestSimulcastRid", map[string]any{"channel_id": ch, "receiver_connection_id": sub.ConnectionID(), "rid": "none"})
	e.waitEvent(sub, "simulcast.switched to none", switchedTo(pub.c.ConnectionID(), "none", time.Time{}))
	n := len(rec.snapshot())
	time.Sleep(500 * time.Millisecond)
	if got := len(rec.snapshot()); got > n+3 {
		t.Errorf("%d packets arrived after rid none", got-n)
	}

	// The RPC, from a subscriber with DataChannel signaling.
	rsub, rrec := e.subscribe(ch, pub, dcSignaling, withConnect(map[string]any{"simulcast": true, "simulcast_rid": "r2"}))
	e.waitOpen(rsub, "rpc")
	rctx, rcancel := context.WithTimeout(e.ctx, 10*time.Second)
	defer rcancel()
	if !rrec.waitFor(rctx, atLeast(10)) {
		t.Fatal("no video at the RPC subscriber")
	}
	from := len(rrec.snapshot())
	start := time.Now()
	res, err := rsub.RPC(rctx, "2025.2.0/RequestSimulcastRid", map[string]any{"rid": "r0"})
	if err != nil || !strings.Contains(string(res), `"rid":"r0"`) {
		t.Fatalf("RPC RequestSimulcastRid: %s %v", res, err)
	}
	if !rrec.waitFor(rctx, func(ps []received) bool { return firstOfLayer(ps, from, 0) >= 0 }) {
		t.Fatal("the RPC did not switch the layer")
	}
	ps := rrec.snapshot()
	t.Logf("RPC RequestSimulcastRid: first r0 packet %v after the call", ps[firstOfLayer(ps, from, 0)].at.Sub(start).Round(time.Millisecond))
	e.waitEvent(rsub, "simulcast.switched to r0 on the notify channel", switchedTo(pub.c.ConnectionID(), "r0", start))
}

func roundAll(ds []time.Duration) []time.Duration {
	out := make([]time.Duration, len(ds))
	for i, d := range ds {
		out[i] = d.Round(time.Millisecond)
	}
	return out
}

// shaper is a receive-side interceptor that drops received video packets
// beyond a rate (a token bucket; 0 means no limit), so that the client's
// transport-cc feedback reports them lost. Register it before the default
// interceptors: it then sees packets first.
type shaper struct {
	interceptor.NoOp
	rate atomic.Int64 // bits per second; 0: unlimited

	mu      sync.Mutex
	tokens  float64 // bytes
	last    time.Time
	dropped int
}

const shaperBurst = 6000 // bytes

func (s *shaper) NewInterceptor(string) (interceptor.Interceptor, error) { return s, nil }

func (s *shaper) BindRemoteStream(info *interceptor.StreamInfo, reader interceptor.RTPReader) interceptor.RTPReader {
	if !strings.HasPrefix(strings.ToLower(info.MimeType), "video/") {
		return reader
	}
	return interceptor.RTPReaderFunc(func(b []byte, a interceptor.Attributes) (int, interceptor.Attributes, error) {
		for {
			n, attr, err := reader.Read(b, a)
			if err != nil || s.admit(n) {
				return n, attr, err
			}
		}
	})
}

func (s *shaper) admit(n int) bool {
	rate := s.rate.Load()
	s.mu.Lock()
	defer s.mu.Unlock()
	now := time.Now()
	if rate == 0 {
		s.tokens, s.last = shaperBurst, now
		return true
	}
	s.tokens = min(shaperBurst, s.tokens+now.Sub(s.last).Seconds()*float64(rate)/8)
	s.last = now
	if s.tokens < float64(n) {
		s.dropped++
		return false
	}
	s.tokens -= float64(n)
	return true
}

func (s *shaper) droppedCount() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.dropped
}

// TestSimulcastBandwidthCap: a subscriber at r2 whose downlink is capped
// below r2's rate is switched down by the plane's bandwidth estimate (with
// simulcast.switched naming the automatic layer), and back to r2 once the
// cap is lifted.
func TestSimulcastBandwidthCap(t *testing.T) {
	e := newEnv(t, 120*time.Second)
	const ch = "simulcast-cap"
	pub := startSimulcast(e, ch)
	sh := &shaper{}
	sub, rec := e.subscribe(ch, pub, withConnect(map[string]any{"simulcast": true}),
		withInterceptors(func(m *webrtc.MediaEngine, r *interceptor.Registry) error {
			r.Add(sh)
			return webrtc.RegisterDefaultInterceptors(m, r)
		}))
	ctx, cancel := context.WithTimeout(e.ctx, 10*time.Second)
	defer cancel()
	if !rec.waitFor(ctx, func(ps []received) bool { return firstOfLayer(ps, 0, 2) >= 0 }) {
		t.Fatalf("the subscriber never got r2 (the default): layers %v", first(layersOf(rec.snapshot()), 40))
	}

	const cap = 250_000
	from := len(rec.snapshot())
	start := time.Now()
	sh.rate.Store(cap)
	lower := func(ps []received) bool {
		return firstOfLayer(ps, from, 0) >= 0 || firstOfLayer(ps, from, 1) >= 0
	}
	dctx, dcancel := context.WithTimeout(e.ctx, 20*time.Second)
	defer dcancel()
	if !rec.waitFor(dctx, lower) {
		t.Fatalf("capped at %d b/s, the subscriber stayed at r2 for 20 s (%d packets dropped)", cap, sh.droppedCount())
	}
	ps := rec.snapshot()
	i := firstOfLayer(ps, from, 1)
	if f0 := firstOfLayer(ps, from, 0); f0 >= 0 && (i < 0 || f0 < i) {
		i = f0
	}
	l, _, _ := decodeLayer(ps[i].payload)
	t.Logf("capped at %d b/s: switched down to %s after %v (%d packets dropped)", cap, layerRIDs[l], ps[i].at.Sub(start).Round(time.Millisecond), sh.droppedCount())
	ev := e.waitEvent(sub, "simulcast.switched below r2", func(ev soraclient.Event) bool {
		return switchedTo(pub.c.ConnectionID(), "r0", start)(ev) || switchedTo(pub.c.ConnectionID(), "r1", start)(ev)
	})
	var m struct {
		Auto    []string `json:"auto_rids"`
		Request string   `json:"request_rid"`
	}
	if err := json.Unmarshal(ev.Raw, &m); err != nil || len(m.Auto) != 1 || m.Request != "r2" {
		t.Errorf("the automatic switch's notify %s", ev.Raw)
	}

	// Lift the cap: the estimate grows back and the plane returns to r2.
	time.Sleep(2 * time.Second)
	from = len(rec.snapshot())
	start = time.Now()
	sh.rate.Store(0)
	uctx, ucancel := context.WithTimeout(e.ctx, 60*time.Second)
	defer ucancel()
	if !rec.waitFor(uctx, func(ps []received) bool { return firstOfLayer(ps, from, 2) >= 0 }) {
		t.Fatalf("the cap was lifted but the subscriber did not return to r2 within 60 s (layers since: %v)", first(layersOf(rec.snapshot()[from:]), 40))
	}
	ps = rec.snapshot()
	t.Logf("cap lifted: back at r2 after %v", ps[firstOfLayer(ps, from, 2)].at.Sub(start).Round(time.Millisecond))
	e.waitEvent(sub, "simulcast.switched back to r2", switchedTo(pub.c.ConnectionID(), "r2", start))
}
