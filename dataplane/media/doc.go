// Package media reads and rewrites RTP packets in place and knows the few
// codec facts the forwarder needs (is this the first packet of a keyframe?
// where are VP8's picture ID and TL0PICIDX?). It also wraps and unwraps RTX
// retransmissions (RFC 4588).
//
// Every function works on a packet held in the caller's buffer, returns
// views (offsets or sub-slices) into it and never allocates (AppendRTX only
// when dst lacks capacity). Functions that read a fixed header field (Seq,
// SSRC, SetSeq, …) expect a packet of at least 12 bytes, which RTPHeaderLen
// checks; the parsing functions (RTPHeaderLen, Payload, FindExtension,
// ClearExtension, IsKeyframe, ParseVP8, ParseVP9, AppendRTX, UnwrapRTX)
// accept any bytes and report malformed input instead of panicking.
//
// References: RTP RFC 3550 §5.1; header extensions RFC 8285; VP8 RFC 7741;
// VP9 RFC 9628 (ex draft-ietf-payload-vp9); H.264 RFC 6184; H.265 RFC 7798;
// RTX RFC 4588; AV1 "RTP Payload Format For AV1"
// (aomediacodec.github.io/av1-rtp-spec).
//
// The package has no state and is safe for concurrent use on different
// packets.
package media
