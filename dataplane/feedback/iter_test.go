package feedback

import (
	"errors"
	"reflect"
	"testing"

	"github.com/pion/rtcp"
)

var (
	rrA = rtcp.ReceptionReport{SSRC: 0x1111, FractionLost: 25, TotalLost: 300, LastSequenceNumber: 0x0001_0005, Jitter: 42, LastSenderReport: 0xaabbccdd, Delay: 65536}
	rrB = rtcp.ReceptionReport{SSRC: 0x2222, FractionLost: 0, TotalLost: 0xffffff, LastSequenceNumber: 7, Jitter: 0, LastSenderReport: 0, Delay: 0}
)

// referenceCompound is what a browser typically sends, marshalled by pion.
func referenceCompound(t testing.TB) ([]byte, []rtcp.Packet) {
	t.Helper()
	pkts := []rtcp.Packet{
		&rtcp.SenderReport{SSRC: 0xa1, NTPTime: 0xe1234567_89abcdef, RTPTime: 123456, PacketCount: 10, OctetCount: 1000, Reports: []rtcp.ReceptionReport{rrA, rrB}},
		&rtcp.SourceDescription{Chunks: []rtcp.SourceDescriptionChunk{{Source: 0xa1, Items: []rtcp.SourceDescriptionItem{{Type: rtcp.SDESCNAME, Text: "cname"}}}}},
		&rtcp.ReceiverReport{SSRC: 0xb2, Reports: []rtcp.ReceptionReport{rrB}},
		&rtcp.TransportLayerNack{SenderSSRC: 0xc3, MediaSSRC: 0xd4, Nacks: []rtcp.NackPair{{PacketID: 100, LostPackets: 0b1000_0000_0000_0101}, {PacketID: 65530, LostPackets: 0}}},
		&rtcp.PictureLossIndication{SenderSSRC: 0xc3, MediaSSRC: 0xd5},
		&rtcp.FullIntraRequest{SenderSSRC: 0xc3, MediaSSRC: 0, FIR: []rtcp.FIREntry{{SSRC: 0xe6, SequenceNumber: 3}, {SSRC: 0xe7, SequenceNumber: 9}}},
		&rtcp.ReceiverEstimatedMaximumBitrate{SenderSSRC: 0xc3, Bitrate: 1_500_000, SSRCs: []uint32{0xd4, 0xd5}},
		&rtcp.Goodbye{Sources: []uint32{0xa1}},
	}
	raw, err := rtcp.Marshal(pkts)
	if err != nil {
		t.Fatal(err)
	}
	return raw, pkts
}

func TestIterReadsPionCompound(t *testing.T) {
	raw, _ := referenceCompound(t)
	it := NewIter(raw)
	var types []uint8
	for it.Next() {
		types = append(types, it.Type())
		switch len(types) {
		case 1: // SR
			ssrc, ntp, ts, ok := it.SenderReport()
			if !ok || ssrc != 0xa1 || ntp != 0xe1234567_89abcdef || ts != 123456 {
				t.Fatalf("SenderReport = %x %x %d %v", ssrc, ntp, ts, ok)
			}
			if p, o, ok := it.SenderPacketCount(); !ok || p != 10 || o != 1000 {
				t.Fatalf("SenderPacketCount = %d %d %v", p, o, ok)
			}
			if got := it.AppendReceptionReports(nil); !reflect.DeepEqual(got, []rtcp.ReceptionReport{rrA, rrB}) {
				t.Fatalf("SR reports = %+v", got)
			}
			if it.Format() != 2 || it.SenderSSRC() != 0xa1 || it.MediaSSRC() != 0 {
				t.Fatalf("SR Format=%d SenderSSRC=%x MediaSSRC=%x", it.Format(), it.SenderSSRC(), it.MediaSSRC())
			}
		case 2: // SDES
			if it.Type() != TypeSDES || it.SenderSSRC() != 0xa1 {
				t.Fatalf("SDES: type %d ssrc %x", it.Type(), it.SenderSSRC())
			}
			if _, _, _, ok := it.SenderReport(); ok {
				t.Fatal("SenderReport ok on SDES")
			}
		case 3: // RR
			if got := it.AppendReceptionReports(nil); !reflect.DeepEqual(got, []rtcp.ReceptionReport{rrB}) || it.SenderSSRC() != 0xb2 {
				t.Fatalf("RR reports = %+v from %x", got, it.SenderSSRC())
			}
		case 4: // NACK
			want := []uint16{100, 101, 103, 116, 65530}
			if got := it.AppendNACKs(nil); !reflect.DeepEqual(got, want) {
				t.Fatalf("AppendNACKs = %v, want %v", got, want)
			}
			if it.Format() != FormatNACK || it.SenderSSRC() != 0xc3 || it.MediaSSRC() != 0xd4 {
				t.Fatal("NACK header fields")
			}
		case 5: // PLI
			if it.Type() != TypePSFB || it.Format() != FormatPLI || it.MediaSSRC() != 0xd5 {
				t.Fatalf("PLI: type %d fmt %d media %x", it.Type(), it.Format(), it.MediaSSRC())
			}
			if got := it.AppendNACKs(nil); got != nil {
				t.Fatalf("AppendNACKs on PLI = %v", got)
			}
		case 6: // FIR
			if got := it.AppendFIRSSRCs(nil); !reflect.DeepEqual(got, []uint32{0xe6, 0xe7}) {
				t.Fatalf("AppendFIRSSRCs = %x", got)
			}
		case 7: // REMB
			bps, ok := it.REMBBitrate()
			// pion encodes 1.5 Mbit/s exactly (mantissa 187500, exponent 3).
			if !ok || bps != 1_500_000 {
				t.Fatalf("REMBBitrate = %d,%v", bps, ok)
			}
			if got := it.AppendREMBSSRCs(nil); !reflect.DeepEqual(got, []uint32{0xd4, 0xd5}) {
				t.Fatalf("AppendREMBSSRCs = %x", got)
			}
		case 8:
			if it.Type() != TypeBYE || it.SenderSSRC() != 0xa1 {
				t.Fatal("BYE")
			}
		}
	}
	if err := it.Err(); err != nil {
		t.Fatal(err)
	}
	if want := []uint8{TypeSR, TypeSDES, TypeRR, TypeRTPFB, TypePSFB, TypePSFB, TypePSFB, TypeBYE}; !reflect.DeepEqual(types, want) {
		t.Fatalf("types = %v, want %v", types, want)
	}
	if it.Next() || it.Packet() != nil || it.Type() != 0 {
		t.Fatal("Next after the end")
	}
}

func TestIterPacketBoundaries(t *testing.T) {
	raw, pkts := referenceCompound(t)
	it := NewIter(raw)
	off := 0
	for i := 0; it.Next(); i++ {
		one, err := rtcp.Marshal(pkts[i : i+1])
		if err != nil {
			t.Fatal(err)
		}
		if string(it.Packet()) != string(one) || string(raw[off:off+len(one)]) != string(one) {
			t.Fatalf("packet %d: Packet() = %x, want %x", i, it.Packet(), one)
		}
		off += len(one)
	}
}

func TestIterErrors(t *testing.T) {
	pli := AppendPLI(nil, 1, 2)
	padded := []byte{0xa0, TypeRR, 0x00, 0x02, 0, 0, 0, 9, 0, 0, 0, 4} // RR, P=1, 4 bytes of padding
	badPad := []byte{0xa0, TypeRR, 0x00, 0x01, 0, 0, 0, 9}             // pad count 9 > packet
	zeroPad := []byte{0xa0, TypeRR, 0x00, 0x01, 0, 0, 0, 0}
	for _, tc := range []struct {
		name    string
		b       []byte
		packets int
		err     error
	}{
		{"empty", nil, 0, nil},
		{"one PLI", pli, 1, nil},
		{"trailing 3 bytes", append(append([]byte{}, pli...), 0x80, 0xc9, 0), 1, ErrShortPacket},
		{"version 1", []byte{0x40, TypeRR, 0, 1, 0, 0, 0, 1}, 0, ErrBadVersion},
		{"length past end", []byte{0x80, TypeRR, 0, 2, 0, 0, 0, 1}, 0, ErrBadLength},
		{"second packet bad", append(append([]byte{}, pli...), 0x80, TypeRR, 0, 9), 1, ErrBadLength},
		{"padding ok", padded, 1, nil},
		{"padding too long", badPad, 0, ErrBadPadding},
		{"padding zero", zeroPad, 0, ErrBadPadding},
	} {
		t.Run(tc.name, func(t *testing.T) {
			it := NewIter(tc.b)
			n := 0
			for it.Next() {
				n++
			}
			if n != tc.packets || !errors.Is(it.Err(), tc.err) {
				t.Fatalf("walked %d packets, err %v; want %d, %v", n, it.Err(), tc.packets, tc.err)
			}
			if it.Next() {
				t.Fatal("Next true after the walk ended")
			}
		})
	}
	// Padding is part of Packet but not of the fields.
	it := NewIter(padded)
	it.Next()
	if len(it.Packet()) != 12 || it.SenderSSRC() != 9 || it.AppendReceptionReports(nil) != nil {
		t.Fatalf("padded RR: len %d ssrc %d", len(it.Packet()), it.SenderSSRC())
	}
}

func TestIterShortPacketsGiveZeroValues(t *testing.T) {
	// Headers that claim a type but carry too little for its fields.
	for _, b := range [][]byte{
		{0x81, TypeRTPFB, 0, 0},
		{0x81, TypeRTPFB, 0, 1, 0, 0, 0, 1},
		{0x81, TypeSR, 0, 1, 0, 0, 0, 1},
		{0x8f, TypePSFB, 0, 2, 0, 0, 0, 1, 0, 0, 0, 2},
		{0x9f, TypeRR, 0, 1, 0, 0, 0, 1}, // RC=31 but no blocks
	} {
		it := NewIter(b)
		if !it.Next() {
			t.Fatalf("%x: %v", b, it.Err())
		}
		if it.AppendNACKs(nil) != nil || it.AppendFIRSSRCs(nil) != nil || it.AppendReceptionReports(nil) != nil || it.AppendREMBSSRCs(nil) != nil {
			t.Fatalf("%x: list accessors returned data", b)
		}
		if _, _, _, ok := it.SenderReport(); ok {
			t.Fatalf("%x: SenderReport ok", b)
		}
		if _, ok := it.REMBBitrate(); ok {
			t.Fatalf("%x: REMBBitrate ok", b)
		}
	}
}

func TestREMBBitrateSaturates(t *testing.T) {
	b := AppendREMB(nil, 1, 0, nil)
	b[17] = 63<<2 | 3 // exponent 63, mantissa top bits set
	it := NewIter(b)
	it.Next()
	if bps, ok := it.REMBBitrate(); !ok || bps != ^uint64(0) {
		t.Fatalf("REMBBitrate = %d,%v, want saturation", bps, ok)
	}
}

func TestIterZeroAlloc(t *testing.T) {
	raw, _ := referenceCompound(t)
	nacks := make([]uint16, 0, 64)
	firs := make([]uint32, 0, 8)
	reports := make([]rtcp.ReceptionReport, 0, 8)
	var sink uint64
	if a := testing.AllocsPerRun(1000, func() {
		it := NewIter(raw)
		for it.Next() {
			nacks = it.AppendNACKs(nacks[:0])
			firs = it.AppendFIRSSRCs(firs[:0])
			reports = it.AppendReceptionReports(reports[:0])
			_, ntp, _, _ := it.SenderReport()
			bps, _ := it.REMBBitrate()
			sink += ntp + bps + uint64(it.MediaSSRC()+it.SenderSSRC()) + uint64(len(it.Packet()))
		}
		if it.Err() != nil {
			panic(it.Err())
		}
	}); a != 0 {
		t.Fatalf("walking a compound packet allocates %v per run, want 0", a)
	}
	_ = sink
}

func BenchmarkIterCompound(b *testing.B) {
	raw, _ := referenceCompound(b)
	nacks := make([]uint16, 0, 64)
	b.SetBytes(int64(len(raw)))
	b.ReportAllocs()
	for b.Loop() {
		it := NewIter(raw)
		for it.Next() {
			nacks = it.AppendNACKs(nacks[:0])
		}
	}
}

// BenchmarkPionUnmarshalCompound is the baseline: pion's allocating parser on
// the same bytes.
func BenchmarkPionUnmarshalCompound(b *testing.B) {
	raw, _ := referenceCompound(b)
	b.SetBytes(int64(len(raw)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := rtcp.Unmarshal(raw); err != nil {
			b.Fatal(err)
		}
	}
}
