package room

import (
	"bytes"
	"compress/flate"
	"compress/zlib"
	"encoding/binary"
	"fmt"
	"hash/adler32"
	"io"
	"slices"
	"sync"
)

// DataChannel messages on a label with compress: true are one zlib stream
// each (RFC 1950: what the browsers' CompressionStream("deflate") writes).
// The zlib readers and writers are pooled: a message costs no new
// compressor state once the pools are warm.

// bufPool holds message buffers for decompression and for the forms of a
// fanned-out message.
var bufPool = sync.Pool{New: func() any { b := make([]byte, 0, 4096); return &b }}

func getBuf() *[]byte { return bufPool.Get().(*[]byte) }

// putBuf returns a buffer; very large ones are dropped so that one big
// message does not pin its memory in the pool.
func putBuf(b *[]byte) {
	if cap(*b) > 1<<20 {
		return
	}
	*b = (*b)[:0]
	bufPool.Put(b)
}

// inflater is a pooled raw-deflate reader over a bytes.Reader. The zlib
// framing (RFC 1950 §2.2: two header bytes, the deflate data, an Adler-32
// of the content) is checked here rather than by compress/zlib, whose
// Reset allocates a checksum state per stream.
type inflater struct {
	src bytes.Reader
	fr  io.ReadCloser // also a flate.Resetter
	sum [4]byte
}

var inflaters sync.Pool

// inflate appends the decompressed content of the zlib stream src to dst.
// It stops and fails with errTooLarge as soon as the output would pass
// limit bytes (a small stream may expand a thousandfold), and with
// errCorrupt when src is not one valid zlib stream (bad header, preset
// dictionary, bad data, truncated, checksum mismatch). Bytes after the
// stream are ignored.
func inflate(dst, src []byte, limit int) ([]byte, error) {
	if len(src) < 2 {
		return dst, fmt.Errorf("%w: %d bytes", errCorrupt, len(src))
	}
	cmf, flg := src[0], src[1]
	switch {
	case cmf&0x0f != 8 || cmf>>4 > 7 || (uint16(cmf)<<8|uint16(flg))%31 != 0:
		return dst, fmt.Errorf("%w: header %02x%02x", errCorrupt, cmf, flg)
	case flg&0x20 != 0:
		return dst, fmt.Errorf("%w: preset dictionary", errCorrupt)
	}
	in, _ := inflaters.Get().(*inflater)
	if in == nil {
		in = &inflater{}
	}
	defer inflaters.Put(in)
	in.src.Reset(src[2:])
	if in.fr == nil {
		in.fr = flate.NewReader(&in.src)
	} else if err := in.fr.(flate.Resetter).Reset(&in.src, nil); err != nil {
		return dst, fmt.Errorf("%w: %w", errCorrupt, err)
	}
	start := len(dst)
	for {
		if len(dst) == cap(dst) {
			if len(dst)-start > limit {
				return dst, errTooLarge
			}
			grow := cap(dst) - start
			if grow < 4096 {
				grow = 4096
			}
			if room := limit + 1 - (len(dst) - start); grow > room {
				grow = room
			}
			dst = slices.Grow(dst, grow)
		}
		n, rerr := in.fr.Read(dst[len(dst):cap(dst)])
		dst = dst[:len(dst)+n]
		if len(dst)-start > limit {
			return dst, errTooLarge
		}
		if rerr == io.EOF {
			break
		}
		if rerr != nil {
			return dst, fmt.Errorf("%w: %w", errCorrupt, rerr)
		}
	}
	// flate reads its input byte by byte through io.ByteReader, so the
	// checksum is what is left in src.
	if n, _ := in.src.Read(in.sum[:]); n != 4 {
		return dst, fmt.Errorf("%w: no checksum", errCorrupt)
	}
	if binary.BigEndian.Uint32(in.sum[:]) != adler32.Checksum(dst[start:]) {
		return dst, fmt.Errorf("%w: checksum mismatch", errCorrupt)
	}
	return dst, nil
}

// appendWriter is an io.Writer that appends to a slice.
type appendWriter struct{ b []byte }

func (w *appendWriter) Write(p []byte) (int, error) {
	w.b = append(w.b, p...)
	return len(p), nil
}

type deflater struct {
	w  appendWriter
	zw *zlib.Writer
}

var deflaters = sync.Pool{New: func() any {
	d := &deflater{}
	// BestSpeed: the messages are small and fanned out on a control
	// goroutine; the ratio hardly differs at these sizes.
	d.zw, _ = zlib.NewWriterLevel(&d.w, flate.BestSpeed)
	return d
}}

// deflate appends src as one zlib stream to dst.
func deflate(dst, src []byte) []byte {
	d := deflaters.Get().(*deflater)
	d.w.b = dst
	d.zw.Reset(&d.w)
	_, _ = d.zw.Write(src) // an appendWriter does not fail
	_ = d.zw.Close()
	out := d.w.b
	d.w.b = nil
	deflaters.Put(d)
	return out
}
