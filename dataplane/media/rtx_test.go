package media

import (
	"bytes"
	"testing"

	"github.com/pion/rtp"
)

func TestRTXRoundTrip(t *testing.T) {
	orig := rtp.Packet{
		Header:  rtp.Header{Version: 2, Marker: true, PayloadType: 96, SequenceNumber: 65535, Timestamp: 0xabcdef01, SSRC: 0x1111, CSRC: []uint32{7}},
		Payload: []byte("frame data"),
	}
	if err := orig.Header.SetExtension(4, []byte{0x12, 0x34}); err != nil {
		t.Fatal(err)
	}
	raw, err := orig.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	padded := append(bytes.Clone(raw), 0, 0, 3)
	padded[0] |= 0x20

	rtx, ok := AppendRTX(make([]byte, 0, 1500), padded, 0x2222, 9, 97)
	if !ok {
		t.Fatal("AppendRTX failed")
	}
	var p rtp.Packet
	if err := p.Unmarshal(rtx); err != nil {
		t.Fatal(err)
	}
	if p.SSRC != 0x2222 || p.SequenceNumber != 9 || p.PayloadType != 97 || !p.Marker || p.Timestamp != 0xabcdef01 || p.Padding {
		t.Fatalf("RTX header %+v", p.Header)
	}
	if !bytes.Equal(p.Payload, append([]byte{0xff, 0xff}, "frame data"...)) {
		t.Fatalf("RTX payload %q", p.Payload)
	}
	if !bytes.Equal(p.GetExtension(4), []byte{0x12, 0x34}) || len(p.CSRC) != 1 {
		t.Fatal("RTX lost the CSRC or extensions")
	}

	back, ok := UnwrapRTX(rtx, 0x1111, 96)
	if !ok || !bytes.Equal(back, raw) {
		t.Fatalf("UnwrapRTX = %x,%v\nwant %x", back, ok, raw)
	}
}

func TestUnwrapRTXRejects(t *testing.T) {
	probe := append(hdr(0, false), 0, 0, 0, 4) // padding only
	probe[0] |= 0x20
	if _, ok := UnwrapRTX(probe, 1, 96); ok {
		t.Fatal("padding-only probe unwrapped")
	}
	if _, ok := UnwrapRTX(append(hdr(0, false), 0x01), 1, 96); ok {
		t.Fatal("1-byte payload unwrapped")
	}
	if _, ok := AppendRTX(nil, []byte{0x80}, 1, 2, 3); ok {
		t.Fatal("AppendRTX accepted a malformed packet")
	}
}

func TestRTXZeroAlloc(t *testing.T) {
	src := append(hdr(1, false), make([]byte, 1000)...)
	buf := make([]byte, 0, 1500)
	if a := testing.AllocsPerRun(1000, func() {
		b, _ := AppendRTX(buf[:0], src, 2, 3, 97)
		UnwrapRTX(b, 1, 96)
	}); a != 0 {
		t.Fatalf("allocates %v per run, want 0", a)
	}
}
