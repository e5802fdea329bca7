package uastats

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
)

func TestScanJSON(t *testing.T) {
	for _, tc := range []struct {
		in      string
		space   int    // white space outside strings, when valid
		wantErr string // part of the error, "" when valid
	}{
		{in: `[]`},
		{in: ` [ ] `, space: 3},
		{in: "[\n\t1,\r\n2 ]", space: 5},
		{in: `[" a\tb ", "\" ", "\\", " \" x"]`, space: 3},
		{in: `[{"k y" : "v w" , "z":[ {} ]}]`, space: 6},
		{in: `[-0, 0.5, -1.25e+10, 3E-2, 1e999, 10]`, space: 5},
		{in: `[true,false,null]`},
		{in: `["\u00e9\ud800\/\b\f\n\r\t"]`},
		{in: `"just a string"`},
		{in: `[1,]`, wantErr: `invalid character ']' looking for the beginning of a value at offset 3`},
		{in: `[01]`, wantErr: `invalid character '1' after a value at offset 2`},
		{in: `[1.]`, wantErr: `after a decimal point at offset 3`},
		{in: `[1e]`, wantErr: `in an exponent at offset 3`},
		{in: `[-]`, wantErr: `in a number at offset 2`},
		{in: `[+1]`, wantErr: `looking for the beginning of a value at offset 1`},
		{in: `[tru]`, wantErr: `in literal true at offset 4`},
		{in: `[nul`, wantErr: `unexpected end`},
		{in: "[\"a\x01\"]", wantErr: `a control character`},
		{in: `["\q"]`, wantErr: `in a string escape at offset 3`},
		{in: `["\u12G4"]`, wantErr: `in a \u escape at offset 6`},
		{in: `["\u12`, wantErr: `unexpected end`},
		{in: `["abc`, wantErr: `unexpected end`},
		{in: `[1] [2]`, wantErr: `after the top-level value at offset 4`},
		{in: `[1}`, wantErr: `after a value at offset 2`},
		{in: `{"a" 1}`, wantErr: `after an object key at offset 5`},
		{in: `{1:2}`, wantErr: `beginning of an object key at offset 1`},
		{in: `{"a":1,}`, wantErr: `beginning of an object key at offset 7`},
		{in: `[[[`, wantErr: `unexpected end`},
		{in: ``, wantErr: `unexpected end`},
		{in: strings.Repeat("[", maxDepth+1), wantErr: `nested deeper than 10000`},
	} {
		space, err := scanJSON([]byte(tc.in))
		if tc.wantErr == "" {
			if err != nil || space != tc.space {
				t.Errorf("scanJSON(%q) = %d, %v; want %d white space bytes", tc.in, space, err, tc.space)
			}
		} else if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
			t.Errorf("scanJSON(%q) = %v; want an error with %q", tc.in, err, tc.wantErr)
		}
		if valid := err == nil; valid != json.Valid([]byte(tc.in)) {
			t.Errorf("scanJSON(%q) valid %v, encoding/json says %v", tc.in, valid, !valid)
		}
	}
}

// White space inside strings is the client's data; outside them it goes.
func TestStripWhiteSpace(t *testing.T) {
	in := " [ {\"a b\" :\t\" c\\\" d \" ,\n \"e\": [ 1 , \"\\\\\" ] } ]\r\n"
	want := `[{"a b":" c\" d ","e":[1,"\\"]}]`
	if got := stripWhiteSpace(nil, []byte(in)); string(got) != want {
		t.Fatalf("stripWhiteSpace(%q) = %s, want %s", in, got, want)
	}
	s := newStore(t, 0)
	if err := s.Record(ConnInfo{ConnectionID: "C1"}, []byte(in), t0); err != nil {
		t.Fatal(err)
	}
	if r, _ := s.Get("C1"); string(r.Stats) != want || cap(r.Stats) != len(want) {
		t.Fatalf("kept %s (cap %d), want %s", r.Stats, cap(r.Stats), want)
	}
}

// A real report is kept byte for byte as json.Compact would keep it, and
// checking it does not allocate.
func TestRecordRealReports(t *testing.T) {
	for _, name := range []string{"report-8k.json", "report-40k.json"} {
		compact := loadReport(t, name)
		for _, in := range [][]byte{compact, indented(t, compact)} {
			s := newStore(t, 1<<20)
			if err := s.Record(ConnInfo{ConnectionID: "C1"}, in, t0); err != nil {
				t.Fatalf("%s: %v", name, err)
			}
			var want bytes.Buffer
			if err := json.Compact(&want, in); err != nil {
				t.Fatal(err)
			}
			if r, _ := s.Get("C1"); !bytes.Equal(r.Stats, want.Bytes()) {
				t.Fatalf("%s: kept %d bytes, json.Compact makes %d", name, len(r.Stats), want.Len())
			}
			if n := testing.AllocsPerRun(10, func() { _, _ = scanJSON(in) }); n != 0 {
				t.Fatalf("scanJSON allocates %v times", n)
			}
		}
	}
}
