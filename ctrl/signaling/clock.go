package signaling

// The server's clock: one goroutine and one time.Ticker schedule the
// periodic duties (ping, connection.updated, req-stats on the stats
// DataChannel) of every joined connection, in place of three tickers per
// connection. Each timer expiry wakes the runtime's netpoller (twice: its
// timeout is truncated to whole milliseconds), sysmon and a goroutine on
// another thread; with one ticker per server, the runtime wakes once per
// tick (PingInterval/5, at most 1 s) whatever the number of connections,
// and an owner goroutine only when one of its duties is due. Due times lie
// on the ticks, so the pings of all connections go out in at most five
// bursts per PingInterval.
//
// Concurrency contract:
//
//   - clock.mu guards the schedule (entries, the current run, closed) and
//     every registered duties.slot. register, clear and unregister may be
//     called from any goroutine; the connection's owner calls them.
//   - The clock's goroutine runs while at least one connection is
//     registered: register starts it with the first, unregister stops it
//     with the last, close stops it for good and waits for it to end.
//   - On a tick the clock's goroutine, holding mu, sets the due duties'
//     bits in each connection's pending mask (atomic Or) and pokes the
//     owner with a non-blocking send on a channel of capacity 1. It calls
//     nothing of the connection and takes no other lock, so it never waits
//     for an owner; bits set while a poke is pending are taken with it.
//   - The owner alone receives the poke and swaps the mask to zero (atomic
//     Swap), then runs the duties whose bits it got. A poke that finds the
//     mask empty (its bits went with the previous one) does nothing.
//   - A tick allocates nothing and scans each registered connection once.

import (
	"math"
	"sync"
	"sync/atomic"
	"time"
)

// duty is a bit in a connection's pending mask.
type duty uint32

const (
	dutyPing    duty = 1 << iota // ping on the WebSocket, every PingInterval
	dutyUpdate                   // connection.updated, every updateInterval
	dutyDCStats                  // req-stats on "stats", every dcStatsInterval
	numDuties   = iota
)

// never is the due tick of a duty that is not scheduled.
const never = math.MaxInt64

// maxTick bounds the clock's granularity (PingInterval/5): a duty runs at
// most this late, so a ping comes PingInterval to PingInterval+maxTick
// after the join, then every PingInterval (rounded up to whole ticks).
const maxTick = time.Second

// duties is a connection's side of the clock. The owner makes poke and
// keeps the struct (in its owner, on the heap) for as long as it is
// registered.
type duties struct {
	pending atomic.Uint32 // duty bits set by the clock, swapped out by the owner
	poke    chan struct{} // capacity 1; the clock sends without blocking
	slot    int           // 1 + index in clock.entries; 0 when not registered (clock.mu)
}

// clockEntry is the clock's record of one registered connection: 32 bytes.
type clockEntry struct {
	d   *duties
	due [numDuties]int64 // the tick (of the current run) each duty is next due at, or never
}

// clock is a Server's clock. See the contract above.
type clock struct {
	tick  time.Duration                                  // the granularity: PingInterval/5, at most maxTick
	every [numDuties]int64                               // each duty's interval in ticks, by bit number
	epoch time.Time                                      // tick times are kept as offsets from it
	now   func() time.Time                               // time.Now, but for tests
	timer func(time.Duration) (<-chan time.Time, func()) // starts a ticker; returns its channel and its stop

	lastTick atomic.Int64 // the latest tick's time, in nanoseconds since epoch

	mu      sync.Mutex
	entries []clockEntry
	run     *clockRun // nil while no connection is registered
	closed  bool
	starts  int // runs started, for tests

	runs       sync.WaitGroup
	goroutines atomic.Int32 // the clock's goroutines alive: 0 or 1 (2 while a stopped run's ends)
}

// clockRun is one period of the clock's goroutine, from the first
// registration to the last unregistration. Its ticks are numbered from 0,
// its start.
type clockRun struct {
	ticks      <-chan time.Time
	stopTicker func()
	stop       chan struct{}
	start      time.Duration // since epoch
	n          int64         // the latest tick handled
}

// newClock makes the clock of a server that pings every pingInterval.
func newClock(pingInterval time.Duration) *clock {
	// Rounded up, so that five ticks are not shorter than pingInterval.
	g := (pingInterval + 4) / 5
	g = min(max(g, 1), maxTick)
	k := &clock{tick: g, now: time.Now, timer: newTicker}
	k.every[0] = ticks(pingInterval, g)
	k.every[1] = ticks(updateInterval, g)
	k.every[2] = ticks(dcStatsInterval, g)
	k.epoch = k.now()
	return k
}

func newTicker(d time.Duration) (<-chan time.Time, func()) {
	t := time.NewTicker(d)
	return t.C, t.Stop
}

// ticks is d in ticks of g, rounded up, at least 1.
func ticks(d, g time.Duration) int64 {
	return max(int64((d+g-1)/g), 1)
}

// register schedules the duties in set for d: each first falls due one
// interval after now, rounded up to the clock's next tick. It starts the
// clock's goroutine if d is the first. Registering a registered d, or with
// a closed clock (the server is shutting down), does nothing.
func (k *clock) register(d *duties, set duty) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.closed || d.slot != 0 {
		return
	}
	if k.run == nil {
		k.startLocked()
	}
	r := k.run
	elapsed := max(k.now().Sub(k.epoch)-r.start, 0)
	next := int64((elapsed + k.tick - 1) / k.tick) // the first tick at or after now
	e := clockEntry{d: d}
	for j := range e.due {
		e.due[j] = never
		if set&(1<<j) != 0 {
			e.due[j] = max(next+k.every[j], r.n+1)
		}
	}
	k.entries = append(k.entries, e)
	d.slot = len(k.entries)
}

// clear unschedules the duties in set for d (a bit already set stays
// set: the owner checks whether it still applies).
func (k *clock) clear(d *duties, set duty) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if d.slot == 0 {
		return
	}
	e := &k.entries[d.slot-1]
	for j := range e.due {
		if set&(1<<j) != 0 {
			e.due[j] = never
		}
	}
}

// unregister unschedules d, and stops the clock's goroutine if d was the
// last. Unregistering an unregistered d does nothing.
func (k *clock) unregister(d *duties) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if d.slot == 0 {
		return
	}
	i, last := d.slot-1, len(k.entries)-1
	k.entries[i] = k.entries[last]
	k.entries[i].d.slot = i + 1
	k.entries[last] = clockEntry{}
	k.entries = k.entries[:last]
	d.slot = 0
	if last == 0 {
		k.stopLocked()
	}
}

// close stops the clock for good (Server.Shutdown) and waits for its
// goroutine to end; a later register does nothing.
func (k *clock) close() {
	k.mu.Lock()
	k.closed = true
	if k.run != nil {
		k.stopLocked()
	}
	k.mu.Unlock()
	k.runs.Wait()
}

// running reports whether the clock's ticker runs.
func (k *clock) running() bool {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.run != nil
}

// tickTime is the time of the latest tick: on the clock's grid (the run's
// start plus a whole number of ticks), with a monotonic reading.
func (k *clock) tickTime() time.Time {
	return k.epoch.Add(time.Duration(k.lastTick.Load()))
}

func (k *clock) startLocked() {
	c, stop := k.timer(k.tick)
	r := &clockRun{ticks: c, stopTicker: stop, stop: make(chan struct{}), start: k.now().Sub(k.epoch)}
	k.run = r
	k.starts++
	k.runs.Add(1)
	k.goroutines.Add(1)
	go k.loop(r)
}

func (k *clock) stopLocked() {
	k.run.stopTicker()
	close(k.run.stop)
	k.run = nil
}

// loop is the clock's goroutine for run r.
func (k *clock) loop(r *clockRun) {
	defer k.runs.Done()
	defer k.goroutines.Add(-1)
	for {
		select {
		case t := <-r.ticks:
			k.onTick(r, t)
		case <-r.stop:
			return
		}
	}
}

// onTick handles a tick of run r delivered at t (the ticker's time: when
// the tick was due, however late it is delivered). The tick's number is t
// rounded to the run's grid; ticks the ticker dropped are skipped.
func (k *clock) onTick(r *clockRun, t time.Time) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.run != r {
		return // stopped while this tick waited for mu
	}
	since := t.Sub(k.epoch) - r.start
	n := int64((since + k.tick/2) / k.tick)
	if since < 0 || n <= r.n {
		n = r.n + 1
	}
	r.n = n
	k.lastTick.Store(int64(r.start) + n*int64(k.tick))
	k.dueLocked(n)
}

// dueLocked sets the bits of the duties due at tick n and pokes their
// owners. A due time advances by its interval from where it was, so that
// pings stay PingInterval apart however late a tick comes; a duty that
// missed more than one interval fires once and skips to its next due time
// after n, on the same grid, rather than firing a burst.
func (k *clock) dueLocked(n int64) {
	for i := range k.entries {
		e := &k.entries[i]
		var bits duty
		for j, due := range e.due {
			if due > n {
				continue
			}
			bits |= 1 << j
			every := k.every[j]
			due += every
			if due <= n {
				due += ((n-due)/every + 1) * every
			}
			e.due[j] = due
		}
		if bits != 0 {
			e.d.pending.Or(uint32(bits))
			select {
			case e.d.poke <- struct{}{}:
			default: // a poke is pending; the owner takes these bits with it
			}
		}
	}
}
