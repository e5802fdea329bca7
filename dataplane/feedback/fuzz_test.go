package feedback

import (
	"bytes"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"testing"

	"github.com/pion/rtcp"
)

var updateCorpus = flag.Bool("update", false, "rewrite testdata/fuzz seed corpora and testdata/golden files")

func iterSeeds(t testing.TB) [][]byte {
	raw, _ := referenceCompound(t)
	var tw []byte
	{
		c := NewTWCC(1)
		for s := uint16(0); s < 30; s += 2 {
			c.OnPacket(2, s, int64(s)*ms)
		}
		tw = c.AppendFeedback(nil)
	}
	return [][]byte{
		raw,
		AppendNACK(AppendSDESCNAME(AppendReceiverReport(nil, 1, []rtcp.ReceptionReport{rrA}), 1, "x"), 1, 2, []uint16{65535, 0, 3, 40}),
		AppendPLI(nil, 1, 2),
		AppendFIR(nil, 1, 2, 3),
		AppendREMB(nil, 1, 2_000_000, []uint32{4, 5, 6}),
		tw,
		{0xa0, TypeRR, 0x00, 0x02, 0, 0, 0, 9, 0, 0, 0, 4},
		{0x80, TypeRR, 0, 9},
		{0x40, TypeRR, 0, 1, 0, 0, 0, 1},
	}
}

func TestUpdateFuzzCorpus(t *testing.T) {
	if !*updateCorpus {
		t.Skip("run with -update to rewrite testdata/fuzz")
	}
	dir := filepath.Join("testdata", "fuzz", "FuzzIter")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	for i, s := range iterSeeds(t) {
		body := fmt.Sprintf("go test fuzz v1\n[]byte(%q)\n", s)
		if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("seed-%02d", i)), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// FuzzIter walks arbitrary bytes: no panic, packets tile the input, and
// where pion's typed decoder accepts a packet the fields agree with it.
func FuzzIter(f *testing.F) {
	for _, s := range iterSeeds(f) {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		it := NewIter(b)
		off := 0
		for it.Next() {
			p := it.Packet()
			if len(p) < 4 || off+len(p) > len(b) || !bytes.Equal(p, b[off:off+len(p)]) {
				t.Fatalf("packet at %d (%d bytes) does not tile the input", off, len(p))
			}
			off += len(p)
			nacks := it.AppendNACKs(nil)
			reports := it.AppendReceptionReports(nil)
			firs := it.AppendFIRSSRCs(nil)
			rembSSRCs := it.AppendREMBSSRCs(nil)
			bps, rembOK := it.REMBBitrate()
			it.SenderReport()
			it.SenderPacketCount()
			_, _, _ = it.MediaSSRC(), it.SenderSSRC(), it.Format()

			checkTWCCAgainstPion(t, &it)
			if p[0]&0x20 != 0 {
				continue // pion's typed decoders handle padding differently
			}
			switch {
			case it.Type() == TypeRTPFB && it.Format() == FormatNACK:
				var n rtcp.TransportLayerNack
				if n.Unmarshal(p) == nil {
					var want []uint16
					for _, pair := range n.Nacks {
						want = append(want, pair.PacketList()...)
					}
					if !reflect.DeepEqual(nacks, want) {
						t.Fatalf("NACKs %v, pion %v", nacks, want)
					}
				}
			case it.Type() == TypeRR:
				var rr rtcp.ReceiverReport
				if rr.Unmarshal(p) == nil && len(rr.Reports) > 0 && !reflect.DeepEqual(reports, rr.Reports) {
					t.Fatalf("RR reports %+v, pion %+v", reports, rr.Reports)
				}
			case it.Type() == TypeSR:
				var sr rtcp.SenderReport
				if sr.Unmarshal(p) == nil && len(sr.Reports) > 0 && !reflect.DeepEqual(reports, sr.Reports) {
					t.Fatalf("SR reports %+v, pion %+v", reports, sr.Reports)
				}
			case it.Type() == TypePSFB && it.Format() == FormatFIR:
				var fir rtcp.FullIntraRequest
				if fir.Unmarshal(p) == nil {
					var want []uint32
					for _, e := range fir.FIR {
						want = append(want, e.SSRC)
					}
					if !reflect.DeepEqual(firs, want) {
						t.Fatalf("FIR %v, pion %v", firs, want)
					}
				}
			case it.Type() == TypePSFB && it.Format() == FormatREMB:
				var remb rtcp.ReceiverEstimatedMaximumBitrate
				if remb.Unmarshal(p) == nil {
					if !rembOK || !reflect.DeepEqual(rembSSRCs, remb.SSRCs) && len(remb.SSRCs) > 0 {
						t.Fatalf("REMB %d %v, pion %v %v", bps, rembSSRCs, remb.Bitrate, remb.SSRCs)
					}
				}
			}
		}
		if it.Err() == nil && off != len(b) {
			t.Fatalf("walk ended at %d of %d without an error", off, len(b))
		}
	})
}

// checkTWCCAgainstPion walks a TWCC message with TWCCReader and, when pion
// decodes it too, compares the received flags and deltas.
func checkTWCCAgainstPion(t *testing.T, it *Iter) {
	r, ok := it.TWCC()
	if !ok {
		return
	}
	var received []bool
	var deltas []int64
	last := r.ReferenceTime()
	for i := 0; ; i++ {
		seq, rec, at, ok := r.Next()
		if !ok {
			break
		}
		if seq != r.BaseSeq()+uint16(i) {
			t.Fatalf("result %d has seq %d, base %d", i, seq, r.BaseSeq())
		}
		received = append(received, rec)
		if rec {
			deltas = append(deltas, at-last)
			last = at
		}
	}
	if r.Malformed() {
		return
	}
	if len(received) != r.Count() {
		t.Fatalf("%d results for a status count of %d", len(received), r.Count())
	}
	var cc rtcp.TransportLayerCC
	if cc.Unmarshal(it.Packet()) != nil {
		return
	}
	if len(cc.RecvDeltas) != len(deltas) {
		t.Fatalf("%d deltas, pion %d", len(deltas), len(cc.RecvDeltas))
	}
	for i, d := range cc.RecvDeltas {
		if d.Delta != deltas[i] {
			t.Fatalf("delta %d = %d µs, pion %d", i, deltas[i], d.Delta)
		}
	}
}
