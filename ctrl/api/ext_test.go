package api

import (
	"encoding/json"
	"log/slog"
	"net/netip"
	"testing"
	"time"

	"github.com/hayate-sfu/hayate/ctrl/audiostream"
	"github.com/hayate-sfu/hayate/ctrl/room"
	"github.com/hayate-sfu/hayate/ctrl/uastats"
)

// Golden tests of the user-agent stats and audio streaming operations and
// of GetStatsReport's extra counters. The env has a uastats.Store and an
// audiostream.Streams over the env's registry; world's connections give
// no audio_streaming_language_code, so starting the streaming sends
// nothing anywhere (ctrl/audiostream tests the streams themselves).

const (
	tUAList   = "Sora_20211215.ListUserAgentStats"
	tUAChList = "Sora_20211215.ListChannelUserAgentStats"
	tUAGet    = "Sora_20211215.GetUserAgentStats"
	tASStart  = "Sora_20221221.StartAudioStreaming"
	tASStop   = "Sora_20221221.StopAudioStreaming"
	tASSub    = "Sora_20221221.SubscribeAudioStreamingResultPush"
	tASUnsub  = "Sora_20221221.UnsubscribeAudioStreamingResultPush"
	tASState  = "Sora_20230628.ListAudioStreamingResultPushState"
)

// newExtEnv is env.world with Config.UAStats and Config.AudioStreams.
func newExtEnv(t *testing.T, cfgs ...func(*Config)) *env { return newExtEnvTB(t, cfgs...) }

func newExtEnvTB(t testing.TB, cfgs ...func(*Config)) *env {
	t.Helper()
	var streams *audiostream.Streams
	ext := func(c *Config) {
		st, err := uastats.New(uastats.Config{MaxReportBytes: 4096})
		if err != nil {
			t.Fatal(err)
		}
		c.UAStats = st
		streams = newTestStreams(t, audiostream.Config{URL: "http://127.0.0.1:9/speech", Rooms: audiostream.RegistryRooms{Registry: c.Rooms}})
		c.AudioStreams = streams
	}
	e := newEnv(t, append([]func(*Config){ext}, cfgs...)...)
	if s := e.api.cfg.AudioStreams; s != nil && s != streams {
		t.Cleanup(s.Close)
	}
	e.world()
	return e
}

func newTestStreams(t testing.TB, cfg audiostream.Config) *audiostream.Streams {
	t.Helper()
	cfg.Logger = slog.New(slog.DiscardHandler)
	cfg.SyncInterval = time.Hour
	s, err := audiostream.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	return s
}

// record stores a stats report of member name at the env's clock.
func record(e *env, name, report string) {
	info := e.peers[name].c.Info()
	err := e.api.cfg.UAStats.Record(uastats.ConnInfo{ChannelID: info.ChannelID, SessionID: info.SessionID,
		ClientID: info.ClientID, ConnectionID: info.ConnectionID}, json.RawMessage(report), e.clock())
	if err != nil {
		e.t.Fatal(err)
	}
}

const (
	reportA = `[{"audioLevel":0,"id":"RTCAudioSource_1","kind":"audio","timestamp":1636808733258.573,"totalAudioEnergy":0,"type":"media-source"}]`
	reportD = `[ {"id": "OT01V3527", "type": "outbound-rtp", "kind": "video", "bytesSent": 123456} ]`
)

// reports: A and D sent a report 2 s apart; B sent one and left.
func reports(e *env) {
	record(e, "B", `[{"id":"B"}]`)
	e.peers["B"].c.Leave()
	record(e, "A", reportA)
	e.advance(2 * time.Second)
	record(e, "D", reportD)
	e.advance(3 * time.Second)
}

func noUAStats(c *Config)      { c.UAStats = nil }
func noAudioStreams(c *Config) { c.AudioStreams = nil }

func startStreaming(e *env) {
	if _, err := e.api.cfg.AudioStreams.Start("sora"); err != nil {
		e.t.Fatal(err)
	}
}

func streamingState(e *env) {
	sid, on := e.api.cfg.AudioStreams.Streaming("sora")
	e.fx.add("sora streams: %v (session %s)", on, sid)
}

func subscribed(e *env) {
	for _, n := range []string{"A", "B", "C"} {
		e.fx.add("%s subscribed: %v", n, e.api.cfg.AudioStreams.Subscribed(e.peers[n].c.ID()))
	}
}

var extGoldenCases = []goldenCase{
	// --- user-agent stats ---
	{name: "ListUserAgentStats/ok", target: tUAList, before: reports,
		after: func(e *env) { e.fx.add("reports kept: %d (B's dropped)", e.api.cfg.UAStats.Len()) }},
	{name: "ListUserAgentStats/none_yet", target: tUAList},
	{name: "ListUserAgentStats/not_collected", target: tUAList, cfg: noUAStats},
	{name: "ListChannelUserAgentStats/ok", target: tUAChList, body: `{"channel_id":"sora"}`, before: reports},
	{name: "ListChannelUserAgentStats/none_yet", target: tUAChList, body: `{"channel_id":"akane"}`},
	{name: "ListChannelUserAgentStats/unknown_channel", target: tUAChList, body: `{"channel_id":"nobody"}`, before: reports},
	{name: "ListChannelUserAgentStats/missing_channel_id", target: tUAChList, body: `{}`},
	{name: "GetUserAgentStats/ok", target: tUAGet, body: `{"channel_id":"akane","connection_id":"` + idD + `"}`, before: reports},
	{name: "GetUserAgentStats/no_report_yet", target: tUAGet, body: `{"channel_id":"sora","connection_id":"` + idC + `"}`, before: reports},
	{name: "GetUserAgentStats/other_channel", target: tUAGet, body: `{"channel_id":"akane","connection_id":"` + idA + `"}`, before: reports},
	{name: "GetUserAgentStats/left", target: tUAGet, body: `{"channel_id":"sora","connection_id":"` + idB + `"}`, before: reports},
	{name: "GetUserAgentStats/missing_connection_id", target: tUAGet, body: `{"channel_id":"sora"}`},
	{name: "GetUserAgentStats/not_collected", target: tUAGet, body: `{"channel_id":"sora","connection_id":"` + idA + `"}`, cfg: noUAStats},

	// --- audio streaming ---
	{name: "StartAudioStreaming/ok", target: tASStart, body: `{"channel_id":"sora"}`, after: streamingState},
	{name: "StartAudioStreaming/already_started", target: tASStart, body: `{"channel_id":"sora"}`, before: startStreaming},
	{name: "StartAudioStreaming/unknown_channel", target: tASStart, body: `{"channel_id":"nobody"}`},
	{name: "StartAudioStreaming/missing_channel_id", target: tASStart, body: `{"channel":"sora"}`},
	{name: "StartAudioStreaming/no_url", target: tASStart, body: `{"channel_id":"sora"}`, cfg: func(c *Config) {
		s, err := audiostream.New(audiostream.Config{Rooms: audiostream.RegistryRooms{Registry: c.Rooms}, SyncInterval: time.Hour})
		if err != nil {
			panic(err)
		}
		c.AudioStreams = s
	}},
	{name: "StartAudioStreaming/not_configured", target: tASStart, body: `{"channel_id":"sora"}`, cfg: noAudioStreams},
	{name: "StopAudioStreaming/ok", target: tASStop, body: `{"channel_id":"sora"}`, before: startStreaming, after: streamingState},
	{name: "StopAudioStreaming/not_started", target: tASStop, body: `{"channel_id":"sora"}`},
	{name: "StopAudioStreaming/unknown_channel", target: tASStop, body: `{"channel_id":"nobody"}`},
	{name: "SubscribeAudioStreamingResultPush/ok", target: tASSub, body: `{"channel_id":"sora","connection_id":"` + idB + `"}`, after: subscribed},
	{name: "SubscribeAudioStreamingResultPush/unknown_connection", target: tASSub, body: `{"channel_id":"akane","connection_id":"` + idB + `"}`},
	{name: "SubscribeAudioStreamingResultPush/missing_connection_id", target: tASSub, body: `{"channel_id":"sora"}`},
	{name: "UnsubscribeAudioStreamingResultPush/ok", target: tASUnsub, body: `{"channel_id":"sora","connection_id":"` + idB + `"}`,
		before: func(e *env) {
			e.api.cfg.AudioStreams.Subscribe("sora", idA)
			e.api.cfg.AudioStreams.Subscribe("sora", idB)
		}, after: subscribed},
	{name: "UnsubscribeAudioStreamingResultPush/not_subscribed", target: tASUnsub, body: `{"channel_id":"sora","connection_id":"` + idC + `"}`},
	{name: "ListAudioStreamingResultPushState/ok", target: tASState, body: `{"channel_id":"sora"}`,
		before: func(e *env) { e.api.cfg.AudioStreams.Subscribe("sora", idB) }},
	{name: "ListAudioStreamingResultPushState/unknown_channel", target: tASState, body: `{"channel_id":"nobody"}`},
	{name: "ListAudioStreamingResultPushState/not_configured", target: tASState, body: `{"channel_id":"sora"}`, cfg: noAudioStreams},

	// --- GetStatsReport with the other parts' counters ---
	{name: "GetStatsReport/extra_counters", target: tReport, cfg: func(c *Config) {
		c.ExtraCounters = func() map[string]uint64 {
			return map[string]uint64{
				"total_auth_webhook_allowed": 7, "total_auth_webhook_denied": 2, "total_successful_auth_webhook": 9,
				"total_failed_session_webhook": 1, "total_turn_udp_connections": 3, "total_turn_tcp_connections": 1,
				"total_received_invalid_turn_tcp_packet": 38,
				"total_received_sctp":                    10, "total_received_sctp_byte_size": 1000, "total_sent_sctp": 20, "total_sent_sctp_byte_size": 2000,
				// Computed by the API from the room: not replaced.
				"total_connection_created": 999, "version": 1, "total_started_audio_streaming": 5,
			}
		}
	}},
	{name: "GetStatsReport/cluster", target: tReport, cfg: func(c *Config) {
		c.ClusterStatus = func() (any, bool) {
			return map[string]any{"raft_state": "leader", "raft_term": 3, "raft_commit_index": 42}, true
		}
	}},
	{name: "GetStatsReport/cluster_not_joined", target: tReport, cfg: func(c *Config) {
		c.ClusterStatus = func() (any, bool) { return nil, false }
	}},
}

func TestExtGolden(t *testing.T) {
	runGoldenCases(t, extGoldenCases, newExtEnv)
}

// A stream through the API's own wiring: RegistryRooms over the env's
// registry picks the channel's created publishers that have a language
// code and asks for their audio (refused here: ErrNoAudio, so it asks
// again at the next sync, and nothing is counted as failed).
func TestAudioStreamingThroughRegistry(t *testing.T) {
	forwarded := make(chan string, 100)
	e := newExtEnv(t, func(c *Config) {
		c.AudioStreams = newTestStreams(t, audiostream.Config{
			URL: "http://127.0.0.1:9/speech",
			Rooms: audiostream.RegistryRooms{Registry: c.Rooms,
				Forward: func(id string, to netip.AddrPort, ssrc uint32) (func(), error) {
					select {
					case forwarded <- id:
					default:
					}
					return nil, audiostream.ErrNoAudio
				},
				LanguageCode: func(info room.ConnectionInfo) string {
					if info.ClientID == "alice" {
						return "ja-JP"
					}
					return ""
				}},
		})
	})
	if status, body := e.api.Call(tASStart, []byte(`{"channel_id":"sora"}`)); status != 200 {
		t.Fatalf("%d %s", status, body)
	}
	select {
	case id := <-forwarded:
		if id != idA {
			t.Fatalf("asked for the audio of %s, want A (%s)", id, idA)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no stream was begun")
	}
	e.api.cfg.AudioStreams.Close()
	close(forwarded)
	// Alice's created sendrecv A only: B is bob's and recvonly, C (alice's)
	// has no transport yet, D is in another channel.
	for id := range forwarded {
		if id != idA {
			t.Fatalf("asked for the audio of %s", id)
		}
	}
	if c := e.api.cfg.AudioStreams.Counters(); c.Failed != 0 || c.Started != 0 {
		t.Fatalf("counters %+v", c)
	}
}
