package uastats

import (
	"bytes"
	"compress/flate"
	"fmt"
	"io"
	"sync"
)

// A kept report is its compact JSON deflated (RFC 1951) at
// flate.BestSpeed: an RTC stats report repeats the same member names in
// every object, so it shrinks 5-12 times (8 kB of a pion client to 1.5 kB,
// 40 kB of a browser in a larger room to 3 kB) for about 40 µs of CPU per
// report on top of the scan. It is inflated only when the API reads it.
//
// A flate.Writer costs about 600 kB, so a Store has one, reused under its
// own mutex (not the Store's: readers do not wait for it): a sync.Pool
// would keep one per P and more between GCs (tens of MB on a large
// machine) and let a GC drop them, to be made again at 600 kB each. At a
// report per client every 5 s, one compressor busy 50 µs per report
// serves thousands of clients; the scan before it runs unlocked. The
// readers (about 40 kB each, used only by the API) are pooled.

// packer compresses reports, one at a time.
type packer struct {
	mu    sync.Mutex
	zw    *flate.Writer // made on first use
	out   bytes.Buffer  // the deflated report, copied out at its size
	strip []byte        // the report without its white space, when it had some
}

// maxKeptScratch: a scratch buffer grown past this by a large report is
// let go after use.
const maxKeptScratch = 128 << 10

// deflate returns the valid JSON text b, without the white space outside
// its strings when space (scanJSON's count) is not 0, deflated, in a new
// slice of exactly its size, and the length of the compact text.
func (p *packer) deflate(b []byte, space int) (z []byte, size int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if space > 0 {
		p.strip = stripWhiteSpace(p.strip[:0], b)
		b = p.strip
	}
	p.out.Reset()
	if p.zw == nil {
		zw, err := flate.NewWriter(&p.out, flate.BestSpeed)
		if err != nil {
			panic(err) // only for a bad level
		}
		p.zw = zw
	} else {
		p.zw.Reset(&p.out)
	}
	// Writing to a bytes.Buffer cannot fail.
	_, _ = p.zw.Write(b)
	_ = p.zw.Close()
	z, size = bytes.Clone(p.out.Bytes()), len(b)
	if cap(p.strip) > maxKeptScratch {
		p.strip = nil
	}
	if p.out.Cap() > maxKeptScratch {
		p.out = bytes.Buffer{}
	}
	return z, size
}

// unpacker is the state of one decompression, pooled.
type unpacker struct {
	zr  io.ReadCloser // a flate reader; it implements flate.Resetter
	src bytes.Reader
}

var unpackers = sync.Pool{New: func() any {
	u := &unpacker{}
	u.zr = flate.NewReader(&u.src)
	return u
}}

// inflate returns the size bytes that deflate made z of, in a new slice.
// The Store made z itself, so a failure is a bug in this package.
func inflate(z []byte, size int) []byte {
	u := unpackers.Get().(*unpacker)
	defer unpackers.Put(u)
	u.src.Reset(z)
	if err := u.zr.(flate.Resetter).Reset(&u.src, nil); err != nil {
		panic(fmt.Sprintf("uastats: resetting a flate reader: %v", err))
	}
	out := make([]byte, size)
	n, err := io.ReadFull(u.zr, out)
	if err == nil {
		// The stream must end exactly here.
		var one [1]byte
		if m, err2 := u.zr.Read(one[:]); m != 0 || err2 != io.EOF {
			err = fmt.Errorf("more than %d bytes (%v)", size, err2)
		}
	}
	u.src.Reset(nil)
	if err != nil {
		panic(fmt.Sprintf("uastats: a kept report does not inflate to its %d bytes (got %d): %v", size, n, err))
	}
	return out
}
