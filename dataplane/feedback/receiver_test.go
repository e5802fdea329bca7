package feedback

import (
	"testing"

	"github.com/pion/rtcp"
)

const ms = int64(1_000_000)

func TestReceiverStatsLossAcrossWrap(t *testing.T) {
	s := NewReceiverStats(0xabc, 8000)
	for i, seq := range []uint16{65533, 65534, 65535, 1, 2} { // 0 is missing
		s.OnPacket(seq, uint32(i*160), int64(i)*20*ms)
	}
	r := s.Report(100 * ms)
	// expected = 65538 - 65533 + 1 = 6, received 5: 1 lost, 256*1/6 = 42.
	want := rtcp.ReceptionReport{SSRC: 0xabc, FractionLost: 42, TotalLost: 1, LastSequenceNumber: 0x0001_0002}
	if r != want {
		t.Fatalf("Report = %+v, want %+v", r, want)
	}
	// 0 arrives late, then 3: expected 7, received 7; in this interval 1
	// expected, 2 received: nothing lost.
	s.OnPacket(0, 4*160, 101*ms)
	s.OnPacket(3, 5*160, 120*ms)
	r = s.Report(200 * ms)
	if r.FractionLost != 0 || r.TotalLost != 0 || r.LastSequenceNumber != 0x0001_0003 {
		t.Fatalf("after the late packet: %+v", r)
	}
	// Two duplicates of 3: 9 received for 7 expected, cumulative loss -2,
	// written as 24-bit two's complement.
	s.OnPacket(3, 5*160, 121*ms)
	s.OnPacket(3, 5*160, 122*ms)
	r = s.Report(300 * ms)
	if r.TotalLost != 0xfffffe || r.FractionLost != 0 {
		t.Fatalf("with duplicates: %+v", r)
	}
	// pion decodes the 24-bit field unchanged.
	pkts, err := rtcp.Unmarshal(AppendReceiverReport(nil, 1, []rtcp.ReceptionReport{r}))
	if err != nil || pkts[0].(*rtcp.ReceiverReport).Reports[0] != r {
		t.Fatalf("round trip through pion: %v %+v", err, pkts)
	}
}

func TestReceiverStatsFractionPerInterval(t *testing.T) {
	s := NewReceiverStats(1, 90000)
	seq := uint16(100)
	for i := 0; i < 10; i++ { // 10 sent, every 5th lost
		if i%5 != 4 {
			s.OnPacket(seq, 0, 0)
		}
		seq++
	}
	s.OnPacket(seq, 0, 0) // 110 closes the gap at 109
	r := s.Report(0)
	// 11 expected, 9 received: 2 lost, 512/11 = 46.
	if r.FractionLost != 46 || r.TotalLost != 2 {
		t.Fatalf("first interval: %+v", r)
	}
	for i := 0; i < 4; i++ { // 111..114, none lost
		seq++
		s.OnPacket(seq, 0, 0)
	}
	if r := s.Report(0); r.FractionLost != 0 || r.TotalLost != 2 || r.LastSequenceNumber != 114 {
		t.Fatalf("second interval: %+v", r)
	}
	if r := s.Report(0); r.FractionLost != 0 {
		t.Fatalf("empty interval: %+v", r)
	}
}

func TestReceiverStatsJitter(t *testing.T) {
	// RFC 3550 A.8 with an 8 kHz clock (1 unit = 125 µs). Transit times in
	// units: 0, 0, 40 (5 ms late), 0. J×16 goes 0 → 0 → 40 → 40+40-3 = 77;
	// reported J = 77>>4 = 4.
	s := NewReceiverStats(1, 8000)
	steps := []struct {
		seq uint16
		ts  uint32
		at  int64
	}{{1, 0, 0}, {2, 160, 20 * ms}, {3, 320, 45 * ms}, {4, 480, 60 * ms}}
	const base = int64(7e15) // an arbitrary monotonic origin
	for _, st := range steps {
		s.OnPacket(st.seq, st.ts, base+st.at)
	}
	if r := s.Report(base + 60*ms); r.Jitter != 4 {
		t.Fatalf("Jitter = %d, want 4", r.Jitter)
	}
	// More packets of the same frame (same timestamp) do not update jitter,
	// but become the previous packet: at 62 ms its transit is 496-480 = 16.
	s.OnPacket(5, 480, base+61*ms)
	s.OnPacket(6, 480, base+62*ms)
	if r := s.Report(base + 62*ms); r.Jitter != 4 {
		t.Fatalf("Jitter after same-timestamp packets = %d, want 4", r.Jitter)
	}
	// Next frame on time (transit 0): |d| = 16, J×16 = 77+16-5 = 88 → 5.
	s.OnPacket(7, 640, base+80*ms)
	if r := s.Report(base + 80*ms); r.Jitter != 5 {
		t.Fatalf("Jitter = %d, want 5", r.Jitter)
	}
	// A reordered (old) packet with a wild timestamp changes nothing.
	s.OnPacket(4, 99999, base+81*ms)
	if r := s.Report(base + 81*ms); r.Jitter != 5 {
		t.Fatalf("Jitter after a reordered packet = %d, want 5", r.Jitter)
	}
}

func TestReceiverStatsLSRAndDLSR(t *testing.T) {
	s := NewReceiverStats(1, 90000)
	s.OnPacket(1, 0, 0)
	if r := s.Report(0); r.LastSenderReport != 0 || r.Delay != 0 {
		t.Fatalf("before any SR: %+v", r)
	}
	s.OnSenderReport(0x83aa7e80_80000000, 1000*ms)
	r := s.Report(2500 * ms)
	if r.LastSenderReport != 0x7e808000 {
		t.Fatalf("LSR = %#x, want 0x7e808000", r.LastSenderReport)
	}
	if r.Delay != 98304 { // 1.5 s × 65536
		t.Fatalf("DLSR = %d, want 98304", r.Delay)
	}
	if d := dlsr(1 << 62); d != 0xffffffff {
		t.Fatalf("dlsr clamps to %#x", d)
	}
}

func TestReceiverStatsSequenceRestart(t *testing.T) {
	s := NewReceiverStats(1, 90000)
	for seq := uint16(100); seq <= 105; seq++ {
		s.OnPacket(seq, 0, 0)
	}
	// One stray far packet is not counted…
	s.OnPacket(40000, 0, 0)
	s.OnPacket(106, 0, 0)
	if r := s.Report(0); r.LastSequenceNumber != 106 || r.TotalLost != 0 || s.Received() != 7 {
		t.Fatalf("after a stray packet: %+v received=%d", r, s.Received())
	}
	// …but two in sequence mean the sender restarted: statistics start over
	// from the second one.
	s.OnPacket(20000, 0, 0)
	s.OnPacket(20001, 0, 0)
	s.OnPacket(20002, 0, 0)
	if r := s.Report(0); r.LastSequenceNumber != 20002 || r.TotalLost != 0 || s.Received() != 2 {
		t.Fatalf("after a restart: %+v received=%d", r, s.Received())
	}
}

func TestReceiverStatsZeroAlloc(t *testing.T) {
	s := NewReceiverStats(1, 90000)
	var seq uint16
	var now int64
	if a := testing.AllocsPerRun(1000, func() {
		s.OnPacket(seq, uint32(seq)*3000, now)
		s.OnSenderReport(uint64(now), now)
		_ = s.Report(now)
		seq += 2
		now += 33 * ms
	}); a != 0 {
		t.Fatalf("allocates %v per run, want 0", a)
	}
}

func BenchmarkReceiverStatsOnPacket(b *testing.B) {
	s := NewReceiverStats(1, 90000)
	var seq uint16
	var now int64
	for b.Loop() {
		s.OnPacket(seq, uint32(seq)*3000, now)
		seq++
		now += ms
	}
}
