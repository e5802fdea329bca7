package uastats

import (
	"fmt"
	"sync"

	"github.com/pierrec/lz4/v4"
)

// A kept report is its compact JSON as one LZ4 block: an RTC stats report
// repeats the same member names in every object, so it shrinks about 4 (8 kB
// of a pion client to 2.1 kB) to 10 times (40 kB of a browser in a larger
// room to 3.8 kB) for 6-25 µs of CPU per report on top of the scan, warm or
// cold. It is decoded only when the API reads it.
//
// Deflate (compress/flate at BestSpeed) keeps a fifth less but costs five
// times the CPU, and its 600 kB of compressor state is cold by the time the
// next report arrives, 5 s later: in a server it cost over 200 µs per report
// and a fifth of the CPU of an idle one. Snappy is as fast, but its encoder
// keeps a 32 kB table on the caller's stack: every connection's goroutine
// that records a report would grow to a 64 kB stack. The LZ4 compressor's
// 136 kB table lives in the packer, one per Store.

// packer compresses reports, one at a time, with state and scratch of its
// own.
type packer struct {
	mu    sync.Mutex
	lz    *lz4.Compressor // made on first use
	out   []byte          // the encoded report, copied out at its size
	strip []byte          // the report without its white space, when it had some
}

// maxKeptScratch: a scratch buffer grown past this by a large report is
// let go after use.
const maxKeptScratch = 128 << 10

// pack returns the valid JSON text b, without the white space outside its
// strings when space (scanJSON's count) is not 0, as an LZ4 block in a new
// slice of exactly its size, and the length of the compact text.
func (p *packer) pack(b []byte, space int) (z []byte, size int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if space > 0 {
		p.strip = stripWhiteSpace(p.strip[:0], b)
		b = p.strip
	}
	if p.lz == nil {
		p.lz = new(lz4.Compressor)
	}
	if n := lz4.CompressBlockBound(len(b)); cap(p.out) < n {
		p.out = make([]byte, n)
	}
	n, err := p.lz.CompressBlock(b, p.out[:cap(p.out)])
	if err != nil || n == 0 {
		// Cannot happen with a destination of CompressBlockBound bytes.
		panic(fmt.Sprintf("uastats: LZ4 refused %d bytes into %d: %v", len(b), cap(p.out), err))
	}
	z = make([]byte, n)
	copy(z, p.out)
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
	out := make([]byte, size)
	n, err := lz4.UncompressBlock(z, out)
	if err == nil && n != size {
		err = fmt.Errorf("it holds %d bytes", n)
	}
	if err != nil {
		panic(fmt.Sprintf("uastats: a kept report does not decode to its %d bytes: %v", size, err))
	}
	return out
}
