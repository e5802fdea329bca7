package signaling

import (
	"context"
	"net/http"
	"net/netip"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coder/websocket"
)

func TestConnectLimiter(t *testing.T) {
	t0 := time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)
	at := func(ms int) time.Time { return t0.Add(time.Duration(ms) * time.Millisecond) }
	a := netip.MustParseAddr("192.0.2.1")
	steps := []struct {
		name string
		addr string
		ms   int
		want limitVerdict
	}{
		{"burst 1", "192.0.2.1", 0, limitAllow},
		{"burst 2", "192.0.2.1", 0, limitAllow},
		{"burst 3", "192.0.2.1", 0, limitAllow},
		{"over the burst", "192.0.2.1", 0, limitAddress},
		{"another address has its own bucket", "192.0.2.2", 0, limitAllow},
		{"the same address as IPv4-mapped IPv6", "::ffff:192.0.2.1", 0, limitAddress},
		{"a third of a second refills one", "192.0.2.1", 334, limitAllow},
		{"and only one", "192.0.2.1", 334, limitAddress},
		{"IPv6", "2001:db8:1:2::1", 0, limitAllow},
		{"IPv6 same /64", "2001:db8:1:2:ffff::9", 0, limitAllow},
		{"IPv6 same /64 again", "2001:db8:1:2::abcd", 0, limitAllow},
		{"IPv6 /64 used up", "2001:db8:1:2::2", 0, limitAddress},
		{"IPv6 other /64", "2001:db8:1:3::1", 0, limitAllow},
		{"a full second refills the burst", "192.0.2.1", 1334, limitAllow},
	}
	l := newConnectLimiter(3, 100)
	for _, s := range steps {
		if got := l.allow(netip.MustParseAddr(s.addr), at(s.ms)); got != s.want {
			t.Errorf("%s: allow(%s, +%d ms) = %d, want %d", s.name, s.addr, s.ms, got, s.want)
		}
	}
	// Never more than the burst, however long the address was away.
	l2 := newConnectLimiter(2, 100)
	for i := range 3 {
		if got := l2.allow(a, at(3_600_000)); (i < 2) != (got == limitAllow) {
			t.Errorf("after an hour, connect %d: %d", i, got)
		}
	}
	var none *connectLimiter
	if newConnectLimiter(0, 10) != nil || none.allow(a, t0) != limitAllow {
		t.Error("a rate of 0 limits")
	}
	if l.allow(netip.Addr{}, t0) != limitAllow {
		t.Error("an unknown address (not IP) is limited")
	}
}

// TestConnectLimiterBounded: the table never holds more than its bound;
// when full, connects from new addresses are refused until entries expire,
// and expired entries are swept.
func TestConnectLimiterBounded(t *testing.T) {
	t0 := time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)
	l := newConnectLimiter(1, 4)
	addr := func(i int) netip.Addr { return netip.AddrFrom4([4]byte{10, 0, 0, byte(i)}) }
	for i := range 4 {
		if l.allow(addr(i), t0) != limitAllow {
			t.Fatalf("address %d refused", i)
		}
	}
	if got := l.allow(addr(9), t0.Add(10*time.Millisecond)); got != limitTableFull {
		t.Fatalf("a fifth address with a full table: %d, want limitTableFull", got)
	}
	if got := l.allow(addr(0), t0.Add(20*time.Millisecond)); got != limitAddress {
		t.Fatalf("a known address with a full table: %d, want its own verdict (limitAddress)", got)
	}
	if l.tracked() != 4 {
		t.Fatalf("%d addresses tracked, bound is 4", l.tracked())
	}
	// A second later every bucket is full again: the sweep makes room.
	if got := l.allow(addr(9), t0.Add(1100*time.Millisecond)); got != limitAllow {
		t.Fatalf("after the entries expired: %d", got)
	}
	if l.tracked() != 1 {
		t.Fatalf("%d addresses tracked after the sweep, want 1", l.tracked())
	}
	// An idle table shrinks by itself.
	l.allow(addr(8), t0.Add(30*time.Second))
	if l.tracked() != 1 {
		t.Fatalf("%d addresses tracked after a long pause, want 1", l.tracked())
	}
}

// TestConnectRateLimitHTTP: beyond MaxConnectsPerSecondPerAddress the
// upgrade is answered 429 with Retry-After and counted; once the bucket
// refills, connects are accepted again.
func TestConnectRateLimitHTTP(t *testing.T) {
	var now atomic.Int64 // unix ns; a frozen clock, moved by the test
	now.Store(time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC).UnixNano())
	ts := newTestServer(t, func(c *Config) {
		c.MaxConnectsPerSecondPerAddress = 2
		c.now = func() time.Time { return time.Unix(0, now.Load()) }
	})
	dial(t, ts.url)
	dial(t, ts.url)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	ws, resp, err := websocket.Dial(ctx, ts.url, nil)
	if err == nil {
		ws.CloseNow()
		t.Fatal("a third connect within the same instant was accepted")
	}
	if resp == nil || resp.StatusCode != http.StatusTooManyRequests || resp.Header.Get("Retry-After") != "1" {
		t.Fatalf("refused with %v (%v), want 429 and Retry-After: 1", resp, err)
	}
	if n := ts.counter(t, "hayate_signaling_connects_rate_limited_total", "reason", "address"); n != 1 {
		t.Errorf("rate-limited connects counted %v, want 1", n)
	}
	if n := ts.Counters()["total_refused_max_connects_per_second_per_address"]; n != 1 {
		t.Errorf("Counters() total_refused_max_connects_per_second_per_address = %d, want 1", n)
	}
	now.Add(int64(time.Second))
	c := dial(t, ts.url)
	c.send(connectMsg("sendrecv"))
	if got := c.recv(); got["type"] != "offer" {
		t.Fatalf("after a second, got %v, want an offer", got["type"])
	}
}
