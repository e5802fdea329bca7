package signaling

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/hayate-sfu/hayate/ctrl/room"
)

const payoutID = "0123456789ABCDEFGHJKMNPQRS"

func decodeObject(t testing.TB, s string) map[string]json.RawMessage {
	t.Helper()
	var m map[string]json.RawMessage
	if err := json.Unmarshal([]byte(s), &m); err != nil {
		t.Fatal(err)
	}
	return m
}

const payoutConnect = `{"type":"connect","role":"sendrecv","channel_id":"ch","audio":true,"video":{"codec_type":"VP8"},"metadata":{"access_token":"t"}}`

// TestApplyPayouts: each payout lands in the join request; a payout of the
// wrong type is refused naming it.
func TestApplyPayouts(t *testing.T) {
	req, life, e := applyPayouts(decodeObject(t, payoutConnect), decodeObject(t, `{
		"client_id": "c1", "video_codec_type": "VP9", "video_bit_rate": 900, "audio": false,
		"metadata": {"m": 1}, "event_metadata": [1, 2], "ice_transport_policy": "relay",
		"turn_fqdn": "t.example", "turn_tls_fqdn": "s.example", "turn_tcp_only": true, "turn_tls_only": false,
		"simulcast": true, "simulcast_encodings": [{"rid": "r0", "maxBitrate": 100000}, {"rid": "r1", "active": false, "adaptivePtime": true}],
		"rpc_methods": ["2025.2.0/PutSignalingNotifyMetadata"], "connection_lifetime": 1.5, "unknown_payout": 1,
		"signaling_notify": false, "audio_streaming_language_code": "ja-JP", "signaling_notify_metadata_ext": {"k": "v"}}`), payoutID)
	if e != nil {
		t.Fatal(e)
	}
	if life != 1500*time.Millisecond {
		t.Errorf("lifetime %v", life)
	}
	if req.ConnectionID != payoutID || req.ClientID != "c1" || req.Audio.Enabled || req.Video.CodecType != "VP9" || req.Video.BitRate != 900 ||
		string(req.Metadata) != `{"access_token":"t"}` || string(req.AuthzMetadata) != `{"m": 1}` || string(req.EventMetadata) != `[1, 2]` ||
		req.ICETransportPolicy != "relay" || req.TURN != (room.TURNOptions{FQDN: "t.example", TLSFQDN: "s.example", TCPOnly: true}) ||
		!req.Simulcast || len(req.SimulcastEncodings) != 2 || !req.SimulcastEncodings[0].Active || req.SimulcastEncodings[1].Active ||
		req.SimulcastEncodings[0].MaxBitrate != 100000 || len(req.RPCMethods) != 1 ||
		req.SignalingNotify == nil || *req.SignalingNotify || req.AudioStreamingLanguageCode != "ja-JP" ||
		string(req.NotifyMetadataExt["k"]) != `"v"` {
		t.Errorf("request %+v", req)
	}

	for _, tc := range []struct{ payouts, reason string }{
		{`{"ice_transport_policy": "none"}`, "INVALID-FIELD: ice_transport_policy: auth webhook payout"},
		{`{"ice_transport_policy": 1}`, "INVALID-FIELD: ice_transport_policy: auth webhook payout"},
		{`{"turn_tcp_only": "yes"}`, "INVALID-FIELD: turn_tcp_only: auth webhook payout is not a boolean"},
		{`{"turn_fqdn": 5}`, "INVALID-FIELD: turn_fqdn: auth webhook payout is not a string"},
		{`{"simulcast_encodings": {"rid": "r0"}}`, "INVALID-FIELD: simulcast_encodings: auth webhook payout"},
		{`{"connection_lifetime": 1e300}`, "INVALID-FIELD: connection_lifetime"},
		{`{"connection_lifetime": -1}`, "INVALID-FIELD: connection_lifetime"},
		{`{"rpc_methods": "all"}`, "INVALID-FIELD: rpc_methods"},
		{`{"client_id": 7}`, "INVALID-FIELD: auth webhook payout: client_id"},
		{`{"spotlight_encodings": 1}`, "INVALID-FIELD: spotlight_encodings: auth webhook payout"},
		{`{"signaling_notify": "no"}`, "INVALID-FIELD: signaling_notify: auth webhook payout is not a boolean"},
		{`{"signaling_notify_metadata_ext": [1]}`, "INVALID-FIELD: signaling_notify_metadata_ext: auth webhook payout is not an object"},
	} {
		_, _, e := applyPayouts(decodeObject(t, payoutConnect), decodeObject(t, tc.payouts), payoutID)
		if e == nil || e.code != CloseInvalidField || !strings.HasPrefix(e.reason, tc.reason) {
			t.Errorf("payouts %s: %v, want %q…", tc.payouts, e, tc.reason)
		}
	}
	// spotlight_encodings give a spotlight publisher its layers, and only
	// a spotlight one.
	spot, _, e := applyPayouts(decodeObject(t, payoutConnect), decodeObject(t,
		`{"spotlight": true, "simulcast": true, "spotlight_encodings": [{"rid": "r0", "maxBitrate": 50000}, {"rid": "r1"}]}`), payoutID)
	if e != nil || len(spot.SimulcastEncodings) != 2 || spot.SimulcastEncodings[0].MaxBitrate != 50000 {
		t.Errorf("spotlight_encodings on a spotlight connection: %+v, %v", spot, e)
	}
	plain, _, e := applyPayouts(decodeObject(t, payoutConnect), decodeObject(t,
		`{"spotlight_encodings": [{"rid": "r0"}]}`), payoutID)
	if e != nil || plain.SimulcastEncodings != nil {
		t.Errorf("spotlight_encodings on a connection without spotlight: %+v, %v", plain, e)
	}
	// null payouts are no payouts.
	req, _, e = applyPayouts(decodeObject(t, payoutConnect), decodeObject(t,
		`{"ice_transport_policy": null, "turn_fqdn": null, "turn_tcp_only": null, "simulcast_encodings": null}`), payoutID)
	if e != nil || req.ICETransportPolicy != "" || req.TURN != (room.TURNOptions{}) || req.SimulcastEncodings != nil {
		t.Errorf("null payouts: %+v, %v", req, e)
	}
}

// FuzzApplyPayouts: whatever a webhook answers, applying it either gives a
// request for the connection id or a close with a 4xxx code; it never
// panics.
func FuzzApplyPayouts(f *testing.F) {
	f.Add(`{"metadata": {"a": [1, null]}, "event_metadata": "x", "turn_tls_only": true}`)
	f.Add(`{"video_codec_type": "AV1", "video": false, "audio_opus_params": {"stereo": true}}`)
	f.Add(`{"simulcast_encodings": [{"rid": "r9", "active": null}], "connection_lifetime": 0.001}`)
	f.Add(`{"data_channels": [{"label": "#x", "direction": "sendrecv"}], "data_channel_signaling": true}`)
	f.Fuzz(func(t *testing.T, payouts string) {
		var p map[string]json.RawMessage
		if json.Unmarshal([]byte(payouts), &p) != nil {
			return
		}
		req, life, e := applyPayouts(decodeObject(t, payoutConnect), p, payoutID)
		switch {
		case e != nil:
			if e.code < 4000 || e.code > 4999 || len(e.reason) > maxCloseReason {
				t.Fatalf("close %d %q", e.code, e.reason)
			}
		case req == nil || req.ConnectionID != payoutID || life < 0:
			t.Fatalf("request %+v lifetime %v", req, life)
		}
	})
}
