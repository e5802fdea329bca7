package media

import (
	"bytes"
	"testing"

	"github.com/pion/rtp"
)

// withExt returns an RTP packet whose extension block has the given profile
// and element bytes (padded to a multiple of 4), followed by payload "PL".
func withExt(profile uint16, elems ...byte) []byte {
	for len(elems)%4 != 0 {
		elems = append(elems, 0)
	}
	p := hdr(1, true)
	p = append(p, byte(profile>>8), byte(profile), byte(len(elems)/4>>8), byte(len(elems)/4))
	p = append(p, elems...)
	return append(p, 'P', 'L')
}

func TestFindExtension(t *testing.T) {
	const base = 12 + 4 + 4 // fixed + 1 CSRC + profile/length word
	oneByte := withExt(0xBEDE,
		0x10, 0xaa, // id 1, len 1
		0x00, 0x00, // padding between elements
		0x31, 0xb0, 0xb1, // id 3, len 2
		0x2f, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, // id 2, len 16
	)
	twoByte := withExt(0x1000,
		0x01, 0x00, // id 1, len 0
		0x00,             // padding
		0x05, 0x02, 7, 8, // id 5, len 2
		0xf0, 0x01, 9, // id 240, len 1
	)
	stopAt15 := withExt(0xBEDE, 0xf0, 0x00, 0x10, 0xaa) // reserved id 15 stops parsing
	truncated := withExt(0xBEDE, 0x10, 0xaa, 0x3f)      // id 3 claims 16 bytes, block has 1
	for _, tc := range []struct {
		name   string
		pkt    []byte
		id     uint8
		off, n int
		ok     bool
	}{
		{"one-byte first", oneByte, 1, base + 1, 1, true},
		{"one-byte after padding", oneByte, 3, base + 5, 2, true},
		{"one-byte 16-byte element", oneByte, 2, base + 8, 16, true},
		{"one-byte absent", oneByte, 4, 0, 0, false},
		{"one-byte id 0", oneByte, 0, 0, 0, false},
		{"one-byte id 15", oneByte, 15, 0, 0, false},
		{"two-byte zero length", twoByte, 1, base + 2, 0, true},
		{"two-byte after padding", twoByte, 5, base + 5, 2, true},
		{"two-byte id above 14", twoByte, 240, base + 9, 1, true},
		{"two-byte absent", twoByte, 2, 0, 0, false},
		{"id 15 stops walk", stopAt15, 1, 0, 0, false},
		{"element beyond block", truncated, 3, 0, 0, false},
		{"element before the bad one", truncated, 1, base + 1, 1, true},
		{"unknown profile", withExt(0x1234, 0x10, 0xaa), 1, 0, 0, false},
		{"no X bit", hdr(0, false), 1, 0, 0, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			off, n, ok := FindExtension(tc.pkt, tc.id)
			if off != tc.off || n != tc.n || ok != tc.ok {
				t.Fatalf("FindExtension(%d) = %d,%d,%v, want %d,%d,%v", tc.id, off, n, ok, tc.off, tc.n, tc.ok)
			}
		})
	}
}

// TestFindExtensionMatchesPion builds packets with pion/rtp and checks that
// FindExtension points at exactly the bytes pion's GetExtension returns.
func TestFindExtensionMatchesPion(t *testing.T) {
	for _, profile := range []uint16{0xBEDE, 0x1000} {
		h := rtp.Header{Version: 2, PayloadType: 96, SSRC: 1, CSRC: []uint32{5, 6}}
		ids := []uint8{1, 4, 9, 14}
		for i, id := range ids {
			data := bytes.Repeat([]byte{byte(0xa0 + i)}, i*3+1)
			if err := h.SetExtensionWithProfile(id, data, profile); err != nil {
				t.Fatal(err)
			}
		}
		raw, err := (&rtp.Packet{Header: h, Payload: []byte{1, 2, 3}}).Marshal()
		if err != nil {
			t.Fatal(err)
		}
		for _, id := range ids {
			off, n, ok := FindExtension(raw, id)
			want := h.GetExtension(id)
			if !ok || !bytes.Equal(raw[off:off+n], want) {
				t.Fatalf("profile %#x id %d: FindExtension = %x,%v, pion has %x", profile, id, raw[off:off+n], ok, want)
			}
		}
	}
}

func TestClearExtension(t *testing.T) {
	for _, profile := range []uint16{0xBEDE, 0x1000} {
		h := rtp.Header{Version: 2, PayloadType: 96, SSRC: 1}
		for _, e := range []struct {
			id   uint8
			data string
		}{{1, "mid0"}, {2, "r1"}, {4, "\x01\x02"}} {
			if err := h.SetExtensionWithProfile(e.id, []byte(e.data), profile); err != nil {
				t.Fatal(err)
			}
		}
		raw, err := (&rtp.Packet{Header: h, Payload: []byte("payload")}).Marshal()
		if err != nil {
			t.Fatal(err)
		}
		before := len(raw)
		if !ClearExtension(raw, 2) {
			t.Fatalf("profile %#x: ClearExtension(2) found nothing", profile)
		}
		if ClearExtension(raw, 2) {
			t.Fatalf("profile %#x: second ClearExtension(2) found it again", profile)
		}
		if len(raw) != before {
			t.Fatal("ClearExtension changed the packet length")
		}
		var p rtp.Packet
		if err := p.Unmarshal(raw); err != nil {
			t.Fatalf("profile %#x: pion cannot parse the cleared packet: %v", profile, err)
		}
		if got := p.GetExtension(2); got != nil {
			t.Fatalf("profile %#x: id 2 still present: %q", profile, got)
		}
		if string(p.GetExtension(1)) != "mid0" || string(p.GetExtension(4)) != "\x01\x02" || string(p.Payload) != "payload" {
			t.Fatalf("profile %#x: other elements or payload damaged: %+v", profile, p)
		}
	}
	if ClearExtension(hdr(0, false), 1) {
		t.Fatal("ClearExtension on a packet without extensions reported success")
	}
}

func BenchmarkFindExtension(b *testing.B) {
	h := rtp.Header{Version: 2, PayloadType: 96, SSRC: 1}
	_ = h.SetExtension(1, []byte("0"))
	_ = h.SetExtension(2, []byte("r0"))
	_ = h.SetExtension(4, []byte{1, 2})
	raw, _ := (&rtp.Packet{Header: h, Payload: make([]byte, 1000)}).Marshal()
	for b.Loop() {
		FindExtension(raw, 4)
	}
}
