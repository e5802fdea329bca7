package room

import (
	"encoding/json"
	"fmt"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/hayate-sfu/hayate/ctrl/offer"
	"github.com/hayate-sfu/hayate/dataplane"
)

// negotiation is what a connection's offer/answer exchange waits for.
type negotiation uint8

const (
	stable           negotiation = iota // no offer in flight
	awaitingAnswer                      // the first offer was sent
	awaitingReAnswer                    // a re-offer was sent
)

func (n negotiation) String() string {
	switch n {
	case awaitingAnswer:
		return "awaiting answer"
	case awaitingReAnswer:
		return "awaiting re-answer"
	}
	return "no offer pending"
}

// track is an upstream track a connection publishes.
type track struct {
	id    string // "<connection_id>:<mid>", the dataplane TrackID
	kind  dataplane.Kind
	mid   string
	codec dataplane.Codec
	// rids are the simulcast layers the client sends, ascending quality;
	// empty for a single stream.
	rids []string
}

// section is one m-section of a connection's offer.
type section struct {
	offer.Section
	own    bool   // carries the client's own upstream
	source string // track forwarded in it; "" when own or inactive
}

// Connection is one client in a channel. Its methods may be called from
// any goroutine; the state below the channel line is guarded by the
// channel's mutex.
type Connection struct {
	reg  *Registry
	peer Peer

	id, channelID, clientID, bundleID string
	role                              Role
	audio, video                      media
	metadata, notifyMetadata          json.RawMessage
	authzMetadata, eventMetadata      json.RawMessage // auth webhook payouts; nil when absent
	icePolicy                         string          // "" means Config.ICETransportPolicy
	turn                              TURNOptions
	noNotify                          bool // no notify messages to this connection (signaling_notify payout)
	soraClient, environment           string
	audioLang                         string // audio_streaming_language_code
	joinedAt                          time.Time
	sdpSessionID                      uint64
	ch                                *channel // set before the transport exists, never changed

	// DataChannels, fixed at Join (datachannel.go).
	dcSignaling, ignoreWS bool        // effective data_channel_signaling, ignore_disconnect_websocket
	rpcMethods            []string    // granted on the rpc channel
	dcs                   []*endpoint // the channels the server opens, in opening order
	appMid                string      // mid of the m=application section; "" without DataChannels
	spotlightReq          spotlightRequest

	// Simulcast layers and spotlight choices (simulcast.go); guarded by ch.mu.
	lay layerState

	// Guarded by ch.mu.
	tr                     Transport
	left                   bool
	connected              bool // transport reported OnConnected
	created                bool // connection.created sent (connected and answered)
	createdAt              time.Time
	version                uint64 // SDP o= sess-version of the last offer
	sections               []section
	answered               []section // the sections as of the last applied answer
	state                  negotiation
	dirty                  bool // the tracks to receive changed during an exchange
	answeredOnce           bool
	remoteUfrag, remotePwd string
	upstreams              []track
	forwarding             map[string]string // mid → track id given to AddDownstream
	usedSSRC               map[uint32]bool
	nextMid                int
	dcAccepted             bool // the answer accepted the application section
	dcOpened               bool // the DataChannels were opened (endpoint.ch set)
	switched               bool // signaling goes on DataChannels ("switched" sent)
	switchPending          bool // channels open, waiting for the client's answer on stats
	switchTimer            *time.Timer
}

// ID is the connection_id.
func (c *Connection) ID() string { return c.id }

// ChannelID is the channel the connection is in.
func (c *Connection) ChannelID() string { return c.channelID }

// SessionID is the id of the channel's session the connection joined.
func (c *Connection) SessionID() string { return c.ch.sessionID }

// Info returns a snapshot of the connection.
func (c *Connection) Info() ConnectionInfo {
	c.ch.mu.Lock()
	defer c.ch.mu.Unlock()
	return c.infoLocked()
}

func (c *Connection) infoLocked() ConnectionInfo {
	info := ConnectionInfo{
		ChannelID: c.channelID, SessionID: c.ch.sessionID,
		ConnectionID: c.id, ClientID: c.clientID, BundleID: c.bundleID,
		Role: c.role, Audio: c.audio.enabled, Video: c.video.enabled,
		Metadata: c.metadata, NotifyMetadata: c.notifyMetadata,
		SoraClient: c.soraClient, Environment: c.environment, AudioStreamingLanguageCode: c.audioLang,
		JoinedAt: c.joinedAt, Created: c.created, CreatedAt: c.createdAt,
		Simulcast: c.simulcastSenderLocked(), Spotlight: c.ch.spot != nil,
	}
	if c.audio.enabled {
		info.AudioCodecType, info.AudioBitRate = c.audio.codec.Name, c.audio.bitRate
	}
	if c.video.enabled {
		info.VideoCodecType, info.VideoBitRate = c.video.codec.Name, c.video.bitRate
	}
	return info
}

func (c *Connection) mediaOf(k dataplane.Kind) media {
	if k == dataplane.KindAudio {
		return c.audio
	}
	return c.video
}

// receivesKind reports whether the connection wants forwarded tracks of k.
func (c *Connection) receivesKind(k dataplane.Kind) bool {
	return c.role.Receives() && c.mediaOf(k).enabled
}

// published reports whether other connections receive c's tracks: once its
// transport is up and its answer applied, until it leaves.
func (c *Connection) published() bool { return c.created && !c.left }

// send encodes and queues a message: on the WebSocket, or once signaling
// has switched on the DataChannel of its kind (re-offer on signaling,
// notify on notify, push on push). Called with ch.mu held.
func (c *Connection) send(v any) {
	if c.noNotify && labelOf(v) == LabelNotify {
		return // the auth webhook's signaling_notify: false
	}
	b, err := encode(v)
	if err != nil {
		c.reg.log.Error("room: encoding a message", "connection_id", c.id, "err", err)
		return
	}
	c.sendBytesLocked(labelOf(v), b)
}

// --- offers ---

func (c *Connection) newMid() string {
	m := strconv.Itoa(c.nextMid)
	c.nextMid++
	return m
}

func (c *Connection) newSSRC() uint32 {
	for {
		s := c.reg.uint32()
		if s != 0 && !c.usedSSRC[s] {
			c.usedSSRC[s] = true
			return s
		}
	}
}

// wanted is a track c should receive, with its publisher.
type wanted struct {
	t     track
	owner *Connection
}

// eachWantedLocked calls f with each track c should receive now: every
// published track of the other bundles, in join order, of the kinds c
// receives. It stops when f returns false.
func (c *Connection) eachWantedLocked(f func(wanted) bool) {
	for _, m := range c.ch.members {
		if m == c || m.bundleID == c.bundleID || !m.published() {
			continue
		}
		for _, t := range m.upstreams {
			if c.receivesKind(t.kind) && !f(wanted{t, m}) {
				return
			}
		}
	}
}

// desiredLocked lists the tracks c should receive now (eachWantedLocked).
func (c *Connection) desiredLocked() []wanted {
	var out []wanted
	c.eachWantedLocked(func(w wanted) bool {
		out = append(out, w)
		return true
	})
	return out
}

// forwardsLocked reports whether one of c's sections forwards track id.
func (c *Connection) forwardsLocked(id string) bool {
	for i := range c.sections {
		if s := &c.sections[i]; !s.own && s.source == id {
			return true
		}
	}
	return false
}

// wantsUnchangedLocked reports, without allocating, whether
// planLocked(desiredLocked()) would return c.sections as they are: every
// track c should receive has a section forwarding it, and no section
// forwards another. A join or a departure that does not concern c (a
// receiver joining a channel of receivers) then costs c no plan.
func (c *Connection) wantsUnchangedLocked() bool {
	n, missing := 0, false
	c.eachWantedLocked(func(w wanted) bool {
		n++
		missing = !c.forwardsLocked(w.t.id)
		return !missing
	})
	if missing {
		return false
	}
	forwarding := 0
	for i := range c.sections {
		if s := &c.sections[i]; !s.own && s.source != "" {
			forwarding++
		}
	}
	return forwarding == n
}

// planLocked returns the sections c's next offer should have: sections of
// tracks no longer wanted become inactive, new tracks reuse a section of
// their kind whose inactive state the client has already accepted, or get
// a new section at the end.
func (c *Connection) planLocked(desired []wanted) []section {
	secs := slices.Clone(c.sections)
	want := make(map[string]bool, len(desired))
	for _, w := range desired {
		want[w.t.id] = true
	}
	have := make(map[string]bool)
	for i := range secs {
		s := &secs[i]
		if s.own || s.source == "" {
			continue
		}
		if want[s.source] {
			have[s.source] = true
			continue
		}
		s.deactivate()
	}
	for _, w := range desired {
		if have[w.t.id] {
			continue
		}
		i := c.recyclable(secs, w.t.kind)
		if i < 0 {
			secs = append(secs, section{Section: offer.Section{Mid: c.newMid(), Kind: w.t.kind}})
			i = len(secs) - 1
		}
		c.fill(&secs[i], w)
	}
	return secs
}

func (s *section) deactivate() {
	s.Direction = offer.DirectionInactive
	s.source = ""
	s.StreamID, s.TrackID, s.CNAME = "", "", ""
	s.SSRC, s.RTXSSRC = 0, 0
}

// recyclable finds an inactive forwarding section of kind k whose inactive
// state the client has answered, or -1.
func (c *Connection) recyclable(secs []section, k dataplane.Kind) int {
	for i, s := range secs {
		if s.own || s.source != "" || s.Kind != k || s.Direction != offer.DirectionInactive {
			continue
		}
		for _, a := range c.answered {
			if a.Mid == s.Mid && a.Direction == offer.DirectionInactive {
				return i
			}
		}
	}
	return -1
}

func (c *Connection) fill(s *section, w wanted) {
	s.Kind = w.t.kind
	s.Direction = offer.DirectionSendOnly
	s.Codec = w.t.codec
	s.Fmtp = ""
	s.BitrateKbps = 0
	s.StreamID = w.owner.id
	s.TrackID = w.owner.id + "-" + w.t.mid
	s.CNAME = w.owner.id
	s.SSRC = c.newSSRC()
	s.RTXSSRC = 0
	if w.t.kind == dataplane.KindVideo && w.t.codec.RTXPayloadType != 0 {
		s.RTXSSRC = c.newSSRC()
	}
	s.source = w.t.id
}

// firstSectionsLocked: the client's own upstream (audio, then video), then
// what it receives; a receiver that has nothing to receive yet gets one
// inactive section per kind, so that its transport can come up and the
// sections can carry the first tracks later.
func (c *Connection) firstSectionsLocked() []section {
	var secs []section
	if c.role.Sends() {
		for _, m := range []struct {
			kind dataplane.Kind
			m    media
		}{{dataplane.KindAudio, c.audio}, {dataplane.KindVideo, c.video}} {
			if !m.m.enabled {
				continue
			}
			secs = append(secs, section{own: true, Section: offer.Section{
				Mid: c.newMid(), Kind: m.kind, Direction: offer.DirectionRecvOnly,
				Codec: m.m.codec, Fmtp: m.m.fmtp, BitrateKbps: m.m.bitRate,
				Simulcast: m.kind == dataplane.KindVideo && c.simulcastSenderLocked(),
			}})
		}
	}
	c.sections = secs
	secs = c.planLocked(c.desiredLocked())
	if len(secs) == 0 {
		for _, m := range []struct {
			kind dataplane.Kind
			m    media
		}{{dataplane.KindAudio, c.audio}, {dataplane.KindVideo, c.video}} {
			if m.m.enabled {
				secs = append(secs, section{Section: offer.Section{
					Mid: c.newMid(), Kind: m.kind, Direction: offer.DirectionInactive, Codec: m.m.codec,
				}})
			}
		}
	}
	if c.usesDataChannels() {
		// Placed once, after the first sections; later sections are
		// appended after it, so its index never changes.
		secs = append(secs, c.applicationSection())
	}
	return secs
}

func (c *Connection) buildLocked() (string, error) {
	local := c.tr.Local()
	o := offer.Offer{
		SessionID:      c.sdpSessionID,
		SessionVersion: c.version,
		ICEUfrag:       local.Ufrag,
		ICEPwd:         local.Pwd,
		Fingerprint:    c.reg.cfg.Transports.Fingerprint(),
		Candidates:     c.reg.cfg.Transports.Candidates(),
		Sections:       make([]offer.Section, len(c.sections)),
	}
	for i, s := range c.sections {
		o.Sections[i] = s.Section
	}
	sdp, err := offer.Build(o)
	if err != nil {
		return "", fmt.Errorf("%w: %w", ErrTransport, err)
	}
	return sdp, nil
}

func (c *Connection) sendFirstOfferLocked() error {
	c.sections = c.firstSectionsLocked()
	c.version = 1
	sdp, err := c.buildLocked()
	if err != nil {
		return err
	}
	msg := offerMessage{
		Type:         "offer",
		SDP:          sdp,
		Version:      c.reg.cfg.Version,
		ChannelID:    c.channelID,
		SessionID:    c.ch.sessionID,
		ConnectionID: c.id,
		ClientID:     c.clientID,
		BundleID:     c.bundleID,
		Config:       rtcConfig{ICEServers: []ICEServer{}},
		Audio:        c.audio.enabled,
		Video:        c.video.enabled,
	}
	if c.reg.cfg.ICEServers != nil {
		if s := c.reg.cfg.ICEServers(c.id); s != nil {
			msg.Config.ICEServers = c.turn.apply(s)
			msg.Config.ICETransportPolicy = c.reg.cfg.ICETransportPolicy
		}
	}
	if c.icePolicy != "" {
		msg.Config.ICETransportPolicy = c.icePolicy
	}
	msg.Metadata = c.authzMetadata
	if c.audio.enabled {
		msg.AudioCodecType, msg.AudioBitRate = c.audio.codec.Name, c.audio.bitRate
	}
	if c.video.enabled {
		msg.VideoCodecType, msg.VideoBitRate = c.video.codec.Name, c.video.bitRate
	}
	var mids offerMids
	for _, s := range c.sections {
		if !s.own {
			continue
		}
		if s.Kind == dataplane.KindAudio {
			mids.Audio = s.Mid
		} else {
			mids.Video = s.Mid
		}
	}
	if mids != (offerMids{}) {
		msg.Mid = &mids
	}
	msg.Simulcast, msg.Spotlight = c.simulcastSenderLocked(), c.ch.spot != nil
	if msg.Simulcast {
		msg.Encodings = c.lay.encodings
	}
	if c.usesDataChannels() {
		msg.DataChannelSignaling, msg.IgnoreDisconnectWebSocket = &c.dcSignaling, &c.ignoreWS
		for _, ep := range c.dcs {
			msg.DataChannels = append(msg.DataChannels, ep.offered)
		}
		msg.RPCMethods = c.rpcMethods
	}
	c.state = awaitingAnswer
	c.send(msg)
	c.reg.metrics.offers.WithLabelValues("offer").Inc()
	return nil
}

// renegotiateLocked sends a re-offer if the tracks c should receive
// changed, or remembers to look again once the exchange in flight ends.
func (c *Connection) renegotiateLocked() {
	if c.left || !c.role.Receives() {
		return
	}
	if c.state != stable {
		c.dirty = true
		return
	}
	if c.wantsUnchangedLocked() {
		return
	}
	secs := c.planLocked(c.desiredLocked())
	if slices.Equal(secs, c.sections) {
		return
	}
	c.sections = secs
	c.version++
	sdp, err := c.buildLocked()
	if err != nil {
		c.reg.log.Error("room: building a re-offer", "connection_id", c.id, "err", err)
		c.abortLocked(4500, "INTERNAL-ERROR: cannot build the re-offer")
		return
	}
	c.state = awaitingReAnswer
	c.send(reOfferMessage{Type: "re-offer", SDP: sdp})
	c.reg.metrics.offers.WithLabelValues("re-offer").Inc()
}

// --- answers ---

// Answer applies the client's answer to the first offer.
func (c *Connection) Answer(sdp string) error { return c.applyAnswer(awaitingAnswer, sdp) }

// ReAnswer applies the client's answer to a re-offer.
func (c *Connection) ReAnswer(sdp string) error { return c.applyAnswer(awaitingReAnswer, sdp) }

func (c *Connection) applyAnswer(kind negotiation, text string) error {
	a, err := offer.ParseAnswer(text)
	if err != nil {
		return err
	}
	ch := c.ch
	ch.mu.Lock()
	defer ch.mu.Unlock()
	if c.left {
		return ErrLeft
	}
	if c.state != kind {
		name := "answer"
		if kind == awaitingReAnswer {
			name = "re-answer"
		}
		return fmt.Errorf("%w: %s while %s", ErrUnexpectedAnswer, name, c.state)
	}
	for _, s := range c.sections {
		if _, ok := a.Section(s.Mid); !ok {
			return fmt.Errorf("%w: no m-section with mid %q", offer.ErrInvalidAnswer, s.Mid)
		}
	}
	if kind == awaitingAnswer {
		rp := dataplane.RemoteParams{
			Ufrag: a.ICEUfrag, Pwd: a.ICEPwd, Fingerprint: a.Fingerprint,
			Role: a.DTLSRole(), TransportCC: a.TransportCC(),
		}
		if err := c.acceptApplicationLocked(&a, &rp); err != nil {
			return err
		}
		err := c.tr.SetRemote(rp)
		if err != nil {
			return fmt.Errorf("%w: %w", ErrTransport, err)
		}
		c.remoteUfrag, c.remotePwd = a.ICEUfrag, a.ICEPwd
		if err := c.addUpstreamsLocked(&a); err != nil {
			return err
		}
	} else if a.ICEUfrag != c.remoteUfrag || a.ICEPwd != c.remotePwd {
		return fmt.Errorf("%w: ICE credentials changed (ICE restart is not supported)", offer.ErrInvalidAnswer)
	}
	c.state = stable
	c.answered = slices.Clone(c.sections)
	c.answeredOnce = true
	c.syncDownstreamLocked(&a)
	if kind == awaitingAnswer {
		c.reg.metrics.answers.WithLabelValues("answer").Inc()
		c.maybeCreatedLocked()
	} else {
		c.reg.metrics.answers.WithLabelValues("re-answer").Inc()
	}
	if c.dirty {
		c.dirty = false
		c.renegotiateLocked()
	}
	return nil
}

// addUpstreamsLocked declares the tracks the answer says the client sends.
// A section the client refused (port 0, not sending, codec dropped) is
// skipped.
func (c *Connection) addUpstreamsLocked(a *offer.Answer) error {
	for _, s := range c.sections {
		if !s.own {
			continue
		}
		as, _ := a.Section(s.Mid)
		if as.Rejected || !as.Direction.Sends() || !as.HasPayloadType(s.Codec.PayloadType) {
			c.reg.log.Info("room: client does not send on its upstream section", "connection_id", c.id,
				"mid", s.Mid, "direction", as.Direction.String(), "rejected", as.Rejected)
			continue
		}
		ssrc, rtx := as.MediaSSRC()
		t := track{id: c.id + ":" + s.Mid, kind: s.Kind, mid: s.Mid, codec: s.Codec}
		if s.Simulcast {
			t.rids = offeredRIDs(as.SendRIDs)
		}
		if len(t.rids) > 0 {
			ssrc, rtx = 0, 0 // learned per rid from the MID and RID extensions
		}
		err := c.tr.AddUpstream(dataplane.Upstream{
			TrackID: t.id, Kind: t.kind, Mid: t.mid, SSRC: ssrc, RTXSSRC: rtx,
			PayloadType: s.Codec.PayloadType, ClockRate: s.Codec.ClockRate, RIDs: t.rids,
		})
		if err != nil {
			return fmt.Errorf("%w: upstream %s: %w", ErrTransport, t.id, err)
		}
		c.upstreams = append(c.upstreams, t)
	}
	return nil
}

// trackPublishedLocked reports whether a track id is published now.
func (c *Connection) trackPublishedLocked(id string) bool {
	owner, _, _ := strings.Cut(id, ":")
	for _, m := range c.ch.members {
		if m.id != owner {
			continue
		}
		if !m.published() {
			return false
		}
		for _, t := range m.upstreams {
			if t.id == id {
				return true
			}
		}
	}
	return false
}

// syncDownstreamLocked makes the plane forward exactly the tracks of the
// answered sendonly sections that the client accepted.
func (c *Connection) syncDownstreamLocked(a *offer.Answer) {
	for _, s := range c.sections {
		if s.own {
			continue
		}
		want := ""
		if s.source != "" && c.trackPublishedLocked(s.source) {
			if as, ok := a.Section(s.Mid); ok && !as.Rejected && as.Direction.Receives() && as.HasPayloadType(s.Codec.PayloadType) {
				want = s.source
			}
		}
		cur := c.forwarding[s.Mid]
		if cur == want {
			continue
		}
		if cur != "" {
			c.tr.RemoveDownstream(cur)
			delete(c.forwarding, s.Mid)
		}
		if want == "" {
			continue
		}
		rid := c.downstreamRIDLocked(want)
		err := c.tr.AddDownstream(dataplane.Downstream{TrackID: want, Mid: s.Mid, SSRC: s.SSRC, RTXSSRC: s.RTXSSRC, RID: rid})
		if err != nil {
			c.reg.metrics.dataplaneErrors.Inc()
			c.reg.log.Warn("room: downstream refused by the media plane", "connection_id", c.id, "mid", s.Mid, "track", want, "err", err)
			continue
		}
		c.forwarding[s.Mid] = want
		c.downstreamStartedLocked(want, rid)
		c.downstreamAddedLocked(want) // a PauseRtpStream on this sender applies to new tracks too
	}
}

// --- life cycle ---

// connEvents receives the transport's events for one connection.
type connEvents struct{ c *Connection }

func (e connEvents) OnConnected()       { e.c.onConnected() }
func (e connEvents) OnClosed(err error) { e.c.onTransportClosed(err) }

func (c *Connection) onConnected() {
	c.ch.mu.Lock()
	if c.left || c.connected {
		c.ch.mu.Unlock()
		return
	}
	c.connected = true
	c.maybeCreatedLocked()
	open := c.dcAccepted && !c.left
	tr := c.tr
	c.ch.mu.Unlock()
	if open {
		c.openDataChannels(tr)
	}
}

// maybeCreatedLocked: once the transport is up and the answer applied, the
// connection is created: everyone is told, and its tracks are offered to
// the others.
func (c *Connection) maybeCreatedLocked() {
	if c.created || !c.connected || !c.answeredOnce {
		return
	}
	now := c.reg.cfg.Now()
	c.created, c.createdAt = true, now
	c.reg.metrics.created.Inc()
	c.reg.log.Info("room: connection created", "channel_id", c.channelID, "connection_id", c.id)
	c.eventWebhookLocked("connection.created", nil)
	if c.reg.cfg.Notify {
		msg := c.notifyLocked(EventConnectionCreated, now)
		data := make([]notifyMember, 0, len(c.ch.members)) // non-nil: "data": [] when alone
		for _, m := range c.ch.members {
			if m != c && m.created && m.bundleID != c.bundleID {
				data = append(data, notifyMember{ClientID: m.clientID, ConnectionID: m.id,
					AuthnMetadata: m.metadata, AuthzMetadata: m.authzMetadata, Metadata: m.notifyMetadata})
			}
		}
		own := msg
		own.Data = &data
		c.send(own)
		c.reg.metrics.notifies.WithLabelValues(EventConnectionCreated).Inc()
		c.broadcastLocked(msg)
	}
	c.spotlightCreatedLocked()
	for _, m := range slices.Clone(c.ch.members) {
		if m != c {
			m.renegotiateLocked()
		}
	}
}

// broadcastLocked sends a notify about c to the other created connections
// of other bundles. The message is encoded once and its bytes shared by
// every recipient (Peer.Send and the DataChannels only read them): a join
// in a channel of N tells N members, and N joins would otherwise encode N²
// copies.
func (c *Connection) broadcastLocked(msg notifyMessage) {
	var b []byte
	sent := c.reg.metrics.notifies.WithLabelValues(msg.EventType)
	for _, m := range c.ch.members {
		if m == c || !m.created || m.left || m.bundleID == c.bundleID {
			continue
		}
		sent.Inc()
		if m.noNotify {
			continue // the auth webhook's signaling_notify: false
		}
		if b == nil {
			var err error
			if b, err = encode(msg); err != nil {
				c.reg.log.Error("room: encoding a notify", "connection_id", c.id, "err", err)
				return
			}
		}
		m.sendBytesLocked(LabelNotify, b)
	}
}

// turnTransportTypeLocked is the transport between the client and the
// server for turn_transport_type: "tcp" when its media comes over ICE-TCP
// or through a TURN allocation made over TCP/TLS, else "udp". Before the
// media path is known it says "udp", as Sora does for UDP clients.
func (c *Connection) turnTransportTypeLocked() string {
	sr, ok := c.tr.(interface{ SelectedRemote() netip.AddrPort })
	if c.tr == nil || !ok {
		return "udp"
	}
	remote := sr.SelectedRemote()
	if !remote.IsValid() {
		return "udp"
	}
	if f := c.reg.cfg.TURNTransportType; f != nil {
		if t := f(remote); t != "" {
			return t
		}
	}
	if remote.Addr().Is4In6() { // the media plane's form of an ICE-TCP peer
		return "tcp"
	}
	return "udp"
}

// notifyLocked builds a connection.* notify about c with the channel's
// counters of created connections.
func (c *Connection) notifyLocked(event string, now time.Time) notifyMessage {
	msg := notifyMessage{
		Type: "notify", EventType: event, Role: c.role,
		SessionID: c.ch.sessionID, ClientID: c.clientID, BundleID: c.bundleID, ConnectionID: c.id,
		Audio: c.audio.enabled, Video: c.video.enabled,
		Timestamp: timestamp(now), TurnTransportType: c.turnTransportTypeLocked(),
		AuthnMetadata: c.metadata, AuthzMetadata: c.authzMetadata, Metadata: c.notifyMetadata,
	}
	if c.created {
		msg.Minutes = int(now.Sub(c.createdAt) / time.Minute)
	}
	for _, m := range c.ch.members {
		if !m.created || m.left {
			continue
		}
		msg.ChannelConnections++
		switch m.role {
		case RoleSendRecv:
			msg.ChannelSendrecvConnections++
		case RoleSendOnly:
			msg.ChannelSendonlyConnections++
		case RoleRecvOnly:
			msg.ChannelRecvonlyConnections++
		}
	}
	return msg
}

// NotifyUpdated reports that c is still connected, with the minutes since
// it was created: the event webhook connection.updated and, with
// Config.Notify, the notify connection.updated to c and to the others. The
// signaling server calls it every minute; it does nothing before c is
// created or after it left.
func (c *Connection) NotifyUpdated() {
	c.ch.mu.Lock()
	defer c.ch.mu.Unlock()
	if c.left || !c.created {
		return
	}
	c.reg.admin.mu.Lock()
	c.reg.admin.updated++
	c.reg.admin.mu.Unlock()
	c.eventWebhookLocked("connection.updated", nil)
	if !c.reg.cfg.Notify {
		return
	}
	msg := c.notifyLocked(EventConnectionUpdated, c.reg.cfg.Now())
	c.send(msg)
	c.reg.metrics.notifies.WithLabelValues(EventConnectionUpdated).Inc()
	c.broadcastLocked(msg)
}

func (c *Connection) onTransportClosed(err error) {
	c.ch.mu.Lock()
	defer c.ch.mu.Unlock()
	if c.left {
		return
	}
	reason := "TRANSPORT-CLOSED"
	if err != nil {
		reason += ": " + err.Error()
	}
	c.reg.metrics.transportFailures.Inc()
	c.reg.log.Info("room: transport closed", "connection_id", c.id, "err", err)
	c.abortLocked(CloseTransportFailed, reason)
}

// abortLocked ends the connection from the server side: a switched client
// is told why on the signaling DataChannel, the peer is closed, and the
// connection leaves.
func (c *Connection) abortLocked(code int, reason string) {
	c.sendCloseLocked(code, reason)
	c.peer.Close(code, reason)
	c.leaveLocked()
}

// Leave takes the connection out of its channel: the others are told
// (connection.destroyed) and stop receiving its tracks (re-offers with
// their sections inactive), and its transport is closed. It is idempotent;
// the signaling server calls it whenever a WebSocket ends.
func (c *Connection) Leave() {
	c.ch.mu.Lock()
	defer c.ch.mu.Unlock()
	if !c.left {
		c.leaveLocked()
	}
}

// Disconnect ends the connection from the server side (the API's
// DisconnectConnection): Close(1000, reason).
func (c *Connection) Disconnect(reason string) { c.Close(1000, reason) }

// Close ends the connection from the server side with a code and reason:
// a client whose signaling switched to DataChannels gets
// {"type":"close","code","reason"} on the signaling channel, the Peer is
// closed with code and reason, and the connection leaves (its DataChannels
// close before its transport). It is idempotent; ctrl/signaling calls it
// when it ends a connection for a reason of its own (shutdown, bad input).
func (c *Connection) Close(code int, reason string) {
	c.abort(code, reason)
}

func (c *Connection) leaveLocked() {
	ch := c.ch
	c.left = true
	if c.switchTimer != nil {
		c.switchTimer.Stop()
	}
	if i := slices.Index(ch.members, c); i >= 0 {
		ch.members = slices.Delete(ch.members, i, i+1)
	}
	if c.created && c.reg.cfg.Notify {
		c.broadcastLocked(c.notifyLocked(EventConnectionDestroyed, c.reg.cfg.Now()))
	}
	c.spotlightLeftLocked()
	c.dropMediaOpsLocked()
	eps := c.takeDataChannelsLocked()
	prefix := c.id + ":"
	for _, m := range slices.Clone(ch.members) {
		for _, s := range m.sections {
			if t := m.forwarding[s.Mid]; strings.HasPrefix(t, prefix) {
				m.tr.RemoveDownstream(t)
				delete(m.forwarding, s.Mid)
			}
		}
		m.renegotiateLocked()
	}
	if c.tr != nil {
		if len(eps) > 0 {
			c.reg.closeTransport(c.tr, eps)
		} else {
			c.tr.Close()
		}
	}
	c.reg.metrics.left.Inc()
	c.reg.log.Info("room: left", "channel_id", c.channelID, "connection_id", c.id)
	if c.created {
		now := c.reg.cfg.Now()
		c.eventWebhookLocked("connection.destroyed", map[string]any{
			"destroyed_time": now.Unix(), "destroyed_timestamp": now.UTC().Format("2006-01-02T15:04:05.000Z")})
	}
	c.reg.detach(c)
}

// Push queues {"type":"push","data":data} for the client (the Push API).
func (c *Connection) Push(data any) error {
	b, err := encode(pushMessage{Type: "push", Data: data})
	if err != nil {
		return fmt.Errorf("room: push data: %w", err)
	}
	c.ch.mu.Lock()
	defer c.ch.mu.Unlock()
	if c.left {
		return ErrLeft
	}
	c.sendBytesLocked(LabelPush, b)
	c.reg.metrics.pushes.Inc()
	return nil
}

// eventWebhookLocked hands an event webhook about c to Config.Webhook
// (spec webhooks.md §4): the connection's ids and flags, its event_metadata
// payout, and in data its media, the channel's counters of created
// connections and its times.
func (c *Connection) eventWebhookLocked(kind string, extra map[string]any) {
	if c.reg.cfg.Webhook == nil {
		return
	}
	n := c.notifyLocked(kind, c.reg.cfg.Now()) // the minutes and the channel's counters
	data := map[string]any{
		"minutes": n.Minutes, "audio": c.audio.enabled, "video": c.video.enabled,
		"channel_connections": n.ChannelConnections, "channel_sendrecv_connections": n.ChannelSendrecvConnections,
		"channel_sendonly_connections": n.ChannelSendonlyConnections, "channel_recvonly_connections": n.ChannelRecvonlyConnections,
		"created_time": c.createdAt.Unix(), "created_timestamp": timestamp(c.createdAt),
		"turn_transport_type": c.turnTransportTypeLocked(),
	}
	if c.audio.enabled {
		data["audio_codec_type"] = c.audio.codec.Name
		if c.audio.bitRate > 0 {
			data["audio_bit_rate"] = c.audio.bitRate
		}
	}
	if c.video.enabled {
		data["video_codec_type"] = c.video.codec.Name
		if c.video.bitRate > 0 {
			data["video_bit_rate"] = c.video.bitRate
		}
	}
	for k, v := range extra {
		data[k] = v
	}
	fields := map[string]any{
		"role": string(c.role), "channel_id": c.channelID, "session_id": c.ch.sessionID,
		"client_id": c.clientID, "bundle_id": c.bundleID, "connection_id": c.id,
		"multistream": true, "simulcast": c.simulcastSenderLocked(), "spotlight": c.ch.spot != nil,
		"data": data,
	}
	if c.eventMetadata != nil {
		fields["event_metadata"] = c.eventMetadata
	}
	c.reg.cfg.Webhook(kind, fields)
}
