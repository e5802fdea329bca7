package icelite

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"net/netip"

	"github.com/pion/stun/v4"
)

// Errors returned for requests that are dropped. They are sentinels, never
// wrapped, so that rejecting a datagram allocates nothing either.
var (
	// ErrMalformed is returned for bytes that are not one well-formed STUN
	// message (RFC 8489 §5–6: header, magic cookie, attribute lengths), and by
	// Verify and AppendSuccess when no request was parsed.
	ErrMalformed = errors.New("icelite: malformed STUN message")
	// ErrNotBindingRequest is returned for STUN messages other than a Binding request.
	ErrNotBindingRequest = errors.New("icelite: not a binding request")
	// ErrBadUsername is returned when USERNAME is missing or not "local:remote".
	ErrBadUsername = errors.New("icelite: bad USERNAME")
	// ErrIntegrity is returned when MESSAGE-INTEGRITY or FINGERPRINT are
	// missing, misplaced or wrong.
	ErrIntegrity = errors.New("icelite: integrity check failed")
	// ErrRoleConflict is returned when the peer claims the controlled role too.
	ErrRoleConflict = errors.New("icelite: peer is ICE-CONTROLLED, expected controlling")
	// ErrBadAddress is returned by AppendSuccess for an invalid source address.
	ErrBadAddress = errors.New("icelite: invalid source address")
)

const alphabet = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789+/"

func randomString(n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic(fmt.Sprintf("icelite: crypto/rand: %v", err))
	}
	for i := range b {
		b[i] = alphabet[int(b[i])%len(alphabet)]
	}
	return string(b)
}

// NewCredentials returns a fresh ufrag (16 chars) and pwd (32 chars) from the
// ice-char set of RFC 8839 §5.4 (ufrag ≥ 4, pwd ≥ 22 characters).
func NewCredentials() (ufrag, pwd string) {
	return randomString(16), randomString(32)
}

// STUN wire constants (RFC 8489 §5, §18; RFC 8445 §16.1).
const (
	headerSize     = 20
	attrHeaderSize = 4
	magicCookie    = 0x2112a442
	fingerprintXOR = 0x5354554e
	integritySize  = 20 // HMAC-SHA1

	typeBindingRequest = 0x0001
	typeBindingSuccess = 0x0101

	attrUsername                 = 0x0006
	attrMessageIntegrity         = 0x0008
	attrXORMappedAddress         = 0x0020
	attrUseCandidate             = 0x0025
	attrMessageIntegritySHA256   = 0x001c
	attrFingerprint              = 0x8028
	attrICEControlled            = 0x8029
	familyIPv4, familyIPv6       = 0x01, 0x02
	xorMappedIPv4, xorMappedIPv6 = 8, 20 // value sizes
)

var be = binary.BigEndian

// Request is an authenticated Binding request.
type Request struct {
	// RemoteUfrag is the peer's ufrag (USERNAME after the colon). It points
	// into the Responder and is valid until its next Parse or Decode.
	RemoteUfrag  []byte
	UseCandidate bool
}

// Responder parses and answers Binding requests. See the package doc. The
// zero value is ready to use; after its first request it allocates nothing.
type Responder struct {
	// msg is a copy of the last request (its STUN length; bytes past it are
	// dropped), kept so Verify and AppendSuccess need not borrow the caller's
	// buffer.
	msg []byte
	ok  bool // msg is a Binding request with a well-formed USERNAME

	// Offsets into msg, found by Decode.
	user, userEnd, colon int  // USERNAME value msg[user:userEnd], ':' at colon
	mi                   int  // MESSAGE-INTEGRITY attribute header (0: none)
	fp                   int  // FINGERPRINT attribute header, the last attribute (0: none or misplaced)
	useCandidate         bool // USE-CANDIDATE before the integrity
	controlled           bool // ICE-CONTROLLED before the integrity

	mac hmacSHA1
}

// Parse is Decode returning the local ufrag as a string (one allocation),
// for callers off the media loop.
func (r *Responder) Parse(b []byte) (localUfrag string, err error) {
	u, err := r.Decode(b)
	if err != nil {
		return "", err
	}
	return string(u), nil
}

// Decode parses b (a datagram classified as STUN) as a Binding request and
// returns the local ufrag named by its USERNAME ("local:remote"), for the
// caller's session lookup. b is copied; the returned slice points into r and
// is valid until the next Decode or Parse. Decode allocates nothing once r
// has seen a request as long as b.
//
// Attributes after MESSAGE-INTEGRITY (or MESSAGE-INTEGRITY-SHA256) other
// than FINGERPRINT are not covered by it and are ignored (RFC 8489 §14.5).
func (r *Responder) Decode(b []byte) (localUfrag []byte, err error) {
	r.ok = false
	if len(b) < headerSize || b[0]&0xc0 != 0 || be.Uint32(b[4:8]) != magicCookie {
		return nil, ErrMalformed
	}
	n := int(be.Uint16(b[2:4]))
	if n%4 != 0 || headerSize+n > len(b) {
		return nil, ErrMalformed
	}
	if be.Uint16(b[0:2]) != typeBindingRequest {
		return nil, ErrNotBindingRequest
	}
	r.msg = append(r.msg[:0], b[:headerSize+n]...)
	m := r.msg
	r.user, r.userEnd, r.colon, r.mi, r.fp = 0, 0, 0, 0, 0
	r.useCandidate, r.controlled = false, false
	covered := true // before MESSAGE-INTEGRITY(-SHA256)
	fpSeen := false
	for off := headerSize; off < len(m); {
		if len(m)-off < attrHeaderSize {
			return nil, ErrMalformed
		}
		typ, l := be.Uint16(m[off:]), int(be.Uint16(m[off+2:]))
		v := off + attrHeaderSize
		next := v + (l+3)&^3
		if next > len(m) {
			return nil, ErrMalformed
		}
		if fpSeen {
			r.fp = 0 // FINGERPRINT must be the last attribute
		}
		switch {
		case typ == attrFingerprint:
			if !fpSeen && l == 4 {
				r.fp = off
			}
			fpSeen = true
		case !covered:
		case typ == attrUsername:
			if r.userEnd == 0 {
				r.user, r.userEnd = v, v+l
			}
		case typ == attrUseCandidate:
			r.useCandidate = true
		case typ == attrICEControlled:
			r.controlled = true
		case typ == attrMessageIntegrity:
			r.mi = off
			covered = false
		case typ == attrMessageIntegritySHA256:
			covered = false
		}
		off = next
	}
	if r.userEnd == 0 {
		return nil, ErrBadUsername
	}
	r.colon = -1
	for i := r.user; i < r.userEnd; i++ {
		if m[i] == ':' {
			r.colon = i
			break
		}
	}
	if r.colon <= r.user || r.colon == r.userEnd-1 {
		return nil, ErrBadUsername
	}
	r.ok = true
	return m[r.user:r.colon], nil
}

// Verify checks the parsed request with the local password: MESSAGE-INTEGRITY
// (HMAC-SHA1 keyed with the server's pwd, RFC 8489 §14.5), then FINGERPRINT,
// which must be the last attribute (§14.7), then the peer's role. Both
// attributes are required (RFC 8445 §7.2.2). It allocates nothing once r has
// verified a request.
func (r *Responder) Verify(integrity stun.MessageIntegrity) (Request, error) {
	if !r.ok {
		return Request{}, ErrMalformed
	}
	m := r.msg
	if r.mi == 0 || r.fp == 0 || be.Uint16(m[r.mi+2:]) != integritySize {
		return Request{}, ErrIntegrity
	}
	// The HMAC covers the message up to MESSAGE-INTEGRITY, with a header
	// length that ends at MESSAGE-INTEGRITY's end.
	end := r.mi + attrHeaderSize + integritySize
	r.mac.start(integrity)
	r.mac.write(m[0:2])
	r.mac.writeUint16(uint16(end - headerSize))
	r.mac.write(m[4:r.mi])
	sum := r.mac.finish(r.mac.out[:0])
	if subtle.ConstantTimeCompare(sum, m[r.mi+attrHeaderSize:end]) != 1 {
		return Request{}, ErrIntegrity
	}
	if crc32.ChecksumIEEE(m[:r.fp])^fingerprintXOR != be.Uint32(m[r.fp+attrHeaderSize:]) {
		return Request{}, ErrIntegrity
	}
	if r.controlled {
		return Request{}, ErrRoleConflict
	}
	return Request{RemoteUfrag: m[r.colon+1 : r.userEnd], UseCandidate: r.useCandidate}, nil
}

// AppendSuccess appends to dst the Binding success response to the last
// parsed request, for a request that came from src: XOR-MAPPED-ADDRESS of
// src, MESSAGE-INTEGRITY keyed with integrity, FINGERPRINT. It builds the
// response in place and allocates nothing when dst has room for it (at most
// 80 bytes).
func (r *Responder) AppendSuccess(dst []byte, src netip.AddrPort, integrity stun.MessageIntegrity) ([]byte, error) {
	if !r.ok {
		return dst, ErrMalformed
	}
	ip := src.Addr().Unmap()
	if !ip.IsValid() {
		return dst, ErrBadAddress
	}
	addrLen := xorMappedIPv4
	if ip.Is6() {
		addrLen = xorMappedIPv6
	}
	start := len(dst)
	// Header; the length first covers up to MESSAGE-INTEGRITY (its HMAC input).
	dst = be.AppendUint16(dst, typeBindingSuccess)
	dst = be.AppendUint16(dst, uint16(attrHeaderSize+addrLen+attrHeaderSize+integritySize))
	dst = be.AppendUint32(dst, magicCookie)
	dst = append(dst, r.msg[8:headerSize]...) // transaction ID
	// XOR-MAPPED-ADDRESS (RFC 8489 §14.2): port and address XORed with the
	// magic cookie, IPv6 with the cookie and the transaction ID.
	dst = be.AppendUint16(dst, attrXORMappedAddress)
	dst = be.AppendUint16(dst, uint16(addrLen))
	if ip.Is4() {
		dst = be.AppendUint16(dst, familyIPv4)
	} else {
		dst = be.AppendUint16(dst, familyIPv6)
	}
	dst = be.AppendUint16(dst, src.Port()^magicCookie>>16)
	var x [16]byte // cookie ‖ transaction ID
	be.PutUint32(x[:4], magicCookie)
	copy(x[4:], r.msg[8:headerSize])
	a := ip.As16()
	for i, c := range a[16-(addrLen-4):] {
		dst = append(dst, c^x[i])
	}
	// MESSAGE-INTEGRITY.
	r.mac.start(integrity)
	r.mac.write(dst[start:])
	dst = be.AppendUint16(dst, attrMessageIntegrity)
	dst = be.AppendUint16(dst, integritySize)
	dst = r.mac.finish(dst)
	// FINGERPRINT, over the header with the final length.
	be.PutUint16(dst[start+2:], uint16(len(dst)-start-headerSize+attrHeaderSize+4))
	crc := crc32.ChecksumIEEE(dst[start:]) ^ fingerprintXOR
	dst = be.AppendUint16(dst, attrFingerprint)
	dst = be.AppendUint16(dst, 4)
	dst = be.AppendUint32(dst, crc)
	return dst, nil
}
