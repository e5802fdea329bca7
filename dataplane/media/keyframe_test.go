package media

import (
	"bytes"
	"testing"

	"github.com/pion/rtp/codecs"
)

// Payloads below are built by hand from the payload format specifications;
// the comments give the bit fields.
var (
	// VP8, RFC 7741. Descriptor |X=1|R|N=0|S=1|R|PID=0| = 0x90, extension
	// |I=1|L=1|T=1|K=0| = 0xe0, picture ID with M=1 (0x1234), TL0PICIDX 5,
	// |TID=0|Y=1|KEYIDX=0| = 0x20; then the VP8 frame tag (P bit = bit 0 of the
	// first byte) and, for key frames, the start code 9d 01 2a and 640x480.
	vp8Key        = []byte{0x90, 0xe0, 0x92, 0x34, 0x05, 0x20, 0x50, 0x42, 0x00, 0x9d, 0x01, 0x2a, 0x80, 0x02, 0xe0, 0x01}
	vp8Delta      = []byte{0x90, 0xe0, 0x92, 0x35, 0x05, 0x20, 0x31, 0x11, 0x00, 0xaa}
	vp8KeyMiddle  = []byte{0x80, 0xe0, 0x92, 0x34, 0x05, 0x20, 0x50, 0x42} // S=0: continuation of the key frame
	vp8KeyPart1   = []byte{0x11, 0x50, 0x42}                               // S=1 but PID=1
	vp8ShortKey   = []byte{0x10, 0x50}                                     // no X: descriptor is one byte
	vp8NoPayload  = []byte{0x10}
	vp8CutPicID   = []byte{0x90, 0x80, 0x92} // M=1 needs a second picture ID byte
	vp8CutExtByte = []byte{0x80}

	// VP9, RFC 9628 §4.2. |I|P|L|F|B|E|V|Z|.
	// Non-flexible key frame with SS: I=1,P=0,L=1,F=0,B=1,E=0,V=1 = 0xaa;
	// picture ID M=1 0x0123; |TID=0|U=0|SID=0|D=0| = 0x00; TL0PICIDX 7; SS...
	vp9KeyNonFlex = []byte{0xaa, 0x81, 0x23, 0x00, 0x07, 0x18, 0x02, 0x80, 0x01, 0xe0, 0x00}
	// Flexible: I=1,P=0,L=1,F=1,B=1,E=1 = 0xbc; 7-bit picture ID 5; layer 0.
	vp9KeyFlex = []byte{0xbc, 0x05, 0x00, 0x82, 0x49, 0x83}
	// Flexible inter frame: P=1 (0xfc), picture ID 6, layer 0, P_DIFF 1 (N=0).
	vp9DeltaFlex = []byte{0xfc, 0x06, 0x00, 0x02, 0x86}
	// Spatial layer 1 of a key picture: P=0, B=1 but |SID=1|D=1| = 0x03.
	vp9KeySID1 = []byte{0xbc, 0x05, 0x03, 0x82}
	// Second packet of the key frame: B=0 (0xa4: I,L,E).
	vp9KeyMiddle = []byte{0xa4, 0x81, 0x23, 0x00, 0x07, 0x11}
	// Minimal descriptor (simulcast without I/L): B=1, P=0.
	vp9KeyMinimal = []byte{0x0c, 0x82}
	vp9CutLayer   = []byte{0xa8, 0x05} // L=1 but no layer byte
	vp9CutTL0     = []byte{0x28, 0x00} // non-flexible L=1 without TL0PICIDX

	// H.264, RFC 6184. NAL header |F|NRI|Type|.
	h264SPS          = []byte{0x67, 0x42, 0xc0, 0x1f, 0xda}
	h264PPS          = []byte{0x68, 0xce, 0x3c, 0x80}
	h264IDR          = []byte{0x65, 0x88, 0x84, 0x00} // first_mb_in_slice = 0 ("1...")
	h264IDRSecond    = []byte{0x65, 0x41, 0x9a}       // first_mb_in_slice = 1 ("010")
	h264NonIDR       = []byte{0x41, 0x9a, 0x02}
	h264STAPSPSPPS   = []byte{0x78, 0x00, 0x05, 0x67, 0x42, 0xc0, 0x1f, 0xda, 0x00, 0x04, 0x68, 0xce, 0x3c, 0x80}
	h264STAPSEIIDR   = []byte{0x78, 0x00, 0x02, 0x06, 0x05, 0x00, 0x03, 0x65, 0x88, 0x84}
	h264STAPSEIPPS   = []byte{0x78, 0x00, 0x02, 0x06, 0x05, 0x00, 0x04, 0x68, 0xce, 0x3c, 0x80}
	h264STAPOverrun  = []byte{0x78, 0x00, 0x09, 0x67, 0x42}
	h264STAPBSPS     = []byte{0x79, 0x00, 0x01, 0x00, 0x02, 0x67, 0x42}
	h264FUAIDRStart  = []byte{0x7c, 0x85, 0x88, 0x84, 0x00} // FU indicator type 28, |S=1|E=0|R|5|
	h264FUAIDRMiddle = []byte{0x7c, 0x05, 0x12, 0x34}
	h264FUANonIDR    = []byte{0x5c, 0x81, 0x9a, 0x02}
	h264FUBIDRStart  = []byte{0x7d, 0x85, 0x00, 0x01, 0x88}
	h264FUATooShort  = []byte{0x7c}

	// H.265, RFC 7798. NAL header |F|Type(6)|LayerId(6)|TID(3)|.
	h265VPS        = []byte{0x40, 0x01, 0x0c, 0x01}
	h265IDR        = []byte{0x26, 0x01, 0xaf, 0x06} // IDR_W_RADL (19), first_slice_segment_in_pic_flag = 1
	h265CRASecond  = []byte{0x2a, 0x01, 0x40}       // CRA (21), not the first slice segment
	h265Trail      = []byte{0x02, 0x01, 0xd0}
	h265APWithVPS  = []byte{0x60, 0x01, 0x00, 0x03, 0x40, 0x01, 0x0c, 0x00, 0x03, 0x42, 0x01, 0x01}
	h265FUIDRStart = []byte{0x62, 0x01, 0x93, 0xaf} // FU (49), |S=1|E=0|19|
	h265FUIDRMid   = []byte{0x62, 0x01, 0x13, 0xaf}

	// AV1 RTP payload format §4.4. Aggregation header |Z|Y|W(2)|N|-|-|-|,
	// OBU header |F|type(4)|X|S|R|.
	av1NewSequence   = []byte{0x18, 0x08, 0x00, 0x00, 0x00} // W=1, N=1, sequence header
	av1SeqHdrNoN     = []byte{0x10, 0x08, 0x00, 0x00}       // W=1, N=0, sequence header first
	av1SeqHdrLenPref = []byte{0x00, 0x03, 0x08, 0x00, 0x00} // W=0: LEB128 length 3
	av1TDThenSeqHdr  = []byte{0x20, 0x01, 0x12, 0x0a, 0x00} // W=2: temporal delimiter, then sequence header
	av1Frame         = []byte{0x10, 0x30, 0x10, 0x00}       // frame OBU (type 6)
	av1Continuation  = []byte{0x90, 0x08, 0x00}             // Z=1, W=1: first element continues a fragment
	av1LenOverrun    = []byte{0x00, 0x7f, 0x08}
	av1LEBTooLong    = []byte{0x00, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x01}
)

func TestIsKeyframe(t *testing.T) {
	av1LongLen := append([]byte{0x00, 0x81, 0x01, 0x08}, make([]byte, 128)...) // LEB128 129
	for _, tc := range []struct {
		name  string
		codec Codec
		p     []byte
		want  bool
	}{
		{"VP8 key frame", CodecVP8, vp8Key, true},
		{"VP8 inter frame", CodecVP8, vp8Delta, false},
		{"VP8 key frame continuation", CodecVP8, vp8KeyMiddle, false},
		{"VP8 partition 1", CodecVP8, vp8KeyPart1, false},
		{"VP8 one-byte descriptor", CodecVP8, vp8ShortKey, true},
		{"VP8 descriptor only", CodecVP8, vp8NoPayload, false},
		{"VP8 cut picture ID", CodecVP8, vp8CutPicID, false},
		{"VP8 cut extension byte", CodecVP8, vp8CutExtByte, false},
		{"VP8 empty", CodecVP8, nil, false},

		{"VP9 non-flexible key", CodecVP9, vp9KeyNonFlex, true},
		{"VP9 flexible key", CodecVP9, vp9KeyFlex, true},
		{"VP9 flexible inter", CodecVP9, vp9DeltaFlex, false},
		{"VP9 key spatial layer 1", CodecVP9, vp9KeySID1, false},
		{"VP9 key second packet", CodecVP9, vp9KeyMiddle, false},
		{"VP9 minimal key", CodecVP9, vp9KeyMinimal, true},
		{"VP9 cut layer", CodecVP9, vp9CutLayer, false},
		{"VP9 cut TL0PICIDX", CodecVP9, vp9CutTL0, false},
		{"VP9 empty", CodecVP9, nil, false},

		{"H264 SPS", CodecH264, h264SPS, true},
		{"H264 PPS", CodecH264, h264PPS, false},
		{"H264 IDR first slice", CodecH264, h264IDR, true},
		{"H264 IDR second slice", CodecH264, h264IDRSecond, false},
		{"H264 IDR header only", CodecH264, []byte{0x65}, false},
		{"H264 non-IDR", CodecH264, h264NonIDR, false},
		{"H264 STAP-A SPS+PPS", CodecH264, h264STAPSPSPPS, true},
		{"H264 STAP-A SEI+IDR", CodecH264, h264STAPSEIIDR, true},
		{"H264 STAP-A SEI+PPS", CodecH264, h264STAPSEIPPS, false},
		{"H264 STAP-A overrun", CodecH264, h264STAPOverrun, false},
		{"H264 STAP-B SPS", CodecH264, h264STAPBSPS, true},
		{"H264 FU-A IDR start", CodecH264, h264FUAIDRStart, true},
		{"H264 FU-A IDR middle", CodecH264, h264FUAIDRMiddle, false},
		{"H264 FU-A non-IDR start", CodecH264, h264FUANonIDR, false},
		{"H264 FU-B IDR start", CodecH264, h264FUBIDRStart, true},
		{"H264 FU-A too short", CodecH264, h264FUATooShort, false},
		{"H264 empty", CodecH264, nil, false},

		{"H265 VPS", CodecH265, h265VPS, true},
		{"H265 IDR first segment", CodecH265, h265IDR, true},
		{"H265 CRA later segment", CodecH265, h265CRASecond, false},
		{"H265 TRAIL_R", CodecH265, h265Trail, false},
		{"H265 AP with VPS", CodecH265, h265APWithVPS, true},
		{"H265 FU IDR start", CodecH265, h265FUIDRStart, true},
		{"H265 FU IDR middle", CodecH265, h265FUIDRMid, false},

		{"AV1 N bit", CodecAV1, av1NewSequence, true},
		{"AV1 sequence header without N", CodecAV1, av1SeqHdrNoN, true},
		{"AV1 sequence header, length-prefixed", CodecAV1, av1SeqHdrLenPref, true},
		{"AV1 temporal delimiter then sequence header", CodecAV1, av1TDThenSeqHdr, true},
		{"AV1 two-byte LEB128 length", CodecAV1, av1LongLen, true},
		{"AV1 frame OBU", CodecAV1, av1Frame, false},
		{"AV1 continuation", CodecAV1, av1Continuation, false},
		{"AV1 length overrun", CodecAV1, av1LenOverrun, false},
		{"AV1 LEB128 too long", CodecAV1, av1LEBTooLong, false},
		{"AV1 empty", CodecAV1, nil, false},

		{"Opus packet", CodecOpus, []byte{0x78, 0x01}, true},
		{"Opus empty", CodecOpus, nil, false},
		{"unknown codec", CodecUnknown, vp8Key, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := IsKeyframe(tc.codec, tc.p); got != tc.want {
				t.Fatalf("IsKeyframe(%v, %x) = %v, want %v", tc.codec, tc.p, got, tc.want)
			}
		})
	}
}

func TestParseVP8(t *testing.T) {
	var d VP8Descriptor
	if !ParseVP8(vp8Key, &d) {
		t.Fatal("ParseVP8 rejected a key frame")
	}
	want := VP8Descriptor{
		Len: 6, Start: true,
		PictureIDLen: 2, PictureIDOffset: 2, PictureID: 0x1234,
		HasTL0PICIDX: true, TL0PICIDXOffset: 4, TL0PICIDX: 5,
		HasTID: true, TID: 0, LayerSync: true,
	}
	if d != want {
		t.Fatalf("ParseVP8 = %+v\nwant %+v", d, want)
	}
	// The offsets address the fields for in-place munging.
	p := bytes.Clone(vp8Key)
	p[d.PictureIDOffset] = 0x80 | 0x7f
	p[d.PictureIDOffset+1] = 0xff
	p[d.TL0PICIDXOffset] = 9
	if !ParseVP8(p, &d) || d.PictureID != 0x7fff || d.TL0PICIDX != 9 {
		t.Fatalf("after rewrite: %+v", d)
	}
}

func TestParseVP9(t *testing.T) {
	var d VP9Descriptor
	if !ParseVP9(vp9KeyNonFlex, &d) {
		t.Fatal("ParseVP9 rejected a key frame")
	}
	want := VP9Descriptor{
		Begin: true, HasSS: true,
		PictureIDLen: 2, PictureIDOffset: 1, PictureID: 0x0123,
		HasLayer: true, HasTL0PICIDX: true, TL0PICIDXOffset: 4, TL0PICIDX: 7,
	}
	if d != want {
		t.Fatalf("ParseVP9 = %+v\nwant %+v", d, want)
	}
	if !ParseVP9(vp9KeySID1, &d) || d.SID != 1 || !d.InterLayerDependency || !d.Flexible || d.HasTL0PICIDX {
		t.Fatalf("ParseVP9(SID1) = %+v", d)
	}
}

// TestVP8AgreesWithPion checks ParseVP8 against pion's VP8 depacketizer on
// the hand-built payloads.
func TestVP8AgreesWithPion(t *testing.T) {
	for _, p := range [][]byte{vp8Key, vp8Delta, vp8KeyMiddle, vp8KeyPart1, vp8ShortKey} {
		checkVP8AgainstPion(t, p)
	}
}

func checkVP8AgainstPion(t *testing.T, p []byte) {
	t.Helper()
	var d VP8Descriptor
	ok := ParseVP8(p, &d)
	var v codecs.VP8Packet
	rest, err := v.Unmarshal(p)
	pionOK := err == nil && len(rest) > 0
	if ok != pionOK {
		t.Fatalf("%x: ParseVP8 ok=%v, pion ok=%v (%v)", p, ok, pionOK, err)
	}
	if !ok {
		return
	}
	if d.Len != len(p)-len(rest) || d.Start != (v.S == 1) || d.PartitionID != v.PID || d.NonReference != (v.N == 1) ||
		(d.PictureIDLen > 0) != (v.I == 1) || d.PictureID != v.PictureID ||
		d.HasTL0PICIDX != (v.L == 1) || d.TL0PICIDX != v.TL0PICIDX ||
		d.HasTID != (v.T == 1) || d.TID != v.TID || d.LayerSync != (v.Y == 1) ||
		d.HasKeyIdx != (v.K == 1) || d.KeyIdx != v.KEYIDX {
		t.Fatalf("%x: ParseVP8 %+v disagrees with pion %+v", p, d, v)
	}
}

func checkVP9AgainstPion(t *testing.T, p []byte) {
	t.Helper()
	var v codecs.VP9Packet
	if _, err := v.Unmarshal(p); err != nil {
		return // pion also decodes P_DIFF and SS, which ParseVP9 skips
	}
	var d VP9Descriptor
	if !ParseVP9(p, &d) {
		t.Fatalf("%x: pion parses, ParseVP9 does not", p)
	}
	if d.InterPicture != v.P || d.Flexible != v.F || d.Begin != v.B || d.End != v.E || d.HasSS != v.V ||
		d.NotReference != v.Z || (d.PictureIDLen > 0) != v.I || d.PictureID != v.PictureID || d.HasLayer != v.L {
		t.Fatalf("%x: ParseVP9 %+v disagrees with pion %+v", p, d, v)
	}
	if d.HasLayer && (d.TID != v.TID || d.SwitchUp != v.U || d.SID != v.SID || d.InterLayerDependency != v.D) {
		t.Fatalf("%x: layer fields %+v disagree with pion %+v", p, d, v)
	}
	if d.HasTL0PICIDX && d.TL0PICIDX != v.TL0PICIDX {
		t.Fatalf("%x: TL0PICIDX %d, pion %d", p, d.TL0PICIDX, v.TL0PICIDX)
	}
}

func TestVP9AgreesWithPion(t *testing.T) {
	for _, p := range [][]byte{vp9KeyNonFlex, vp9KeyFlex, vp9DeltaFlex, vp9KeySID1, vp9KeyMiddle, vp9KeyMinimal} {
		checkVP9AgainstPion(t, p)
	}
}

func TestParseCodec(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want Codec
	}{
		{"VP8", CodecVP8}, {"video/vp9", CodecVP9}, {"av1", CodecAV1}, {"H264", CodecH264},
		{"audio/opus", CodecOpus}, {"OPUS", CodecOpus}, {"hevc", CodecH265}, {"video/H265", CodecH265},
		{"", CodecUnknown}, {"G722", CodecUnknown}, {"unknown", CodecUnknown},
	} {
		if got := ParseCodec(tc.in); got != tc.want {
			t.Errorf("ParseCodec(%q) = %v, want %v", tc.in, got, tc.want)
		}
	}
	if CodecVP8.String() != "VP8" || Codec(200).String() != "unknown" {
		t.Fatal("String names")
	}
	if !CodecAV1.IsVideo() || CodecOpus.IsVideo() || CodecUnknown.IsVideo() {
		t.Fatal("IsVideo")
	}
}

func TestIsKeyframeZeroAlloc(t *testing.T) {
	inputs := []struct {
		c Codec
		p []byte
	}{
		{CodecVP8, vp8Key}, {CodecVP9, vp9KeyNonFlex}, {CodecH264, h264STAPSEIIDR},
		{CodecH264, h264FUAIDRStart}, {CodecH265, h265APWithVPS}, {CodecAV1, av1TDThenSeqHdr},
	}
	var n int
	if a := testing.AllocsPerRun(1000, func() {
		for _, in := range inputs {
			if IsKeyframe(in.c, in.p) {
				n++
			}
		}
		var d VP8Descriptor
		ParseVP8(vp8Key, &d)
		var d9 VP9Descriptor
		ParseVP9(vp9KeyFlex, &d9)
	}); a != 0 {
		t.Fatalf("allocates %v per run, want 0", a)
	}
}

func BenchmarkIsKeyframe(b *testing.B) {
	for _, in := range []struct {
		name string
		c    Codec
		p    []byte
	}{
		{"VP8", CodecVP8, vp8Delta}, {"VP9", CodecVP9, vp9DeltaFlex}, {"H264-STAP-A", CodecH264, h264STAPSEIPPS}, {"AV1", CodecAV1, av1Frame},
	} {
		b.Run(in.name, func(b *testing.B) {
			for b.Loop() {
				IsKeyframe(in.c, in.p)
			}
		})
	}
}
