package integration

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/hayate-sfu/hayate/bench/soraclient"
	"github.com/hayate-sfu/hayate/ctrl/config"
	"github.com/pion/webrtc/v4"
)

// relayOnly makes a client use only TURN candidates over one transport
// ("udp" or "tcp") from the offer's iceServers.
func relayOnly(transport string) clientOpt {
	return func(c *soraclient.Config) {
		c.UseOfferICEServers = true
		c.ICEConfig = func(conf *webrtc.Configuration) {
			conf.ICETransportPolicy = webrtc.ICETransportPolicyRelay
			for i := range conf.ICEServers {
				var keep []string
				for _, u := range conf.ICEServers[i].URLs {
					if strings.HasSuffix(u, "?transport="+transport) {
						keep = append(keep, u)
					}
				}
				conf.ICEServers[i].URLs = keep
			}
		}
	}
}

// TestMediaThroughTURN: clients restricted to relay candidates get media
// through the embedded TURN server, over UDP and over TCP, with the
// credentials handed out in offer.config.iceServers.
func TestMediaThroughTURN(t *testing.T) {
	for _, transport := range []string{"udp", "tcp"} {
		t.Run(transport, func(t *testing.T) {
			e := newEnvWith(t, 40*time.Second, func(c *config.Config) {
				c.TURN, c.TURNPort, c.ICETransportPolicy = true, 0, "relay"
			})
			a := e.connect("turn-"+transport, "sendrecv", relayOnly(transport))
			var offer struct {
				Config struct {
					ICEServers []struct {
						URLs       []string `json:"urls"`
						Username   string   `json:"username"`
						Credential string   `json:"credential"`
					} `json:"iceServers"`
					ICETransportPolicy string `json:"iceTransportPolicy"`
				} `json:"config"`
			}
			if err := json.Unmarshal(a.Offer(), &offer); err != nil {
				t.Fatal(err)
			}
			cfg := offer.Config
			if len(cfg.ICEServers) != 1 || len(cfg.ICEServers[0].URLs) != 2 || cfg.ICEServers[0].Username == "" ||
				cfg.ICEServers[0].Credential == "" || cfg.ICETransportPolicy != "relay" ||
				!strings.HasSuffix(cfg.ICEServers[0].Username, ":"+a.ConnectionID()) {
				t.Fatalf("offer.config = %+v, want one TURN server with this connection's credentials and policy relay", cfg)
			}
			rb := collect(e, a)
			b := e.connect("turn-"+transport, "sendrecv", relayOnly(transport))
			ra := collect(e, b)
			e.waitSees(a, b.ConnectionID())
			e.waitSees(b, a.ConnectionID())
			time.Sleep(settle)
			const n = 60
			pa := publish(e, a, 'A', n, 10*time.Millisecond, video)
			e.waitWritten(pa)
			rec, err := ra.track(e.ctx, a.ConnectionID(), video)
			if err != nil {
				t.Fatal(err)
			}
			expectStream(t, e.ctx, fmt.Sprintf("B receives A through TURN/%s", transport), rec, video, 'A', n-1, n*9/10)
			_ = rb
			if got := e.counterValue("hayate_turn_allocations_total", "transport", transport); got < 2 {
				t.Errorf("hayate_turn_allocations_total{transport=%s} = %v, want ≥ 2 (both clients)", transport, got)
			}
			// a hears of b as a TURN/<transport> client.
			if got := notifiedTURNType(t, e, a, b.ConnectionID()); got != transport {
				t.Errorf("a's connection.created about b says turn_transport_type %q, want %q", got, transport)
			}
			// Both clients' selected pairs are relayed.
			for _, c := range []*soraclient.Client{a, b} {
				pair, err := selectedLocalType(c)
				if err != nil || pair != webrtc.ICECandidateTypeRelay {
					t.Fatalf("%s selected a %v local candidate (%v), want relay", c.ConnectionID(), pair, err)
				}
			}
		})
	}
}

func selectedLocalType(c *soraclient.Client) (webrtc.ICECandidateType, error) {
	for _, s := range c.PeerConnection().GetStats() {
		if p, ok := s.(webrtc.ICECandidatePairStats); ok && p.Nominated {
			for _, s2 := range c.PeerConnection().GetStats() {
				if l, ok := s2.(webrtc.ICECandidateStats); ok && l.ID == p.LocalCandidateID {
					return l.CandidateType, nil
				}
			}
		}
	}
	return 0, fmt.Errorf("no nominated pair")
}

// notifiedTURNType waits for c's connection.created notify about peer and
// returns its turn_transport_type.
func notifiedTURNType(t *testing.T, e *env, c *soraclient.Client, peer string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(e.ctx, 5*time.Second)
	defer cancel()
	ev, err := c.WaitEvent(ctx, func(ev soraclient.Event) bool {
		return ev.Type == "notify" && ev.EventType == "connection.created" && ev.ConnectionID == peer
	})
	if err != nil {
		t.Fatalf("no connection.created about %s: %v", peer, err)
	}
	var n struct {
		TURNTransportType string `json:"turn_transport_type"`
	}
	if err := json.Unmarshal(ev.Raw, &n); err != nil {
		t.Fatal(err)
	}
	return n.TURNTransportType
}
