package tcpmux

import (
	"bytes"
	"errors"
	"testing"
)

// FuzzDeframer checks, for any stream, any maximum and any chunking, that
// the Deframer yields the same payloads (and fails at the same frame) as a
// one-shot decode, and that the payloads re-encode to the consumed bytes.
func FuzzDeframer(f *testing.F) {
	// Seeds live in testdata/fuzz/FuzzDeframer; these cover the shapes too.
	f.Add([]byte{0, 3, 1, 2, 3, 0, 1, 9}, uint16(2048), uint8(1))
	f.Add([]byte{0, 0}, uint16(2048), uint8(0))
	f.Add([]byte{0xff, 0xff, 1}, uint16(100), uint8(3))
	f.Fuzz(func(t *testing.T, stream []byte, maxLen uint16, chunk uint8) {
		// Reference: a one-shot decode into payloads.
		ref := NewDeframer(int(maxLen))
		var want [][]byte
		var wantErr error
		data := stream
		for len(data) > 0 {
			pkt, rest, err := ref.Next(data)
			if err != nil {
				wantErr = err
				break
			}
			data = rest
			if pkt != nil {
				if len(pkt) == 0 || len(pkt) > max(int(maxLen), 1) {
					t.Fatalf("payload of %d bytes with max %d", len(pkt), maxLen)
				}
				want = append(want, append([]byte(nil), pkt...))
			}
		}
		if wantErr != nil && !errors.Is(wantErr, ErrFrameSize) {
			t.Fatalf("unexpected error %v", wantErr)
		}
		// Chunked: sizes cycle from chunk, so every cut pattern is reachable.
		d := NewDeframer(int(maxLen))
		var got [][]byte
		var gotErr error
		size := int(chunk)%17 + 1
	feed:
		for off := 0; off < len(stream); {
			end := min(off+size, len(stream))
			data := stream[off:end]
			off = end
			size = size%17 + 1
			for len(data) > 0 {
				pkt, rest, err := d.Next(data)
				if err != nil {
					gotErr = err
					break feed
				}
				data = rest
				if pkt != nil {
					got = append(got, append([]byte(nil), pkt...))
				}
			}
		}
		if (gotErr == nil) != (wantErr == nil) || len(got) != len(want) {
			t.Fatalf("chunked: %d payloads err %v; one-shot: %d payloads err %v", len(got), gotErr, len(want), wantErr)
		}
		var re []byte
		for i := range want {
			if !bytes.Equal(got[i], want[i]) {
				t.Fatalf("payload %d differs", i)
			}
			re = appendFrame(re, want[i])
		}
		if !bytes.HasPrefix(stream, re) {
			t.Fatalf("re-encoded payloads are not a prefix of the stream")
		}
		if wantErr == nil && len(re)+ref.Buffered() != len(stream) {
			t.Fatalf("consumed %d + buffered %d != %d", len(re), ref.Buffered(), len(stream))
		}
	})
}
