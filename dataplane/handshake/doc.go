// Package handshake runs DTLS (RFC 6347, DTLS-SRTP RFC 5764) for one
// transport off the media loop and hands back the SRTP keys.
//
// The media loop owns the socket. It passes each DTLS datagram (first byte
// 20–63) to the transport's Conn with Deliver, which copies it: receive
// buffers are recycled by the loop. The DTLS library reads from Conn in its
// own goroutine; what it writes goes back out through the write function the
// loop gave to NewConn, to the transport's selected address.
//
// Conn methods may be called from any goroutine.
package handshake
