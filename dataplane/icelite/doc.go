// Package icelite is the server half of ICE-lite (RFC 8445 §2.5): it never
// sends connectivity checks, it only authenticates the Binding requests a full
// agent (Chrome, pion) sends and answers them with a Binding success response
// carrying XOR-MAPPED-ADDRESS, MESSAGE-INTEGRITY and FINGERPRINT.
//
// The STUN codec here is the small part of RFC 8489 a Binding exchange needs,
// written for the media loop: Decode walks the request in place, Verify
// computes HMAC-SHA1 and CRC-32 over it without copying, AppendSuccess
// builds the response straight into the caller's egress buffer. None of them
// allocates once a Responder has seen its first request, and rejections
// return unwrapped sentinel errors, so a flood of bad checks allocates
// nothing either. pion/stun, an independent encoder and decoder, is the
// oracle of the tests and of the fuzz target.
//
// A Responder is owned by one media loop and reuses its buffers; it is not
// safe for concurrent use. The session lookup (local ufrag → transport) is
// the caller's: Decode returns the local ufrag, Verify then checks the
// request with that transport's password.
package icelite
