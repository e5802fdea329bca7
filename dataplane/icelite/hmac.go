package icelite

import (
	"crypto/sha1" //nolint:gosec // STUN's MESSAGE-INTEGRITY is HMAC-SHA1 (RFC 8489 §14.5)
	"hash"
)

// hmacSHA1 is HMAC-SHA1 (RFC 2104) over one reused SHA-1 state, rekeyed for
// every message: the Responder serves every transport of its loop, each with
// its own password, and crypto/hmac fixes the key at construction. All its
// buffers are fields, so nothing escapes per call.
type hmacSHA1 struct {
	h   hash.Hash
	pad [sha1.BlockSize]byte // K ⊕ ipad, then K ⊕ opad
	key [sha1.Size]byte      // H(K) for keys longer than a block
	out [sha1.Size]byte      // the inner hash; Verify's result
	u16 [2]byte
}

// start begins a MAC keyed with key.
func (m *hmacSHA1) start(key []byte) {
	if m.h == nil {
		m.h = sha1.New()
	}
	if len(key) > sha1.BlockSize {
		m.h.Reset()
		m.h.Write(key)
		key = m.h.Sum(m.key[:0])
	}
	for i := range m.pad {
		var k byte
		if i < len(key) {
			k = key[i]
		}
		m.pad[i] = k ^ 0x36
	}
	m.h.Reset()
	m.h.Write(m.pad[:])
}

func (m *hmacSHA1) write(b []byte) { m.h.Write(b) }

func (m *hmacSHA1) writeUint16(v uint16) {
	m.u16[0], m.u16[1] = byte(v>>8), byte(v)
	m.h.Write(m.u16[:])
}

// finish appends the MAC to dst. dst may be m.out[:0].
func (m *hmacSHA1) finish(dst []byte) []byte {
	inner := m.h.Sum(m.out[:0])
	for i := range m.pad {
		m.pad[i] ^= 0x36 ^ 0x5c
	}
	m.h.Reset()
	m.h.Write(m.pad[:])
	m.h.Write(inner)
	return m.h.Sum(dst)
}
