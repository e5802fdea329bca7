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
//	1001 CLIENT-CLOSED       the WebSocket ended (unless ignore_disconnect_websocket
//	                         after the switch), or the client closed a DataChannel
//	4400 INVALID-JSON        not a JSON object, not UTF-8, no "type", binary frame
//	4401 UNKNOWN-TYPE        "type" names no client message
//	4402 UNEXPECTED-MESSAGE  message before connect, second connect, answer nothing awaits, update
//	4403 INVALID-FIELD       missing, mistyped or out-of-range field (named), refused connect
//	4406 INVALID-ANSWER      unusable SDP answer
//	4408 PONG-TIMEOUT        nothing received for PongTimeout
//	4409 SEND-QUEUE-FULL     the client does not read its messages (WebSocket
//	                         queue, or a signaling DataChannel's buffer)
//	4410 TRANSPORT-CLOSED    the media transport ended (ICE timeout, DTLS failure)
//	4413 MESSAGE-TOO-LARGE   a frame over MaxMessageBytes (the reason names the limit),
//	                         or a signaling message over the client's max-message-size
//	4429 TOO-MANY-CONNECTIONS the connect would exceed MaxConnections or
//	                         MaxConnectionsPerChannel (the reason names the limit)
//	4490 AUTH-FAILED         the token auth or the auth webhook refused the connect
//	                         (the webhook's reason, or why the token or the webhook failed)
//	4500 INTERNAL-ERROR      a server fault (panics are recovered, logged and counted)
//	4503 MODE-BLOCKED        the API's ChangeMode refuses new connections
//
// Every close is counted in hayate_signaling_closes_total{code,reason}.
//
// Admission. Before the WebSocket exists, an upgrade beyond
// MaxConnectsPerSecondPerAddress (a token bucket per client IP, per /64 for
// IPv6, in a table of at most 65536 addresses whose idle entries expire
// after a second) is answered HTTP 429 with Retry-After: 1 and counted in
// hayate_signaling_connects_rate_limited_total; the address is the TCP
// peer's, so behind a proxy every client shares the proxy's bucket. After
// connect: the token auth (AuthSecret) or the auth webhook (AuthWebhook:
// its payouts override the connect, see applyPayouts), then the room's
// mode and connection limits, which are checked atomically with the join.
// While the auth webhook is asked, that connection's owner goroutine waits
// (at most the webhook timeout, less if the server closes it); other
// connections are not affected. Counters gives the refusals by name for
// the API's GetStatsReport.
//
// DataChannel signaling (signaling.md §7–§9). With data_channel_signaling
// the room opens the signaling, notify, push, stats and rpc channels once
// the transport is up and sends {"type":"switched"} on the WebSocket once
// the client has answered the req-stats sent on "stats" (opened last: the
// answer shows that the SDK has all its channels), at most 1 s later; from
// then on re-offer, notify and push go on their channels and the client's
// re-answer, candidate and disconnect arrive on "signaling". Those are
// decoded with the same rules as on the WebSocket; anything else there
// (or bad JSON) ends the connection like bad WebSocket input. A stats
// report on "stats" is counted and dropped; every 30 s a switched
// connection is sent req-stats. JSON-RPC 2.0 on "rpc" serves
// 2025.2.0/PutSignalingNotifyMetadata and …Item (granted by default),
// 2025.2.0/RequestSimulcastRid (granted to a receiver that connected with
// simulcast, a simulcast rid or spotlight) and 2025.2.0/RequestSpotlightRid
// and ResetSpotlightRid (granted to a spotlight receiver), all listed in
// offer.rpc_methods; errors are JSON-RPC error objects: -32700 parse
// error, -32600 invalid request (batches included), -32601 unknown,
// unsupported or not granted method, -32602 bad params (a sender not in the
// channel included), -32000 a request the connection's state refuses
// (left, a simulcast rid in a spotlight channel, a spotlight method
// elsewhere); a request without id gets no response.
//
// connect's simulcast (boolean, or {"rid"}), simulcast_rid,
// simulcast_request_rid, spotlight, spotlight_number, spotlight_focus_rid
// and spotlight_unfocus_rid go to the room.JoinRequest; the layer asked
// for is simulcast_request_rid, else simulcast_rid, else simulcast.rid.
//
// With ignore_disconnect_websocket the end of the WebSocket after the
// switch does not end the connection: it goes on over the DataChannels
// until the client sends disconnect there (a normal end: its channels are
// closed, then its transport), a channel or the transport ends, or the
// server ends it. A server-initiated end of a switched connection
// (shutdown, the API's disconnect, bad input, transport failure) first
// sends {"type":"close","code","reason"} on "signaling", with the code and
// reason of the table above. Without ignore_disconnect_websocket, losing
// the WebSocket ends the connection as before.
//
// DataChannel limits: Config.DataChannelMaxMessageSize (262144) is offered
// as a=max-message-size; a larger message (also after zlib decompression
// of a compress: true label, which bounds a zip bomb) is dropped and
// counted. A full send buffer (1 MiB per channel, kept by the media plane)
// drops a messaging message for that receiver (counted) and closes a
// connection whose signaling channel overflows with 4409 SEND-QUEUE-FULL.
//
// Concurrency: each WebSocket has two goroutines. The owner (started by
// the HTTP handler, which returns once the WebSocket is accepted: net/http's
// goroutine and the request go) alone decodes client messages, calls the
// room, runs the connection's timed duties and writes: Send queues a
// message in the bounded send queue (256 messages; a client that lets it
// fill up is closed) and wakes the owner, and at the close the owner
// flushes the queue and performs the close handshake. A reader hands the
// owner one frame at a time. No goroutine is started per message. The room
// reaches a connection only through room.DataChannelPeer (Send, Close,
// Switched never block; ReceiveDataChannel hands a signaling channel's
// message to the owner and waits at most until the connection closes).
// Server methods may be called from any goroutine.
//
// Clock. The periodic duties of the joined connections (ping every
// PingInterval, connection.updated every minute, req-stats every 30 s for
// a connection that joined with data_channel_signaling) are scheduled by
// one clock per Server (clock.go): a goroutine with one ticker of
// PingInterval/5 (at most 1 s), running only while a connection is joined.
// On a tick it marks each connection's due duties in an atomic mask and
// pokes its owner without blocking; the owner runs them. A connection's
// first ping comes PingInterval after its join, rounded up to the next
// tick, then one every PingInterval, so the pings of all connections go
// out in at most five bursts per interval; a late tick fires a missed duty
// once, not in a burst. Only the pong timeout is a timer of the
// connection's own (resetting it on each frame wakes nobody).
//
// Memory. An idle connection's two goroutines keep small stacks: the
// owner handles each event in a method called from its select loop, so
// while it waits only small frames remain and a GC shrinks its stack to 4
// KiB however deep a join or a stats report made it; the reader reads a
// frame into a buffer shared by all connections (a sync.Pool) and hands
// the owner a copy of exactly the frame's size. The hijacked connection's
// bufio buffers are 512 B and 2 KiB rather than net/http's 4 KiB each
// (hijack.go), and the queue of DataChannel messages exists only for a
// connection that joined with data_channel_signaling.
package signaling
