package secure

import (
	"encoding/binary"
	"math/rand/v2"
	"testing"

	"github.com/pion/srtp/v3"
)

func TestIndexNext(t *testing.T) {
	for _, tc := range []struct {
		name string
		seqs []uint16
		want []uint32
	}{
		{"start", []uint16{1000}, []uint32{0}},
		{"start at 65535", []uint16{65535}, []uint32{0}},
		{"plus one", []uint16{1000, 1001, 1002}, []uint32{0, 0, 0}},
		{"duplicate", []uint16{5, 5, 6}, []uint32{0, 0, 0}},
		{"wrap", []uint16{65534, 65535, 0, 1}, []uint32{0, 0, 1, 1}},
		{"wrap from first packet", []uint16{65535, 0}, []uint32{0, 1}},
		{"late before wrap", []uint16{65534, 65535, 0, 1, 65535, 65533, 2}, []uint32{0, 0, 1, 1, 0, 0, 1}},
		// After the late 65530 the state is still at 3 (ROC 1): 4 is +1.
		{"late before wrap keeps state", []uint16{65535, 0, 3, 65530, 4, 5}, []uint32{0, 1, 1, 0, 1, 1}},
		{"late same roc", []uint16{10, 11, 12, 9, 13}, []uint32{0, 0, 0, 0, 0}},
		{"late does not lower state", []uint16{100, 200, 150, 201}, []uint32{0, 0, 0, 0}},
		// 6000 wraps relative to 40000 (the state), not to the late 30000.
		{"late does not move state", []uint16{65535, 0, 20000, 40000, 30000, 6000}, []uint32{0, 1, 1, 1, 1, 2}},
		// The Appendix A boundaries: 2^15 ahead of a low state is new,
		// 2^15 behind a high state is late, one more behind is a wrap.
		{"exactly half ahead", []uint16{65535, 0, 100, 32868, 32869}, []uint32{0, 1, 1, 1, 1}},
		{"exactly half behind", []uint16{65535, 0, 20000, 40000, 7232}, []uint32{0, 1, 1, 1, 1}},
		{"half and one behind", []uint16{65535, 0, 20000, 40000, 7231}, []uint32{0, 1, 1, 1, 2}},
		{"jump", []uint16{100, 20100, 20101}, []uint32{0, 0, 0}},
		{"jump across wrap", []uint16{60000, 5000, 5001}, []uint32{0, 1, 1}},
		{"jump then late before it", []uint16{60000, 5000, 61000}, []uint32{0, 1, 0}},
		{"second wrap", []uint16{65535, 0, 30000, 60000, 65535, 0, 65535}, []uint32{0, 1, 1, 1, 1, 2, 1}},
		// With ROC 0 nothing lies before a wrap: far ahead is a jump, as in pion.
		{"roc 0 far ahead", []uint16{100, 40000, 40001, 39000}, []uint32{0, 0, 0, 0}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var x Index
			for i, seq := range tc.seqs {
				if got := x.Next(seq); got != tc.want[i] {
					t.Fatalf("packet %d: Next(%d) = %d, want %d (seqs %v)", i, seq, got, tc.want[i], tc.seqs)
				}
			}
		})
	}
}

// TestIndexTrueROC is the property test against the true packet index: a
// stream that moves forward by less than 2^15 at a time and delivers late
// packets less than 2^15 behind always gets the ROC the index has.
func TestIndexTrueROC(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for run := range 20 {
		var x Index
		high := uint64(r.IntN(1 << 16))
		for i := range 20000 {
			next := high
			switch v := r.IntN(100); {
			case i == 0:
			case v < 70:
				next = high + 1
			case v < 85:
				if back := uint64(1 + r.IntN(10000)); back <= high {
					next = high - back
				}
			default:
				next = high + uint64(1+r.IntN(20000))
			}
			high = max(high, next)
			if got, want := x.Next(uint16(next)), uint32(next>>16); got != want {
				t.Fatalf("run %d packet %d index %d: Next(%d) = %d, want %d", run, i, next, uint16(next), got, want)
			}
		}
		if high>>16 < 10 {
			t.Fatalf("run %d reached ROC %d only; the test wants many wraps", run, high>>16)
		}
	}
}

// indexMatchesPion feeds seqs to an Index and to a pion sending context and
// fails if the two ever use a different ROC (seen as different bytes).
func indexMatchesPion(t *testing.T, seqs []uint16) {
	t.Helper()
	s := newSession(t, srtp.ProtectionProfileAeadAes128Gcm, 5)
	var x Index
	raw := []byte{0x80, 96, 0, 0, 0, 0, 0, 0, 0, 0, 0, 9, 0xAB}
	dst := make([]byte, 0, len(raw)+TagLen)
	for i, seq := range seqs {
		binary.BigEndian.PutUint16(raw[2:], seq)
		want, err := s.tx.EncryptRTP(nil, raw, nil)
		if err != nil {
			t.Fatal(err)
		}
		roc := x.Next(seq)
		if got := s.sealer.Seal(dst, raw[:12], raw[12:], 9, seq, roc); string(got) != string(want) {
			pionROC, _ := s.tx.ROC(9)
			t.Fatalf("packet %d seq %d: Index gave ROC %d, pion's sender used another (its state now %d); seqs %v",
				i, seq, roc, pionROC, seqs[:i+1])
		}
	}
}

// TestIndexMatchesPionArbitrary: on sequences with no structure at all
// (where "late" and "jump" are ambiguous) Index still decides as pion's
// sender does, so sealer and pion-based peers never disagree.
func TestIndexMatchesPionArbitrary(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	for range 20 {
		seqs := make([]uint16, 300)
		for i := range seqs {
			switch r.IntN(3) {
			case 0:
				seqs[i] = uint16(r.Uint32())
			case 1: // near the halfway boundaries
				if i > 0 {
					seqs[i] = seqs[i-1] + 1<<15 + uint16(r.IntN(5)) - 2
				}
			default:
				if i > 0 {
					seqs[i] = seqs[i-1] + uint16(r.IntN(3))
				}
			}
		}
		indexMatchesPion(t, seqs)
	}
}

// FuzzIndexMatchesPion reads the input as big-endian sequence numbers.
func FuzzIndexMatchesPion(f *testing.F) {
	f.Add([]byte{0xff, 0xfe, 0xff, 0xff, 0, 0, 0, 1, 0xff, 0xff})
	f.Add([]byte{0, 100, 0x9c, 0x40, 0x9c, 0x41, 0, 100})
	f.Add([]byte{0x80, 0, 0, 0, 0x80, 0, 0xff, 0xff, 0x7f, 0xff})
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) > 512 {
			return
		}
		seqs := make([]uint16, len(data)/2)
		for i := range seqs {
			seqs[i] = binary.BigEndian.Uint16(data[2*i:])
		}
		indexMatchesPion(t, seqs)
	})
}

func TestIndexAllocs(t *testing.T) {
	var x Index
	seq := uint16(0)
	if n := testing.AllocsPerRun(1000, func() { seq += 97; x.Next(seq) }); n != 0 {
		t.Errorf("Index.Next allocates %.1f times per call, want 0", n)
	}
}
