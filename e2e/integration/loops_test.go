package integration

import (
	"fmt"
	"testing"
	"time"

	"github.com/hayate-sfu/hayate/ctrl/config"
)

// TestMediaLoopsHandOff runs the media plane with four loops on one
// SO_REUSEPORT port. The kernel spreads the clients' datagrams over the four
// sockets by address, while the channel's transports all live on one loop:
// most clients' packets arrive on a loop that must hand them over. Every
// subscriber still gets the publisher's media, and the hand-offs are counted.
func TestMediaLoopsHandOff(t *testing.T) {
	e := newEnvWith(t, 60*time.Second, func(c *config.Config) { c.MediaLoops = 4 })
	const ch = "loops"
	var subs []*remote
	for range 6 {
		subs = append(subs, collect(e, e.connect(ch, "recvonly")))
	}
	pubc := e.connect(ch, "sendonly")
	for _, s := range subs {
		e.waitSees(s.c, pubc.ConnectionID())
	}
	time.Sleep(settle)
	const n = 100
	p := publish(e, pubc, 'L', n, 10*time.Millisecond, audio, video)
	select {
	case <-p.written:
	case <-e.ctx.Done():
		t.Fatal("publishing did not finish")
	}
	for i, s := range subs {
		rec, err := s.track(e.ctx, pubc.ConnectionID(), video)
		if err != nil {
			t.Errorf("subscriber %d: %v", i, err)
			continue
		}
		expectStream(t, e.ctx, fmt.Sprintf("subscriber %d (%s) video", i, s.c.ConnectionID()), rec, video, 'L', n-1, n*8/10)
	}
	// 7 clients over 4 sockets: all on the owner's socket has odds 4^-7.
	if got := e.counterValue("hayate_media_handed_off_total"); got == 0 {
		t.Errorf("hayate_media_handed_off_total = 0 with 7 clients over 4 loops; want hand-offs")
	}
	if got := e.counterValue("hayate_media_dropped_total", "reason", "handoff_full"); got != 0 {
		t.Errorf("%v datagrams dropped for a full hand-off ring", got)
	}
}
