package room

import (
	"strings"
	"testing"
)

func TestNewID(t *testing.T) {
	seen := map[string]bool{}
	for range 200 {
		id := NewID()
		if len(id) != IDLength || strings.Trim(id, idAlphabet) != "" {
			t.Fatalf("id %q is not 26 Crockford Base32 characters", id)
		}
		for _, bad := range "ILOU" {
			if strings.ContainsRune(id, bad) {
				t.Fatalf("id %q has %c", id, bad)
			}
		}
		u, ok := DecodeID(id)
		if !ok {
			t.Fatalf("id %q does not decode", id)
		}
		if u[6]>>4 != 4 || u[8]>>6 != 2 {
			t.Fatalf("id %q: version %d variant %b, want UUIDv4", id, u[6]>>4, u[8]>>6)
		}
		if seen[id] {
			t.Fatalf("duplicate id %q", id)
		}
		seen[id] = true
	}
}

// TestDecodeSoraID decodes a connection id issued by a real Sora
// (signaling.md §2): it is a UUIDv4, most significant bit first.
func TestDecodeSoraID(t *testing.T) {
	u, ok := DecodeID("WCJC78EWK935N7P7Z8FYAKFW9M")
	if !ok {
		t.Fatal("Sora's id does not decode")
	}
	if u[6]>>4 != 4 || u[8]>>6 != 2 {
		t.Errorf("version %d variant %b", u[6]>>4, u[8]>>6)
	}
	if EncodeID(u) != "WCJC78EWK935N7P7Z8FYAKFW9M" {
		t.Errorf("re-encoded as %s", EncodeID(u))
	}
}

func TestEncodeID(t *testing.T) {
	var zero, ones [16]byte
	for i := range ones {
		ones[i] = 0xff
	}
	if got := EncodeID(zero); got != strings.Repeat("0", 26) {
		t.Errorf("zero: %s", got)
	}
	// 128 one bits: 25 × 'Z' (11111) then 3 bits 111 padded with 00 = 11100 = 28 = 'W'.
	if got := EncodeID(ones); got != strings.Repeat("Z", 25)+"W" {
		t.Errorf("ones: %s", got)
	}
	for _, bad := range []string{"", "WCJC78EWK935N7P7Z8FYAKFW9", "WCJC78EWK935N7P7Z8FYAKFW9MX", "WCJC78EWK935N7P7Z8FYAKFW9U", "WCJC78EWK935N7P7Z8FYAKFW9N", "wcjc78ewk935n7p7z8fyakfw9m"} {
		if _, ok := DecodeID(bad); ok {
			t.Errorf("DecodeID(%q) accepted", bad)
		}
	}
}

func FuzzDecodeID(f *testing.F) {
	f.Add("WCJC78EWK935N7P7Z8FYAKFW9M")
	f.Add(strings.Repeat("Z", 26))
	f.Fuzz(func(t *testing.T, s string) {
		u, ok := DecodeID(s)
		if ok && EncodeID(u) != s {
			t.Fatalf("%q decodes but re-encodes as %q", s, EncodeID(u))
		}
	})
}
