package secure

import "unsafe"

// gcmKeyLines are the offsets of the cache lines that sealing reads in the
// standard library's AES-GCM state (crypto/internal/fips140/aes/gcm.GCM on
// the platforms with assembly, Go 1.26): the expanded encryption key (from
// 0), the nonce and tag sizes and the 256-byte GHASH table (from 0x1e8).
// The decryption key between them is never read. Should the layout change,
// a prefetch of the wrong lines costs a hint, not correctness.
var gcmKeyLines = [...]uintptr{0, 64, 128, 192, 448, 512, 576, 640, 704}

// AppendKeyLines appends to dst, within its capacity, the addresses of the
// cache lines of the SRTP key state that Seal reads: the caller prefetches
// them before sealing for this session (the fan-out touches fifty of them
// per packet, each cold since the last video frame).
func (s *Sealer) AppendKeyLines(dst []uintptr) []uintptr {
	if cap(dst)-len(dst) < len(gcmKeyLines) {
		return dst
	}
	// The AEAD's dynamic value: the second word of the interface.
	g := (*[2]uintptr)(unsafe.Pointer(&s.aead))[1]
	for _, off := range gcmKeyLines {
		dst = append(dst, g+off)
	}
	return dst
}
