package offer

import (
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/hayate-sfu/hayate/dataplane"
	"github.com/pion/sdp/v3"
)

// Answer is what Hayate uses of a client's SDP answer.
type Answer struct {
	// ICEUfrag and ICEPwd are the client's ICE credentials, from the first
	// accepted section (the BUNDLE tag) or else the session level.
	ICEUfrag, ICEPwd string
	// Fingerprint is the client's sha-256 certificate fingerprint, "AA:BB:…"
	// as written (compare case-insensitively), from media or session level.
	Fingerprint string
	// Setup is the client's a=setup: "active" (Chrome, pion) or "passive".
	// Absent means "active" (RFC 4145 §4).
	Setup string
	// Sections are the answer's m-sections in order.
	Sections []AnswerSection
}

// AnswerSection is one m-section of an answer.
type AnswerSection struct {
	Mid  string
	Kind string // "audio", "video", "application", …
	// Rejected is true when the port is 0: the client refused the section.
	Rejected bool
	// Direction is the client's; absent means sendrecv.
	Direction Direction
	// PayloadTypes are the formats of the m-line the client kept.
	PayloadTypes []uint8
	// Extensions are the header extensions the client kept.
	Extensions []Extension
	// SSRCs are the distinct SSRCs of a=ssrc lines, in order.
	SSRCs []uint32
	// FIDGroups are the a=ssrc-group:FID pairs {media, rtx}.
	FIDGroups [][2]uint32
	// CNAME is the cname of the first a=ssrc line that has one.
	CNAME string
	// SendRIDs are the simulcast streams the client sends (RFC 8853): the
	// rids of its a=simulcast:send list, in that order, that also have an
	// a=rid:<id> send line; paused ones ("~r2") and all but the first of a
	// list of alternatives are left out. Empty without simulcast.
	SendRIDs []string
	// SCTPPort is an application section's a=sctp-port (0 when absent).
	SCTPPort int
	// MaxMessageSize is an application section's a=max-message-size: the
	// largest DataChannel message the client accepts. 0 when the line is
	// absent (RFC 8841 §6: then assume 65536) or says 0 (no limit).
	MaxMessageSize uint32
	// HasMaxMessageSize tells a=max-message-size:0 (no limit) from no line.
	HasMaxMessageSize bool
}

// Extension is one a=extmap line.
type Extension struct {
	ID  int
	URI string
}

// DTLSRole is the role the server takes: the inverse of the client's setup.
func (a *Answer) DTLSRole() dataplane.DTLSRole {
	if a.Setup == "passive" {
		return dataplane.DTLSClient
	}
	return dataplane.DTLSServer
}

// Section returns the section with the given mid.
func (a *Answer) Section(mid string) (*AnswerSection, bool) {
	for i := range a.Sections {
		if a.Sections[i].Mid == mid {
			return &a.Sections[i], true
		}
	}
	return nil, false
}

// TransportCC reports whether an accepted section kept transport-wide-cc at
// dataplane.ExtTransportCC, the id every offer uses.
func (a *Answer) TransportCC() bool {
	for i := range a.Sections {
		s := &a.Sections[i]
		if !s.Rejected && s.ExtensionID(dataplane.ExtURITransportCC) == dataplane.ExtTransportCC {
			return true
		}
	}
	return false
}

// Application returns the answer's m=application section (DataChannels),
// if it has one.
func (a *Answer) Application() (*AnswerSection, bool) {
	for i := range a.Sections {
		if a.Sections[i].Kind == "application" {
			return &a.Sections[i], true
		}
	}
	return nil, false
}

// PeerMaxMessageSize is the largest DataChannel message the client accepts
// by its answer: a=max-message-size, 65536 when the line is absent
// (RFC 8841 §6), and 0 when it says 0 (no limit).
func (s *AnswerSection) PeerMaxMessageSize() uint32 {
	if !s.HasMaxMessageSize {
		return 65536
	}
	return s.MaxMessageSize
}

// ExtensionID returns the id the section kept for uri, 0 when it has none.
func (s *AnswerSection) ExtensionID(uri string) int {
	for _, e := range s.Extensions {
		if e.URI == uri {
			return e.ID
		}
	}
	return 0
}

// HasPayloadType reports whether the section kept pt.
func (s *AnswerSection) HasPayloadType(pt uint8) bool {
	for _, p := range s.PayloadTypes {
		if p == pt {
			return true
		}
	}
	return false
}

// MediaSSRC returns the SSRC the client sends media with and its RTX SSRC
// (0 when there is no FID group): the first FID group when there is one,
// else the first a=ssrc. Both are 0 when the answer signals none (simulcast).
func (s *AnswerSection) MediaSSRC() (ssrc, rtx uint32) {
	if len(s.FIDGroups) > 0 {
		return s.FIDGroups[0][0], s.FIDGroups[0][1]
	}
	if len(s.SSRCs) > 0 {
		return s.SSRCs[0], 0
	}
	return 0, 0
}

// ParseAnswer reads a client's SDP answer. Errors wrap ErrInvalidAnswer and
// name what is missing or malformed.
func ParseAnswer(text string) (Answer, error) {
	var sd sdp.SessionDescription
	if err := sd.UnmarshalString(text); err != nil {
		return Answer{}, fmt.Errorf("%w: %w", ErrInvalidAnswer, err)
	}
	var a Answer
	if len(sd.MediaDescriptions) == 0 {
		return a, fmt.Errorf("%w: no m-section", ErrInvalidAnswer)
	}
	sessFP, err := fingerprint(sd.Attributes)
	if err != nil {
		return a, err
	}
	sessUfrag, _ := sd.Attribute("ice-ufrag")
	sessPwd, _ := sd.Attribute("ice-pwd")
	sessSetup, _ := sd.Attribute(sdp.AttrKeyConnectionSetup)

	seen := make(map[string]bool, len(sd.MediaDescriptions))
	for i, md := range sd.MediaDescriptions {
		s, err := parseSection(i, md)
		if err != nil {
			return a, err
		}
		if s.Mid != "" {
			if seen[s.Mid] {
				return a, fmt.Errorf("%w: duplicate mid %q", ErrInvalidAnswer, s.Mid)
			}
			seen[s.Mid] = true
		}
		if !s.Rejected {
			if a.ICEUfrag == "" {
				a.ICEUfrag, _ = md.Attribute("ice-ufrag")
				a.ICEPwd, _ = md.Attribute("ice-pwd")
			}
			if a.Fingerprint == "" {
				fp, err := fingerprint(md.Attributes)
				if err != nil {
					return a, fmt.Errorf("mid %q: %w", s.Mid, err)
				}
				a.Fingerprint = fp
			}
			if a.Setup == "" {
				a.Setup, _ = md.Attribute(sdp.AttrKeyConnectionSetup)
			}
		}
		a.Sections = append(a.Sections, s)
	}
	if a.ICEUfrag == "" {
		a.ICEUfrag = sessUfrag
	}
	if a.ICEPwd == "" {
		a.ICEPwd = sessPwd
	}
	if a.Fingerprint == "" {
		a.Fingerprint = sessFP
	}
	if a.Setup == "" {
		a.Setup = sessSetup
	}
	if a.Setup == "" {
		a.Setup = "active"
	}

	switch {
	case a.ICEUfrag == "":
		return a, fmt.Errorf("%w: no a=ice-ufrag", ErrInvalidAnswer)
	case a.ICEPwd == "":
		return a, fmt.Errorf("%w: no a=ice-pwd", ErrInvalidAnswer)
	case a.Fingerprint == "":
		return a, fmt.Errorf("%w: no a=fingerprint", ErrInvalidAnswer)
	case !iceChars(a.ICEUfrag) || len(a.ICEUfrag) < 4 || len(a.ICEUfrag) > 256:
		return a, fmt.Errorf("%w: ice-ufrag %q", ErrInvalidAnswer, a.ICEUfrag)
	case !iceChars(a.ICEPwd) || len(a.ICEPwd) < 22 || len(a.ICEPwd) > 256:
		return a, fmt.Errorf("%w: ice-pwd of %d characters", ErrInvalidAnswer, len(a.ICEPwd))
	}
	if a.Setup != "active" && a.Setup != "passive" {
		return a, fmt.Errorf("%w: setup %q (an answer is active or passive)", ErrInvalidAnswer, a.Setup)
	}
	return a, nil
}

// fingerprint returns the sha-256 fingerprint among attrs, "" when attrs has
// no fingerprint at all, and an error when all of them use other hashes or
// the value is malformed.
func fingerprint(attrs []sdp.Attribute) (string, error) {
	var others []string
	for _, at := range attrs {
		if at.Key != "fingerprint" {
			continue
		}
		alg, val, ok := strings.Cut(strings.TrimSpace(at.Value), " ")
		if !ok {
			return "", fmt.Errorf("%w: fingerprint %q", ErrInvalidAnswer, at.Value)
		}
		if !strings.EqualFold(alg, "sha-256") {
			others = append(others, alg)
			continue
		}
		val = strings.TrimSpace(val)
		if !isFingerprint(val) {
			return "", fmt.Errorf("%w: sha-256 fingerprint %q", ErrInvalidAnswer, val)
		}
		return val, nil
	}
	if len(others) > 0 {
		return "", fmt.Errorf("%w: fingerprint hash %s (want sha-256)", ErrInvalidAnswer, strings.Join(others, ","))
	}
	return "", nil
}

func parseSection(index int, md *sdp.MediaDescription) (AnswerSection, error) {
	s := AnswerSection{
		Kind:      md.MediaName.Media,
		Rejected:  md.MediaName.Port.Value == 0,
		Direction: DirectionSendRecv,
	}
	s.Mid, _ = md.Attribute(sdp.AttrKeyMID)
	if s.Mid == "" && !s.Rejected {
		return s, fmt.Errorf("%w: m-section %d has no a=mid", ErrInvalidAnswer, index)
	}
	where := "mid " + strconv.Quote(s.Mid)
	if s.Mid == "" {
		where = "m-section " + strconv.Itoa(index)
	}
	if s.Kind == "audio" || s.Kind == "video" {
		for _, f := range md.MediaName.Formats {
			pt, err := strconv.ParseUint(f, 10, 7)
			if err != nil {
				return s, fmt.Errorf("%w: %s: payload type %q", ErrInvalidAnswer, where, f)
			}
			s.PayloadTypes = append(s.PayloadTypes, uint8(pt))
		}
	}
	dirs := 0
	var ridSend []string
	simulcastSend, simulcastLines := "", 0
	for _, at := range md.Attributes {
		switch at.Key {
		case "sendrecv", "sendonly", "recvonly", "inactive":
			s.Direction, _ = parseDirection(at.Key)
			dirs++
		case sdp.AttrKeyExtMap:
			e, err := parseExtmap(at.Value)
			if err != nil {
				return s, fmt.Errorf("%w: %s: %w", ErrInvalidAnswer, where, err)
			}
			s.Extensions = append(s.Extensions, e)
		case sdp.AttrKeySSRC:
			ssrc, attr, err := parseSSRCLine(at.Value)
			if err != nil {
				return s, fmt.Errorf("%w: %s: %w", ErrInvalidAnswer, where, err)
			}
			if !containsSSRC(s.SSRCs, ssrc) {
				s.SSRCs = append(s.SSRCs, ssrc)
			}
			if v, ok := strings.CutPrefix(attr, "cname:"); ok && s.CNAME == "" {
				s.CNAME = v
			}
		case sdp.AttrKeySSRCGroup:
			f := strings.Fields(at.Value)
			if len(f) == 0 || f[0] != sdp.SemanticTokenFlowIdentification {
				continue
			}
			if len(f) != 3 {
				return s, fmt.Errorf("%w: %s: ssrc-group %q (FID needs two SSRCs)", ErrInvalidAnswer, where, at.Value)
			}
			a, errA := strconv.ParseUint(f[1], 10, 32)
			b, errB := strconv.ParseUint(f[2], 10, 32)
			if errA != nil || errB != nil {
				return s, fmt.Errorf("%w: %s: ssrc-group %q", ErrInvalidAnswer, where, at.Value)
			}
			s.FIDGroups = append(s.FIDGroups, [2]uint32{uint32(a), uint32(b)})
		case "rid":
			id, dir, err := parseRIDLine(at.Value)
			if err != nil {
				return s, fmt.Errorf("%w: %s: %w", ErrInvalidAnswer, where, err)
			}
			if dir == "send" && !slices.Contains(ridSend, id) {
				ridSend = append(ridSend, id)
			}
		case "simulcast":
			simulcastLines++
			send, err := parseSimulcastSend(at.Value)
			if err != nil {
				return s, fmt.Errorf("%w: %s: %w", ErrInvalidAnswer, where, err)
			}
			if send != "" {
				simulcastSend = send
			}
		case "sctp-port":
			if s.Kind != "application" {
				continue
			}
			p, err := strconv.ParseUint(strings.TrimSpace(at.Value), 10, 16)
			if err != nil {
				return s, fmt.Errorf("%w: %s: sctp-port %q", ErrInvalidAnswer, where, at.Value)
			}
			s.SCTPPort = int(p)
		case "max-message-size":
			if s.Kind != "application" {
				continue
			}
			v, err := strconv.ParseUint(strings.TrimSpace(at.Value), 10, 64)
			if err != nil {
				return s, fmt.Errorf("%w: %s: max-message-size %q", ErrInvalidAnswer, where, at.Value)
			}
			if v > 1<<32-1 {
				v = 1<<32 - 1 // larger than anything the server sends
			}
			s.MaxMessageSize, s.HasMaxMessageSize = uint32(v), true
		}
	}
	if dirs > 1 {
		return s, fmt.Errorf("%w: %s: %d direction attributes", ErrInvalidAnswer, where, dirs)
	}
	if simulcastLines > 2 {
		return s, fmt.Errorf("%w: %s: %d a=simulcast lines", ErrInvalidAnswer, where, simulcastLines)
	}
	s.SendRIDs = sendRIDs(simulcastSend, ridSend)
	return s, nil
}

// parseExtmap reads "<id>[/<direction>] <uri> [<attributes>]" (RFC 8285 §8).
func parseExtmap(v string) (Extension, error) {
	f := strings.Fields(v)
	if len(f) < 2 {
		return Extension{}, fmt.Errorf("extmap %q", v)
	}
	idText, _, _ := strings.Cut(f[0], "/")
	id, err := strconv.Atoi(idText)
	if err != nil || id < 1 || id > 255 || id == 15 {
		return Extension{}, fmt.Errorf("extmap id %q", f[0])
	}
	return Extension{ID: id, URI: f[1]}, nil
}

// parseSSRCLine reads "<ssrc> <attribute>[:<value>]" (RFC 5576 §4.1).
func parseSSRCLine(v string) (uint32, string, error) {
	idText, rest, _ := strings.Cut(v, " ")
	id, err := strconv.ParseUint(idText, 10, 32)
	if err != nil {
		return 0, "", fmt.Errorf("ssrc %q", idText)
	}
	return uint32(id), strings.TrimSpace(rest), nil
}

func containsSSRC(list []uint32, v uint32) bool {
	for _, x := range list {
		if x == v {
			return true
		}
	}
	return false
}
