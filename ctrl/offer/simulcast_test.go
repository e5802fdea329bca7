package offer

import (
	"encoding/json"
	"errors"
	"net"
	"slices"
	"strings"
	"testing"

	"github.com/hayate-sfu/hayate/dataplane"
	"github.com/pion/ice/v4"
	"github.com/pion/webrtc/v4"
)

func TestParseAnswerSimulcastChrome(t *testing.T) {
	a, err := ParseAnswer(readFixture(t, "answer_chrome_simulcast_sendonly.sdp"))
	if err != nil {
		t.Fatal(err)
	}
	v, _ := a.Section("1")
	if !slices.Equal(v.SendRIDs, []string{"r0", "r1", "r2"}) {
		t.Errorf("Chrome's simulcast answer: send rids %v, want r0 r1 r2", v.SendRIDs)
	}
	au, _ := a.Section("0")
	if au.SendRIDs != nil {
		t.Errorf("audio section has send rids %v", au.SendRIDs)
	}
}

// simulcastAnswer is a minimal answer whose video section carries extra.
func simulcastAnswer(extra ...string) string {
	s := "v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\n" +
		"a=fingerprint:sha-256 95:9C:81:5F:53:98:CD:53:E3:1D:59:B3:88:69:7B:58:D4:4F:05:22:8C:4D:9D:13:D8:31:F4:D1:F3:BC:A6:0A\r\n" +
		"m=video 9 UDP/TLS/RTP/SAVPF 96\r\nc=IN IP4 0.0.0.0\r\n" +
		"a=ice-ufrag:uPfV\r\na=ice-pwd:82zhdfo+TKjJt6yeWQ4kSTWb\r\n" +
		"a=setup:active\r\na=mid:1\r\na=sendonly\r\na=rtpmap:96 VP8/90000\r\n"
	for _, l := range extra {
		s += l + "\r\n"
	}
	return s
}

func TestParseAnswerSimulcastLines(t *testing.T) {
	sends := []string{"a=rid:r0 send", "a=rid:r1 send", "a=rid:r2 send"}
	cases := []struct {
		name  string
		lines []string
		want  []string
	}{
		{"all three", append(sends, "a=simulcast:send r0;r1;r2"), []string{"r0", "r1", "r2"}},
		{"answer order kept", append(sends, "a=simulcast:send r2;r0"), []string{"r2", "r0"}},
		{"paused left out", append(sends, "a=simulcast:send r0;~r1;r2"), []string{"r0", "r2"}},
		{"first alternative", append(sends, "a=simulcast:send r0,r1;r2"), []string{"r0", "r2"}},
		{"no rid line for r2", append(sends[:2:2], "a=simulcast:send r0;r1;r2"), []string{"r0", "r1"}},
		{"recv rid ignored", []string{"a=rid:r0 send", "a=rid:r1 recv", "a=simulcast:send r0;r1"}, []string{"r0"}},
		{"no simulcast line", sends, nil},
		{"recv only", append(sends, "a=simulcast:recv r0;r1;r2"), nil},
		{"send and recv (pion's answer)", append(append(slices.Clone(sends), "a=rid:r0 recv", "a=rid:r1 recv"),
			"a=simulcast:recv r0;r1", "a=simulcast:send r0;r1;r2"), []string{"r0", "r1", "r2"}},
		{"both in one line", append(sends, "a=simulcast:recv x send r1;r2"), []string{"r1", "r2"}},
		{"old draft rid= prefix", append(sends, "a=simulcast:send rid=r0;r1"), []string{"r0", "r1"}},
		{"rid with parameters", []string{"a=rid:r0 send max-width=320;max-height=180", "a=simulcast:send r0"}, []string{"r0"}},
		{"repeats once", append(sends, "a=simulcast:send r0;r0;r1"), []string{"r0", "r1"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			a, err := ParseAnswer(simulcastAnswer(tc.lines...))
			if err != nil {
				t.Fatal(err)
			}
			if got := a.Sections[0].SendRIDs; !slices.Equal(got, tc.want) {
				t.Errorf("send rids %v, want %v", got, tc.want)
			}
		})
	}
}

func TestParseAnswerSimulcastErrors(t *testing.T) {
	cases := []struct {
		name, line, want string
	}{
		{"rid without direction", "a=rid:r0", `rid "r0"`},
		{"rid bad direction", "a=rid:r0 sideways", `rid "r0 sideways"`},
		{"rid bad id", "a=rid:r/0 send", `rid "r/0 send"`},
		{"simulcast bad keyword", "a=simulcast:sendx r0", `want send or recv, got "sendx"`},
		{"simulcast odd fields", "a=simulcast:send r0 recv", `simulcast "send r0 recv"`},
		{"simulcast two sends", "a=simulcast:send r0 send r1", "two send lists"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParseAnswer(simulcastAnswer(tc.line))
			if !errors.Is(err, ErrInvalidAnswer) || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %v, want ErrInvalidAnswer naming %s", err, tc.want)
			}
		})
	}
	_, err := ParseAnswer(simulcastAnswer("a=simulcast:send r0", "a=simulcast:recv r1", "a=simulcast:recv r2"))
	if !errors.Is(err, ErrInvalidAnswer) || !strings.Contains(err.Error(), "3 a=simulcast lines") {
		t.Errorf("three simulcast lines: %v", err)
	}
}

// TestPionAnswersSimulcastOffer: pion v4, the Go client of the integration
// tests, answers the golden simulcast offer with three send rids when its
// video sender has three encodings.
func TestPionAnswersSimulcastOffer(t *testing.T) {
	se := webrtc.SettingEngine{}
	se.SetNetworkTypes([]webrtc.NetworkType{webrtc.NetworkTypeUDP4})
	se.SetIncludeLoopbackCandidate(true)
	se.SetInterfaceFilter(func(name string) bool { return name == "lo" })
	se.SetIPFilter(func(ip net.IP) bool { return ip.IsLoopback() })
	se.SetICEMulticastDNSMode(ice.MulticastDNSModeDisabled)
	m := &webrtc.MediaEngine{}
	if err := m.RegisterDefaultCodecs(); err != nil {
		t.Fatal(err)
	}
	if err := webrtc.ConfigureSimulcastExtensionHeaders(m); err != nil {
		t.Fatal(err)
	}
	api := webrtc.NewAPI(webrtc.WithMediaEngine(m), webrtc.WithSettingEngine(se))
	pc, err := api.NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close() //nolint:errcheck
	if err := pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeOffer, SDP: readFixture(t, "simulcast_sendonly.sdp")}); err != nil {
		t.Fatal(err)
	}
	var video *webrtc.RTPTransceiver
	for _, tr := range pc.GetTransceivers() {
		if tr.Mid() == "1" {
			video = tr
		}
	}
	if video == nil {
		t.Fatal("no transceiver for mid 1")
	}
	vp8 := webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeVP8, ClockRate: 90000}
	var tracks []*webrtc.TrackLocalStaticRTP
	for _, rid := range SimulcastRIDs {
		tr, err := webrtc.NewTrackLocalStaticRTP(vp8, "video", "stream", webrtc.WithRTPStreamID(rid))
		if err != nil {
			t.Fatal(err)
		}
		tracks = append(tracks, tr)
	}
	sender, err := api.NewRTPSender(tracks[0], pc.SCTP().Transport())
	if err != nil {
		t.Fatal(err)
	}
	// The transceiver takes the sender with one encoding; the others are
	// added before anything is sent (pion refuses to swap a simulcast track).
	if err := video.SetSender(sender, tracks[0]); err != nil {
		t.Fatal(err)
	}
	for _, tr := range tracks[1:] {
		if err := sender.AddEncoding(tr); err != nil {
			t.Fatal(err)
		}
	}
	ans, err := pc.CreateAnswer(nil)
	if err != nil {
		t.Fatal(err)
	}
	a, err := ParseAnswer(ans.SDP)
	if err != nil {
		t.Fatalf("%v\n%s", err, ans.SDP)
	}
	v, _ := a.Section("1")
	if !slices.Equal(v.SendRIDs, SimulcastRIDs) || v.Direction != DirectionSendOnly {
		t.Errorf("pion's answer: %v send rids %v\n%s", v.Direction, v.SendRIDs, ans.SDP)
	}
	if v.ExtensionID(dataplane.ExtURIRID) == 0 {
		t.Errorf("pion's answer dropped the rid extension\n%s", ans.SDP)
	}
}

func TestDefaultEncodings(t *testing.T) {
	encs := DefaultEncodings()
	if err := ValidateEncodings(encs); err != nil {
		t.Fatal(err)
	}
	b, err := json.Marshal(encs)
	if err != nil {
		t.Fatal(err)
	}
	// The shape Chromium and sora-js-sdk accepted (spec/examples), plus L1T1.
	want := `[{"rid":"r0","active":true,"maxBitrate":150000,"scaleResolutionDownBy":4,"scalabilityMode":"L1T1"},` +
		`{"rid":"r1","active":true,"maxBitrate":500000,"scaleResolutionDownBy":2,"scalabilityMode":"L1T1"},` +
		`{"rid":"r2","active":true,"maxBitrate":1500000,"scaleResolutionDownBy":1,"scalabilityMode":"L1T1"}]`
	if string(b) != want {
		t.Errorf("default encodings\n got %s\nwant %s", b, want)
	}
	encs[0].RID = "changed"
	if DefaultEncodings()[0].RID != "r0" {
		t.Error("DefaultEncodings shares its slice")
	}
}

func TestValidateEncodings(t *testing.T) {
	ok := Encoding{RID: "r0", Active: true}
	cases := []struct {
		name string
		encs []Encoding
		want string
	}{
		{"none", nil, "0 encodings"},
		{"four", []Encoding{ok, ok, ok, ok}, "4 encodings"},
		{"unknown rid", []Encoding{{RID: "r3"}}, `rid "r3"`},
		{"rid twice", []Encoding{ok, ok}, `rid "r0" twice`},
		{"negative bitrate", []Encoding{{RID: "r0", MaxBitrate: -1}}, "maxBitrate -1"},
		{"negative framerate", []Encoding{{RID: "r0", MaxFramerate: -1}}, "maxFramerate -1"},
		{"upscale", []Encoding{{RID: "r0", ScaleResolutionDownBy: 0.5}}, "scaleResolutionDownBy 0.5"},
		{"svc mode", []Encoding{{RID: "r0", ScalabilityMode: "L3T3"}}, `scalabilityMode "L3T3"`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := ValidateEncodings(tc.encs)
			if !errors.Is(err, ErrInvalidOffer) || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %v, want ErrInvalidOffer naming %s", err, tc.want)
			}
		})
	}
	if err := ValidateEncodings([]Encoding{{RID: "r2"}, {RID: "r0", ScaleResolutionDownBy: 4, ScalabilityMode: "L1T3"}}); err != nil {
		t.Errorf("valid encodings refused: %v", err)
	}
}

func TestRIDRank(t *testing.T) {
	for rid, want := range map[string]int{"r0": 0, "r1": 1, "r2": 2, "r3": -1, "": -1, "none": -1} {
		if got := RIDRank(rid); got != want {
			t.Errorf("RIDRank(%q) = %d, want %d", rid, got, want)
		}
	}
}
