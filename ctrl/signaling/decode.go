package signaling

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"
	"unsafe"

	"github.com/bytedance/sonic"
	"github.com/hayate-sfu/hayate/ctrl/room"
	"github.com/hayate-sfu/hayate/dataplane"
)

// Client message types (signaling.md §3.1).
const (
	typeConnect    = "connect"
	typeAnswer     = "answer"
	typeReAnswer   = "re-answer"
	typeCandidate  = "candidate"
	typePong       = "pong"
	typeDisconnect = "disconnect"
	typeStats      = "stats"
	typeUpdate     = "update"
)

// knownTypes are the types a Sora client may send; other types close the
// WebSocket with CloseUnknownType.
var knownTypes = map[string]bool{
	typeConnect: true, typeAnswer: true, typeReAnswer: true, typeCandidate: true,
	typePong: true, typeDisconnect: true, typeStats: true, typeUpdate: true,
}

// message is one decoded client message.
type message struct {
	Type    string
	Connect *room.JoinRequest // connect
	SDP     string            // answer, re-answer
	Reason  string            // disconnect
	Stats   json.RawMessage   // pong's stats, stats' reports (undecoded)
}

// rawMessage has every field any client message may carry, undecoded, so
// that each can be checked on its own and named in the error.
type rawMessage struct {
	Type json.RawMessage `json:"type"`

	// connect
	Role                       json.RawMessage `json:"role"`
	ChannelID                  json.RawMessage `json:"channel_id"`
	SDP                        json.RawMessage `json:"sdp"`
	Audio                      json.RawMessage `json:"audio"`
	Video                      json.RawMessage `json:"video"`
	Metadata                   json.RawMessage `json:"metadata"`
	SignalingNotifyMetadata    json.RawMessage `json:"signaling_notify_metadata"`
	ClientID                   json.RawMessage `json:"client_id"`
	BundleID                   json.RawMessage `json:"bundle_id"`
	Simulcast                  json.RawMessage `json:"simulcast"`
	SimulcastRID               json.RawMessage `json:"simulcast_rid"`
	SimulcastRequestRID        json.RawMessage `json:"simulcast_request_rid"`
	Spotlight                  json.RawMessage `json:"spotlight"`
	SpotlightNumber            json.RawMessage `json:"spotlight_number"`
	SpotlightFocusRID          json.RawMessage `json:"spotlight_focus_rid"`
	SpotlightUnfocusRID        json.RawMessage `json:"spotlight_unfocus_rid"`
	DataChannelSignaling       json.RawMessage `json:"data_channel_signaling"`
	IgnoreDisconnectWebsocket  json.RawMessage `json:"ignore_disconnect_websocket"`
	DataChannels               json.RawMessage `json:"data_channels"`
	ForwardingFilters          json.RawMessage `json:"forwarding_filters"`
	ForwardingFilter           json.RawMessage `json:"forwarding_filter"`
	AudioStreamingLanguageCode json.RawMessage `json:"audio_streaming_language_code"`
	Redirect                   json.RawMessage `json:"redirect"`
	SoraClient                 json.RawMessage `json:"sora_client"`
	Environment                json.RawMessage `json:"environment"`
	LibWebRTC                  json.RawMessage `json:"libwebrtc"`
	Multistream                json.RawMessage `json:"multistream"`

	// candidate
	Candidate        json.RawMessage `json:"candidate"`
	SDPMid           json.RawMessage `json:"sdpMid"`
	SDPMLineIndex    json.RawMessage `json:"sdpMLineIndex"`
	UsernameFragment json.RawMessage `json:"usernameFragment"`

	// disconnect
	Reason json.RawMessage `json:"reason"`

	// pong, stats
	Stats   json.RawMessage `json:"stats"`
	Reports json.RawMessage `json:"reports"`
}

// decode reads one text frame. It fails with a *closeError naming the
// problem; it never panics.
func decode(b []byte) (message, *closeError) {
	var m message
	i := 0
	for i < len(b) && (b[i] == ' ' || b[i] == '\t' || b[i] == '\r' || b[i] == '\n') {
		i++
	}
	if i == len(b) || b[i] != '{' {
		return m, closeErr(CloseInvalidJSON, "INVALID-JSON", "the message is not a JSON object")
	}
	if !utf8.Valid(b) {
		return m, closeErr(CloseInvalidJSON, "INVALID-JSON", "the message is not valid UTF-8")
	}
	var raw rawMessage
	// b is the caller's own copy of the frame and is not written again:
	// decoding from a string view of it spares sonic a copy of the whole
	// message (a pong carries the client's stats, 4–40 kB). Nothing decoded
	// points into it: strings and raw values are copied.
	if err := sonic.ConfigStd.UnmarshalFromString(unsafe.String(unsafe.SliceData(b), len(b)), &raw); err != nil {
		return m, closeErr(CloseInvalidJSON, "INVALID-JSON", firstLine(err.Error()))
	}
	if isAbsent(raw.Type) {
		return m, closeErr(CloseInvalidJSON, "INVALID-JSON", "no \"type\"")
	}
	typ, err := str("type", raw.Type, 0, 64)
	if err != nil {
		return m, err
	}
	m.Type = typ
	if !knownTypes[typ] {
		return m, closeErr(CloseUnknownType, "UNKNOWN-TYPE", strconv.Quote(truncate(typ, 40)))
	}
	switch typ {
	case typePong:
		m.Stats = raw.Stats
	case typeStats:
		m.Stats = raw.Reports
	case typeConnect:
		req, err := decodeConnect(&raw)
		if err != nil {
			return m, err
		}
		m.Connect = req
	case typeAnswer, typeReAnswer, typeUpdate:
		if isAbsent(raw.SDP) {
			return m, invalidField("sdp", "missing")
		}
		if m.SDP, err = str("sdp", raw.SDP, 1, -1); err != nil {
			return m, err
		}
	case typeCandidate:
		if isAbsent(raw.Candidate) {
			return m, invalidField("candidate", "missing")
		}
		if _, err := str("candidate", raw.Candidate, 0, -1); err != nil {
			return m, err
		}
		if _, _, err := optStr("sdpMid", raw.SDPMid, 0, -1); err != nil {
			return m, err
		}
		if _, _, err := optInt("sdpMLineIndex", raw.SDPMLineIndex, 0, 1<<16); err != nil {
			return m, err
		}
		if _, _, err := optStr("usernameFragment", raw.UsernameFragment, 0, -1); err != nil {
			return m, err
		}
	case typeDisconnect:
		if m.Reason, _, err = optStr("reason", raw.Reason, 0, -1); err != nil {
			return m, err
		}
	}
	return m, nil
}

func decodeConnect(raw *rawMessage) (*room.JoinRequest, *closeError) {
	req := &room.JoinRequest{}
	if isAbsent(raw.Role) {
		return nil, invalidField("role", "missing")
	}
	role, err := enum("role", raw.Role, "sendrecv", "sendonly", "recvonly")
	if err != nil {
		return nil, err
	}
	req.Role = room.Role(role)
	if isAbsent(raw.ChannelID) {
		return nil, invalidField("channel_id", "missing")
	}
	if req.ChannelID, err = str("channel_id", raw.ChannelID, 1, room.MaxChannelIDBytes); err != nil {
		return nil, err
	}
	if _, _, err = optStr("sdp", raw.SDP, 0, -1); err != nil {
		return nil, err
	}
	if req.Audio, err = decodeMedia("audio", raw.Audio, dataplane.KindAudio, room.MaxAudioBitRate); err != nil {
		return nil, err
	}
	if req.Video, err = decodeMedia("video", raw.Video, dataplane.KindVideo, room.MaxVideoBitRate); err != nil {
		return nil, err
	}
	if !isAbsent(raw.Metadata) {
		req.Metadata = raw.Metadata
	}
	if !isAbsent(raw.SignalingNotifyMetadata) {
		req.NotifyMetadata = raw.SignalingNotifyMetadata
	}
	if req.ClientID, _, err = optStr("client_id", raw.ClientID, 0, room.MaxClientIDBytes); err != nil {
		return nil, err
	}
	if req.BundleID, _, err = optStr("bundle_id", raw.BundleID, 0, room.MaxBundleIDBytes); err != nil {
		return nil, err
	}
	if err := decodeLayers(raw, req); err != nil {
		return nil, err
	}
	for _, f := range []struct {
		name string
		raw  json.RawMessage
		dst  *bool
	}{{"data_channel_signaling", raw.DataChannelSignaling, &req.DataChannelSignaling},
		{"ignore_disconnect_websocket", raw.IgnoreDisconnectWebsocket, &req.IgnoreDisconnectWebSocket}, {"redirect", raw.Redirect, nil}} {
		v, _, err := optBool(f.name, f.raw)
		if err != nil {
			return nil, err
		}
		if f.dst != nil {
			*f.dst = v
		}
	}
	if req.DataChannels, err = decodeDataChannels(raw.DataChannels); err != nil {
		return nil, err
	}
	if !isAbsent(raw.ForwardingFilters) {
		list, err := array("forwarding_filters", raw.ForwardingFilters)
		if err != nil {
			return nil, err
		}
		for i, f := range list {
			if _, err := object("forwarding_filters["+strconv.Itoa(i)+"]", f); err != nil {
				return nil, err
			}
		}
	}
	if !isAbsent(raw.ForwardingFilter) {
		if _, err := object("forwarding_filter", raw.ForwardingFilter); err != nil {
			return nil, err
		}
	}
	if req.AudioStreamingLanguageCode, _, err = optStr("audio_streaming_language_code", raw.AudioStreamingLanguageCode, 0, 255); err != nil {
		return nil, err
	}
	if req.SoraClient, _, err = optStr("sora_client", raw.SoraClient, 0, 1024); err != nil {
		return nil, err
	}
	if req.Environment, _, err = optStr("environment", raw.Environment, 0, 1024); err != nil {
		return nil, err
	}
	if _, _, err = optStr("libwebrtc", raw.LibWebRTC, 0, 1024); err != nil {
		return nil, err
	}
	multistream, present, err := optBool("multistream", raw.Multistream)
	if err != nil {
		return nil, err
	}
	if present && !multistream {
		return nil, invalidField("multistream", "false is not supported (legacy single-stream was removed)")
	}
	return req, nil
}

// decodeLayers reads connect's simulcast and spotlight fields. The layer a
// receiver asks for is simulcast_request_rid, else simulcast_rid, else the
// rid of the object form of simulcast ({"rid": "r1"}, which also turns
// simulcast on).
func decodeLayers(raw *rawMessage, req *room.JoinRequest) *closeError {
	var objRID string
	if !isAbsent(raw.Simulcast) {
		switch jsonKind(raw.Simulcast) {
		case "boolean":
			v, err := boolean("simulcast", raw.Simulcast)
			if err != nil {
				return err
			}
			req.Simulcast = v
		case "object":
			obj, err := object("simulcast", raw.Simulcast)
			if err != nil {
				return err
			}
			if objRID, _, err = optEnum("simulcast.rid", obj["rid"], "r0", "r1", "r2"); err != nil {
				return err
			}
			req.Simulcast = true
		default:
			return wantGot("simulcast", "a boolean or an object", raw.Simulcast)
		}
	}
	rid, _, err := optEnum("simulcast_rid", raw.SimulcastRID, "r0", "r1", "r2")
	if err != nil {
		return err
	}
	requestRID, _, err := optEnum("simulcast_request_rid", raw.SimulcastRequestRID, "none", "r0", "r1", "r2")
	if err != nil {
		return err
	}
	req.SimulcastRID = requestRID
	if req.SimulcastRID == "" {
		req.SimulcastRID = rid
	}
	if req.SimulcastRID == "" {
		req.SimulcastRID = objRID
	}
	if req.SpotlightFocusRID, _, err = optEnum("spotlight_focus_rid", raw.SpotlightFocusRID, "none", "r0", "r1", "r2"); err != nil {
		return err
	}
	if req.SpotlightUnfocusRID, _, err = optEnum("spotlight_unfocus_rid", raw.SpotlightUnfocusRID, "none", "r0", "r1", "r2"); err != nil {
		return err
	}
	if req.Spotlight, _, err = optBool("spotlight", raw.Spotlight); err != nil {
		return err
	}
	if req.SpotlightNumber, _, err = optInt("spotlight_number", raw.SpotlightNumber, 0, room.MaxSpotlightNumber); err != nil {
		return err
	}
	return nil
}

// decodeMedia reads connect's audio or video: a boolean or an object
// (which means enabled).
func decodeMedia(field string, raw json.RawMessage, kind dataplane.Kind, maxRate int) (room.Media, *closeError) {
	m := room.Media{Enabled: true}
	if isAbsent(raw) {
		return m, nil
	}
	switch jsonKind(raw) {
	case "boolean":
		b, err := boolean(field, raw)
		m.Enabled = b
		return m, err
	case "object":
	default:
		return m, wantGot(field, "a boolean or an object", raw)
	}
	obj, err := object(field, raw)
	if err != nil {
		return m, err
	}
	if ct, ok, err := optStr(field+".codec_type", obj["codec_type"], 1, 32); err != nil {
		return m, err
	} else if ok {
		c, found := dataplane.CodecByName(ct)
		if !found || c.Kind != kind {
			var names []string
			for _, c := range dataplane.Codecs {
				if c.Kind == kind {
					names = append(names, c.Name)
				}
			}
			return m, invalidField(field+".codec_type", fmt.Sprintf("%q is not supported (want %s)", truncate(ct, 32), strings.Join(names, ", ")))
		}
		m.CodecType = c.Name
	}
	if rate, ok, err := optInt(field+".bit_rate", obj["bit_rate"], 1, maxRate); err != nil {
		return m, err
	} else if ok {
		m.BitRate = rate
	}
	switch kind {
	case dataplane.KindAudio:
		if p, err := decodeOpusParams(obj["opus_params"]); err != nil {
			return m, err
		} else {
			m.OpusParams = p
		}
	case dataplane.KindVideo:
		if err := checkVideoParams(obj); err != nil {
			return m, err
		}
	}
	return m, nil
}

func decodeOpusParams(raw json.RawMessage) (*room.OpusParams, *closeError) {
	if isAbsent(raw) {
		return nil, nil
	}
	obj, err := object("audio.opus_params", raw)
	if err != nil {
		return nil, err
	}
	p := &room.OpusParams{}
	bools := []struct {
		name string
		dst  **bool
	}{{"stereo", &p.Stereo}, {"sprop_stereo", &p.SpropStereo}, {"useinbandfec", &p.UseInbandFEC}, {"usedtx", &p.UseDTX}}
	for _, f := range bools {
		v, ok, err := optBool("audio.opus_params."+f.name, obj[f.name])
		if err != nil {
			return nil, err
		}
		if ok {
			*f.dst = &v
		}
	}
	ints := []struct {
		name     string
		min, max int
		dst      **int
	}{{"maxplaybackrate", 8000, 48000, &p.MaxPlaybackRate}, {"minptime", 3, 120, &p.MinPTime}, {"ptime", 3, 120, &p.PTime},
		{"channels", 1, 2, nil}, {"clock_rate", 8000, 48000, nil}}
	for _, f := range ints {
		v, ok, err := optInt("audio.opus_params."+f.name, obj[f.name], f.min, f.max)
		if err != nil {
			return nil, err
		}
		if ok && f.dst != nil {
			*f.dst = &v
		}
	}
	return p, nil
}

// checkVideoParams validates the codec parameter objects. Their values are
// accepted but not applied: the offer uses the payload-type table's one
// configuration per codec.
func checkVideoParams(obj map[string]json.RawMessage) *closeError {
	if raw := obj["vp9_params"]; !isAbsent(raw) {
		o, err := object("video.vp9_params", raw)
		if err != nil {
			return err
		}
		if _, _, err := optInt("video.vp9_params.profile_id", o["profile_id"], 0, 3); err != nil {
			return err
		}
	}
	if raw := obj["av1_params"]; !isAbsent(raw) {
		o, err := object("video.av1_params", raw)
		if err != nil {
			return err
		}
		if _, _, err := optInt("video.av1_params.profile", o["profile"], 0, 2); err != nil {
			return err
		}
	}
	if raw := obj["h264_params"]; !isAbsent(raw) {
		o, err := object("video.h264_params", raw)
		if err != nil {
			return err
		}
		if _, _, err := optStr("video.h264_params.profile_level_id", o["profile_level_id"], 6, 6); err != nil {
			return err
		}
	}
	return nil
}

// decodeDataChannels reads connect's data_channels (signaling.md §4, §8).
// The room checks what spans entries (duplicate labels, their number, the
// exclusive reliability options).
func decodeDataChannels(raw json.RawMessage) ([]room.DataChannelRequest, *closeError) {
	if isAbsent(raw) {
		return nil, nil
	}
	list, err := array("data_channels", raw)
	if err != nil {
		return nil, err
	}
	if len(list) > room.MaxDataChannels {
		return nil, invalidField("data_channels", fmt.Sprintf("%d entries (want at most %d)", len(list), room.MaxDataChannels))
	}
	out := make([]room.DataChannelRequest, 0, len(list))
	for i, item := range list {
		f := "data_channels[" + strconv.Itoa(i) + "]"
		o, err := object(f, item)
		if err != nil {
			return nil, err
		}
		d := room.DataChannelRequest{Ordered: true, MaxPacketLifeTime: -1, MaxRetransmits: -1}
		if isAbsent(o["label"]) {
			return nil, invalidField(f+".label", "missing")
		}
		if d.Label, err = str(f+".label", o["label"], 2, room.MaxDataChannelLabelBytes); err != nil {
			return nil, err
		}
		if !strings.HasPrefix(d.Label, "#") {
			return nil, invalidField(f+".label", "must start with '#'")
		}
		if isAbsent(o["direction"]) {
			return nil, invalidField(f+".direction", "missing")
		}
		dir, err := enum(f+".direction", o["direction"], "sendonly", "recvonly", "sendrecv")
		if err != nil {
			return nil, err
		}
		d.Direction = room.DataChannelDirection(dir)
		if d.Compress, _, err = optBool(f+".compress", o["compress"]); err != nil {
			return nil, err
		}
		if v, ok, err := optBool(f+".ordered", o["ordered"]); err != nil {
			return nil, err
		} else if ok {
			d.Ordered = v
		}
		for _, n := range []struct {
			name string
			dst  *int
		}{{"max_packet_life_time", &d.MaxPacketLifeTime}, {"max_retransmits", &d.MaxRetransmits}} {
			v, ok, err := optInt(f+"."+n.name, o[n.name], 0, 65535)
			if err != nil {
				return nil, err
			}
			if ok {
				*n.dst = v
			}
		}
		if d.MaxPacketLifeTime >= 0 && d.MaxRetransmits >= 0 {
			return nil, invalidField(f, "max_packet_life_time and max_retransmits are exclusive")
		}
		if d.Protocol, _, err = optStr(f+".protocol", o["protocol"], 0, 255); err != nil {
			return nil, err
		}
		if h := o["header"]; !isAbsent(h) {
			items, err := array(f+".header", h)
			if err != nil {
				return nil, err
			}
			for j, it := range items {
				hf := f + ".header[" + strconv.Itoa(j) + "]"
				ho, err := object(hf, it)
				if err != nil {
					return nil, err
				}
				if isAbsent(ho["type"]) {
					return nil, invalidField(hf+".type", "missing")
				}
				if _, err := enum(hf+".type", ho["type"], "sender_connection_id"); err != nil {
					return nil, err
				}
				// length is the id's length; Hayate's ids are always 26 bytes.
				if _, _, err := optInt(hf+".length", ho["length"], 0, 255); err != nil {
					return nil, err
				}
				d.SenderConnectionID = true
			}
			d.Header = h
		}
		out = append(out, d)
	}
	return out, nil
}

// decodeSignalingChannel reads a message the client sent on the signaling
// DataChannel: re-answer, candidate or disconnect (signaling.md §7), with
// the checks of decode. Anything else closes with a reason.
func decodeSignalingChannel(b []byte) (message, *closeError) {
	m, err := decode(b)
	if err != nil {
		return m, err
	}
	switch m.Type {
	case typeReAnswer, typeCandidate, typeDisconnect:
		return m, nil
	}
	return m, closeErr(CloseUnexpectedMessage, "UNEXPECTED-MESSAGE", m.Type+" on the signaling DataChannel")
}

// --- typed field readers. raw is valid JSON (the whole frame was parsed). ---

// isAbsent treats a missing field and JSON null alike.
func isAbsent(raw json.RawMessage) bool {
	return len(raw) == 0 || string(raw) == "null"
}

// jsonKind names the JSON type of a value by its first byte.
func jsonKind(raw json.RawMessage) string {
	if len(raw) == 0 {
		return "nothing"
	}
	switch raw[0] {
	case '"':
		return "string"
	case '{':
		return "object"
	case '[':
		return "array"
	case 't', 'f':
		return "boolean"
	case 'n':
		return "null"
	}
	return "number"
}

func wantGot(field, want string, raw json.RawMessage) *closeError {
	return invalidField(field, "want "+want+", got "+article(jsonKind(raw)))
}

func article(kind string) string {
	if kind == "object" || kind == "array" {
		return "an " + kind
	}
	return "a " + kind
}

// str reads a string of min..max bytes (max < 0: no limit).
func str(field string, raw json.RawMessage, minLen, maxLen int) (string, *closeError) {
	if jsonKind(raw) != "string" {
		return "", wantGot(field, "a string", raw)
	}
	var s string
	if err := sonic.ConfigStd.Unmarshal(raw, &s); err != nil {
		return "", invalidField(field, "bad string")
	}
	if len(s) < minLen || (maxLen >= 0 && len(s) > maxLen) {
		if maxLen < 0 {
			return "", invalidField(field, fmt.Sprintf("%d bytes (want at least %d)", len(s), minLen))
		}
		return "", invalidField(field, fmt.Sprintf("%d bytes (want %d-%d)", len(s), minLen, maxLen))
	}
	return s, nil
}

func optStr(field string, raw json.RawMessage, minLen, maxLen int) (string, bool, *closeError) {
	if isAbsent(raw) {
		return "", false, nil
	}
	s, err := str(field, raw, minLen, maxLen)
	return s, err == nil, err
}

func enum(field string, raw json.RawMessage, values ...string) (string, *closeError) {
	s, err := str(field, raw, 0, 64)
	if err != nil {
		return "", err
	}
	for _, v := range values {
		if s == v {
			return s, nil
		}
	}
	return "", invalidField(field, fmt.Sprintf("%q (want %s)", truncate(s, 20), strings.Join(values, "|")))
}

func optEnum(field string, raw json.RawMessage, values ...string) (string, bool, *closeError) {
	if isAbsent(raw) {
		return "", false, nil
	}
	s, err := enum(field, raw, values...)
	return s, err == nil, err
}

func boolean(field string, raw json.RawMessage) (bool, *closeError) {
	switch string(raw) {
	case "true":
		return true, nil
	case "false":
		return false, nil
	}
	return false, wantGot(field, "a boolean", raw)
}

func optBool(field string, raw json.RawMessage) (bool, bool, *closeError) {
	if isAbsent(raw) {
		return false, false, nil
	}
	b, err := boolean(field, raw)
	return b, err == nil, err
}

func optInt(field string, raw json.RawMessage, minV, maxV int) (int, bool, *closeError) {
	if isAbsent(raw) {
		return 0, false, nil
	}
	want := fmt.Sprintf("an integer %d-%d", minV, maxV)
	if jsonKind(raw) != "number" {
		return 0, false, wantGot(field, want, raw)
	}
	v, err := strconv.ParseInt(string(raw), 10, 64)
	if err != nil {
		return 0, false, invalidField(field, "want "+want+", got "+truncate(string(raw), 24))
	}
	if v < int64(minV) || v > int64(maxV) {
		return 0, false, invalidField(field, fmt.Sprintf("want %s, got %d", want, v))
	}
	return int(v), true, nil
}

func object(field string, raw json.RawMessage) (map[string]json.RawMessage, *closeError) {
	if jsonKind(raw) != "object" {
		return nil, wantGot(field, "an object", raw)
	}
	var o map[string]json.RawMessage
	if err := sonic.ConfigStd.Unmarshal(raw, &o); err != nil {
		return nil, invalidField(field, "bad object")
	}
	return o, nil
}

func array(field string, raw json.RawMessage) ([]json.RawMessage, *closeError) {
	if jsonKind(raw) != "array" {
		return nil, wantGot(field, "an array", raw)
	}
	var a []json.RawMessage
	if err := sonic.ConfigStd.Unmarshal(raw, &a); err != nil {
		return nil, invalidField(field, "bad array")
	}
	return a, nil
}

func firstLine(s string) string {
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		s = s[:i]
	}
	return strings.TrimSpace(s)
}

// truncate shortens s to at most n bytes without splitting a UTF-8 character.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}
