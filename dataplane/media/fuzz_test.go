package media

import (
	"bytes"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"testing"
)

var updateCorpus = flag.Bool("update", false, "rewrite the seed corpora under testdata/fuzz")

// rtpSeeds are well-formed and broken RTP packets.
func rtpSeeds() [][]byte {
	return [][]byte{
		hdr(0, false),
		append(hdr(2, false), 1, 2, 3),
		withExt(0xBEDE, 0x10, 0xaa, 0x00, 0x31, 0xb0, 0xb1),
		withExt(0x1000, 0x01, 0x00, 0x00, 0x05, 0x02, 7, 8),
		withExt(0xBEDE, 0xf0, 0x00, 0x10, 0xaa),
		withExt(0xBEDE, 0x10, 0xaa, 0x3f),
		hdr(0, true),
		{0x90, 0x60, 0, 1, 0, 0, 0, 1, 0, 0, 0, 1, 0xbe, 0xde, 0xff, 0xff},
	}
}

// writeCorpus stores seeds in Go's fuzz corpus format under
// testdata/fuzz/<name>, one file per seed, when -update is given.
func writeCorpus(t *testing.T, name string, seeds [][]any) {
	t.Helper()
	dir := filepath.Join("testdata", "fuzz", name)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	for i, s := range seeds {
		var b bytes.Buffer
		b.WriteString("go test fuzz v1\n")
		for _, v := range s {
			switch v := v.(type) {
			case []byte:
				fmt.Fprintf(&b, "[]byte(%q)\n", v)
			case byte:
				fmt.Fprintf(&b, "byte(%q)\n", v)
			default:
				t.Fatalf("unsupported corpus type %T", v)
			}
		}
		if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("seed-%02d", i)), b.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

func keyframeSeeds() [][]any {
	var s [][]any
	add := func(c Codec, ps ...[]byte) {
		for _, p := range ps {
			s = append(s, []any{byte(c), p})
		}
	}
	add(CodecVP8, vp8Key, vp8Delta, vp8KeyMiddle, vp8CutPicID)
	add(CodecVP9, vp9KeyNonFlex, vp9KeyFlex, vp9DeltaFlex, vp9KeySID1, vp9CutTL0)
	add(CodecH264, h264STAPSPSPPS, h264FUAIDRStart, h264FUBIDRStart, h264STAPOverrun)
	add(CodecH265, h265APWithVPS, h265FUIDRStart)
	add(CodecAV1, av1NewSequence, av1TDThenSeqHdr, av1LEBTooLong)
	return s
}

func TestUpdateFuzzCorpus(t *testing.T) {
	if !*updateCorpus {
		t.Skip("run with -update to rewrite testdata/fuzz")
	}
	var rtp, ext [][]any
	for i, p := range rtpSeeds() {
		rtp = append(rtp, []any{p})
		ext = append(ext, []any{p, byte(i % 16)})
	}
	writeCorpus(t, "FuzzRTPHeaderLen", rtp)
	writeCorpus(t, "FuzzFindExtension", ext)
	writeCorpus(t, "FuzzIsKeyframe", keyframeSeeds())
}

func FuzzRTPHeaderLen(f *testing.F) {
	for _, p := range rtpSeeds() {
		f.Add(p)
	}
	f.Fuzz(func(t *testing.T, pkt []byte) {
		n, ok := RTPHeaderLen(pkt)
		if !ok {
			if n != 0 {
				t.Fatalf("RTPHeaderLen failed but returned %d", n)
			}
			if _, ok := Payload(pkt); ok {
				t.Fatal("Payload accepted a packet RTPHeaderLen rejects")
			}
			return
		}
		if n < 12 || n > len(pkt) {
			t.Fatalf("RTPHeaderLen = %d for %d bytes", n, len(pkt))
		}
		pl, plOK := Payload(pkt)
		if plOK && (len(pl) > len(pkt)-n || (len(pl) > 0 && &pl[0] != &pkt[n])) {
			t.Fatal("Payload is not a sub-slice after the header")
		}
		if plOK {
			// RTX wrap and unwrap give back the packet without padding.
			rtx, ok := AppendRTX(nil, pkt, 0x5555, 1, 97)
			if !ok {
				t.Fatal("AppendRTX failed on a packet with a valid payload")
			}
			back, ok := UnwrapRTX(rtx, SSRC(pkt), PayloadType(pkt))
			want := append(bytes.Clone(pkt[:n]), pl...)
			want[0] &^= 0x20
			if !ok || !bytes.Equal(back, want) {
				t.Fatalf("RTX round trip = %x,%v, want %x", back, ok, want)
			}
		}
	})
}

func FuzzFindExtension(f *testing.F) {
	for i, p := range rtpSeeds() {
		f.Add(p, byte(i%16))
	}
	f.Fuzz(func(t *testing.T, pkt []byte, id byte) {
		off, n, ok := FindExtension(pkt, id)
		if ok {
			hl, _ := RTPHeaderLen(pkt)
			if off < 12 || n < 0 || off+n > hl {
				t.Fatalf("FindExtension(%d) = %d,%d outside the header (%d bytes)", id, off, n, hl)
			}
		}
		cp := bytes.Clone(pkt)
		cleared := ClearExtension(cp, id)
		if cleared != ok {
			t.Fatalf("ClearExtension = %v, FindExtension = %v", cleared, ok)
		}
		if len(cp) != len(pkt) {
			t.Fatal("ClearExtension changed the length")
		}
		if cleared {
			if _, _, again := FindExtension(cp, id); again {
				t.Fatalf("id %d still found after ClearExtension", id)
			}
			hl, _ := RTPHeaderLen(pkt)
			if !bytes.Equal(cp[:12], pkt[:12]) || !bytes.Equal(cp[hl:], pkt[hl:]) {
				t.Fatal("ClearExtension touched bytes outside the extension block")
			}
		}
	})
}

func FuzzIsKeyframe(f *testing.F) {
	for _, s := range keyframeSeeds() {
		f.Add(s[0].(byte), s[1].([]byte))
	}
	f.Fuzz(func(t *testing.T, c byte, payload []byte) {
		codec := Codec(c % 8)
		key := IsKeyframe(codec, payload)
		switch codec {
		case CodecVP8:
			checkVP8AgainstPion(t, payload)
		case CodecVP9:
			checkVP9AgainstPion(t, payload)
			var d VP9Descriptor
			if key && (!ParseVP9(payload, &d) || !d.Begin || d.InterPicture) {
				t.Fatalf("VP9 key frame without B=1,P=0: %+v", d)
			}
		}
	})
}
