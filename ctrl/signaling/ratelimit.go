package signaling

import (
	"net/netip"
	"sync"
	"time"
)

// Defaults of the connect rate limiter.
const (
	// maxLimitedAddresses bounds the addresses the limiter tracks at once.
	// With more distinct addresses connecting within one second than this,
	// connects from new addresses are refused until entries expire: failing
	// closed keeps the table (and the server) bounded under a spread-out
	// flood.
	maxLimitedAddresses = 65536
	// sweepEvery is how often, at most, the table is swept for expired
	// entries when it is full, and how often it is swept anyway so that it
	// shrinks after a burst.
	sweepEvery      = 100 * time.Millisecond
	sweepIdleTables = 10 * time.Second
)

// limitVerdict is what the limiter decided about one connect.
type limitVerdict uint8

const (
	limitAllow     limitVerdict = iota
	limitAddress                // the address used up its tokens
	limitTableFull              // too many addresses are tracked
)

// connectLimiter is a token bucket per client address: rate tokens per
// second, a burst of rate, one token per connect. IPv4 addresses have a
// bucket each; IPv6 addresses share one per /64, the block a single client
// can usually pick addresses from.
//
// A bucket that has not been used for a second is full again and so is
// equivalent to none: such entries are dropped when the table is swept.
// The limiter takes the time as an argument; it is safe for concurrent use.
type connectLimiter struct {
	rate float64
	max  int // most entries

	mu        sync.Mutex
	buckets   map[netip.Prefix]tokenBucket
	lastSweep time.Time
}

type tokenBucket struct {
	tokens float64
	last   time.Time
}

// newConnectLimiter returns a limiter of perSecond connects per second per
// address; perSecond <= 0 returns nil, which allows everything.
func newConnectLimiter(perSecond, maxAddresses int) *connectLimiter {
	if perSecond <= 0 {
		return nil
	}
	return &connectLimiter{rate: float64(perSecond), max: maxAddresses, buckets: make(map[netip.Prefix]tokenBucket)}
}

// limitKey is the bucket of an address: itself for IPv4 (and IPv4-mapped
// IPv6), its /64 for IPv6.
func limitKey(a netip.Addr) netip.Prefix {
	a = a.Unmap()
	bits := 32
	if a.Is6() {
		bits = 64
	}
	p, _ := a.Prefix(bits)
	return p
}

// allow takes one token from addr's bucket at time now.
func (l *connectLimiter) allow(addr netip.Addr, now time.Time) limitVerdict {
	if l == nil || !addr.IsValid() {
		return limitAllow
	}
	key := limitKey(addr)
	l.mu.Lock()
	defer l.mu.Unlock()
	if now.Sub(l.lastSweep) >= sweepIdleTables {
		l.sweepLocked(now)
	}
	b, ok := l.buckets[key]
	if !ok {
		if len(l.buckets) >= l.max && now.Sub(l.lastSweep) >= sweepEvery {
			l.sweepLocked(now)
		}
		if len(l.buckets) >= l.max {
			return limitTableFull
		}
		b = tokenBucket{tokens: l.rate, last: now}
	}
	if dt := now.Sub(b.last); dt > 0 {
		b.tokens = min(l.rate, b.tokens+dt.Seconds()*l.rate)
		b.last = now
	}
	if b.tokens < 1 {
		l.buckets[key] = b
		return limitAddress
	}
	b.tokens--
	l.buckets[key] = b
	return limitAllow
}

// sweepLocked drops the buckets that would be full again by now.
func (l *connectLimiter) sweepLocked(now time.Time) {
	l.lastSweep = now
	for k, b := range l.buckets {
		if b.tokens+now.Sub(b.last).Seconds()*l.rate >= l.rate {
			delete(l.buckets, k)
		}
	}
}

// tracked is the number of addresses in the table (tests).
func (l *connectLimiter) tracked() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.buckets)
}
