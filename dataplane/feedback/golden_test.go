package feedback

import (
	"encoding/hex"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/pion/rtcp"
)

// wordDump prints b as one 32-bit word per line, the way RTCP diagrams read.
func wordDump(b []byte) string {
	var s strings.Builder
	for i := 0; i < len(b); i += 4 {
		s.WriteString(hex.EncodeToString(b[i:min(i+4, len(b))]))
		s.WriteByte('\n')
	}
	return s.String()
}

// TestGoldenWireFormat pins the exact bytes the builders produce. Review the
// files under testdata/golden; regenerate with -update.
func TestGoldenWireFormat(t *testing.T) {
	var ss SenderStats
	ss.OnSent(90000, 1000, 0)
	rs := NewReceiverStats(0x0a0b0c0d, 90000)
	for _, seq := range []uint16{1, 2, 4} {
		rs.OnPacket(seq, uint32(seq)*3000, int64(seq)*33*ms)
	}
	rs.OnSenderReport(0x83aa7e80_00000000, 0)
	cases := []struct {
		name string
		b    []byte
	}{
		{"nack", AppendNACK(nil, 0x11111111, 0x22222222, []uint16{65535, 0, 2, 17, 100})},
		{"pli", AppendPLI(nil, 0x11111111, 0x22222222)},
		{"fir", AppendFIR(nil, 0x11111111, 0x22222222, 5)},
		{"remb", AppendREMB(nil, 0x11111111, 1_500_000, []uint32{0x22222222})},
		{"rr", AppendReceiverReport(nil, 0x11111111, []rtcp.ReceptionReport{rs.Report(500 * ms)})},
		{"sdes", AppendSDESCNAME(nil, 0x11111111, "hayate")},
		{"sr", ss.AppendSenderReport(nil, 0x33333333, 500*ms, 0x83aa7e80_80000000, 90000)},
	}
	for _, tc := range cases {
		path := filepath.Join("testdata", "golden", tc.name+".hex")
		got := wordDump(tc.b)
		if *updateCorpus {
			if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
				t.Fatal(err)
			}
			continue
		}
		want, err := os.ReadFile(path)
		if err != nil {
			t.Fatalf("%v (run with -update to create it)", err)
		}
		if got != string(want) {
			t.Errorf("%s: bytes differ from %s\ngot:\n%swant:\n%s", tc.name, path, got, want)
		}
	}
}
