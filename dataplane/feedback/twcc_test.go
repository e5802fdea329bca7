package feedback

import (
	"testing"

	"github.com/pion/rtcp"
)

func TestTWCCFeedback(t *testing.T) {
	tw := NewTWCC(0x51)
	if b := tw.AppendFeedback(nil); b != nil {
		t.Fatalf("feedback before any packet: %x", b)
	}
	const base = int64(5e18) // a large clock origin must not matter
	for seq := uint16(65530); seq != 10; seq++ {
		if seq == 65535 {
			continue // lost
		}
		tw.OnPacket(0x61, seq, base+int64(seq-65530)*ms)
	}
	b := tw.AppendFeedback([]byte{})
	pkts, err := rtcp.Unmarshal(b)
	if err != nil || len(pkts) != 1 {
		t.Fatalf("feedback: %d packets, %v", len(pkts), err)
	}
	cc, ok := pkts[0].(*rtcp.TransportLayerCC)
	if !ok {
		t.Fatalf("decoded as %T", pkts[0])
	}
	if cc.SenderSSRC != 0x51 || cc.MediaSSRC != 0x61 || cc.BaseSequenceNumber != 65530 || cc.PacketStatusCount != 16 || cc.FbPktCount != 0 {
		t.Fatalf("feedback header %+v", cc)
	}
	if len(cc.RecvDeltas) != 15 {
		t.Fatalf("%d receive deltas, want 15 (16 packets, one lost)", len(cc.RecvDeltas))
	}
	for i, d := range cc.RecvDeltas[1:] {
		gap := int64(1000) // µs between neighbours, 2 ms across the lost one
		if i == 4 {
			gap = 2000
		}
		if d.Delta != gap {
			t.Fatalf("delta %d = %d µs, want %d", i+1, d.Delta, gap)
		}
	}
	// Our Iter sees it as an RTPFB FMT 15 for the media SSRC.
	it := NewIter(b)
	if !it.Next() || it.Type() != TypeRTPFB || it.Format() != FormatTWCC || it.MediaSSRC() != 0x61 {
		t.Fatalf("Iter: type %d fmt %d media %x", it.Type(), it.Format(), it.MediaSSRC())
	}
	if b := tw.AppendFeedback(nil); b != nil {
		t.Fatal("second feedback without new packets is not empty")
	}
	tw.OnPacket(0x61, 10, base+20*ms)
	pkts, err = rtcp.Unmarshal(tw.AppendFeedback(nil))
	if err != nil || pkts[0].(*rtcp.TransportLayerCC).FbPktCount != 1 || pkts[0].(*rtcp.TransportLayerCC).BaseSequenceNumber != 10 {
		t.Fatalf("next feedback: %+v %v", pkts, err)
	}
}

// TestTWCCOnPacketZeroAlloc measures OnPacket in steady state: 1000 packets/s
// with feedback every 100 ms, after the recorder's window has grown.
func TestTWCCOnPacketZeroAlloc(t *testing.T) {
	tw := NewTWCC(1)
	var seq uint16
	var now int64
	step := func() {
		tw.OnPacket(2, seq, now)
		seq++
		now += ms
	}
	for i := 0; i < 3000; i++ {
		step()
		if i%100 == 99 {
			tw.AppendFeedback(nil)
		}
	}
	if a := testing.AllocsPerRun(99, step); a != 0 {
		t.Fatalf("OnPacket allocates %v per run, want 0", a)
	}
}

func BenchmarkTWCCOnPacket(b *testing.B) {
	tw := NewTWCC(1)
	var seq uint16
	var now int64
	buf := make([]byte, 0, 1500)
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		tw.OnPacket(2, seq, now)
		seq++
		now += ms
		if i%100 == 99 {
			b.StopTimer()
			buf = tw.AppendFeedback(buf[:0])
			b.StartTimer()
		}
	}
}

func BenchmarkTWCCAppendFeedback100(b *testing.B) {
	tw := NewTWCC(1)
	var seq uint16
	var now int64
	buf := make([]byte, 0, 1500)
	b.ReportAllocs()
	for b.Loop() {
		b.StopTimer()
		for i := 0; i < 100; i++ {
			tw.OnPacket(2, seq, now)
			seq++
			now += ms
		}
		b.StartTimer()
		buf = tw.AppendFeedback(buf[:0])
	}
}
