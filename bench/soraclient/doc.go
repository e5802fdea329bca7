// Package soraclient is a Go client of the Sora signaling protocol built on
// pion/webrtc v4. The integration tests drive Hayate with it and the load
// generator opens many of them, so it stays small and every knob lives in
// Config.
//
// # Model
//
// One Client is one Sora connection: one WebSocket to /signaling and one
// PeerConnection. The exchange follows what the official SDKs do:
//
//  1. open the WebSocket and send connect, carrying a throwaway offer SDP of a
//     recvonly audio+video PeerConnection as a capability hint;
//  2. receive the server's offer, apply it, bind the local upstream tracks to
//     the transceivers named by offer.mid (the server offers them recvonly, so
//     the answer says sendonly and lists the tracks' a=ssrc), answer, and
//     trickle local candidates as {"type":"candidate","candidate":…};
//  3. answer every re-offer with a re-answer, every ping with a pong, and
//     record notify, push, re-offer and the WebSocket close as Events.
//
// Connect returns when the PeerConnection is connected and the connection's
// own notify connection.created has arrived, which is what the JS SDK's
// connect() waits for.
//
// With Config.SimulcastRIDs the video is published as simulcast, one
// encoding per rid (simulcast.go); WriteSimulcastRTP writes a packet of one
// rid with the MID and RID header extensions the server learns the rid's
// SSRC from.
//
// By default the client uses only IPv4 UDP on the loopback interface (no
// mDNS), so tests never send a packet off the machine; Config.SettingEngine
// replaces that.
//
// # Concurrency
//
// Every method of Client may be called from any goroutine. The client runs
// one goroutine reading the WebSocket (it also applies offers and re-offers,
// so signaling is handled strictly in arrival order) and one goroutine per
// local track reading its RTCP. Close (and Disconnect) waits for them.
// Config.OnSenderRTCP is called from the RTCP goroutines and must not block
// for long.
package soraclient
