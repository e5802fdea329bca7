package dataplane

import (
	"runtime"
	"testing"
)

// TestMediaPlaneMemoryPerSubscriber: what the media plane itself keeps for
// one subscriber of a 1→N fan-out with audio and video — the transport, its
// loop state, TWCC, bandwidth estimate, both SRTP contexts and two
// downstream tracks — is at most 64 KiB. (The DTLS association and the
// signaling connection are not the plane's: `hayate load` reports the whole
// process's memory per client.)
func TestMediaPlaneMemoryPerSubscriber(t *testing.T) {
	const n, budget = 200, 64 << 10
	p, err := New(Config{ListenAddress: "127.0.0.1", Loops: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	pub, err := p.NewTransport(TransportConfig{ID: "pub", Shard: "mem"})
	if err != nil {
		t.Fatal(err)
	}
	for _, u := range []Upstream{
		{TrackID: "pub:0", Kind: KindAudio, Mid: "0", SSRC: 100, PayloadType: 111, ClockRate: 48000},
		{TrackID: "pub:1", Kind: KindVideo, Mid: "1", SSRC: 200, RTXSSRC: 201, PayloadType: 96, ClockRate: 90000},
	} {
		if err := pub.AddUpstream(u); err != nil {
			t.Fatal(err)
		}
	}
	heap := func() uint64 {
		runtime.GC()
		runtime.GC()
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		return ms.HeapAlloc
	}
	before := heap()
	subs := make([]*Transport, 0, n)
	for i := range n {
		s, err := p.NewTransport(TransportConfig{ID: "sub", Shard: "mem"})
		if err != nil {
			t.Fatal(err)
		}
		_, rx := srtpPair(t, byte(2*i))
		tx, _ := srtpPair(t, byte(2*i+1))
		seal := sealerFor(t, byte(2*i+1))
		if err := s.impl.doWait(func(l *loopState) { l.installSRTP(s.impl, rx, tx, seal) }); err != nil {
			t.Fatal(err)
		}
		for _, d := range []Downstream{
			{TrackID: "pub:0", Mid: "0", SSRC: uint32(1000 + 2*i)},
			{TrackID: "pub:1", Mid: "1", SSRC: uint32(5000 + 2*i), RTXSSRC: uint32(9000 + 2*i)},
		} {
			if err := s.AddDownstream(d); err != nil {
				t.Fatal(err)
			}
		}
		subs = append(subs, s)
	}
	per := (int64(heap()) - int64(before)) / n
	t.Logf("media plane memory per subscriber (transport, loop state, SRTP, TWCC, 2 tracks): %d bytes (%.1f KiB)", per, float64(per)/1024)
	if per > budget {
		t.Errorf("%d bytes per subscriber, want at most %d", per, budget)
	}
	runtime.KeepAlive(subs)
}
