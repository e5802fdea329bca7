// Package secure seals the RTP packets a transport forwards (SRTP) and the
// RTCP packets it sends (SRTCP) for the AEAD protection profiles
// (AEAD_AES_128_GCM and AEAD_AES_256_GCM, RFC 7714) without the per-packet
// work and per-session memory of a general SRTP context.
//
// # Model
//
// A media loop forwards one decrypted publisher packet to many subscribers.
// For each subscriber it writes a rewritten RTP header into an egress buffer
// and then needs the payload encrypted behind it. A pion srtp.Context would
// re-parse that header, look the SSRC up in a map to find its rollover
// counter, and encrypt a full copy of the packet. Here the caller already
// knows everything: it has the header bytes, the SSRC and sequence number it
// just wrote, and it keeps one Index per outgoing SSRC. Sealer.Seal therefore
// takes the header and the payload as two slices and the packet index as
// numbers, and encrypts the payload straight from the publisher's shared
// buffer into the egress buffer, so the payload is read once (by AES-GCM)
// instead of copied and then encrypted in place.
//
// The output is byte for byte what pion's srtp.Context.EncryptRTP produces
// for the same master key, salt, packet and index: header in clear, payload
// encrypted, 16-byte GCM tag, no MKI. The nonce follows RFC 7714 §8.1
// (00 00 | SSRC | ROC | SEQ, XORed with the 12-byte session salt) and the
// associated data is the whole RTP header, CSRCs and extensions included
// (RFC 7714 §8.2). Session key and salt come from the master key and salt
// through the AES-CM PRF of RFC 3711 §4.3 with a key derivation rate of
// zero (RFC 7714 §11 keeps that PRF for the GCM profiles). The 96-bit GCM
// master salt fills the first 12 of the 14 bytes the PRF input has room
// for, the rest being zero, which is how libsrtp and pion read it.
//
// RTCP the server sends itself (sender and receiver reports, NACK, PLI,
// REMB, transport-wide CC feedback) is sealed by Sealer.SealRTCP with SRTCP
// session keys derived from the same master key and salt under the SRTCP
// labels (RFC 3711 §4.3.1). The first 8 bytes (header and sender SSRC of
// the first packet of the compound) stay in clear and, with the E|index
// word, form the associated data; the rest is encrypted; the tag and the
// E|index word (E = 1) follow, with no MKI (RFC 7714 §9). The nonce is
// 00 00 | SSRC | 00 00 | 0 | 31-bit index, XORed with the SRTCP session
// salt (RFC 7714 §9.1). The output is byte for byte pion's
// srtp.Context.EncryptRTCP for the same index. The caller keeps the index:
// an RTCPIndex numbers packets 1, 2, 3, ... as pion's context does; one
// per transport is enough (see RTCPIndex for why it need not be per SSRC).
// A Sealer thus replaces the transport's pion sending context entirely.
//
// Index tracks the rollover counter of one outgoing SSRC (RFC 3711 §3.3.1)
// the same way the receiver estimates it (RFC 3711 Appendix A): a sequence
// number within half the number space behind the highest one sent is a
// late packet and keeps (or, if it lies before the last wrap, lowers by
// one) the counter without moving the state; anything else moves forward,
// and moving forward across 65535 -> 0 increments the counter. A forward
// jump of 2^15 or more cannot be told from a late packet; forwarders keep
// their rewritten sequence numbers contiguous, so this does not arise.
//
// # Concurrency
//
// A Sealer is used by one goroutine at a time: Seal and SealRTCP write the
// nonce (and SealRTCP the associated data) into scratch arrays inside the
// Sealer so that they do not allocate. Different Sealers may be used
// concurrently. An Index is likewise owned by the goroutine that sends on
// its SSRC, an RTCPIndex by the goroutine that seals with its Sealer. None
// of the types has any locking.
//
// # Not covered
//
//   - Authenticated-only SRTCP (E = 0): SealRTCP always encrypts.
//   - The AES_CM_HMAC_SHA1 and NULL profiles: NewSealer rejects them with
//     ErrProfileNotAEAD and the caller keeps using pion for those.
//   - Receiving (decrypt, replay protection), MKI, RFC 4771 ROC carriage,
//     cryptex (RFC 9335) and key derivation rates other than zero.
//   - Re-keying: RFC 3711 §9.2 asks for new keys after 2^48 SRTP or 2^31
//     SRTCP packets. The first is unreachable at media packet rates and Index
//     simply wraps its counter; RTCPIndex stops at 2^31-1 (months of RTCP)
//     and the caller must stop sending RTCP then, as pion's context does.
//
// # References
//
//   - RFC 3711 §3.3.1 (packet index, rollover counter), §4.3 (key derivation),
//     Appendix A (index estimation), Appendix B.3 (key derivation test vectors).
//   - RFC 3711 §3.4 (SRTCP packet, E flag and index).
//   - RFC 7714 §8 (AES-GCM for SRTP: nonce, AAD, tag), §9 (AES-GCM for SRTCP),
//     §11 (key derivation for the GCM profiles), §17 (SRTCP test vectors).
package secure
