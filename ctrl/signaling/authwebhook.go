package signaling

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"strings"
	"time"

	"github.com/hayate-sfu/hayate/ctrl/offer"
	"github.com/hayate-sfu/hayate/ctrl/room"
	"github.com/hayate-sfu/hayate/ctrl/webhook"
)

// connectPayouts are payout keys that override the connect field of the
// same name; the request is decoded again with them, so a bad payout is
// refused like a bad connect.
var connectPayouts = map[string]bool{
	"client_id": true, "bundle_id": true, "audio": true, "video": true,
	"simulcast": true, "simulcast_rid": true, "simulcast_request_rid": true,
	"spotlight": true, "spotlight_number": true, "spotlight_focus_rid": true, "spotlight_unfocus_rid": true,
	"data_channel_signaling": true, "ignore_disconnect_websocket": true, "data_channels": true,
	"signaling_notify_metadata": true, "audio_streaming_language_code": true,
}

// authorize asks the auth webhook about a connect (b, already validated)
// and returns the request with the payouts applied, and the connection's
// lifetime (0: none). A refusal closes with 4490 AUTH-FAILED. ctx ends the
// wait early (the WebSocket is closing).
func (s *Server) authorize(ctx context.Context, b []byte) (*room.JoinRequest, time.Duration, *closeError) {
	var connect map[string]json.RawMessage
	if err := json.Unmarshal(b, &connect); err != nil {
		return nil, 0, closeErr(CloseInvalidJSON, "INVALID-JSON", "the connect is not a JSON object")
	}
	fields := authRequestFields(connect, s.rooms.Connections)
	id := room.NewID()
	res, err := s.cfg.AuthWebhook.Auth(ctx, webhook.AuthRequest{ConnectionID: id, Fields: fields}, time.Now())
	if err != nil {
		s.metrics.authFailures.Inc()
		reason := "auth webhook failed"
		if errors.Is(err, webhook.ErrDenied) {
			reason = strings.TrimPrefix(err.Error(), webhook.ErrDenied.Error()+": ")
		}
		return nil, 0, closeErr(CloseAuthFailed, "AUTH-FAILED", reason)
	}
	return applyPayouts(connect, res.Payouts, id)
}

// applyPayouts overrides a connect (decoded into its fields) with the auth
// webhook's payouts (spec webhooks.md §2.2) and returns the join request of
// connection id and its lifetime (0: none). A payout of the wrong type
// closes with 4403 INVALID-FIELD naming it. connect is modified.
//
// Payouts: the connect fields of connectPayouts; audio_codec_type,
// audio_bit_rate, audio_opus_params and video_codec_type, video_bit_rate,
// video_*_params (merged into audio and video); simulcast_encodings;
// rpc_methods; connection_lifetime (seconds); metadata (offer.metadata and
// notify authz_metadata); event_metadata (the event webhooks);
// ice_transport_policy; turn_fqdn, turn_tls_fqdn, turn_tcp_only,
// turn_tls_only; signaling_notify (false: this connection gets no notify);
// signaling_notify_metadata_ext (the initial metadata ext);
// spotlight_encodings (a spotlight connection's simulcast encodings);
// audio_streaming_language_code. Other keys are ignored.
func applyPayouts(connect, p map[string]json.RawMessage, id string) (*room.JoinRequest, time.Duration, *closeError) {
	for k, v := range p {
		if connectPayouts[k] {
			connect[k] = v
		}
	}
	overlay := func(kind string, keys map[string]string) {
		obj := map[string]json.RawMessage{}
		if raw, ok := connect[kind]; ok && len(raw) > 0 && raw[0] == '{' {
			_ = json.Unmarshal(raw, &obj)
		}
		changed := false
		for payout, field := range keys {
			if v, ok := p[payout]; ok {
				obj[field] = v
				changed = true
			}
		}
		if !changed {
			return
		}
		if raw, ok := connect[kind]; ok && string(raw) == "false" {
			return // the payout or the client turned this kind off
		}
		enc, _ := json.Marshal(obj)
		connect[kind] = enc
	}
	overlay("audio", map[string]string{"audio_codec_type": "codec_type", "audio_bit_rate": "bit_rate", "audio_opus_params": "opus_params"})
	overlay("video", map[string]string{"video_codec_type": "codec_type", "video_bit_rate": "bit_rate",
		"video_vp9_params": "vp9_params", "video_av1_params": "av1_params", "video_h264_params": "h264_params"})
	merged, err := json.Marshal(connect)
	if err != nil {
		return nil, 0, closeErr(CloseInvalidField, "INVALID-FIELD", "auth webhook payout: "+err.Error())
	}
	m, e := decode(merged)
	if e != nil {
		e.reason = strings.Replace(e.reason, ": ", ": auth webhook payout: ", 1)
		return nil, 0, e
	}
	if m.Type != typeConnect {
		return nil, 0, closeErr(CloseInvalidField, "INVALID-FIELD", "auth webhook payout: type")
	}
	req := m.Connect
	req.ConnectionID = id
	bad := func(field, want string) (*room.JoinRequest, time.Duration, *closeError) {
		return nil, 0, invalidField(field, "auth webhook payout is not "+want)
	}
	if v, ok := p["rpc_methods"]; ok {
		var methods []string
		if json.Unmarshal(v, &methods) != nil {
			return bad("rpc_methods", "a list of strings")
		}
		req.RPCMethods = methods
	}
	if v, ok := p["simulcast_encodings"]; ok && !isNull(v) {
		encs, ok := decodeEncodings(v)
		if !ok {
			return bad("simulcast_encodings", "a list of encodings ({rid, active, maxBitrate, maxFramerate, scaleResolutionDownBy, scalabilityMode})")
		}
		req.SimulcastEncodings = encs
	}
	if v, ok := p["spotlight_encodings"]; ok && !isNull(v) {
		encs, ok := decodeEncodings(v)
		if !ok {
			return bad("spotlight_encodings", "a list of encodings ({rid, active, maxBitrate, maxFramerate, scaleResolutionDownBy, scalabilityMode})")
		}
		if req.Spotlight {
			req.SimulcastEncodings = encs // a spotlight publisher's layers
		}
	}
	if v, ok := p["metadata"]; ok {
		req.AuthzMetadata = v
	}
	if v, ok := p["event_metadata"]; ok {
		req.EventMetadata = v
	}
	if v, ok := p["ice_transport_policy"]; ok && !isNull(v) {
		if json.Unmarshal(v, &req.ICETransportPolicy) != nil || (req.ICETransportPolicy != "all" && req.ICETransportPolicy != "relay") {
			return bad("ice_transport_policy", `"all" or "relay"`)
		}
	}
	for _, f := range []struct {
		key string
		dst *string
	}{{"turn_fqdn", &req.TURN.FQDN}, {"turn_tls_fqdn", &req.TURN.TLSFQDN}} {
		if v, ok := p[f.key]; ok && !isNull(v) && json.Unmarshal(v, f.dst) != nil {
			return bad(f.key, "a string")
		}
	}
	for _, f := range []struct {
		key string
		dst *bool
	}{{"turn_tcp_only", &req.TURN.TCPOnly}, {"turn_tls_only", &req.TURN.TLSOnly}} {
		if v, ok := p[f.key]; ok && !isNull(v) && json.Unmarshal(v, f.dst) != nil {
			return bad(f.key, "a boolean")
		}
	}
	if v, ok := p["signaling_notify_metadata_ext"]; ok && !isNull(v) {
		if json.Unmarshal(v, &req.NotifyMetadataExt) != nil {
			return bad("signaling_notify_metadata_ext", "an object")
		}
	}
	if v, ok := p["signaling_notify"]; ok && !isNull(v) {
		var on bool
		if json.Unmarshal(v, &on) != nil {
			return bad("signaling_notify", "a boolean")
		}
		req.SignalingNotify = &on
	}
	var lifetime time.Duration
	if v, ok := p["connection_lifetime"]; ok {
		var secs float64
		// At most ten years: a longer lifetime overflows a Duration.
		if json.Unmarshal(v, &secs) != nil || secs <= 0 || secs > 10*365*24*3600 {
			return bad("connection_lifetime", "a positive number of seconds")
		}
		lifetime = time.Duration(secs * float64(time.Second))
	}
	return req, lifetime, nil
}

func isNull(v json.RawMessage) bool { return string(bytes.TrimSpace(v)) == "null" }

// decodeEncodings reads a simulcast_encodings payout; active defaults to
// true, unknown keys (adaptivePtime) are ignored. The room checks the
// values (offer.ValidateEncodings).
func decodeEncodings(v json.RawMessage) ([]offer.Encoding, bool) {
	var in []struct {
		RID                   string  `json:"rid"`
		Active                *bool   `json:"active"`
		MaxBitrate            int     `json:"maxBitrate"`
		MaxFramerate          float64 `json:"maxFramerate"`
		ScaleResolutionDownBy float64 `json:"scaleResolutionDownBy"`
		ScalabilityMode       string  `json:"scalabilityMode"`
	}
	if json.Unmarshal(v, &in) != nil {
		return nil, false
	}
	out := make([]offer.Encoding, len(in))
	for i, e := range in {
		out[i] = offer.Encoding{RID: e.RID, Active: e.Active == nil || *e.Active, MaxBitrate: e.MaxBitrate,
			MaxFramerate: e.MaxFramerate, ScaleResolutionDownBy: e.ScaleResolutionDownBy, ScalabilityMode: e.ScalabilityMode}
	}
	return out, true
}

// authRequestFields builds the auth webhook's request body from a connect
// as Sora does (spec webhooks.md §2.1), apart from the common fields and
// connection_id, which the webhook client adds: the connect's own fields
// (not type, sdp, redirect, nor sora_client / environment / libwebrtc,
// which become the sora_client object), multistream, the audio and video
// settings flattened (audio_codec_type, video_bit_rate, video_vp9_params,
// …), and the channel's connection counts.
func authRequestFields(connect map[string]json.RawMessage, channel func(string) []room.ConnectionInfo) map[string]any {
	fields := map[string]any{}
	for k, v := range connect {
		switch k {
		case "type", "sdp", "redirect", "sora_client", "environment", "libwebrtc":
		default:
			fields[k] = v
		}
	}
	fields["multistream"] = true
	fields["e2ee"] = false
	for _, kind := range []string{"audio", "video"} {
		var obj map[string]json.RawMessage
		if json.Unmarshal(connect[kind], &obj) != nil {
			continue // absent, or a bool: nothing to flatten
		}
		for k, v := range obj {
			fields[kind+"_"+k] = v // codec_type, bit_rate, vp9_params, av1_params, h264_params, opus_params
		}
	}
	str := func(k string) string {
		var v string
		_ = json.Unmarshal(connect[k], &v)
		return v
	}
	sc := map[string]any{"raw": str("sora_client"), "environment": str("environment"), "libwebrtc": str("libwebrtc")}
	// "Sora JavaScript SDK 2026.1.0 (…)": the type is the name, the
	// version the word after it.
	if raw := str("sora_client"); raw != "" {
		words := strings.Fields(raw)
		for i, w := range words {
			if len(w) > 0 && w[0] >= '0' && w[0] <= '9' {
				sc["type"] = strings.Join(words[:i], " ")
				sc["version"] = w
				break
			}
		}
	}
	fields["sora_client"] = sc
	var n, sendrecv, sendonly, recvonly int
	if ch := str("channel_id"); ch != "" && channel != nil {
		for _, c := range channel(ch) {
			n++
			switch c.Role {
			case room.RoleSendRecv:
				sendrecv++
			case room.RoleSendOnly:
				sendonly++
			case room.RoleRecvOnly:
				recvonly++
			}
		}
	}
	fields["channel_connections"] = n
	fields["channel_sendrecv_connections"] = sendrecv
	fields["channel_sendonly_connections"] = sendonly
	fields["channel_recvonly_connections"] = recvonly
	return fields
}
