package offer

import (
	"fmt"
	"slices"
	"strings"
)

// Simulcast (RFC 8853, RFC 8851). The server receives simulcast on a
// recvonly video section with Section.Simulcast: the offer lists the rids
// of SimulcastRIDs as a=rid:<id> recv and a=simulcast:recv r0;r1;r2, and the
// rid and repaired-rid header extensions. A Sora client learns how to encode
// each of them from offer.encodings (Encoding, DefaultEncodings) and answers
// a=rid:<id> send and a=simulcast:send …, which ParseAnswer reads into
// AnswerSection.SendRIDs.

// SimulcastRIDs are the rids the server offers to receive, in ascending
// quality (Sora's names: r0 is the smallest layer, r2 the full one).
var SimulcastRIDs = []string{"r0", "r1", "r2"}

// RIDRank is the quality rank of one of SimulcastRIDs (r0 → 0, r1 → 1,
// r2 → 2) and -1 for any other rid.
func RIDRank(rid string) int { return slices.Index(SimulcastRIDs, rid) }

// maxRIDLen bounds a rid-id. RFC 8851 sets no limit; browsers use short
// ids and the server only offers SimulcastRIDs.
const maxRIDLen = 32

// Encoding is one entry of offer.encodings: the RTCRtpEncodingParameters
// (W3C webrtc-pc §5.2) a Sora client applies with sender.setParameters to
// its simulcast video sender. Zero numbers are left out of the JSON.
type Encoding struct {
	RID    string `json:"rid"`
	Active bool   `json:"active"`
	// MaxBitrate is in bits per second.
	MaxBitrate            int     `json:"maxBitrate,omitempty"`
	MaxFramerate          float64 `json:"maxFramerate,omitempty"`
	ScaleResolutionDownBy float64 `json:"scaleResolutionDownBy,omitempty"`
	// ScalabilityMode is e.g. "L1T1" (W3C webrtc-svc): one spatial and one
	// temporal layer per rid.
	ScalabilityMode string `json:"scalabilityMode,omitempty"`
}

// DefaultEncodings are the encodings of a simulcast publisher when its
// connection names none: r0 at a quarter of the capture size and 150 kb/s,
// r1 at half and 500 kb/s, r2 at full size and 1.5 Mb/s (the values
// Chromium accepted with sora-js-sdk), each L1T1. It returns a new slice.
func DefaultEncodings() []Encoding {
	return []Encoding{
		{RID: "r0", Active: true, MaxBitrate: 150_000, ScaleResolutionDownBy: 4, ScalabilityMode: "L1T1"},
		{RID: "r1", Active: true, MaxBitrate: 500_000, ScaleResolutionDownBy: 2, ScalabilityMode: "L1T1"},
		{RID: "r2", Active: true, MaxBitrate: 1_500_000, ScaleResolutionDownBy: 1, ScalabilityMode: "L1T1"},
	}
}

// scalabilityModes are the W3C webrtc-svc modes a simulcast layer may ask for.
var scalabilityModes = []string{"L1T1", "L1T2", "L1T3"}

// ValidateEncodings checks encodings given for a connection: one to three
// entries, each with a distinct rid of SimulcastRIDs, scaleResolutionDownBy
// 0 (unset) or ≥ 1, non-negative bitrate and frame rate, and a
// scalabilityMode of L1T1, L1T2, L1T3 or none. Errors wrap ErrInvalidOffer.
func ValidateEncodings(encs []Encoding) error {
	if len(encs) == 0 || len(encs) > len(SimulcastRIDs) {
		return fmt.Errorf("%w: %d encodings (want 1-%d)", ErrInvalidOffer, len(encs), len(SimulcastRIDs))
	}
	seen := map[string]bool{}
	for i, e := range encs {
		switch {
		case RIDRank(e.RID) < 0:
			return fmt.Errorf("%w: encodings[%d]: rid %q (want r0, r1 or r2)", ErrInvalidOffer, i, e.RID)
		case seen[e.RID]:
			return fmt.Errorf("%w: encodings[%d]: rid %q twice", ErrInvalidOffer, i, e.RID)
		case e.MaxBitrate < 0:
			return fmt.Errorf("%w: encodings[%d]: maxBitrate %d", ErrInvalidOffer, i, e.MaxBitrate)
		case e.MaxFramerate < 0:
			return fmt.Errorf("%w: encodings[%d]: maxFramerate %v", ErrInvalidOffer, i, e.MaxFramerate)
		case e.ScaleResolutionDownBy != 0 && e.ScaleResolutionDownBy < 1:
			return fmt.Errorf("%w: encodings[%d]: scaleResolutionDownBy %v (want at least 1)", ErrInvalidOffer, i, e.ScaleResolutionDownBy)
		case e.ScalabilityMode != "" && !slices.Contains(scalabilityModes, e.ScalabilityMode):
			return fmt.Errorf("%w: encodings[%d]: scalabilityMode %q (want %s)", ErrInvalidOffer, i, e.ScalabilityMode, strings.Join(scalabilityModes, ", "))
		}
		seen[e.RID] = true
	}
	return nil
}

// parseRIDLine reads "<rid-id> <send|recv> [<params>]" (RFC 8851 §10).
func parseRIDLine(v string) (id, dir string, err error) {
	f := strings.Fields(v)
	if len(f) < 2 || (f[1] != "send" && f[1] != "recv") || !isRIDID(f[0]) {
		return "", "", fmt.Errorf("rid %q", v)
	}
	return f[0], f[1], nil
}

// parseSimulcastSend reads an a=simulcast value (RFC 8853 §5.1:
// "send <list>", "recv <list>", or both in either order) and returns the
// send list, "" when there is none.
func parseSimulcastSend(v string) (string, error) {
	f := strings.Fields(v)
	if len(f) != 2 && len(f) != 4 {
		return "", fmt.Errorf("simulcast %q", v)
	}
	send := ""
	for i := 0; i < len(f); i += 2 {
		switch f[i] {
		case "send":
			if send != "" {
				return "", fmt.Errorf("simulcast %q (two send lists)", v)
			}
			send = f[i+1]
		case "recv":
		default:
			return "", fmt.Errorf("simulcast %q (want send or recv, got %q)", v, f[i])
		}
	}
	return send, nil
}

// sendRIDs returns the rids of a simulcast send list that are not paused
// and have an a=rid … send line, first alternatives only, without repeats.
// An old-draft "rid=" prefix (draft-ietf-mmusic-sdp-simulcast-13) is
// accepted.
func sendRIDs(list string, declared []string) []string {
	if list == "" {
		return nil
	}
	list = strings.TrimPrefix(list, "rid=")
	var out []string
	for _, alt := range strings.Split(list, ";") {
		id, _, _ := strings.Cut(alt, ",")
		if strings.HasPrefix(id, "~") {
			continue
		}
		if isRIDID(id) && slices.Contains(declared, id) && !slices.Contains(out, id) {
			out = append(out, id)
		}
	}
	return out
}

// isRIDID reports whether s is a rid-id: 1*(alpha-numeric / "-" / "_"),
// here at most maxRIDLen bytes.
func isRIDID(s string) bool {
	if s == "" || len(s) > maxRIDLen {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; !isAlnum(c) && c != '-' && c != '_' {
			return false
		}
	}
	return true
}
