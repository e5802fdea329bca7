// Package audiostream sends the audio of a channel's publishers to an
// audio streaming gateway (speech to text, such as Suzu) and pushes the
// gateway's results to the clients that asked for them: Sora's
// StartAudioStreaming, StopAudioStreaming, SubscribeAudioStreamingResultPush
// and UnsubscribeAudioStreamingResultPush (Sora_20221221), and
// ListAudioStreamingResultPushState (Sora_20230628); spec/webhooks.md §5.
//
// # Model
//
// Streaming is a property of a channel's session: Streams.Start turns it on
// for the session the channel has now, Streams.Stop turns it off, and it
// ends with the session (the channel's last connection left). While it is
// on, every connection of the channel that publishes audio (role sendrecv
// or sendonly, audio on, connection.created reached) and has an
// audio_streaming_language_code (or Config.DefaultLanguageCode) has one
// stream; a connection that joins later gets one when it is created, and a
// stream ends when its connection leaves.
//
// A stream is one HTTP/2 POST to Config.URL (audio_streaming_url; http://
// is cleartext HTTP/2 with prior knowledge, h2c) with the headers
// sora-channel-id, sora-session-id, sora-connection-id,
// sora-audio-streaming-language-code, and for gateways that read them
// sora-client-id, sora-audio-codec-type (OPUS), sora-audio-sample-rate
// (48000) and sora-audio-streaming-header (true or false). The body is the
// connection's Opus packets, the RTP payloads without their RTP headers, in
// arrival order: with Config.Header (sora.conf audio_streaming_header) each
// is preceded by a HeaderSize (20) byte big-endian header, the arrival time
// in microseconds since the Unix epoch (uint64), the sequence number
// (uint64: the RTP sequence number extended with its wrap count) and the
// payload length (uint32); without it the packets are bare and each goes
// out in DATA frames of its own. The packets come from the media plane's
// plain RTP forwarding (Rooms.ForwardAudio) to a UDP socket of the stream
// on 127.0.0.1, with an SSRC the stream chose: datagrams with another SSRC,
// malformed ones and those that find the stream's queue
// (Config.QueuePackets) full are dropped and counted, so a slow gateway
// never holds up the media plane.
//
// The gateway answers 200 and then, for as long as the body flows, one
// JSON object per line. Each line is pushed to every connection of the
// channel that subscribed (Streams.Subscribe) as
// {"type": "push", "data": <the object>}, with "connection_id" (the
// streamed connection, whose speech it is) added when the object has none.
// Empty lines are skipped; a line that is not a JSON object is dropped and
// counted.
//
// Stopping a stream (Stop, the connection left, the session ended, Close)
// ends its request body after the queued packets, so the gateway sees a
// normal end of stream; the gateway then has Config.StopTimeout to end its
// answer before the stream is reset. A stream fails when the socket or the
// forwarding cannot be set up, the gateway cannot be reached or answers
// other than 200, or ends or breaks its answer while the stream runs (a
// line over Config.MaxResultLine included). A failure is logged, counted
// (Counters.Failed) and pushed to the subscribers as
// {"connection_id": C, "failed_connection_id": C, "reason":
// "AUDIO-STREAMING-FAILED: …", "type": "error"}, the shape of a gateway's
// own fatal error. A failed stream is not retried until the channel's
// streaming is stopped and started again (or the connection reconnects).
//
// Subscriptions belong to connections, not to the streaming: a connection
// may subscribe before streaming starts and stays subscribed across Stop
// and Start, until Unsubscribe or it leaves.
//
// # Hooks
//
// Streams learns about connections from Rooms and from two calls that
// never block and may be made with room locks held: Changed, when a
// connection is created or leaves, and Forget, when one leaves. Without
// them Streams still follows the rooms, every Config.SyncInterval.
//
// # Concurrency
//
// Every method of Streams may be called from any goroutine. One sync
// goroutine starts and stops streams: Start, Stop, Changed and Forget only
// change state and wake it. Each stream has two goroutines, one reading
// its socket into its queue and one running its POST (the HTTP transport
// reads the body from the queue). Streams never calls Rooms with its mutex
// held; Rooms must not call Streams with a lock held that its own methods
// take.
package audiostream
