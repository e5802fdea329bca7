package room

import (
	"bytes"
	"compress/flate"
	"compress/zlib"
	"errors"
	"strings"
	"testing"
)

func zlibLevel(t testing.TB, b []byte, level int) []byte {
	t.Helper()
	var out bytes.Buffer
	w, err := zlib.NewWriterLevel(&out, level)
	if err != nil {
		t.Fatal(err)
	}
	w.Write(b)
	w.Close()
	return out.Bytes()
}

func TestInflate(t *testing.T) {
	text := []byte(strings.Repeat("hayate ", 1000))
	good := zlibLevel(t, text, zlib.DefaultCompression)
	bomb := zlibLevel(t, make([]byte, 8<<20), flate.BestCompression) // 8 MiB of zeros in ~8 kB
	badSum := bytes.Clone(good)
	badSum[len(badSum)-1] ^= 0xff
	cases := []struct {
		name  string
		in    []byte
		limit int
		want  []byte
		err   error
	}{
		{"round trip", good, 1 << 20, text, nil},
		{"exactly the limit", good, len(text), text, nil},
		{"one byte over", good, len(text) - 1, nil, errTooLarge},
		{"zip bomb", bomb, 262144, nil, errTooLarge},
		{"empty content", zlibLevel(t, nil, 1), 10, []byte{}, nil},
		{"raw deflate (no zlib header)", text[:10], 1 << 20, nil, errCorrupt},
		{"empty input", nil, 1 << 20, nil, errCorrupt},
		{"truncated", good[:len(good)/2], 1 << 20, nil, errCorrupt},
		{"checksum mismatch", badSum, 1 << 20, nil, errCorrupt},
		{"preset dictionary", append([]byte{0x78, 0xbb}, 0, 0, 0, 1, 0x03, 0x00), 1 << 20, nil, errCorrupt},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			out, err := inflate([]byte("prefix"), tc.in, tc.limit)
			if !errors.Is(err, tc.err) {
				t.Fatalf("err = %v, want %v", err, tc.err)
			}
			if !bytes.HasPrefix(out, []byte("prefix")) {
				t.Errorf("dst's content was lost")
			}
			if tc.err == nil && !bytes.Equal(out[len("prefix"):], tc.want) {
				t.Errorf("got %d bytes, want %d", len(out)-len("prefix"), len(tc.want))
			}
			if errors.Is(tc.err, errTooLarge) && len(out) > len("prefix")+tc.limit+64<<10 {
				t.Errorf("inflated %d bytes for a limit of %d: the bound is not applied early", len(out), tc.limit)
			}
		})
	}
}

// TestDeflateRoundTrip: deflate writes a zlib stream that the standard
// reader (as a browser's DecompressionStream("deflate")) reads back, also
// when the pooled writer is reused.
func TestDeflateRoundTrip(t *testing.T) {
	for _, s := range []string{"", "x", strings.Repeat("abc", 100000), "again"} {
		z := deflate([]byte("keep"), []byte(s))
		if !bytes.HasPrefix(z, []byte("keep")) {
			t.Fatal("dst's content was lost")
		}
		r, err := zlib.NewReader(bytes.NewReader(z[4:]))
		if err != nil {
			t.Fatal(err)
		}
		var out bytes.Buffer
		if _, err := out.ReadFrom(r); err != nil {
			t.Fatal(err)
		}
		if out.String() != s {
			t.Errorf("round trip of %d bytes gave %d", len(s), out.Len())
		}
	}
}

func TestInflateDeflateAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("sync.Pool drops items under -race")
	}
	msg := []byte(strings.Repeat("a message of a kilobyte ", 43))
	z := deflate(nil, msg)
	buf := make([]byte, 0, 4096)
	inflate(buf, z, 4096) // warm the pool
	if n := testing.AllocsPerRun(100, func() {
		if _, err := inflate(buf[:0], z, 4096); err != nil {
			t.Fatal(err)
		}
	}); n != 0 {
		t.Errorf("inflate allocates %v times per message", n)
	}
	if n := testing.AllocsPerRun(100, func() { buf = deflate(buf[:0], msg) }); n != 0 {
		t.Errorf("deflate allocates %v times per message", n)
	}
}

// FuzzInflate: no input panics, the limit always holds, and what inflate
// accepts is what the standard library reads.
func FuzzInflate(f *testing.F) {
	f.Add(zlibLevel(f, []byte("hello"), 1), 16)
	f.Add(zlibLevel(f, make([]byte, 1<<16), 9), 1024)
	f.Add([]byte{0x78, 0x9c}, 10)
	f.Add([]byte("{\"type\":\"re-answer\"}"), 100)
	f.Fuzz(func(t *testing.T, in []byte, limit int) {
		if limit < 0 || limit > 1<<20 {
			return
		}
		out, err := inflate(nil, in, limit)
		if err != nil {
			if !errors.Is(err, errTooLarge) && !errors.Is(err, errCorrupt) {
				t.Fatalf("unexpected error %v", err)
			}
			return
		}
		if len(out) > limit {
			t.Fatalf("%d bytes out for limit %d", len(out), limit)
		}
		r, err := zlib.NewReader(bytes.NewReader(in))
		if err != nil {
			t.Fatalf("inflate accepted what zlib refuses: %v", err)
		}
		var want bytes.Buffer
		if _, err := want.ReadFrom(r); err != nil {
			t.Fatalf("inflate accepted what zlib refuses: %v", err)
		}
		if !bytes.Equal(out, want.Bytes()) {
			t.Fatal("inflate and zlib disagree")
		}
	})
}
