package room

import (
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hayate-sfu/hayate/ctrl/offer"
	"github.com/hayate-sfu/hayate/dataplane"
	"github.com/prometheus/client_golang/prometheus"
)

// Errors of the room. Returned errors wrap one of them (or
// offer.ErrInvalidAnswer for an unusable answer) and name the bad input.
var (
	// ErrInvalidRequest is returned by Join for a request it cannot serve.
	ErrInvalidRequest = errors.New("room: invalid join request")
	// ErrUnexpectedAnswer is returned for an answer or re-answer that no
	// offer of that kind awaits.
	ErrUnexpectedAnswer = errors.New("room: unexpected answer")
	// ErrLeft is returned when the connection has already left its channel.
	ErrLeft = errors.New("room: connection has left")
	// ErrTransport is returned when the media transport refused a request.
	ErrTransport = errors.New("room: media transport error")
)

// CloseTransportFailed is the WebSocket close code the room asks for when a
// connection's media transport ends on its own (ICE timeout, DTLS failure,
// close_notify); the reason starts with "TRANSPORT-CLOSED".
const CloseTransportFailed = 4410

// Limits of a join request (signaling.md §2, §4).
const (
	MaxChannelIDBytes = 255
	MaxClientIDBytes  = 255
	MaxBundleIDBytes  = 255
	MaxAudioBitRate   = 510   // kbps, Opus's ceiling (RFC 7587 §3.1.1)
	MaxVideoBitRate   = 50000 // kbps
)

// Role is a connection's role.
type Role string

// Roles.
const (
	RoleSendRecv Role = "sendrecv"
	RoleSendOnly Role = "sendonly"
	RoleRecvOnly Role = "recvonly"
)

// Valid reports whether r is one of the three roles.
func (r Role) Valid() bool { return r == RoleSendRecv || r == RoleSendOnly || r == RoleRecvOnly }

// Sends reports whether a connection of this role publishes media.
func (r Role) Sends() bool { return r == RoleSendRecv || r == RoleSendOnly }

// Receives reports whether a connection of this role receives media.
func (r Role) Receives() bool { return r == RoleSendRecv || r == RoleRecvOnly }

// Media is what a connect asked for one kind of media.
type Media struct {
	Enabled bool
	// CodecType is Sora's codec_type (OPUS; VP8, VP9, AV1, H264); empty
	// means OPUS for audio and VP8 for video.
	CodecType string
	// BitRate in kbps; 0 means not set (the browser chooses).
	BitRate int
	// OpusParams (audio only) go into the opus fmtp of the upstream section.
	OpusParams *OpusParams
}

// OpusParams are connect's audio.opus_params; nil fields are not set.
type OpusParams struct {
	Stereo, SpropStereo, UseInbandFEC, UseDTX *bool
	MaxPlaybackRate, MinPTime, PTime          *int
}

// JoinRequest is a validated connect.
type JoinRequest struct {
	// ConnectionID, when set (a valid Crockford id), is used instead of a
	// new one: the auth webhook is told the id before the connection joins.
	ConnectionID string

	ChannelID string
	// ClientID and BundleID default to the connection id when empty.
	ClientID, BundleID string
	Role               Role
	Audio, Video       Media
	// Metadata is connect's metadata, shown to others as authn_metadata.
	Metadata json.RawMessage
	// AuthzMetadata is the auth webhook's metadata payout: sent back to the
	// client as offer.metadata and shown in notifies as authz_metadata.
	// Empty (or JSON null) leaves both out.
	AuthzMetadata json.RawMessage
	// EventMetadata is the auth webhook's event_metadata payout, copied as
	// event_metadata into this connection's event webhooks. Empty (or JSON
	// null) leaves it out.
	EventMetadata json.RawMessage
	// NotifyMetadata is connect's signaling_notify_metadata, shown to others
	// as metadata.
	NotifyMetadata json.RawMessage
	// NotifyMetadataExt is the initial signaling-notify metadata ext (the
	// auth webhook's signaling_notify_metadata_ext payout); the signaling
	// server stores it once the connection joined.
	NotifyMetadataExt map[string]json.RawMessage
	// SignalingNotify, when set, turns notify messages to this connection
	// on or off (the auth webhook's signaling_notify payout); nil follows
	// Config.Notify.
	SignalingNotify *bool
	// SoraClient and Environment identify the client in logs and stats.
	SoraClient, Environment string
	// AudioStreamingLanguageCode is connect's audio_streaming_language_code
	// (audio streaming sends the connection's audio only when it is set).
	AudioStreamingLanguageCode string

	// DataChannelSignaling asks for signaling over DataChannels (connect's
	// data_channel_signaling); IgnoreDisconnectWebSocket (only with it) keeps
	// the connection when the WebSocket closes after the switch.
	DataChannelSignaling, IgnoreDisconnectWebSocket bool
	// DataChannels are the messaging labels the server opens.
	DataChannels []DataChannelRequest
	// RPCMethods are the JSON-RPC methods granted on the rpc channel; nil
	// means DefaultRPCMethods, plus the simulcast and spotlight methods for a
	// receiving connection that uses them (simulcast.go). Without
	// DataChannelSignaling there is no rpc channel and none are granted.
	RPCMethods []string

	// Simulcast (simulcast.go): a publisher sends its video as simulcast
	// (rids r0, r1, r2, as offer.encodings say); connect's simulcast.
	Simulcast bool
	// SimulcastEncodings replace offer.DefaultEncodings for this publisher
	// (checked with offer.ValidateEncodings); nil means the defaults.
	SimulcastEncodings []offer.Encoding
	// SimulcastRID is the layer this connection receives of each simulcast
	// video: "r0", "r1", "r2" or "none"; empty means DefaultSimulcastRID.
	// (connect's simulcast_request_rid, else simulcast_rid.)
	SimulcastRID string

	// Spotlight (spotlight.go). A channel is a spotlight channel when the
	// connection that opened its session asked for spotlight; later
	// connections follow the channel. SpotlightNumber is how many senders
	// are in focus (0 means DefaultSpotlightNumber; the first connection's
	// value is the channel's). SpotlightFocusRID and SpotlightUnfocusRID
	// are the layers this connection receives of focused and unfocused
	// senders ("none", "r0", "r1", "r2"; empty means r2 and r0).
	Spotlight                              bool
	SpotlightNumber                        int
	SpotlightFocusRID, SpotlightUnfocusRID string

	// ICETransportPolicy overrides Config.ICETransportPolicy for this
	// connection ("all" or "relay"; the auth webhook's
	// ice_transport_policy payout); "" keeps the configured one.
	ICETransportPolicy string
	// TURN narrows or renames this connection's TURN URLs (the auth
	// webhook's turn_* payouts; ice.go).
	TURN TURNOptions
}

// Peer is the signaling side of a connection: where the room's messages go.
// Both methods are called with a channel lock held, so they must not block
// and must not call back into the room; they may be called from any
// goroutine.
type Peer interface {
	// Send queues one JSON text message for the client. The bytes may be
	// shared with other peers (a notify goes to a whole channel), so they
	// must be read only.
	Send(msg []byte)
	// Close ends the signaling connection with a WebSocket close code and
	// reason. The room has already let the connection leave when it calls it.
	Close(code int, reason string)
}

// Config configures a Registry. The zero value of each optional field is
// documented.
type Config struct {
	// Transports creates the media transports; required.
	Transports TransportFactory
	// Logger; nil means slog.Default().
	Logger *slog.Logger
	// Registerer receives the hayate_room_* metrics; nil registers none.
	Registerer prometheus.Registerer
	// Notify enables notify messages (sora.conf signaling_notify).
	Notify bool
	// Webhook, when set, receives the session webhook's session.created and
	// session.destroyed and the event webhook's connection.created and
	// connection.destroyed, with the fields the room knows (the caller adds
	// id, timestamp, version, label and node_name). It must not block: it
	// is called with room locks held.
	Webhook func(kind string, fields map[string]any)
	// Version is sent as offer.version; empty omits it.
	Version string
	// ICEServers returns offer.config.iceServers for a connection; nil (or a
	// nil result) sends an empty list.
	ICEServers func(connectionID string) []ICEServer
	// ICETransportPolicy is offer.config.iceTransportPolicy ("all" or
	// "relay") when ICEServers gives servers; "" leaves it out.
	ICETransportPolicy string
	// TURNTransportType names, for the address a connection's media comes
	// from (its selected ICE pair), the transport the client uses to reach
	// the server: "tcp" through TURN over TCP/TLS, "udp" through TURN over
	// UDP; "" when the address is no TURN relay. Nil: "udp", or "tcp" for
	// ICE-TCP. It becomes notify's and the webhooks' turn_transport_type.
	TURNTransportType func(remote netip.AddrPort) string
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// NewID makes connection and session ids; nil means NewID.
	NewID func() string
	// Rand draws SSRCs and SDP session ids; nil means a randomly seeded
	// source. Tests pass a fixed seed.
	Rand rand.Source
	// DataChannelMaxMessageSize is the largest DataChannel message, in
	// bytes: offered as a=max-message-size, and the bound of a message
	// received and of its decompressed content (larger ones are dropped and
	// counted). 0 means DefaultDataChannelMaxMessageSize.
	DataChannelMaxMessageSize int
	// DataChannelMaxBufferedBytes bounds each DataChannel's unsent bytes on
	// the server (a receiver that does not keep up gets drops, counted). 0
	// means the media plane's default, 1 MiB.
	DataChannelMaxBufferedBytes int
	// MaxConnections bounds the connections the registry holds at once
	// (joined and not yet left, whether or not their transport is up). A
	// connect beyond it is refused: Join closes its Peer with
	// CloseTooManyConnections and returns ErrTooManyConnections. 0 means no
	// limit.
	MaxConnections int
	// MaxConnectionsPerChannel bounds one channel's connections the same
	// way. 0 means no limit.
	MaxConnectionsPerChannel int
	// SpotlightInterval is how often a spotlight channel chooses its focus
	// again from the senders' audio levels (read from Transports when it is
	// an AudioLevelSource). 0 means DefaultSpotlightInterval; negative
	// never (the focus then follows join order and the API only).
	SpotlightInterval time.Duration
}

// Registry holds every channel and connection of this server.
//
// Locking: Registry.mu guards the channel and connection maps and each
// channel's reference count; each channel has its own mutex guarding its
// members and their negotiation state. Lock order: a channel's mutex, then
// Registry.mu; nothing takes a channel's mutex while holding Registry.mu.
type Registry struct {
	cfg     Config
	log     *slog.Logger
	metrics *metrics

	mu       sync.Mutex
	channels map[string]*channel
	conns    map[string]*Connection

	randMu sync.Mutex
	rnd    *rand.Rand

	// ops holds the API's RTP pauses and forwardings (media_ops.go).
	ops *mediaOps

	// Background work (closing transports after their DataChannels). Not a
	// WaitGroup: Wait may run while new work starts.
	bgMu      sync.Mutex
	bgIdle    *sync.Cond
	bgRunning int

	// admin is the state of the HTTP API's operations (admin.go, mode.go).
	admin adminState
}

// channel is the state of one channel_id while it has connections: one
// session.
type channel struct {
	id        string
	sessionID string
	createdAt time.Time
	refs      int // guarded by Registry.mu

	mu      sync.Mutex
	members []*Connection // join order; guarded by mu

	// labels is the published table of the messaging endpoints that receive
	// each label; replaced under mu, read without it.
	labels atomic.Pointer[labelTable]

	// spot is the spotlight state of a spotlight channel, nil otherwise;
	// set when the channel is made, guarded by mu (spotlight.go).
	spot *spotlight
}

// NewRegistry makes an empty registry.
func NewRegistry(cfg Config) (*Registry, error) {
	if cfg.Transports == nil {
		return nil, fmt.Errorf("%w: Config.Transports is nil", ErrInvalidRequest)
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.NewID == nil {
		cfg.NewID = NewID
	}
	if cfg.DataChannelMaxMessageSize == 0 {
		cfg.DataChannelMaxMessageSize = DefaultDataChannelMaxMessageSize
	}
	if cfg.DataChannelMaxMessageSize < 1024 || cfg.DataChannelMaxMessageSize > 1<<30 {
		return nil, fmt.Errorf("%w: Config.DataChannelMaxMessageSize %d (want 1024-%d)", ErrInvalidRequest, cfg.DataChannelMaxMessageSize, 1<<30)
	}
	src := cfg.Rand
	if src == nil {
		src = rand.NewPCG(rand.Uint64(), rand.Uint64())
	}
	m, err := newMetrics(cfg.Registerer)
	if err != nil {
		return nil, err
	}
	r := &Registry{
		cfg:      cfg,
		log:      cfg.Logger,
		metrics:  m,
		channels: make(map[string]*channel),
		conns:    make(map[string]*Connection),
		rnd:      rand.New(src),
		ops:      &mediaOps{forwards: map[string]*rtpForwarding{}},
	}
	r.bgIdle = sync.NewCond(&r.bgMu)
	return r, nil
}

func (r *Registry) uint32() uint32 {
	r.randMu.Lock()
	defer r.randMu.Unlock()
	return r.rnd.Uint32()
}

func (r *Registry) uint63() uint64 {
	r.randMu.Lock()
	defer r.randMu.Unlock()
	return r.rnd.Uint64() >> 1
}

// attach admits c (the mode and the connection limits, admitLocked) and
// registers it, and returns its channel, creating the channel (and so a new
// session) when it had no connection. A refused c is not registered.
func (r *Registry) attach(c *Connection) (*channel, *refusal) {
	r.mu.Lock()
	defer r.mu.Unlock()
	ch := r.channels[c.channelID]
	if f := r.admitLocked(ch); f != nil {
		return nil, f
	}
	if ch == nil {
		ch = &channel{id: c.channelID, sessionID: r.cfg.NewID(), createdAt: r.cfg.Now()}
		ch.spot = newSpotlight(c.spotlightReq)
		r.channels[ch.id] = ch
		r.metrics.sessionsCreated.Inc()
		r.metrics.channels.Inc()
		r.log.Info("room: session created", "channel_id", ch.id, "session_id", ch.sessionID)
		if r.cfg.Webhook != nil {
			r.cfg.Webhook("session.created", map[string]any{"channel_id": ch.id, "session_id": ch.sessionID,
				"multistream": true, "spotlight": ch.spot != nil,
				"created_time": ch.createdAt.Unix(), "created_timestamp": ch.createdAt.UTC().Format("2006-01-02T15:04:05.000Z")})
		}
	}
	ch.refs++
	r.conns[c.id] = c
	r.metrics.connections.Inc()
	return ch, nil
}

// detach undoes attach; the session ends when the channel's last
// connection goes.
func (r *Registry) detach(c *Connection) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.conns[c.id] != c {
		return
	}
	delete(r.conns, c.id)
	r.onDetach(c) // API statistics and metadata ext (admin.go)
	r.metrics.connections.Dec()
	ch := c.ch
	ch.refs--
	if ch.refs == 0 {
		delete(r.channels, ch.id)
		r.metrics.sessionsEnded.Inc()
		r.metrics.channels.Dec()
		r.log.Info("room: session ended", "channel_id", ch.id, "session_id", ch.sessionID)
		if r.cfg.Webhook != nil {
			now := r.cfg.Now()
			r.cfg.Webhook("session.destroyed", map[string]any{"channel_id": ch.id, "session_id": ch.sessionID,
				"multistream": true, "spotlight": ch.spot != nil,
				"created_time": ch.createdAt.Unix(), "created_timestamp": ch.createdAt.UTC().Format("2006-01-02T15:04:05.000Z"),
				"destroyed_time": now.Unix(), "destroyed_timestamp": now.UTC().Format("2006-01-02T15:04:05.000Z")})
		}
	}
}

// ChannelInfo describes a channel with connections.
type ChannelInfo struct {
	ChannelID string
	SessionID string
	CreatedAt time.Time
	// Connections counts the connections admitted (offer sent) and not gone.
	Connections int
	// Spotlight is true for a spotlight channel.
	Spotlight bool
}

// ConnectionInfo is a snapshot of one connection.
type ConnectionInfo struct {
	ChannelID, SessionID             string
	ConnectionID, ClientID, BundleID string
	Role                             Role
	Audio, Video                     bool
	AudioCodecType, VideoCodecType   string
	AudioBitRate, VideoBitRate       int
	Metadata, NotifyMetadata         json.RawMessage
	SoraClient, Environment          string
	AudioStreamingLanguageCode       string
	JoinedAt                         time.Time
	// Created is true once the transport came up (connection.created);
	// CreatedAt is then the time it did.
	Created   bool
	CreatedAt time.Time
	// Simulcast is true for a publisher whose video is offered as
	// simulcast; Spotlight for a connection of a spotlight channel.
	Simulcast, Spotlight bool
}

// Channels lists the channels that have connections, by channel id.
func (r *Registry) Channels() []ChannelInfo {
	r.mu.Lock()
	out := make([]ChannelInfo, 0, len(r.channels))
	for _, ch := range r.channels {
		out = append(out, ChannelInfo{ChannelID: ch.id, SessionID: ch.sessionID, CreatedAt: ch.createdAt, Connections: ch.refs, Spotlight: ch.spot != nil})
	}
	r.mu.Unlock()
	slices.SortFunc(out, func(a, b ChannelInfo) int { return strings.Compare(a.ChannelID, b.ChannelID) })
	return out
}

// Connections lists the connections of a channel in join order, or of
// every channel (ordered by channel id) when channelID is empty.
func (r *Registry) Connections(channelID string) []ConnectionInfo {
	r.mu.Lock()
	var chans []*channel
	if channelID != "" {
		if ch := r.channels[channelID]; ch != nil {
			chans = append(chans, ch)
		}
	} else {
		for _, ch := range r.channels {
			chans = append(chans, ch)
		}
	}
	r.mu.Unlock()
	slices.SortFunc(chans, func(a, b *channel) int { return strings.Compare(a.id, b.id) })
	var out []ConnectionInfo
	for _, ch := range chans {
		ch.mu.Lock()
		for _, c := range ch.members {
			out = append(out, c.infoLocked())
		}
		ch.mu.Unlock()
	}
	return out
}

// Connection finds a connection by id.
func (r *Registry) Connection(id string) (*Connection, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	c, ok := r.conns[id]
	return c, ok
}

// Join admits a connect: it creates the connection's transport, puts the
// connection in its channel (creating the session if the channel was
// empty) and sends it the offer through peer. The connection then waits for
// Answer.
func (r *Registry) Join(req JoinRequest, peer Peer) (*Connection, error) {
	audio, video, err := validateJoin(&req)
	if err != nil {
		return nil, err
	}
	id := r.cfg.NewID()
	if req.ConnectionID != "" {
		if _, ok := DecodeID(req.ConnectionID); !ok {
			return nil, fmt.Errorf("%w: connection id %q is not a Crockford Base32 id", ErrInvalidRequest, req.ConnectionID)
		}
		id = req.ConnectionID
	}
	c := &Connection{
		reg:            r,
		peer:           peer,
		id:             id,
		channelID:      req.ChannelID,
		clientID:       req.ClientID,
		bundleID:       req.BundleID,
		role:           req.Role,
		audio:          audio,
		video:          video,
		metadata:       req.Metadata,
		authzMetadata:  nonNull(req.AuthzMetadata),
		eventMetadata:  nonNull(req.EventMetadata),
		notifyMetadata: req.NotifyMetadata,
		icePolicy:      req.ICETransportPolicy,
		turn:           req.TURN,
		noNotify:       req.SignalingNotify != nil && !*req.SignalingNotify,
		soraClient:     req.SoraClient,
		environment:    req.Environment,
		audioLang:      req.AudioStreamingLanguageCode,
		joinedAt:       r.cfg.Now(),
		sdpSessionID:   r.uint63(),
		forwarding:     make(map[string]string),
		usedSSRC:       make(map[uint32]bool),
	}
	if c.clientID == "" {
		c.clientID = id
	}
	if req.DataChannelSignaling {
		c.dcSignaling, c.ignoreWS = true, req.IgnoreDisconnectWebSocket
		c.rpcMethods = slices.Clone(req.RPCMethods)
		if req.RPCMethods == nil {
			c.rpcMethods = defaultRPCMethods(&req)
		}
	}
	c.buildEndpoints(&req)
	c.initLayers(&req)
	if c.bundleID == "" {
		c.bundleID = id
	}
	ch, refused := r.attach(c) // the mode and the connection limits (mode.go)
	if refused != nil {
		return nil, r.refuse(&req, peer, refused)
	}
	c.ch = ch
	var tr Transport
	if sf, ok := r.cfg.Transports.(ShardedTransportFactory); ok {
		// One media loop per channel: its forwarding never crosses loops.
		tr, err = sf.NewShardedTransport(id, req.ChannelID, connEvents{c})
	} else {
		tr, err = r.cfg.Transports.NewTransport(id, connEvents{c})
	}
	if err != nil {
		c.ch.mu.Lock()
		c.left = true
		c.ch.mu.Unlock()
		r.detach(c)
		return nil, fmt.Errorf("%w: creating the transport: %w", ErrTransport, err)
	}

	if err := c.start(tr); err != nil {
		return nil, err
	}
	r.metrics.joined.Inc()
	r.log.Info("room: joined", "channel_id", c.channelID, "connection_id", id, "client_id", c.clientID,
		"role", string(c.role), "sora_client", c.soraClient)
	return c, nil
}

// start installs the transport, enters the channel and sends the offer.
func (c *Connection) start(tr Transport) error {
	ch := c.ch
	ch.mu.Lock()
	defer ch.mu.Unlock()
	c.tr = tr
	if c.left { // the transport closed before we got here
		tr.Close()
		return fmt.Errorf("%w: the transport closed at once", ErrTransport)
	}
	ch.members = append(ch.members, c)
	if err := c.sendFirstOfferLocked(); err != nil {
		c.leaveLocked()
		return err
	}
	return nil
}

// media is the effective setting of one kind for a connection.
type media struct {
	enabled bool
	codec   dataplane.Codec
	bitRate int
	fmtp    string // upstream fmtp override ("" = the codec's)
}

func validateJoin(req *JoinRequest) (audio, video media, err error) {
	bad := func(format string, args ...any) (media, media, error) {
		return media{}, media{}, fmt.Errorf("%w: "+format, append([]any{ErrInvalidRequest}, args...)...)
	}
	if !req.Role.Valid() {
		return bad("role %q", req.Role)
	}
	if n := len(req.ChannelID); n == 0 || n > MaxChannelIDBytes {
		return bad("channel_id of %d bytes (want 1-%d)", n, MaxChannelIDBytes)
	}
	if len(req.ClientID) > MaxClientIDBytes {
		return bad("client_id of %d bytes (want at most %d)", len(req.ClientID), MaxClientIDBytes)
	}
	if len(req.BundleID) > MaxBundleIDBytes {
		return bad("bundle_id of %d bytes (want at most %d)", len(req.BundleID), MaxBundleIDBytes)
	}
	if err := validateDataChannels(req); err != nil {
		return media{}, media{}, err
	}
	if err := validateLayers(req); err != nil {
		return media{}, media{}, err
	}
	if err := validateICE(req); err != nil {
		return media{}, media{}, err
	}
	if !req.Audio.Enabled && !req.Video.Enabled && !req.DataChannelSignaling && len(req.DataChannels) == 0 {
		return bad("audio and video are both false and no DataChannel is used (a messaging-only connection needs data_channel_signaling or data_channels)")
	}
	audio, err = effectiveMedia("audio", dataplane.KindAudio, "OPUS", req.Audio, MaxAudioBitRate)
	if err != nil {
		return media{}, media{}, err
	}
	video, err = effectiveMedia("video", dataplane.KindVideo, "VP8", req.Video, MaxVideoBitRate)
	if err != nil {
		return media{}, media{}, err
	}
	if req.Audio.OpusParams != nil {
		audio.fmtp = opusFmtp(audio.codec.Fmtp, req.Audio.OpusParams)
	}
	return audio, video, nil
}

func effectiveMedia(field string, kind dataplane.Kind, def string, m Media, maxRate int) (media, error) {
	name := m.CodecType
	if name == "" {
		name = def
	}
	c, ok := dataplane.CodecByName(name)
	if !ok || c.Kind != kind {
		return media{}, fmt.Errorf("%w: %s.codec_type %q is not supported (want one of %s)", ErrInvalidRequest, field, name, strings.Join(codecNames(kind), ", "))
	}
	if m.BitRate < 0 || m.BitRate > maxRate {
		return media{}, fmt.Errorf("%w: %s.bit_rate %d (want 1-%d)", ErrInvalidRequest, field, m.BitRate, maxRate)
	}
	return media{enabled: m.Enabled, codec: c, bitRate: m.BitRate}, nil
}

// codecNames lists the Sora codec_type values of a kind that the payload
// type table has.
func codecNames(kind dataplane.Kind) []string {
	var out []string
	for _, c := range dataplane.Codecs {
		if c.Kind == kind {
			out = append(out, c.Name)
		}
	}
	return out
}

// opusFmtp merges connect's opus_params into the default opus fmtp
// (RFC 7587 §6.1 parameter names).
func opusFmtp(base string, p *OpusParams) string {
	type kv struct{ k, v string }
	var params []kv
	for _, part := range strings.Split(base, ";") {
		if k, v, ok := strings.Cut(part, "="); ok {
			params = append(params, kv{k, v})
		}
	}
	set := func(k, v string) {
		for i := range params {
			if params[i].k == k {
				params[i].v = v
				return
			}
		}
		params = append(params, kv{k, v})
	}
	b := func(v bool) string {
		if v {
			return "1"
		}
		return "0"
	}
	if p.MinPTime != nil {
		set("minptime", fmt.Sprint(*p.MinPTime))
	}
	if p.UseInbandFEC != nil {
		set("useinbandfec", b(*p.UseInbandFEC))
	}
	if p.Stereo != nil {
		set("stereo", b(*p.Stereo))
	}
	if p.SpropStereo != nil {
		set("sprop-stereo", b(*p.SpropStereo))
	}
	if p.UseDTX != nil {
		set("usedtx", b(*p.UseDTX))
	}
	if p.MaxPlaybackRate != nil {
		set("maxplaybackrate", fmt.Sprint(*p.MaxPlaybackRate))
	}
	if p.PTime != nil {
		set("ptime", fmt.Sprint(*p.PTime))
	}
	parts := make([]string, len(params))
	for i, p := range params {
		parts[i] = p.k + "=" + p.v
	}
	return strings.Join(parts, ";")
}
