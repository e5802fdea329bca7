package signaling

import (
	"bytes"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
)

// testClock is a clock whose time and ticks the test gives: at is the
// fake time since t0, and ticks are handed to onTick directly (the ticker
// the clock starts never fires), so every step is synchronous.
type testClock struct {
	*clock
	t0             time.Time
	at             time.Duration
	tickers, stops int
}

func newTestClock(t *testing.T, pingInterval time.Duration) *testClock {
	t.Helper()
	tc := &testClock{clock: newClock(pingInterval), t0: time.Unix(1_700_000_000, 0)}
	tc.now = func() time.Time { return tc.t0.Add(tc.at) }
	tc.epoch = tc.t0
	tc.timer = func(time.Duration) (<-chan time.Time, func()) {
		tc.tickers++
		return make(chan time.Time), func() { tc.stops++ }
	}
	t.Cleanup(tc.close)
	return tc
}

// tick delivers the tick due at the run's start plus n ticks, at that
// time (a late tick carries its due time, as time.Ticker's do).
func (tc *testClock) tick(n int64) {
	at := tc.run.start + time.Duration(n)*tc.clock.tick
	tc.at = max(tc.at, at)
	tc.onTick(tc.run, tc.epoch.Add(at))
}

// take is what the owner does on a poke: the bits due since the last take
// (0 if not poked).
func take(d *duties) duty {
	select {
	case <-d.poke:
		return duty(d.pending.Swap(0))
	default:
		return 0
	}
}

func newDuties() *duties { return &duties{poke: make(chan struct{}, 1)} }

func TestClockGranularity(t *testing.T) {
	cases := []struct {
		ping, tick          time.Duration
		pingTicks, updTicks int64
	}{
		{5 * time.Second, time.Second, 5, 60},
		{20 * time.Millisecond, 4 * time.Millisecond, 5, 15000},
		{1500 * time.Millisecond, 300 * time.Millisecond, 5, 200},
		{10 * time.Second, time.Second, 10, 60},       // clamped to 1 s
		{7500 * time.Millisecond, time.Second, 8, 60}, // not a multiple: never shorter
		{21, 5, 5, 12_000_000_000},                    // rounded up: five ticks not shorter
	}
	for _, tc := range cases {
		k := newClock(tc.ping)
		if k.tick != tc.tick || k.every[0] != tc.pingTicks || k.every[1] != tc.updTicks {
			t.Errorf("PingInterval %v: tick %v, ping every %d, update every %d ticks; want %v, %d, %d",
				tc.ping, k.tick, k.every[0], k.every[1], tc.tick, tc.pingTicks, tc.updTicks)
		}
		if time.Duration(k.every[0])*k.tick < tc.ping {
			t.Errorf("PingInterval %v: pings %v apart", tc.ping, time.Duration(k.every[0])*k.tick)
		}
	}
}

// Two connections that joined 4.6 s apart ping in the same ticks; every
// ping is PingInterval after the previous one, and the first comes at
// least PingInterval (and less than a tick more) after the join.
func TestClockCoalescesPings(t *testing.T) {
	tc := newTestClock(t, 5*time.Second)
	a, b := newDuties(), newDuties()
	tc.at = 300 * time.Millisecond
	tc.register(a, dutyPing|dutyUpdate) // starts the clock: ticks at 1.3 s, 2.3 s, …
	joinedA := tc.now()
	var joinedB time.Time
	var pingsA, pingsB []time.Time
	for n := int64(1); n <= 30; n++ {
		if n == 5 {
			tc.at = 4900 * time.Millisecond // between ticks 4 and 5
			tc.register(b, dutyPing|dutyUpdate)
			joinedB = tc.now()
		}
		tc.tick(n)
		if take(a)&dutyPing != 0 {
			pingsA = append(pingsA, tc.tickTime())
		}
		if take(b)&dutyPing != 0 {
			pingsB = append(pingsB, tc.tickTime())
		}
	}
	if len(pingsA) != 6 || len(pingsB) != 5 {
		t.Fatalf("%d and %d pings in 30 s, want 6 and 5:\n%v\n%v", len(pingsA), len(pingsB), pingsA, pingsB)
	}
	for i, p := range pingsB {
		if !p.Equal(pingsA[i+1]) {
			t.Errorf("B's ping %d at %v, A's at %v: not in the same tick", i, p, pingsA[i+1])
		}
	}
	for _, c := range []struct {
		name   string
		joined time.Time
		pings  []time.Time
	}{{"A", joinedA, pingsA}, {"B", joinedB, pingsB}} {
		if d := c.pings[0].Sub(c.joined); d < 5*time.Second || d >= 6*time.Second {
			t.Errorf("%s's first ping %v after its join, want [5s, 6s)", c.name, d)
		}
		for i := 1; i < len(c.pings); i++ {
			if d := c.pings[i].Sub(c.pings[i-1]); d != 5*time.Second {
				t.Errorf("%s's pings %d and %d %v apart, want 5s", c.name, i-1, i, d)
			}
		}
	}
}

// A tick delivered late (the ticker dropped the ones between) fires a due
// duty once, and the next comes on the original grid, not on each of the
// following ticks.
func TestClockLateTickNoBurst(t *testing.T) {
	tc := newTestClock(t, 5*time.Second)
	d := newDuties()
	tc.register(d, dutyPing|dutyUpdate)
	var got []int64
	for _, n := range []int64{1, 2, 3, 4, 5, 17, 18, 19, 20, 21, 22, 25} {
		tc.tick(n)
		bits := take(d)
		if bits&dutyUpdate != 0 {
			t.Errorf("update due at tick %d (every 60 ticks)", n)
		}
		if bits&dutyPing != 0 {
			got = append(got, n)
		}
	}
	want := []int64{5, 17, 20, 25}
	if !slices.Equal(got, want) {
		t.Errorf("pings at ticks %v, want %v", got, want)
	}
}

// Duties not asked for, or cleared, never fire; the others keep their
// intervals.
func TestClockDutySets(t *testing.T) {
	tc := newTestClock(t, 5*time.Second)
	ws, dc := newDuties(), newDuties()
	tc.register(ws, dutyPing|dutyUpdate)
	tc.register(dc, dutyPing|dutyUpdate|dutyDCStats)
	count := func(d *duties, counts map[duty]int) {
		bits := take(d)
		for _, b := range []duty{dutyPing, dutyUpdate, dutyDCStats} {
			if bits&b != 0 {
				counts[b]++
			}
		}
	}
	wsCounts, dcCounts := map[duty]int{}, map[duty]int{}
	for n := int64(1); n <= 120; n++ {
		if n == 61 {
			tc.clear(dc, dutyPing) // its WebSocket went away
		}
		tc.tick(n)
		count(ws, wsCounts)
		count(dc, dcCounts)
	}
	if wsCounts[dutyPing] != 24 || wsCounts[dutyUpdate] != 2 || wsCounts[dutyDCStats] != 0 {
		t.Errorf("WebSocket-only connection: %v, want 24 pings, 2 updates, no req-stats", wsCounts)
	}
	if dcCounts[dutyPing] != 12 || dcCounts[dutyUpdate] != 2 || dcCounts[dutyDCStats] != 4 {
		t.Errorf("DataChannel connection: %v, want 12 pings (none after the clear), 2 updates, 4 req-stats", dcCounts)
	}
}

// The ticker runs only while a connection is registered, and its
// goroutine ends with it.
func TestClockStartsAndStops(t *testing.T) {
	tc := newTestClock(t, 5*time.Second)
	a, b := newDuties(), newDuties()
	if tc.running() || tc.tickers != 0 {
		t.Fatal("a clock without connections runs")
	}
	tc.register(a, dutyPing)
	tc.register(b, dutyPing)
	tc.register(a, dutyPing) // twice: nothing
	if !tc.running() || tc.tickers != 1 || len(tc.entries) != 2 {
		t.Fatalf("two connections: running %v, %d tickers, %d entries; want one ticker, two entries", tc.running(), tc.tickers, len(tc.entries))
	}
	tc.unregister(a)
	tc.unregister(a) // twice: nothing
	if !tc.running() || tc.stops != 0 {
		t.Fatal("stopped with a connection left")
	}
	tc.tick(5)
	if take(b) != dutyPing || take(a) != 0 {
		t.Error("after the swap-remove, the remaining connection's schedule is not its own")
	}
	tc.unregister(b)
	if tc.running() || tc.stops != 1 {
		t.Fatalf("no connections: running %v, %d stops", tc.running(), tc.stops)
	}
	waitGoroutines(t, tc.clock, 0)

	tc.register(a, dutyPing)
	if !tc.running() || tc.tickers != 2 {
		t.Fatalf("a new connection: running %v, %d tickers", tc.running(), tc.tickers)
	}
	waitGoroutines(t, tc.clock, 1)
	tc.close()
	if n := tc.goroutines.Load(); n != 0 {
		t.Errorf("%d clock goroutines after close", n)
	}
	tc.register(b, dutyPing)
	if tc.running() || b.slot != 0 {
		t.Error("a closed clock took a registration")
	}
}

// A tick of a stopped run (it waited for the lock while the last
// connection left) changes nothing.
func TestClockStaleTick(t *testing.T) {
	tc := newTestClock(t, 5*time.Second)
	a := newDuties()
	tc.register(a, dutyPing)
	old := tc.run
	tc.unregister(a)
	tc.register(a, dutyPing)
	tc.onTick(old, tc.epoch.Add(time.Hour))
	if take(a) != 0 || tc.run.n != 0 {
		t.Error("a stale run's tick fired a duty")
	}
}

// The tick's scan allocates nothing, whether a duty is due or not.
func TestClockTickAllocs(t *testing.T) {
	tc := newTestClock(t, 5*time.Second)
	ds := make([]*duties, 50)
	for i := range ds {
		ds[i] = newDuties()
		tc.register(ds[i], dutyPing|dutyUpdate|dutyDCStats)
	}
	tc.mu.Lock()
	defer tc.mu.Unlock()
	if n := testing.AllocsPerRun(100, func() { tc.dueLocked(1) }); n != 0 {
		t.Errorf("a tick with nothing due: %v allocations", n)
	}
	if n := testing.AllocsPerRun(100, func() {
		tc.entries[7].due[0] = 2
		tc.dueLocked(2)
		take(tc.entries[7].d)
	}); n != 0 {
		t.Errorf("a tick with one ping due: %v allocations", n)
	}
	if n := testing.AllocsPerRun(100, func() {
		tc.entries[7].due[0] = 2
		tc.dueLocked(2) // the poke pending: the send is skipped
	}); n != 0 {
		t.Errorf("a tick with the owner not yet poked: %v allocations", n)
	}
}

// The owner runs what the clock hands it: a ping on every PingInterval,
// stats: true when the previous stats request is 5 s old (on the tick
// grid, exactly every fifth ping at 1 s), none once the WebSocket is gone
// (after 25 pings here).
func TestOwnerDuties(t *testing.T) {
	ts := newTestServer(t, func(c *Config) { c.PingInterval = time.Second })
	tc := newTestClock(t, time.Second)
	ts.clock = tc.clock
	c := newConn(ts.Server) // not serving: what it sends stays queued
	o := &owner{c: c, silence: time.NewTimer(time.Hour)}
	o.register()
	if o.dutyC == nil || o.duties.slot == 0 {
		t.Fatal("not registered")
	}
	var sent []string
	for n := int64(1); n <= 150; n++ { // 30 s
		if n == 126 {
			c.wsGone.Store(true)
			tc.clear(&o.duties, dutyPing)
		}
		tc.tick(n)
		select {
		case <-o.dutyC:
			o.onDuties()
		default:
		}
		c.mu.Lock()
		for _, b := range c.queue {
			switch {
			case bytes.Equal(b, pingStats):
				sent = append(sent, "S")
			case bytes.Equal(b, pingNoStats):
				sent = append(sent, "p")
			default:
				t.Errorf("sent %s", b)
			}
		}
		c.queue = nil
		c.mu.Unlock()
	}
	if got, want := strings.Join(sent, ""), "SppppSppppSppppSppppSpppp"; got != want {
		t.Errorf("pings %s, want %s", got, want)
	}
	o.stop()
	if tc.running() {
		t.Error("the clock runs after its only connection stopped")
	}
}

// Over real WebSockets: one clock for all connections of a server,
// running while any is joined; req-stats only for connections that can
// switch to DataChannels.
func TestServerClockLifecycle(t *testing.T) {
	ts := newTestServer(t, func(c *Config) { c.PingInterval = 20 * time.Millisecond })
	if ts.clock.running() {
		t.Fatal("the clock runs with no connection")
	}
	a := dial(t, ts.url)
	ts.join(t, a, "sendrecv")
	b := dial(t, ts.url)
	ts.joinDC(t, b, "sendrecv", map[string]any{"data_channel_signaling": true})
	for _, c := range []*client{a, b} {
		for m := c.recv(true); m["type"] != "ping"; m = c.recv(true) {
		}
	}
	ts.clock.mu.Lock()
	starts, entries := ts.clock.starts, len(ts.clock.entries)
	dcStats := 0
	for _, e := range ts.clock.entries {
		if e.due[2] != never {
			dcStats++
		}
	}
	ts.clock.mu.Unlock()
	if starts != 1 || entries != 2 || ts.clock.goroutines.Load() != 1 {
		t.Errorf("two connections: %d clock starts, %d entries, %d goroutines; want 1, 2, 1", starts, entries, ts.clock.goroutines.Load())
	}
	if dcStats != 1 {
		t.Errorf("req-stats scheduled for %d connections, want only the one with data_channel_signaling", dcStats)
	}

	a.ws.Close(websocket.StatusNormalClosure, "")
	b.ws.Close(websocket.StatusNormalClosure, "")
	ts.waitFor(t, "the clock to stop", func() bool { return !ts.clock.running() && ts.clock.goroutines.Load() == 0 })

	c := dial(t, ts.url)
	ts.join(t, c, "recvonly")
	for m := c.recv(true); m["type"] != "ping"; m = c.recv(true) {
	}
	ts.clock.mu.Lock()
	starts = ts.clock.starts
	ts.clock.mu.Unlock()
	if starts != 2 {
		t.Errorf("%d clock starts, want 2 (again for the new connection)", starts)
	}
}

func waitGoroutines(t *testing.T, k *clock, want int32) {
	t.Helper()
	for range 500 {
		if k.goroutines.Load() == want {
			return
		}
		time.Sleep(time.Millisecond)
	}
	t.Fatalf("%d clock goroutines, want %d", k.goroutines.Load(), want)
}
