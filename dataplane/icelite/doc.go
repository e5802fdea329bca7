// Package icelite is the server half of ICE-lite (RFC 8445 §2.5): it never
// sends connectivity checks, it only authenticates the Binding requests a full
// agent (Chrome, pion) sends and answers them with a Binding success response
// carrying XOR-MAPPED-ADDRESS, MESSAGE-INTEGRITY and FINGERPRINT.
//
// A Responder is owned by one media loop and reuses its STUN messages; it is
// not safe for concurrent use. The session lookup (local ufrag → transport) is
// the caller's: Parse returns the local ufrag, Verify then checks the request
// with that transport's password.
package icelite
