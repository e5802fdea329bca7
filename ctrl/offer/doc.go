// Package offer writes the server's SDP offers and reads the clients' answers.
//
// Model: Hayate is always the offerer (Sora's direction: the server offers,
// the client answers) and an ICE-lite, DTLS actpass endpoint. An Offer is a
// plain value describing the whole session as the server wants it now: the
// transport parameters shared by every bundled m-section and the ordered
// list of Sections. Build turns it into SDP text; the caller keeps the
// Offer, changes it (new sections appended, finished ones made inactive,
// Version+1) and builds again for a re-offer. Mids, payload types and
// header-extension ids never change between offers of one session: the
// payload types come from dataplane.Codecs and the extension ids are the
// fixed ones of dataplane (ExtMid, ExtTransportCC, …).
//
// A connection that uses DataChannels has one Section with Application set:
// the m=application section of its SCTP association (RFC 8841: UDP/DTLS/SCTP
// webrtc-datachannel, a=sctp-port:5000, a=max-message-size). It is bundled
// like the others; the caller places it once and later sections are
// appended after it, so its index never changes between offers.
//
// ParseAnswer reads what the offer/answer exchange needs from a client's
// answer: ICE credentials, DTLS fingerprint and setup role, and per m-section
// the mid, direction, kept payload types and extensions, SSRCs and the
// simulcast rids the client sends; for the application section, whether it
// was accepted and the client's max-message-size.
//
// Simulcast (simulcast.go): a recvonly video Section with Simulcast set
// offers to receive rids r0, r1, r2 (SimulcastRIDs, ascending quality);
// DefaultEncodings are the matching offer.encodings that tell a Sora client
// how to encode each. AnswerSection.SendRIDs lists what the client agreed to
// send, in its a=simulcast:send order, without paused streams.
//
// Concurrency: Build and ParseAnswer are pure functions; values of this
// package are not shared by the package and may be used by one goroutine at
// a time like any Go value.
package offer
