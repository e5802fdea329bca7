package offer

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/hayate-sfu/hayate/dataplane"
)

func readFixture(t testing.TB, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// The fixtures answer_chrome_*.sdp are Chromium 156's answers to the golden
// offers of the same name (setRemoteDescription + createAnswer; the sendrecv
// and simulcast ones with an audio and a canvas video track attached to the
// two recvonly transceivers).

func TestParseAnswerChromeSendRecv(t *testing.T) {
	a, err := ParseAnswer(readFixture(t, "answer_chrome_sendrecv_bitrate_downstream.sdp"))
	if err != nil {
		t.Fatal(err)
	}
	if a.ICEUfrag != "qGLp" || a.ICEPwd != "rIkDfuUAuYMdFFjQGSyLlm0d" {
		t.Errorf("ice = %q %q", a.ICEUfrag, a.ICEPwd)
	}
	if !strings.HasPrefix(a.Fingerprint, "D6:E0:8B") || a.Setup != "active" || a.DTLSRole() != dataplane.DTLSServer {
		t.Errorf("fingerprint %q setup %q", a.Fingerprint, a.Setup)
	}
	if !a.TransportCC() {
		t.Error("transport-cc not seen")
	}
	var mids []string
	for _, s := range a.Sections {
		mids = append(mids, s.Mid+"/"+s.Direction.String())
	}
	if got := strings.Join(mids, " "); got != "0/sendonly 1/sendonly 2/recvonly 3/recvonly" {
		t.Errorf("sections %s", got)
	}
	audio, _ := a.Section("0")
	if ssrc, rtx := audio.MediaSSRC(); ssrc != 3689199193 || rtx != 0 {
		t.Errorf("audio ssrc %d rtx %d", ssrc, rtx)
	}
	if audio.CNAME != "EMmPKr/ti2KZPHde" {
		t.Errorf("cname %q", audio.CNAME)
	}
	if !audio.HasPayloadType(111) || audio.ExtensionID(dataplane.ExtURIAudioLevel) != 5 {
		t.Errorf("audio pts %v exts %v", audio.PayloadTypes, audio.Extensions)
	}
	video, _ := a.Section("1")
	if ssrc, rtx := video.MediaSSRC(); ssrc != 3131237586 || rtx != 3479302898 {
		t.Errorf("video ssrc %d rtx %d", ssrc, rtx)
	}
	if !slices.Equal(video.PayloadTypes, []uint8{98, 99}) {
		t.Errorf("video pts %v", video.PayloadTypes)
	}
	if video.ExtensionID(dataplane.ExtURITransportCC) != dataplane.ExtTransportCC || video.ExtensionID(dataplane.ExtURIMid) != dataplane.ExtMid {
		t.Errorf("video exts %v", video.Extensions)
	}
	if _, ok := a.Section("9"); ok {
		t.Error("found a mid that does not exist")
	}
}

func TestParseAnswerChromeSimulcastAndInactive(t *testing.T) {
	a, err := ParseAnswer(readFixture(t, "answer_chrome_simulcast_sendonly.sdp"))
	if err != nil {
		t.Fatal(err)
	}
	v, _ := a.Section("1")
	if ssrc, _ := v.MediaSSRC(); ssrc != 0 {
		t.Errorf("simulcast video ssrc %d, want 0 (Chrome signals none)", ssrc)
	}
	if v.ExtensionID(dataplane.ExtURIRID) != dataplane.ExtRID {
		t.Errorf("rid extension %v", v.Extensions)
	}

	a, err = ParseAnswer(readFixture(t, "answer_chrome_recvonly_inactive.sdp"))
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range a.Sections[:2] {
		if s.Direction != DirectionInactive || s.Rejected {
			t.Errorf("mid %s: %v rejected=%v, want inactive and bundled", s.Mid, s.Direction, s.Rejected)
		}
	}
}

const minimalAnswer = "v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\n" +
	"a=fingerprint:sha-256 95:9C:81:5F:53:98:CD:53:E3:1D:59:B3:88:69:7B:58:D4:4F:05:22:8C:4D:9D:13:D8:31:F4:D1:F3:BC:A6:0A\r\n" +
	"m=audio 9 UDP/TLS/RTP/SAVPF 111\r\nc=IN IP4 0.0.0.0\r\n" +
	"a=ice-ufrag:uPfV\r\na=ice-pwd:82zhdfo+TKjJt6yeWQ4kSTWb\r\n" +
	"a=setup:passive\r\na=mid:0\r\na=sendonly\r\na=rtpmap:111 opus/48000/2\r\n" +
	"a=ssrc-group:FID 5 6\r\na=ssrc:5 cname:x\r\na=ssrc:6 cname:x\r\n"

func TestParseAnswerSessionLevelAndPassive(t *testing.T) {
	a, err := ParseAnswer(minimalAnswer)
	if err != nil {
		t.Fatal(err)
	}
	if a.Fingerprint == "" || a.DTLSRole() != dataplane.DTLSClient {
		t.Errorf("fingerprint %q role %v", a.Fingerprint, a.DTLSRole())
	}
	if a.TransportCC() {
		t.Error("transport-cc reported without the extmap")
	}
	if s, r := a.Sections[0].MediaSSRC(); s != 5 || r != 6 {
		t.Errorf("ssrc %d rtx %d", s, r)
	}
}

func TestParseAnswerErrors(t *testing.T) {
	cases := []struct {
		name, from, to, want string
	}{
		{"not sdp", "v=0", "hello", ""},
		{"no ufrag", "a=ice-ufrag:uPfV\r\n", "", "no a=ice-ufrag"},
		{"no pwd", "a=ice-pwd:82zhdfo+TKjJt6yeWQ4kSTWb\r\n", "", "no a=ice-pwd"},
		{"short pwd", "82zhdfo+TKjJt6yeWQ4kSTWb", "short", "ice-pwd"},
		{"no fingerprint", "a=fingerprint:sha-256 95:9C:81:5F:53:98:CD:53:E3:1D:59:B3:88:69:7B:58:D4:4F:05:22:8C:4D:9D:13:D8:31:F4:D1:F3:BC:A6:0A\r\n", "", "no a=fingerprint"},
		{"sha-1 only", "sha-256 95:9C", "sha-1 95:9C", "want sha-256"},
		{"bad fingerprint", "F3:BC:A6:0A", "F3:BC:A6", "sha-256 fingerprint"},
		{"no mid", "a=mid:0\r\n", "", "no a=mid"},
		{"actpass", "a=setup:passive", "a=setup:actpass", "setup \"actpass\""},
		{"two directions", "a=sendonly\r\n", "a=sendonly\r\na=inactive\r\n", "2 direction"},
		{"bad extmap", "a=sendonly\r\n", "a=sendonly\r\na=extmap:x urn:y\r\n", "extmap id"},
		{"bad ssrc", "a=ssrc:5 cname:x", "a=ssrc:-5 cname:x", "ssrc \"-5\""},
		{"bad fid", "FID 5 6", "FID 5", "FID needs two"},
		{"no media", "m=audio", "x=audio", ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if !strings.Contains(minimalAnswer, tc.from) {
				t.Fatalf("fixture lacks %q", tc.from)
			}
			_, err := ParseAnswer(strings.Replace(minimalAnswer, tc.from, tc.to, 1))
			if !errors.Is(err, ErrInvalidAnswer) {
				t.Fatalf("err = %v, want ErrInvalidAnswer", err)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("err = %q, want it to name %q", err, tc.want)
			}
		})
	}
	if _, err := ParseAnswer(minimalAnswer + "m=video 9 UDP/TLS/RTP/SAVPF 96\r\na=mid:0\r\n"); err == nil || !strings.Contains(err.Error(), "duplicate mid") {
		t.Errorf("duplicate mid: err = %v", err)
	}
	// A rejected section may come without a mid.
	if _, err := ParseAnswer(minimalAnswer + "m=video 0 UDP/TLS/RTP/SAVPF 96\r\n"); err != nil {
		t.Errorf("rejected section without mid: %v", err)
	}
}

// The fixtures answer_chrome_messaging_only.sdp and
// answer_chrome_sendrecv_datachannel.sdp are the answers of the Chromium
// the browser tests run (148, Debian package) to the golden offers of the
// same name; the sendrecv one with an audio and a canvas track on the two
// recvonly transceivers.
func TestParseAnswerChromeDataChannel(t *testing.T) {
	for _, tc := range []struct {
		file, appMid string
		sections     int
	}{
		{"answer_chrome_messaging_only.sdp", "0", 1},
		{"answer_chrome_sendrecv_datachannel.sdp", "2", 3},
	} {
		t.Run(tc.file, func(t *testing.T) {
			a, err := ParseAnswer(readFixture(t, tc.file))
			if err != nil {
				t.Fatal(err)
			}
			if len(a.Sections) != tc.sections || a.ICEUfrag == "" || a.Setup != "active" {
				t.Fatalf("answer %+v", a)
			}
			app, ok := a.Application()
			if !ok || app.Mid != tc.appMid || app.Rejected {
				t.Fatalf("application section %+v, %v", app, ok)
			}
			if app.SCTPPort != 5000 || app.PeerMaxMessageSize() != 262144 {
				t.Errorf("sctp-port %d max-message-size %d", app.SCTPPort, app.PeerMaxMessageSize())
			}
			if len(app.PayloadTypes) != 0 || len(app.SSRCs) != 0 {
				t.Errorf("application section with RTP: %+v", app)
			}
		})
	}
}

func TestParseAnswerApplicationVariants(t *testing.T) {
	base := readFixture(t, "answer_chrome_messaging_only.sdp")
	cases := []struct {
		name     string
		edit     func(string) string
		rejected bool
		mms      uint32
		err      string
	}{
		{"no max-message-size", func(s string) string { return strings.Replace(s, "a=max-message-size:262144\r\n", "", 1) }, false, 65536, ""},
		{"max-message-size 0 (no limit)", func(s string) string { return strings.Replace(s, "max-message-size:262144", "max-message-size:0", 1) }, false, 0, ""},
		{"huge max-message-size", func(s string) string {
			return strings.Replace(s, "max-message-size:262144", "max-message-size:99999999999", 1)
		}, false, 1<<32 - 1, ""},
		{"the only section rejected", func(s string) string {
			return strings.Replace(strings.Replace(s, "m=application 9", "m=application 0", 1), "a=group:BUNDLE 0\r\n", "", 1)
		}, true, 65536, "no a=ice-ufrag"},
		{"bad max-message-size", func(s string) string { return strings.Replace(s, "max-message-size:262144", "max-message-size:big", 1) }, false, 0, "max-message-size \"big\""},
		{"bad sctp-port", func(s string) string { return strings.Replace(s, "sctp-port:5000", "sctp-port:x", 1) }, false, 0, "sctp-port \"x\""},
	}
	t.Run("rejected beside media", func(t *testing.T) {
		a, err := ParseAnswer(strings.Replace(readFixture(t, "answer_chrome_sendrecv_datachannel.sdp"), "m=application 9", "m=application 0", 1))
		if err != nil {
			t.Fatal(err)
		}
		if app, ok := a.Application(); !ok || !app.Rejected || app.Mid != "2" {
			t.Errorf("application %+v", app)
		}
	})
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			a, err := ParseAnswer(tc.edit(base))
			if tc.err != "" {
				if !errors.Is(err, ErrInvalidAnswer) || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("err = %v, want ErrInvalidAnswer naming %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			app, ok := a.Application()
			if !ok || app.Rejected != tc.rejected || app.PeerMaxMessageSize() != tc.mms {
				t.Errorf("application %+v (max %d), want rejected=%v max %d", app, app.PeerMaxMessageSize(), tc.rejected, tc.mms)
			}
		})
	}
}

// TestBuildThenParse: an offer read back by ParseAnswer (as if it were an
// answer, with the setup fixed) gives back the sections Build was given.
func TestBuildThenParse(t *testing.T) {
	o := baseOffer()
	o.Sections = []Section{
		{Mid: "a", Kind: dataplane.KindAudio, Direction: DirectionRecvOnly, Codec: codec(t, "OPUS")},
		{Mid: "b", Kind: dataplane.KindVideo, Direction: DirectionSendOnly, Codec: codec(t, "VP8"), StreamID: "S", TrackID: "T", SSRC: 10, RTXSSRC: 11, CNAME: "C"},
	}
	text, err := Build(o)
	if err != nil {
		t.Fatal(err)
	}
	a, err := ParseAnswer(strings.ReplaceAll(text, "actpass", "active"))
	if err != nil {
		t.Fatal(err)
	}
	if a.ICEUfrag != o.ICEUfrag || a.ICEPwd != o.ICEPwd || !strings.EqualFold(a.Fingerprint, o.Fingerprint) {
		t.Errorf("transport %+v", a)
	}
	if len(a.Sections) != 2 || a.Sections[1].Mid != "b" || a.Sections[1].Direction != DirectionSendOnly {
		t.Fatalf("sections %+v", a.Sections)
	}
	if s, r := a.Sections[1].MediaSSRC(); s != 10 || r != 11 || a.Sections[1].CNAME != "C" {
		t.Errorf("ssrc %d rtx %d cname %q", s, r, a.Sections[1].CNAME)
	}
}

func FuzzParseAnswer(f *testing.F) {
	for _, name := range []string{"answer_chrome_sendrecv_bitrate_downstream.sdp", "answer_chrome_simulcast_sendonly.sdp",
		"answer_chrome_messaging_only.sdp", "answer_chrome_sendrecv_datachannel.sdp"} {
		f.Add(readFixture(f, name))
	}
	f.Add(minimalAnswer)
	f.Fuzz(func(t *testing.T, text string) {
		a, err := ParseAnswer(text)
		if err != nil {
			if !errors.Is(err, ErrInvalidAnswer) {
				t.Fatalf("error %v does not wrap ErrInvalidAnswer", err)
			}
			return
		}
		if a.ICEUfrag == "" || a.ICEPwd == "" || !isFingerprint(a.Fingerprint) || len(a.Sections) == 0 {
			t.Fatalf("accepted an answer without transport parameters: %+v", a)
		}
		if a.Setup != "active" && a.Setup != "passive" {
			t.Fatalf("setup %q accepted", a.Setup)
		}
		for _, s := range a.Sections {
			if s.Mid == "" && !s.Rejected {
				t.Fatal("accepted section without mid")
			}
			s.MediaSSRC()
			for i, rid := range s.SendRIDs {
				if !isRIDID(rid) || slices.Contains(s.SendRIDs[:i], rid) {
					t.Fatalf("send rids %q: bad or repeated %q", s.SendRIDs, rid)
				}
			}
		}
	})
}
