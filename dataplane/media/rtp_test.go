package media

import (
	"bytes"
	"testing"

	"github.com/pion/rtp"
)

// hdr builds a fixed RTP header: V=2, the given CSRC count and X flag, PT 96,
// seq 0x1234, timestamp 0x01020304, SSRC 0xdeadbeef.
func hdr(cc int, x bool) []byte {
	b := []byte{0x80 | byte(cc), 96, 0x12, 0x34, 1, 2, 3, 4, 0xde, 0xad, 0xbe, 0xef}
	if x {
		b[0] |= 0x10
	}
	for i := 0; i < cc; i++ {
		b = append(b, 0, 0, 0, byte(i+1))
	}
	return b
}

func TestRTPHeaderLen(t *testing.T) {
	oneByteExt := append(hdr(0, true), 0xbe, 0xde, 0x00, 0x01, 0x10, 0xaa, 0x00, 0x00)
	for _, tc := range []struct {
		name string
		pkt  []byte
		want int
		ok   bool
	}{
		{"empty", nil, 0, false},
		{"11 bytes", hdr(0, false)[:11], 0, false},
		{"fixed only", hdr(0, false), 12, true},
		{"fixed plus payload", append(hdr(0, false), 1, 2, 3), 12, true},
		{"version 1", append([]byte{0x40}, hdr(0, false)[1:]...), 0, false},
		{"version 0 (STUN-like)", append([]byte{0x00}, hdr(0, false)[1:]...), 0, false},
		{"two CSRCs", hdr(2, false), 20, true},
		{"CSRC count beyond data", hdr(2, false)[:19], 0, false},
		{"extension block", oneByteExt, 20, true},
		{"extension word missing", hdr(0, true), 0, false},
		{"extension length beyond data", oneByteExt[:19], 0, false},
		{"empty extension block", append(hdr(1, true), 0xbe, 0xde, 0, 0), 20, true},
		{"max CSRC + extension", append(hdr(15, true), 0x10, 0x00, 0, 1, 1, 2, 3, 4, 9), 12 + 60 + 4 + 4, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, ok := RTPHeaderLen(tc.pkt)
			if got != tc.want || ok != tc.ok {
				t.Fatalf("RTPHeaderLen = %d,%v, want %d,%v", got, ok, tc.want, tc.ok)
			}
			if ok { // pion must agree on well-formed packets
				var h rtp.Header
				n, err := h.Unmarshal(tc.pkt)
				if err != nil || n != got {
					t.Fatalf("pion Header.Unmarshal = %d,%v, want %d", n, err, got)
				}
			}
		})
	}
}

func TestPayloadAndPadding(t *testing.T) {
	p := append(hdr(0, false), 'a', 'b', 'c')
	if pl, ok := Payload(p); !ok || string(pl) != "abc" {
		t.Fatalf("Payload = %q,%v", pl, ok)
	}
	padded := append(hdr(0, false), 'a', 'b', 0, 0, 3)
	padded[0] |= 0x20
	if pl, ok := Payload(padded); !ok || string(pl) != "ab" {
		t.Fatalf("padded Payload = %q,%v, want \"ab\"", pl, ok)
	}
	for _, tc := range []struct {
		name string
		tail []byte
	}{
		{"padding count zero", []byte{'a', 0}},
		{"padding longer than payload", []byte{'a', 3}},
		{"no byte for the count", nil},
	} {
		bad := append(hdr(0, false), tc.tail...)
		bad[0] |= 0x20
		if _, ok := Payload(bad); ok {
			t.Errorf("%s: Payload accepted %x", tc.name, bad)
		}
	}
	allPad := append(hdr(0, false), 0, 2)
	allPad[0] |= 0x20
	if pl, ok := Payload(allPad); !ok || len(pl) != 0 {
		t.Fatalf("all-padding Payload = %x,%v, want empty,true", pl, ok)
	}
}

func TestFieldAccessors(t *testing.T) {
	p := hdr(1, false)
	if Seq(p) != 0x1234 || Timestamp(p) != 0x01020304 || SSRC(p) != 0xdeadbeef || PayloadType(p) != 96 || Marker(p) {
		t.Fatalf("getters read wrong values from %x", p)
	}
	SetSeq(p, 65535)
	SetTimestamp(p, 0xfffffff0)
	SetSSRC(p, 42)
	SetMarker(p, true)
	SetPayloadType(p, 111)
	var h rtp.Header
	if _, err := h.Unmarshal(p); err != nil {
		t.Fatal(err)
	}
	if h.SequenceNumber != 65535 || h.Timestamp != 0xfffffff0 || h.SSRC != 42 || !h.Marker || h.PayloadType != 111 {
		t.Fatalf("pion reads %+v after setters", h)
	}
	if len(h.CSRC) != 1 || h.CSRC[0] != 1 {
		t.Fatalf("setters damaged the CSRC list: %v", h.CSRC)
	}
	SetPayloadType(p, 0xff) // only 7 bits are written
	if PayloadType(p) != 0x7f || !Marker(p) {
		t.Fatalf("SetPayloadType(0xff): pt=%d marker=%v", PayloadType(p), Marker(p))
	}
	SetMarker(p, false)
	if Marker(p) || PayloadType(p) != 0x7f {
		t.Fatal("SetMarker(false) changed the payload type or kept the bit")
	}
}

func TestAccessorsZeroAlloc(t *testing.T) {
	p := append(hdr(2, true), 0xbe, 0xde, 0x00, 0x02, 0x10, 0xaa, 0x21, 1, 2, 0, 0, 0, 0xff, 0xfe)
	var sink int
	if a := testing.AllocsPerRun(1000, func() {
		n, _ := RTPHeaderLen(p)
		pl, _ := Payload(p)
		off, l, _ := FindExtension(p, 2)
		SetSeq(p, Seq(p)+1)
		SetSSRC(p, SSRC(p)^1)
		SetTimestamp(p, Timestamp(p)+3000)
		SetPayloadType(p, PayloadType(p))
		ClearExtension(p, 9)
		sink += n + len(pl) + off + l
	}); a != 0 {
		t.Fatalf("allocates %v per run, want 0", a)
	}
	_ = sink
}

func TestMarshalledByPionHasExpectedPayload(t *testing.T) {
	pkt := rtp.Packet{Header: rtp.Header{Version: 2, PayloadType: 96, SequenceNumber: 7, CSRC: []uint32{9}}, Payload: []byte("xyz")}
	if err := pkt.Header.SetExtension(3, []byte{1, 2}); err != nil {
		t.Fatal(err)
	}
	raw, err := pkt.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	pl, ok := Payload(raw)
	if !ok || !bytes.Equal(pl, []byte("xyz")) {
		t.Fatalf("Payload = %q,%v", pl, ok)
	}
}

func BenchmarkRTPHeaderLen(b *testing.B) {
	p := append(hdr(0, true), 0xbe, 0xde, 0x00, 0x02, 0x10, 0xaa, 0x31, 1, 2, 0, 0, 0)
	for b.Loop() {
		RTPHeaderLen(p)
	}
}
