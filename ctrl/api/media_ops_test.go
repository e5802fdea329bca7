package api

import (
	"encoding/json"
	"log/slog"
	"math/rand/v2"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/hayate-sfu/hayate/ctrl/room"
	"github.com/hayate-sfu/hayate/dataplane"
	"github.com/pion/sdp/v3"
	"github.com/prometheus/client_golang/prometheus"
)

// The fakes' side of the media operations (room.MediaControls on a
// transport, room.RTPForwarder on the factory), wrapping the package's
// fakes so that those may grow methods of their own: each call is an
// effect in the golden file.

type mediaFactory struct{ *fakeFactory }

func (f mediaFactory) NewTransport(id string, ev dataplane.TransportEvents) (room.Transport, error) {
	t, err := f.fakeFactory.NewTransport(id, ev)
	if err != nil {
		return nil, err
	}
	return mediaTransport{t.(*fakeTransport)}, nil
}

// StartRTPForwarding uses the SSRC as the id (the room never repeats one).
func (f mediaFactory) StartRTPForwarding(trackID string, to netip.AddrPort, ssrc uint32) (uint64, error) {
	f.fx.add("plane: StartRTPForwarding %s to %s ssrc=%d", trackID, to, ssrc)
	return uint64(ssrc), nil
}

func (f mediaFactory) StopRTPForwarding(id uint64) { f.fx.add("plane: StopRTPForwarding %d", id) }

type mediaTransport struct{ *fakeTransport }

func (t mediaTransport) PauseDownstream(trackID string, paused bool) error {
	t.fx.add("transport of %s: PauseDownstream %s paused=%v", t.id, trackID, paused)
	return nil
}

func (t mediaTransport) SetUpstreamBitrateCap(trackID string, bps uint64) error {
	t.fx.add("transport of %s: SetUpstreamBitrateCap %s %d bps", t.id, trackID, bps)
	return nil
}

// newMediaEnv is newEnv over the media fakes.
func newMediaEnv(t testing.TB, mutate ...func(*Config)) *env {
	t.Helper()
	e := &env{t: t, fx: &effects{}, now: start, peers: map[string]*member{}, prm: prometheus.NewRegistry()}
	e.fac = &fakeFactory{fx: e.fx}
	reg, err := room.NewRegistry(room.Config{
		Transports: mediaFactory{e.fac},
		Logger:     slog.New(slog.DiscardHandler),
		Notify:     true,
		Version:    "2026.1.0-test",
		Now:        e.clock,
		NewID:      e.newID,
		Rand:       rand.NewPCG(1, 2),
	})
	if err != nil {
		t.Fatal(err)
	}
	e.reg = reg
	cfg := Config{Rooms: reg, Logger: slog.New(slog.DiscardHandler), Registerer: e.prm, Version: "2026.1.0-test",
		CrashLogDir: t.TempDir(), Now: e.clock}
	for _, m := range mutate {
		m(&cfg)
	}
	if e.api, err = New(cfg); err != nil {
		t.Fatal(err)
	}
	return e
}

const (
	tPause  = "Sora_20200401.PauseRtpStream"
	tResume = "Sora_20200401.ResumeRtpStream"
	tPaused = "Sora_20200401.ListPauseRtpStreams"
	tBitR   = "Sora_20190327.ChangeUpstreamVideoBitRate"
	tFwdOn  = "Sora_20170814.StartForwardingRtp"
	tFwdOff = "Sora_20170814.StopForwardingRtp"
)

// call runs an operation before the recorded request and requires 200.
func call(target, body string) func(*env) {
	return func(e *env) {
		if status, resp := e.api.Call(target, []byte(body)); status != 200 {
			e.t.Fatalf("%s %s: %d %s", target, body, status, resp)
		}
	}
}

func pair(recv, send string) string {
	return `{"channel_id":"sora","recv_connection_id":"` + recv + `","send_connection_id":"` + send + `"}`
}

// listPauses records the room's pauses after the request.
func listPauses(e *env) {
	for _, p := range e.reg.PausedRTPStreams("sora") {
		e.fx.add("paused: %s receives no video of %s", p.RecvConnectionID, p.SendConnectionID)
	}
}

func fwd(extra string) string {
	return `{"channel_id":"akane","ip_address":"127.0.0.1","audio_port":60001,"video_port":60003` + extra + `}`
}

// checkSDP parses a StartForwardingRtp answer as a receiver would and
// checks what ffmpeg needs: one recvonly RTP/AVP m-line per port with a
// connection address and an rtpmap for its payload type.
func checkSDP(ip string, ports ...int) func(*testing.T, *env, []byte) {
	return func(t *testing.T, _ *env, body []byte) {
		var r sdpResult
		if err := json.Unmarshal(body, &r); err != nil {
			t.Fatal(err)
		}
		var sd sdp.SessionDescription
		if err := sd.UnmarshalString(r.SDP); err != nil {
			t.Fatalf("the SDP does not parse: %v\n%s", err, r.SDP)
		}
		if len(sd.MediaDescriptions) != len(ports) {
			t.Fatalf("%d m-lines, want %d", len(sd.MediaDescriptions), len(ports))
		}
		for i, md := range sd.MediaDescriptions {
			if md.MediaName.Port.Value != ports[i] || strings.Join(md.MediaName.Protos, "/") != "RTP/AVP" || len(md.MediaName.Formats) != 1 {
				t.Errorf("m-line %d: %+v", i, md.MediaName)
			}
			if md.ConnectionInformation == nil || md.ConnectionInformation.Address.Address != ip {
				t.Errorf("m-line %d: connection %+v, want %s", i, md.ConnectionInformation, ip)
			}
			if rm, ok := md.Attribute("rtpmap"); !ok || !strings.HasPrefix(rm, md.MediaName.Formats[0]+" ") {
				t.Errorf("m-line %d: rtpmap %q for payload type %s", i, rm, md.MediaName.Formats[0])
			}
			if _, ok := md.Attribute("recvonly"); !ok {
				t.Errorf("m-line %d is not recvonly", i)
			}
		}
	}
}

var mediaGoldenCases = []goldenCase{
	// --- RTP stream pause ---
	{name: "PauseRtpStream/ok", target: tPause, body: pair(idB, idA), after: listPauses},
	{name: "PauseRtpStream/not_forwarded_yet", target: tPause, body: pair(idA, idC), after: listPauses},
	{name: "PauseRtpStream/twice", target: tPause, body: pair(idB, idA), before: call(tPause, pair(idB, idA)), after: listPauses},
	{name: "PauseRtpStream/unknown_recv", target: tPause, body: pair("CONN9999999999999999999999", idA)},
	{name: "PauseRtpStream/send_in_other_channel", target: tPause, body: pair(idB, idD)},
	{name: "PauseRtpStream/same_connection", target: tPause, body: pair(idA, idA)},
	{name: "PauseRtpStream/receiver_sendonly", target: tPause, body: pair(idC, idA)},
	{name: "PauseRtpStream/sender_recvonly", target: tPause, body: pair(idA, idB)},
	{name: "PauseRtpStream/missing_send_connection_id", target: tPause, body: `{"channel_id":"sora","recv_connection_id":"` + idB + `"}`},
	{name: "ResumeRtpStream/ok", target: tResume, body: pair(idB, idA), before: call(tPause, pair(idB, idA)), after: listPauses},
	{name: "ResumeRtpStream/not_paused", target: tResume, body: pair(idB, idA), after: listPauses},
	{name: "ResumeRtpStream/recv_connection_id_number", target: tResume, body: `{"channel_id":"sora","recv_connection_id":1,"send_connection_id":"` + idA + `"}`},
	{name: "ListPauseRtpStreams/ok", target: tPaused, body: `{"channel_id":"sora"}`,
		before: func(e *env) { call(tPause, pair(idB, idA))(e); call(tPause, pair(idA, idC))(e) }},
	{name: "ListPauseRtpStreams/none", target: tPaused, body: `{"channel_id":"sora"}`},
	{name: "ListPauseRtpStreams/after_sender_left", target: tPaused, body: `{"channel_id":"sora"}`,
		before: func(e *env) { call(tPause, pair(idB, idA))(e); e.peers["A"].c.Leave() }},
	{name: "ListPauseRtpStreams/unknown_channel", target: tPaused, body: `{"channel_id":"nobody"}`},

	// --- upstream video bitrate ---
	{name: "ChangeUpstreamVideoBitRate/ok", target: tBitR, body: `{"channel_id":"sora","connection_id":"` + idA + `","bit_rate":300}`},
	{name: "ChangeUpstreamVideoBitRate/max", target: tBitR, body: `{"channel_id":"akane","connection_id":"` + idD + `","bit_rate":30000}`},
	{name: "ChangeUpstreamVideoBitRate/exponent", target: tBitR, body: `{"channel_id":"sora","connection_id":"` + idA + `","bit_rate":1.5e3}`},
	{name: "ChangeUpstreamVideoBitRate/zero", target: tBitR, body: `{"channel_id":"sora","connection_id":"` + idA + `","bit_rate":0}`},
	{name: "ChangeUpstreamVideoBitRate/too_high", target: tBitR, body: `{"channel_id":"sora","connection_id":"` + idA + `","bit_rate":30001}`},
	{name: "ChangeUpstreamVideoBitRate/huge", target: tBitR, body: `{"channel_id":"sora","connection_id":"` + idA + `","bit_rate":1e400}`},
	{name: "ChangeUpstreamVideoBitRate/fraction", target: tBitR, body: `{"channel_id":"sora","connection_id":"` + idA + `","bit_rate":300.5}`},
	{name: "ChangeUpstreamVideoBitRate/string", target: tBitR, body: `{"channel_id":"sora","connection_id":"` + idA + `","bit_rate":"300"}`},
	{name: "ChangeUpstreamVideoBitRate/missing_bit_rate", target: tBitR, body: `{"channel_id":"sora","connection_id":"` + idA + `"}`},
	{name: "ChangeUpstreamVideoBitRate/recvonly", target: tBitR, body: `{"channel_id":"sora","connection_id":"` + idB + `","bit_rate":300}`},
	{name: "ChangeUpstreamVideoBitRate/not_created", target: tBitR, body: `{"channel_id":"sora","connection_id":"` + idC + `","bit_rate":300}`},
	{name: "ChangeUpstreamVideoBitRate/unknown_connection", target: tBitR, body: `{"channel_id":"akane","connection_id":"` + idA + `","bit_rate":300}`},

	// --- RTP forwarding ---
	{name: "StartForwardingRtp/only_publisher", target: tFwdOn, body: fwd(""), check: checkSDP("127.0.0.1", 60001, 60003)},
	{name: "StartForwardingRtp/connection_id", target: tFwdOn, check: checkSDP("127.0.0.1", 60001, 60003),
		body: `{"channel_id":"sora","connection_id":"` + idA + `","ip_address":"127.0.0.1","audio_port":60001,"video_port":60003}`},
	{name: "StartForwardingRtp/ipv6_loopback", target: tFwdOn, check: checkSDP("::1", 5004, 5006),
		body: `{"channel_id":"akane","ip_address":"::1","audio_port":5004,"video_port":5006}`},
	{name: "StartForwardingRtp/allow_list", target: tFwdOn, check: checkSDP("192.0.2.10", 60001, 60003),
		body: `{"channel_id":"akane","ip_address":"192.0.2.10","audio_port":60001,"video_port":60003}`,
		cfg:  func(c *Config) { c.RTPForwardingAllowList = []netip.Prefix{netip.MustParsePrefix("192.0.2.0/24")} }},
	{name: "StartForwardingRtp/restart", target: tFwdOn, body: fwd(""), before: call(tFwdOn, fwd(""))},
	{name: "StartForwardingRtp/not_allowed", target: tFwdOn,
		body: `{"channel_id":"akane","ip_address":"192.0.2.10","audio_port":60001,"video_port":60003}`},
	{name: "StartForwardingRtp/two_publishers", target: tFwdOn,
		body: `{"channel_id":"sora","ip_address":"127.0.0.1","audio_port":60001,"video_port":60003}`},
	{name: "StartForwardingRtp/no_publisher", target: tFwdOn,
		body:   `{"channel_id":"kotoha","ip_address":"127.0.0.1","audio_port":60001,"video_port":60003}`,
		before: func(e *env) { e.join("K", joinReq("kotoha", "", room.RoleRecvOnly), true) }},
	{name: "StartForwardingRtp/recvonly_connection", target: tFwdOn,
		body: `{"channel_id":"sora","connection_id":"` + idB + `","ip_address":"127.0.0.1","audio_port":60001,"video_port":60003}`},
	{name: "StartForwardingRtp/unknown_channel", target: tFwdOn,
		body: `{"channel_id":"nobody","ip_address":"127.0.0.1","audio_port":60001,"video_port":60003}`},
	{name: "StartForwardingRtp/not_an_ip", target: tFwdOn,
		body: `{"channel_id":"akane","ip_address":"localhost","audio_port":60001,"video_port":60003}`},
	{name: "StartForwardingRtp/unspecified_ip", target: tFwdOn,
		body: `{"channel_id":"akane","ip_address":"0.0.0.0","audio_port":60001,"video_port":60003}`},
	{name: "StartForwardingRtp/port_out_of_range", target: tFwdOn,
		body: `{"channel_id":"akane","ip_address":"127.0.0.1","audio_port":70000,"video_port":60003}`},
	{name: "StartForwardingRtp/same_ports", target: tFwdOn,
		body: `{"channel_id":"akane","ip_address":"127.0.0.1","audio_port":60001,"video_port":60001}`},
	{name: "StartForwardingRtp/missing_video_port", target: tFwdOn,
		body: `{"channel_id":"akane","ip_address":"127.0.0.1","audio_port":60001}`},
	{name: "StartForwardingRtp/connection_id_empty", target: tFwdOn, body: fwd(`,"connection_id":""`)},
	{name: "StopForwardingRtp/channel", target: tFwdOff, body: `{"channel_id":"akane"}`, before: call(tFwdOn, fwd(""))},
	{name: "StopForwardingRtp/connection", target: tFwdOff, body: `{"channel_id":"akane","connection_id":"` + idD + `"}`, before: call(tFwdOn, fwd(""))},
	{name: "StopForwardingRtp/nothing_running", target: tFwdOff, body: `{"channel_id":"akane"}`},
	{name: "StopForwardingRtp/unknown_channel", target: tFwdOff, body: `{"channel_id":"nobody"}`},
	{name: "StopForwardingRtp/unknown_connection", target: tFwdOff, body: `{"channel_id":"akane","connection_id":"` + idA + `"}`},
}

// TestMediaOpsGolden is TestGolden for the media operations.
func TestMediaOpsGolden(t *testing.T) {
	runGoldenCases(t, mediaGoldenCases, func(t *testing.T, cfgs ...func(*Config)) *env {
		e := newMediaEnv(t, cfgs...)
		e.world()
		return e
	})
}

// TestForwardingSDP: an Opus + H264 forwarding to IPv4 and an audio-only
// one to IPv6, line by line.
func TestForwardingSDP(t *testing.T) {
	opus, _ := dataplane.CodecByName("OPUS")
	h264, _ := dataplane.CodecByName("H264")
	ip4, ip6 := netip.MustParseAddr("198.51.100.7"), netip.MustParseAddr("2001:db8::7")
	got := ForwardingSDP(room.RTPForwarding{ConnectionID: "X", Tracks: []room.ForwardedTrack{
		{Kind: opus.Kind, Codec: opus, SSRC: 11, To: netip.AddrPortFrom(ip4, 5002)},
		{Kind: h264.Kind, Codec: h264, SSRC: 22, To: netip.AddrPortFrom(ip4, 5004)},
	}}, ip4)
	want := "v=0\r\no=- 0 0 IN IP4 198.51.100.7\r\ns=Hayate X\r\nt=0 0\r\n" +
		"m=audio 5002 RTP/AVP 111\r\nc=IN IP4 198.51.100.7\r\na=rtpmap:111 opus/48000/2\r\na=fmtp:111 minptime=10;useinbandfec=1\r\na=ssrc:11 cname:X\r\na=recvonly\r\n" +
		"m=video 5004 RTP/AVP 102\r\nc=IN IP4 198.51.100.7\r\na=rtpmap:102 H264/90000\r\n" +
		"a=fmtp:102 level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42e01f\r\na=ssrc:22 cname:X\r\na=recvonly\r\n"
	if got != want {
		t.Errorf("got\n%s\nwant\n%s", got, want)
	}
	got = ForwardingSDP(room.RTPForwarding{ConnectionID: "Y", Tracks: []room.ForwardedTrack{
		{Kind: opus.Kind, Codec: opus, SSRC: 1, To: netip.AddrPortFrom(ip6, 5002)}}}, ip6)
	if !strings.Contains(got, "o=- 0 0 IN IP6 2001:db8::7\r\n") || !strings.Contains(got, "m=audio 5002 RTP/AVP 111\r\nc=IN IP6 2001:db8::7\r\n") ||
		strings.Contains(got, "m=video") {
		t.Errorf("IPv6 audio only:\n%s", got)
	}
}

// FuzzMediaOpsRequests runs arbitrary bodies through the media operations'
// request decoders: they must not panic, and an error must name a key
// (or be INVALID-JSON for a body that is not an object). A decoded
// request's values must be within their documented ranges.
func FuzzMediaOpsRequests(f *testing.F) {
	for _, tc := range mediaGoldenCases {
		f.Add(tc.body)
	}
	f.Add(`{"bit_rate":-0}`)
	f.Add(`{"channel_id":"a","connection_id":"b","bit_rate":9223372036854775808}`)
	f.Add(`{"channel_id":"a","ip_address":"::ffff:127.0.0.1","audio_port":1,"video_port":65535}`)
	f.Fuzz(func(t *testing.T, s string) {
		b, e := parseBody([]byte(s))
		if e != nil {
			if e.Type != TypeInvalidJSON {
				t.Fatalf("parseBody(%q) = %v", s, e)
			}
			return
		}
		named := func(what string, e *Error) {
			if e != nil && e.Reason.Key == "" {
				t.Fatalf("%s(%q): an error without a key: %v", what, s, e)
			}
		}
		var pr rtpStreamRequest
		named("rtpStreamRequest", pr.decode(b))
		var br bitRateRequest
		if e := br.decode(b); e != nil {
			named("bitRateRequest", e)
		} else if br.BitRate < MinUpstreamVideoBitRate || br.BitRate > MaxUpstreamVideoBitRate {
			t.Fatalf("bit_rate %d decoded from %q", br.BitRate, s)
		}
		var sr startForwardingRequest
		if e := sr.decode(b); e != nil {
			named("startForwardingRequest", e)
		} else if !sr.IP.IsValid() || sr.IP.Is4In6() || sr.IP.Zone() != "" || sr.AudioPort == 0 || sr.VideoPort == 0 || sr.AudioPort == sr.VideoPort {
			t.Fatalf("startForwardingRequest %+v decoded from %q", sr, s)
		}
		var st stopForwardingRequest
		named("stopForwardingRequest", st.decode(b))
	})
}

// TestIntegerKey: the integer reader's edge cases, by message.
func TestIntegerKey(t *testing.T) {
	for _, tc := range []struct {
		raw, want string // want: the value, or the error type and message
	}{
		{`300`, "300"},
		{`3e2`, "300"},
		{` 1 `, "1"},
		{`-0`, "INVALID-VALUE k is 0 (want 1-30000)"},
		{`30000.0`, "30000"},
		{`30001`, "INVALID-VALUE k is 30001 (want 1-30000)"},
		{`1e999`, "INVALID-VALUE k is 1e999 (want 1-30000)"},
		{`99999999999999999999`, "INVALID-VALUE k is 99999999999999999999 (want 1-30000)"},
		{`0.5`, "INVALID-TYPE k must be an integer, not a fraction (0.5)"},
		{`"1"`, "INVALID-TYPE k must be an integer, not a string"},
		{`true`, "INVALID-TYPE k must be an integer, not a boolean"},
		{`null`, "MISSING-KEY k is required"},
	} {
		v, e := body{"k": json.RawMessage(tc.raw)}.integer("k", 1, 30000)
		got := strconv.FormatInt(v, 10)
		if e != nil {
			got = e.Type + " " + e.Reason.Message
		}
		if got != tc.want {
			t.Errorf("integer(%s) = %s, want %s", tc.raw, got, tc.want)
		}
	}
}

// TestForwardingAllowList: loopback always, others by prefix.
func TestForwardingAllowList(t *testing.T) {
	e := newMediaEnv(t, func(c *Config) {
		c.RTPForwardingAllowList = []netip.Prefix{netip.MustParsePrefix("10.1.0.0/16"), netip.MustParsePrefix("2001:db8::/32")}
	})
	var allowed []string
	for _, s := range []string{"127.0.0.1", "127.8.9.10", "::1", "10.1.2.3", "10.2.0.1", "2001:db8::5", "192.0.2.1", "::ffff:10.1.0.1"} {
		if e.api.forwardingAllowed(netip.MustParseAddr(s).Unmap()) {
			allowed = append(allowed, s)
		}
	}
	if want := []string{"127.0.0.1", "127.8.9.10", "::1", "10.1.2.3", "2001:db8::5", "::ffff:10.1.0.1"}; !slices.Equal(allowed, want) {
		t.Errorf("allowed %v, want %v", allowed, want)
	}
}
