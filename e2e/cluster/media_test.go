package cluster

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"

	"github.com/hayate-sfu/hayate/bench/soraclient"
)

// connectFollowing connects a sendrecv audio client to url, first
// following the redirects the cluster answers (as the SDKs do: connect
// again at location with "redirect": true). It returns the client and the
// URL it ended on.
func connectFollowing(t *testing.T, ctx context.Context, url, channel string) (*soraclient.Client, string) {
	t.Helper()
	redirected := false
	for hop := 0; ; hop++ {
		r, err := probe(ctx, url, channel)
		if err != nil {
			t.Fatalf("connect to %s: %v", url, err)
		}
		if r.kind == "offer" {
			break
		}
		if r.kind != "redirect" || hop == 3 {
			t.Fatalf("connect to %s: %+v", url, r)
		}
		url, redirected = r.location, true
	}
	cfg := soraclient.Config{SignalingURL: url, ChannelID: channel, Role: "sendrecv", Audio: true}
	if redirected {
		cfg.Extra = map[string]any{"redirect": true}
	}
	cctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	c, err := soraclient.Connect(cctx, cfg)
	if err != nil {
		t.Fatalf("soraclient on %s: %v", url, err)
	}
	t.Cleanup(c.Close)
	return c, url
}

// hears waits until c receives, on the audio track of the connection
// from, a packet whose payload ends with tag.
func hears(ctx context.Context, c *soraclient.Client, from string, tag byte) error {
	for {
		select {
		case <-ctx.Done():
			return fmt.Errorf("no audio from %s: %w", from, ctx.Err())
		case tr := <-c.Tracks():
			if tr.StreamID() != from || tr.Kind() != webrtc.RTPCodecTypeAudio {
				continue
			}
			for {
				_ = tr.SetReadDeadline(time.Now().Add(5 * time.Second))
				p, _, err := tr.ReadRTP()
				if err != nil {
					return fmt.Errorf("reading audio from %s: %w", from, err)
				}
				if n := len(p.Payload); n > 0 && p.Payload[n-1] == tag {
					return nil
				}
			}
		}
	}
}

// speak writes tagged Opus-like packets every 20 ms until ctx ends.
func speak(ctx context.Context, c *soraclient.Client, tag byte) {
	tr := c.LocalTrack(webrtc.RTPCodecTypeAudio)
	for i := 0; ctx.Err() == nil; i++ {
		_ = tr.WriteRTP(&rtp.Packet{Header: rtp.Header{Version: 2, SequenceNumber: uint16(i), Timestamp: uint32(i) * 960},
			Payload: []byte{0xfc, byte(i), byte(i >> 8), tag}})
		time.Sleep(20 * time.Millisecond)
	}
}

// TestClusterRedirectMedia: two clients connect to different nodes for
// one channel; the second is redirected to the channel's owner, both end
// there and hear each other. The channel's API operations reach the owner
// from any node, and ListChannels with local: false lists it everywhere.
func TestClusterRedirectMedia(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	n1, n2, n3 := newNode(t, 1), newNode(t, 2), newNode(t, 3)
	startCluster(t, n1, n2, n3)
	placeWired(t, ctx, n2, n3)

	a, urlA := connectFollowing(t, ctx, n2.signalingURL(), "media")
	b, urlB := connectFollowing(t, ctx, n3.signalingURL(), "media")
	if urlA != n2.signalingURL() || urlB != n2.signalingURL() {
		t.Fatalf("clients ended on %s and %s, want both on the owner %s", urlA, urlB, n2.signalingURL())
	}
	sctx, stop := context.WithCancel(ctx)
	defer stop()
	go speak(sctx, a, 'A')
	go speak(sctx, b, 'B')
	hctx, hcancel := context.WithTimeout(ctx, 20*time.Second)
	defer hcancel()
	errs := make(chan error, 2)
	go func() { errs <- hears(hctx, a, b.ConnectionID(), 'B') }()
	go func() { errs <- hears(hctx, b, a.ConnectionID(), 'A') }()
	for range 2 {
		if err := <-errs; err != nil {
			t.Error(err)
		}
	}

	// The owner is in the cluster's table, seen from every node.
	for _, n := range []*node{n1, n2, n3} {
		ch := n.channels()["media"]
		if len(ch.Owners) != 1 || ch.Owners[0].NodeName != n2.name || !ch.Owners[0].Connected || !ch.Owners[0].EpochLatest {
			t.Errorf("ListClusterChannels on %s: media is %+v, want owned by %s", n.name, ch, n2.name)
		}
	}
	// An operation on the channel sent to another node runs on the owner.
	st, body := n1.api("Sora_20201013.ListChannelConnections", `{"channel_id":"media"}`)
	var conns []map[string]any
	if st != 200 || json.Unmarshal([]byte(body), &conns) != nil || len(conns) != 2 {
		t.Errorf("ListChannelConnections on a non-owner: %d %s, want the owner's two connections", st, body)
	}
	// ListChannels: local (default) on a non-owner has nothing; local:false has media.
	if st, body := n3.api("Sora_20201013.ListChannels", `{}`); st != 200 || strings.Contains(body, `"media"`) {
		t.Errorf("ListChannels on a non-owner: %d %s", st, body)
	}
	if st, body := n3.api("Sora_20201013.ListChannels", `{"local":false}`); st != 200 || !strings.Contains(body, `"channel_id":"media"`) {
		t.Errorf("ListChannels local:false: %d %s", st, body)
	}
}
