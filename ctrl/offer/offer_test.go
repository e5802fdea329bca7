package offer

import (
	"errors"
	"flag"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/hayate-sfu/hayate/dataplane"
	"github.com/pion/sdp/v3"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

func codec(t *testing.T, name string) dataplane.Codec {
	t.Helper()
	c, ok := dataplane.CodecByName(name)
	if !ok {
		t.Fatalf("no codec %s", name)
	}
	return c
}

func baseOffer() Offer {
	return Offer{
		SessionID:      4611686018427387904,
		SessionVersion: 2,
		ICEUfrag:       "abcdEFGHijklMNOP",
		ICEPwd:         "abcdefghijklmnopqrstuvwxyz012345",
		Fingerprint:    "95:9c:81:5f:53:98:cd:53:e3:1d:59:b3:88:69:7b:58:d4:4f:05:22:8c:4d:9d:13:d8:31:f4:d1:f3:bc:a6:0a",
		Candidates: []dataplane.Candidate{
			{Addr: netip.MustParseAddrPort("127.0.0.1:50000"), Protocol: "udp"},
			{Addr: netip.MustParseAddrPort("[::1]:50000"), Protocol: "udp"},
			{Addr: netip.MustParseAddrPort("127.0.0.1:50000"), Protocol: "tcp"},
		},
	}
}

func golden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if got != string(want) {
		t.Errorf("%s differs from the golden file (go test -update rewrites it)\n--- got\n%s\n--- want\n%s", name, got, want)
	}
}

func TestBuildGolden(t *testing.T) {
	audio, vp8, vp9 := codec(t, "OPUS"), codec(t, "VP8"), codec(t, "VP9")
	cases := []struct {
		name     string
		sections []Section
	}{
		{"sendrecv_first.sdp", []Section{
			{Mid: "0", Kind: dataplane.KindAudio, Direction: DirectionRecvOnly, Codec: audio},
			{Mid: "1", Kind: dataplane.KindVideo, Direction: DirectionRecvOnly, Codec: vp8},
		}},
		{"sendrecv_bitrate_downstream.sdp", []Section{
			{Mid: "0", Kind: dataplane.KindAudio, Direction: DirectionRecvOnly, Codec: audio, BitrateKbps: 64, Fmtp: "minptime=10;useinbandfec=1;usedtx=1"},
			{Mid: "1", Kind: dataplane.KindVideo, Direction: DirectionRecvOnly, Codec: vp9, BitrateKbps: 1500},
			{Mid: "2", Kind: dataplane.KindAudio, Direction: DirectionSendOnly, Codec: audio,
				StreamID: "WCJC78EWK935N7P7Z8FYAKFW9M", TrackID: "WCJC78EWK935N7P7Z8FYAKFW9M-0", SSRC: 1111, CNAME: "WCJC78EWK935N7P7Z8FYAKFW9M"},
			{Mid: "3", Kind: dataplane.KindVideo, Direction: DirectionSendOnly, Codec: vp8,
				StreamID: "WCJC78EWK935N7P7Z8FYAKFW9M", TrackID: "WCJC78EWK935N7P7Z8FYAKFW9M-1", SSRC: 2222, RTXSSRC: 3333, CNAME: "WCJC78EWK935N7P7Z8FYAKFW9M"},
		}},
		{"recvonly_inactive.sdp", []Section{
			{Mid: "0", Kind: dataplane.KindAudio, Direction: DirectionInactive, Codec: audio},
			{Mid: "1", Kind: dataplane.KindVideo, Direction: DirectionInactive, Codec: vp8},
			{Mid: "2", Kind: dataplane.KindVideo, Direction: DirectionSendOnly, Codec: vp9,
				StreamID: "SXVAKRD3LXQWDEM4L6HWBDBEE0", TrackID: "SXVAKRD3LXQWDEM4L6HWBDBEE0-1", SSRC: 4444, RTXSSRC: 5555, CNAME: "SXVAKRD3LXQWDEM4L6HWBDBEE0"},
		}},
		{"simulcast_sendonly.sdp", []Section{
			{Mid: "0", Kind: dataplane.KindAudio, Direction: DirectionRecvOnly, Codec: audio},
			{Mid: "1", Kind: dataplane.KindVideo, Direction: DirectionRecvOnly, Codec: vp8, Simulcast: true},
		}},
		{"sendrecv_datachannel.sdp", []Section{
			{Mid: "0", Kind: dataplane.KindAudio, Direction: DirectionRecvOnly, Codec: audio},
			{Mid: "1", Kind: dataplane.KindVideo, Direction: DirectionRecvOnly, Codec: vp8},
			{Mid: "2", Application: true, MaxMessageSize: 262144},
		}},
		{"messaging_only.sdp", []Section{
			{Mid: "0", Application: true, MaxMessageSize: 262144},
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			o := baseOffer()
			o.Sections = tc.sections
			got, err := Build(o)
			if err != nil {
				t.Fatal(err)
			}
			golden(t, tc.name, got)
			// pion must read it back with the same sections.
			var sd sdp.SessionDescription
			if err := sd.UnmarshalString(got); err != nil {
				t.Fatalf("pion cannot parse the offer: %v", err)
			}
			if len(sd.MediaDescriptions) != len(tc.sections) {
				t.Fatalf("got %d m-sections, want %d", len(sd.MediaDescriptions), len(tc.sections))
			}
		})
	}
}

// TestBuildRules checks, on one offer with every kind of section, the rules
// Chrome and the Sora SDK depend on.
func TestBuildRules(t *testing.T) {
	o := baseOffer()
	o.Sections = []Section{
		{Mid: "0", Kind: dataplane.KindAudio, Direction: DirectionRecvOnly, Codec: codec(t, "OPUS"), BitrateKbps: 32},
		{Mid: "1", Kind: dataplane.KindVideo, Direction: DirectionRecvOnly, Codec: codec(t, "AV1"), BitrateKbps: 800},
		{Mid: "2", Kind: dataplane.KindVideo, Direction: DirectionSendOnly, Codec: codec(t, "H264"),
			StreamID: "S", TrackID: "T", SSRC: 7, RTXSSRC: 8, CNAME: "C"},
		{Mid: "3", Kind: dataplane.KindAudio, Direction: DirectionInactive, Codec: codec(t, "OPUS")},
	}
	text, err := Build(o)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(text, "\n") && !strings.Contains(text, "\r\n") {
		t.Error("lines do not end in CRLF")
	}
	var sd sdp.SessionDescription
	if err := sd.UnmarshalString(text); err != nil {
		t.Fatal(err)
	}
	sessAttr := func(k string) string { v, _ := sd.Attribute(k); return v }
	if _, ok := sd.Attribute("ice-lite"); !ok {
		t.Error("no session-level a=ice-lite")
	}
	if got := sessAttr("group"); got != "BUNDLE 0 1 2 3" {
		t.Errorf("group = %q, want every mid (inactive ones stay bundled)", got)
	}
	if got := sessAttr("fingerprint"); got != "sha-256 "+strings.ToUpper(o.Fingerprint) {
		t.Errorf("fingerprint = %q, want upper-case sha-256", got)
	}
	if sd.Origin.SessionVersion != o.SessionVersion || sd.Origin.SessionID != o.SessionID {
		t.Errorf("origin = %+v", sd.Origin)
	}
	if strings.Contains(text, "cryptex") {
		t.Error("offer carries a=cryptex")
	}
	for i, md := range sd.MediaDescriptions {
		mid, _ := md.Attribute("mid")
		count := func(key string) (n int) {
			for _, a := range md.Attributes {
				if a.Key == key {
					n++
				}
			}
			return n
		}
		if md.MediaName.Port.Value != 9 {
			t.Errorf("mid %s: port %d, want 9 (also for inactive)", mid, md.MediaName.Port.Value)
		}
		if v, _ := md.Attribute("setup"); v != "actpass" {
			t.Errorf("mid %s: setup %q", mid, v)
		}
		if v, _ := md.Attribute("ice-ufrag"); v != o.ICEUfrag {
			t.Errorf("mid %s: ufrag %q", mid, v)
		}
		if n := count("candidate"); (i == 0) != (n == 3) || (i != 0 && n != 0) {
			t.Errorf("mid %s: %d candidates (want all in the first section only)", mid, n)
		}
		if (i == 0) != (count("end-of-candidates") == 1) {
			t.Errorf("mid %s: end-of-candidates misplaced", mid)
		}
		exts := map[int]string{}
		for _, a := range md.Attributes {
			if a.Key == "extmap" {
				e, err := parseExtmap(a.Value)
				if err != nil {
					t.Fatal(err)
				}
				exts[e.ID] = e.URI
			}
		}
		if exts[dataplane.ExtMid] != dataplane.ExtURIMid || exts[dataplane.ExtTransportCC] != dataplane.ExtURITransportCC {
			t.Errorf("mid %s: extmaps %v lack mid=1 / transport-cc=4", mid, exts)
		}
		if (md.MediaName.Media == "audio") != (exts[dataplane.ExtAudioLevel] == dataplane.ExtURIAudioLevel) {
			t.Errorf("mid %s: audio-level extmap on %s: %v", mid, md.MediaName.Media, exts)
		}
		if _, ok := exts[dataplane.ExtRID]; ok {
			t.Errorf("mid %s: rid extmap without simulcast", mid)
		}
	}
	md := sd.MediaDescriptions
	if got := md[1].MediaName.Formats; strings.Join(got, " ") != "45 46" {
		t.Errorf("AV1 formats %v, want 45 46 (codec + rtx)", got)
	}
	if len(md[0].Bandwidth) != 1 || md[0].Bandwidth[0].Type != "AS" || md[0].Bandwidth[0].Bandwidth != 32 {
		t.Errorf("audio bandwidth %+v", md[0].Bandwidth)
	}
	if v, _ := md[0].Attribute("fmtp"); !strings.Contains(v, "maxaveragebitrate=32000") {
		t.Errorf("audio fmtp %q lacks maxaveragebitrate", v)
	}
	if len(md[1].Bandwidth) != 2 || md[1].Bandwidth[1].Type != "TIAS" || md[1].Bandwidth[1].Bandwidth != 800000 {
		t.Errorf("video bandwidth %+v", md[1].Bandwidth)
	}
	wantDown := []string{"msid:S T", "ssrc-group:FID 7 8", "ssrc:7 cname:C", "ssrc:7 msid:S T", "ssrc:8 cname:C", "ssrc:8 msid:S T", "sendonly"}
	for _, w := range wantDown {
		k, v, _ := strings.Cut(w, ":")
		found := false
		for _, a := range md[2].Attributes {
			if a.Key == k && a.Value == v {
				found = true
			}
		}
		if !found {
			t.Errorf("downstream section lacks a=%s", w)
		}
	}
	if _, ok := md[3].Attribute("inactive"); !ok {
		t.Error("section 3 is not inactive")
	}
	if _, ok := md[3].Attribute("msid"); ok {
		t.Error("inactive section keeps an msid")
	}
}

func TestBuildErrors(t *testing.T) {
	vp8 := codec(t, "VP8")
	okSection := Section{Mid: "0", Kind: dataplane.KindVideo, Direction: DirectionRecvOnly, Codec: vp8}
	cases := []struct {
		name   string
		mutate func(*Offer)
		want   string
	}{
		{"short ufrag", func(o *Offer) { o.ICEUfrag = "ab" }, "ice-ufrag"},
		{"short pwd", func(o *Offer) { o.ICEPwd = "short" }, "ice-pwd"},
		{"bad fingerprint", func(o *Offer) { o.Fingerprint = "AA:BB" }, "fingerprint"},
		{"bad candidate", func(o *Offer) { o.Candidates = []dataplane.Candidate{{Protocol: "udp"}} }, "candidate 0"},
		{"candidate protocol", func(o *Offer) { o.Candidates[0].Protocol = "sctp" }, "protocol \"sctp\""},
		{"empty mid", func(o *Offer) { o.Sections[0].Mid = "" }, "mid \"\""},
		{"mid with space", func(o *Offer) { o.Sections[0].Mid = "a b" }, "mid \"a b\""},
		{"duplicate mid", func(o *Offer) { o.Sections = append(o.Sections, okSection) }, "duplicate mid"},
		{"codec kind", func(o *Offer) { o.Sections[0].Codec = codec(t, "OPUS") }, "codec \"OPUS\""},
		{"sendrecv", func(o *Offer) { o.Sections[0].Direction = DirectionSendRecv }, "direction sendrecv"},
		{"sendonly without ssrc", func(o *Offer) { o.Sections[0].Direction = DirectionSendOnly }, "needs ssrc"},
		{"two application sections", func(o *Offer) {
			o.Sections = append(o.Sections, Section{Mid: "1", Application: true}, Section{Mid: "2", Application: true})
		}, "second application section"},
		{"application with a codec", func(o *Offer) {
			o.Sections = append(o.Sections, Section{Mid: "1", Application: true, Codec: vp8})
		}, "no kind, direction, codec"},
		{"application with a direction", func(o *Offer) {
			o.Sections = append(o.Sections, Section{Mid: "1", Application: true, Direction: DirectionSendOnly})
		}, "no kind, direction, codec"},
		{"max-message-size on video", func(o *Offer) { o.Sections[0].MaxMessageSize = 1 }, "max-message-size on a video"},
		{"simulcast audio", func(o *Offer) {
			o.Sections[0] = Section{Mid: "0", Kind: dataplane.KindAudio, Direction: DirectionRecvOnly, Codec: codec(t, "OPUS"), Simulcast: true}
		}, "simulcast"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			o := baseOffer()
			o.Sections = []Section{okSection}
			tc.mutate(&o)
			_, err := Build(o)
			if !errors.Is(err, ErrInvalidOffer) {
				t.Fatalf("err = %v, want ErrInvalidOffer", err)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("err = %q, want it to name %q", err, tc.want)
			}
		})
	}
}

// TestReOfferKeepsTransport: a re-offer differs only where the sections
// changed; credentials, mids and extension ids stay.
func TestReOfferKeepsTransport(t *testing.T) {
	o := baseOffer()
	o.Sections = []Section{{Mid: "0", Kind: dataplane.KindVideo, Direction: DirectionRecvOnly, Codec: codec(t, "VP8")}}
	first, err := Build(o)
	if err != nil {
		t.Fatal(err)
	}
	o.SessionVersion++
	o.Sections = append(o.Sections, Section{Mid: "1", Kind: dataplane.KindAudio, Direction: DirectionSendOnly,
		Codec: codec(t, "OPUS"), StreamID: "S", TrackID: "T", SSRC: 9, CNAME: "C"})
	second, err := Build(o)
	if err != nil {
		t.Fatal(err)
	}
	firstLines := strings.Split(first, "\r\n")
	secondLines := strings.Split(second, "\r\n")
	if firstLines[1] == secondLines[1] {
		t.Errorf("o= line unchanged on re-offer: %q", firstLines[1])
	}
	// Everything of the first m-section is unchanged.
	start := strings.Index(first, "m=video")
	if !strings.Contains(second, first[start:]) {
		t.Error("the first section changed in the re-offer")
	}
}

// TestBuildApplication checks the m=application section against RFC 8841
// and the shape of the offers Chromium accepted: in the BUNDLE group, port
// 9, UDP/DTLS/SCTP webrtc-datachannel, sctp-port 5000, the max-message-size
// given, no RTP attributes; as the only section it carries the candidates.
func TestBuildApplication(t *testing.T) {
	for _, tc := range []struct {
		name     string
		sections []Section
		app      int
	}{
		{"after media", []Section{
			{Mid: "0", Kind: dataplane.KindAudio, Direction: DirectionRecvOnly, Codec: codec(t, "OPUS")},
			{Mid: "1", Application: true, MaxMessageSize: 65536},
			{Mid: "2", Kind: dataplane.KindVideo, Direction: DirectionInactive, Codec: codec(t, "VP8")},
		}, 1},
		{"alone", []Section{{Mid: "0", Application: true, MaxMessageSize: 65536}}, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			o := baseOffer()
			o.Sections = tc.sections
			text, err := Build(o)
			if err != nil {
				t.Fatal(err)
			}
			var sd sdp.SessionDescription
			if err := sd.UnmarshalString(text); err != nil {
				t.Fatal(err)
			}
			if len(sd.MediaDescriptions) != len(tc.sections) {
				t.Fatalf("%d sections", len(sd.MediaDescriptions))
			}
			md := sd.MediaDescriptions[tc.app]
			mid, _ := md.Attribute("mid")
			if g, _ := sd.Attribute("group"); !slices.Contains(strings.Fields(g), mid) {
				t.Errorf("group %q lacks the application mid %s", g, mid)
			}
			if got := md.MediaName.String(); got != "application 9 UDP/DTLS/SCTP webrtc-datachannel" {
				t.Errorf("m-line %q", got)
			}
			for k, want := range map[string]string{"sctp-port": "5000", "max-message-size": "65536", "setup": "actpass", "ice-ufrag": o.ICEUfrag} {
				if v, _ := md.Attribute(k); v != want {
					t.Errorf("a=%s:%q, want %q", k, v, want)
				}
			}
			for _, a := range md.Attributes {
				switch a.Key {
				case "rtpmap", "extmap", "rtcp-mux", "rtcp-fb", "msid", "ssrc":
					t.Errorf("application section has a=%s", a.Key)
				}
			}
			_, hasCand := md.Attribute("candidate")
			if hasCand != (tc.app == 0) {
				t.Errorf("candidates in the application section: %v (want only when it comes first)", hasCand)
			}
		})
	}
	// max-message-size 0: the line is left out.
	o := baseOffer()
	o.Sections = []Section{{Mid: "0", Application: true}}
	text, err := Build(o)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(text, "max-message-size") {
		t.Error("max-message-size written for 0")
	}
}
