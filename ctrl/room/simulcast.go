package room

import (
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/hayate-sfu/hayate/ctrl/offer"
	"github.com/hayate-sfu/hayate/dataplane"
)

// Simulcast (signaling.md §4–§6, §9, §11; api.md §2.4).
//
// A publisher that connects with simulcast (or joins a spotlight channel)
// is offered its video section with rids r0, r1, r2 and gets
// offer.encodings; the rids its answer sends become the layers of its
// video track in the plane (dataplane.Upstream.RIDs), and the plane learns
// their SSRCs from the MID and RID extensions.
//
// Each receiver asks for one layer of each simulcast video: in a normal
// channel its connect's simulcast_request_rid / simulcast_rid
// (DefaultSimulcastRID when it names none), replaced by
// RequestSimulcastRID for one sender or for all (the API's
// RequestSimulcastRid and RequestRtpStream, the RPC
// 2025.2.0/RequestSimulcastRid) until ResetSimulcastRID; in a spotlight
// channel the focus or unfocus layer (spotlight.go). A request for a layer
// the sender does not send gives the best layer it sends below it (the
// lowest when there is none below). The plane switches at the next
// keyframe of that layer, and may itself go lower while the receiver's
// bandwidth estimate cannot carry it, never higher than asked. Every
// switch it reports (dataplane.LayerEvents) becomes a simulcast.switched
// notify to the receiver: current_rid and previous_rid ("none" before the
// first layer), request_rid (the layer asked for), priority (higher or
// lower), trigger ("receiver": a request or the receiver's bandwidth;
// Hayate does not tell sender-side causes apart), rpc_rids (the layer asked
// for, when the API or RPC asked for it) and auto_rids (the layer the
// bandwidth estimate chose, when it is not the one asked for).

// DefaultSimulcastRID is the layer a receiver gets of each simulcast video
// when its connect names none: the best, which the plane lowers while the
// receiver's bandwidth cannot carry it. (What Sora does is unconfirmed.)
const DefaultSimulcastRID = "r2"

// RPC methods of simulcast and spotlight (signaling.md §9).
const (
	RPCRequestSimulcastRid = "2025.2.0/RequestSimulcastRid"
	RPCRequestSpotlightRid = "2025.2.0/RequestSpotlightRid"
	RPCResetSpotlightRid   = "2025.2.0/ResetSpotlightRid"
)

// EventSimulcastSwitched is the notify sent on every layer switch.
const EventSimulcastSwitched = "simulcast.switched"

// Errors of the layer requests.
var (
	// ErrSpotlightChannel is returned by RequestSimulcastRID in a spotlight
	// channel, where RequestSpotlightRID chooses the layers.
	ErrSpotlightChannel = errors.New("room: the channel is a spotlight channel")
	// ErrNotSpotlightChannel is returned by the spotlight operations in a
	// channel that is not a spotlight channel.
	ErrNotSpotlightChannel = errors.New("room: the channel is not a spotlight channel")
)

// LayerControl is what simulcast and spotlight need from a Transport beyond
// the Transport interface; the plane's transports have it
// (*dataplane.Transport through PlaneTransports). It returns quickly; the
// room calls it with a channel lock held.
type LayerControl interface {
	// SetDownstreamLayer asks for another layer ("r0"…, "none", "" the
	// best) of a downstream track; the switch waits for a keyframe of it.
	SetDownstreamLayer(trackID, rid string) error
}

// downstreamPauser stops and resumes one downstream track (spotlight
// pauses the audio of unfocused senders); the plane's transports have it.
type downstreamPauser interface {
	PauseDownstream(trackID string, paused bool) error
}

var (
	_ LayerControl          = planeTransport{}
	_ downstreamPauser      = planeTransport{}
	_ dataplane.LayerEvents = connEvents{}
)

// layerState is a connection's simulcast and spotlight choices and what
// the plane was told; guarded by ch.mu except the fields fixed at Join.
type layerState struct {
	// Fixed at Join.
	simulcast bool             // connect asked to publish simulcast
	encodings []offer.Encoding // offer.encodings of a simulcast publisher
	request   string           // connect's layer, never empty
	focusRID  string           // connect's spotlight layers, never empty
	unfocus   string

	all      string            // RequestSimulcastRID for every sender; "" none
	bySender map[string]string // RequestSimulcastRID per sender id
	spotAll  *spotRIDs         // RequestSpotlightRID for every sender
	spotBy   map[string]spotRIDs

	applied map[string]string // downstream video track → layer given to the plane
	paused  map[string]bool   // downstream audio track → paused by spotlight
}

// spotRIDs are the layers of focused and unfocused senders.
type spotRIDs struct{ focus, unfocus string }

// spotlightRequest is what a connect asked of the channel's spotlight; it
// counts only for the connection that opens the session.
type spotlightRequest struct {
	enabled bool
	number  int
}

// isRID reports whether v is a layer a client may ask for.
func isRID(v string) bool { return v == "none" || offer.RIDRank(v) >= 0 }

// MaxSpotlightNumber bounds spotlight_number.
const MaxSpotlightNumber = 255

func validateLayers(req *JoinRequest) error {
	for _, f := range []struct{ name, v string }{{"simulcast_rid", req.SimulcastRID},
		{"spotlight_focus_rid", req.SpotlightFocusRID}, {"spotlight_unfocus_rid", req.SpotlightUnfocusRID}} {
		if f.v != "" && !isRID(f.v) {
			return fmt.Errorf("%w: %s %q (want none, r0, r1 or r2)", ErrInvalidRequest, f.name, f.v)
		}
	}
	if req.SpotlightNumber < 0 || req.SpotlightNumber > MaxSpotlightNumber {
		return fmt.Errorf("%w: spotlight_number %d (want 1-%d)", ErrInvalidRequest, req.SpotlightNumber, MaxSpotlightNumber)
	}
	if req.SimulcastEncodings != nil {
		if err := offer.ValidateEncodings(req.SimulcastEncodings); err != nil {
			return fmt.Errorf("%w: simulcast encodings: %w", ErrInvalidRequest, err)
		}
	}
	return nil
}

// initLayers fixes the connection's simulcast and spotlight settings at Join.
func (c *Connection) initLayers(req *JoinRequest) {
	l := &c.lay
	l.simulcast = req.Simulcast
	l.encodings = slices.Clone(req.SimulcastEncodings)
	if l.encodings == nil {
		l.encodings = offer.DefaultEncodings()
	}
	l.request = cmpOr(req.SimulcastRID, DefaultSimulcastRID)
	l.focusRID = cmpOr(req.SpotlightFocusRID, DefaultSpotlightFocusRID)
	l.unfocus = cmpOr(req.SpotlightUnfocusRID, DefaultSpotlightUnfocusRID)
	l.bySender = map[string]string{}
	l.spotBy = map[string]spotRIDs{}
	l.applied = map[string]string{}
	l.paused = map[string]bool{}
	c.spotlightReq = spotlightRequest{enabled: req.Spotlight, number: req.SpotlightNumber}
}

func cmpOr(v, def string) string {
	if v == "" {
		return def
	}
	return v
}

// defaultRPCMethods are the methods granted when a JoinRequest names none:
// DefaultRPCMethods, RequestSimulcastRid for a receiver that uses simulcast
// or spotlight, and the spotlight methods for a receiver that asked for
// spotlight.
func defaultRPCMethods(req *JoinRequest) []string {
	out := slices.Clone(DefaultRPCMethods)
	if !req.Role.Receives() {
		return out
	}
	if req.Simulcast || req.Spotlight || req.SimulcastRID != "" {
		out = append(out, RPCRequestSimulcastRid)
	}
	if req.Spotlight {
		out = append(out, RPCRequestSpotlightRid, RPCResetSpotlightRid)
	}
	return out
}

// simulcastSenderLocked reports whether c's video is offered as simulcast:
// it asked for it, or its channel is a spotlight channel (as in Sora).
func (c *Connection) simulcastSenderLocked() bool {
	return c.role.Sends() && c.video.enabled && (c.lay.simulcast || c.ch.spot != nil)
}

// offeredRIDs keeps the rids of an answer that the offer offered, in
// ascending quality.
func offeredRIDs(send []string) []string {
	var out []string
	for _, r := range send {
		if offer.RIDRank(r) >= 0 && !slices.Contains(out, r) {
			out = append(out, r)
		}
	}
	slices.SortFunc(out, func(a, b string) int { return offer.RIDRank(a) - offer.RIDRank(b) })
	return out
}

// clampRID maps the layer asked for onto the layers a track has: "none"
// stays; without layers (a single stream) it is "", the stream itself;
// otherwise the best layer at or below the one asked for, or the lowest.
func clampRID(want string, rids []string) string {
	if want == "none" {
		return "none"
	}
	if len(rids) == 0 {
		return ""
	}
	rank := offer.RIDRank(want)
	best := rids[0]
	for _, r := range rids {
		if offer.RIDRank(r) <= rank {
			best = r
		}
	}
	return best
}

// memberLocked finds a connection of c's channel by id.
func (c *Connection) memberLocked(id string) *Connection {
	for _, m := range c.ch.members {
		if m.id == id {
			return m
		}
	}
	return nil
}

// sourceLocked finds the publisher of a track id and the track.
func (c *Connection) sourceLocked(trackID string) (*Connection, track, bool) {
	owner, _, _ := strings.Cut(trackID, ":")
	m := c.memberLocked(owner)
	if m == nil {
		return nil, track{}, false
	}
	for _, t := range m.upstreams {
		if t.id == trackID {
			return m, t, true
		}
	}
	return nil, track{}, false
}

// requestLocked is the layer c asks for of sender's video, and whether the
// API or RPC asked for it.
func (c *Connection) requestLocked(sender *Connection) (rid string, byRequest bool) {
	if c.ch.spot != nil {
		r, byRequest := c.spotRIDsLocked(sender.id)
		if c.ch.spot.isFocused(sender.id) {
			return r.focus, byRequest
		}
		return r.unfocus, byRequest
	}
	if r, ok := c.lay.bySender[sender.id]; ok {
		return r, true
	}
	if c.lay.all != "" {
		return c.lay.all, true
	}
	return c.lay.request, false
}

// downstreamRIDLocked is the layer to give the plane for a track c is about
// to receive ("" for audio and single streams).
func (c *Connection) downstreamRIDLocked(trackID string) string {
	sender, t, ok := c.sourceLocked(trackID)
	if !ok || t.kind != dataplane.KindVideo {
		return ""
	}
	want, _ := c.requestLocked(sender)
	return clampRID(want, t.rids)
}

// downstreamStartedLocked records a downstream the plane accepted with
// layer rid, and pauses it at once when it is the audio of an unfocused
// spotlight sender.
func (c *Connection) downstreamStartedLocked(trackID, rid string) {
	sender, t, ok := c.sourceLocked(trackID)
	if !ok {
		return
	}
	if t.kind == dataplane.KindVideo {
		c.lay.applied[trackID] = rid
		return
	}
	delete(c.lay.paused, trackID) // a new downstream starts unpaused
	c.applyAudioLocked(sender, trackID)
}

// applySenderLocked brings every downstream c receives of sender in line
// with c's choices: the video layer and, in a spotlight channel, whether
// the audio is paused.
func (c *Connection) applySenderLocked(sender *Connection) {
	if c.left || c.tr == nil {
		return
	}
	for _, s := range c.sections {
		id := c.forwarding[s.Mid]
		if id == "" || !strings.HasPrefix(id, sender.id+":") {
			continue
		}
		_, t, ok := c.sourceLocked(id)
		if !ok {
			continue
		}
		if t.kind == dataplane.KindAudio {
			c.applyAudioLocked(sender, id)
			continue
		}
		want, _ := c.requestLocked(sender)
		rid := clampRID(want, t.rids)
		if cur, ok := c.lay.applied[id]; ok && cur == rid {
			continue
		}
		lc, ok := c.tr.(LayerControl)
		if !ok {
			c.reg.log.Warn("room: the transport cannot choose simulcast layers", "connection_id", c.id)
			return
		}
		if err := lc.SetDownstreamLayer(id, rid); err != nil {
			c.reg.metrics.dataplaneErrors.Inc()
			c.reg.log.Warn("room: layer refused by the media plane", "connection_id", c.id, "track", id, "rid", rid, "err", err)
			continue
		}
		c.lay.applied[id] = rid
		c.reg.log.Debug("room: layer requested", "connection_id", c.id, "track", id, "rid", rid)
	}
}

// applyAudioLocked pauses or resumes one audio downstream of sender: in a
// spotlight channel the audio of unfocused senders is not forwarded.
func (c *Connection) applyAudioLocked(sender *Connection, trackID string) {
	want := c.ch.spot != nil && !c.ch.spot.isFocused(sender.id)
	if c.lay.paused[trackID] == want {
		return
	}
	p, ok := c.tr.(downstreamPauser)
	if !ok {
		c.reg.log.Warn("room: the transport cannot pause a track", "connection_id", c.id)
		return
	}
	if err := p.PauseDownstream(trackID, want); err != nil {
		c.reg.metrics.dataplaneErrors.Inc()
		c.reg.log.Warn("room: pause refused by the media plane", "connection_id", c.id, "track", trackID, "err", err)
		return
	}
	c.lay.paused[trackID] = want
}

// receiverLocked checks that c may ask for layers now.
func (c *Connection) receiverLocked() error {
	if c.left {
		return ErrLeft
	}
	if !c.role.Receives() {
		return fmt.Errorf("%w: connection %s is %s and receives no media", ErrInvalidRequest, c.id, c.role)
	}
	return nil
}

// senderLocked finds the sender a request names; "" means every sender
// (nil).
func (c *Connection) senderLocked(senderID string) (*Connection, error) {
	if senderID == "" {
		return nil, nil
	}
	s := c.memberLocked(senderID)
	if s == nil || s.left {
		return nil, fmt.Errorf("%w: sender %q is not in channel %q", ErrUnknownConnection, senderID, c.channelID)
	}
	return s, nil
}

// applyAllLocked re-applies c's choices to every sender (nil) or to one.
func (c *Connection) applyAllLocked(sender *Connection) {
	if sender != nil {
		c.applySenderLocked(sender)
		return
	}
	for _, m := range c.ch.members {
		if m != c {
			c.applySenderLocked(m)
		}
	}
}

// RequestSimulcastRID asks that c receive layer rid ("none", "r0", "r1",
// "r2") of the simulcast video of the sender senderID, or of every sender
// when senderID is empty (the API's RequestSimulcastRid and
// RequestRtpStream, the RPC 2025.2.0/RequestSimulcastRid). It holds until
// ResetSimulcastRID, for the sender's video now and later. It fails with
// ErrInvalidRequest for another rid or a connection that receives nothing,
// ErrUnknownConnection for a sender not in the channel, and
// ErrSpotlightChannel in a spotlight channel.
func (c *Connection) RequestSimulcastRID(rid, senderID string) error {
	if !isRID(rid) {
		return fmt.Errorf("%w: rid %q (want none, r0, r1 or r2)", ErrInvalidRequest, rid)
	}
	c.ch.mu.Lock()
	defer c.ch.mu.Unlock()
	if err := c.receiverLocked(); err != nil {
		return err
	}
	if c.ch.spot != nil {
		return fmt.Errorf("%w: %q chooses layers with RequestSpotlightRid", ErrSpotlightChannel, c.channelID)
	}
	sender, err := c.senderLocked(senderID)
	if err != nil {
		return err
	}
	if sender == nil {
		c.lay.all = rid
		clear(c.lay.bySender)
	} else {
		c.lay.bySender[sender.id] = rid
	}
	c.reg.log.Info("room: simulcast rid requested", "connection_id", c.id, "sender", senderID, "rid", rid)
	c.applyAllLocked(sender)
	return nil
}

// ResetSimulcastRID drops what RequestSimulcastRID asked for the sender
// senderID, or every request when senderID is empty: c receives its
// connect's layer again (the API's ResetRtpStream).
func (c *Connection) ResetSimulcastRID(senderID string) error {
	c.ch.mu.Lock()
	defer c.ch.mu.Unlock()
	if err := c.receiverLocked(); err != nil {
		return err
	}
	if c.ch.spot != nil {
		return fmt.Errorf("%w: %q chooses layers with RequestSpotlightRid", ErrSpotlightChannel, c.channelID)
	}
	sender, err := c.senderLocked(senderID)
	if err != nil {
		return err
	}
	if sender == nil {
		c.lay.all = ""
		clear(c.lay.bySender)
	} else {
		delete(c.lay.bySender, sender.id)
	}
	c.applyAllLocked(sender)
	return nil
}

// simulcastSwitchedMessage is the simulcast.switched notify (signaling.md §6).
type simulcastSwitchedMessage struct {
	Type               string   `json:"type"`
	EventType          string   `json:"event_type"`
	Timestamp          string   `json:"timestamp"`
	SenderConnectionID string   `json:"sender_connection_id"`
	Priority           string   `json:"priority"`
	Trigger            string   `json:"trigger"`
	RPCRids            []string `json:"rpc_rids"`
	AutoRids           []string `json:"auto_rids"`
	RequestRID         string   `json:"request_rid"`
	CurrentRID         string   `json:"current_rid"`
	PreviousRID        string   `json:"previous_rid"`
}

// OnLayerSwitched implements dataplane.LayerEvents.
func (e connEvents) OnLayerSwitched(trackID, rid, previousRID string) {
	e.c.onLayerSwitched(trackID, rid, previousRID)
}

func (c *Connection) onLayerSwitched(trackID, rid, prev string) {
	c.ch.mu.Lock()
	defer c.ch.mu.Unlock()
	if c.left || !c.created {
		return
	}
	sender, t, ok := c.sourceLocked(trackID)
	if !ok || t.kind != dataplane.KindVideo {
		return
	}
	want, byRequest := c.requestLocked(sender)
	c.reg.log.Debug("room: layer switched", "connection_id", c.id, "track", trackID, "rid", rid, "previous", prev, "request", want)
	if !c.reg.cfg.Notify {
		return
	}
	msg := simulcastSwitchedMessage{
		Type: "notify", EventType: EventSimulcastSwitched, Timestamp: timestamp(c.reg.cfg.Now()),
		SenderConnectionID: sender.id, Priority: "higher", Trigger: "receiver",
		RPCRids: []string{}, AutoRids: []string{},
		RequestRID: want, CurrentRID: rid, PreviousRID: prev,
	}
	if layerRank(rid) < layerRank(prev) {
		msg.Priority = "lower"
	}
	if byRequest {
		msg.RPCRids = append(msg.RPCRids, want)
	}
	if rid != clampRID(want, t.rids) {
		msg.AutoRids = append(msg.AutoRids, rid)
	}
	c.send(msg)
	c.reg.metrics.notifies.WithLabelValues(EventSimulcastSwitched).Inc()
}

// layerRank orders layers for priority: "none" (or unknown) below r0.
func layerRank(rid string) int { return offer.RIDRank(rid) }
