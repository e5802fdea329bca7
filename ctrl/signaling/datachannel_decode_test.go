package signaling

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/hayate-sfu/hayate/ctrl/room"
)

// TestDecodeCapturedDataChannelConnects: the JS SDK's DataChannel connects
// (spec/examples) become the JoinRequest fields the room uses.
func TestDecodeCapturedDataChannelConnects(t *testing.T) {
	cc := capturedConnects(t)
	m, err := decode(cc["messaging_role"])
	if err != nil {
		t.Fatal(err.reason)
	}
	c := m.Connect
	if !c.DataChannelSignaling || c.IgnoreDisconnectWebSocket || c.Audio.Enabled || c.Video.Enabled || c.Role != room.RoleSendOnly {
		t.Errorf("messaging connect %+v", c)
	}
	want := []room.DataChannelRequest{{Label: "#chat", Direction: "sendrecv", Ordered: true, MaxPacketLifeTime: -1, MaxRetransmits: -1, Compress: true}}
	if got, _ := json.Marshal(c.DataChannels); string(got) != mustMarshal(want) {
		t.Errorf("data_channels %s", got)
	}
	m, err = decode(cc["sendrecv_data_channel_signaling"])
	if err != nil {
		t.Fatal(err.reason)
	}
	if !m.Connect.DataChannelSignaling || !m.Connect.IgnoreDisconnectWebSocket || m.Connect.DataChannels != nil {
		t.Errorf("dc signaling connect %+v", m.Connect)
	}
}

func mustMarshal(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

func TestDecodeDataChannels(t *testing.T) {
	connect := func(dcs string) string {
		return `{"type":"connect","role":"sendrecv","channel_id":"c","data_channels":` + dcs + `}`
	}
	m, err := decode([]byte(connect(`[{"label":"#a","direction":"recvonly","ordered":false,"max_retransmits":0,"protocol":"p",` +
		`"header":[{"type":"sender_connection_id","length":26}]},{"label":"#b","direction":"sendonly","max_packet_life_time":500}]`)))
	if err != nil {
		t.Fatal(err.reason)
	}
	d := m.Connect.DataChannels
	if len(d) != 2 {
		t.Fatalf("%+v", d)
	}
	if d[0].Label != "#a" || d[0].Direction != "recvonly" || d[0].Ordered || d[0].MaxRetransmits != 0 || d[0].MaxPacketLifeTime != -1 ||
		d[0].Protocol != "p" || !d[0].SenderConnectionID || string(d[0].Header) != `[{"type":"sender_connection_id","length":26}]` {
		t.Errorf("first %+v", d[0])
	}
	if d[1].MaxPacketLifeTime != 500 || d[1].MaxRetransmits != -1 || !d[1].Ordered || d[1].SenderConnectionID || d[1].Header != nil {
		t.Errorf("second %+v", d[1])
	}
	many := make([]string, room.MaxDataChannels+1)
	for i := range many {
		many[i] = `{"label":"#x","direction":"sendrecv"}`
	}
	for _, tc := range []struct{ dcs, reason string }{
		{`{}`, "INVALID-FIELD: data_channels: want an array, got an object"},
		{`[1]`, "INVALID-FIELD: data_channels[0]: want an object, got a number"},
		{`[{"label":"#","direction":"sendrecv"}]`, "INVALID-FIELD: data_channels[0].label: 1 bytes (want 2-255)"},
		{`[{"label":"#a","direction":"both"}]`, `INVALID-FIELD: data_channels[0].direction: "both"`},
		{`[{"label":"#a","direction":"sendrecv","compress":"yes"}]`, "INVALID-FIELD: data_channels[0].compress: want a boolean"},
		{`[{"label":"#a","direction":"sendrecv","max_retransmits":-1}]`, "INVALID-FIELD: data_channels[0].max_retransmits: want an integer 0-65535, got -1"},
		{`[{"label":"#a","direction":"sendrecv","max_retransmits":1,"max_packet_life_time":1}]`, "INVALID-FIELD: data_channels[0]: max_packet_life_time and max_retransmits are exclusive"},
		{`[{"label":"#a","direction":"sendrecv","header":[{"type":"sender_id"}]}]`, `INVALID-FIELD: data_channels[0].header[0].type: "sender_id" (want sender_connection_id)`},
		{`[{"label":"#a","direction":"sendrecv","header":[{}]}]`, "INVALID-FIELD: data_channels[0].header[0].type: missing"},
		{`[{"label":"#a","direction":"sendrecv","header":{}}]`, "INVALID-FIELD: data_channels[0].header: want an array"},
		{"[" + strings.Join(many, ",") + "]", "INVALID-FIELD: data_channels: 33 entries (want at most 32)"},
	} {
		_, err := decode([]byte(connect(tc.dcs)))
		if err == nil || err.code != CloseInvalidField || !strings.HasPrefix(err.reason, tc.reason) {
			t.Errorf("%s: got %v, want %q", tc.dcs, err, tc.reason)
		}
	}
}

func TestDecodeSignalingChannel(t *testing.T) {
	for _, tc := range []struct {
		msg    string
		typ    string
		code   int
		reason string
	}{
		{`{"type":"re-answer","sdp":"v=0"}`, typeReAnswer, 0, ""},
		{`{"type":"candidate","candidate":"candidate:1 1 udp 1 127.0.0.1 9 typ host","sdpMid":"0","sdpMLineIndex":0,"usernameFragment":"u"}`, typeCandidate, 0, ""},
		{`{"type":"disconnect","reason":"NO-ERROR"}`, typeDisconnect, 0, ""},
		{`{"type":"answer","sdp":"v=0"}`, "", CloseUnexpectedMessage, "UNEXPECTED-MESSAGE: answer on the signaling DataChannel"},
		{`{"type":"connect","role":"sendrecv","channel_id":"c"}`, "", CloseUnexpectedMessage, "UNEXPECTED-MESSAGE: connect on the signaling DataChannel"},
		{`{"type":"pong"}`, "", CloseUnexpectedMessage, "UNEXPECTED-MESSAGE: pong"},
		{`{"type":"re-answer"}`, "", CloseInvalidField, "INVALID-FIELD: sdp: missing"},
		{`x`, "", CloseInvalidJSON, "INVALID-JSON"},
		{`{"type":"hello"}`, "", CloseUnknownType, `UNKNOWN-TYPE: "hello"`},
	} {
		m, err := decodeSignalingChannel([]byte(tc.msg))
		switch {
		case tc.code == 0 && err != nil:
			t.Errorf("%s refused: %s", tc.msg, err.reason)
		case tc.code == 0 && m.Type != tc.typ:
			t.Errorf("%s: type %q", tc.msg, m.Type)
		case tc.code != 0 && (err == nil || err.code != tc.code || !strings.HasPrefix(err.reason, tc.reason)):
			t.Errorf("%s: got %v, want %d %q", tc.msg, err, tc.code, tc.reason)
		}
	}
}

// FuzzDecodeSignalingChannel: whatever arrives on the signaling
// DataChannel is either one of its three messages or a close decision.
func FuzzDecodeSignalingChannel(f *testing.F) {
	for _, s := range []string{
		`{"type":"re-answer","sdp":"v=0\r\n"}`,
		`{"type":"candidate","candidate":"candidate:1 1 udp 2122260223 192.0.2.1 50000 typ host","sdpMid":"0","sdpMLineIndex":0,"usernameFragment":"abcd"}`,
		`{"type":"disconnect","reason":"NO-ERROR"}`,
		`{"type":"answer","sdp":"v=0"}`, `{"type":"stats","reports":[]}`, `{}`, `null`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := decodeSignalingChannel(b)
		if err != nil {
			if err.code < 4400 || err.code > 4499 || err.reason == "" || len(err.reason) > maxCloseReason {
				t.Fatalf("bad close decision %d %q", err.code, err.reason)
			}
			return
		}
		switch m.Type {
		case typeReAnswer:
			if m.SDP == "" {
				t.Fatal("re-answer without sdp accepted")
			}
		case typeCandidate, typeDisconnect:
		default:
			t.Fatalf("type %q accepted on the signaling channel", m.Type)
		}
	})
}

// FuzzParseRPC: every input gives a call or a JSON-RPC error with a
// standard code; an unreadable id is answered with null.
func FuzzParseRPC(f *testing.F) {
	for _, s := range []string{
		`{"jsonrpc":"2.0","id":1,"method":"2025.2.0/PutSignalingNotifyMetadataItem","params":{"key":"k","value":1,"push":true}}`,
		`{"jsonrpc":"2.0","method":"2025.2.0/PutSignalingNotifyMetadata","params":{"metadata":{}}}`,
		`{"jsonrpc":"2.0","id":"x","method":"m","params":[1,2]}`,
		`[{"jsonrpc":"2.0","id":1,"method":"m"}]`, `{"jsonrpc":"2.0","id":{},"method":"m"}`, `{`, ``, `1`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		call, rerr, respond := parseRPC(b)
		if rerr != nil {
			switch rerr.Code {
			case rpcParseError, rpcInvalidRequest:
			default:
				t.Fatalf("parse gave code %d", rerr.Code)
			}
			if respond && (call.id == nil || !json.Valid(call.id)) {
				t.Fatalf("response without a valid id: %q", call.id)
			}
			return
		}
		if respond != (call.id != nil) {
			t.Fatal("respond does not follow the id")
		}
		if call.params != nil && jsonKind(call.params) != "object" && jsonKind(call.params) != "array" {
			t.Fatalf("params %s accepted", call.params)
		}
		if _, err := json.Marshal(rpcResponse{JSONRPC: "2.0", ID: call.id, Result: struct{}{}}); call.id != nil && err != nil {
			t.Fatalf("id %q cannot be echoed: %v", call.id, err)
		}
	})
}
