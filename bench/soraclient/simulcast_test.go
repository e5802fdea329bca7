package soraclient

import (
	"errors"
	"testing"
)

func TestExtensionIDs(t *testing.T) {
	answer := "v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\n" +
		"m=audio 9 UDP/TLS/RTP/SAVPF 111\r\na=mid:0\r\na=extmap:7 urn:ietf:params:rtp-hdrext:sdes:mid\r\n" +
		"m=video 9 UDP/TLS/RTP/SAVPF 96\r\na=mid:1\r\na=extmap:1 urn:ietf:params:rtp-hdrext:sdes:mid\r\n" +
		"a=extmap:4/sendonly http://www.ietf.org/id/draft-holmer-rmcat-transport-wide-cc-extensions-01\r\n" +
		"a=extmap:2/sendonly urn:ietf:params:rtp-hdrext:sdes:rtp-stream-id\r\n"
	mid, rid, err := extensionIDs(answer, "1")
	if err != nil || mid != 1 || rid != 2 {
		t.Errorf("mid %d rid %d err %v, want 1 2", mid, rid, err)
	}
	if _, _, err := extensionIDs(answer, "0"); !errors.Is(err, ErrProtocol) {
		t.Errorf("section without rid extension: %v", err)
	}
	if _, _, err := extensionIDs("garbage", "1"); !errors.Is(err, ErrProtocol) {
		t.Errorf("bad SDP: %v", err)
	}
}

func TestSimulcastWithoutTracks(t *testing.T) {
	c := &Client{cfg: Config{SimulcastRIDs: []string{"r0"}}}
	if c.SimulcastTrack("r0") != nil || c.SimulcastSSRC("r0") != 0 {
		t.Error("tracks before the offer")
	}
	if err := c.WriteSimulcastRTP("r0", nil); !errors.Is(err, ErrBadConfig) {
		t.Errorf("write before the offer: %v", err)
	}
	m := (&Client{cfg: Config{SimulcastRIDs: []string{"r0", "r1"}, Role: "sendonly"}}).connectMessage("v=0")
	if m["simulcast"] != true {
		t.Errorf("connect %v", m)
	}
}
