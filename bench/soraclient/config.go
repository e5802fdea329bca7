package soraclient

import (
	"log/slog"
	"net"
	"strings"

	"github.com/pion/ice/v4"
	"github.com/pion/interceptor"
	"github.com/pion/rtcp"
	"github.com/pion/webrtc/v4"
)

// Config configures one connection. The zero value of every field is
// documented; SignalingURL, ChannelID and Role are required.
type Config struct {
	// SignalingURL is the WebSocket URL, e.g. ws://127.0.0.1:5000/signaling.
	SignalingURL string
	// ChannelID is connect.channel_id.
	ChannelID string
	// Role is "sendrecv", "sendonly" or "recvonly".
	Role string
	// Audio and Video are connect.audio and connect.video. For sendrecv and
	// sendonly they also decide which local tracks exist. Both false sends
	// "audio":false,"video":false.
	Audio, Video bool
	// VideoCodec is the Sora codec_type of the video (VP8, VP9, AV1, H264).
	// Empty sends "video":true and sends VP8 when a codec is needed.
	VideoCodec string
	// SimulcastRIDs, when not empty, publish the video as simulcast: connect
	// says "simulcast": true and the video sender gets one encoding per rid
	// (simulcast.go: SimulcastTrack, WriteSimulcastRTP). Empty sends one
	// stream.
	SimulcastRIDs []string
	// Metadata is connect.metadata; nil leaves the field out.
	Metadata any
	// ClientID is connect.client_id; empty leaves it out.
	ClientID string
	// Extra is merged into the connect message last (it may override fields).
	Extra map[string]any

	// Interceptors builds the interceptor chain of the PeerConnection. Nil
	// means webrtc.RegisterDefaultInterceptors (NACK generator and responder,
	// RTCP reports, stats, TWCC). Interceptors added first see received
	// packets first (before those added later).
	Interceptors func(*webrtc.MediaEngine, *interceptor.Registry) error
	// SettingEngine replaces the default loopback-only LoopbackSettingEngine.
	SettingEngine *webrtc.SettingEngine
	// UseOfferICEServers applies offer.config.iceServers (TURN) to the
	// PeerConnection. False uses host candidates only.
	UseOfferICEServers bool
	// ICEConfig, when set, may change the PeerConnection's configuration
	// built from the offer (e.g. keep only TURN over TCP) before use.
	ICEConfig func(*webrtc.Configuration)
	// OnSenderRTCP, when set, receives every RTCP batch read from the senders
	// of the local tracks (PLI, FIR, NACK, RR…). It is called from one
	// goroutine per local track; it must not block for long.
	OnSenderRTCP func(kind webrtc.RTPCodecType, pkts []rtcp.Packet)
	// Certificates, when not empty, are the DTLS certificates of every
	// PeerConnection the client makes. Empty lets pion generate one per
	// PeerConnection, as a browser does; a load generator shares one to
	// spend its CPU on what the server sees (the handshake), not on keys.
	Certificates []webrtc.Certificate
	// ConnectSDP, when not empty, is sent as connect.sdp. Empty makes a
	// throwaway offer for it, as the SDKs do (ThrowawayOffer).
	ConnectSDP string
	// Logger receives the client's logs; nil means slog.Default().
	Logger *slog.Logger
}

func (c *Config) logger() *slog.Logger {
	if c.Logger != nil {
		return c.Logger
	}
	return slog.Default()
}

func (c *Config) videoCodec() string {
	if c.VideoCodec == "" {
		return "VP8"
	}
	return strings.ToUpper(c.VideoCodec)
}

func (c *Config) sends() bool { return c.Role == "sendrecv" || c.Role == "sendonly" }

// LoopbackSettingEngine returns the client's default setting engine: ICE over
// IPv4 UDP on the "lo" interface only (127.0.0.1), loopback candidates
// included, mDNS off, so nothing leaves the machine; and the answer says
// a=setup:active (DTLS client), as browsers do. Without that pion answers an
// ICE-lite offer with setup:passive and the server has to be the DTLS client.
func LoopbackSettingEngine() *webrtc.SettingEngine {
	s := &webrtc.SettingEngine{}
	if err := s.SetAnsweringDTLSRole(webrtc.DTLSRoleClient); err != nil {
		panic(err) // DTLSRoleClient is always accepted
	}
	s.SetNetworkTypes([]webrtc.NetworkType{webrtc.NetworkTypeUDP4})
	s.SetIncludeLoopbackCandidate(true)
	s.SetInterfaceFilter(func(name string) bool { return name == "lo" })
	s.SetIPFilter(func(ip net.IP) bool { return ip.IsLoopback() })
	s.SetICEMulticastDNSMode(ice.MulticastDNSModeDisabled)
	return s
}

// newAPI builds the pion API of one client: default codecs, the configured
// interceptors and the setting engine.
func newAPI(cfg *Config) (*webrtc.API, error) {
	m := &webrtc.MediaEngine{}
	if err := m.RegisterDefaultCodecs(); err != nil {
		return nil, err
	}
	reg := &interceptor.Registry{}
	build := cfg.Interceptors
	if build == nil {
		build = webrtc.RegisterDefaultInterceptors
	}
	if err := build(m, reg); err != nil {
		return nil, err
	}
	se := cfg.SettingEngine
	if se == nil {
		se = LoopbackSettingEngine()
	}
	return webrtc.NewAPI(webrtc.WithMediaEngine(m), webrtc.WithInterceptorRegistry(reg), webrtc.WithSettingEngine(*se)), nil
}

// codecCapability is what a local track of kind sends.
func codecCapability(kind webrtc.RTPCodecType, videoCodec string) webrtc.RTPCodecCapability {
	if kind == webrtc.RTPCodecTypeAudio {
		return webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeOpus, ClockRate: 48000, Channels: 2}
	}
	return webrtc.RTPCodecCapability{MimeType: "video/" + videoCodec, ClockRate: 90000}
}
