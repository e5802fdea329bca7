package signaling

import (
	"encoding/json"
	"os"
	"runtime"
	"strings"
	"testing"

	"github.com/hayate-sfu/hayate/ctrl/room"
)

// capturedConnects returns the connect messages sora-js-sdk 2026.1.0 sent
// from Chromium (spec/examples/connect-message.json), keyed by case name.
func capturedConnects(t testing.TB) map[string]json.RawMessage {
	t.Helper()
	b, err := os.ReadFile("testdata/connect-message.json")
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Cases []struct {
			Name    string          `json:"name"`
			Connect json.RawMessage `json:"connect"`
		} `json:"cases"`
	}
	if err := json.Unmarshal(b, &doc); err != nil {
		t.Fatal(err)
	}
	out := map[string]json.RawMessage{}
	for _, c := range doc.Cases {
		out[c.Name] = c.Connect
	}
	if len(out) == 0 {
		t.Fatal("no cases in connect-message.json")
	}
	return out
}

func TestDecodeCapturedConnects(t *testing.T) {
	for name, raw := range capturedConnects(t) {
		t.Run(name, func(t *testing.T) {
			m, err := decode(raw)
			if err != nil {
				t.Fatalf("real SDK connect refused: %d %s", err.code, err.reason)
			}
			c := m.Connect
			if m.Type != "connect" || c.ChannelID == "" || !c.Role.Valid() {
				t.Errorf("decoded %+v", c)
			}
			if !strings.HasPrefix(c.SoraClient, "Sora JavaScript SDK") {
				t.Errorf("sora_client %q", c.SoraClient)
			}
			var orig struct{ Metadata json.RawMessage }
			_ = json.Unmarshal(raw, &orig)
			if string(orig.Metadata) == "null" && c.Metadata != nil {
				t.Errorf("metadata null became %s", c.Metadata)
			}
			if string(orig.Metadata) != "null" && !json.Valid(c.Metadata) {
				t.Errorf("metadata %s lost", orig.Metadata)
			}
		})
	}
}

func TestDecodeValid(t *testing.T) {
	cases := []struct {
		name  string
		msg   string
		check func(*testing.T, message)
	}{
		{"media objects", `{"type":"connect","role":"sendonly","channel_id":"c","audio":{"codec_type":"OPUS","bit_rate":64,"opus_params":{"usedtx":true,"stereo":false,"channels":2}},"video":{"codec_type":"vp9","bit_rate":1500,"vp9_params":{"profile_id":0}}}`,
			func(t *testing.T, m message) {
				a, v := m.Connect.Audio, m.Connect.Video
				if !a.Enabled || a.BitRate != 64 || a.OpusParams == nil || !*a.OpusParams.UseDTX || *a.OpusParams.Stereo {
					t.Errorf("audio %+v", a)
				}
				if !v.Enabled || v.CodecType != "VP9" || v.BitRate != 1500 {
					t.Errorf("video %+v", v)
				}
			}},
		{"media false", `{"type":"connect","role":"recvonly","channel_id":"c","audio":false}`,
			func(t *testing.T, m message) {
				if m.Connect.Audio.Enabled || !m.Connect.Video.Enabled {
					t.Errorf("audio %v video %v (absent means true)", m.Connect.Audio.Enabled, m.Connect.Video.Enabled)
				}
			}},
		{"ids and metadata", `{"type":"connect","role":"sendrecv","channel_id":"c","client_id":"me","bundle_id":"b","metadata":{"k":[1,2]},"signaling_notify_metadata":"hi"}`,
			func(t *testing.T, m message) {
				c := m.Connect
				if c.ClientID != "me" || c.BundleID != "b" || string(c.Metadata) != `{"k":[1,2]}` || string(c.NotifyMetadata) != `"hi"` {
					t.Errorf("%+v", c)
				}
			}},
		{"unknown fields and nulls tolerated", `{"type":"connect","role":"sendrecv","channel_id":"c","future_field":{"x":1},"simulcast_rid":null,"client_id":null,"multistream":true,"libwebrtc":"m138"}`, nil},
		{"every optional field", `{"type":"connect","role":"sendrecv","channel_id":"c","sdp":"v=0","simulcast":{"rid":"r1"},"simulcast_rid":"r2","simulcast_request_rid":"none","spotlight":true,"spotlight_number":1,"spotlight_focus_rid":"r2","spotlight_unfocus_rid":"none","data_channel_signaling":true,"ignore_disconnect_websocket":false,"data_channels":[{"label":"#chat","direction":"sendrecv","compress":false,"ordered":true,"max_retransmits":3,"protocol":"p","header":[{"type":"sender_connection_id"}]}],"forwarding_filters":[{"action":"block","rules":[]}],"forwarding_filter":{},"audio_streaming_language_code":"ja-JP","redirect":true,"sora_client":"x","environment":"y"}`, nil},
		{"answer", `{"type":"answer","sdp":"v=0\r\n"}`, func(t *testing.T, m message) {
			if m.SDP != "v=0\r\n" {
				t.Errorf("sdp %q", m.SDP)
			}
		}},
		{"candidate as JS sends it", `{"type":"candidate","candidate":"candidate:1 1 udp 1 1.2.3.4 5 typ host","sdpMid":"0","sdpMLineIndex":0,"usernameFragment":"abcd"}`, nil},
		{"candidate as C++ sends it", `{"type":"candidate","candidate":""}`, nil},
		{"pong with stats", `{"type":"pong","stats":[{"type":"inbound-rtp"}]}`, nil},
		{"disconnect", `{"type":"disconnect","reason":"NO-ERROR"}`, func(t *testing.T, m message) {
			if m.Reason != "NO-ERROR" {
				t.Errorf("reason %q", m.Reason)
			}
		}},
		{"leading whitespace", " \n{\"type\":\"pong\"}", nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			m, err := decode([]byte(tc.msg))
			if err != nil {
				t.Fatalf("refused: %d %s", err.code, err.reason)
			}
			if tc.check != nil {
				tc.check(t, m)
			}
		})
	}
}

func TestDecodeInvalid(t *testing.T) {
	connect := func(extra string) string {
		return `{"type":"connect","role":"sendrecv","channel_id":"c"` + extra + `}`
	}
	cases := []struct {
		name, msg string
		code      int
		reason    string
	}{
		{"not json", `hello`, CloseInvalidJSON, "INVALID-JSON: the message is not a JSON object"},
		{"array", `[1,2]`, CloseInvalidJSON, "INVALID-JSON: the message is not a JSON object"},
		{"broken", `{"type":"connect",`, CloseInvalidJSON, "INVALID-JSON: "},
		{"trailing garbage", `{"type":"pong"} x`, CloseInvalidJSON, "INVALID-JSON: "},
		{"bad utf-8", "{\"type\":\"pong\",\"x\":\"\xff\"}", CloseInvalidJSON, "INVALID-JSON: the message is not valid UTF-8"},
		{"no type", `{"role":"sendrecv"}`, CloseInvalidJSON, `INVALID-JSON: no "type"`},
		{"type number", `{"type":1}`, CloseInvalidField, "INVALID-FIELD: type: want a string, got a number"},
		{"unknown type", `{"type":"offer"}`, CloseUnknownType, `UNKNOWN-TYPE: "offer"`},
		{"no role", `{"type":"connect","channel_id":"c"}`, CloseInvalidField, "INVALID-FIELD: role: missing"},
		{"bad role", `{"type":"connect","role":"upstream","channel_id":"c"}`, CloseInvalidField, `INVALID-FIELD: role: "upstream" (want sendrecv|sendonly|recvonly)`},
		{"no channel", `{"type":"connect","role":"sendrecv"}`, CloseInvalidField, "INVALID-FIELD: channel_id: missing"},
		{"empty channel", `{"type":"connect","role":"sendrecv","channel_id":""}`, CloseInvalidField, "INVALID-FIELD: channel_id: 0 bytes (want 1-255)"},
		{"long channel", `{"type":"connect","role":"sendrecv","channel_id":"` + strings.Repeat("é", 128) + `"}`, CloseInvalidField, "INVALID-FIELD: channel_id: 256 bytes (want 1-255)"},
		{"channel number", `{"type":"connect","role":"sendrecv","channel_id":5}`, CloseInvalidField, "INVALID-FIELD: channel_id: want a string, got a number"},
		{"audio string", connect(`,"audio":"yes"`), CloseInvalidField, "INVALID-FIELD: audio: want a boolean or an object, got a string"},
		{"video codec", connect(`,"video":{"codec_type":"H265"}`), CloseInvalidField, `INVALID-FIELD: video.codec_type: "H265" is not supported (want VP8, VP9, AV1, H264)`},
		{"audio codec", connect(`,"audio":{"codec_type":"LYRA"}`), CloseInvalidField, `INVALID-FIELD: audio.codec_type: "LYRA" is not supported (want OPUS)`},
		{"bit rate zero", connect(`,"video":{"bit_rate":0}`), CloseInvalidField, "INVALID-FIELD: video.bit_rate: want an integer 1-50000, got 0"},
		{"bit rate float", connect(`,"video":{"bit_rate":1.5}`), CloseInvalidField, "INVALID-FIELD: video.bit_rate: want an integer 1-50000, got 1.5"},
		{"bit rate string", connect(`,"audio":{"bit_rate":"64"}`), CloseInvalidField, "INVALID-FIELD: audio.bit_rate: want an integer 1-510, got a string"},
		{"opus params", connect(`,"audio":{"opus_params":{"usedtx":1}}`), CloseInvalidField, "INVALID-FIELD: audio.opus_params.usedtx: want a boolean, got a number"},
		{"vp9 profile", connect(`,"video":{"vp9_params":{"profile_id":4}}`), CloseInvalidField, "INVALID-FIELD: video.vp9_params.profile_id: want an integer 0-3, got 4"},
		{"client id", connect(`,"client_id":7`), CloseInvalidField, "INVALID-FIELD: client_id: want a string, got a number"},
		{"long bundle id", connect(`,"bundle_id":"` + strings.Repeat("b", 256) + `"`), CloseInvalidField, "INVALID-FIELD: bundle_id: 256 bytes (want 0-255)"},
		{"simulcast", connect(`,"simulcast":"on"`), CloseInvalidField, "INVALID-FIELD: simulcast: want a boolean or an object, got a string"},
		{"simulcast rid", connect(`,"simulcast_rid":"r3"`), CloseInvalidField, `INVALID-FIELD: simulcast_rid: "r3" (want r0|r1|r2)`},
		{"spotlight", connect(`,"spotlight":"true"`), CloseInvalidField, "INVALID-FIELD: spotlight: want a boolean, got a string"},
		{"data channel label", connect(`,"data_channels":[{"label":"chat","direction":"sendrecv"}]`), CloseInvalidField, "INVALID-FIELD: data_channels[0].label: must start with '#'"},
		{"data channel direction", connect(`,"data_channels":[{"label":"#chat"}]`), CloseInvalidField, "INVALID-FIELD: data_channels[0].direction: missing"},
		{"multistream false", connect(`,"multistream":false`), CloseInvalidField, "INVALID-FIELD: multistream: false is not supported"},
		{"answer without sdp", `{"type":"answer"}`, CloseInvalidField, "INVALID-FIELD: sdp: missing"},
		{"answer sdp object", `{"type":"re-answer","sdp":{}}`, CloseInvalidField, "INVALID-FIELD: sdp: want a string, got an object"},
		{"candidate missing", `{"type":"candidate"}`, CloseInvalidField, "INVALID-FIELD: candidate: missing"},
		{"candidate mline", `{"type":"candidate","candidate":"","sdpMLineIndex":"0"}`, CloseInvalidField, "INVALID-FIELD: sdpMLineIndex: want an integer 0-65536, got a string"},
		{"disconnect reason", `{"type":"disconnect","reason":false}`, CloseInvalidField, "INVALID-FIELD: reason: want a string, got a boolean"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := decode([]byte(tc.msg))
			if err == nil {
				t.Fatal("accepted")
			}
			if err.code != tc.code || !strings.HasPrefix(err.reason, tc.reason) {
				t.Errorf("got %d %q\nwant %d %q…", err.code, err.reason, tc.code, tc.reason)
			}
			if len(err.reason) > maxCloseReason {
				t.Errorf("reason of %d bytes does not fit a close frame", len(err.reason))
			}
		})
	}
}

func TestCloseReasonTruncated(t *testing.T) {
	e := invalidField(strings.Repeat("é", 100), "x")
	if len(e.reason) > maxCloseReason || !strings.HasPrefix(e.reason, "INVALID-FIELD: é") {
		t.Errorf("reason %q (%d bytes)", e.reason, len(e.reason))
	}
	if !json.Valid([]byte(`"` + e.reason + `"`)) {
		t.Error("truncation split a UTF-8 character")
	}
}

// TestJSONImplementation reports which sonic path is compiled (DESIGN §3:
// native JIT on go1.26 amd64/arm64, a silent encoding/json fallback
// elsewhere) and fails if the fallback is used where the JIT should be.
func TestJSONImplementation(t *testing.T) {
	t.Logf("JSON: %s (%s/%s %s)", JSONImplementation(), runtime.GOOS, runtime.GOARCH, runtime.Version())
	native := runtime.GOARCH == "amd64" || runtime.GOARCH == "arm64"
	if native && !strings.HasPrefix(runtime.Version(), "go1.2") {
		native = false // devel or unknown versions: only report
	}
	if native && JSONImplementation() != "sonic-native" && strings.Compare(runtime.Version(), "go1.28") < 0 {
		t.Errorf("expected sonic's native path on %s %s, got %s", runtime.GOARCH, runtime.Version(), JSONImplementation())
	}
}

func FuzzDecode(f *testing.F) {
	for _, raw := range capturedConnects(f) {
		f.Add([]byte(raw))
	}
	for _, s := range []string{
		`{"type":"answer","sdp":"v=0"}`,
		`{"type":"candidate","candidate":"x","sdpMLineIndex":0}`,
		`{"type":"connect","role":"sendonly","channel_id":"c","audio":{"codec_type":"OPUS","opus_params":{"usedtx":true}},"video":{"bit_rate":100}}`,
		`{"type":"connect","role":"sendrecv","channel_id":"c","data_channels":[{"label":"#a","direction":"sendonly","header":[{"type":"sender_connection_id"}]}]}`,
		`{"type":1}`, `[]`, `{"type":"pong","stats":[{}]}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := decode(b)
		if err != nil {
			if err.code < 4400 || err.code > 4499 || err.reason == "" || len(err.reason) > maxCloseReason {
				t.Fatalf("bad close decision %d %q", err.code, err.reason)
			}
			return
		}
		if !knownTypes[m.Type] {
			t.Fatalf("accepted type %q", m.Type)
		}
		if m.Type == typeConnect {
			c := m.Connect
			if !c.Role.Valid() || len(c.ChannelID) == 0 || len(c.ChannelID) > room.MaxChannelIDBytes {
				t.Fatalf("accepted connect %+v", c)
			}
			if c.Video.BitRate < 0 || c.Video.BitRate > room.MaxVideoBitRate || c.Audio.BitRate < 0 || c.Audio.BitRate > room.MaxAudioBitRate {
				t.Fatalf("accepted bit rates %d %d", c.Audio.BitRate, c.Video.BitRate)
			}
			if c.Metadata != nil && !json.Valid(c.Metadata) {
				t.Fatalf("metadata %q is not JSON", c.Metadata)
			}
		}
	})
}
