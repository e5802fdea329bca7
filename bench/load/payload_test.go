package load

import (
	"bytes"
	"testing"

	"github.com/pion/rtp"
)

// packet marshals an RTP packet with pion, so the parser is checked against
// an independent writer.
func packet(t testing.TB, h rtp.Header, payload []byte, padding byte) []byte {
	t.Helper()
	h.Version = 2
	p := rtp.Packet{Header: h, Payload: payload}
	if padding > 0 {
		p.Header.Padding = true
		p.PaddingSize = padding
	}
	b, err := p.Marshal()
	if err != nil {
		t.Fatalf("marshal: %v", err)
	}
	return b
}

func stamped(size int, head []byte, s Stamp) []byte {
	b := make([]byte, size)
	fillPayload(b, head)
	putStamp(b, s)
	return b
}

func TestReadStamp(t *testing.T) {
	want := Stamp{Stream: 513, Seq: 40000, Measured: true, SentNs: 123456789012}
	video := stamped(1200, vp8KeyframeStart, want)
	ext := rtp.Header{Extension: true, ExtensionProfile: 0xBEDE}
	if err := ext.SetExtension(1, []byte{0xAA, 0xBB}); err != nil {
		t.Fatal(err)
	}
	if err := ext.SetExtension(3, []byte{1, 2, 3, 4, 5}); err != nil {
		t.Fatal(err)
	}
	badMagic := bytes.Clone(video)
	badMagic[len(badMagic)-stampLen+2] ^= 1
	badFlags := bytes.Clone(video)
	badFlags[len(badFlags)-stampLen+8] = 0x80
	padPast := append([]byte{0xA0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0}, video[len(video)-20:]...)
	padPast[len(padPast)-1] = 250 // padding longer than the packet

	for _, tc := range []struct {
		name string
		pkt  []byte
		ok   bool
		want Stamp
	}{
		{"plain", packet(t, rtp.Header{SequenceNumber: 7}, video, 0), true, want},
		{"not measured", packet(t, rtp.Header{}, stamped(100, opusStart, Stamp{Stream: 2, SentNs: 5}), 0), true, Stamp{Stream: 2, SentNs: 5}},
		{"csrcs", packet(t, rtp.Header{CSRC: []uint32{1, 2, 3}}, video, 0), true, want},
		{"extensions", packet(t, ext, video, 0), true, want},
		{"padding", packet(t, rtp.Header{}, video, 4), true, want},
		{"extensions and padding", packet(t, ext, video, 200), true, want},
		{"stamp only", packet(t, rtp.Header{}, stamped(stampLen, nil, want), 0), true, want},
		{"payload shorter than a stamp", packet(t, rtp.Header{}, video[len(video)-stampLen+1:], 0), false, Stamp{}},
		{"foreign payload", packet(t, rtp.Header{}, make([]byte, 200), 0), false, Stamp{}},
		{"bad magic", packet(t, rtp.Header{}, badMagic, 0), false, Stamp{}},
		{"unknown flags", packet(t, rtp.Header{}, badFlags, 0), false, Stamp{}},
		{"version 1", append([]byte{0x40}, packet(t, rtp.Header{}, video, 0)[1:]...), false, Stamp{}},
		{"short header", []byte{0x80, 0, 0}, false, Stamp{}},
		{"extension past the end", []byte{0x90, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xBE, 0xDE, 0xFF, 0xFF}, false, Stamp{}},
		{"padding past the start", padPast, false, Stamp{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, ok := ReadStamp(tc.pkt)
			if ok != tc.ok || got != tc.want {
				t.Errorf("ReadStamp = %+v, %v; want %+v, %v", got, ok, tc.want, tc.ok)
			}
		})
	}
}

func TestFillPayloadKeepsHeadAndSize(t *testing.T) {
	b := bytes.Repeat([]byte{0xEE}, 64)
	fillPayload(b, vp8InterframeStart)
	if !bytes.HasPrefix(b, vp8InterframeStart) || len(b) != 64 {
		t.Fatalf("payload %x does not start with the VP8 interframe head", b[:8])
	}
	if bytes.ContainsRune(b[len(vp8InterframeStart):len(b)-stampLen], 0xEE) {
		t.Errorf("old bytes left in the filler: %x", b)
	}
}

// The receivers call ReadStamp on every packet.
func TestReadStampAllocs(t *testing.T) {
	pkt := packet(t, rtp.Header{}, stamped(1200, vp8KeyframeStart, Stamp{Stream: 1, Measured: true, SentNs: 9}), 0)
	if n := testing.AllocsPerRun(100, func() { _, _ = ReadStamp(pkt) }); n != 0 {
		t.Errorf("ReadStamp allocates %v times per call, want 0", n)
	}
}

func FuzzReadStamp(f *testing.F) {
	f.Add(packet(f, rtp.Header{}, stamped(64, opusStart, Stamp{Stream: 1, Measured: true, SentNs: 1}), 0))
	f.Add([]byte{0x80})
	f.Fuzz(func(t *testing.T, pkt []byte) {
		s, ok := ReadStamp(pkt)
		if !ok {
			return
		}
		// A stamp that parses must be there, byte for byte, before any padding.
		var tail [stampLen]byte
		putStamp(tail[:], s)
		end := len(pkt)
		if pkt[0]&0x20 != 0 {
			end -= int(pkt[end-1])
		}
		if !bytes.Equal(pkt[end-stampLen:end], tail[:]) {
			t.Fatalf("ReadStamp(%x) = %+v, which does not re-encode to the bytes it came from", pkt, s)
		}
	})
}
