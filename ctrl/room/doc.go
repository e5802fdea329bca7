// Package room keeps the channels, their sessions and connections, and runs
// each connection's offer/answer exchange with the media plane.
//
// Model: a channel exists while it has connections; its session id is made
// when it goes from 0 to 1 connection and dropped when it returns to 0.
// Registry.Join admits a validated connect: it creates the connection's
// media Transport and sends the first offer (the client's own upstream
// m-sections first, then one sendonly section per track of every other
// published connection). The connection is "created" once its transport
// reports OnConnected and its answer has been applied: then
// connection.created goes to it (with the data list of the members already
// there) and to the others, and its tracks are published: every other
// connection whose set of tracks to receive changed gets a re-offer.
// Renegotiation is queued per connection: while an offer or re-offer is in
// flight, further changes only mark the connection dirty, and one more
// re-offer follows the re-answer. A track that goes away is removed from
// the plane at once (RemoveDownstream) and its section becomes inactive in
// the next re-offer; an inactive section the client has accepted is reused
// for the next new track of its kind. Connections with the same bundle_id
// neither receive each other's media nor notifies.
//
// DataChannels (datachannel.go): a connection that asks for DataChannel
// signaling or messaging labels gets an m=application section (after its
// first sections, so it keeps its index in re-offers). When its transport
// is up the room opens its channels — signaling, notify, push, stats, rpc,
// then the '#' labels, stats last with a req-stats — and, with DataChannel
// signaling, sends switched on the WebSocket when the client answers on
// stats (its channels have all arrived; at most 1 s later without an
// answer); from then on re-offer, notify and push go on their channels. A message on a '#' label is fanned out, without the channel
// lock and without allocating, to every other connection of the channel
// that has the label and may receive it, except those of the sender's
// bundle; each receiver gets it with the sender's 26-byte connection id in
// front when its entry asked for the header, and zlib-compressed when its
// label is compressed. Messages from a recvonly label, over the size limit,
// undecodable, or for a receiver whose buffer is full are dropped and
// counted (hayate_room_datachannel_drops_total{reason}). A connection that
// leaves closes its channels first and its transport once the client has
// closed its side of each (at most 2 s later, on a background goroutine
// that Registry.Wait waits for); a server-initiated end first sends
// {"type":"close","code","reason"} on "signaling". A channel the client
// closes ends its connection, as the SDKs do.
//
// Simulcast and spotlight (simulcast.go, spotlight.go): a publisher that
// asks for simulcast, or any publisher of a spotlight channel, is offered
// its video with rids r0, r1, r2 and offer.encodings, and publishes the
// rids its answer sends as the layers of one track. Each receiver asks for
// one layer per sender (connect's rid, RequestSimulcastRID, or in a
// spotlight channel the focus or unfocus layer); the plane switches at a
// keyframe, lowers the layer while the receiver's bandwidth cannot carry
// it, and reports every switch, which becomes a simulcast.switched notify.
// A spotlight channel keeps spotlight_number senders in focus, chosen from
// the plane's audio levels by a background poller per channel (Wait waits
// for it; it ends with the channel's last connection) and by the API;
// unfocused senders' audio is paused for every receiver and every
// connection gets spotlight.* notifies. Layer and pause requests reach the
// plane through the optional LayerControl interface of a Transport.
//
// Admission (mode.go): Join first validates the connect, then decides, in
// one step with taking the slot (under Registry.mu, so racing connects
// cannot overshoot), whether the mode (the API's ChangeMode) and the
// connection limits (Config.MaxConnections, MaxConnectionsPerChannel)
// admit it. A refused connect never gets a transport or a session: its
// Peer is closed with 4503 "MODE-BLOCKED: <mode>" or 4429
// "TOO-MANY-CONNECTIONS: <limit> <n>", and it is counted by reason
// (hayate_room_connects_refused_total, Stats.Refused) and as a failed
// connection.
//
// Auth webhook payouts that reach the room ride on the JoinRequest:
// AuthzMetadata becomes offer.metadata and notify authz_metadata (beside
// authn_metadata, the client's own connect metadata), EventMetadata is
// copied into the connection's event webhooks, and ICETransportPolicy and
// TURN (ice.go) change that connection's offer.config. Event webhooks
// (connection.created, .updated every minute, .destroyed) carry the
// minutes and the channel's counters of created connections in data.
//
// The room never blocks on I/O: messages go to a Peer (the signaling
// connection) through a non-blocking Send, media changes to a Transport
// whose methods only queue commands. That keeps the logic testable with
// fakes, without media.
//
// Concurrency: all methods of Registry and Connection may be called from
// any goroutine. Each channel's state is guarded by the channel's mutex;
// Registry.mu guards the maps. Lock order: channel, then registry. Peer and
// Transport methods are called with the channel lock held and must not call
// back into the room. DataChannel handlers run on the plane's reader
// goroutines without room locks; what they do that needs the lock (ending
// the connection) runs on a background goroutine.
package room
