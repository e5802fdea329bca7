package dataplane

import (
	"testing"

	"github.com/hayate-sfu/hayate/dataplane/secure"
	"github.com/pion/srtp/v3"
)

// appendLines names every cache line of the object once, whatever its
// alignment, and never more than the array holds.
func TestAppendLinesCoversObject(t *testing.T) {
	for _, c := range []struct {
		base, size uintptr
		lines      int
	}{
		{base: 0x1000, size: 64, lines: 1},
		{base: 0x1008, size: 64, lines: 2},
		{base: 0x1000, size: 272, lines: 5},
		{base: 0x1038, size: 272, lines: 6},
		{base: 0x1000, size: 8, lines: 1},
		{base: 0x103c, size: 8, lines: 2},
	} {
		var a [maxPrefetch]uintptr
		n := appendLines(&a, 0, c.base, c.size)
		seen := map[uintptr]bool{}
		for _, p := range a[:n] {
			if p < c.base || p >= c.base+c.size {
				t.Errorf("base %#x size %d: address %#x outside the object", c.base, c.size, p)
			}
			if seen[p/lineSize] {
				t.Errorf("base %#x size %d: line %#x named twice", c.base, c.size, p/lineSize*lineSize)
			}
			seen[p/lineSize] = true
		}
		if n != c.lines {
			t.Errorf("base %#x size %d: %d lines, want %d", c.base, c.size, n, c.lines)
		}
	}
	var a [maxPrefetch]uintptr
	if n := appendLines(&a, maxPrefetch-2, 0x2000, 1024); n != maxPrefetch {
		t.Errorf("appendLines past the array: n = %d, want %d", n, maxPrefetch)
	}
}

// prefetchAhead runs on every packet of the fan-out: it must not allocate.
func TestPrefetchAheadDoesNotAllocate(t *testing.T) {
	seal, err := secure.NewSealer(srtp.ProtectionProfileAeadAes128Gcm, make([]byte, 16), make([]byte, 12))
	if err != nil {
		t.Fatal(err)
	}
	downs := make([]*downTrack, 8)
	for i := range downs {
		downs[i] = &downTrack{owner: &transport{}}
		downs[i].owner.ls.seal = seal // every stage, the key lines included, runs
	}
	if allocs := testing.AllocsPerRun(100, func() {
		for i := range downs {
			prefetchAhead(downs, i)
		}
	}); allocs != 0 {
		t.Fatalf("prefetchAhead allocates %.1f times per fan-out", allocs)
	}
}
