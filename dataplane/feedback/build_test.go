package feedback

import (
	"reflect"
	"testing"

	"github.com/pion/rtcp"
)

func unmarshalOne(t *testing.T, b []byte) rtcp.Packet {
	t.Helper()
	pkts, err := rtcp.Unmarshal(b)
	if err != nil {
		t.Fatalf("pion cannot decode %x: %v", b, err)
	}
	if len(pkts) != 1 {
		t.Fatalf("pion decodes %d packets, want 1", len(pkts))
	}
	return pkts[0]
}

func TestAppendNACK(t *testing.T) {
	for _, tc := range []struct {
		name  string
		seqs  []uint16
		pairs []rtcp.NackPair
	}{
		{"single", []uint16{7}, []rtcp.NackPair{{PacketID: 7}}},
		{"run of 17 fits one pair", []uint16{10, 11, 12, 26}, []rtcp.NackPair{{PacketID: 10, LostPackets: 0b1000_0000_0000_0011}}},
		{"18th starts a new pair", []uint16{10, 27}, []rtcp.NackPair{{PacketID: 10}, {PacketID: 27}}},
		{"wrap 65535 to 0", []uint16{65534, 65535, 0, 1, 20}, []rtcp.NackPair{{PacketID: 65534, LostPackets: 0b111}, {PacketID: 20}}},
		{"adjacent duplicate", []uint16{5, 5, 6}, []rtcp.NackPair{{PacketID: 5, LostPackets: 1}}},
		{"descending", []uint16{9, 3}, []rtcp.NackPair{{PacketID: 9}, {PacketID: 3}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			prefix := []byte{0xff} // appending must keep what dst held
			b := AppendNACK(prefix, 0xaa, 0xbb, tc.seqs)
			if b[0] != 0xff {
				t.Fatal("dst prefix overwritten")
			}
			got, ok := unmarshalOne(t, b[1:]).(*rtcp.TransportLayerNack)
			if !ok {
				t.Fatalf("decoded as %T", got)
			}
			want := &rtcp.TransportLayerNack{SenderSSRC: 0xaa, MediaSSRC: 0xbb, Nacks: tc.pairs}
			if !reflect.DeepEqual(got, want) {
				t.Fatalf("pion decodes %+v, want %+v", got, want)
			}
			// And our own reader expands the same sequence numbers.
			it := NewIter(b[1:])
			it.Next()
			var exp []uint16
			for _, p := range tc.pairs {
				exp = append(exp, p.PacketList()...)
			}
			if got := it.AppendNACKs(nil); !reflect.DeepEqual(got, exp) {
				t.Fatalf("AppendNACKs = %v, want %v", got, exp)
			}
		})
	}
	if b := AppendNACK(nil, 1, 2, nil); b != nil {
		t.Fatalf("AppendNACK with no seqs = %x, want nothing", b)
	}
}

func TestAppendPLIFIRREMB(t *testing.T) {
	pli := unmarshalOne(t, AppendPLI(nil, 0x11, 0x22))
	if !reflect.DeepEqual(pli, &rtcp.PictureLossIndication{SenderSSRC: 0x11, MediaSSRC: 0x22}) {
		t.Fatalf("PLI = %+v", pli)
	}
	fir := unmarshalOne(t, AppendFIR(nil, 0x11, 0x33, 7))
	if !reflect.DeepEqual(fir, &rtcp.FullIntraRequest{SenderSSRC: 0x11, FIR: []rtcp.FIREntry{{SSRC: 0x33, SequenceNumber: 7}}}) {
		t.Fatalf("FIR = %+v", fir)
	}
	for _, bps := range []uint64{0, 1, 262143, 262144, 1_500_000, 2_000_001, 1 << 40} {
		b := AppendREMB(nil, 0x11, bps, []uint32{0x44, 0x55})
		remb, ok := unmarshalOne(t, b).(*rtcp.ReceiverEstimatedMaximumBitrate)
		if !ok || remb.SenderSSRC != 0x11 || !reflect.DeepEqual(remb.SSRCs, []uint32{0x44, 0x55}) {
			t.Fatalf("REMB = %+v", remb)
		}
		it := NewIter(b)
		it.Next()
		got, _ := it.REMBBitrate()
		// 18-bit mantissa: rounding down loses less than 2^-17 of the value.
		if got > bps || float64(bps-got) > float64(bps)/(1<<17) {
			t.Fatalf("REMB %d encodes as %d", bps, got)
		}
		if bps != 0 && float32(got) != remb.Bitrate { // pion decodes a zero mantissa as 2^23
			t.Fatalf("REMB %d: ours reads %d, pion %v", bps, got, remb.Bitrate)
		}
	}
}

func TestAppendReceiverReport(t *testing.T) {
	b := AppendReceiverReport(nil, 0x77, []rtcp.ReceptionReport{rrA, rrB})
	rr := unmarshalOne(t, b)
	if want := (&rtcp.ReceiverReport{SSRC: 0x77, Reports: []rtcp.ReceptionReport{rrA, rrB}, ProfileExtensions: []byte{}}); !reflect.DeepEqual(rr, want) {
		t.Fatalf("RR = %+v\nwant %+v", rr, want)
	}
	empty := unmarshalOne(t, AppendReceiverReport(nil, 0x77, nil))
	if !reflect.DeepEqual(empty, &rtcp.ReceiverReport{SSRC: 0x77, ProfileExtensions: []byte{}}) {
		t.Fatalf("empty RR = %+v", empty)
	}
	// 33 reports need two packets (the count field has 5 bits).
	many := make([]rtcp.ReceptionReport, 33)
	for i := range many {
		many[i] = rtcp.ReceptionReport{SSRC: uint32(i + 1), LastSequenceNumber: uint32(i)}
	}
	pkts, err := rtcp.Unmarshal(AppendReceiverReport(nil, 0x77, many))
	if err != nil || len(pkts) != 2 {
		t.Fatalf("33 reports: %d packets, %v", len(pkts), err)
	}
	got := append(pkts[0].(*rtcp.ReceiverReport).Reports, pkts[1].(*rtcp.ReceiverReport).Reports...)
	if len(pkts[0].(*rtcp.ReceiverReport).Reports) != 31 || !reflect.DeepEqual(got, many) {
		t.Fatalf("33 reports split wrong: %d + %d", len(pkts[0].(*rtcp.ReceiverReport).Reports), len(pkts[1].(*rtcp.ReceiverReport).Reports))
	}
}

func TestAppendsCompound(t *testing.T) {
	var b []byte
	b = AppendReceiverReport(b, 1, []rtcp.ReceptionReport{rrA})
	b = AppendSDESCNAME(b, 1, "hayate")
	b = AppendNACK(b, 1, 2, []uint16{3, 4})
	b = AppendPLI(b, 1, 2)
	b = AppendREMB(b, 1, 1e6, []uint32{2})
	pkts, err := rtcp.Unmarshal(b)
	if err != nil || len(pkts) != 5 {
		t.Fatalf("compound: %d packets, %v", len(pkts), err)
	}
	if err := rtcp.CompoundPacket(pkts).Validate(); err != nil {
		t.Fatalf("pion rejects the compound: %v", err)
	}
}

func TestAppendSDESCNAME(t *testing.T) {
	for _, cname := range []string{"", "a", "ab", "abc", "abcd", "0123456789abcdef"} {
		b := AppendSDESCNAME(nil, 0x99, cname)
		got := unmarshalOne(t, b)
		want := &rtcp.SourceDescription{Chunks: []rtcp.SourceDescriptionChunk{{Source: 0x99, Items: []rtcp.SourceDescriptionItem{{Type: rtcp.SDESCNAME, Text: cname}}}}}
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("cname %q: pion decodes %+v", cname, got)
		}
	}
}

func TestAppendZeroAlloc(t *testing.T) {
	buf := make([]byte, 0, 1500)
	seqs := []uint16{1, 2, 3, 40, 41, 100}
	reports := []rtcp.ReceptionReport{rrA, rrB}
	var ss SenderStats
	ss.OnSent(1000, 1200, 0)
	if a := testing.AllocsPerRun(1000, func() {
		b := AppendReceiverReport(buf[:0], 1, reports)
		b = AppendNACK(b, 1, 2, seqs)
		b = AppendPLI(b, 1, 2)
		b = AppendFIR(b, 1, 2, 3)
		b = AppendREMB(b, 1, 2e6, seqsToSSRC)
		b = AppendSDESCNAME(b, 1, "cname")
		b = ss.AppendSenderReport(b, 9, 1e6, 0x1234, 90000)
		_ = b
	}); a != 0 {
		t.Fatalf("Append* with capacity allocate %v per run, want 0", a)
	}
}

var seqsToSSRC = []uint32{5, 6}

func BenchmarkAppendNACK(b *testing.B) {
	buf := make([]byte, 0, 1500)
	seqs := []uint16{1, 2, 3, 40, 41, 100, 101, 200}
	b.ReportAllocs()
	for b.Loop() {
		buf = AppendNACK(buf[:0], 1, 2, seqs)
	}
}

// BenchmarkPionMarshalNACK is the baseline for BenchmarkAppendNACK.
func BenchmarkPionMarshalNACK(b *testing.B) {
	p := &rtcp.TransportLayerNack{SenderSSRC: 1, MediaSSRC: 2, Nacks: rtcp.NackPairsFromSequenceNumbers([]uint16{1, 2, 3, 40, 41, 100, 101, 200})}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := p.Marshal(); err != nil {
			b.Fatal(err)
		}
	}
}
