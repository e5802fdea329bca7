package integration

import (
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
	publishToAll(e, pubc, subs, 'L', n)
	// 7 clients over 4 sockets: all on the owner's socket has odds 4^-7.
	if got := e.counterValue("hayate_media_handed_off_total"); got == 0 {
		t.Errorf("hayate_media_handed_off_total = 0 with 7 clients over 4 loops; want hand-offs")
	}
	if got := e.counterValue("hayate_media_dropped_total", "reason", "handoff_full"); got != 0 {
		t.Errorf("%v datagrams dropped for a full hand-off ring", got)
	}
}

// TestMediaLoopsFollowTheFirstClient: a channel's first transport moves to
// the loop its client's datagrams arrive on (so a publisher that opens the
// channel has none of its media handed between loops), and the channel's
// later transports follow it there.
func TestMediaLoopsFollowTheFirstClient(t *testing.T) {
	e := newEnvWith(t, 60*time.Second, func(c *config.Config) { c.MediaLoops = 4 })
	const ch = "loops-first"
	pubc := e.connect(ch, "sendonly")
	var subs []*remote
	for range 3 {
		subs = append(subs, collect(e, e.connect(ch, "recvonly")))
	}
	for _, s := range subs {
		e.waitSees(s.c, pubc.ConnectionID())
	}
	time.Sleep(settle)
	before := e.counterValue("hayate_media_handed_off_total")
	const n = 100
	publishToAll(e, pubc, subs, 'M', n)
	handed := e.counterValue("hayate_media_handed_off_total") - before
	t.Logf("migrations %v, datagrams handed off while %d audio and %d video packets were forwarded: %v",
		e.counterValue("hayate_media_loop_migrations_total"), n, n, handed)
	if m := e.counterValue("hayate_media_loop_migrations_total"); m > 1 {
		t.Errorf("%v transports migrated, want at most the channel's first", m)
	}
	if handed >= n {
		t.Errorf("%v datagrams handed between loops while the publisher sent %d: its media did not stay on its socket's loop", handed, 2*n)
	}
}
