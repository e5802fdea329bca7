// Package api serves Sora's HTTP API on api_port: POST / with the
// operation in the x-sora-target header ("Sora_YYYYMMDD.Operation"; the
// header name is case-insensitive) and a JSON object as the body (empty for
// operations without keys). The operations act on the live connections of a
// room.Registry. The seed document (shared/seed/experimental-api.ja.txt) is
// authoritative for the operations it lists; spec/api.md for the others.
//
// # Model
//
// A dispatch table maps each target to a handler taking a typed request.
// The request decodes itself from the body's top-level members, naming the
// first key that is missing, of the wrong JSON type or out of range;
// unknown keys are ignored, null counts as absent. API.Call is the whole
// operation without HTTP (target and body in, status and JSON out), which
// the golden and fuzz tests drive; ServeHTTP adds the transport rules.
//
// # Responses
//
// 200 with a JSON value; every other status carries
//
//	{"error_reason": {…, "message": "…"}, "error_type": "UPPER-KEBAB-CASE"}
//
// where error_reason is an object, as in the seed document's NODE-IS-ALIVE
// example: the request values the error is about (channel_id,
// connection_id, client_id, key, target, method, path, limit) and a message
// for people. Every response is application/json and compact. With
// Config.CORSOrigin set (api_cors_origin) every response, errors included,
// carries access-control-allow-origin: <origin>,
// access-control-allow-methods: POST, OPTIONS,
// access-control-allow-headers: Origin, X-Requested-With, Content-Type,
// Accept, x-sora-target and access-control-max-age: 1000, as Sora sends
// them.
//
//	status  error_type            when
//	204     -                     OPTIONS (CORS preflight): Allow: POST, OPTIONS, no body
//	400     INVALID-JSON          the body is not a JSON object, not UTF-8, or malformed
//	400     MISSING-KEY           a required key is absent or null (error_reason.key)
//	400     INVALID-TYPE          a key has the wrong JSON type (error_reason.key)
//	400     INVALID-VALUE         a key's value is out of range: empty or over 255-byte id, unknown role or mode
//	400     UNKNOWN-TARGET        no or an unknown x-sora-target (error_reason.target)
//	400     NO-VIDEO-TRACK        RequestKeyFrame or ChangeUpstreamVideoBitRate on a connection that publishes no video; PauseRtpStream whose sender publishes none
//	400     NO-MEDIA-TRACK        StartForwardingRtp on a connection that publishes neither audio nor video (yet)
//	400     DESTINATION-NOT-ALLOWED  StartForwardingRtp to an address neither loopback nor in Config.RTPForwardingAllowList (error_reason.key ip_address)
//	400     AUDIO-STREAMING-ALREADY-STARTED  StartAudioStreaming on a channel whose session streams already
//	400     AUDIO-STREAMING-NOT-STARTED      StopAudioStreaming on a channel that does not stream
//	403     FORBIDDEN             Config.LoopbackOnly (api_loopback_address_only) and a non-loopback client
//	404     CHANNEL-NOT-FOUND     the channel has no connection
//	404     CONNECTION-NOT-FOUND  no such connection in that channel
//	404     CLIENT-NOT-FOUND      no connection with that client_id in that channel
//	404     STATS-NOT-FOUND       GetUserAgentStats for a connection that has sent no stats report yet
//	404     NOT-FOUND             a path other than /
//	405     METHOD-NOT-ALLOWED    a method other than POST and OPTIONS
//	413     BODY-TOO-LARGE        the body exceeds Config.MaxBodyBytes (error_reason.limit)
//	500     INTERNAL-ERROR        a server fault (logged)
//	501     NOT-IMPLEMENTED       a known operation this server cannot do yet (table below), a media operation the media plane lacks,
//	                              a user-agent stats or audio streaming operation without Config.UAStats / Config.AudioStreams,
//	                              or StartAudioStreaming without audio_streaming_url
//
// # Operations
//
//	target                                            keys (? optional)                                    result
//	Sora_20201013.ListChannels                        local?                                               [{channel_id, multistream, spotlight}]
//	Sora_20201013.ListConnections                     -                                                    [Connection]
//	Sora_20201013.ListChannelConnections              channel_id                                           [Connection]
//	Sora_20151104.DisconnectChannel                   channel_id, reason?                                  {channel_id}
//	Sora_20151104.DisconnectClient                    channel_id, client_id, reason?                       {channel_id, client_id}
//	Sora_20151104.DisconnectConnection                channel_id, connection_id, reason?                   {channel_id, connection_id}
//	Sora_20201120.DisconnectChannelByRole             channel_id, role                                     {channel_id, role}
//	Sora_20241218.RequestKeyFrame                     channel_id, connection_id                            {channel_id, connection_id}
//	Sora_20160711.PushChannel                         channel_id, data                                     {data, type: "push"}
//	Sora_20160711.PushClient                          channel_id, client_id, data                          {data, type: "push"}
//	Sora_20160711.PushConnection                      channel_id, connection_id, data                      {data, type: "push"}
//	Sora_20201120.PushChannelByRole                   channel_id, role, data                               {data, type: "push"}
//	Sora_20211215.ChangeMode                          mode                                                 {mode}
//	Sora_20211215.GetMode                             -                                                    {mode}
//	Sora_20201124.ListSignalingNotifyMetadata         channel_id                                           [{client_id, bundle_id, connection_id, metadata}]
//	Sora_20201124.GetSignalingNotifyMetadata          channel_id, connection_id                            metadata
//	Sora_20201124.PutSignalingNotifyMetadata          channel_id, connection_id, metadata, push?           metadata after
//	Sora_20201124.DeleteSignalingNotifyMetadata       channel_id, connection_id, push?                     metadata before
//	Sora_20201124.PutSignalingNotifyMetadataItem      channel_id, connection_id, key, value, push?         metadata after
//	Sora_20201124.DeleteSignalingNotifyMetadataItem   channel_id, connection_id, key, push?                metadata after
//	Sora_20171010.GetStatsReport                      -                                                    node counters
//	Sora_20171101.GetStatsAllConnections              -                                                    [connection counters]
//	Sora_20170529.GetStatsConnection                  channel_id, connection_id                            connection counters
//	Sora_20170529.GetStatsClient                      channel_id, client_id                                [connection counters]
//	Sora_20171218.GetLicense                          -                                                    {expired_at, max_connections, product_name, serial_code, type}
//	Sora_20221221.GenerateCrashLog                    info?                                                {path}
//	Sora_20200401.PauseRtpStream                      channel_id, recv_connection_id, send_connection_id   the request's three ids
//	Sora_20200401.ResumeRtpStream                     channel_id, recv_connection_id, send_connection_id   the request's three ids
//	Sora_20200401.ListPauseRtpStreams                 channel_id                                           [{channel_id, recv_connection_id, role, send_connection_id}]
//	Sora_20190327.ChangeUpstreamVideoBitRate          channel_id, connection_id, bit_rate (1-30000 kbps)   {bit_rate, channel_id, connection_id}
//	Sora_20170814.StartForwardingRtp                  channel_id, connection_id?, ip_address, audio_port,  {sdp}
//	                                                    video_port (1-65535, different)
//	Sora_20170814.StopForwardingRtp                   channel_id, connection_id?                           {channel_id, connection_id?}
//	Sora_20211215.ListUserAgentStats                  -                                                    [{channel_id, connection_id, timestamp, user_agent_stats}]
//	Sora_20211215.ListChannelUserAgentStats           channel_id                                           [{channel_id, connection_id, timestamp, user_agent_stats}]
//	Sora_20211215.GetUserAgentStats                   channel_id, connection_id                            {channel_id, connection_id, stats, timestamp}
//	Sora_20221221.StartAudioStreaming                 channel_id                                           {session_id}
//	Sora_20221221.StopAudioStreaming                  channel_id                                           {session_id}
//	Sora_20221221.SubscribeAudioStreamingResultPush   channel_id, connection_id                            {channel_id, connection_id}
//	Sora_20221221.UnsubscribeAudioStreamingResultPush channel_id, connection_id                            {channel_id, connection_id}
//	Sora_20230628.ListAudioStreamingResultPushState   channel_id                                           [{channel_id, connection_id, subscribed}]
//
// A Connection is {audio, bundle_id, channel_id, client_id, connection_id,
// created_time, multistream, role, session_id, simulcast, spotlight, video}
// with audio and video false or {codec_type, bit_rate?}; created_time is
// when the connect was admitted (Unix seconds). Connections are listed in
// channel-id order, then join order; they include connections whose
// transport is not up yet.
//
// Disconnect* close each connection's WebSocket with 1000 DISCONNECTED-API;
// it leaves its channel and the others get connection.destroyed. The
// optional reason object is checked (it must be an object) and otherwise
// unused until event webhooks exist. Push* queue {"type":"push","data":…}
// on each addressed connection's signaling channel. The *ByRole operations
// answer 200 when the channel exists and nobody has the role. ChangeMode
// affects only later connects: block_new_session refuses a connect to a
// channel without connections, block_new_connection every connect, both
// with the WebSocket close room.CloseModeBlocked (4503) and the reason
// "MODE-BLOCKED: <mode>". RequestKeyFrame sends a PLI for each video track
// the connection publishes.
//
// The signaling notify metadata ext is an object per connection, {} until
// set, dropped when the connection leaves. With push: true each change is
// pushed to every connection of the channel as
// {"type":"push","data":{"action":A,"connection_id":…,…,"type":"signaling_notify_metadata_ext"}}
// where A and the other members are: PutMetadataItem (key, value) as in the
// seed document; DeleteMetadataItem (key); PutMetadata (metadata, the new
// object); DeleteMetadata (metadata: {}).
//
// GetStatsReport counts connections and sessions since start (created =
// transport up and answer applied; failed = refused by the mode or gone
// before created), durations (total and average from created to left or
// now), setup time (connect to created), SRTP/SRTCP packets and bytes in
// (authenticated, so received = decrypted) and out over every transport,
// and connections by sora_client type. The webhook counters
// (total_auth_webhook_allowed, …, total_ignored_stats_webhook) and the TURN
// counters (total_turn_udp_connections, total_turn_tcp_connections,
// total_received_invalid_turn_tcp_packet) come from
// Config.ExtraCounters, 0 when it has none; the SCTP counters
// (total_received_sctp, …) too, left out when it has none. Hayate adds the
// audio streaming counters: total_started_audio_streaming,
// total_successful_audio_streaming, total_failed_audio_streaming,
// total_sent_audio_streaming_packet, total_sent_audio_streaming_byte_size,
// total_dropped_audio_streaming_packet,
// total_received_audio_streaming_result and
// total_invalid_audio_streaming_result (audiostream.Counters). Not
// reported yet: total_connection_updated, total_sent_srtp_sfu_delay_us,
// error, erlang_vm; cluster has no meaning without a cluster. The
// per-connection counters are
// {bundle_id, channel_id, client_id, connection_id, created_time, role,
// session_id, total_received_nack, total_received_pli, total_received_srtp,
// total_received_srtp_byte_size, total_retransmitted_srtp, total_sent_srtp,
// total_sent_srtp_byte_size}.
//
// Media operations (media_ops.go). PauseRtpStream stops the video (only
// video, as the seed document says) of send_connection_id towards
// recv_connection_id: the plane drops it for that receiver while the
// sender keeps publishing; the pause also covers video the receiver gets
// from the sender later and lasts until ResumeRtpStream or until one of the
// two leaves. ResumeRtpStream restarts it from a keyframe (the plane asks
// the sender for one). Pausing or resuming twice is harmless.
// ListPauseRtpStreams lists the pauses in the order they were made; role is
// the receiver's. ChangeUpstreamVideoBitRate caps what the connection sends
// for its video: the plane sends it a REMB at bit_rate every second, which
// browsers obey. StartForwardingRtp sends the audio and the video of one
// publishing connection (connection_id, or without it the channel's only
// connection whose role publishes: otherwise 400 MISSING-KEY naming
// connection_id) as plain RTP from media_port to ip_address:audio_port and
// ip_address:video_port, each with an SSRC of its own, continuous sequence
// numbers and timestamps, the video from a keyframe; ip_address must be a
// loopback address or in Config.RTPForwardingAllowList. The answer's sdp
// lets ffmpeg (-protocol_whitelist file,udp,rtp) or GStreamer receive the
// streams: one recvonly RTP/AVP m-line per forwarded track with c=, rtpmap,
// fmtp and a=ssrc (the seed's example says RTP/SAVPF, which a plain
// receiver would take for SRTP). Starting again replaces the destinations.
// StopForwardingRtp ends the connection's forwarding, or every forwarding
// of the channel without connection_id; stopping what does not run is 200.
// A forwarding ends too when its publisher leaves.
//
// User-agent stats (uastats.go): the last RTC stats report each client sent
// (pong.stats on WebSocket, every 5 s; stats on the DataChannel, every
// 30 s), as the signaling code recorded it in Config.UAStats, with the time
// it arrived (timestamp, UTC with milliseconds). The lists hold the
// connections that have sent a report and are still there, in channel-id
// order, then by the report's time; the report is the client's JSON array
// as it came (compacted).
//
// Audio streaming (audiostream.go; the model is ctrl/audiostream's):
// StartAudioStreaming makes the channel's session stream the audio of each
// of its publishers that has an audio_streaming_language_code, each in one
// HTTP/2 POST to audio_streaming_url, until StopAudioStreaming or the end
// of the session; both answer with the session id. A connection that
// subscribed (SubscribeAudioStreamingResultPush) gets each line the
// gateway answers as a push, {"type":"push","data":<line's object with
// connection_id>}, and a failed stream as a push of {"type":"error",
// "reason":"AUDIO-STREAMING-FAILED: …", "connection_id", …}.
// ListAudioStreamingResultPushState lists every connection of the channel
// with whether it subscribed (the seed document gives no shape; this is
// Hayate's). Subscribing or unsubscribing twice is harmless.
//
// The simulcast and spotlight operations (RequestSimulcastRid,
// RequestRtpStream, ResetRtpStream, FocusSpotlight, FocusSpotlightFixed,
// UnfocusSpotlight, ChangeSpotlightNumber, RequestSpotlightRid,
// ResetSpotlightRid, BatchRequestSpotlightRid) are described in simulcast.go.
//
// # Not implemented yet (501 NOT-IMPLEMENTED)
//
//	operations                                                                  needs
//	Sora_20221221.InitCluster, Sora_20211215.JoinCluster, RegisterClusterNode,   cluster = true (then
//	  ListClusterNodes, ListClusterChannels, Sora_20220629.PurgeClusterNode        ctrl/cluster serves them
//	                                                                               through Config.Intercept)
//	Sora_20230628.*ForwardingFilter(s) (7 operations)                            forwarding filters
//	Sora_20230628.TerminateSession, Sora_20231220.GetSession, ListSessions       session operations
//	Sora_20231220.StartRecording, StopRecording                                  recording
//	Sora_20211215.ListRtcStats, ListChannelRtcStats, GetRtcStats                 collecting RTC stats
//	Sora_20171218.UpdateLicense                                                  (Hayate has no license file)
//
// Targets lists the dispatch table (hayate ctl uses it to complete an
// operation name with its date).
//
// # Concurrency
//
// API methods may be called from any goroutine; the API keeps no state of
// its own beyond its Config and metric (the user-agent reports and the
// audio streaming state live in Config.UAStats and Config.AudioStreams,
// which are safe for concurrent use). Each operation takes the registry's
// locks only inside room calls, so operations on different channels run in
// parallel, and an operation sees a channel as of the moment it reads it
// (a connection that leaves meanwhile is skipped, or answers 404).
package api
