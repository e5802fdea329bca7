package uastats

import (
	"fmt"
	"sync"

	"github.com/golang/snappy"
)

// A kept report is its compact JSON in Snappy's block format: an RTC stats
// report repeats the same member names in every object, so it shrinks about
// 4 (8 kB of a pion client to 2.1 kB) to 8 times (40 kB of a browser in a
// larger room to 4.8 kB) for 5-15 µs of CPU per report on top of the scan.
// It is decoded only when the API reads it.
//
// Deflate (compress/flate at BestSpeed) keeps a quarter less but costs six
// times the CPU, and its 600 kB of compressor state is cold by the time the
// next report arrives, 5 s later: in a server it cost 250 µs per report and
// a fifth of the CPU of an idle one (BenchmarkRecord, and hayate load's idle
// figure; README, Performance). Snappy's encoder keeps its 16-32 kB table
// on the stack.

// packer compresses reports, one at a time, into scratch of its own.
type packer struct {
	mu    sync.Mutex
	out   []byte // the encoded report, copied out at its size
	strip []byte // the report without its white space, when it had some
}

// maxKeptScratch: a scratch buffer grown past this by a large report is
// let go after use.
const maxKeptScratch = 128 << 10

// pack returns the valid JSON text b, without the white space outside its
// strings when space (scanJSON's count) is not 0, Snappy-encoded in a new
// slice of exactly its size, and the length of the compact text.
func (p *packer) pack(b []byte, space int) (z []byte, size int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if space > 0 {
		p.strip = stripWhiteSpace(p.strip[:0], b)
		b = p.strip
	}
	if n := snappy.MaxEncodedLen(len(b)); cap(p.out) < n {
		p.out = make([]byte, n)
	}
	enc := snappy.Encode(p.out[:cap(p.out)], b)
	z = make([]byte, len(enc))
	copy(z, enc)
	size = len(b)
	if cap(p.strip) > maxKeptScratch {
		p.strip = nil
	}
	if cap(p.out) > maxKeptScratch {
		p.out = nil
	}
	return z, size
}

// unpack returns the size bytes that pack made z of, in a new slice. The
// Store made z itself, so a failure is a bug in this package.
func unpack(z []byte, size int) []byte {
	n, err := snappy.DecodedLen(z)
	if err == nil && n != size {
		err = fmt.Errorf("it holds %d bytes", n)
	}
	out := make([]byte, size)
	if err == nil {
		var got []byte
		got, err = snappy.Decode(out, z)
		if err == nil && (len(got) != size || &got[0] != &out[0]) {
			err = fmt.Errorf("decoded %d bytes elsewhere", len(got))
		}
	}
	if err != nil {
		panic(fmt.Sprintf("uastats: a kept report does not decode to its %d bytes: %v", size, err))
	}
	return out
}
