package room

import (
	"crypto/rand"
	"strings"
)

// idAlphabet is Crockford's Base32 alphabet (Sora calls it "Clockwork"):
// digits and upper-case letters without I, L, O and U.
const idAlphabet = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"

// IDLength is the length of a connection or session id.
const IDLength = 26

// NewID returns a Sora-style id: the 16 bytes of a random UUIDv4 (RFC 9562
// §5.4) encoded in Crockford Base32, most significant bit first, 26
// characters whose last 2 bits are zero.
func NewID() string {
	var u [16]byte
	_, _ = rand.Read(u[:]) // crypto/rand.Read never fails (Go ≥ 1.24)
	u[6] = u[6]&0x0f | 0x40
	u[8] = u[8]&0x3f | 0x80
	return EncodeID(u)
}

// EncodeID encodes 16 bytes as 26 Crockford Base32 characters, most
// significant bit first, padding the last character with two zero bits.
func EncodeID(u [16]byte) string {
	var out [IDLength]byte
	var acc uint32
	bits := 0
	n := 0
	for _, b := range u {
		acc = acc<<8 | uint32(b)
		bits += 8
		for bits >= 5 {
			bits -= 5
			out[n] = idAlphabet[(acc>>uint(bits))&0x1f]
			n++
		}
	}
	out[n] = idAlphabet[(acc<<uint(5-bits))&0x1f] // bits == 3 here
	return string(out[:])
}

// DecodeID is the inverse of EncodeID. It reports false for anything that
// is not 26 alphabet characters with the last 2 bits zero.
func DecodeID(s string) ([16]byte, bool) {
	var u [16]byte
	if len(s) != IDLength {
		return u, false
	}
	var acc uint32
	bits, n := 0, 0
	for i := 0; i < len(s); i++ {
		v := strings.IndexByte(idAlphabet, s[i])
		if v < 0 {
			return u, false
		}
		acc = acc<<5 | uint32(v)
		bits += 5
		if bits >= 8 && n < 16 {
			bits -= 8
			u[n] = byte(acc >> uint(bits))
			n++
		}
	}
	if acc&((1<<uint(bits))-1) != 0 {
		return u, false
	}
	return u, true
}
