package secure

import (
	"crypto/aes"
	"crypto/cipher"
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/pion/srtp/v3"
)

// TagLen is the number of bytes Seal appends after the payload: the GCM
// authentication tag (RFC 7714 §8, both profiles use a 16-byte tag).
const TagLen = 16

const (
	nonceLen = 12 // RFC 7714 §8.1
	saltLen  = 12 // session salt length of the GCM profiles

	// Key derivation labels, RFC 3711 §4.3.1 (and §4.3.2 for the PRF input).
	labelSRTPKey   = 0x00
	labelSRTPSalt  = 0x02
	labelSRTCPKey  = 0x03
	labelSRTCPSalt = 0x05
)

var (
	// ErrProfileNotAEAD is returned by NewSealer for a protection profile
	// other than AEAD_AES_128_GCM and AEAD_AES_256_GCM; the caller keeps
	// pion's srtp.Context for those.
	ErrProfileNotAEAD = errors.New("secure: protection profile is not an AES-GCM profile")
	// ErrKeyLength is returned by NewSealer when the master key length does
	// not match the profile (16 bytes for AES-128-GCM, 32 for AES-256-GCM).
	ErrKeyLength = errors.New("secure: master key length does not match the profile")
	// ErrSaltLength is returned by NewSealer when the master salt is not 12
	// bytes long.
	ErrSaltLength = errors.New("secure: master salt length does not match the profile")
)

// Sealer encrypts the outgoing RTP (Seal) and RTCP (SealRTCP) packets of
// one SRTP session (one master key and salt) with AES-GCM. It keeps no
// per-SSRC state: the caller passes the SSRC, sequence number and rollover
// counter (see Index) with each RTP packet, and the SRTCP index (see
// RTCPIndex) with each RTCP packet.
//
// A Sealer must be used by one goroutine at a time (the loop that owns the
// transport); Seal and SealRTCP write into nonce and AAD scratch held here.
type Sealer struct {
	aead cipher.AEAD // SRTP session key
	salt [saltLen]byte
	// nonce is the per-call scratch. Bytes 0 and 1 are the salt's (the IV's
	// leading zero octets XOR salt) and are written once by NewSealer.
	nonce [nonceLen]byte

	rtcpAEAD cipher.AEAD // SRTCP session key
	rtcpSalt [saltLen]byte
	// rtcpNonce is SealRTCP's scratch; bytes 0, 1, 6 and 7 (zero octets
	// of the IV, XOR salt) are written once by NewSealer.
	rtcpNonce [nonceLen]byte
	// rtcpAAD is SealRTCP's scratch for the associated data: the first 8
	// bytes of the packet and the E|SRTCP index word (RFC 7714 §9).
	rtcpAAD [rtcpHeaderLen + rtcpIndexLen]byte
}

// NewSealer derives the SRTP and SRTCP session keys and salts for profile
// from the DTLS exported master key and salt and returns a Sealer for them.
// profile must be srtp.ProtectionProfileAeadAes128Gcm (16-byte key) or
// srtp.ProtectionProfileAeadAes256Gcm (32-byte key); the salt is 12 bytes in
// both cases.
func NewSealer(profile srtp.ProtectionProfile, masterKey, masterSalt []byte) (*Sealer, error) {
	var keyLen int
	switch profile {
	case srtp.ProtectionProfileAeadAes128Gcm:
		keyLen = 16
	case srtp.ProtectionProfileAeadAes256Gcm:
		keyLen = 32
	default:
		return nil, fmt.Errorf("%w: %s (%#04x)", ErrProfileNotAEAD, profile, uint16(profile))
	}
	if len(masterKey) != keyLen {
		return nil, fmt.Errorf("%w: %s needs a %d-byte master key, got %d bytes",
			ErrKeyLength, profile, keyLen, len(masterKey))
	}
	if len(masterSalt) != saltLen {
		return nil, fmt.Errorf("%w: %s needs a %d-byte master salt, got %d bytes",
			ErrSaltLength, profile, saltLen, len(masterSalt))
	}

	prf, err := aes.NewCipher(masterKey)
	if err != nil {
		return nil, fmt.Errorf("secure: master key: %w", err)
	}
	s := &Sealer{}
	if s.aead, err = sessionAEAD(prf, labelSRTPKey, masterSalt, keyLen); err != nil {
		return nil, err
	}
	if s.rtcpAEAD, err = sessionAEAD(prf, labelSRTCPKey, masterSalt, keyLen); err != nil {
		return nil, err
	}
	deriveKey(prf, labelSRTPSalt, masterSalt, s.salt[:])
	deriveKey(prf, labelSRTCPSalt, masterSalt, s.rtcpSalt[:])
	s.fixNonces()
	return s, nil
}

// fixNonces writes the nonce bytes that depend on the session salts only:
// the IV's zero octets XOR salt (RFC 7714 §8.1, §9.1).
func (s *Sealer) fixNonces() {
	s.nonce[0], s.nonce[1] = s.salt[0], s.salt[1]
	copy(s.rtcpNonce[:2], s.rtcpSalt[:2])
	copy(s.rtcpNonce[6:8], s.rtcpSalt[6:8])
}

// sessionAEAD derives the keyLen-byte session key of label and returns
// AES-GCM under it; the key bytes are cleared once the cipher holds them.
func sessionAEAD(prf cipher.Block, label byte, masterSalt []byte, keyLen int) (cipher.AEAD, error) {
	var sessionKey [32]byte
	deriveKey(prf, label, masterSalt, sessionKey[:keyLen])
	block, err := aes.NewCipher(sessionKey[:keyLen])
	clear(sessionKey[:])
	if err != nil {
		return nil, fmt.Errorf("secure: session key (label %#02x): %w", label, err)
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, fmt.Errorf("secure: %w", err)
	}
	return aead, nil
}

// deriveKey fills out with the AES-CM PRF output of RFC 3711 §4.3.3 for
// label, with a key derivation rate of zero (so the "index DIV kdr" part of
// the key id is zero): the PRF input x is the master salt, at most 14 bytes
// and zero-padded on the right to 14, with label XORed into its byte 7 (the
// key id is label || 48 zero bits, aligned to the salt's last byte); the
// keystream is AES over x || 16-bit block counter.
func deriveKey(prf cipher.Block, label byte, masterSalt []byte, out []byte) {
	var in, block [aes.BlockSize]byte
	copy(in[:14], masterSalt)
	in[7] ^= label
	for i, n := 0, 0; n < len(out); i++ {
		binary.BigEndian.PutUint16(in[14:], uint16(i))
		prf.Encrypt(block[:], in[:])
		n += copy(out[n:], block[:])
	}
}

// Seal encrypts one RTP packet and returns dst[:len(hdr)+len(payload)+TagLen]:
// the header in clear, the encrypted payload, the GCM tag. The bytes are
// those of SRTP packet index roc<<16 | seq for ssrc (RFC 3711 §3.3.1); ssrc
// and seq must be the values written in hdr, and roc comes from the Index of
// that SSRC.
//
// hdr is the complete RTP header (fixed part, CSRCs, extension), normally
// dst[:len(hdr)] itself: the caller writes the rewritten header into the
// egress buffer and passes that prefix. If hdr is another slice it is copied
// to dst first.
//
// payload is the plaintext payload (padding included, if the P bit is set).
// It is either in another buffer, which Seal only reads (the publisher's
// shared decrypted packet), or exactly dst[len(hdr):len(hdr)+len(payload)],
// which Seal encrypts in place. Any other overlap with the output region
// makes crypto/cipher panic.
//
// dst needs a capacity of len(hdr)+len(payload)+TagLen; with less, Seal
// allocates a new buffer (and the packet is sealed there, correctly but at
// the cost of an allocation). Seal does not allocate otherwise.
func (s *Sealer) Seal(dst, hdr, payload []byte, ssrc uint32, seq uint16, roc uint32) []byte {
	n := len(hdr)
	total := n + len(payload) + TagLen
	if cap(dst) < total {
		grown := make([]byte, total)
		copy(grown, hdr)
		dst = grown
	} else {
		dst = dst[:total]
		if n > 0 && &dst[0] != &hdr[0] {
			copy(dst, hdr)
		}
	}

	// IV = (00 00 | SSRC | ROC | SEQ) XOR session salt, RFC 7714 §8.1.
	// Bytes 0 and 1 were set by NewSealer.
	nonce := &s.nonce
	binary.BigEndian.PutUint32(nonce[2:], ssrc^binary.BigEndian.Uint32(s.salt[2:]))
	binary.BigEndian.PutUint32(nonce[6:], roc^binary.BigEndian.Uint32(s.salt[6:]))
	binary.BigEndian.PutUint16(nonce[10:], seq^binary.BigEndian.Uint16(s.salt[10:]))

	// The AAD is the header (RFC 7714 §8.2); the ciphertext and tag go right
	// behind it, which is where dst[n:n] appends.
	s.aead.Seal(dst[n:n], nonce[:], payload, dst[:n])
	return dst
}
