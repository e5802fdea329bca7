// Package datachan runs WebRTC DataChannels (RFC 8831, DCEP RFC 8832) over
// one transport's DTLS association, off the media loop.
//
// Sora's model: the server opens every channel in band (the client sees
// ondatachannel) and clients open none of their own. As the DTLS server
// Hayate uses odd SCTP stream ids (RFC 8832 §6), as the DTLS client even.
//
// Concurrency: an Association runs pion/sctp's read and write goroutines plus
// one reader goroutine per Channel; Handler methods are called from those
// readers, one at a time per channel. Open, Send and Close may be called
// from any goroutine.
package datachan
