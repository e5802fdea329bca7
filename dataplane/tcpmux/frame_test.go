package tcpmux

import (
	"bytes"
	"encoding/binary"
	"errors"
	"testing"

	"github.com/pion/stun/v4"
)

// bindingRequest builds a Binding request as Chrome sends it over ICE-TCP:
// USERNAME, PRIORITY-like attribute, MESSAGE-INTEGRITY and FINGERPRINT.
func bindingRequest(t testing.TB, user string) []byte {
	t.Helper()
	m, err := stun.Build(stun.TransactionID, stun.BindingRequest,
		stun.NewUsername(user), stun.NewShortTermIntegrity("0123456789abcdefghijklmn"), stun.Fingerprint)
	if err != nil {
		t.Fatal(err)
	}
	return append([]byte(nil), m.Raw...)
}

// rtpPacket builds an RTP-like packet of n bytes (n ≥ 12) whose sequence
// number is seq and whose payload bytes are derived from seq.
func rtpPacket(seq uint16, n int) []byte {
	p := make([]byte, n)
	p[0], p[1] = 0x80, 96
	binary.BigEndian.PutUint16(p[2:], seq)
	binary.BigEndian.PutUint32(p[4:], uint32(seq)*3000)
	binary.BigEndian.PutUint32(p[8:], 0x11223344)
	for i := 12; i < n; i++ {
		p[i] = byte(int(seq) + i)
	}
	return p
}

func frames(t testing.TB, pkts ...[]byte) []byte {
	t.Helper()
	var b []byte
	for _, p := range pkts {
		var err error
		if b, err = AppendFrame(b, p); err != nil {
			t.Fatal(err)
		}
	}
	return b
}

// drain feeds chunks to d in order and returns the payloads (copied).
func drain(d *Deframer, chunks ...[]byte) ([][]byte, error) {
	var out [][]byte
	for _, data := range chunks {
		for len(data) > 0 {
			pkt, rest, err := d.Next(data)
			if err != nil {
				return out, err
			}
			data = rest
			if pkt != nil {
				out = append(out, append([]byte(nil), pkt...))
			}
		}
	}
	return out, nil
}

func TestDeframerSplitAtEveryByte(t *testing.T) {
	pkts := [][]byte{
		bindingRequest(t, "srvufrag:cliufrag"),
		rtpPacket(1, 1200),
		{0x81, 0xc9, 0, 1, 0, 0, 0, 1}, // RTCP-like, 8 bytes
		{22, 0xfe, 0xfd},               // DTLS-like, 3 bytes
		{7},                            // 1-byte payload
		rtpPacket(2, 12),
	}
	stream := frames(t, pkts...)
	for cut := 0; cut <= len(stream); cut++ {
		got, err := drain(NewDeframer(DefaultMaxFrame), stream[:cut], stream[cut:])
		if err != nil {
			t.Fatalf("cut %d: %v", cut, err)
		}
		if len(got) != len(pkts) {
			t.Fatalf("cut %d: %d packets, want %d", cut, len(got), len(pkts))
		}
		for i := range pkts {
			if !bytes.Equal(got[i], pkts[i]) {
				t.Fatalf("cut %d: packet %d differs", cut, i)
			}
		}
	}
	// One byte per call, and three-way cuts around each header.
	chunks := make([][]byte, len(stream))
	for i := range stream {
		chunks[i] = stream[i : i+1]
	}
	d := NewDeframer(DefaultMaxFrame)
	got, err := drain(d, chunks...)
	if err != nil || len(got) != len(pkts) || d.Buffered() != 0 {
		t.Fatalf("byte by byte: %d packets, err %v, %d bytes left", len(got), err, d.Buffered())
	}
	for a := 0; a < len(stream); a += 7 {
		for b := a; b <= len(stream); b += 3 {
			got, err := drain(NewDeframer(DefaultMaxFrame), stream[:a], stream[a:b], stream[b:])
			if err != nil || len(got) != len(pkts) {
				t.Fatalf("cuts %d,%d: %d packets, err %v", a, b, len(got), err)
			}
		}
	}
}

func TestDeframerPartialIsKept(t *testing.T) {
	stream := frames(t, rtpPacket(9, 100))
	d := NewDeframer(DefaultMaxFrame)
	for _, n := range []int{1, 2, 50} {
		d.Reset(DefaultMaxFrame)
		pkt, rest, err := d.Next(stream[:n])
		if pkt != nil || rest != nil || err != nil || d.Buffered() != n {
			t.Fatalf("prefix %d: pkt %v rest %v err %v buffered %d", n, pkt != nil, rest, err, d.Buffered())
		}
	}
}

func TestDeframerBadLength(t *testing.T) {
	tests := []struct {
		name   string
		max    int
		chunks [][]byte
		good   int // payloads before the error
	}{
		{"zero", 100, [][]byte{{0, 0, 1}}, 0},
		{"zero after a frame", 100, [][]byte{{0, 1, 9, 0, 0}}, 1},
		{"zero split header", 100, [][]byte{{0}, {0}}, 0},
		{"oversize", 100, [][]byte{{0, 101}}, 0},
		{"oversize split header", 100, [][]byte{{0, 1, 9, 0}, {101, 1}}, 1},
		{"max 65535 oversize", 1000, [][]byte{{0xff, 0xff}}, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := drain(NewDeframer(tt.max), tt.chunks...)
			if !errors.Is(err, ErrFrameSize) {
				t.Fatalf("err = %v, want ErrFrameSize", err)
			}
			if len(got) != tt.good {
				t.Fatalf("%d payloads before the error, want %d", len(got), tt.good)
			}
		})
	}
	// Exactly max is fine.
	got, err := drain(NewDeframer(100), frames(t, make([]byte, 100)))
	if err != nil || len(got) != 1 {
		t.Fatalf("max-size frame: %d payloads, err %v", len(got), err)
	}
}

func TestAppendFrame(t *testing.T) {
	b, err := AppendFrame([]byte{0xaa}, []byte{1, 2, 3})
	if err != nil || !bytes.Equal(b, []byte{0xaa, 0, 3, 1, 2, 3}) {
		t.Fatalf("got %x, %v", b, err)
	}
	for _, n := range []int{0, MaxFrameLimit + 1} {
		b, err := AppendFrame([]byte{0xaa}, make([]byte, n))
		if !errors.Is(err, ErrFrameSize) || len(b) != 1 {
			t.Fatalf("len %d: got %d bytes, err %v", n, len(b), err)
		}
	}
}

func TestIsBindingRequest(t *testing.T) {
	good := bindingRequest(t, "a:b")
	resp, err := stun.Build(stun.TransactionID, stun.BindingSuccess, stun.Fingerprint)
	if err != nil {
		t.Fatal(err)
	}
	mut := func(f func(b []byte) []byte) []byte { return f(append([]byte(nil), good...)) }
	tests := []struct {
		name string
		pkt  []byte
		want bool
	}{
		{"binding request", good, true},
		{"binding success", resp.Raw, false},
		{"rtp", rtpPacket(1, 100), false},
		{"short", good[:19], false},
		{"truncated", good[:len(good)-4], false},
		{"bad cookie", mut(func(b []byte) []byte { b[4] ^= 1; return b }), false},
		{"length not multiple of 4", mut(func(b []byte) []byte { binary.BigEndian.PutUint16(b[2:], 2); return b[:22] }), false},
	}
	for _, tt := range tests {
		if got := isBindingRequest(tt.pkt); got != tt.want {
			t.Errorf("%s: got %v, want %v", tt.name, got, tt.want)
		}
	}
}

func TestDeframerAllocs(t *testing.T) {
	stream := frames(t, rtpPacket(1, 1200), rtpPacket(2, 1200), rtpPacket(3, 80))
	d := NewDeframer(DefaultMaxFrame)
	run := func() {
		// Whole frames, then the same stream cut inside a header and
		// inside a payload, which goes through the partial buffer.
		for _, cuts := range [][2]int{{len(stream), len(stream)}, {1203, 1205}, {1, 700}} {
			for _, c := range [][]byte{stream[:cuts[0]], stream[cuts[0]:cuts[1]], stream[cuts[1]:]} {
				for len(c) > 0 {
					_, rest, err := d.Next(c)
					if err != nil {
						panic(err)
					}
					c = rest
				}
			}
		}
	}
	run() // the partial buffer is allocated once per Deframer
	if n := testing.AllocsPerRun(100, run); n != 0 {
		t.Fatalf("Deframer.Next: %v allocs per run, want 0", n)
	}
	pkt := rtpPacket(1, 1200)
	buf := make([]byte, 0, 4096)
	if n := testing.AllocsPerRun(100, func() { buf = appendFrame(buf[:0], pkt) }); n != 0 {
		t.Fatalf("appendFrame: %v allocs per run, want 0", n)
	}
}
