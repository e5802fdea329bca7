package signaling

import (
	"context"
	"encoding/json"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/hayate-sfu/hayate/ctrl/room"
)

// joinDC connects with extra connect fields, answers, reports the
// transport connected and returns the offer, the fake transport and the
// room connection. The WebSocket has received the offer; the caller reads
// on from there.
func (ts *testServer) joinDC(t *testing.T, c *client, role string, extra map[string]any) (map[string]any, *fakeTransport, *room.Connection) {
	t.Helper()
	m := connectMsg(role)
	for k, v := range extra {
		m[k] = v
	}
	c.send(m)
	o := c.recv()
	if o["type"] != "offer" {
		t.Fatalf("got %v, want offer", o)
	}
	c.send(map[string]any{"type": "answer", "sdp": answerFor(t, o["sdp"].(string))})
	id := o["connection_id"].(string)
	var tr *fakeTransport
	ts.waitFor(t, "answer applied", func() bool {
		tr = ts.fakes.get(id)
		if tr == nil {
			return false
		}
		tr.mu.Lock()
		defer tr.mu.Unlock()
		return tr.remoteSet
	})
	rc, ok := ts.Rooms().Connection(id)
	if !ok {
		t.Fatal("connection not in the room")
	}
	tr.events.OnConnected()
	if d := tr.dc(room.LabelStats); d != nil { // the SDK answers the req-stats sent with the channels
		d.h.OnMessage([]byte(`{"type":"stats","reports":[]}`), true)
	}
	return o, tr, rc
}

var dcSignaling = map[string]any{"data_channel_signaling": true, "ignore_disconnect_websocket": true}

// expectSwitched reads the WebSocket up to switched.
func expectSwitched(t *testing.T, c *client, ignore bool) {
	t.Helper()
	for range 10 {
		m := c.recv()
		if m["type"] == "switched" {
			if m["ignore_disconnect_websocket"] != ignore {
				t.Errorf("switched %v", m)
			}
			return
		}
	}
	t.Fatal("no switched on the WebSocket")
}

// TestDataChannelSignalingSwitch: with ignore_disconnect_websocket the
// connection survives its WebSocket; a re-offer then arrives on the
// signaling channel and the re-answer is taken from it; disconnect on the
// channel ends the connection cleanly, channels before the transport.
func TestDataChannelSignalingSwitch(t *testing.T) {
	ts := newTestServer(t)
	a := dial(t, ts.url)
	o, tr, rc := ts.joinDC(t, a, "sendrecv", dcSignaling)
	if o["data_channel_signaling"] != true || o["ignore_disconnect_websocket"] != true || len(o["data_channels"].([]any)) != 5 {
		t.Errorf("offer DataChannel fields %v %v %v", o["data_channel_signaling"], o["ignore_disconnect_websocket"], o["data_channels"])
	}
	expectSwitched(t, a, true)
	a.ws.Close(websocket.StatusNormalClosure, "") // what the SDK does on switched
	ts.waitFor(t, "the WebSocket close to be seen", func() bool {
		return ts.counter(t, "hayate_signaling_websockets_closed_after_switch_total") == 1
	})
	if n := len(ts.Rooms().Connections("sora")); n != 1 {
		t.Fatalf("%d connections after the WebSocket closed, want 1", n)
	}

	b := dial(t, ts.url)
	ts.join(t, b, "sendrecv")
	idB := ts.Rooms().Connections("sora")[1].ConnectionID
	ts.fakes.get(idB).events.OnConnected()
	sig := tr.dc(room.LabelSignaling)
	re := sig.next(t, 0)
	if re["type"] != "re-offer" || !strings.Contains(re["sdp"].(string), "a=msid:"+idB+" ") {
		t.Fatalf("signaling channel got %v, want a re-offer with B's tracks", re["type"])
	}
	ans, _ := json.Marshal(map[string]any{"type": "re-answer", "sdp": answerFor(t, re["sdp"].(string))})
	sig.h.OnMessage(ans, true)
	ts.waitFor(t, "the re-answer to be applied", func() bool {
		tr.mu.Lock()
		defer tr.mu.Unlock()
		return tr.downs == 2
	})
	if n := tr.dc(room.LabelNotify).count(); n == 0 {
		t.Error("B's connection.created did not go on A's notify channel")
	}

	sig.h.OnMessage([]byte(`{"type":"disconnect","reason":"NO-ERROR"}`), true)
	ts.waitFor(t, "A to leave", func() bool { return len(ts.Rooms().Connections("sora")) == 1 })
	ts.Rooms().Wait()
	tr.mu.Lock()
	order := slices.Clone(tr.order)
	tr.mu.Unlock()
	if len(order) != 6 || order[5] != "transport close" {
		t.Errorf("close order %v, want the five channels, then the transport", order)
	}
	if n := sig.count(); n != 1 {
		t.Errorf("%d messages on the signaling channel, want only the re-offer (no close for a client's disconnect)", n)
	}
	ts.waitFor(t, "the close to be counted", func() bool {
		return ts.counter(t, "hayate_signaling_closes_total", "code", "1000", "reason", "TYPE-DISCONNECT") == 1
	})
	_ = rc
}

// TestDataChannelWebSocketLossEnds: without ignore_disconnect_websocket,
// losing the WebSocket ends a switched connection.
func TestDataChannelWebSocketLossEnds(t *testing.T) {
	ts := newTestServer(t)
	a := dial(t, ts.url)
	_, tr, _ := ts.joinDC(t, a, "sendrecv", map[string]any{"data_channel_signaling": true})
	expectSwitched(t, a, false)
	a.ws.Close(websocket.StatusNormalClosure, "")
	ts.waitFor(t, "the connection to end", func() bool { return len(ts.Rooms().Channels()) == 0 })
	ts.Rooms().Wait()
	if n := tr.dc(room.LabelSignaling).count(); n != 0 {
		t.Errorf("close message sent to a client that went away (%d messages)", n)
	}
}

// TestDataChannelServerClose: an API disconnect, a shutdown and bad input
// on the signaling channel each send {"type":"close"} on the channel
// before the channels and the transport close.
func TestDataChannelServerClose(t *testing.T) {
	cases := []struct {
		name   string
		end    func(ts *testServer, rc *room.Connection, tr *fakeTransport)
		code   float64
		reason string
	}{
		{"API disconnect", func(_ *testServer, rc *room.Connection, _ *fakeTransport) { rc.Disconnect("DISCONNECTED-API") },
			1000, "DISCONNECTED-API"},
		{"shutdown", func(ts *testServer, _ *room.Connection, _ *fakeTransport) {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			if err := ts.Shutdown(ctx); err != nil {
				t.Error(err)
			}
		}, 1000, "SHUTDOWN"},
		{"bad input on the signaling channel", func(_ *testServer, _ *room.Connection, tr *fakeTransport) {
			tr.dc(room.LabelSignaling).h.OnMessage([]byte(`{"type":"answer","sdp":"v=0"}`), true)
		}, CloseUnexpectedMessage, "UNEXPECTED-MESSAGE: answer on the signaling DataChannel"},
		{"transport failure", func(_ *testServer, _ *room.Connection, tr *fakeTransport) {
			tr.events.OnClosed(context.DeadlineExceeded)
		}, CloseTransportFailed, "TRANSPORT-CLOSED: context deadline exceeded"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ts := newTestServer(t)
			a := dial(t, ts.url)
			_, tr, rc := ts.joinDC(t, a, "sendrecv", dcSignaling)
			expectSwitched(t, a, true)
			a.ws.Close(websocket.StatusNormalClosure, "")
			ts.waitFor(t, "the WebSocket close to be seen", func() bool {
				return ts.counter(t, "hayate_signaling_websockets_closed_after_switch_total") == 1
			})
			tc.end(ts, rc, tr)
			m := tr.dc(room.LabelSignaling).next(t, 0)
			if m["type"] != "close" || m["code"] != tc.code || m["reason"] != tc.reason {
				t.Errorf("signaling channel got %v, want close %v %q", m, tc.code, tc.reason)
			}
			ts.waitFor(t, "the connection to leave", func() bool { return len(ts.Rooms().Channels()) == 0 })
			ts.Rooms().Wait()
			tr.mu.Lock()
			order := slices.Clone(tr.order)
			tr.mu.Unlock()
			if len(order) == 0 || order[len(order)-1] != "transport close" || slices.Index(order, "transport close") != len(order)-1 {
				t.Errorf("close order %v, want every channel before the transport", order)
			}
		})
	}
}

// TestDataChannelRPC drives the rpc channel with good and bad requests.
func TestDataChannelRPC(t *testing.T) {
	ts := newTestServer(t)
	a := dial(t, ts.url)
	o, tr, rc := ts.joinDC(t, a, "sendrecv", dcSignaling)
	if got, _ := json.Marshal(o["rpc_methods"]); string(got) != `["2025.2.0/PutSignalingNotifyMetadata","2025.2.0/PutSignalingNotifyMetadataItem"]` {
		t.Errorf("rpc_methods %s", got)
	}
	expectSwitched(t, a, true)
	rpc := tr.dc(room.LabelRPC)
	push := tr.dc(room.LabelPush)
	cases := []struct {
		req, resp string // resp "" means no response
	}{
		{`{"jsonrpc":"2.0","id":1,"method":"2025.2.0/PutSignalingNotifyMetadataItem","params":{"key":"k","value":{"x":1}}}`,
			`{"jsonrpc":"2.0","id":1,"result":{"k":{"x":1}}}`},
		{`{"jsonrpc":"2.0","id":"s","method":"2025.2.0/PutSignalingNotifyMetadata","params":{"metadata":{"a":"b"},"push":true}}`,
			`{"jsonrpc":"2.0","id":"s","result":{"a":"b"}}`},
		{`{"jsonrpc":"2.0","method":"2025.2.0/PutSignalingNotifyMetadataItem","params":{"key":"n","value":null}}`, ""},
		{`{"jsonrpc":"2.0","id":2,"method":"2025.2.0/Nope"}`,
			`{"jsonrpc":"2.0","id":2,"error":{"code":-32601,"message":"Method not found: 2025.2.0/Nope"}}`},
		{`{"jsonrpc":"2.0","id":3,"method":"2025.2.0/RequestSimulcastRid","params":{"rid":"r0"}}`,
			`{"jsonrpc":"2.0","id":3,"error":{"code":-32601,"message":"Method not found: 2025.2.0/RequestSimulcastRid is not granted to this connection (offer.rpc_methods)"}}`},
		{`{"jsonrpc":"2.0","id":4,"method":"2025.2.0/PutSignalingNotifyMetadata","params":{"metadata":"x"}}`,
			`{"jsonrpc":"2.0","id":4,"error":{"code":-32602,"message":"Invalid params: metadata: want an object, got a string"}}`},
		{`{"jsonrpc":"2.0","id":5,"method":"2025.2.0/PutSignalingNotifyMetadataItem","params":{"value":1}}`,
			`{"jsonrpc":"2.0","id":5,"error":{"code":-32602,"message":"Invalid params: key: missing"}}`},
		{`{"jsonrpc":"2.0","id":6,"method":"2025.2.0/PutSignalingNotifyMetadataItem","params":[1]}`,
			`{"jsonrpc":"2.0","id":6,"error":{"code":-32602,"message":"Invalid params: want an object"}}`},
		{`{"jsonrpc":"2.0","method":"2025.2.0/Nope"}`, ""},
		{`{"jsonrpc":"1.0","id":7,"method":"x"}`,
			`{"jsonrpc":"2.0","id":7,"error":{"code":-32600,"message":"Invalid Request: jsonrpc must be \"2.0\""}}`},
		{`{"jsonrpc":"2.0","id":{},"method":"x"}`,
			`{"jsonrpc":"2.0","id":null,"error":{"code":-32600,"message":"Invalid Request: id must be a string, a number or null"}}`},
		{`{"jsonrpc":"2.0","id":8}`,
			`{"jsonrpc":"2.0","id":8,"error":{"code":-32600,"message":"Invalid Request: method must be a string"}}`},
		{`[{"jsonrpc":"2.0","id":9,"method":"x"}]`,
			`{"jsonrpc":"2.0","id":null,"error":{"code":-32600,"message":"Invalid Request: batch requests are not supported"}}`},
		{`{"jsonrpc":`, `{"jsonrpc":"2.0","id":null,"error":{"code":-32700,"message":"Parse error: not a JSON text"}}`},
	}
	n := 0
	for _, tc := range cases {
		rpc.h.OnMessage([]byte(tc.req), true)
		if tc.resp == "" {
			continue
		}
		m := rpc.next(t, n)
		n++
		got, _ := json.Marshal(m)
		if string(got) != sameJSON(t, tc.resp) {
			t.Errorf("%s\n got %s\nwant %s", tc.req, got, tc.resp)
		}
	}
	// The notification ran (no response): its key is stored.
	ts.waitFor(t, "the notification to run", func() bool {
		md, _ := ts.Rooms().MetadataExt(rc.ID())
		_, ok := md["n"]
		return ok
	})
	if p := push.next(t, 0); p["type"] != "push" || p["data"].(map[string]any)["action"] != "PutMetadata" {
		t.Errorf("push channel got %v", p)
	}
	if got := ts.counter(t, "hayate_signaling_rpc_requests_total", "result", "ok"); got != 3 {
		t.Errorf("ok requests counted %v", got)
	}

	if _, rerr := callRPC(rc, rpcCall{method: room.RPCPutSignalingNotifyMetadata, params: json.RawMessage(`{"metadata":{}}`)}); rerr != nil {
		t.Errorf("granted method refused: %v", rerr)
	}
	// A connection without DataChannel signaling is granted nothing.
	b := dial(t, ts.url)
	ob := ts.join(t, b, "recvonly")
	rb, _ := ts.Rooms().Connection(ob["connection_id"].(string))
	_, rerr := callRPC(rb, rpcCall{method: room.RPCPutSignalingNotifyMetadata, params: json.RawMessage(`{"metadata":{}}`)})
	if rerr == nil || rerr.Code != rpcMethodNotFound || !strings.Contains(rerr.Message, "not granted") {
		t.Errorf("not granted: %+v", rerr)
	}
}

func sameJSON(t *testing.T, s string) string {
	t.Helper()
	var v any
	if err := json.Unmarshal([]byte(s), &v); err != nil {
		t.Fatalf("%v: %s", err, s)
	}
	b, _ := json.Marshal(v)
	return string(b)
}

func TestNewConfigDataChannels(t *testing.T) {
	if _, err := New(Config{transports: &fakeTransports{}, DataChannelMaxBufferedBytes: -1}); err == nil {
		t.Error("a negative DataChannelMaxBufferedBytes was accepted")
	}
	if _, err := New(Config{transports: &fakeTransports{}, DataChannelMaxBufferedBytes: 4096}); err != nil {
		t.Errorf("DataChannelMaxBufferedBytes 4096: %v", err)
	}
	if _, err := New(Config{transports: &fakeTransports{}, DataChannelMaxMessageSize: 100}); err == nil {
		t.Error("DataChannelMaxMessageSize 100 accepted")
	}
	if _, err := New(Config{transports: &fakeTransports{}, DataChannelMaxBufferedBytes: DefaultDataChannelMaxBufferedBytes}); err != nil {
		t.Error(err)
	}
}
