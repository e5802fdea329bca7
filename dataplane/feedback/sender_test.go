package feedback

import (
	"reflect"
	"testing"
	"time"

	"github.com/pion/rtcp"
)

func TestNTP(t *testing.T) {
	for _, tc := range []struct {
		t    time.Time
		want uint64
	}{
		{time.Date(1970, 1, 1, 0, 0, 0, 500_000_000, time.UTC), 2_208_988_800<<32 | 0x8000_0000},
		{time.Date(1900, 1, 1, 0, 0, 1, 250_000_000, time.UTC), 1<<32 | 0x4000_0000},
		// 2036-02-07 06:28:16 UTC starts NTP era 1: the seconds wrap to 0.
		{time.Date(2036, 2, 7, 6, 28, 16, 0, time.UTC), 0},
	} {
		if got := NTP(tc.t); got != tc.want {
			t.Errorf("NTP(%v) = %#x, want %#x", tc.t, got, tc.want)
		}
	}
}

func TestSenderReportExtrapolated(t *testing.T) {
	var s SenderStats
	if b := s.AppendSenderReport(nil, 1, 0, 0, 90000); b != nil {
		t.Fatalf("SR before any packet: %x", b)
	}
	s.OnSent(1000, 100, 0)
	s.OnSent(4000, 200, 33*ms)
	wall := NTP(time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC))
	b := s.AppendSenderReport(nil, 0x5555, 1033*ms, wall, 90000)
	pkts, err := rtcp.Unmarshal(b)
	if err != nil {
		t.Fatal(err)
	}
	// 1 s after the last packet at 90 kHz: 4000 + 90000.
	want := &rtcp.SenderReport{SSRC: 0x5555, NTPTime: wall, RTPTime: 94000, PacketCount: 2, OctetCount: 300}
	if !reflect.DeepEqual(pkts[0], want) {
		t.Fatalf("SR = %#v\nwant %#v", pkts[0], want)
	}
	// Iter reads back what was written.
	it := NewIter(b)
	it.Next()
	if ssrc, ntp, ts, ok := it.SenderReport(); !ok || ssrc != 0x5555 || ntp != wall || ts != 94000 {
		t.Fatalf("Iter.SenderReport = %x %x %d %v", ssrc, ntp, ts, ok)
	}
}

func TestSenderReportFromReference(t *testing.T) {
	var s SenderStats
	s.OnSent(123, 10, 0)
	s.SetReference(1000<<32, 0xffff_ff00, 10*ms) // RTP wraps below
	b := s.AppendSenderReport(nil, 1, 510*ms, 0xdead, 48000)
	it := NewIter(b)
	it.Next()
	_, ntp, ts, ok := it.SenderReport()
	// 0.5 s later: NTP + 0x8000_0000, RTP + 24000 (mod 2^32).
	if !ok || ntp != 1000<<32|0x8000_0000 || ts != 24000-0x100 {
		t.Fatalf("SR = ntp %#x ts %d", ntp, ts)
	}
	// A reference from the future (clock skew between loops) moves back.
	b = s.AppendSenderReport(nil, 1, 0, 0, 48000)
	it = NewIter(b)
	it.Next()
	if _, ntp, ts, _ := it.SenderReport(); ntp != 1000<<32-ntpDuration(10*ms) || ts != 0xffff_ff00-480 {
		t.Fatalf("SR before reference = ntp %#x ts %d", ntp, ts)
	}
}

func TestSenderStatsZeroAlloc(t *testing.T) {
	var s SenderStats
	buf := make([]byte, 0, 64)
	var now int64
	if a := testing.AllocsPerRun(1000, func() {
		s.OnSent(uint32(now/ms*90), 1000, now)
		buf = s.AppendSenderReport(buf[:0], 1, now, uint64(now), 90000)
		now += ms
	}); a != 0 {
		t.Fatalf("allocates %v per run, want 0", a)
	}
}
