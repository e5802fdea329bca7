package api

import (
	"errors"
	"fmt"
	"math"
	"net/http"
	"net/netip"
	"strconv"
	"strings"

	"github.com/hayate-sfu/hayate/ctrl/room"
	"github.com/hayate-sfu/hayate/dataplane"
)

// Media operations: RTP stream pause (Sora_20200401), the upstream video
// bitrate cap (Sora_20190327) and RTP forwarding (Sora_20170814). The room
// does the work (ctrl/room/media_ops.go); this file decodes, vets and
// answers in the seed document's shapes.

// Error types of the media operations (the package doc lists each with its
// status).
const (
	// TypeNoMediaTrack: StartForwardingRtp on a connection that publishes
	// neither audio nor video (yet).
	TypeNoMediaTrack = "NO-MEDIA-TRACK"
	// TypeDestinationNotAllowed: StartForwardingRtp to an address that is
	// neither loopback nor in Config.RTPForwardingAllowList.
	TypeDestinationNotAllowed = "DESTINATION-NOT-ALLOWED"
)

// Limits of the media operations' keys.
const (
	// MinUpstreamVideoBitRate and MaxUpstreamVideoBitRate bound
	// ChangeUpstreamVideoBitRate's bit_rate, in kbps (the seed document).
	MinUpstreamVideoBitRate = 1
	MaxUpstreamVideoBitRate = 30000
)

// --- request decoding ---

// optStr reads an optional string of 1..maxLen bytes; absent or null is "".
func (b body) optStr(key string, maxLen int) (string, *Error) {
	if !b.present(key) {
		return "", nil
	}
	return b.str(key, maxLen)
}

// integer reads a required integer in [lo, hi]. A JSON number with an
// exponent is accepted when its value is whole (3e2 is 300).
func (b body) integer(key string, lo, hi int64) (int64, *Error) {
	if !b.present(key) {
		return 0, missingKey(key)
	}
	raw := strings.TrimSpace(string(b[key]))
	if k := JSONKind(b[key]); k != "a number" {
		return 0, invalidType(key, "an integer", k)
	}
	v, err := strconv.ParseInt(raw, 10, 64)
	if err != nil {
		f, ferr := strconv.ParseFloat(raw, 64)
		switch {
		case ferr != nil && !errors.Is(ferr, strconv.ErrRange):
			return 0, invalidType(key, "an integer", "a malformed number")
		case f != math.Trunc(f):
			return 0, invalidType(key, "an integer", "a fraction ("+truncate(raw, 40)+")")
		case f < float64(lo) || f > float64(hi):
			return 0, invalidValue(key, "is %s (want %d-%d)", truncate(raw, 40), lo, hi)
		}
		v = int64(f)
	}
	if v < lo || v > hi {
		return 0, invalidValue(key, "is %d (want %d-%d)", v, lo, hi)
	}
	return v, nil
}

// rtpStreamRequest is the body of PauseRtpStream and ResumeRtpStream.
type rtpStreamRequest struct{ ChannelID, RecvConnectionID, SendConnectionID string }

func (r *rtpStreamRequest) decode(b body) (err *Error) {
	if r.ChannelID, err = b.str("channel_id", maxIDBytes); err != nil {
		return err
	}
	if r.RecvConnectionID, err = b.str("recv_connection_id", maxIDBytes); err != nil {
		return err
	}
	r.SendConnectionID, err = b.str("send_connection_id", maxIDBytes)
	return err
}

type bitRateRequest struct {
	connectionRequest
	BitRate int // kbps
}

func (r *bitRateRequest) decode(b body) *Error {
	if err := r.connectionRequest.decode(b); err != nil {
		return err
	}
	v, err := b.integer("bit_rate", MinUpstreamVideoBitRate, MaxUpstreamVideoBitRate)
	if err != nil {
		return err
	}
	r.BitRate = int(v)
	return nil
}

type startForwardingRequest struct {
	ChannelID    string
	ConnectionID string // "" when absent: the channel's only publisher
	IP           netip.Addr
	AudioPort    uint16
	VideoPort    uint16
}

func (r *startForwardingRequest) decode(b body) *Error {
	var err *Error
	if r.ChannelID, err = b.str("channel_id", maxIDBytes); err != nil {
		return err
	}
	if r.ConnectionID, err = b.optStr("connection_id", maxIDBytes); err != nil {
		return err
	}
	s, err := b.str("ip_address", 64)
	if err != nil {
		return err
	}
	ip, perr := netip.ParseAddr(s)
	switch {
	case perr != nil:
		return invalidValue("ip_address", "%s is not an IP address", strconv.Quote(s))
	case ip.Zone() != "":
		return invalidValue("ip_address", "%s has a zone (want an address without %%zone)", strconv.Quote(s))
	case ip.Unmap().IsUnspecified():
		return invalidValue("ip_address", "%s is the unspecified address", strconv.Quote(s))
	}
	r.IP = ip.Unmap()
	for _, p := range []struct {
		key string
		dst *uint16
	}{{"audio_port", &r.AudioPort}, {"video_port", &r.VideoPort}} {
		v, err := b.integer(p.key, 1, 65535)
		if err != nil {
			return err
		}
		*p.dst = uint16(v)
	}
	if r.AudioPort == r.VideoPort {
		return invalidValue("video_port", "is audio_port too (%d): each stream needs its own port", r.VideoPort)
	}
	return nil
}

type stopForwardingRequest struct{ ChannelID, ConnectionID string }

func (r *stopForwardingRequest) decode(b body) (err *Error) {
	if r.ChannelID, err = b.str("channel_id", maxIDBytes); err != nil {
		return err
	}
	r.ConnectionID, err = b.optStr("connection_id", maxIDBytes)
	return err
}

// --- errors ---

// keyedConnectionNotFound is connectionNotFound naming the key that held
// the id (recv_connection_id, send_connection_id).
func keyedConnectionNotFound(channelID, key, connectionID string) *Error {
	e := connectionNotFound(channelID, connectionID)
	e.Reason.Key = key
	e.Reason.Message += " (" + key + ")"
	return e
}

// mediaUnsupported answers a room.ErrMediaUnsupported: the media plane this
// server runs with lacks the feature.
func mediaUnsupported(target string, err error) *Error {
	return &Error{Status: http.StatusNotImplemented, Type: TypeNotImplemented,
		Reason: Reason{Target: target, Message: target + " is not available: " + err.Error()}}
}

// notPublishing says why a connection has no track of what: its role, its
// connect, or its answer not applied yet.
func notPublishing(c room.ConnectionInfo, what string) string {
	switch {
	case !c.Role.Sends():
		return "is " + string(c.Role) + ": it publishes no " + what
	case what == "video" && !c.Video:
		return "connected with video: false: it publishes no video"
	}
	return "publishes no " + what + " track yet (its answer is not applied)"
}

// --- RTP stream pause ---

// rtpStreamResult is the answer of PauseRtpStream and ResumeRtpStream (the
// request's three ids).
type rtpStreamResult struct {
	ChannelID        string `json:"channel_id"`
	RecvConnectionID string `json:"recv_connection_id"`
	SendConnectionID string `json:"send_connection_id"`
}

// pausedStreamJSON is one entry of ListPauseRtpStreams; role is the
// receiving connection's.
type pausedStreamJSON struct {
	ChannelID        string `json:"channel_id"`
	RecvConnectionID string `json:"recv_connection_id"`
	Role             string `json:"role"`
	SendConnectionID string `json:"send_connection_id"`
}

// rtpStreamPair finds the two connections of a pause and checks that the
// receiver receives video and the sender publishes it.
func (a *API) rtpStreamPair(req *rtpStreamRequest) (recv, send *room.Connection, _ *Error) {
	recv, ok := a.cfg.Rooms.Connection(req.RecvConnectionID)
	if !ok || recv.ChannelID() != req.ChannelID {
		return nil, nil, keyedConnectionNotFound(req.ChannelID, "recv_connection_id", req.RecvConnectionID)
	}
	send, ok = a.cfg.Rooms.Connection(req.SendConnectionID)
	if !ok || send.ChannelID() != req.ChannelID {
		return nil, nil, keyedConnectionNotFound(req.ChannelID, "send_connection_id", req.SendConnectionID)
	}
	if recv == send {
		return nil, nil, invalidValue("send_connection_id", "is recv_connection_id too: a connection does not receive itself")
	}
	ri, si := recv.Info(), send.Info()
	switch {
	case !ri.Role.Receives():
		return nil, nil, invalidValue("recv_connection_id", "%s is %s: it receives nothing", strconv.Quote(ri.ConnectionID), ri.Role)
	case !ri.Video:
		return nil, nil, invalidValue("recv_connection_id", "%s connected with video: false: it receives no video", strconv.Quote(ri.ConnectionID))
	case !si.Role.Sends() || !si.Video:
		why := "is recvonly"
		if si.Role.Sends() {
			why = "connected with video: false"
		}
		return nil, nil, &Error{Status: http.StatusBadRequest, Type: TypeNoVideoTrack, Reason: Reason{
			ChannelID: req.ChannelID, ConnectionID: req.SendConnectionID, Key: "send_connection_id",
			Message: "send_connection_id " + strconv.Quote(req.SendConnectionID) + " " + why + ": it publishes no video to pause",
		}}
	}
	return recv, send, nil
}

func (a *API) setRTPStreamPaused(target string, req *rtpStreamRequest, paused bool) (any, *Error) {
	recv, send, e := a.rtpStreamPair(req)
	if e != nil {
		return nil, e
	}
	var n int
	var err error
	if paused {
		n, err = recv.PauseRTPStream(send)
	} else {
		n, err = recv.ResumeRTPStream(send)
	}
	switch {
	case errors.Is(err, room.ErrLeft):
		return nil, keyedConnectionNotFound(req.ChannelID, "recv_connection_id", req.RecvConnectionID)
	case errors.Is(err, room.ErrMediaUnsupported):
		return nil, mediaUnsupported(target, err)
	case err != nil:
		return nil, internalError("%s: %v", target, err)
	}
	msg := "api: RTP stream resumed"
	if paused {
		msg = "api: RTP stream paused"
	}
	a.log.Info(msg, "channel_id", req.ChannelID,
		"recv_connection_id", req.RecvConnectionID, "send_connection_id", req.SendConnectionID, "tracks", n)
	return rtpStreamResult(*req), nil
}

func (a *API) pauseRtpStream(req *rtpStreamRequest) (any, *Error) {
	return a.setRTPStreamPaused("Sora_20200401.PauseRtpStream", req, true)
}

func (a *API) resumeRtpStream(req *rtpStreamRequest) (any, *Error) {
	return a.setRTPStreamPaused("Sora_20200401.ResumeRtpStream", req, false)
}

func (a *API) listPauseRtpStreams(req *channelRequest) (any, *Error) {
	if _, e := a.channelConnections(req.ChannelID); e != nil {
		return nil, e
	}
	ps := a.cfg.Rooms.PausedRTPStreams(req.ChannelID)
	out := make([]pausedStreamJSON, 0, len(ps))
	for _, p := range ps {
		out = append(out, pausedStreamJSON{ChannelID: p.ChannelID, RecvConnectionID: p.RecvConnectionID,
			Role: string(p.RecvRole), SendConnectionID: p.SendConnectionID})
	}
	return out, nil
}

// --- upstream video bitrate ---

type bitRateResult struct {
	BitRate      int    `json:"bit_rate"`
	ChannelID    string `json:"channel_id"`
	ConnectionID string `json:"connection_id"`
}

func (a *API) changeUpstreamVideoBitRate(req *bitRateRequest) (any, *Error) {
	const target = "Sora_20190327.ChangeUpstreamVideoBitRate"
	c, e := a.connection(req.ChannelID, req.ConnectionID)
	if e != nil {
		return nil, e
	}
	n, err := c.SetVideoBitrateCap(req.BitRate)
	switch {
	case errors.Is(err, room.ErrLeft):
		return nil, connectionNotFound(req.ChannelID, req.ConnectionID)
	case errors.Is(err, room.ErrMediaUnsupported):
		return nil, mediaUnsupported(target, err)
	case err != nil:
		return nil, internalError("capping the bitrate: %v", err)
	case n == 0:
		return nil, &Error{Status: http.StatusBadRequest, Type: TypeNoVideoTrack, Reason: Reason{
			ChannelID: req.ChannelID, ConnectionID: req.ConnectionID,
			Message: "connection " + strconv.Quote(req.ConnectionID) + " " + notPublishing(c.Info(), "video") + " to cap",
		}}
	}
	a.log.Info("api: upstream video bitrate capped", "channel_id", req.ChannelID, "connection_id", req.ConnectionID, "kbps", req.BitRate)
	return bitRateResult{req.BitRate, req.ChannelID, req.ConnectionID}, nil
}

// --- RTP forwarding ---

type sdpResult struct {
	SDP string `json:"sdp"`
}

// forwardingAllowed reports whether RTP may be forwarded to ip: loopback
// always, others when Config.RTPForwardingAllowList has them.
func (a *API) forwardingAllowed(ip netip.Addr) bool {
	if ip.IsLoopback() {
		return true
	}
	for _, p := range a.cfg.RTPForwardingAllowList {
		if p.Contains(ip) {
			return true
		}
	}
	return false
}

// publisher is the connection StartForwardingRtp forwards: the one named,
// or the channel's only connection whose role publishes.
func (a *API) publisher(channelID, connectionID string) (*room.Connection, *Error) {
	if connectionID != "" {
		return a.connection(channelID, connectionID)
	}
	infos, e := a.channelConnections(channelID)
	if e != nil {
		return nil, e
	}
	var pubs []string
	for _, c := range infos {
		if c.Role.Sends() {
			pubs = append(pubs, c.ConnectionID)
		}
	}
	if len(pubs) != 1 {
		n := "no publishing connection"
		if len(pubs) > 1 {
			n = strconv.Itoa(len(pubs)) + " publishing connections"
		}
		return nil, &Error{Status: http.StatusBadRequest, Type: TypeMissingKey, Reason: Reason{
			ChannelID: channelID, Key: "connection_id",
			Message: "connection_id is required: channel " + strconv.Quote(channelID) + " has " + n + ", not exactly one",
		}}
	}
	return a.connection(channelID, pubs[0])
}

func (a *API) startForwardingRtp(req *startForwardingRequest) (any, *Error) {
	const target = "Sora_20170814.StartForwardingRtp"
	if !a.forwardingAllowed(req.IP) {
		return nil, &Error{Status: http.StatusBadRequest, Type: TypeDestinationNotAllowed, Reason: Reason{
			Key:     "ip_address",
			Message: "ip_address " + req.IP.String() + " is not a loopback address nor in the RTP forwarding allow-list",
		}}
	}
	c, e := a.publisher(req.ChannelID, req.ConnectionID)
	if e != nil {
		return nil, e
	}
	f, err := c.StartRTPForwarding(netip.AddrPortFrom(req.IP, req.AudioPort), netip.AddrPortFrom(req.IP, req.VideoPort))
	switch {
	case errors.Is(err, room.ErrLeft):
		return nil, connectionNotFound(req.ChannelID, c.ID())
	case errors.Is(err, room.ErrNoTrack):
		return nil, &Error{Status: http.StatusBadRequest, Type: TypeNoMediaTrack, Reason: Reason{
			ChannelID: req.ChannelID, ConnectionID: c.ID(),
			Message: "connection " + strconv.Quote(c.ID()) + " " + notPublishing(c.Info(), "audio or video") + " to forward",
		}}
	case errors.Is(err, room.ErrAddressFamily):
		return nil, invalidValue("ip_address", "%s cannot be reached: %v", req.IP, err)
	case errors.Is(err, room.ErrMediaUnsupported):
		return nil, mediaUnsupported(target, err)
	case err != nil:
		return nil, internalError("starting the RTP forwarding: %v", err)
	}
	a.log.Info("api: RTP forwarding started", "channel_id", req.ChannelID, "connection_id", c.ID(),
		"ip_address", req.IP.String(), "audio_port", req.AudioPort, "video_port", req.VideoPort)
	return sdpResult{ForwardingSDP(f, req.IP)}, nil
}

func (a *API) stopForwardingRtp(req *stopForwardingRequest) (any, *Error) {
	if req.ConnectionID != "" {
		c, e := a.connection(req.ChannelID, req.ConnectionID)
		if e != nil {
			return nil, e
		}
		c.StopRTPForwarding()
		return connectionResult{req.ChannelID, req.ConnectionID}, nil
	}
	stopped := a.cfg.Rooms.StopChannelRTPForwarding(req.ChannelID)
	if len(stopped) == 0 {
		if _, e := a.channelConnections(req.ChannelID); e != nil {
			return nil, e
		}
	}
	return struct {
		ChannelID string `json:"channel_id"`
	}{req.ChannelID}, nil
}

// ForwardingSDP is the session description with which a plain RTP receiver
// (ffmpeg -protocol_whitelist file,udp,rtp -i x.sdp; GStreamer sdpdemux)
// takes the forwarded streams at ip: one recvonly m-line per track on its
// port, RTP/AVP (the packets are plain RTP, unlike the seed document's
// example, which says RTP/SAVPF), with the codec's rtpmap and fmtp and the
// stream's SSRC.
func ForwardingSDP(f room.RTPForwarding, ip netip.Addr) string {
	family := "IP4"
	if ip.Is6() {
		family = "IP6"
	}
	var b strings.Builder
	fmt.Fprintf(&b, "v=0\r\no=- 0 0 IN %s %s\r\ns=Hayate %s\r\nt=0 0\r\n", family, ip, f.ConnectionID)
	for _, t := range f.Tracks {
		c := t.Codec
		media := "audio"
		if t.Kind == dataplane.KindVideo {
			media = "video"
		}
		fmt.Fprintf(&b, "m=%s %d RTP/AVP %d\r\nc=IN %s %s\r\n", media, t.To.Port(), c.PayloadType, family, ip)
		fmt.Fprintf(&b, "a=rtpmap:%d %s/%d", c.PayloadType, c.MimeName, c.ClockRate)
		if c.Channels > 0 {
			fmt.Fprintf(&b, "/%d", c.Channels)
		}
		b.WriteString("\r\n")
		if c.Fmtp != "" {
			fmt.Fprintf(&b, "a=fmtp:%d %s\r\n", c.PayloadType, c.Fmtp)
		}
		fmt.Fprintf(&b, "a=ssrc:%d cname:%s\r\na=recvonly\r\n", t.SSRC, f.ConnectionID)
	}
	return b.String()
}
