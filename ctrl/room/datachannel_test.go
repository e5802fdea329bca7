package room

import (
	"bytes"
	"compress/zlib"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/hayate-sfu/hayate/ctrl/offer"
	"github.com/hayate-sfu/hayate/dataplane"
)

func chat(dir DataChannelDirection) DataChannelRequest {
	return DataChannelRequest{Label: "#chat", Direction: dir, Ordered: true, MaxPacketLifeTime: -1, MaxRetransmits: -1}
}

// messagingReq is what the JS SDK's messaging() sends: no media, role
// sendonly, DataChannel signaling and the labels.
func messagingReq(dcs ...DataChannelRequest) JoinRequest {
	return JoinRequest{ChannelID: "room-1", Role: RoleSendOnly, DataChannelSignaling: true, DataChannels: dcs}
}

func zlibOf(t testing.TB, s string) []byte {
	t.Helper()
	var b bytes.Buffer
	w := zlib.NewWriter(&b)
	w.Write([]byte(s))
	w.Close()
	return b.Bytes()
}

// dcTexts returns the messages sent on a channel since the last call, as
// text (zlib streams decompressed).
func dcTexts(t *testing.T, d *fakeDC) []string {
	t.Helper()
	if d == nil {
		t.Fatal("no such DataChannel")
	}
	var out []string
	for _, m := range d.take() {
		b := m.data
		if !m.isString && len(b) > 1 && b[0] == 0x78 {
			var err error
			if b, err = inflate(nil, b, 1<<20); err != nil {
				t.Fatalf("bad zlib on %s: %v", d.cfg.Label, err)
			}
		}
		out = append(out, string(b))
	}
	return out
}

// TestDataChannelTranscript records a channel with DataChannels from the
// first offer to the end, compared with testdata/datachannel.txt:
//   - A: sendrecv with DataChannel signaling, ignore_disconnect_websocket and
//     #chat (sendrecv, header sender_connection_id);
//   - B: messaging only (the JS SDK's messaging()) with #chat compressed;
//   - C: sendrecv on the WebSocket only; its tracks reach A by a re-offer on
//     A's signaling channel;
//   - #chat messages both ways between A and B;
//   - the API disconnects A: close on its signaling channel, channels
//     closed, then the transport.
func TestDataChannelTranscript(t *testing.T) {
	e := newEnv(t)
	ra := req(RoleSendRecv)
	ra.DataChannelSignaling, ra.IgnoreDisconnectWebSocket = true, true
	hdr := chat(DataChannelSendRecv)
	hdr.Header, hdr.SenderConnectionID = json.RawMessage(`[{"type":"sender_connection_id"}]`), true
	ra.DataChannels = []DataChannelRequest{hdr}
	a := e.join("A", ra)
	a.connect(t)

	zc := chat(DataChannelSendRecv)
	zc.Compress = true
	b := e.join("B", messagingReq(zc))
	b.connect(t)

	c := e.join("C", req(RoleSendRecv))
	c.connect(t)
	reOffer := dcTexts(t, a.tr.dc(LabelSignaling))
	if len(reOffer) != 1 || !strings.Contains(reOffer[0], `"type":"re-offer"`) {
		t.Fatalf("A's signaling channel got %q, want one re-offer", reOffer)
	}
	a.last = lastSDP(t, []map[string]any{mustJSON(t, reOffer[0])})
	if err := a.c.ReAnswer(answerFor(t, a.last)); err != nil {
		t.Fatal(err)
	}

	a.tr.dc("#chat").h.OnMessage([]byte("hello from A"), false)
	b.tr.dc("#chat").h.OnMessage(zlibOf(t, "hi from B"), false)

	a.c.Disconnect("DISCONNECTED-API")
	e.reg.Wait()
	golden(t, "datachannel.txt", e.log.String())
}

// sameJSON re-encodes s as a decoded value is (object keys sorted).
func sameJSON(t *testing.T, s string) string {
	t.Helper()
	var v any
	if err := json.Unmarshal([]byte(s), &v); err != nil {
		t.Fatal(err)
	}
	b, _ := json.Marshal(v)
	return string(b)
}

func mustJSON(t *testing.T, s string) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal([]byte(s), &m); err != nil {
		t.Fatalf("%v: %s", err, s)
	}
	return m
}

func TestDataChannelOffer(t *testing.T) {
	e := newEnv(t)
	r := messagingReq(chat(DataChannelRecvOnly))
	r.DataChannels[0].Header = json.RawMessage(`[{"type":"sender_connection_id"}]`)
	r.IgnoreDisconnectWebSocket = true
	m := e.join("M", r)
	o := m.p.take(t)[0]
	if got := sections(t, o["sdp"].(string)); strings.Join(got, " ") != "0:application:sendrecv" {
		t.Errorf("messaging-only offer sections %v, want only the application section", got)
	}
	want := `[{"label":"signaling","direction":"sendrecv","compress":false},{"label":"notify","direction":"sendrecv","compress":false},` +
		`{"label":"push","direction":"sendrecv","compress":false},{"label":"stats","direction":"sendrecv","compress":false},` +
		`{"label":"rpc","direction":"sendrecv","compress":false},` +
		`{"label":"#chat","direction":"recvonly","compress":false,"header":[{"type":"sender_connection_id"}]}]`
	if got, _ := json.Marshal(o["data_channels"]); string(got) != sameJSON(t, want) {
		t.Errorf("data_channels %s\nwant %s", got, want)
	}
	if got, _ := json.Marshal(o["rpc_methods"]); string(got) != `["2025.2.0/PutSignalingNotifyMetadata","2025.2.0/PutSignalingNotifyMetadataItem"]` {
		t.Errorf("rpc_methods %s", got)
	}
	if o["data_channel_signaling"] != true || o["ignore_disconnect_websocket"] != true {
		t.Errorf("flags %v %v", o["data_channel_signaling"], o["ignore_disconnect_websocket"])
	}
	if _, ok := o["mid"]; ok {
		t.Errorf("mid %v for a connection without media", o["mid"])
	}

	// Messaging labels without DataChannel signaling: only they are opened,
	// no rpc, ignore_disconnect_websocket is false whatever was asked.
	r2 := req(RoleSendRecv)
	r2.IgnoreDisconnectWebSocket = true
	r2.DataChannels = []DataChannelRequest{chat(DataChannelSendRecv)}
	n := e.join("N", r2)
	o2 := n.p.take(t)[0]
	if got, _ := json.Marshal(o2["data_channels"]); string(got) != sameJSON(t, `[{"label":"#chat","direction":"sendrecv","compress":false}]`) {
		t.Errorf("data_channels %s", got)
	}
	if o2["data_channel_signaling"] != false || o2["ignore_disconnect_websocket"] != false || o2["rpc_methods"] != nil {
		t.Errorf("flags %v %v %v", o2["data_channel_signaling"], o2["ignore_disconnect_websocket"], o2["rpc_methods"])
	}
	// Without DataChannels the offer has none of these fields.
	p := e.join("P", req(RoleSendRecv))
	o3 := p.p.take(t)[0]
	for _, k := range []string{"data_channels", "data_channel_signaling", "ignore_disconnect_websocket", "rpc_methods"} {
		if _, ok := o3[k]; ok {
			t.Errorf("offer without DataChannels has %q", k)
		}
	}
	if strings.Contains(o3["sdp"].(string), "m=application") {
		t.Error("offer without DataChannels has an application section")
	}
}

// TestApplicationSectionKeepsItsIndex: later sections are appended after
// the application section, which stays where the first offer put it.
func TestApplicationSectionKeepsItsIndex(t *testing.T) {
	e := newEnv(t)
	r := req(RoleRecvOnly)
	r.DataChannelSignaling = true
	a := e.join("A", r)
	a.connect(t)
	first := sections(t, a.last)
	if strings.Join(first, " ") != "0:audio:inactive 1:video:inactive 2:application:sendrecv" {
		t.Fatalf("first offer %v", first)
	}
	for _, name := range []string{"B", "C"} {
		s := e.join(name, req(RoleSendOnly))
		s.connect(t)
		re := dcTexts(t, a.tr.dc(LabelSignaling))
		if len(re) != 1 {
			t.Fatalf("after %s joined A's signaling channel got %q", name, re)
		}
		a.last = lastSDP(t, []map[string]any{mustJSON(t, re[0])})
		if err := a.c.ReAnswer(answerFor(t, a.last)); err != nil {
			t.Fatal(err)
		}
		got := sections(t, a.last)
		if got[2] != "2:application:sendrecv" {
			t.Errorf("after %s joined the sections are %v", name, got)
		}
	}
	if got := sections(t, a.last); len(got) != 5 {
		t.Errorf("sections %v, want the two placeholders reused, the application and two new ones", got)
	}
}

func TestApplicationRejected(t *testing.T) {
	e := newEnv(t)
	m := e.join("M", messagingReq(chat(DataChannelSendRecv)))
	o := m.p.take(t)
	err := m.c.Answer(answerFor(t, lastSDP(t, o), "0"))
	if !errors.Is(err, offer.ErrInvalidAnswer) {
		t.Errorf("answer rejecting the application section: %v", err)
	}
}

// TestSignalingRouting: before the switch everything goes on the
// WebSocket; after it re-offer, notify and push go on their channels, and
// switched itself on the WebSocket.
func TestSignalingRouting(t *testing.T) {
	e := newEnv(t)
	r := req(RoleSendRecv)
	r.DataChannelSignaling = true
	a := e.join("A", r)
	msgs := a.connect(t)
	if types(msgs) != "offer" {
		t.Errorf("before OnConnected A got %s", types(msgs))
	}
	if got := types(a.p.take(t)); got != "notify:connection.created switched" {
		t.Errorf("A got %s on the WebSocket, want its own connection.created, then switched", got)
	}
	if a.p.switched == nil || *a.p.switched {
		t.Errorf("Switched(%v)", a.p.switched)
	}
	if err := a.c.Push(map[string]any{"k": 1}); err != nil {
		t.Fatal(err)
	}
	b := e.join("B", req(RoleSendRecv))
	b.connect(t)
	if got := a.p.take(t); len(got) != 0 {
		t.Errorf("after the switch A got %s on the WebSocket", types(got))
	}
	for label, want := range map[string]string{
		LabelPush:      `{"type":"push","data":{"k":1}}`,
		LabelNotify:    `"event_type":"connection.created"`,
		LabelSignaling: `"type":"re-offer"`,
	} {
		got := dcTexts(t, a.tr.dc(label))
		if len(got) != 1 || !strings.Contains(got[0], want) {
			t.Errorf("%s channel got %q, want one message with %s", label, got, want)
		}
	}
	if got := dcTexts(t, a.tr.dc(LabelStats)); len(got) != 1 || got[0] != `{"type":"req-stats"}` {
		t.Errorf("stats channel got %q, want the req-stats sent with the channels", got)
	}
	if got := counter(t, e.prm, "hayate_room_datachannel_signaling_switched_total"); got != 1 {
		t.Errorf("switched counted %v", got)
	}
	if got := counter(t, e.prm, "hayate_room_datachannels_opened_total"); got != 5 {
		t.Errorf("opened %v, want signaling, notify, push, stats, rpc", got)
	}
}

// TestSignalingChannelInput: what the client sends on a signaling label is
// handed to the peer (decompressed when the label is compressed), with the
// size limit applied.
func TestSignalingChannelInput(t *testing.T) {
	e := newEnv(t, func(c *Config) { c.DataChannelMaxMessageSize = 2048 })
	r := messagingReq()
	a := e.join("A", r)
	a.connect(t)
	a.p.dcIn = nil // the stats answer of connect
	sig := a.tr.dc(LabelSignaling)
	sig.h.OnMessage([]byte(`{"type":"re-answer"}`), true)
	sig.h.OnMessage(bytes.Repeat([]byte("x"), 2049), true)
	a.tr.dc(LabelRPC).h.OnMessage([]byte(`{"jsonrpc":"2.0"}`), true)
	if got := strings.Join(a.p.dcIn, " | "); got != `signaling: {"type":"re-answer"} | rpc: {"jsonrpc":"2.0"}` {
		t.Errorf("peer got %s", got)
	}
	if got := counter(t, e.prm, "hayate_room_datachannel_drops_total", "too_large"); got != 1 {
		t.Errorf("too_large drops %v", got)
	}
	// A compressed signaling channel.
	a.c.dcs[0].compress = true
	sig.h.OnMessage(zlibOf(t, `{"type":"candidate"}`), false)
	sig.h.OnMessage([]byte("not zlib"), false)
	if got := a.p.dcIn[len(a.p.dcIn)-1]; got != `signaling: {"type":"candidate"}` {
		t.Errorf("peer got %s", got)
	}
	if got := counter(t, e.prm, "hayate_room_datachannel_drops_total", "decompress"); got != 1 {
		t.Errorf("decompress drops %v", got)
	}
	// SendDataChannel compresses for a compressed label.
	if err := a.c.SendDataChannel(LabelSignaling, []byte(`{"type":"x"}`)); err != nil {
		t.Fatal(err)
	}
	sent := sig.take()
	if len(sent) != 1 || sent[0].isString || !bytes.Equal(mustInflate(t, sent[0].data), []byte(`{"type":"x"}`)) {
		t.Errorf("compressed label got %+v", sent)
	}
	if err := a.c.SendDataChannel("#nope", []byte("x")); err == nil {
		t.Error("SendDataChannel on an unknown label succeeded")
	}
}

func mustInflate(t *testing.T, b []byte) []byte {
	t.Helper()
	out, err := inflate(nil, b, 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// TestMessagingFanOut: who gets a message on a label, in which form.
func TestMessagingFanOut(t *testing.T) {
	e := newEnv(t)
	members := []fanSpec{
		{name: "S", dir: DataChannelSendRecv},
		{name: "R1", dir: DataChannelRecvOnly},
		{name: "R2", dir: DataChannelSendRecv, header: true},
		{name: "R3", dir: DataChannelSendRecv, compress: true},
		{name: "R4", dir: DataChannelRecvOnly, compress: true, header: true},
		{name: "SO", dir: DataChannelSendOnly},                // sends only: receives nothing
		{name: "SB", dir: DataChannelSendRecv, bundle: "b-S"}, // the sender's bundle
		{name: "OL", dir: DataChannelSendRecv, label: "#other"},
	}
	got := map[string]*member{}
	for _, s := range members {
		d := chat(s.dir)
		d.Compress, d.SenderConnectionID = s.compress, s.header
		if s.label != "" {
			d.Label = s.label
		}
		r := messagingReq(d)
		r.DataChannelSignaling = false
		if s.name == "S" {
			r.BundleID = "b-S"
		} else {
			r.BundleID = s.bundle
		}
		m := e.join(s.name, r)
		m.connect(t)
		got[s.name] = m
	}
	src := got["S"]
	src.tr.dc("#chat").h.OnMessage([]byte("ping"), true)
	sid := src.c.ID()
	want := map[string][]string{
		"S": nil, "R1": {"ping"}, "R2": {sid + "ping"}, "R3": {"ping"}, "R4": {sid + "ping"},
		"SO": nil, "SB": nil, "OL": nil,
	}
	for name, w := range want {
		d := got[name].tr.dcs[0]
		msgs := d.take()
		var texts []string
		for _, m := range msgs {
			b := m.data
			if d.cfg.Label == "#chat" && specOf(members, name).compress {
				if m.isString {
					t.Errorf("%s: compressed message sent as a string", name)
				}
				b = mustInflate(t, b)
			} else if !m.isString {
				t.Errorf("%s: a string message was forwarded as binary", name)
			}
			texts = append(texts, string(b))
		}
		if strings.Join(texts, ",") != strings.Join(w, ",") {
			t.Errorf("%s got %q, want %q", name, texts, w)
		}
	}
	if got := counter(t, e.prm, "hayate_room_messaging_deliveries_total"); got != 4 {
		t.Errorf("deliveries %v, want 4", got)
	}

	// A recvonly label cannot send: dropped and counted.
	got["R1"].tr.dc("#chat").h.OnMessage([]byte("nope"), false)
	for name, m := range got {
		if msgs := m.tr.dcs[0].take(); len(msgs) != 0 {
			t.Errorf("%s got %d messages from a recvonly sender", name, len(msgs))
		}
	}
	if got := counter(t, e.prm, "hayate_room_datachannel_drops_total", "direction"); got != 1 {
		t.Errorf("direction drops %v", got)
	}

	// A receiver that left is no longer served; one whose buffer is full
	// loses the message, counted.
	got["R1"].c.Leave()
	got["R2"].tr.dcs[0].failSend = dataplane.ErrDataChannelBufferFull
	src.tr.dc("#chat").h.OnMessage([]byte("again"), false)
	if n := len(got["R1"].tr.dcs[0].take()); n != 0 {
		t.Errorf("a connection that left got %d messages", n)
	}
	if got := counter(t, e.prm, "hayate_room_datachannel_drops_total", "buffer_full"); got != 1 {
		t.Errorf("buffer_full drops %v", got)
	}
	if n := len(got["R3"].tr.dcs[0].take()); n != 1 {
		t.Errorf("R3 got %d messages, want 1", n)
	}
}

type fanSpec struct {
	name     string
	dir      DataChannelDirection
	compress bool
	header   bool
	bundle   string
	label    string
}

func specOf(list []fanSpec, name string) fanSpec {
	for _, s := range list {
		if s.name == name {
			return s
		}
	}
	return fanSpec{}
}

// countingDC is a DataChannel whose Send only counts (no copy), for the
// allocation test.
type countingDC struct{ n, bytes int }

func (d *countingDC) Send(b []byte, _ bool) error { d.n++; d.bytes += len(b); return nil }
func (d *countingDC) Close() error                { return nil }

// TestFanOutAllocs: fanning a message out to receivers without compress,
// with and without the header, allocates nothing.
func TestFanOutAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("sync.Pool drops items under -race")
	}
	e := newEnv(t)
	var ms []*member
	for i, header := range []bool{false, false, true, false} {
		d := chat(DataChannelSendRecv)
		d.SenderConnectionID = header
		r := messagingReq(d)
		r.DataChannelSignaling = false
		m := e.join(string(rune('A'+i)), r)
		m.connect(t)
		ms = append(ms, m)
	}
	counters := make([]*countingDC, len(ms))
	ch := ms[0].c.ch
	ch.mu.Lock()
	for i, m := range ms {
		counters[i] = &countingDC{}
		m.c.dcs[0].ch = counters[i]
	}
	ch.rebuildLabelsLocked()
	ch.mu.Unlock()
	src := ms[0].c.dcs[0]
	msg := bytes.Repeat([]byte("x"), 1024)
	if n := testing.AllocsPerRun(200, func() { src.OnMessage(msg, false) }); n != 0 {
		t.Errorf("fan-out allocates %v times per message", n)
	}
	if counters[0].n != 0 || counters[1].n == 0 || counters[2].bytes != counters[1].bytes+26*counters[1].n/1 {
		t.Errorf("deliveries: sender %d, plain %d (%d B), header %d (%d B)",
			counters[0].n, counters[1].n, counters[1].bytes, counters[2].n, counters[2].bytes)
	}
}

// BenchmarkFanOut reports the control plane's cost of one message fanned
// out to 10 receivers (the plane's SCTP work is not included).
func BenchmarkFanOut(b *testing.B) {
	for _, tc := range []struct {
		name             string
		header, compress bool
	}{{"plain", false, false}, {"header", true, false}, {"compress", false, true}} {
		b.Run(tc.name, func(b *testing.B) {
			t := &testing.T{}
			e := newEnv(t)
			var eps []*endpoint
			for i := range 11 {
				d := chat(DataChannelSendRecv)
				d.SenderConnectionID, d.Compress = tc.header, tc.compress && i > 0
				r := messagingReq(d)
				r.DataChannelSignaling = false
				p := &fakePeer{name: "x"}
				c, err := e.reg.Join(r, p)
				if err != nil {
					b.Fatal(err)
				}
				e.fac.mu.Lock()
				tr := e.fac.transports[len(e.fac.transports)-1]
				e.fac.mu.Unlock()
				if err := c.Answer(answerFor(t, lastSDP(t, p.take(t)))); err != nil {
					b.Fatal(err)
				}
				tr.events.OnConnected()
				eps = append(eps, c.dcs[0])
			}
			ch := eps[0].c.ch
			ch.mu.Lock()
			for _, ep := range eps {
				ep.ch = &countingDC{}
			}
			ch.rebuildLabelsLocked()
			ch.mu.Unlock()
			msg := bytes.Repeat([]byte("0123456789abcdef"), 64)
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				eps[0].OnMessage(msg, false)
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/10, "ns/delivery")
		})
	}
}

func TestDataChannelClientClose(t *testing.T) {
	e := newEnv(t)
	a := e.join("A", messagingReq(chat(DataChannelSendRecv)))
	a.connect(t)
	b := e.join("B", messagingReq(chat(DataChannelSendRecv)))
	b.connect(t)
	a.tr.dc("#chat").end() // the client closed the channel
	e.reg.Wait()
	if a.p.closeCode != 1001 || a.p.closeReason != `CLIENT-CLOSED: DataChannel "#chat" closed` {
		t.Errorf("peer closed %d %q", a.p.closeCode, a.p.closeReason)
	}
	if !a.tr.isClosed() {
		t.Error("transport not closed")
	}
	for _, d := range a.tr.dcs {
		if d.cfg.Label != "#chat" && !d.isClosed() {
			t.Errorf("channel %s not closed", d.cfg.Label)
		}
	}
	if got := dcTexts(t, a.tr.dc(LabelSignaling)); len(got) != 0 {
		t.Errorf("a close message was sent to a client that closed itself: %q", got)
	}
	// B no longer delivers to A.
	b.tr.dc("#chat").h.OnMessage([]byte("x"), false)
	if n := len(a.tr.dc("#chat").take()); n != 0 {
		t.Errorf("A got %d messages after leaving", n)
	}
	if got := counter(t, e.prm, "hayate_room_connections"); got != 1 {
		t.Errorf("%v connections, want B only", got)
	}
}

// TestDataChannelSignalingOverflow: a switched client whose notify
// channel's buffer is full is closed with 4409, with the reason on its
// signaling channel.
func TestDataChannelSignalingOverflow(t *testing.T) {
	e := newEnv(t)
	a := e.join("A", messagingReq())
	a.connect(t)
	a.tr.dc(LabelNotify).failSend = dataplane.ErrDataChannelBufferFull
	b := e.join("B", req(RoleSendRecv))
	b.connect(t)
	e.reg.Wait()
	if a.p.closeCode != 4409 || !strings.HasPrefix(a.p.closeReason, "SEND-QUEUE-FULL") {
		t.Errorf("A closed %d %q", a.p.closeCode, a.p.closeReason)
	}
	got := dcTexts(t, a.tr.dc(LabelSignaling))
	if len(got) != 1 || !strings.Contains(got[0], `"code":4409`) {
		t.Errorf("A's signaling channel got %q", got)
	}
	if got := counter(t, e.prm, "hayate_room_datachannel_drops_total", "buffer_full"); got != 1 {
		t.Errorf("buffer_full %v", got)
	}
	if !a.tr.isClosed() {
		t.Error("A's transport not closed")
	}
}

func TestDataChannelOpenFailure(t *testing.T) {
	e := newEnv(t)
	a := e.join("A", messagingReq())
	a.tr.failOpen = errors.New("sctp down")
	a.connect(t)
	if a.p.closeCode != 4500 || !strings.Contains(a.p.closeReason, `opening DataChannel "signaling": sctp down`) {
		t.Errorf("closed %d %q", a.p.closeCode, a.p.closeReason)
	}
}

func TestRPCMetadataExt(t *testing.T) {
	e := newEnv(t)
	a := e.join("A", messagingReq())
	a.connect(t)
	b := e.join("B", req(RoleRecvOnly))
	b.connect(t)
	b.p.take(t)
	a.tr.dc(LabelNotify).take()

	md, err := a.c.PutNotifyMetadataExtItem("k", json.RawMessage(`"v"`), true)
	if err != nil {
		t.Fatal(err)
	}
	if got, _ := json.Marshal(md); string(got) != `{"k":"v"}` {
		t.Errorf("result %s", got)
	}
	want := `{"type":"push","data":{"action":"PutMetadataItem","connection_id":"` + a.c.ID() + `","key":"k","type":"signaling_notify_metadata_ext","value":"v"}}`
	if got := dcTexts(t, a.tr.dc(LabelPush)); len(got) != 1 || got[0] != want {
		t.Errorf("A's push channel got %q\nwant %s", got, want)
	}
	if got := b.p.msgs; len(got) != 1 || string(got[0]) != want {
		t.Errorf("B (WebSocket) got %q", got)
	}
	b.p.take(t)

	md, err = a.c.PutNotifyMetadataExt(map[string]json.RawMessage{"a": json.RawMessage(`1`)}, false)
	if err != nil {
		t.Fatal(err)
	}
	if got, _ := json.Marshal(md); string(got) != `{"a":1}` {
		t.Errorf("result %s", got)
	}
	if got := b.p.take(t); len(got) != 0 {
		t.Errorf("push without push: true: %s", types(got))
	}
	stored, err := e.reg.MetadataExt(a.c.ID())
	if err != nil {
		t.Fatal(err)
	}
	if got, _ := json.Marshal(stored); string(got) != `{"a":1}` {
		t.Errorf("the API reads %s", got)
	}
	md, _ = a.c.PutNotifyMetadataExt(map[string]json.RawMessage{}, true)
	if got, _ := json.Marshal(md); string(got) != `{}` {
		t.Errorf("emptied: %s", got)
	}
	a.c.Leave()
	if _, err := a.c.PutNotifyMetadataExtItem("k", json.RawMessage(`1`), false); !errors.Is(err, ErrLeft) {
		t.Errorf("after leave: %v", err)
	}
}

func TestJoinValidationDataChannels(t *testing.T) {
	many := make([]DataChannelRequest, MaxDataChannels+1)
	for i := range many {
		many[i] = chat(DataChannelSendRecv)
		many[i].Label = "#" + strings.Repeat("x", i+1)
	}
	cases := []struct {
		name   string
		mutate func(*JoinRequest)
		want   string
	}{
		{"no media, no DataChannels", func(r *JoinRequest) { r.DataChannelSignaling, r.DataChannels = false, nil }, "both false and no DataChannel"},
		{"duplicate label", func(r *JoinRequest) { r.DataChannels = append(r.DataChannels, chat(DataChannelRecvOnly)) }, `data_channels[1].label "#chat" appears twice`},
		{"label without #", func(r *JoinRequest) { r.DataChannels[0].Label = "chat" }, `data_channels[0].label "chat"`},
		{"bare #", func(r *JoinRequest) { r.DataChannels[0].Label = "#" }, `data_channels[0].label "#"`},
		{"direction", func(r *JoinRequest) { r.DataChannels[0].Direction = "both" }, `data_channels[0].direction "both"`},
		{"exclusive reliability", func(r *JoinRequest) { r.DataChannels[0].MaxRetransmits, r.DataChannels[0].MaxPacketLifeTime = 1, 1 }, "exclusive"},
		{"too many", func(r *JoinRequest) { r.DataChannels = many }, "33 entries"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t)
			r := messagingReq(chat(DataChannelSendRecv))
			tc.mutate(&r)
			_, err := e.reg.Join(r, &fakePeer{})
			if !errors.Is(err, ErrInvalidRequest) || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("err = %v, want ErrInvalidRequest naming %q", err, tc.want)
			}
		})
	}
	// Messaging only, and messaging labels alone, are accepted.
	e := newEnv(t)
	for _, r := range []JoinRequest{messagingReq(), func() JoinRequest {
		r := messagingReq(chat(DataChannelSendOnly))
		r.DataChannelSignaling = false
		return r
	}()} {
		if _, err := e.reg.Join(r, &fakePeer{}); err != nil {
			t.Errorf("join %+v: %v", r, err)
		}
	}
	if _, err := NewRegistry(Config{Transports: &fakeFactory{}, DataChannelMaxMessageSize: 10}); !errors.Is(err, ErrInvalidRequest) {
		t.Errorf("tiny DataChannelMaxMessageSize accepted: %v", err)
	}
}

// TestSwitchWaitsForTheClient: switched goes out only once the client has
// answered on the stats channel (its channels have all arrived), or after
// the fallback delay for a client that does not answer.
func TestSwitchWaitsForTheClient(t *testing.T) {
	e := newEnv(t)
	a := e.join("A", messagingReq(chat(DataChannelSendRecv)))
	a.answer(t, a.p.take(t))
	a.tr.events.OnConnected()
	if got := types(a.p.take(t)); got != "notify:connection.created" {
		t.Errorf("before the client answered on stats A got %s", got)
	}
	if err := a.c.Push(1); err != nil {
		t.Fatal(err)
	}
	if got := types(a.p.take(t)); got != "push" {
		t.Errorf("before the switch a push went %s, want the WebSocket", got)
	}
	stats := a.tr.dc(LabelStats)
	if got := dcTexts(t, stats); len(got) != 1 || got[0] != `{"type":"req-stats"}` {
		t.Fatalf("stats channel got %q", got)
	}
	if last := a.tr.dcs[len(a.tr.dcs)-1].cfg.Label; last != LabelStats {
		t.Errorf("%s opened last, want stats (after every other channel)", last)
	}
	stats.h.OnMessage([]byte(`{"type":"stats","reports":[]}`), true)
	if got := types(a.p.take(t)); got != "switched" {
		t.Errorf("after the answer on stats A got %s", got)
	}
	stats.h.OnMessage([]byte(`{"type":"stats","reports":[]}`), true)
	if got := a.p.take(t); len(got) != 0 {
		t.Errorf("a second stats answer sent %s", types(got))
	}

	// A client that never answers is switched after switchFallback.
	defer func(d time.Duration) { switchFallback = d }(switchFallback)
	switchFallback = 10 * time.Millisecond
	b := e.join("B", messagingReq())
	b.answer(t, b.p.take(t))
	b.tr.events.OnConnected()
	switched := func() bool {
		b.p.mu.Lock()
		defer b.p.mu.Unlock()
		return b.p.switched != nil
	}
	for deadline := time.Now().Add(5 * time.Second); !switched() && time.Now().Before(deadline); {
		time.Sleep(5 * time.Millisecond)
	}
	if !switched() {
		t.Fatal("B was never switched")
	}
}
