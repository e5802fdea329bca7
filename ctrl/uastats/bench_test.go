package uastats

import (
	"bytes"
	"encoding/json"
	"os"
	"testing"
)

// Reports a load client sent (pion's GetStats through json.Marshal, as
// compact as a browser's JSON.stringify): 8 KB is one connection's, 40 KB
// the size of a browser's report in a room with a few dozen tracks.
func loadReport(tb testing.TB, name string) []byte {
	tb.Helper()
	b, err := os.ReadFile("testdata/" + name)
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

func indented(tb testing.TB, b []byte) []byte {
	tb.Helper()
	var out bytes.Buffer
	if err := json.Indent(&out, b, "", "  "); err != nil {
		tb.Fatal(err)
	}
	return out.Bytes()
}

func BenchmarkRecord(b *testing.B) {
	r8, r40 := loadReport(b, "report-8k.json"), loadReport(b, "report-40k.json")
	for _, bc := range []struct {
		name   string
		report []byte
	}{
		{"8k-compact", r8}, {"40k-compact", r40}, {"8k-indented", indented(b, r8)},
	} {
		b.Run(bc.name, func(b *testing.B) {
			s := newStore(b, 1<<20)
			info := ConnInfo{ChannelID: "sora", ConnectionID: "C1"}
			b.SetBytes(int64(len(bc.report)))
			b.ReportAllocs()
			for b.Loop() {
				if err := s.Record(info, bc.report, t0); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(s.KeptBytes()), "kept-B")
		})
	}
}

// BenchmarkGet: what the API pays per report it reads (inflating it).
func BenchmarkGet(b *testing.B) {
	for _, name := range []string{"report-8k.json", "report-40k.json"} {
		b.Run(name, func(b *testing.B) {
			s := newStore(b, 1<<20)
			if err := s.Record(ConnInfo{ConnectionID: "C1"}, loadReport(b, name), t0); err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			for b.Loop() {
				if _, ok := s.Get("C1"); !ok {
					b.Fatal("no report")
				}
			}
		})
	}
}
