package offer

import (
	"errors"
	"fmt"
	"hash/crc32"
	"strconv"
	"strings"

	"github.com/hayate-sfu/hayate/dataplane"
	"github.com/pion/sdp/v3"
)

// Errors of this package. Every returned error wraps one of them and names
// the offending value.
var (
	// ErrInvalidOffer is returned by Build when the Offer cannot be written.
	ErrInvalidOffer = errors.New("offer: invalid offer")
	// ErrInvalidAnswer is returned by ParseAnswer when the answer is unusable.
	ErrInvalidAnswer = errors.New("offer: invalid answer")
)

// Direction is the media direction of an m-section, from the point of view of
// the side that writes it (RFC 8866 §6.7).
type Direction uint8

// Directions. The zero value is not a direction.
const (
	DirectionSendRecv Direction = iota + 1
	DirectionSendOnly
	DirectionRecvOnly
	DirectionInactive
)

func (d Direction) String() string {
	switch d {
	case DirectionSendRecv:
		return "sendrecv"
	case DirectionSendOnly:
		return "sendonly"
	case DirectionRecvOnly:
		return "recvonly"
	case DirectionInactive:
		return "inactive"
	}
	return "direction(" + strconv.Itoa(int(d)) + ")"
}

// Sends reports whether the writer of d sends media (sendrecv, sendonly).
func (d Direction) Sends() bool { return d == DirectionSendRecv || d == DirectionSendOnly }

// Receives reports whether the writer of d receives media (sendrecv, recvonly).
func (d Direction) Receives() bool { return d == DirectionSendRecv || d == DirectionRecvOnly }

func parseDirection(s string) (Direction, bool) {
	switch s {
	case "sendrecv":
		return DirectionSendRecv, true
	case "sendonly":
		return DirectionSendOnly, true
	case "recvonly":
		return DirectionRecvOnly, true
	case "inactive":
		return DirectionInactive, true
	}
	return 0, false
}

// Offer is the whole session the server offers to one client.
type Offer struct {
	// SessionID is the o= sess-id: random, fixed for the life of the connection.
	SessionID uint64
	// SessionVersion is the o= sess-version; the caller adds 1 for every
	// re-offer (RFC 3264 §8).
	SessionVersion uint64
	// ICEUfrag and ICEPwd are the transport's ICE credentials, identical in
	// every section (ufrag ≥ 4 characters, pwd ≥ 22, RFC 8839 §5.4).
	ICEUfrag, ICEPwd string
	// Fingerprint is the sha-256 fingerprint of the DTLS certificate,
	// "AA:BB:…", written at session level.
	Fingerprint string
	// Candidates are written, component 1 only, into the first section,
	// followed by a=end-of-candidates.
	Candidates []dataplane.Candidate
	// Sections are the m-sections in order. Every one of them is in the
	// BUNDLE group: a finished section stays in the SDP with port 9 and
	// DirectionInactive (JSEP keeps a bundled inactive section in its group),
	// and may later be reused for a new track of the same kind.
	Sections []Section
}

// Section is one m-section of an Offer.
type Section struct {
	Mid  string
	Kind dataplane.Kind
	// Direction is the server's: recvonly for the client's own upstream,
	// sendonly for a forwarded track, inactive for a finished one.
	Direction Direction
	// Codec is the only codec the section offers (plus its RTX for video).
	Codec dataplane.Codec
	// Fmtp replaces Codec.Fmtp when not empty (e.g. opus parameters asked for
	// in connect).
	Fmtp string
	// Simulcast makes a recvonly video section receive rids r0, r1, r2 with
	// the rid and repaired-rid header extensions (RFC 8853).
	Simulcast bool
	// StreamID and TrackID are the a=msid of a sendonly section: the stream
	// is the sender's connection_id (Sora clients group tracks by it).
	StreamID, TrackID string
	// SSRC and RTXSSRC are the SSRCs the server sends with in a sendonly
	// section; RTXSSRC 0 means no FID group.
	SSRC, RTXSSRC uint32
	// CNAME of a sendonly section's SSRCs; equal for a sender's audio and
	// video so the receiver synchronises them.
	CNAME string
	// BitrateKbps, when > 0 on a recvonly section, caps what the client sends:
	// b=AS (and b=TIAS for video), and opus maxaveragebitrate for audio.
	BitrateKbps int

	// Application makes this the m=application section that carries the
	// transport's SCTP association, i.e. its DataChannels (RFC 8841). Only
	// Mid and MaxMessageSize apply to it; Kind, Direction, Codec and the
	// media fields must be zero. An Offer has at most one.
	Application bool
	// MaxMessageSize is the application section's a=max-message-size, the
	// largest DataChannel message the server accepts (RFC 8841 §6); 0 leaves
	// the line out, and the client then assumes 65536.
	MaxMessageSize uint32
}

// SCTPPort is the a=sctp-port of the application section. It is the SCTP
// port inside DTLS, not a UDP port; WebRTC endpoints use 5000 (RFC 8841 §5).
const SCTPPort = 5000

// Fixed transport parameters of every section.
const (
	defaultPort = 9
	maxMidLen   = 32
)

// Build writes o as SDP text (CRLF line ends).
func Build(o Offer) (string, error) {
	if err := o.validate(); err != nil {
		return "", err
	}
	sd := &sdp.SessionDescription{
		Version: 0,
		Origin: sdp.Origin{
			Username:       "-",
			SessionID:      o.SessionID,
			SessionVersion: o.SessionVersion,
			NetworkType:    "IN",
			AddressType:    "IP4",
			UnicastAddress: "0.0.0.0",
		},
		SessionName:      "-",
		TimeDescriptions: []sdp.TimeDescription{{}},
	}
	mids := make([]string, len(o.Sections))
	for i, s := range o.Sections {
		mids[i] = s.Mid
	}
	sd.WithValueAttribute("msid-semantic", "WMS *").
		WithPropertyAttribute(sdp.AttrKeyICELite).
		WithFingerprint("sha-256", strings.ToUpper(o.Fingerprint)).
		WithPropertyAttribute(sdp.AttrKeyExtMapAllowMixed)
	if len(mids) > 0 {
		sd.WithValueAttribute(sdp.AttrKeyGroup, "BUNDLE "+strings.Join(mids, " "))
	}
	for i, s := range o.Sections {
		var md *sdp.MediaDescription
		if s.Application {
			md = buildApplication(o, s)
		} else {
			md = buildSection(o, s)
		}
		if i == 0 {
			for j, c := range o.Candidates {
				md.WithValueAttribute("candidate", candidateValue(c, j))
			}
			if len(o.Candidates) > 0 {
				md.WithPropertyAttribute(sdp.AttrKeyEndOfCandidates)
			}
		}
		sd.WithMedia(md)
	}
	b, err := sd.Marshal()
	if err != nil {
		return "", fmt.Errorf("%w: %w", ErrInvalidOffer, err)
	}
	return string(b), nil
}

func (o Offer) validate() error {
	if len(o.ICEUfrag) < 4 || len(o.ICEUfrag) > 256 || !iceChars(o.ICEUfrag) {
		return fmt.Errorf("%w: ice-ufrag %q (want 4-256 ice-chars)", ErrInvalidOffer, o.ICEUfrag)
	}
	if len(o.ICEPwd) < 22 || len(o.ICEPwd) > 256 || !iceChars(o.ICEPwd) {
		return fmt.Errorf("%w: ice-pwd of %d characters (want 22-256 ice-chars)", ErrInvalidOffer, len(o.ICEPwd))
	}
	if !isFingerprint(o.Fingerprint) {
		return fmt.Errorf("%w: fingerprint %q (want 32 hex pairs joined by ':')", ErrInvalidOffer, o.Fingerprint)
	}
	for i, c := range o.Candidates {
		if !c.Addr.IsValid() || c.Addr.Port() == 0 {
			return fmt.Errorf("%w: candidate %d: address %v", ErrInvalidOffer, i, c.Addr)
		}
		if c.Protocol != "udp" && c.Protocol != "tcp" {
			return fmt.Errorf("%w: candidate %d: protocol %q (want udp or tcp)", ErrInvalidOffer, i, c.Protocol)
		}
	}
	seen := make(map[string]bool, len(o.Sections))
	apps := 0
	for i, s := range o.Sections {
		if s.Mid == "" || len(s.Mid) > maxMidLen || !tokenChars(s.Mid) {
			return fmt.Errorf("%w: section %d: mid %q (want 1-%d token characters)", ErrInvalidOffer, i, s.Mid, maxMidLen)
		}
		if seen[s.Mid] {
			return fmt.Errorf("%w: section %d: duplicate mid %q", ErrInvalidOffer, i, s.Mid)
		}
		seen[s.Mid] = true
		if s.Application {
			apps++
			if apps > 1 {
				return fmt.Errorf("%w: mid %s: a second application section (one SCTP association per transport)", ErrInvalidOffer, s.Mid)
			}
			if s.Kind != 0 || s.Direction != 0 || s.Codec != (dataplane.Codec{}) || s.SSRC != 0 || s.Simulcast || s.BitrateKbps != 0 {
				return fmt.Errorf("%w: mid %s: an application section has no kind, direction, codec or media fields", ErrInvalidOffer, s.Mid)
			}
			continue
		}
		if s.MaxMessageSize != 0 {
			return fmt.Errorf("%w: mid %s: max-message-size on a %v section", ErrInvalidOffer, s.Mid, s.Kind)
		}
		if s.Kind != dataplane.KindAudio && s.Kind != dataplane.KindVideo {
			return fmt.Errorf("%w: mid %s: kind %v", ErrInvalidOffer, s.Mid, s.Kind)
		}
		if s.Codec.Kind != s.Kind || s.Codec.PayloadType == 0 || s.Codec.MimeName == "" || s.Codec.ClockRate == 0 {
			return fmt.Errorf("%w: mid %s: codec %q does not fit a %v section", ErrInvalidOffer, s.Mid, s.Codec.Name, s.Kind)
		}
		switch s.Direction {
		case DirectionRecvOnly, DirectionInactive:
		case DirectionSendOnly:
			if s.SSRC == 0 || s.CNAME == "" || s.StreamID == "" || s.TrackID == "" {
				return fmt.Errorf("%w: mid %s: sendonly needs ssrc, cname, stream and track id", ErrInvalidOffer, s.Mid)
			}
			if !tokenChars(s.StreamID) || !tokenChars(s.TrackID) || !tokenChars(s.CNAME) {
				return fmt.Errorf("%w: mid %s: msid %q %q or cname %q has non-token characters", ErrInvalidOffer, s.Mid, s.StreamID, s.TrackID, s.CNAME)
			}
			if s.RTXSSRC == s.SSRC {
				return fmt.Errorf("%w: mid %s: rtx ssrc equals media ssrc %d", ErrInvalidOffer, s.Mid, s.SSRC)
			}
		default:
			return fmt.Errorf("%w: mid %s: direction %v (the server offers recvonly, sendonly or inactive)", ErrInvalidOffer, s.Mid, s.Direction)
		}
		if s.BitrateKbps < 0 {
			return fmt.Errorf("%w: mid %s: bitrate %d", ErrInvalidOffer, s.Mid, s.BitrateKbps)
		}
		if s.Simulcast && (s.Kind != dataplane.KindVideo || s.Direction != DirectionRecvOnly) {
			return fmt.Errorf("%w: mid %s: simulcast is only received on a recvonly video section", ErrInvalidOffer, s.Mid)
		}
	}
	return nil
}

func buildSection(o Offer, s Section) *sdp.MediaDescription {
	md := sdp.NewJSEPMediaDescription(s.Kind.String(), nil)
	md.MediaName.Port = sdp.RangedPort{Value: defaultPort}
	if s.Direction == DirectionRecvOnly && s.BitrateKbps > 0 {
		md.Bandwidth = append(md.Bandwidth, sdp.Bandwidth{Type: "AS", Bandwidth: uint64(s.BitrateKbps)})
		if s.Kind == dataplane.KindVideo {
			md.Bandwidth = append(md.Bandwidth, sdp.Bandwidth{Type: "TIAS", Bandwidth: uint64(s.BitrateKbps) * 1000})
		}
	}
	md.WithValueAttribute(sdp.AttrKeyMID, s.Mid).
		WithValueAttribute(sdp.AttrKeyConnectionSetup, "actpass").
		WithICECredentials(o.ICEUfrag, o.ICEPwd).
		WithPropertyAttribute(sdp.AttrKeyRTCPMux).
		WithPropertyAttribute(sdp.AttrKeyRTCPRsize)

	c := s.Codec
	fmtp := c.Fmtp
	if s.Fmtp != "" {
		fmtp = s.Fmtp
	}
	if s.Kind == dataplane.KindAudio && s.Direction == DirectionRecvOnly && s.BitrateKbps > 0 {
		fmtp = joinFmtp(fmtp, "maxaveragebitrate="+strconv.Itoa(s.BitrateKbps*1000))
	}
	md.WithCodec(c.PayloadType, c.MimeName, c.ClockRate, c.Channels, fmtp)
	pt := strconv.Itoa(int(c.PayloadType))
	if s.Kind == dataplane.KindVideo {
		for _, fb := range []string{"goog-remb", "ccm fir", "nack", "nack pli", "transport-cc"} {
			md.WithValueAttribute("rtcp-fb", pt+" "+fb)
		}
	} else {
		md.WithValueAttribute("rtcp-fb", pt+" transport-cc")
	}
	hasRTX := s.Kind == dataplane.KindVideo && c.RTXPayloadType != 0
	if hasRTX {
		md.WithCodec(c.RTXPayloadType, "rtx", c.ClockRate, 0, "apt="+pt)
	}

	md.WithPropertyAttribute(extmap(dataplane.ExtMid, dataplane.ExtURIMid))
	if s.Simulcast {
		md.WithPropertyAttribute(extmap(dataplane.ExtRID, dataplane.ExtURIRID))
		md.WithPropertyAttribute(extmap(dataplane.ExtRepairedRID, dataplane.ExtURIRepairedRID))
	}
	md.WithPropertyAttribute(extmap(dataplane.ExtTransportCC, dataplane.ExtURITransportCC))
	if s.Kind == dataplane.KindAudio {
		md.WithPropertyAttribute(extmap(dataplane.ExtAudioLevel, dataplane.ExtURIAudioLevel))
	}

	md.WithPropertyAttribute(s.Direction.String())
	if s.Direction == DirectionSendOnly {
		msid := s.StreamID + " " + s.TrackID
		md.WithValueAttribute(sdp.AttrKeyMsid, msid)
		ssrcs := []uint32{s.SSRC}
		if hasRTX && s.RTXSSRC != 0 {
			ssrcs = append(ssrcs, s.RTXSSRC)
			md.WithValueAttribute(sdp.AttrKeySSRCGroup, fmt.Sprintf("%s %d %d", sdp.SemanticTokenFlowIdentification, s.SSRC, s.RTXSSRC))
		}
		for _, ssrc := range ssrcs {
			id := strconv.FormatUint(uint64(ssrc), 10)
			md.WithValueAttribute(sdp.AttrKeySSRC, id+" cname:"+s.CNAME)
			md.WithValueAttribute(sdp.AttrKeySSRC, id+" msid:"+msid)
		}
	}
	if s.Simulcast {
		for _, rid := range []string{"r0", "r1", "r2"} {
			md.WithValueAttribute("rid", rid+" recv")
		}
		md.WithValueAttribute("simulcast", "recv r0;r1;r2")
	}
	return md
}

// buildApplication writes the m=application section (RFC 8841 §5, as in
// the offers Chromium accepted: sendrecv, sctp-port, max-message-size).
func buildApplication(o Offer, s Section) *sdp.MediaDescription {
	md := &sdp.MediaDescription{
		MediaName: sdp.MediaName{
			Media:   "application",
			Port:    sdp.RangedPort{Value: defaultPort},
			Protos:  []string{"UDP", "DTLS", "SCTP"},
			Formats: []string{"webrtc-datachannel"},
		},
		ConnectionInformation: &sdp.ConnectionInformation{
			NetworkType: "IN",
			AddressType: "IP4",
			Address:     &sdp.Address{Address: "0.0.0.0"},
		},
	}
	md.WithValueAttribute(sdp.AttrKeyMID, s.Mid).
		WithValueAttribute(sdp.AttrKeyConnectionSetup, "actpass").
		WithICECredentials(o.ICEUfrag, o.ICEPwd).
		WithPropertyAttribute(DirectionSendRecv.String()).
		WithValueAttribute("sctp-port", strconv.Itoa(SCTPPort))
	if s.MaxMessageSize > 0 {
		md.WithValueAttribute("max-message-size", strconv.FormatUint(uint64(s.MaxMessageSize), 10))
	}
	return md
}

func extmap(id int, uri string) string {
	return "extmap:" + strconv.Itoa(id) + " " + uri
}

func joinFmtp(a, b string) string {
	if a == "" {
		return b
	}
	return a + ";" + b
}

// candidateValue writes one host candidate, component 1 (RFC 8839 §5.1).
// The priority follows RFC 8445 §5.1.2.1 with the type preferences of
// libwebrtc (host UDP 126, host TCP 90) and a local preference that falls
// with the candidate's index so that every candidate's priority differs.
func candidateValue(c dataplane.Candidate, index int) string {
	typePref, proto := uint32(126), "udp"
	if c.Protocol == "tcp" {
		typePref, proto = 90, "tcp"
	}
	localPref := uint32(65535 - index%65536)
	prio := typePref<<24 | localPref<<8 | (256 - 1)
	ip := c.Addr.Addr().Unmap().String()
	foundation := crc32.ChecksumIEEE([]byte("host" + proto + ip))
	v := fmt.Sprintf("%d 1 %s %d %s %d typ host", foundation, proto, prio, ip, c.Addr.Port())
	if proto == "tcp" {
		v += " tcptype passive"
	}
	return v
}

// iceChars reports whether s only has ice-char (ALPHA / DIGIT / "+" / "/").
func iceChars(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !isAlnum(c) && c != '+' && c != '/' {
			return false
		}
	}
	return true
}

// tokenChars reports whether s only has SDP token-char (RFC 8866 §9).
func tokenChars(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case isAlnum(c):
		case strings.IndexByte("!#$%&'*+-.^_`{|}~", c) >= 0:
		default:
			return false
		}
	}
	return s != ""
}

func isAlnum(c byte) bool {
	return c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z'
}

func isHex(c byte) bool {
	return c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F'
}

// isFingerprint reports whether s is 32 hex pairs joined by ':' (sha-256).
func isFingerprint(s string) bool {
	if len(s) != 32*3-1 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if i%3 == 2 {
			if s[i] != ':' {
				return false
			}
		} else if !isHex(s[i]) {
			return false
		}
	}
	return true
}
