package integration

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/hayate-sfu/hayate/bench/soraclient"
	"github.com/pion/webrtc/v4"
)

// tcpOnly restricts a client to ICE over TCP: it gathers no UDP candidate
// and reaches the server's tcptype passive candidate with an active one.
func tcpOnly(c *soraclient.Config) {
	se := soraclient.LoopbackSettingEngine()
	se.SetNetworkTypes([]webrtc.NetworkType{webrtc.NetworkTypeTCP4})
	c.SettingEngine = se
}

// TestICETCP: a publisher and a subscriber that can only use TCP get their
// media through the media port's ICE-TCP side (RFC 6544 passive, RFC 4571
// framing), next to a subscriber on UDP; the offer lists the TCP candidate
// and the TCP frames are counted.
func TestICETCP(t *testing.T) {
	e := newEnv(t, 60*time.Second)
	const ch = "ice-tcp"
	tcpSub := e.connect(ch, "recvonly", tcpOnly)
	udpSub := e.connect(ch, "recvonly")
	subs := []*remote{collect(e, tcpSub), collect(e, udpSub)}
	pubc := e.connect(ch, "sendonly", tcpOnly)
	var offer struct {
		SDP string `json:"sdp"`
	}
	if err := json.Unmarshal(pubc.Offer(), &offer); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(offer.SDP, " tcp ") || !strings.Contains(offer.SDP, "tcptype passive") {
		t.Fatalf("the offer has no ICE-TCP passive candidate:\n%s", offer.SDP)
	}
	for _, s := range subs {
		e.waitSees(s.c, pubc.ConnectionID())
	}
	time.Sleep(settle)
	const n = 60
	if got := notifiedTURNType(t, e, udpSub, pubc.ConnectionID()); got != "tcp" {
		t.Errorf("connection.created about the ICE-TCP publisher says turn_transport_type %q, want tcp", got)
	}
	if got := notifiedTURNType(t, e, tcpSub, udpSub.ConnectionID()); got != "udp" {
		t.Errorf("connection.created about the UDP subscriber says turn_transport_type %q, want udp", got)
	}
	publishToAll(e, pubc, subs, 'T', n)
	if got := e.counterValue("hayate_media_tcp_connections_total", "event", "accepted"); got < 2 {
		t.Errorf("hayate_media_tcp_connections_total{event=accepted} = %v, want ≥ 2 (publisher and subscriber over TCP)", got)
	}
	if got := e.counterValue("hayate_media_tcp_frames_total", "direction", "in"); got < n {
		t.Errorf("hayate_media_tcp_frames_total{direction=in} = %v, want ≥ %d (the publisher's packets)", got, n)
	}
}
