package audiostream

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"testing"

	"github.com/pion/rtp"
)

func rtpBytes(t testing.TB, h rtp.Header, payload []byte, padding byte) []byte {
	t.Helper()
	h.Version = 2
	p := rtp.Packet{Header: h, Payload: payload}
	if padding > 0 {
		p.Header.Padding = true
		p.PaddingSize = padding
	}
	b, err := p.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestParseRTP(t *testing.T) {
	opus := []byte{0x78, 0x01, 0x02, 0x03}
	withExt := rtp.Header{SequenceNumber: 7, SSRC: 42, PayloadType: 111}
	if err := withExt.SetExtension(1, []byte{0x30}); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name    string
		b       []byte
		wantErr error
		seq     uint16
		ssrc    uint32
		payload []byte
	}{
		{name: "plain", b: rtpBytes(t, rtp.Header{SequenceNumber: 1, SSRC: 42, PayloadType: 111}, opus, 0), seq: 1, ssrc: 42, payload: opus},
		{name: "CSRCs", b: rtpBytes(t, rtp.Header{SequenceNumber: 2, SSRC: 42, CSRC: []uint32{1, 2}}, opus, 0), seq: 2, ssrc: 42, payload: opus},
		{name: "one-byte extension", b: rtpBytes(t, withExt, opus, 0), seq: 7, ssrc: 42, payload: opus},
		{name: "padding", b: rtpBytes(t, rtp.Header{SequenceNumber: 3, SSRC: 42}, opus, 4), seq: 3, ssrc: 42, payload: opus},
		{name: "header only", b: rtpBytes(t, rtp.Header{SequenceNumber: 4, SSRC: 42}, nil, 0), seq: 4, ssrc: 42, payload: []byte{}},
		{name: "short", b: []byte{0x80, 111, 0, 1}, wantErr: errShortRTP},
		{name: "version 1", b: append([]byte{0x40}, make([]byte, 15)...), wantErr: errRTPVersion},
		{name: "CSRC count beyond the end", b: append([]byte{0x8f}, make([]byte, 15)...), wantErr: errShortRTP},
		{name: "extension beyond the end", b: append([]byte{0x90}, make([]byte, 13)...), wantErr: errShortRTP},
		{name: "padding 0", b: append([]byte{0xa0}, make([]byte, 15)...), wantErr: errPadding},
		{name: "padding beyond the payload", b: append(append([]byte{0xa0}, make([]byte, 14)...), 9), wantErr: errPadding},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p, err := parseRTP(tc.b)
			if !errors.Is(err, tc.wantErr) {
				t.Fatalf("parseRTP = %v, want %v", err, tc.wantErr)
			}
			if err != nil {
				return
			}
			if p.seq != tc.seq || p.ssrc != tc.ssrc || !bytes.Equal(p.payload, tc.payload) {
				t.Fatalf("parseRTP = seq %d ssrc %d payload %x; want %d %d %x", p.seq, p.ssrc, p.payload, tc.seq, tc.ssrc, tc.payload)
			}
		})
	}
}

func TestSeqExtender(t *testing.T) {
	for _, tc := range []struct {
		name string
		in   []uint16
		want []uint64
	}{
		{"in order", []uint16{10, 11, 12}, []uint64{10, 11, 12}},
		{"wrap", []uint16{65534, 65535, 0, 1}, []uint64{65534, 65535, 65536, 65537}},
		{"late packet across the wrap", []uint16{65535, 1, 65534, 2}, []uint64{65535, 65537, 65534, 65538}},
		{"reordered", []uint16{5, 7, 6, 8}, []uint64{5, 7, 6, 8}},
		{"duplicate", []uint16{5, 5}, []uint64{5, 5}},
		{"two wraps", []uint16{65000, 10000, 40000, 65000, 100}, []uint64{65000, 75536, 105536, 130536, 131172}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var e seqExtender
			for i, s := range tc.in {
				if got := e.extend(s); got != tc.want[i] {
					t.Fatalf("packet %d (seq %d): %d, want %d", i, s, got, tc.want[i])
				}
			}
		})
	}
}

func TestAppendFrame(t *testing.T) {
	got := appendFrame(nil, true, 1667274760504000, 65536, []byte{0xfc, 0xff, 0xfe})
	want := []byte{0x00, 0x05, 0xec, 0x60, 0xa7, 0xd7, 0xc2, 0xc0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 3, 0xfc, 0xff, 0xfe}
	if binary.BigEndian.Uint64(want[:8]) != 1667274760504000 {
		t.Fatal("the expected bytes are wrong")
	}
	if !bytes.Equal(got, want) || len(got) != HeaderSize+3 {
		t.Fatalf("with header: %x\nwant         %x", got, want)
	}
	if got := appendFrame(nil, false, 1, 2, []byte{0xfc, 0xff, 0xfe}); !bytes.Equal(got, []byte{0xfc, 0xff, 0xfe}) {
		t.Fatalf("bare: %x", got)
	}
}

func TestPacketQueue(t *testing.T) {
	var sent []int
	q := newPacketQueue(2, func(n int) { sent = append(sent, n) })
	if !q.put(false, 0, 0, []byte("abc")) || !q.put(false, 0, 0, []byte("defgh")) {
		t.Fatal("put refused with free slots")
	}
	if q.put(false, 0, 0, []byte("x")) {
		t.Fatal("put accepted a third frame in a two-slot queue")
	}
	// One frame per Read, split when p is short.
	p := make([]byte, 4)
	var reads []string
	for range 3 {
		n, err := q.Read(p)
		if err != nil {
			t.Fatal(err)
		}
		reads = append(reads, string(p[:n]))
	}
	if got := reads; got[0] != "abc" || got[1] != "defg" || got[2] != "h" {
		t.Fatalf("reads %q", got)
	}
	if len(sent) != 2 || sent[0] != 3 || sent[1] != 5 {
		t.Fatalf("sent callbacks %v", sent)
	}
	// The slots came back.
	if !q.put(false, 0, 0, []byte("ij")) {
		t.Fatal("slot not returned")
	}
	// close: what is queued is still read, then EOF.
	q.close()
	if n, err := q.Read(p); err != nil || string(p[:n]) != "ij" {
		t.Fatalf("after close: %q %v", p[:n], err)
	}
	if _, err := q.Read(p); err != io.EOF {
		t.Fatalf("drained and closed: %v", err)
	}
	// Close (the transport's) ends at once, even with frames queued.
	q2 := newPacketQueue(1, nil)
	q2.put(true, 1, 2, []byte("z"))
	_ = q2.Close()
	_ = q2.Close()
	if n, err := q2.Read(p); n != 0 || err != io.EOF {
		t.Fatalf("Read after Close = %d, %v", n, err)
	}
}

// The per-packet path, from the datagram to the bytes the transport
// reads, does not allocate.
func TestHandleAllocs(t *testing.T) {
	s := &Streams{cfg: Config{Header: true, Now: fixedNow}}
	st := &stream{s: s, ssrc: 42, q: newPacketQueue(4, func(int) {})}
	pkt := rtpBytes(t, rtp.Header{SequenceNumber: 9, SSRC: 42, PayloadType: 111}, make([]byte, 80), 0)
	buf := make([]byte, 2048)
	allocs := testing.AllocsPerRun(1000, func() {
		st.handle(pkt)
		if n, err := st.q.Read(buf); err != nil || n != HeaderSize+80 {
			t.Fatalf("read %d %v", n, err)
		}
	})
	if allocs != 0 {
		t.Fatalf("%v allocations per packet", allocs)
	}
	if got := s.c.packetsDrop.Load(); got != 0 {
		t.Fatalf("%d drops", got)
	}
}

// FuzzParseRTP: any datagram parses or is refused; a parsed payload lies
// within the datagram.
func FuzzParseRTP(f *testing.F) {
	f.Add(rtpBytes(f, rtp.Header{SequenceNumber: 1, SSRC: 42, PayloadType: 111}, []byte{1, 2, 3}, 0))
	f.Add(rtpBytes(f, rtp.Header{SequenceNumber: 2, SSRC: 42, CSRC: []uint32{7}}, []byte{1}, 3))
	f.Add([]byte{0x90, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xbe, 0xde, 0xff, 0xff})
	f.Fuzz(func(t *testing.T, b []byte) {
		p, err := parseRTP(b)
		if err != nil {
			return
		}
		if len(p.payload) > len(b)-12 {
			t.Fatalf("payload of %d bytes from a %d-byte datagram", len(p.payload), len(b))
		}
		if len(p.payload) > 0 {
			// The payload aliases the datagram (no copy), after the
			// fixed header.
			off := cap(b) - cap(p.payload)
			if off < 12 || off+len(p.payload) > len(b) || &b[off] != &p.payload[0] {
				t.Fatalf("payload at offset %d (%d bytes) of a %d-byte datagram", off, len(p.payload), len(b))
			}
		}
	})
}
