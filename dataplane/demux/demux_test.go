package demux

import "testing"

func TestClassify(t *testing.T) {
	rtp := make([]byte, 12)
	rtp[0], rtp[1] = 0x80, 96
	rtcp := make([]byte, 8)
	rtcp[0], rtcp[1] = 0x81, 201
	stun := make([]byte, 20)
	stun[0], stun[1] = 0x00, 0x01
	dtls := []byte{22, 0xfe, 0xfd, 0, 0}
	tests := []struct {
		name string
		b    []byte
		want Class
	}{
		{"empty", nil, Unknown},
		{"stun binding request", stun, STUN},
		{"short stun", stun[:10], Unknown},
		{"dtls handshake", dtls, DTLS},
		{"rtp vp8", rtp, RTP},
		{"rtp marker pt 96", []byte{0x80, 0xe0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0}, RTP},
		{"rtcp rr", rtcp, RTCP},
		{"rtcp psfb", []byte{0x81, 206, 0, 2, 0, 0, 0, 1}, RTCP},
		{"short rtp", rtp[:6], Unknown},
		{"turn channel data", []byte{0x40, 0, 0, 4, 1, 2, 3, 4}, Unknown},
		{"garbage high", []byte{0xff, 1, 2}, Unknown},
	}
	for _, tt := range tests {
		if got := Classify(tt.b); got != tt.want {
			t.Errorf("%s: Classify = %v, want %v", tt.name, got, tt.want)
		}
	}
}

func FuzzClassify(f *testing.F) {
	f.Add([]byte{0x80, 96, 0, 1, 0, 0, 0, 0, 0, 0, 0, 1})
	f.Add([]byte{0, 1, 0, 0})
	f.Fuzz(func(t *testing.T, b []byte) {
		c := Classify(b)
		if c == RTP && len(b) < 12 {
			t.Fatalf("RTP with %d bytes", len(b))
		}
	})
}

// BenchmarkClassify prices the first decision on every datagram: a mix of
// SRTP, SRTCP, STUN and DTLS first bytes, as the media loop sees them.
func BenchmarkClassify(b *testing.B) {
	pkts := [][]byte{
		{0x90, 0x60, 0x00, 0x01, 0, 0, 0, 0, 0, 0, 0, 1},                                     // RTP, pt 96
		{0x80, 0xc9, 0x00, 0x07, 0, 0, 0, 1},                                                 // RTCP RR
		{0x00, 0x01, 0x00, 0x00, 0x21, 0x12, 0xa4, 0x42, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0}, // STUN binding request, header only
		{0x17, 0xfe, 0xfd, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0},                                     // DTLS application data
	}
	var counts [8]int
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		counts[Classify(pkts[i&3])&7]++
	}
	if counts[Unknown] != 0 {
		b.Fatalf("%d of the sample datagrams were not classified", counts[Unknown])
	}
}
