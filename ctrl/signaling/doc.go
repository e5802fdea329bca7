// Package signaling serves Sora's WebSocket signaling (spec/signaling.md)
// at /signaling.
//
// Model: one WebSocket is one connection attempt. The first message must be
// connect; it is validated field by field (unknown fields are tolerated),
// turned into a room.JoinRequest and admitted by the room registry, which
// sends the offer. Then the client's answer, re-answers, trickled
// candidates (accepted and ignored: the server is ICE-lite and learns
// addresses from the checks), pongs and disconnect arrive; the server sends
// ping every PingInterval ({"type":"ping","stats":true} at most every 5 s,
// false otherwise), and the room sends notify, re-offer and push.
//
// Closing. Whatever ends a WebSocket also takes its connection out of the
// room (connection.destroyed to the others, re-offers without its tracks).
// Bad input closes only that WebSocket, with a 4xxx code and a reason
// "<KEYWORD>: <detail>" naming the problem; no JSON error message exists in
// the protocol, so the SDKs report the code and reason (the JS SDK's
// connect() rejects with them):
//
//	1000 TYPE-DISCONNECT     the client sent disconnect
//	1000 SHUTDOWN            Server.Shutdown
//	1000 DISCONNECTED-API    room.Connection.Disconnect (the HTTP API)
//	4400 INVALID-JSON        not a JSON object, not UTF-8, no "type", binary frame
//	4401 UNKNOWN-TYPE        "type" names no client message
//	4402 UNEXPECTED-MESSAGE  message before connect, second connect, answer nothing awaits, update
//	4403 INVALID-FIELD       missing, mistyped or out-of-range field (named), refused connect
//	4406 INVALID-ANSWER      unusable SDP answer
//	4408 PONG-TIMEOUT        nothing received for PongTimeout
//	4409 SEND-QUEUE-FULL     the client does not read its messages
//	4410 TRANSPORT-CLOSED    the media transport ended (ICE timeout, DTLS failure)
//	4413 MESSAGE-TOO-LARGE   a frame over MaxMessageBytes (the reason names the limit)
//	4500 INTERNAL-ERROR      a server fault (panics are recovered, logged and counted)
//
// Every close is counted in hayate_signaling_closes_total{code,reason}.
//
// Concurrency: each WebSocket has three goroutines. The owner (the HTTP
// handler's goroutine) alone decodes client messages, calls the room and
// runs the timers; a reader hands it one frame at a time; a writer drains a
// bounded send queue (256 messages; a client that lets it fill up is
// closed) and performs the close handshake. The room reaches a connection
// only through room.Peer (Send, Close), which never blocks. Server methods
// may be called from any goroutine.
package signaling
