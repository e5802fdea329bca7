package signaling

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"time"

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
	"signaling_notify_metadata": true,
}

// authorize asks the auth webhook about a connect (b, already validated)
// and returns the request with the payouts applied, and the connection's
// lifetime (0: none). A refusal closes with 4490 AUTH-FAILED.
func (s *Server) authorize(b []byte) (*room.JoinRequest, time.Duration, *closeError) {
	var connect map[string]json.RawMessage
	if err := json.Unmarshal(b, &connect); err != nil {
		return nil, 0, closeErr(CloseInvalidJSON, "INVALID-JSON", "the connect is not a JSON object")
	}
	fields := map[string]any{}
	for k, v := range connect {
		if k != "type" && k != "sdp" {
			fields[k] = v
		}
	}
	id := room.NewID()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	res, err := s.cfg.AuthWebhook.Auth(ctx, webhook.AuthRequest{ConnectionID: id, Fields: fields}, time.Now())
	if err != nil {
		s.metrics.authFailures.Inc()
		reason := "auth webhook failed"
		if errors.Is(err, webhook.ErrDenied) {
			reason = strings.TrimPrefix(err.Error(), webhook.ErrDenied.Error()+": ")
		}
		return nil, 0, closeErr(CloseAuthFailed, "AUTH-FAILED", reason)
	}
	p := res.Payouts
	for k, v := range p {
		if connectPayouts[k] {
			connect[k] = v
		}
	}
	overlay := func(kind string, keys map[string]string) *closeError {
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
		if changed {
			if raw, ok := connect[kind]; ok && string(raw) == "false" {
				return nil // the payout or the client turned this kind off
			}
			enc, _ := json.Marshal(obj)
			connect[kind] = enc
		}
		return nil
	}
	_ = overlay("audio", map[string]string{"audio_codec_type": "codec_type", "audio_bit_rate": "bit_rate", "audio_opus_params": "opus_params"})
	_ = overlay("video", map[string]string{"video_codec_type": "codec_type", "video_bit_rate": "bit_rate",
		"video_vp9_params": "vp9_params", "video_av1_params": "av1_params", "video_h264_params": "h264_params"})
	merged, _ := json.Marshal(connect)
	m, e := decode(merged)
	if e != nil {
		e.reason = strings.Replace(e.reason, ": ", ": auth webhook payout: ", 1)
		return nil, 0, e
	}
	req := m.Connect
	req.ConnectionID = id
	if v, ok := p["rpc_methods"]; ok {
		var methods []string
		if json.Unmarshal(v, &methods) != nil {
			return nil, 0, invalidField("rpc_methods", "auth webhook payout is not a list of strings")
		}
		req.RPCMethods = methods
	}
	var lifetime time.Duration
	if v, ok := p["connection_lifetime"]; ok {
		var secs float64
		if json.Unmarshal(v, &secs) != nil || secs <= 0 {
			return nil, 0, invalidField("connection_lifetime", "auth webhook payout is not a positive number of seconds")
		}
		lifetime = time.Duration(secs * float64(time.Second))
	}
	return req, lifetime, nil
}
