package audiostream

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pion/rtp"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

var t0 = time.Date(2022, 11, 1, 3, 52, 40, 504_000_000, time.UTC)

func fixedNow() time.Time { return t0 }

// waitFor polls cond every 10 ms for at most 5 s: a bound on a wait, not
// an assertion about time.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for range 500 {
		if cond() {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("timed out waiting for %s", what)
}

// --- fake rooms ---

type forward struct {
	connectionID string
	to           netip.AddrPort
	ssrc         uint32
	stopped      bool
}

type pushed struct {
	to   string
	data string
}

type fakeRooms struct {
	mu         sync.Mutex
	sessions   map[string]string // channel → session
	conns      map[string][]Conn // channel → connections
	forwards   []*forward
	forwardErr map[string]error
	pushes     []pushed
}

func newFakeRooms() *fakeRooms {
	return &fakeRooms{sessions: map[string]string{}, conns: map[string][]Conn{}, forwardErr: map[string]error{}}
}

func (r *fakeRooms) set(channel, session string, conns ...Conn) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(conns) == 0 {
		delete(r.sessions, channel)
		delete(r.conns, channel)
		return
	}
	r.sessions[channel], r.conns[channel] = session, conns
}

func (r *fakeRooms) Channel(ch string) (string, []Conn, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	sid, ok := r.sessions[ch]
	return sid, slices.Clone(r.conns[ch]), ok
}

func (r *fakeRooms) ForwardAudio(id string, to netip.AddrPort, ssrc uint32) (func(), error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if err := r.forwardErr[id]; err != nil {
		return nil, err
	}
	f := &forward{connectionID: id, to: to, ssrc: ssrc}
	r.forwards = append(r.forwards, f)
	return func() {
		r.mu.Lock()
		f.stopped = true
		r.mu.Unlock()
	}, nil
}

func (r *fakeRooms) Push(id string, data json.RawMessage) error {
	if !json.Valid(data) || data[0] != '{' {
		return fmt.Errorf("push data %q is not a JSON object", data)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.pushes = append(r.pushes, pushed{id, string(data)})
	return nil
}

// forwardOf returns the connection's latest forwarding, waiting for it.
func (r *fakeRooms) forwardOf(t *testing.T, id string) forward {
	t.Helper()
	var f forward
	waitFor(t, "the forwarding of "+id, func() bool {
		r.mu.Lock()
		defer r.mu.Unlock()
		for _, x := range r.forwards {
			if x.connectionID == id {
				f = *x
			}
		}
		return f.connectionID != ""
	})
	return f
}

func (r *fakeRooms) forwardCount(id string) (n, stopped int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, x := range r.forwards {
		if x.connectionID == id {
			n++
			if x.stopped {
				stopped++
			}
		}
	}
	return n, stopped
}

func (r *fakeRooms) pushesTo(id string) []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []string
	for _, p := range r.pushes {
		if p.to == id {
			out = append(out, p.data)
		}
	}
	return out
}

// --- test gateway: HTTP/2 cleartext on 127.0.0.1 ---

type gatewayRequest struct {
	proto  int
	header http.Header

	mu      sync.Mutex
	body    []byte
	bodyEnd error // set when the body ended; io.EOF for a clean end
	ended   bool

	lines  chan string   // written to the answer, one per line
	finish chan struct{} // closing it ends the answer
}

func (g *gatewayRequest) received() ([]byte, bool, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	return slices.Clone(g.body), g.ended, g.bodyEnd
}

type gateway struct {
	url    string
	status int // answer status; 200 streams
	reqs   chan *gatewayRequest
	srv    *http.Server
}

func newGateway(t *testing.T, status int) *gateway {
	t.Helper()
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	g := &gateway{url: "http://" + ln.Addr().String() + "/speech", status: status, reqs: make(chan *gatewayRequest, 16)}
	p := new(http.Protocols)
	p.SetUnencryptedHTTP2(true)
	g.srv = &http.Server{Handler: http.HandlerFunc(g.serve), Protocols: p, ErrorLog: nil}
	go func() { _ = g.srv.Serve(ln) }()
	t.Cleanup(func() { _ = g.srv.Close() })
	return g
}

func (g *gateway) serve(w http.ResponseWriter, r *http.Request) {
	req := &gatewayRequest{proto: r.ProtoMajor, header: r.Header.Clone(),
		lines: make(chan string, 16), finish: make(chan struct{})}
	g.reqs <- req
	if g.status != http.StatusOK {
		w.WriteHeader(g.status)
		return
	}
	w.Header().Set("content-type", "application/json")
	w.WriteHeader(http.StatusOK)
	w.(http.Flusher).Flush()
	bodyDone := make(chan struct{})
	go func() {
		defer close(bodyDone)
		buf := make([]byte, 4096)
		for {
			n, err := r.Body.Read(buf)
			req.mu.Lock()
			req.body = append(req.body, buf[:n]...)
			if err != nil {
				req.bodyEnd, req.ended = err, true
			}
			req.mu.Unlock()
			if err != nil {
				return
			}
		}
	}()
	for {
		select {
		case l := <-req.lines:
			if _, err := io.WriteString(w, l+"\n"); err != nil {
				return
			}
			w.(http.Flusher).Flush()
		case <-bodyDone:
			return // the stream ended: end the answer too, as Suzu does
		case <-req.finish:
			return
		case <-r.Context().Done():
			return
		}
	}
}

func (g *gateway) next(t *testing.T) *gatewayRequest {
	t.Helper()
	select {
	case r := <-g.reqs:
		return r
	case <-time.After(5 * time.Second):
		t.Fatal("the gateway got no request")
		return nil
	}
}

func (g *gateway) none(t *testing.T) {
	t.Helper()
	select {
	case r := <-g.reqs:
		t.Fatalf("unexpected request for %s", r.header.Get("sora-connection-id"))
	default:
	}
}

// --- helpers ---

func newStreams(t *testing.T, rooms Rooms, mutate ...func(*Config)) *Streams {
	t.Helper()
	cfg := Config{Rooms: rooms, Logger: slog.New(slog.DiscardHandler), Now: fixedNow,
		StopTimeout: 2 * time.Second, SyncInterval: time.Hour}
	for _, m := range mutate {
		m(&cfg)
	}
	s, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	return s
}

func sendRTP(t *testing.T, to netip.AddrPort, pkts ...[]byte) {
	t.Helper()
	c, err := net.DialUDP("udp4", nil, net.UDPAddrFromAddrPort(to))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	for _, p := range pkts {
		if _, err := c.Write(p); err != nil {
			t.Fatal(err)
		}
	}
}

func opusRTP(t *testing.T, ssrc uint32, seq uint16, payload string) []byte {
	return rtpBytes(t, rtp.Header{SequenceNumber: seq, Timestamp: uint32(seq) * 960, SSRC: ssrc, PayloadType: 111}, []byte(payload), 0)
}

// frame is one Opus packet read back from a body with headers.
type frame struct {
	at, seq uint64
	payload string
}

func parseFrames(t *testing.T, b []byte) []frame {
	t.Helper()
	var out []frame
	for len(b) > 0 {
		if len(b) < HeaderSize {
			t.Fatalf("%d bytes left, less than a header", len(b))
		}
		n := int(binary.BigEndian.Uint32(b[16:20]))
		if len(b) < HeaderSize+n {
			t.Fatalf("a frame of %d bytes with %d left", n, len(b)-HeaderSize)
		}
		out = append(out, frame{binary.BigEndian.Uint64(b[:8]), binary.BigEndian.Uint64(b[8:16]), string(b[HeaderSize : HeaderSize+n])})
		b = b[HeaderSize+n:]
	}
	return out
}

var (
	connA = Conn{ConnectionID: "A", ClientID: "alice", Audio: true, LanguageCode: "ja-JP"}
	connB = Conn{ConnectionID: "B", ClientID: "bob"}                     // recvonly
	connC = Conn{ConnectionID: "C", ClientID: "carol", Audio: true}      // no language code
	connD = Conn{ConnectionID: "D", ClientID: "dave", LanguageCode: "x"} // no audio published
)

// TestStream: one stream from start to stop, with headers: what the
// gateway receives and what the subscriber gets back.
func TestStream(t *testing.T) {
	gw := newGateway(t, http.StatusOK)
	rooms := newFakeRooms()
	rooms.set("sora", "S1", connA, connB, connC, connD)
	reg := prometheus.NewRegistry()
	s := newStreams(t, rooms, func(c *Config) { c.URL, c.Header, c.Registerer = gw.url, true, reg })
	s.Subscribe("sora", "B")

	sid, err := s.Start("sora")
	if err != nil || sid != "S1" {
		t.Fatalf("Start = %q, %v", sid, err)
	}
	req := gw.next(t)
	if req.proto != 2 {
		t.Errorf("HTTP/%d, want 2", req.proto)
	}
	for k, want := range map[string]string{
		"sora-channel-id": "sora", "sora-session-id": "S1", "sora-connection-id": "A", "sora-client-id": "alice",
		"sora-audio-streaming-language-code": "ja-JP", "sora-audio-codec-type": "OPUS", "sora-audio-sample-rate": "48000",
		"sora-audio-streaming-header": "true",
	} {
		if got := req.header.Get(k); got != want {
			t.Errorf("header %s: %q, want %q", k, got, want)
		}
	}
	f := rooms.forwardOf(t, "A")
	if !f.to.Addr().IsLoopback() || f.ssrc == 0 {
		t.Fatalf("forwarding to %v with SSRC %d", f.to, f.ssrc)
	}
	sendRTP(t, f.to,
		opusRTP(t, f.ssrc, 65534, "opus-1"),
		opusRTP(t, f.ssrc+1, 65535, "other SSRC"),
		[]byte("not RTP"),
		opusRTP(t, f.ssrc, 65535, "opus-2"),
		opusRTP(t, f.ssrc, 0, "opus-3"))
	var got []frame
	waitFor(t, "three packets at the gateway", func() bool {
		b, _, _ := req.received()
		got = parseFrames(t, b)
		return len(got) >= 3
	})
	micros := uint64(t0.UnixMicro())
	want := []frame{{micros, 65534, "opus-1"}, {micros, 65535, "opus-2"}, {micros, 65536, "opus-3"}}
	if !slices.Equal(got, want) {
		t.Fatalf("frames %v\nwant   %v", got, want)
	}

	req.lines <- `{"type":"test","message":"n: 3","channel_id":"sora"}`
	req.lines <- ``
	req.lines <- `not json`
	req.lines <- ` {"type":"test","connection_id":"given"} `
	waitFor(t, "two results at B", func() bool { return len(rooms.pushesTo("B")) == 2 })
	if got := rooms.pushesTo("B"); got[0] != `{"channel_id":"sora","connection_id":"A","message":"n: 3","type":"test"}` ||
		got[1] != `{"connection_id":"given","type":"test"}` {
		t.Fatalf("pushes to B: %q", got)
	}
	if got := rooms.pushesTo("A"); len(got) != 0 {
		t.Fatalf("A did not subscribe but got %q", got)
	}

	if sid, err := s.Stop("sora"); err != nil || sid != "S1" {
		t.Fatalf("Stop = %q, %v", sid, err)
	}
	waitFor(t, "the end of the body", func() bool { _, ended, _ := req.received(); return ended })
	if _, _, err := req.received(); err != io.EOF {
		t.Fatalf("the body ended with %v, want a clean end (EOF)", err)
	}
	waitFor(t, "the forwarding to stop", func() bool { _, stopped := rooms.forwardCount("A"); return stopped == 1 })
	waitFor(t, "no stream running", func() bool { return s.running() == 0 })
	gw.none(t) // neither C (no language code) nor D (no audio) nor B
	want2 := Counters{Started: 1, Successful: 1, PacketsSent: 3, BytesSent: 3*HeaderSize + 18, PacketsDropped: 2, Results: 2, InvalidResults: 1}
	if got := s.Counters(); got != want2 {
		t.Fatalf("counters %+v\nwant     %+v", got, want2)
	}
	if n, err := testutil.GatherAndCount(reg); err != nil || n != 9 {
		t.Fatalf("%d series registered (%v)", n, err)
	}
	if got := testutil.ToFloat64(mustCollector(t, reg, "hayate_audio_streaming_packets_dropped_total")); got != 2 {
		t.Fatalf("hayate_audio_streaming_packets_dropped_total %v", got)
	}

	// Started again: a new stream.
	if _, err := s.Start("sora"); err != nil {
		t.Fatal(err)
	}
	if req := gw.next(t); req.header.Get("sora-connection-id") != "A" {
		t.Fatalf("restart streamed %q", req.header.Get("sora-connection-id"))
	}
}

func mustCollector(t *testing.T, reg *prometheus.Registry, name string) prometheus.Collector {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == name {
			v := mf.GetMetric()[0].GetCounter().GetValue()
			return prometheus.NewCounterFunc(prometheus.CounterOpts{Name: name, Help: "copy"}, func() float64 { return v })
		}
	}
	t.Fatalf("%s not registered", name)
	return nil
}

// Without the header the body is the bare Opus packets back to back; a
// connection without a language code streams with DefaultLanguageCode.
func TestStreamBare(t *testing.T) {
	gw := newGateway(t, http.StatusOK)
	rooms := newFakeRooms()
	rooms.set("sora", "S1", connC)
	s := newStreams(t, rooms, func(c *Config) { c.URL, c.DefaultLanguageCode = gw.url, "en-US" })
	if _, err := s.Start("sora"); err != nil {
		t.Fatal(err)
	}
	req := gw.next(t)
	if req.header.Get("sora-audio-streaming-language-code") != "en-US" || req.header.Get("sora-audio-streaming-header") != "false" {
		t.Fatalf("headers %v", req.header)
	}
	f := rooms.forwardOf(t, "C")
	sendRTP(t, f.to, opusRTP(t, f.ssrc, 1, "\xfc\xff\xfe"), opusRTP(t, f.ssrc, 2, "\x78\x01"))
	waitFor(t, "two packets", func() bool { b, _, _ := req.received(); return len(b) >= 5 })
	if b, _, _ := req.received(); string(b) != "\xfc\xff\xfe\x78\x01" {
		t.Fatalf("body %x", b)
	}
}

// Each way a stream fails is counted, pushed to the subscribers, stops the
// forwarding, and does not restart the stream.
func TestStreamFailures(t *testing.T) {
	closedPort := func(t *testing.T) string {
		ln, err := net.Listen("tcp4", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addr := ln.Addr().String()
		ln.Close()
		return "http://" + addr + "/speech"
	}
	for _, tc := range []struct {
		name       string
		status     int                               // of the gateway; 0 none
		forwardErr error                             // of ForwardAudio
		act        func(*testing.T, *gatewayRequest) // once the request arrived
		reason     string
		forwarded  bool
	}{
		{name: "connection refused", reason: "posting to the gateway", forwarded: true},
		{name: "gateway answers 500", status: http.StatusInternalServerError, reason: "the gateway answered 500 Internal Server Error", forwarded: true},
		{name: "gateway ends the stream", status: http.StatusOK, forwarded: true, reason: "the gateway ended the stream",
			act: func(_ *testing.T, r *gatewayRequest) {
				r.lines <- `{"type":"error","reason":"UPSTREAM-GONE"}`
				close(r.finish)
			}},
		{name: "result line too long", status: http.StatusOK, forwarded: true, reason: "a result line is longer than 64 bytes",
			act: func(_ *testing.T, r *gatewayRequest) { r.lines <- `{"message":"` + strings.Repeat("x", 80) + `"}` }},
		{name: "forwarding refused", status: http.StatusOK, forwardErr: errors.New("the media plane is gone"),
			reason: "forwarding its audio: the media plane is gone"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			url := closedPort(t)
			var gw *gateway
			if tc.status != 0 {
				gw = newGateway(t, tc.status)
				url = gw.url
			}
			rooms := newFakeRooms()
			rooms.set("sora", "S1", connA, connB)
			if tc.forwardErr != nil {
				rooms.forwardErr["A"] = tc.forwardErr
			}
			s := newStreams(t, rooms, func(c *Config) { c.URL, c.MaxResultLine = url, 64 })
			s.Subscribe("sora", "B")
			if _, err := s.Start("sora"); err != nil {
				t.Fatal(err)
			}
			if gw != nil && tc.forwardErr == nil {
				req := gw.next(t)
				if tc.act != nil {
					tc.act(t, req)
				}
			}
			waitFor(t, "the failure", func() bool { return s.Counters().Failed == 1 })
			var failure string
			waitFor(t, "the failure push", func() bool {
				for _, p := range rooms.pushesTo("B") {
					if strings.Contains(p, "AUDIO-STREAMING-FAILED") {
						failure = p
						return true
					}
				}
				return false
			})
			var m map[string]string
			if err := json.Unmarshal([]byte(failure), &m); err != nil {
				t.Fatal(err)
			}
			if m["type"] != "error" || m["connection_id"] != "A" || m["failed_connection_id"] != "A" ||
				!strings.HasPrefix(m["reason"], "AUDIO-STREAMING-FAILED: "+tc.reason) {
				t.Fatalf("failure push %s", failure)
			}
			if tc.forwarded {
				waitFor(t, "the forwarding to stop", func() bool { _, stopped := rooms.forwardCount("A"); return stopped == 1 })
			}
			// A sync does not start it again.
			s.Changed()
			s.sync()
			if n, _ := rooms.forwardCount("A"); n > 1 {
				t.Fatalf("the failed stream was restarted (%d forwardings)", n)
			}
			if gw != nil && tc.forwardErr == nil {
				gw.none(t)
			}
			if c := s.Counters(); c.Started > 1 || c.Failed != 1 {
				t.Fatalf("counters %+v", c)
			}
		})
	}
}

// A connection that leaves ends its stream cleanly; the end of the session
// ends the channel's streaming and its subscriptions.
func TestLeaveAndSessionEnd(t *testing.T) {
	gw := newGateway(t, http.StatusOK)
	rooms := newFakeRooms()
	connE := Conn{ConnectionID: "E", Audio: true, LanguageCode: "ja-JP"}
	rooms.set("sora", "S1", connA, connB, connE)
	s := newStreams(t, rooms, func(c *Config) { c.URL = gw.url })
	s.Subscribe("sora", "B")
	s.Subscribe("sora", "E")
	if _, err := s.Start("sora"); err != nil {
		t.Fatal(err)
	}
	reqs := map[string]*gatewayRequest{}
	for range 2 {
		r := gw.next(t)
		reqs[r.header.Get("sora-connection-id")] = r
	}
	if reqs["A"] == nil || reqs["E"] == nil {
		t.Fatalf("streams for %v", slices.Collect(func(yield func(string) bool) {
			for k := range reqs {
				yield(k)
			}
		}))
	}

	// E leaves.
	rooms.set("sora", "S1", connA, connB)
	s.Forget("E")
	waitFor(t, "E's body to end", func() bool { _, ended, _ := reqs["E"].received(); return ended })
	if _, _, err := reqs["E"].received(); err != io.EOF {
		t.Fatalf("E's body ended with %v", err)
	}
	if s.Subscribed("E") || !s.Subscribed("B") {
		t.Fatal("Forget(E) did not drop E's subscription alone")
	}
	if _, ended, _ := reqs["A"].received(); ended {
		t.Fatal("A's stream ended when E left")
	}

	// A joins a newly created connection F later: streamed too.
	connF := Conn{ConnectionID: "F", Audio: true, LanguageCode: "en-US"}
	rooms.set("sora", "S1", connA, connB, connF)
	s.Changed()
	if r := gw.next(t); r.header.Get("sora-connection-id") != "F" {
		t.Fatalf("a later connection: %q", r.header.Get("sora-connection-id"))
	}

	// Everyone leaves: the session ends, and with it the streaming.
	rooms.set("sora", "")
	s.Changed()
	waitFor(t, "A's body to end", func() bool { _, ended, _ := reqs["A"].received(); return ended })
	waitFor(t, "the streaming to end", func() bool { _, on := s.Streaming("sora"); return !on })
	if s.Subscribed("B") {
		t.Fatal("B's subscription outlived its session")
	}
	if c := s.Counters(); c.Failed != 0 {
		t.Fatalf("clean ends counted as failures: %+v", c)
	}
	// A new session may stream again.
	rooms.set("sora", "S2", connA)
	if sid, err := s.Start("sora"); err != nil || sid != "S2" {
		t.Fatalf("Start in a new session = %q, %v", sid, err)
	}
}

func TestStartStopErrors(t *testing.T) {
	rooms := newFakeRooms()
	rooms.set("sora", "S1", connB)
	noURL := newStreams(t, rooms)
	if _, err := noURL.Start("sora"); !errors.Is(err, ErrNoURL) {
		t.Fatalf("without a URL: %v", err)
	}
	s := newStreams(t, rooms, func(c *Config) { c.URL = "http://127.0.0.1:9/speech" })
	if _, err := s.Start("nobody"); !errors.Is(err, ErrNoChannel) || !strings.Contains(err.Error(), `"nobody"`) {
		t.Fatalf("unknown channel: %v", err)
	}
	if _, err := s.Stop("sora"); !errors.Is(err, ErrNotStarted) {
		t.Fatalf("Stop before Start: %v", err)
	}
	if _, err := s.Start("sora"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Start("sora"); !errors.Is(err, ErrStarted) || !strings.Contains(err.Error(), "S1") {
		t.Fatalf("Start twice: %v", err)
	}
	if sid, ok := s.Streaming("sora"); !ok || sid != "S1" {
		t.Fatalf("Streaming = %q %v", sid, ok)
	}
	s.Close()
	if _, err := s.Start("sora"); !errors.Is(err, ErrClosed) {
		t.Fatalf("after Close: %v", err)
	}
	s.Close() // twice is harmless
}

func TestSubscriptions(t *testing.T) {
	s := newStreams(t, newFakeRooms())
	s.Subscribe("sora", "B")
	s.Subscribe("sora", "B")
	s.Subscribe("akane", "X")
	if !s.Subscribed("B") || !s.Subscribed("X") || s.Subscribed("A") {
		t.Fatal("Subscribed after Subscribe")
	}
	if got := s.subscribers("sora"); !slices.Equal(got, []string{"B"}) {
		t.Fatalf("subscribers(sora) = %v", got)
	}
	s.Unsubscribe("B")
	s.Unsubscribe("B")
	s.Forget("X")
	if s.Subscribed("B") || s.Subscribed("X") {
		t.Fatal("still subscribed")
	}
}

func TestConfig(t *testing.T) {
	for _, tc := range []struct {
		name string
		cfg  Config
	}{
		{"no rooms", Config{}},
		{"ftp URL", Config{Rooms: newFakeRooms(), URL: "ftp://127.0.0.1/x"}},
		{"no host", Config{Rooms: newFakeRooms(), URL: "http:///x"}},
		{"negative queue", Config{Rooms: newFakeRooms(), QueuePackets: -1}},
	} {
		if _, err := New(tc.cfg); !errors.Is(err, ErrConfig) {
			t.Errorf("%s: %v", tc.name, err)
		}
	}
}

func TestResultData(t *testing.T) {
	for _, tc := range []struct {
		in, want string
		err      bool
	}{
		{in: `{"type":"aws","message":"こんにちは","is_final":true}`, want: `{"connection_id":"A","is_final":true,"message":"こんにちは","type":"aws"}`},
		{in: "  {}\r", want: `{"connection_id":"A"}`},
		{in: `{"connection_id":null}`, want: `{"connection_id":null}`},
		{in: `[1]`, err: true},
		{in: `null`, err: true},
		{in: `{"a":1} {"b":2}`, err: true},
		{in: "{\"a\":\"\xff\"}", err: true},
		{in: `{"a":`, err: true},
	} {
		got, err := resultData([]byte(tc.in), "A")
		if (err != nil) != tc.err || string(got) != tc.want {
			t.Errorf("resultData(%q) = %s, %v; want %s (error %v)", tc.in, got, err, tc.want, tc.err)
		}
		if err != nil && !errors.Is(err, errResult) {
			t.Errorf("resultData(%q): %v is not errResult", tc.in, err)
		}
	}
	if got := string(failureData("A", "AUDIO-STREAMING-FAILED: x")); got != `{"connection_id":"A","failed_connection_id":"A","reason":"AUDIO-STREAMING-FAILED: x","type":"error"}` {
		t.Fatalf("failureData = %s", got)
	}
}

// FuzzResultData: any line from the gateway becomes a JSON object that
// names a connection, or is refused.
func FuzzResultData(f *testing.F) {
	for _, s := range []string{`{"type":"test","message":"n: 3"}`, `{}`, `[]`, `{"connection_id":1}`, "{\"a\":\"\\ud800\"}", ` {"a":{"b":[1,2]}} `} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, line []byte) {
		got, err := resultData(line, "A")
		if err != nil {
			return
		}
		var m map[string]json.RawMessage
		if err := json.Unmarshal(got, &m); err != nil || m == nil {
			t.Fatalf("resultData(%q) = %q, not an object", line, got)
		}
		if _, ok := m["connection_id"]; !ok {
			t.Fatalf("resultData(%q) = %q has no connection_id", line, got)
		}
		if !bytes.HasPrefix(got, []byte("{")) {
			t.Fatalf("not compact: %q", got)
		}
	})
}
