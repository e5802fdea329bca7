// Package handshake runs DTLS (RFC 6347, DTLS-SRTP RFC 5764) for one
// transport off the media loop and hands back the SRTP keys.
//
// The media loop owns the socket. It passes each DTLS datagram (first byte
// 20–63) to the transport's Conn with Deliver, which copies it: receive
// buffers are recycled by the loop. The DTLS library reads from Conn in its
// own goroutine; what it writes goes back out through the write function the
// loop gave to NewConn, to the transport's selected address.
//
// A transport without DataChannels needs DTLS only for its keys. Once the
// peer is known to have finished its side, Conn.Release retires the Conn
// silently (writes discarded, reads ended, later datagrams dropped and
// counted) so that the association can be closed, its goroutines end and
// its state becomes garbage, without the close_notify that would end the
// peer's PeerConnection.
//
// Conn methods may be called from any goroutine.
package handshake
