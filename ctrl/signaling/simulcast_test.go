package signaling

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/hayate-sfu/hayate/ctrl/room"
)

// TestDecodeLayers: connect's simulcast and spotlight fields reach the
// JoinRequest; the layer is simulcast_request_rid, else simulcast_rid,
// else the object form's rid.
func TestDecodeLayers(t *testing.T) {
	connect := func(extra string) []byte {
		return []byte(`{"type":"connect","role":"sendrecv","channel_id":"c"` + extra + `}`)
	}
	cases := []struct {
		name, extra string
		simulcast   bool
		rid         string
	}{
		{"none", ``, false, ""},
		{"simulcast true", `,"simulcast":true`, true, ""},
		{"simulcast false", `,"simulcast":false,"simulcast_rid":"r1"`, false, "r1"},
		{"object form", `,"simulcast":{"rid":"r0"}`, true, "r0"},
		{"object form without rid", `,"simulcast":{}`, true, ""},
		{"simulcast_rid wins over the object", `,"simulcast":{"rid":"r0"},"simulcast_rid":"r2"`, true, "r2"},
		{"simulcast_request_rid wins", `,"simulcast":true,"simulcast_rid":"r2","simulcast_request_rid":"none"`, true, "none"},
		{"nulls", `,"simulcast":null,"simulcast_rid":null`, false, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			m, err := decode(connect(tc.extra))
			if err != nil {
				t.Fatalf("refused: %d %s", err.code, err.reason)
			}
			if r := m.Connect; r.Simulcast != tc.simulcast || r.SimulcastRID != tc.rid {
				t.Errorf("simulcast %v rid %q, want %v %q", r.Simulcast, r.SimulcastRID, tc.simulcast, tc.rid)
			}
		})
	}

	m, err := decode(connect(`,"spotlight":true,"spotlight_number":3,"spotlight_focus_rid":"r1","spotlight_unfocus_rid":"none"`))
	if err != nil {
		t.Fatal(err.reason)
	}
	if r := m.Connect; !r.Spotlight || r.SpotlightNumber != 3 || r.SpotlightFocusRID != "r1" || r.SpotlightUnfocusRID != "none" {
		t.Errorf("spotlight %v %d %q %q", r.Spotlight, r.SpotlightNumber, r.SpotlightFocusRID, r.SpotlightUnfocusRID)
	}

	// What sora-js-sdk sends from Chromium.
	cc := capturedConnects(t)
	for name, want := range map[string][2]string{
		"sendonly_simulcast_vp8":    {"true", ""},
		"recvonly_simulcast_rid_r1": {"true", "r1"},
	} {
		m, err := decode(cc[name])
		if err != nil {
			t.Fatalf("%s: %s", name, err.reason)
		}
		if got := [2]string{boolText(m.Connect.Simulcast), m.Connect.SimulcastRID}; got != want {
			t.Errorf("%s: simulcast, rid = %v, want %v", name, got, want)
		}
	}
	m, err = decode(cc["sendrecv_spotlight"])
	if err != nil {
		t.Fatal(err.reason)
	}
	if r := m.Connect; !r.Spotlight || r.SpotlightNumber != 3 || r.SpotlightFocusRID != "r2" || r.SpotlightUnfocusRID != "r0" {
		t.Errorf("captured spotlight connect: %+v", r)
	}

	for _, tc := range []struct{ name, extra, reason string }{
		{"object rid", `,"simulcast":{"rid":"r5"}`, `INVALID-FIELD: simulcast.rid: "r5" (want r0|r1|r2)`},
		{"request rid", `,"simulcast_request_rid":"auto"`, `INVALID-FIELD: simulcast_request_rid: "auto" (want none|r0|r1|r2)`},
		{"spotlight number", `,"spotlight_number":256`, "INVALID-FIELD: spotlight_number: want an integer 0-255, got 256"},
		{"unfocus rid", `,"spotlight_unfocus_rid":1`, "INVALID-FIELD: spotlight_unfocus_rid: want a string, got a number"},
	} {
		_, err := decode(connect(tc.extra))
		if err == nil || err.code != CloseInvalidField || err.reason != tc.reason {
			t.Errorf("%s: %v, want %s", tc.name, err, tc.reason)
		}
	}
}

func boolText(b bool) string {
	if b {
		return "true"
	}
	return "false"
}

// TestLayerRPC drives the simulcast and spotlight methods on a receiver's
// rpc channel.
func TestLayerRPC(t *testing.T) {
	ts := newTestServer(t)
	a := dial(t, ts.url)
	oa := ts.join(t, a, "sendrecv")
	sender := oa["connection_id"].(string)
	b := dial(t, ts.url)
	extra := map[string]any{"simulcast": true}
	for k, v := range dcSignaling {
		extra[k] = v
	}
	o, tr, rc := ts.joinDC(t, b, "recvonly", extra)
	methods, _ := json.Marshal(o["rpc_methods"])
	if !strings.Contains(string(methods), `"2025.2.0/RequestSimulcastRid"`) || strings.Contains(string(methods), "Spotlight") {
		t.Errorf("a simulcast receiver is granted %s", methods)
	}
	expectSwitched(t, b, true)
	rpc := tr.dc(room.LabelRPC)
	ch := rc.ChannelID()
	cases := []struct{ req, resp string }{
		{`{"jsonrpc":"2.0","id":1,"method":"2025.2.0/RequestSimulcastRid","params":{"rid":"r0"}}`,
			`{"jsonrpc":"2.0","id":1,"result":{"channel_id":"` + ch + `","receiver_connection_id":"` + rc.ID() + `","rid":"r0"}}`},
		{`{"jsonrpc":"2.0","id":2,"method":"2025.2.0/RequestSimulcastRid","params":{"rid":"none","sender_connection_id":"` + sender + `"}}`,
			`{"jsonrpc":"2.0","id":2,"result":{"channel_id":"` + ch + `","receiver_connection_id":"` + rc.ID() + `","rid":"none","sender_connection_id":"` + sender + `"}}`},
		{`{"jsonrpc":"2.0","id":3,"method":"2025.2.0/RequestSimulcastRid","params":{"rid":"r4"}}`,
			`{"jsonrpc":"2.0","id":3,"error":{"code":-32602,"message":"Invalid params: rid: \"r4\" (want none|r0|r1|r2)"}}`},
		{`{"jsonrpc":"2.0","id":4,"method":"2025.2.0/RequestSimulcastRid","params":{}}`,
			`{"jsonrpc":"2.0","id":4,"error":{"code":-32602,"message":"Invalid params: rid: missing"}}`},
		{`{"jsonrpc":"2.0","id":5,"method":"2025.2.0/RequestSimulcastRid","params":{"rid":"r1","sender_connection_id":"NOBODY"}}`,
			`{"jsonrpc":"2.0","id":5,"error":{"code":-32602,"message":"Invalid params: no such connection: sender \"NOBODY\" is not in channel \"` + ch + `\""}}`},
		{`{"jsonrpc":"2.0","id":6,"method":"2025.2.0/RequestSpotlightRid","params":{"spotlight_focus_rid":"r1","spotlight_unfocus_rid":"r0"}}`,
			`{"jsonrpc":"2.0","id":6,"error":{"code":-32601,"message":"Method not found: 2025.2.0/RequestSpotlightRid is not granted to this connection (offer.rpc_methods)"}}`},
	}
	for i, tc := range cases {
		rpc.h.OnMessage([]byte(tc.req), true)
		got, _ := json.Marshal(rpc.next(t, i))
		if string(got) != sameJSON(t, tc.resp) {
			t.Errorf("%s\n got %s\nwant %s", tc.req, got, tc.resp)
		}
	}

	// A spotlight receiver.
	s := dial(t, ts.url)
	extra = map[string]any{"spotlight": true, "channel_id": "spot"}
	for k, v := range dcSignaling {
		extra[k] = v
	}
	o, tr, rc = ts.joinDC(t, s, "sendrecv", extra)
	methods, _ = json.Marshal(o["rpc_methods"])
	if !strings.Contains(string(methods), `"2025.2.0/RequestSpotlightRid"`) || !strings.Contains(string(methods), `"2025.2.0/ResetSpotlightRid"`) {
		t.Errorf("a spotlight receiver is granted %s", methods)
	}
	expectSwitched(t, s, true)
	rpc = tr.dc(room.LabelRPC)
	cases = []struct{ req, resp string }{
		{`{"jsonrpc":"2.0","id":1,"method":"2025.2.0/RequestSpotlightRid","params":{"spotlight_focus_rid":"r1","spotlight_unfocus_rid":"none"}}`,
			`{"jsonrpc":"2.0","id":1,"result":{"channel_id":"spot","recv_connection_id":"` + rc.ID() + `","spotlight_focus_rid":"r1","spotlight_unfocus_rid":"none"}}`},
		{`{"jsonrpc":"2.0","id":2,"method":"2025.2.0/RequestSpotlightRid","params":{"spotlight_focus_rid":"r1"}}`,
			`{"jsonrpc":"2.0","id":2,"error":{"code":-32602,"message":"Invalid params: spotlight_unfocus_rid: missing"}}`},
		{`{"jsonrpc":"2.0","id":3,"method":"2025.2.0/ResetSpotlightRid","params":{}}`,
			`{"jsonrpc":"2.0","id":3,"result":{"channel_id":"spot","recv_connection_id":"` + rc.ID() + `"}}`},
		{`{"jsonrpc":"2.0","id":4,"method":"2025.2.0/RequestSimulcastRid","params":{"rid":"r1"}}`,
			`{"jsonrpc":"2.0","id":4,"error":{"code":-32000,"message":"Server error: the channel is a spotlight channel: \"spot\" chooses layers with RequestSpotlightRid"}}`},
	}
	for i, tc := range cases {
		rpc.h.OnMessage([]byte(tc.req), true)
		got, _ := json.Marshal(rpc.next(t, i))
		if string(got) != sameJSON(t, tc.resp) {
			t.Errorf("%s\n got %s\nwant %s", tc.req, got, tc.resp)
		}
	}
}
