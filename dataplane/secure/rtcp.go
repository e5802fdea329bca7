package secure

import "encoding/binary"

const (
	// RTCPOverhead is the number of bytes SealRTCP appends to an RTCP
	// packet: the 16-byte GCM tag and the 4-byte E|SRTCP index word (RFC
	// 7714 §9.1 packet format, no MKI).
	RTCPOverhead = TagLen + rtcpIndexLen

	// MaxRTCPIndex is the largest SRTCP index: the index is 31 bits, the
	// 32nd bit of its word on the wire being the E flag (RFC 3711 §3.4).
	MaxRTCPIndex = 1<<31 - 1

	rtcpHeaderLen = 8 // RTCP header + sender SSRC, sent in clear (RFC 7714 §9.1)
	rtcpIndexLen  = 4 // E flag | 31-bit SRTCP index
	rtcpEFlag     = 1 << 31
)

// RTCPIndex is the sender's SRTCP index counter (RFC 3711 §3.4) for RTCP
// sealed with one Sealer. The zero value has sent nothing.
//
// Next numbers packets 1, 2, 3, ... as pion's srtp.Context does (its
// counter starts at 0 and is incremented before each packet), so a
// transport that moves from pion to SealRTCP sends the same indexes and
// the same bytes. RFC 3711 §3.4 would start at 0; receivers accept either,
// since all they check is that an index was not seen before.
//
// pion keeps one counter per sender SSRC (the SSRC in bytes 4..7 of the
// packet). One RTCPIndex per transport, shared by all the sender SSRCs the
// transport uses, is equally sound: the GCM nonce has both the SSRC and
// the index in it, so it never repeats as long as the indexes do not, and
// each SSRC's indexes still only go up, with gaps that the receivers'
// replay windows (libsrtp, pion) accept as new packets. The bytes then
// differ from pion's only in the index values.
//
// An RTCPIndex is owned by the goroutine that uses the Sealer and has no
// locking.
type RTCPIndex struct {
	last uint32 // index of the last packet numbered, 0 before the first
}

// Next returns the SRTCP index for the next packet. After MaxRTCPIndex
// packets it returns ok == false (and goes on doing so): RFC 3711 §9.2
// forbids sealing more SRTCP packets under the same key, since an index
// used again would reuse a GCM nonce. The caller must then stop sending
// RTCP on the session (pion's EncryptRTCP fails at the same point). At 100
// RTCP packets per second that is after eight months.
func (x *RTCPIndex) Next() (index uint32, ok bool) {
	if x.last >= MaxRTCPIndex {
		return 0, false
	}
	x.last++
	return x.last, true
}

// SealRTCP encrypts one (compound) RTCP packet with SRTCP index index and
// returns dst[:len(pkt)+RTCPOverhead]: the first 8 bytes of pkt (the first
// packet's header and sender SSRC) in clear, the rest of pkt encrypted, the
// GCM tag, and the E|SRTCP index word with E = 1 (RFC 7714 §9). The
// associated data is those 8 clear bytes followed by the E|index word; the
// nonce is (00 00 | SSRC | 00 00 | 0 | index) XOR the SRTCP session salt
// (RFC 7714 §9.1), where SSRC is bytes 4..7 of pkt.
//
// index comes from the RTCPIndex of the session and must be at most
// MaxRTCPIndex; the same index must never be sealed twice for the same
// sender SSRC (the GCM nonce would repeat). SealRTCP does not check what
// pkt holds beyond its length: the caller builds it.
//
// SealRTCP returns nil, and writes nothing, if pkt is shorter than 8 bytes
// or index is larger than MaxRTCPIndex.
//
// pkt is either exactly dst[:len(pkt)], which SealRTCP encrypts in place,
// or a buffer that does not overlap dst, which it only reads (any other
// overlap makes crypto/cipher panic). dst needs a capacity of
// len(pkt)+RTCPOverhead; with less, SealRTCP allocates a new buffer (and
// the packet is sealed there). It does not allocate otherwise.
func (s *Sealer) SealRTCP(dst, pkt []byte, index uint32) []byte {
	n := len(pkt)
	if n < rtcpHeaderLen || index > MaxRTCPIndex {
		return nil
	}
	total := n + RTCPOverhead
	if cap(dst) < total {
		dst = make([]byte, total)
		copy(dst, pkt[:rtcpHeaderLen])
	} else {
		dst = dst[:total]
		if &dst[0] != &pkt[0] {
			copy(dst, pkt[:rtcpHeaderLen])
		}
	}

	word := index | rtcpEFlag
	aad := &s.rtcpAAD
	copy(aad[:rtcpHeaderLen], dst[:rtcpHeaderLen])
	binary.BigEndian.PutUint32(aad[rtcpHeaderLen:], word)

	// IV = (00 00 | SSRC | 00 00 | 0 | index) XOR SRTCP session salt, RFC
	// 7714 §9.1. Bytes 0, 1, 6 and 7 were set by NewSealer.
	nonce := &s.rtcpNonce
	ssrc := binary.BigEndian.Uint32(dst[4:])
	binary.BigEndian.PutUint32(nonce[2:], ssrc^binary.BigEndian.Uint32(s.rtcpSalt[2:]))
	binary.BigEndian.PutUint32(nonce[8:], index^binary.BigEndian.Uint32(s.rtcpSalt[8:]))

	// Ciphertext and tag overwrite pkt[8:] and run on behind it; the index
	// word goes last, after Seal has read all of the plaintext.
	s.rtcpAEAD.Seal(dst[rtcpHeaderLen:rtcpHeaderLen], nonce[:], pkt[rtcpHeaderLen:], aad[:])
	binary.BigEndian.PutUint32(dst[n+TagLen:], word)
	return dst
}
