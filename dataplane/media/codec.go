package media

import "strings"

// Codec names a media codec the forwarder handles.
type Codec uint8

// Codecs. The zero value is CodecUnknown.
const (
	CodecUnknown Codec = iota
	CodecOpus
	CodecVP8
	CodecVP9
	CodecAV1
	CodecH264
	CodecH265
)

var codecNames = [...]string{"unknown", "opus", "VP8", "VP9", "AV1", "H264", "H265"}

// String returns the codec's RTP encoding name (as in a=rtpmap).
func (c Codec) String() string {
	if int(c) < len(codecNames) {
		return codecNames[c]
	}
	return "unknown"
}

// ParseCodec returns the codec for an encoding name ("VP8", "opus", …) or a
// MIME type ("video/VP8"), case-insensitively; CodecUnknown when none fits.
func ParseCodec(name string) Codec {
	if i := strings.IndexByte(name, '/'); i >= 0 {
		name = name[i+1:]
	}
	if strings.EqualFold(name, "HEVC") {
		return CodecH265
	}
	for c := CodecOpus; int(c) < len(codecNames); c++ {
		if strings.EqualFold(name, codecNames[c]) {
			return c
		}
	}
	return CodecUnknown
}

// IsVideo reports whether the codec is a video codec.
func (c Codec) IsVideo() bool { return c >= CodecVP8 && c <= CodecH265 }

// IsKeyframe reports whether payload (the RTP payload, without header and
// padding; see Payload) is the first packet of a keyframe, i.e. a point where
// a receiver can start decoding. Malformed payloads give false; no input
// panics.
//
//   - VP8 (RFC 7741 §4.2–4.3): the packet starts partition 0 (S=1, PID=0) and
//     the VP8 payload header's P bit is 0.
//   - VP9 (RFC 9628 §4.2): B=1 (start of a layer frame), P=0 (not
//     inter-picture predicted) and spatial layer 0, in flexible and
//     non-flexible mode.
//   - H.264 (RFC 6184): an SPS (NAL type 7), or the start of the first slice
//     of an IDR picture (type 5 with first_mb_in_slice 0), as a single NAL
//     unit, inside a STAP-A/STAP-B or at the start of an FU-A/FU-B. A
//     keyframe sent as SPS+PPS then IDR reports true on both packets; switch
//     at the first one of a timestamp.
//   - H.265 (RFC 7798): a VPS or SPS, or the first slice segment of an IRAP
//     picture (types 16–21), single, in an aggregation packet or a starting
//     fragmentation unit.
//   - AV1: the aggregation header's N bit (first packet of a coded video
//     sequence), or a sequence header OBU as the first OBU of the packet
//     (after any temporal delimiter).
//   - Opus: every packet decodes on its own, so every packet is a valid
//     switching point and the answer is true for any non-empty payload.
func IsKeyframe(c Codec, payload []byte) bool {
	switch c {
	case CodecVP8:
		return vp8Keyframe(payload)
	case CodecVP9:
		return vp9Keyframe(payload)
	case CodecH264:
		return h264Keyframe(payload)
	case CodecH265:
		return h265Keyframe(payload)
	case CodecAV1:
		return av1Keyframe(payload)
	case CodecOpus:
		return len(payload) > 0
	}
	return false
}
