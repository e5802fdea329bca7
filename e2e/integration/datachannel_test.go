package integration

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"maps"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/hayate-sfu/hayate/bench/soraclient"
	dto "github.com/prometheus/client_model/go"
)

// DataChannels end to end: pion clients (bench/soraclient) take the
// channels the server opens, as the SDKs do.

var signalingLabels = []string{"signaling", "notify", "push", "stats", "rpc"}

// withConnect adds fields to the client's connect message.
func withConnect(extra map[string]any) clientOpt {
	return func(c *soraclient.Config) {
		if c.Extra == nil {
			c.Extra = map[string]any{}
		}
		maps.Copy(c.Extra, extra)
	}
}

// dcSignaling asks for DataChannel signaling with ignore_disconnect_websocket.
var dcSignaling = withConnect(map[string]any{"data_channel_signaling": true, "ignore_disconnect_websocket": true})

// messaging makes a client what the JS SDK's messaging() makes: no media,
// role sendonly (the caller passes it), DataChannel signaling and labels.
func messaging(labels ...map[string]any) clientOpt {
	return func(c *soraclient.Config) {
		c.Audio, c.Video = false, false
		withConnect(map[string]any{"data_channel_signaling": true, "data_channels": labels})(c)
	}
}

func chatLabel(direction string, extra ...map[string]any) map[string]any {
	m := map[string]any{"label": "#chat", "direction": direction}
	for _, x := range extra {
		maps.Copy(m, x)
	}
	return m
}

var senderHeader = map[string]any{"header": []any{map[string]any{"type": "sender_connection_id"}}}

func (e *env) waitOpen(c *soraclient.Client, labels ...string) {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(e.ctx, 10*time.Second)
	defer cancel()
	if err := c.WaitDataChannelsOpen(ctx, labels...); err != nil {
		e.t.Fatalf("%s: %v (opened: %v)", c.ConnectionID(), err, c.DataChannelLabels())
	}
}

func (e *env) waitEvent(c *soraclient.Client, what string, match func(soraclient.Event) bool) soraclient.Event {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(e.ctx, 10*time.Second)
	defer cancel()
	ev, err := c.WaitEvent(ctx, match)
	if err != nil {
		e.t.Fatalf("%s got no %s: %v\nevents: %s", c.ConnectionID(), what, err, describeEvents(c))
	}
	return ev
}

// counterValue reads a counter of the server's registry; labels are
// name=value pairs.
func (e *env) counterValue(name string, labels ...string) float64 {
	e.t.Helper()
	mfs, err := e.srv.Registry().Gather()
	if err != nil {
		e.t.Fatal(err)
	}
	var sum float64
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			if hasLabels(m, labels) {
				sum += m.GetCounter().GetValue()
			}
		}
	}
	return sum
}

func hasLabels(m *dto.Metric, pairs []string) bool {
	for i := 0; i+1 < len(pairs); i += 2 {
		found := false
		for _, l := range m.GetLabel() {
			if l.GetName() == pairs[i] && l.GetValue() == pairs[i+1] {
				found = true
			}
		}
		if !found {
			return false
		}
	}
	return true
}

// TestDataChannelSignaling: a sendrecv client with DataChannel signaling
// and ignore_disconnect_websocket gets switched on the WebSocket, closes
// its WebSocket as the SDK does, and goes on: the re-offers for the second
// and the third participant arrive on the signaling channel and are
// answered there, media flows, and disconnect on the channel ends it with
// every channel closed by the server.
func TestDataChannelSignaling(t *testing.T) {
	e := newEnv(t, 60*time.Second)
	const ch = "dc-signaling"
	a := e.connect(ch, "sendrecv", dcSignaling)
	ra := collect(e, a)
	sw := e.waitEvent(a, "switched", func(ev soraclient.Event) bool { return ev.Type == "switched" })
	if !strings.Contains(string(sw.Raw), `"ignore_disconnect_websocket":true`) {
		t.Errorf("switched %s", sw.Raw)
	}
	e.waitOpen(a, signalingLabels...)
	if !strings.Contains(e.log.String(), `after="the client answered on stats"`) {
		t.Error("the switch did not wait for the client's answer on the stats channel")
	}
	var offer struct {
		DataChannels []struct {
			Label    string `json:"label"`
			Compress *bool  `json:"compress"`
		} `json:"data_channels"`
		RPCMethods []string `json:"rpc_methods"`
	}
	if err := json.Unmarshal(a.Offer(), &offer); err != nil {
		t.Fatal(err)
	}
	var labels []string
	for _, d := range offer.DataChannels {
		labels = append(labels, d.Label)
		if d.Compress == nil {
			t.Errorf("data_channels entry %s without compress", d.Label)
		}
	}
	if !slices.Equal(labels, signalingLabels) || len(offer.RPCMethods) != 2 {
		t.Errorf("offer.data_channels %v rpc_methods %v", labels, offer.RPCMethods)
	}

	a.CloseWebSocket()
	<-a.Done()

	b := e.connect(ch, "sendrecv")
	e.waitSees(a, b.ConnectionID()) // the re-offer with B's tracks
	if n := a.DataChannelReceived("signaling"); n < 1 {
		t.Fatalf("A's re-offer did not come on the signaling channel (%d messages there)", n)
	}
	time.Sleep(settle) // the re-answer, sent on the channel, is applied
	pb := publish(e, b, 'B', 0, 20*time.Millisecond, video)
	rec, err := ra.track(e.ctx, b.ConnectionID(), video)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(e.ctx, 10*time.Second)
	if !rec.waitFor(ctx, atLeast(20)) {
		t.Errorf("A (WebSocket closed) got %d of B's video packets", len(rec.snapshot()))
	}
	cancel()
	pb.stopWait()

	before := a.DataChannelReceived("signaling")
	c := e.connect(ch, "sendrecv")
	e.waitSees(a, c.ConnectionID()) // the third participant's re-offer
	if n := a.DataChannelReceived("signaling"); n <= before {
		t.Errorf("the third participant's re-offer did not come on the signaling channel")
	}
	e.waitEvent(a, "C's connection.created on the notify channel", func(ev soraclient.Event) bool {
		return ev.EventType == "connection.created" && ev.ConnectionID == c.ConnectionID()
	})
	if a.DataChannelReceived("notify") < 2 {
		t.Errorf("notifies did not come on the notify channel (%d)", a.DataChannelReceived("notify"))
	}

	ctx, cancel = context.WithTimeout(e.ctx, 10*time.Second)
	defer cancel()
	if err := a.DisconnectDataChannel(ctx); err != nil {
		t.Fatalf("disconnect over the DataChannel: %v", err)
	}
	e.waitEvent(b, "A's connection.destroyed", func(ev soraclient.Event) bool {
		return ev.EventType == "connection.destroyed" && ev.ConnectionID == a.ConnectionID()
	})
	for _, ev := range a.Events() {
		if ev.Type == "close" && ev.Raw != nil {
			t.Errorf("a close message was sent to a client that disconnected: %s", ev.Raw)
		}
	}
}

// TestDataChannelWebSocketLoss: without ignore_disconnect_websocket, the
// WebSocket's end ends a switched connection.
func TestDataChannelWebSocketLoss(t *testing.T) {
	e := newEnv(t, 30*time.Second)
	a := e.connect("dc-ws-loss", "sendrecv", withConnect(map[string]any{"data_channel_signaling": true}))
	b := e.connect("dc-ws-loss", "recvonly")
	e.waitEvent(a, "switched", func(ev soraclient.Event) bool { return ev.Type == "switched" })
	a.CloseWebSocket()
	e.waitEvent(b, "A's connection.destroyed", func(ev soraclient.Event) bool {
		return ev.EventType == "connection.destroyed" && ev.ConnectionID == a.ConnectionID()
	})
	ctx, cancel := context.WithTimeout(e.ctx, 10*time.Second)
	defer cancel()
	if err := a.WaitDataChannelsClosed(ctx); err != nil {
		t.Error(err)
	}
}

// TestMessaging: messaging-only clients on one #chat label with every
// direction, the sender_connection_id header and compression.
func TestMessaging(t *testing.T) {
	e := newEnv(t, 60*time.Second)
	const ch = "messaging"
	s := e.connect(ch, "sendonly", messaging(chatLabel("sendrecv")))
	r1 := e.connect(ch, "sendonly", messaging(chatLabel("recvonly", senderHeader)))
	r2 := e.connect(ch, "sendonly", messaging(chatLabel("sendrecv", map[string]any{"compress": true})))
	so := e.connect(ch, "sendonly", messaging(chatLabel("sendonly")))
	all := []*soraclient.Client{s, r1, r2, so}
	for _, c := range all {
		e.waitOpen(c, "#chat")
	}
	name := map[*soraclient.Client]string{s: "S", r1: "R1 (recvonly, header)", r2: "R2 (compress)", so: "SO (sendonly)"}

	send := func(from *soraclient.Client, text string) {
		t.Helper()
		if err := from.SendMessage("#chat", []byte(text)); err != nil {
			t.Fatalf("%s sending: %v", name[from], err)
		}
	}
	// expect reads every client's messages until each has want[c] (in order).
	expect := func(what string, want map[*soraclient.Client][]string) {
		t.Helper()
		ctx, cancel := context.WithTimeout(e.ctx, 10*time.Second)
		defer cancel()
		for _, c := range all {
			var got []string
			for len(got) < len(want[c]) {
				select {
				case m := <-c.Messages():
					got = append(got, string(m.Data))
				case <-ctx.Done():
					t.Fatalf("%s: %s got %q, want %q", what, name[c], got, want[c])
				}
			}
			if !slices.Equal(got, want[c]) {
				t.Errorf("%s: %s got %q, want %q", what, name[c], got, want[c])
			}
		}
		time.Sleep(200 * time.Millisecond) // nothing more arrives
		for _, c := range all {
			select {
			case m := <-c.Messages():
				t.Errorf("%s: %s got the extra message %q", what, name[c], m.Data)
			default:
			}
		}
	}

	send(s, "hello")
	expect("S sends", map[*soraclient.Client][]string{r1: {s.ConnectionID() + "hello"}, r2: {"hello"}})
	send(r2, "compressed")
	expect("R2 sends compressed", map[*soraclient.Client][]string{s: {"compressed"}, r1: {r2.ConnectionID() + "compressed"}})
	send(so, "from sendonly")
	expect("SO sends", map[*soraclient.Client][]string{s: {"from sendonly"}, r1: {so.ConnectionID() + "from sendonly"}, r2: {"from sendonly"}})
	send(r1, "forbidden")
	expect("R1 (recvonly) sends", nil)
	if n := e.counterValue("hayate_room_datachannel_drops_total", "reason", "direction"); n != 1 {
		t.Errorf("direction drops counted %v, want 1", n)
	}
	// A raw (uncompressed) message on a compressed label is refused, counted.
	if err := r2.DataChannel("#chat").Send([]byte("not zlib")); err != nil {
		t.Fatal(err)
	}
	expect("R2 sends a bad stream", nil)
	if n := e.counterValue("hayate_room_datachannel_drops_total", "reason", "decompress"); n != 1 {
		t.Errorf("decompress drops counted %v, want 1", n)
	}
	if n := e.counterValue("hayate_room_messaging_deliveries_total"); n != 7 {
		t.Errorf("deliveries counted %v, want 7", n)
	}
	// The SCTP packets those messages rode in, as GetStatsReport reports them.
	var report map[string]any
	if err := json.Unmarshal(e.mustAPI("Sora_20171010.GetStatsReport", nil), &report); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"total_received_sctp", "total_received_sctp_byte_size", "total_sent_sctp", "total_sent_sctp_byte_size"} {
		if v, _ := report[k].(float64); v < 4 {
			t.Errorf("GetStatsReport %s = %v, want at least one per message (4 sent, 7 delivered)", k, report[k])
		}
	}
}

// TestMessagingWithMedia: messaging labels beside media, without
// DataChannel signaling (signaling stays on the WebSocket).
func TestMessagingWithMedia(t *testing.T) {
	e := newEnv(t, 40*time.Second)
	opt := withConnect(map[string]any{"data_channels": []any{chatLabel("sendrecv")}})
	a := e.connect("messaging-media", "sendrecv", opt)
	b := e.connect("messaging-media", "sendrecv", opt)
	e.waitOpen(a, "#chat")
	e.waitOpen(b, "#chat")
	if labels := a.DataChannelLabels(); len(labels) != 1 {
		t.Errorf("channels %v, want only #chat", labels)
	}
	e.waitSees(a, b.ConnectionID()) // the re-offer came on the WebSocket
	if err := a.SendMessage("#chat", []byte("hi")); err != nil {
		t.Fatal(err)
	}
	select {
	case m := <-b.Messages():
		if string(m.Data) != "hi" {
			t.Errorf("B got %q", m.Data)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("B got no message")
	}
}

// apiCall posts one operation to the server's HTTP API.
func (e *env) apiCall(target string, body any) (int, string) {
	e.t.Helper()
	b, _ := json.Marshal(body)
	req, err := http.NewRequestWithContext(e.ctx, http.MethodPost, e.srv.APIURL(), bytes.NewReader(b))
	if err != nil {
		e.t.Fatal(err)
	}
	req.Header.Set("x-sora-target", target)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	out, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(out)
}

// TestDataChannelServerDisconnect: DisconnectConnection (the HTTP API) and
// a server shutdown reach a DataChannel-only client as
// {"type":"close","code":1000,"reason":…} on the signaling channel, and
// then every channel closes.
func TestDataChannelServerDisconnect(t *testing.T) {
	e := newEnv(t, 40*time.Second)
	const ch = "dc-disconnect"
	a := e.connect(ch, "sendonly", messaging(chatLabel("sendrecv")), dcSignaling)
	b := e.connect(ch, "sendonly", messaging(chatLabel("sendrecv")), dcSignaling)
	for _, c := range []*soraclient.Client{a, b} {
		e.waitEvent(c, "switched", func(ev soraclient.Event) bool { return ev.Type == "switched" })
		e.waitOpen(c, append(signalingLabels, "#chat")...)
		c.CloseWebSocket()
	}
	code, body := e.apiCall("Sora_20151104.DisconnectConnection", map[string]any{"channel_id": ch, "connection_id": a.ConnectionID()})
	if code != http.StatusOK {
		t.Fatalf("DisconnectConnection: %d %s", code, body)
	}
	closeEv := func(c *soraclient.Client) soraclient.Event {
		return e.waitEvent(c, "close on the signaling channel", func(ev soraclient.Event) bool { return ev.Type == "close" && ev.Raw != nil })
	}
	if ev := closeEv(a); ev.Code != 1000 || ev.Reason != "DISCONNECTED-API" {
		t.Errorf("A's close %s", ev.Raw)
	}
	ctx, cancel := context.WithTimeout(e.ctx, 10*time.Second)
	defer cancel()
	if err := a.WaitDataChannelsClosed(ctx); err != nil {
		t.Error(err)
	}

	if err := e.srv.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	if ev := closeEv(b); ev.Code != 1000 || ev.Reason != "SHUTDOWN" {
		t.Errorf("B's close %s", ev.Raw)
	}
	if err := b.WaitDataChannelsClosed(ctx); err != nil {
		t.Error(err)
	}
}

// TestDataChannelRPC: the granted notify-metadata methods on the rpc
// channel, the push they send, and the JSON-RPC errors.
func TestDataChannelRPC(t *testing.T) {
	e := newEnv(t, 30*time.Second)
	const ch = "dc-rpc"
	a := e.connect(ch, "sendonly", messaging())
	b := e.connect(ch, "recvonly")
	e.waitOpen(a, "rpc", "push")
	ctx, cancel := context.WithTimeout(e.ctx, 10*time.Second)
	defer cancel()
	res, err := a.RPC(ctx, "2025.2.0/PutSignalingNotifyMetadataItem", map[string]any{"key": "status", "value": "away", "push": true})
	if err != nil || string(res) != `{"status":"away"}` {
		t.Fatalf("PutSignalingNotifyMetadataItem: %s %v", res, err)
	}
	for _, c := range []*soraclient.Client{a, b} {
		ev := e.waitEvent(c, "the metadata push", func(ev soraclient.Event) bool { return ev.Type == "push" })
		if !strings.Contains(string(ev.Raw), `"action":"PutMetadataItem"`) || !strings.Contains(string(ev.Raw), `"type":"signaling_notify_metadata_ext"`) {
			t.Errorf("push %s", ev.Raw)
		}
	}
	if a.DataChannelReceived("push") != 1 {
		t.Error("A's push did not come on its push channel")
	}
	code, body := e.apiCall("Sora_20201124.GetSignalingNotifyMetadata", map[string]any{"channel_id": ch, "connection_id": a.ConnectionID()})
	if code != http.StatusOK || !strings.Contains(body, `"status"`) {
		t.Errorf("the API reads %d %s", code, body)
	}
	_, err = a.RPC(ctx, "2025.2.0/PutSignalingNotifyMetadata", map[string]any{"metadata": []int{1}})
	var rerr *soraclient.RPCError
	if !errors.As(err, &rerr) || rerr.Code != -32602 {
		t.Errorf("bad params: %v", err)
	}
	_, err = a.RPC(ctx, "2025.2.0/RequestSimulcastRid", map[string]any{"rid": "r0"})
	if !errors.As(err, &rerr) || rerr.Code != -32601 {
		t.Errorf("unsupported method: %v", err)
	}
}
