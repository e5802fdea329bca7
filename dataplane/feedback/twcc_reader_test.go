package feedback

import (
	"testing"

	"github.com/pion/rtcp"
)

type twccResult struct {
	seq      uint16
	received bool
	at       int64
}

func readTWCC(t *testing.T, b []byte) (TWCCReader, []twccResult) {
	t.Helper()
	it := NewIter(b)
	if !it.Next() {
		t.Fatalf("no packet: %v", it.Err())
	}
	r, ok := it.TWCC()
	if !ok {
		t.Fatal("TWCC() not ok")
	}
	var out []twccResult
	for {
		seq, rec, at, ok := r.Next()
		if !ok {
			break
		}
		out = append(out, twccResult{seq, rec, at})
	}
	if r.Malformed() {
		t.Fatal("reader reports malformed data")
	}
	return r, out
}

// TestTWCCReaderPionPacket decodes a message built by pion with every chunk
// type and both delta sizes, and compares with the values pion was given.
func TestTWCCReaderPionPacket(t *testing.T) {
	cc := &rtcp.TransportLayerCC{
		Header:             rtcp.Header{Count: rtcp.FormatTCC, Type: rtcp.TypeTransportSpecificFeedback},
		SenderSSRC:         1,
		MediaSSRC:          2,
		BaseSequenceNumber: 65533,
		PacketStatusCount:  3 + 14 + 2,
		ReferenceTime:      100,
		FbPktCount:         9,
		PacketChunks: []rtcp.PacketStatusChunk{
			&rtcp.RunLengthChunk{PacketStatusSymbol: rtcp.TypeTCCPacketReceivedSmallDelta, RunLength: 3},
			&rtcp.StatusVectorChunk{SymbolSize: rtcp.TypeTCCSymbolSizeOneBit, SymbolList: []uint16{
				0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1}},
			&rtcp.StatusVectorChunk{SymbolSize: rtcp.TypeTCCSymbolSizeTwoBit, SymbolList: []uint16{
				rtcp.TypeTCCPacketReceivedLargeDelta, rtcp.TypeTCCPacketNotReceived, 0, 0, 0, 0, 0}},
		},
		RecvDeltas: []*rtcp.RecvDelta{
			{Type: rtcp.TypeTCCPacketReceivedSmallDelta, Delta: 0},
			{Type: rtcp.TypeTCCPacketReceivedSmallDelta, Delta: 250},
			{Type: rtcp.TypeTCCPacketReceivedSmallDelta, Delta: 63750},
			{Type: rtcp.TypeTCCPacketReceivedSmallDelta, Delta: 1000},
			{Type: rtcp.TypeTCCPacketReceivedSmallDelta, Delta: 500},
			{Type: rtcp.TypeTCCPacketReceivedLargeDelta, Delta: -8000},
		},
	}
	// Pad the header length as pion's recorder does.
	n := cc.MarshalSize()
	cc.Header.Length = uint16(n/4 - 1)
	cc.Header.Padding = n != 20+2*3+7
	b, err := cc.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	r, got := readTWCC(t, b)
	if r.BaseSeq() != 65533 || r.Count() != 19 || r.ReferenceTime() != 100*64000 || r.FeedbackCount() != 9 {
		t.Fatalf("header: base %d count %d ref %d fb %d", r.BaseSeq(), r.Count(), r.ReferenceTime(), r.FeedbackCount())
	}
	ref := int64(100 * 64000)
	want := []twccResult{
		{65533, true, ref}, {65534, true, ref + 250}, {65535, true, ref + 64000},
		{0, false, 0}, {1, true, ref + 65000}, // one-bit chunk: lost, received, 11 lost, received
	}
	for s := uint16(2); s <= 12; s++ {
		want = append(want, twccResult{s, false, 0})
	}
	want = append(want, twccResult{13, true, ref + 65500}, twccResult{14, true, ref + 57500}, twccResult{15, false, 0})
	if len(got) != len(want) {
		t.Fatalf("%d results, want %d: %+v", len(got), len(want), got)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("result %d = %+v, want %+v", i, got[i], want[i])
		}
	}
}

// TestTWCCReaderRoundTrip feeds our TWCC recorder and reads its feedback
// back: every recorded packet appears as received with its arrival spacing.
func TestTWCCReaderRoundTrip(t *testing.T) {
	tw := NewTWCC(1)
	arrivals := map[uint16]int64{}
	for i := 0; i < 60; i++ {
		seq := uint16(65500 + i)
		if i%7 == 3 {
			continue
		}
		at := int64(i) * 3 * ms
		if i == 40 {
			at += 200 * ms // a large delta
		}
		arrivals[seq] = at
		tw.OnPacket(2, seq, at)
	}
	b := tw.AppendFeedback(nil)
	_, got := readTWCC(t, b)
	// 65559 (i = 59) was not recorded, so the feedback ends at 65558.
	if len(got) != 59 {
		t.Fatalf("%d results, want 59", len(got))
	}
	first := got[0].at
	for _, g := range got {
		at, rec := arrivals[g.seq]
		if rec != g.received {
			t.Fatalf("seq %d received=%v, want %v", g.seq, g.received, rec)
		}
		// Arrival times relative to the first packet, to 250 µs resolution.
		if rec && (g.at-first)-at/1000 > 250 || rec && at/1000-(g.at-first) > 250 {
			t.Fatalf("seq %d at %d µs, want %d", g.seq, g.at-first, at/1000)
		}
	}
}

func TestTWCCReaderMalformed(t *testing.T) {
	b := NewTWCC(1)
	for s := uint16(0); s < 5; s++ {
		b.OnPacket(2, s, int64(s)*ms)
	}
	pkt := b.AppendFeedback(nil)
	// Claim more statuses than the chunks cover.
	bad := append([]byte{}, pkt...)
	bad[14], bad[15] = 0x10, 0x00
	it := NewIter(bad)
	it.Next()
	if _, ok := it.TWCC(); ok {
		t.Fatal("TWCC accepted a status count its chunks do not cover")
	}
	// Cut the deltas: the reader stops and says so.
	cut := append([]byte{}, pkt[:len(pkt)-4]...)
	cut[0] &^= 0x20 // no padding
	cut[3] = byte(len(cut)/4 - 1)
	it = NewIter(cut)
	if !it.Next() {
		t.Fatal(it.Err())
	}
	r, ok := it.TWCC()
	if !ok {
		t.Fatal("TWCC() not ok")
	}
	n := 0
	for _, _, _, ok := r.Next(); ok; _, _, _, ok = r.Next() {
		n++
	}
	if !r.Malformed() || n >= 5 {
		t.Fatalf("read %d results from a cut message, malformed=%v", n, r.Malformed())
	}
	// Other packets are not TWCC.
	it = NewIter(AppendPLI(nil, 1, 2))
	it.Next()
	if _, ok := it.TWCC(); ok {
		t.Fatal("TWCC() ok on a PLI")
	}
}

func TestTWCCReaderZeroAlloc(t *testing.T) {
	tw := NewTWCC(1)
	for s := uint16(0); s < 100; s++ {
		if s%9 != 0 {
			tw.OnPacket(2, s, int64(s)*ms)
		}
	}
	b := tw.AppendFeedback(nil)
	var sum int64
	if a := testing.AllocsPerRun(1000, func() {
		it := NewIter(b)
		for it.Next() {
			r, ok := it.TWCC()
			if !ok {
				continue
			}
			for _, rec, at, ok := r.Next(); ok; _, rec, at, ok = r.Next() {
				if rec {
					sum += at
				}
			}
		}
	}); a != 0 {
		t.Fatalf("allocates %v per run, want 0", a)
	}
}

func BenchmarkTWCCReader100(b *testing.B) {
	tw := NewTWCC(1)
	for s := uint16(0); s < 100; s++ {
		tw.OnPacket(2, s, int64(s)*ms)
	}
	pkt := tw.AppendFeedback(nil)
	b.ReportAllocs()
	for b.Loop() {
		it := NewIter(pkt)
		it.Next()
		r, _ := it.TWCC()
		for _, _, _, ok := r.Next(); ok; _, _, _, ok = r.Next() {
		}
	}
}

// BenchmarkPionTWCCUnmarshal100 is the baseline for BenchmarkTWCCReader100.
func BenchmarkPionTWCCUnmarshal100(b *testing.B) {
	tw := NewTWCC(1)
	for s := uint16(0); s < 100; s++ {
		tw.OnPacket(2, s, int64(s)*ms)
	}
	pkt := tw.AppendFeedback(nil)
	b.ReportAllocs()
	for b.Loop() {
		var cc rtcp.TransportLayerCC
		if err := cc.Unmarshal(pkt); err != nil {
			b.Fatal(err)
		}
	}
}
