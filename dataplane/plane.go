// Package dataplane is the media plane's face towards the control plane.
//
// A Plane owns the media loops (Config.Loops, each with its own
// SO_REUSEPORT UDP socket on media_port), the ICE-TCP listener on the same
// port number, the process-wide DTLS certificate and every Transport. The
// transports of one shard (a channel) live on one loop, so forwarding never
// crosses loops; a datagram the kernel delivers to another loop's socket is
// handed over. The control plane
// (ctrl/room) creates one Transport per WebRTC connection, tells it what the
// client's answer said, and declares which tracks it publishes (upstream) and
// which tracks of other transports it receives (downstream). Everything that
// happens per packet — ICE-lite, SRTP, forwarding, RTCP — stays inside the
// plane; ctrl only sees the events of TransportEvents.
//
// Concurrency: every exported method of Plane and Transport may be called from
// any goroutine. They hand an immutable command to the transport's loop and
// return; the loop applies commands in the order they were issued per
// Transport (a command follows a transport that moved to another loop).
package dataplane

import (
	"errors"
	"log/slog"
	"net/netip"
	"time"

	"github.com/hayate-sfu/hayate/dataplane/datachan"
	"github.com/hayate-sfu/hayate/dataplane/tcpmux"
)

// Errors returned by the plane.
var (
	// ErrClosed is returned when the Plane or the Transport has been closed.
	ErrClosed = errors.New("dataplane: closed")
	// ErrBadRemote is returned by SetRemote when the answer's parameters are unusable.
	ErrBadRemote = errors.New("dataplane: bad remote parameters")
	// ErrUnknownTrack is returned when a track id names no published track.
	ErrUnknownTrack = errors.New("dataplane: unknown track")
)

// Config configures a Plane. The zero value of each field is documented.
type Config struct {
	// ListenAddress is the IP the media socket binds to; empty means 0.0.0.0.
	ListenAddress string
	// Port is the UDP port of the media socket; 0 picks a free port (tests).
	Port int
	// PublicIPs are the addresses advertised in host candidates. Empty means
	// the address the socket is bound to (127.0.0.1 when bound to 0.0.0.0).
	PublicIPs []netip.Addr
	// Logger receives the plane's logs; nil means slog.Default().
	Logger *slog.Logger
	// GSO sends runs of same-size packets to one address as one UDP GSO
	// super-packet when the kernel supports it; false sends plain datagrams.
	GSO bool
	// ICETCP also accepts ICE over TCP (RFC 6544 passive, RFC 4571
	// framing) on the TCP port of Port's number, and lists a tcptype
	// passive candidate per public IP.
	ICETCP bool
	// Loops is the number of media loops (media_loops), each with its own
	// SO_REUSEPORT socket on Port; 0 or 1 means one loop and a plain socket.
	Loops int
	// ReadBufferSize and WriteBufferSize are the media socket's SO_RCVBUF
	// and SO_SNDBUF in bytes (the kernel caps them at net.core.rmem_max and
	// wmem_max); 0 means DefaultSocketBufferSize.
	ReadBufferSize, WriteBufferSize int
}

// DefaultSocketBufferSize is the media socket's default receive and send
// buffer size.
const DefaultSocketBufferSize = 4 << 20

// Candidate is one ICE candidate of the server, written into every offer.
type Candidate struct {
	Addr     netip.AddrPort
	Protocol string // "udp", or "tcp" (ICE-TCP, tcptype passive)
}

// Kind is the media kind of a track.
type Kind uint8

// Kinds of track.
const (
	KindAudio Kind = iota + 1
	KindVideo
)

func (k Kind) String() string {
	switch k {
	case KindAudio:
		return "audio"
	case KindVideo:
		return "video"
	}
	return "unknown"
}

// TransportEvents receives what happens to a Transport. Methods are called
// from a plane goroutine (never the media loop itself, never under a plane
// lock) and must not block for long: hand the event to your own goroutine.
type TransportEvents interface {
	// OnConnected is called once, when ICE has a selected pair and DTLS is up
	// and the SRTP contexts are installed: media can flow.
	OnConnected()
	// OnClosed is called once when the transport is gone: err is nil after
	// Close, otherwise why the plane ended it (ICE timeout, DTLS failure,
	// close_notify from the peer).
	OnClosed(err error)
}

// TransportConfig configures one Transport.
type TransportConfig struct {
	// ID names the transport in logs and metrics (the connection_id).
	ID string
	// Events receives the transport's events; nil drops them.
	Events TransportEvents
	// Shard groups transports that exchange media (the channel id): all of
	// one shard live on one media loop, so forwarding among them stays on
	// it. A downstream can only subscribe to a track of its own shard.
	// Empty means the first loop.
	Shard string
}

// LocalParams are the transport's own ICE credentials for the offer.
type LocalParams struct {
	Ufrag string // 16 characters
	Pwd   string // 32 characters
}

// DTLSRole is the role this server takes in the DTLS handshake.
type DTLSRole uint8

// DTLS roles. An answer with a=setup:active (Chrome) makes us the server;
// a=setup:passive (pion answering an ICE-lite offer) makes us the client.
const (
	DTLSServer DTLSRole = iota
	DTLSClient
)

// Header extension ids: one fixed table for every offer (RFC 8285 §6 forbids
// remapping in re-offers; RFC 9143 §12 one id per URI across the bundle).
const (
	ExtMid              = 1
	ExtRID              = 2
	ExtRepairedRID      = 3
	ExtTransportCC      = 4
	ExtAudioLevel       = 5
	ExtURIMid           = "urn:ietf:params:rtp-hdrext:sdes:mid"
	ExtURIRID           = "urn:ietf:params:rtp-hdrext:sdes:rtp-stream-id"
	ExtURIRepairedRID   = "urn:ietf:params:rtp-hdrext:sdes:repaired-rtp-stream-id"
	ExtURITransportCC   = "http://www.ietf.org/id/draft-holmer-rmcat-transport-wide-cc-extensions-01"
	ExtURIAudioLevel    = "urn:ietf:params:rtp-hdrext:ssrc-audio-level"
	MaxOneByteExtension = 14
)

// RemoteParams is what the client's answer tells the transport.
type RemoteParams struct {
	Ufrag, Pwd string
	// Fingerprint is the sha-256 certificate fingerprint, "AA:BB:…" (case-insensitive).
	Fingerprint string
	Role        DTLSRole
	// TransportCC is true when the answer kept the transport-wide-cc extension:
	// the plane then sends TWCC feedback to publishers and stamps downstream packets.
	TransportCC bool
	// DataChannels is true when the answer accepted an m=application section:
	// an SCTP association is set up over DTLS before OnConnected fires.
	DataChannels bool
	// MaxMessageSize is the answer's a=max-message-size (0: 65536).
	MaxMessageSize uint32
	// DataChannelMaxBufferedBytes bounds each channel's unsent bytes; a Send
	// beyond it fails with ErrDataChannelBufferFull. 0 means 1 MiB.
	DataChannelMaxBufferedBytes uint64
}

// DataChannelOpenHandler may be implemented by a DataChannelHandler to hear
// when the client acknowledged the channel (it has fired ondatachannel).
type DataChannelOpenHandler = datachan.OpenHandler

// DataChannelConfig describes a DataChannel the server opens (Sora's model:
// the server opens every channel). MaxRetransmits / MaxPacketLifeTime < 0 mean unset.
type DataChannelConfig = datachan.ChannelConfig

// DataChannelHandler receives a DataChannel's messages and its end.
type DataChannelHandler = datachan.Handler

// DataChannel is an open channel; Send and Close may be called from any goroutine.
type DataChannel = datachan.Channel

// Errors of DataChannel.Send.
var (
	ErrDataChannelMessageTooLarge = datachan.ErrTooLarge
	ErrDataChannelBufferFull      = datachan.ErrBufferFull
	// ErrNoDataChannels: the transport has no SCTP association (the answer had no m=application).
	ErrNoDataChannels = errors.New("dataplane: no DataChannel association on this transport")
)

// Upstream declares a track the client sends to us (from its answer).
type Upstream struct {
	// TrackID is unique in the plane; ctrl uses "<connection_id>:<mid>".
	TrackID string
	Kind    Kind
	Mid     string
	// SSRC and RTXSSRC from a=ssrc / a=ssrc-group:FID; 0 when the answer had
	// none (then the SSRC is learned from the MID extension of its first packet).
	SSRC, RTXSSRC uint32
	// PayloadType is the media PT (see Codecs); ClockRate its clock.
	PayloadType uint8
	ClockRate   uint32
	// RIDs are the simulcast layers (a=rid … send) in ascending quality,
	// e.g. r0, r1, r2; empty without simulcast. Their SSRCs are learned from
	// the MID + RID (and repaired RID for RTX) extensions.
	RIDs []string
}

// Downstream declares that this transport receives a track published by
// another transport, on an m-section this transport's offer already carries.
type Downstream struct {
	TrackID string // the Upstream.TrackID of the source
	Mid     string // the subscriber's m-section
	// SSRC and RTXSSRC written in the subscriber's offer (a=ssrc, FID group);
	// RTXSSRC 0 means retransmit on the primary SSRC is not done (audio).
	SSRC, RTXSSRC uint32
	// RID picks the simulcast layer to receive: "" the best one, "none"
	// nothing (until SetDownstreamLayer). Ignored for a single-layer source.
	RID string
}

// LayerEvents is implemented by TransportEvents that want to hear about
// simulcast layer switches of their downstream tracks (simulcast.switched).
// Called on its own goroutine.
type LayerEvents interface {
	OnLayerSwitched(trackID, rid, previousRID string)
}

// Plane is the media plane. See the package doc for the concurrency rules.
type Plane struct {
	impl *plane
}

// Transport is the server end of one client's ICE/DTLS/SRTP transport.
type Transport struct {
	impl *transport
}

// New starts the plane: binds the socket, generates the certificate and starts the loop.
func New(cfg Config) (*Plane, error) {
	p, err := newPlane(cfg)
	if err != nil {
		return nil, err
	}
	return &Plane{impl: p}, nil
}

// Fingerprint is the sha-256 fingerprint of the plane's DTLS certificate,
// uppercase hex pairs joined by ':' (the value of a=fingerprint:sha-256).
func (p *Plane) Fingerprint() string { return p.impl.fingerprint }

// Candidates are the server's ICE candidates, for every offer.
func (p *Plane) Candidates() []Candidate { return p.impl.candidates() }

// LocalAddr is the bound media socket address (tests use it with Port 0).
func (p *Plane) LocalAddr() netip.AddrPort { return p.impl.localAddr() }

// AudioLevel is how loud an audio track has been recently.
type AudioLevel struct {
	// Loudness is 127 minus the smoothed RFC 6464 level (−dBov): 127 is
	// full scale, 0 silence. Tracks without the audio-level extension stay 0.
	Loudness float64
	// SinceVoice is how long ago a packet flagged voice activity (-1: never).
	SinceVoice time.Duration
}

// AudioLevels returns the level of every published audio track by TrackID,
// for active-speaker choices (spotlight).
func (p *Plane) AudioLevels() (map[string]AudioLevel, error) { return p.impl.audioLevels() }

// StartRTPForwarding sends a published track as plain (unencrypted) RTP to
// to, with the given SSRC and its own continuous sequence and timestamps,
// starting at a keyframe; rid picks a simulcast layer ("" the best). It
// returns an id for StopRTPForwarding. The caller vets the destination.
func (p *Plane) StartRTPForwarding(trackID string, to netip.AddrPort, ssrc uint32, rid string) (uint64, error) {
	return p.impl.startRTPForwarding(trackID, to, ssrc, rid)
}

// StopRTPForwarding ends a forwarding started by StartRTPForwarding.
func (p *Plane) StopRTPForwarding(id uint64) { p.impl.stopRTPForwarding(id) }

// ICETCPCounters returns the ICE-TCP listener's counters; ok is false
// without ICE-TCP.
func (p *Plane) ICETCPCounters() (c tcpmux.Counters, ok bool) {
	if p.impl.tcp == nil {
		return c, false
	}
	return p.impl.tcp.Counters(), true
}

// SelectedRemote is the client address the transport's media currently
// goes to (its selected ICE pair); invalid before the first check. An
// ICE-TCP peer is written as an IPv4-mapped IPv6 address.
func (t *Transport) SelectedRemote() netip.AddrPort {
	if a := t.impl.selected.Load(); a != nil {
		return *a
	}
	return netip.AddrPort{}
}

// Close stops the loop, closes every transport (their OnClosed(nil) fire) and the socket.
func (p *Plane) Close() error { return p.impl.close() }

// NewTransport creates a transport with fresh ICE credentials. Packets for it
// are accepted as soon as this returns (checks may precede the answer).
func (p *Plane) NewTransport(cfg TransportConfig) (*Transport, error) {
	t, err := p.impl.newTransport(cfg)
	if err != nil {
		return nil, err
	}
	return &Transport{impl: t}, nil
}

// Local returns the transport's ICE credentials.
func (t *Transport) Local() LocalParams { return t.impl.local }

// SetRemote applies the client's answer. It may be called again on re-answer
// with the same values (ignored) — ICE restarts are not supported.
func (t *Transport) SetRemote(r RemoteParams) error { return t.impl.setRemote(r) }

// AddUpstream declares a track this transport's client publishes.
func (t *Transport) AddUpstream(u Upstream) error { return t.impl.addUpstream(u) }

// RemoveUpstream withdraws a published track; every Downstream of it stops.
func (t *Transport) RemoveUpstream(trackID string) { t.impl.removeUpstream(trackID) }

// AddDownstream starts forwarding a published track to this transport and
// asks the publisher for a keyframe once this transport's SRTP is up.
func (t *Transport) AddDownstream(d Downstream) error { return t.impl.addDownstream(d) }

// SetDownstreamLayer asks for another simulcast layer ("r0"…, "none", ""
// for the best) of a downstream track. The switch happens on the next
// keyframe of that layer, which is requested at once.
func (t *Transport) SetDownstreamLayer(trackID, rid string) error {
	return t.impl.setDownstreamLayer(trackID, rid)
}

// PauseDownstream stops (true) or resumes (false) forwarding one track to
// this transport; a resumed video track restarts from a keyframe.
func (t *Transport) PauseDownstream(trackID string, paused bool) error {
	return t.impl.pauseDownstream(trackID, paused)
}

// SetUpstreamBitrateCap caps what the client may send for one of its
// tracks, in bits per second (REMB, repeated every second); 0 removes the cap.
func (t *Transport) SetUpstreamBitrateCap(trackID string, bps uint64) error {
	return t.impl.setUpstreamBitrateCap(trackID, bps)
}

// RemoveDownstream stops forwarding a track to this transport.
func (t *Transport) RemoveDownstream(trackID string) { t.impl.removeDownstream(trackID) }

// RequestKeyFrame sends a PLI for the named upstream track (rate-limited).
func (t *Transport) RequestKeyFrame(trackID string) { t.impl.requestKeyFrame(trackID) }

// OpenDataChannel opens a channel on the transport's SCTP association. Call
// it after OnConnected (the association is up by then).
func (t *Transport) OpenDataChannel(cfg DataChannelConfig, h DataChannelHandler) (*DataChannel, error) {
	return t.impl.openDataChannel(cfg, h)
}

// Stats returns counters of the transport.
func (t *Transport) Stats() TransportStats { return t.impl.stats() }

// Close ends the transport: DTLS close_notify, state dropped, OnClosed(nil).
// Safe to call more than once.
func (t *Transport) Close() { t.impl.close(nil) }

// TransportStats are a transport's counters since it was created.
type TransportStats struct {
	PacketsIn, BytesIn   uint64 // SRTP/SRTCP received and authenticated
	PacketsOut, BytesOut uint64 // SRTP/SRTCP sent
	NACKsIn, PLIsIn      uint64 // feedback received from the client
	Retransmits          uint64 // packets resent after NACK
}
