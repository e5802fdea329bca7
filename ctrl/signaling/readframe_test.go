package signaling

import (
	"bytes"
	"errors"
	"io"
	"strings"
	"testing"
	"testing/iotest"
)

// readFrame returns the whole frame at its own size, nil past the limit,
// and the reader's error; the pooled buffer it read into is not shared
// with what it returns.
func TestReadFrame(t *testing.T) {
	big := strings.Repeat("x", 3*readBufSize+5)
	for _, tc := range []struct {
		name    string
		frame   string
		limit   int64
		want    string
		tooBig  bool
		wantErr error
	}{
		{name: "empty", frame: "", limit: 10, want: ""},
		{name: "small", frame: `{"type":"pong"}`, limit: 100, want: `{"type":"pong"}`},
		{name: "exactly the limit", frame: "12345", limit: 5, want: "12345"},
		{name: "one past the limit", frame: "123456", limit: 5, tooBig: true},
		{name: "larger than the pooled buffer", frame: big, limit: 1 << 20, want: big},
		{name: "far past the limit", frame: big, limit: readBufSize, tooBig: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for _, r := range []io.Reader{strings.NewReader(tc.frame), iotest.HalfReader(strings.NewReader(tc.frame))} {
				got, err := readFrame(r, tc.limit)
				switch {
				case err != nil:
					t.Fatalf("readFrame = %v", err)
				case tc.tooBig:
					if got != nil {
						t.Fatalf("readFrame = %d bytes, want nil past the limit %d", len(got), tc.limit)
					}
				case got == nil || string(got) != tc.want || cap(got) > len(got)+len(got)/8+64:
					t.Fatalf("readFrame = %d bytes (cap %d), want %d", len(got), cap(got), len(tc.want))
				}
			}
		})
	}
	a, _ := readFrame(strings.NewReader("first"), 100)
	b, _ := readFrame(strings.NewReader("other"), 100)
	if string(a) != "first" || bytes.Equal(a, b) {
		t.Fatalf("a frame changed when the next was read: %q, %q", a, b)
	}
	boom := errors.New("boom")
	if _, err := readFrame(iotest.ErrReader(boom), 100); !errors.Is(err, boom) {
		t.Fatalf("readFrame on a failing reader = %v, want %v", err, boom)
	}
}
