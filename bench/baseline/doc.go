// Package baseline is the yardstick Hayate is measured against: a selective
// forwarding unit built the ordinary way on pion/webrtc v4 PeerConnections,
// speaking enough of the Sora signaling protocol that the load generator
// (bench/load) and the Go clients (bench/soraclient) drive it exactly as they
// drive Hayate.
//
// # Model
//
// One WebSocket at /signaling is one connection and one PeerConnection. The
// exchange is Sora's: the client sends connect, the server offers (recvonly
// sections for the client's own upstream, named by offer.mid, then one
// sendonly section per track already published in the channel), the client
// answers and trickles candidates. When a publisher's track arrives, the
// server creates one webrtc.TrackLocalStaticRTP for it (stream id = the
// publisher's connection_id, as Sora does), adds it to every other
// connection of the channel and sends each of them a re-offer; the
// re-answer completes it. Once a PeerConnection is connected, every
// connection of the channel, the newcomer included, receives the notify
// connection.created. A disconnect message is answered with the WebSocket
// close 1000 "TYPE-DISCONNECT"; a leaving publisher's tracks are removed
// from the others with a re-offer.
//
// The media path is the one pion applications usually have: one goroutine
// per published track reads decrypted RTP (TrackRemote.Read) and writes it
// to the TrackLocalStaticRTP, which rewrites SSRC and payload type and
// encrypts once per subscriber. All PeerConnections share one UDP socket
// (webrtc.NewICEUDPMux), run ICE-lite and pion's default interceptors (NACK
// generator and responder, RTCP reports, TWCC, stats). Subscribers' PLI and
// FIR are relayed to the publisher, at most one per track every 500 ms.
//
// What it leaves out on purpose: simulcast, spotlight, DataChannels,
// authentication webhooks, the HTTP API and ping/pong. It exists to be
// measured, not deployed.
//
// # Concurrency
//
// Server's methods may be called from any goroutine. Each connection has
// one goroutine reading its WebSocket and one sending its re-offers (one
// at a time: the next waits for the re-answer of the previous); changes to
// a PeerConnection are serialized by a per-connection mutex. Close ends
// every connection and waits for every goroutine the server started.
package baseline
