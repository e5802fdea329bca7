// Package demux classifies a datagram arriving on the media port by its first
// bytes (RFC 7983 §7, RFC 5761 §4). It is pure and allocation-free.
package demux

// Class is what a datagram carries.
type Class uint8

// Classes of datagram.
const (
	Unknown Class = iota
	STUN
	DTLS
	RTP
	RTCP
)

func (c Class) String() string {
	switch c {
	case STUN:
		return "stun"
	case DTLS:
		return "dtls"
	case RTP:
		return "rtp"
	case RTCP:
		return "rtcp"
	}
	return "unknown"
}

// Classify returns the class of b. RTP and RTCP are told apart by the second
// byte: RTCP packet types 192–223 (SR 200, RR 201, SDES, BYE, APP, RTPFB 205,
// PSFB 206, XR 207) fall in a range no RTP payload type uses with rtcp-mux.
func Classify(b []byte) Class {
	if len(b) == 0 {
		return Unknown
	}
	switch first := b[0]; {
	case first < 4:
		if len(b) < 20 {
			return Unknown
		}
		return STUN
	case first >= 20 && first <= 63:
		return DTLS
	case first >= 128 && first <= 191:
		if len(b) < 12 && !(len(b) >= 8 && isRTCPType(b[1])) {
			return Unknown
		}
		if isRTCPType(b[1]) {
			if len(b) < 8 {
				return Unknown
			}
			return RTCP
		}
		return RTP
	}
	return Unknown
}

func isRTCPType(b byte) bool { return b >= 192 && b <= 223 }
