package dataplane

import "strings"

// Codec is one entry of the single payload-type table shared by every
// bundled m-section of every connection (RFC 9143 §9.1.1): a PT always means
// the same codec configuration, so forwarding never rewrites payload types.
type Codec struct {
	Name        string // as in Sora's codec_type: OPUS, VP8, VP9, AV1, H264
	Kind        Kind
	MimeName    string // rtpmap encoding name
	PayloadType uint8
	ClockRate   uint32
	Channels    uint16 // audio only
	Fmtp        string
	// RTXPayloadType is the RTX PT (RFC 4588) paired with this codec, 0 for none.
	RTXPayloadType uint8
}

// Codecs is the payload-type table. The values follow the ones Chrome and
// pion use, so answers echo them unchanged.
var Codecs = []Codec{
	{Name: "OPUS", Kind: KindAudio, MimeName: "opus", PayloadType: 111, ClockRate: 48000, Channels: 2, Fmtp: "minptime=10;useinbandfec=1"},
	{Name: "VP8", Kind: KindVideo, MimeName: "VP8", PayloadType: 96, ClockRate: 90000, RTXPayloadType: 97},
	{Name: "VP9", Kind: KindVideo, MimeName: "VP9", PayloadType: 98, ClockRate: 90000, Fmtp: "profile-id=0", RTXPayloadType: 99},
	{Name: "AV1", Kind: KindVideo, MimeName: "AV1", PayloadType: 45, ClockRate: 90000, Fmtp: "level-idx=5;profile=0;tier=0", RTXPayloadType: 46},
	{Name: "H264", Kind: KindVideo, MimeName: "H264", PayloadType: 102, ClockRate: 90000, Fmtp: "level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42e01f", RTXPayloadType: 103},
}

// CodecByName finds a codec by Sora codec_type (case-insensitive).
func CodecByName(name string) (Codec, bool) {
	for _, c := range Codecs {
		if strings.EqualFold(c.Name, name) {
			return c, true
		}
	}
	return Codec{}, false
}

// CodecByPayloadType finds a codec by its media payload type.
func CodecByPayloadType(pt uint8) (Codec, bool) {
	for _, c := range Codecs {
		if c.PayloadType == pt {
			return c, true
		}
	}
	return Codec{}, false
}
