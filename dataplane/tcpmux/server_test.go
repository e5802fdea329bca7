package tcpmux

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"net/netip"
	"runtime"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// waitFor bounds every wait in these tests.
const waitFor = 5 * time.Second

// recorder collects what the Server's callbacks saw.
type recorder struct {
	mu     sync.Mutex
	pkts   map[netip.AddrPort][][]byte
	closed map[netip.AddrPort]int
	change chan struct{} // poked on every callback
}

func newRecorder() *recorder {
	return &recorder{pkts: map[netip.AddrPort][][]byte{}, closed: map[netip.AddrPort]int{}, change: make(chan struct{}, 1)}
}

func (r *recorder) onPacket(remote netip.AddrPort, pkt []byte) {
	r.mu.Lock()
	r.pkts[remote] = append(r.pkts[remote], append([]byte(nil), pkt...))
	r.mu.Unlock()
	r.poke()
}

func (r *recorder) onClose(remote netip.AddrPort) {
	r.mu.Lock()
	r.closed[remote]++
	r.mu.Unlock()
	r.poke()
}

func (r *recorder) poke() {
	select {
	case r.change <- struct{}{}:
	default:
	}
}

// wait blocks until cond (called under the lock) holds, at most waitFor.
func (r *recorder) wait(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.NewTimer(waitFor)
	defer deadline.Stop()
	for {
		r.mu.Lock()
		ok := cond()
		r.mu.Unlock()
		if ok {
			return
		}
		select {
		case <-r.change:
		case <-time.After(20 * time.Millisecond):
		case <-deadline.C:
			t.Fatalf("timed out waiting for %s", what)
		}
	}
}

func (r *recorder) packets(remote netip.AddrPort) [][]byte {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([][]byte(nil), r.pkts[remote]...)
}

// checkGoroutines fails the test if goroutines started after it was called
// are still running when the test's cleanups are done.
func checkGoroutines(t *testing.T) {
	before := runtime.NumGoroutine()
	t.Cleanup(func() {
		deadline := time.Now().Add(waitFor)
		n := runtime.NumGoroutine()
		for n > before && time.Now().Before(deadline) {
			time.Sleep(10 * time.Millisecond)
			n = runtime.NumGoroutine()
		}
		if n > before {
			buf := make([]byte, 1<<16)
			t.Errorf("goroutines: %d before, %d after\n%s", before, n, buf[:runtime.Stack(buf, true)])
		}
	})
}

// newServer starts a Server on 127.0.0.1:0 wired to a recorder; edit
// adjusts the Config. It is closed (and checked for leaks) at cleanup.
func newServer(t *testing.T, edit func(*Config)) (*Server, *recorder) {
	t.Helper()
	checkGoroutines(t)
	r := newRecorder()
	cfg := Config{
		Addr:     netip.MustParseAddrPort("127.0.0.1:0"),
		OnPacket: r.onPacket,
		OnClose:  r.onClose,
		Logf:     t.Logf,
	}
	if edit != nil {
		edit(&cfg)
	}
	s, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	if s.Addr().Port() == 0 || s.Addr().Addr() != cfg.Addr.Addr() {
		t.Fatalf("Addr() = %v", s.Addr())
	}
	return s, r
}

// dial connects a client; rcvbuf > 0 shrinks its receive buffer first.
func dial(t *testing.T, s *Server, rcvbuf int) (*net.TCPConn, netip.AddrPort) {
	t.Helper()
	d := net.Dialer{Timeout: waitFor}
	if rcvbuf > 0 {
		d.Control = func(_, _ string, c syscall.RawConn) error {
			var serr error
			err := c.Control(func(fd uintptr) {
				serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, rcvbuf)
			})
			return errors.Join(err, serr)
		}
	}
	c, err := d.Dial("tcp4", s.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c.(*net.TCPConn), c.LocalAddr().(*net.TCPAddr).AddrPort()
}

// waitCounters waits, bounded, until cond holds for the counters; OnPacket
// runs before the loop adds a read's frames to them.
func waitCounters(t *testing.T, s *Server, cond func(Counters) bool) Counters {
	t.Helper()
	deadline := time.Now().Add(waitFor)
	for {
		cs := s.Counters()
		if cond(cs) {
			return cs
		}
		if time.Now().After(deadline) {
			t.Fatalf("counters %+v", cs)
		}
		time.Sleep(time.Millisecond)
	}
}

func write(t *testing.T, c net.Conn, b []byte) {
	t.Helper()
	if _, err := c.Write(b); err != nil {
		t.Fatal(err)
	}
}

// expectEOF reads until the server closes the connection.
func expectEOF(t *testing.T, c net.Conn) {
	t.Helper()
	_ = c.SetReadDeadline(time.Now().Add(waitFor))
	buf := make([]byte, 4096)
	for {
		_, err := c.Read(buf)
		if err == nil {
			continue
		}
		if errors.Is(err, io.EOF) || errors.Is(err, syscall.ECONNRESET) {
			return
		}
		t.Fatalf("read: %v, want EOF", err)
	}
}

func equalPackets(t *testing.T, got, want [][]byte) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%d packets, want %d", len(got), len(want))
	}
	for i := range want {
		if !bytes.Equal(got[i], want[i]) {
			t.Fatalf("packet %d: %d bytes %x…, want %d bytes %x…", i, len(got[i]), got[i][:min(8, len(got[i]))], len(want[i]), want[i][:min(8, len(want[i]))])
		}
	}
}

func TestServerPartialFrames(t *testing.T) {
	s, r := newServer(t, nil)
	c, remote := dial(t, s, 0)
	stun := bindingRequest(t, "srv:cli")
	write(t, c, frames(t, stun))
	r.wait(t, "the Binding request", func() bool { return len(r.pkts[remote]) == 1 })

	// A pair of frames (STUN-like, RTP-like) cut at every byte; each pair
	// is acknowledged before the next so cuts do not merge across pairs.
	want := [][]byte{stun}
	for cut := 0; cut <= len(frames(t, stun, rtpPacket(0, 300))); cut++ {
		pair := [][]byte{bindingRequest(t, "srv:cli"), rtpPacket(uint16(cut), 300)}
		stream := frames(t, pair...)
		write(t, c, stream[:cut])
		write(t, c, stream[cut:])
		want = append(want, pair...)
		r.wait(t, "the pair", func() bool { return len(r.pkts[remote]) == len(want) })
	}
	// Byte by byte.
	pkts := [][]byte{rtpPacket(7, 40), {0x81, 0xc8, 0, 1, 1, 2, 3, 4}}
	for _, b := range frames(t, pkts...) {
		write(t, c, []byte{b})
	}
	want = append(want, pkts...)
	r.wait(t, "byte-by-byte packets", func() bool { return len(r.pkts[remote]) == len(want) })
	equalPackets(t, r.packets(remote), want)

	waitCounters(t, s, func(cs Counters) bool { return cs.FramesIn == uint64(len(want)) && cs.Accepted == 1 })
}

func TestServerManyFramesInOneWrite(t *testing.T) {
	s, r := newServer(t, nil)
	c, remote := dial(t, s, 0)
	want := [][]byte{bindingRequest(t, "a:b")}
	for i := range 50 {
		want = append(want, rtpPacket(uint16(i), 1200))
	}
	write(t, c, frames(t, want...))
	r.wait(t, "51 packets", func() bool { return len(r.pkts[remote]) == len(want) })
	equalPackets(t, r.packets(remote), want)
	var bytesIn uint64
	for _, p := range want {
		bytesIn += uint64(len(p))
	}
	waitCounters(t, s, func(cs Counters) bool { return cs.FramesIn == 51 && cs.BytesIn == bytesIn })
}

func TestServerClosesOnBadInput(t *testing.T) {
	stun := bindingRequest(t, "a:b")
	tests := []struct {
		name    string
		stream  []byte
		good    int // packets delivered before the close
		counter func(Counters) uint64
	}{
		{"zero length", append(frames(t, stun), 0, 0, 1), 1, func(c Counters) uint64 { return c.ClosedBadLength }},
		{"oversize length", append(frames(t, stun), 0x08, 0x01), 1, func(c Counters) uint64 { return c.ClosedBadLength }},
		{"first frame not STUN", frames(t, rtpPacket(1, 100), stun), 0, func(c Counters) uint64 { return c.ClosedNotSTUN }},
		{"STUN response first", frames(t, append([]byte{1, 1}, stun[2:]...)), 0, func(c Counters) uint64 { return c.ClosedNotSTUN }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, r := newServer(t, func(c *Config) { c.MaxFrame = 2048 })
			c, remote := dial(t, s, 0)
			write(t, c, tt.stream)
			expectEOF(t, c)
			r.wait(t, "OnClose", func() bool { return r.closed[remote] == 1 })
			if got := len(r.packets(remote)); got != tt.good {
				t.Fatalf("%d packets delivered, want %d", got, tt.good)
			}
			cs := s.Counters()
			if tt.counter(cs) != 1 || cs.Closed != 1 {
				t.Fatalf("counters %+v", cs)
			}
		})
	}
}

func TestServerManyConnections(t *testing.T) {
	const conns, perConn = 40, 20
	s, r := newServer(t, func(c *Config) { c.Loops = 2 })
	type client struct {
		c      *net.TCPConn
		remote netip.AddrPort
		want   [][]byte
	}
	clients := make([]client, conns)
	for i := range clients {
		c, remote := dial(t, s, 0)
		want := [][]byte{bindingRequest(t, "a:b")}
		for k := range perConn {
			p := rtpPacket(uint16(k), 100+i)
			binary.BigEndian.PutUint32(p[8:], uint32(i)) // SSRC names the client
			want = append(want, p)
		}
		clients[i] = client{c, remote, want}
	}
	var wg sync.WaitGroup
	for _, cl := range clients {
		wg.Go(func() {
			stream := frames(t, cl.want...)
			for off := 0; off < len(stream); off += 333 {
				if _, err := cl.c.Write(stream[off:min(off+333, len(stream))]); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	r.wait(t, "every packet", func() bool {
		n := 0
		for _, p := range r.pkts {
			n += len(p)
		}
		return n == conns*(perConn+1)
	})
	for _, cl := range clients {
		equalPackets(t, r.packets(cl.remote), cl.want)
	}
	waitCounters(t, s, func(cs Counters) bool { return cs.Accepted == conns && cs.FramesIn == conns*(perConn+1) })
}

// frameReader reads whole frames from a client connection.
type frameReader struct {
	c    net.Conn
	d    *Deframer
	buf  []byte
	data []byte // read, not yet deframed
}

func newFrameReader(c net.Conn) *frameReader {
	return &frameReader{c: c, d: NewDeframer(MaxFrameLimit), buf: make([]byte, 8192)}
}

// next returns the next frame's payload (a copy), reading as needed.
func (fr *frameReader) next(t *testing.T) []byte {
	t.Helper()
	_ = fr.c.SetReadDeadline(time.Now().Add(waitFor))
	for {
		for len(fr.data) > 0 {
			pkt, rest, err := fr.d.Next(fr.data)
			if err != nil {
				t.Fatal(err)
			}
			fr.data = rest
			if pkt != nil {
				return append([]byte(nil), pkt...)
			}
		}
		k, err := fr.c.Read(fr.buf)
		if err != nil {
			t.Fatalf("read: %v", err)
		}
		fr.data = fr.buf[:k]
	}
}

// readFrames reads n frames from c.
func readFrames(t *testing.T, c net.Conn, n int) [][]byte {
	t.Helper()
	fr := newFrameReader(c)
	var out [][]byte
	for range n {
		out = append(out, fr.next(t))
	}
	return out
}

func TestServerWriteBack(t *testing.T) {
	var sp atomic.Pointer[Server]
	s, r := newServer(t, func(c *Config) {
		// Echo every packet from the loop, as the plane answers STUN.
		rec := c.OnPacket
		c.OnPacket = func(remote netip.AddrPort, pkt []byte) {
			rec(remote, pkt)
			if err := sp.Load().Write(remote, pkt); err != nil {
				t.Error(err)
			}
		}
	})
	sp.Store(s)
	c, remote := dial(t, s, 0)
	sent := [][]byte{bindingRequest(t, "a:b"), rtpPacket(1, 1200), {0x42}}
	write(t, c, frames(t, sent...))
	equalPackets(t, readFrames(t, c, 3), sent)

	// From another goroutine: single writes and a batch, in order.
	r.wait(t, "3 packets", func() bool { return len(r.pkts[remote]) == 3 })
	var want [][]byte
	for i := range 30 {
		p := rtpPacket(uint16(100+i), 50+i*40)
		want = append(want, p)
		if err := s.Write(remote, p); err != nil {
			t.Fatal(err)
		}
	}
	batch := [][]byte{rtpPacket(200, 500), rtpPacket(201, 600)}
	if n, err := s.WriteBatch(remote, batch); n != 2 || err != nil {
		t.Fatalf("WriteBatch = %d, %v", n, err)
	}
	want = append(want, batch...)
	equalPackets(t, readFrames(t, c, len(want)), want)

	waitCounters(t, s, func(cs Counters) bool { return cs.FramesOut == 3+32 && cs.DropOutboundFull == 0 })
	// Bad writes.
	if err := s.Write(remote, nil); !errors.Is(err, ErrFrameSize) {
		t.Fatalf("empty Write: %v", err)
	}
	if err := s.Write(remote, make([]byte, DefaultMaxFrame+1)); !errors.Is(err, ErrFrameSize) {
		t.Fatalf("oversize Write: %v", err)
	}
	if err := s.Write(netip.MustParseAddrPort("127.0.0.1:9"), []byte{1}); !errors.Is(err, ErrNoConn) {
		t.Fatalf("Write to unknown remote: %v", err)
	}
}

func TestServerOutboundBounded(t *testing.T) {
	const maxOut = 32 << 10
	s, r := newServer(t, func(c *Config) { c.MaxOutbound = maxOut })
	c, remote := dial(t, s, 4096) // a small receive window; the client does not read yet
	write(t, c, frames(t, bindingRequest(t, "a:b")))
	r.wait(t, "the Binding request", func() bool { return len(r.pkts[remote]) == 1 })

	// Write bursts well under MaxOutbound and let each flush, so drops come
	// from the second stage (the kernel and gnet's buffer are full), until
	// drops show. Bounded. Each packet carries its index.
	const size, burst = 1000, 16
	sent := 0
	deadline := time.Now().Add(waitFor)
	for round := 0; sent < 20000 && s.Counters().DropOutboundFull == 0; round++ {
		pkts := make([][]byte, burst)
		for i := range pkts {
			pkts[i] = rtpPacket(uint16(sent+i), size)
			binary.BigEndian.PutUint32(pkts[i][4:], uint32(sent+i))
		}
		if round%2 == 0 { // single writes and batches alternate
			for _, p := range pkts {
				if err := s.Write(remote, p); err != nil {
					t.Fatalf("write %d: %v", sent, err)
				}
			}
		} else if n, err := s.WriteBatch(remote, pkts); n != burst || err != nil {
			t.Fatalf("WriteBatch at %d: %d, %v", sent, n, err)
		}
		sent += burst
		for cs := s.Counters(); cs.FramesOut+cs.DropOutboundFull < uint64(sent); cs = s.Counters() {
			if time.Now().After(deadline) {
				t.Fatalf("flush stalled: %+v, %d written", cs, sent)
			}
			runtime.Gosched()
		}
	}
	if s.Counters().DropOutboundFull == 0 {
		t.Fatalf("no drops after %d writes to a client that does not read: %+v", sent, s.Counters())
	}
	// Now read. Every write ends up sent or dropped, and what reaches the
	// client is whole frames in increasing order: drops remove packets,
	// never bytes inside one.
	fr := newFrameReader(c)
	deadline = time.Now().Add(waitFor)
	read, last := 0, -1
	for {
		cs := s.Counters()
		if read == int(cs.FramesOut) && cs.FramesOut+cs.DropOutboundFull == uint64(sent) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("read %d frames, counters %+v, %d written", read, cs, sent)
		}
		if read == int(cs.FramesOut) {
			time.Sleep(time.Millisecond)
			continue
		}
		p := fr.next(t)
		idx := int(binary.BigEndian.Uint32(p[4:]))
		if len(p) != size || idx <= last || !bytes.Equal(p[12:], rtpPacket(uint16(idx), size)[12:]) {
			t.Fatalf("frame %d: %d bytes, index %d after %d", read, len(p), idx, last)
		}
		read++
		last = idx
	}
	// The connection still works once the client reads.
	if err := s.Write(remote, []byte{1, 2, 3}); err != nil {
		t.Fatal(err)
	}
	if p := fr.next(t); !bytes.Equal(p, []byte{1, 2, 3}) {
		t.Fatalf("got %x after the drops", p)
	}
	t.Logf("%d written, %d sent, %d dropped", sent, read, s.Counters().DropOutboundFull)
}

func TestServerMaxConns(t *testing.T) {
	s, r := newServer(t, func(c *Config) { c.MaxConns = 2 })
	var remotes []netip.AddrPort
	for range 2 {
		c, remote := dial(t, s, 0)
		write(t, c, frames(t, bindingRequest(t, "a:b")))
		remotes = append(remotes, remote)
	}
	r.wait(t, "2 accepted", func() bool { return len(r.pkts) == 2 })
	c, _ := dial(t, s, 0)
	expectEOF(t, c)
	if cs := s.Counters(); cs.Accepted != 2 || cs.Rejected != 1 || cs.Closed != 0 {
		t.Fatalf("counters %+v", cs)
	}
	for _, remote := range remotes {
		if err := s.Write(remote, []byte{1}); err != nil {
			t.Fatalf("Write to %v: %v", remote, err)
		}
	}
}

func TestServerTimeouts(t *testing.T) {
	s, r := newServer(t, func(c *Config) {
		c.HandshakeTimeout = 100 * time.Millisecond
		c.IdleTimeout = 300 * time.Millisecond
	})
	silent, silentRemote := dial(t, s, 0)
	idle, idleRemote := dial(t, s, 0)
	write(t, idle, frames(t, bindingRequest(t, "a:b")))
	expectEOF(t, silent)
	expectEOF(t, idle)
	r.wait(t, "two OnClose", func() bool { return r.closed[silentRemote] == 1 && r.closed[idleRemote] == 1 })
	if cs := s.Counters(); cs.ClosedHandshakeTimeout != 1 || cs.ClosedIdle != 1 || cs.Closed != 2 {
		t.Fatalf("counters %+v", cs)
	}
}

func TestServerCloseConn(t *testing.T) {
	s, r := newServer(t, nil)
	c, remote := dial(t, s, 0)
	write(t, c, frames(t, bindingRequest(t, "a:b")))
	r.wait(t, "the Binding request", func() bool { return len(r.pkts[remote]) == 1 })
	if err := s.CloseConn(remote); err != nil {
		t.Fatal(err)
	}
	expectEOF(t, c)
	r.wait(t, "OnClose", func() bool { return r.closed[remote] == 1 })
	if err := s.Write(remote, []byte{1}); !errors.Is(err, ErrNoConn) {
		t.Fatalf("Write after CloseConn: %v", err)
	}
	if err := s.CloseConn(remote); !errors.Is(err, ErrNoConn) {
		t.Fatalf("second CloseConn: %v", err)
	}
}

func TestServerCloseWithLiveConnections(t *testing.T) {
	s, r := newServer(t, func(c *Config) { c.Loops = 2 })
	var clients []*net.TCPConn
	var remotes []netip.AddrPort
	for range 5 {
		c, remote := dial(t, s, 0)
		write(t, c, frames(t, bindingRequest(t, "a:b")))
		clients = append(clients, c)
		remotes = append(remotes, remote)
	}
	r.wait(t, "5 connections", func() bool { return len(r.pkts) == 5 })
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	// OnClose ran for each before Close returned.
	r.mu.Lock()
	for _, remote := range remotes {
		if r.closed[remote] != 1 {
			t.Errorf("OnClose(%v) ran %d times", remote, r.closed[remote])
		}
	}
	r.mu.Unlock()
	for _, c := range clients {
		expectEOF(t, c)
	}
	if err := s.Write(remotes[0], []byte{1}); !errors.Is(err, ErrClosed) {
		t.Fatalf("Write after Close: %v", err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	if _, err := net.DialTimeout("tcp4", s.Addr().String(), time.Second); err == nil {
		t.Fatal("listener still accepts after Close")
	}
}

func TestNewErrors(t *testing.T) {
	checkGoroutines(t)
	noop := func(netip.AddrPort, []byte) {}
	lo := netip.MustParseAddrPort("127.0.0.1:0")
	tests := []struct {
		name string
		cfg  Config
	}{
		{"no OnPacket", Config{Addr: lo}},
		{"no Addr", Config{OnPacket: noop}},
		{"MaxFrame too large", Config{Addr: lo, OnPacket: noop, MaxFrame: MaxFrameLimit + 1}},
		{"negative MaxConns", Config{Addr: lo, OnPacket: noop, MaxConns: -1}},
		{"MaxOutbound below a frame", Config{Addr: lo, OnPacket: noop, MaxOutbound: 100}},
		{"negative Loops", Config{Addr: lo, OnPacket: noop, Loops: -1}},
	}
	for _, tt := range tests {
		if _, err := New(tt.cfg); !errors.Is(err, ErrConfig) {
			t.Errorf("%s: err = %v, want ErrConfig", tt.name, err)
		}
	}
	// A port already taken.
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	busy := ln.Addr().(*net.TCPAddr).AddrPort()
	if s, err := New(Config{Addr: busy, OnPacket: noop}); err == nil {
		s.Close()
		t.Fatalf("New on busy %v succeeded", busy)
	}
}

// TestWriteAllocs checks that the outbound path allocates nothing while the
// client keeps up (process-wide malloc count, so the loop is included). Each
// Write waits until its frame is out.
func TestWriteAllocs(t *testing.T) {
	s, r := newServer(t, nil)
	c, remote := dial(t, s, 0)
	write(t, c, frames(t, bindingRequest(t, "a:b")))
	r.wait(t, "the Binding request", func() bool { return len(r.pkts[remote]) == 1 })
	drained := make(chan struct{})
	go func() { // the client reads everything
		defer close(drained)
		_, _ = io.Copy(io.Discard, c)
	}()
	pkt := rtpPacket(1, 1200)
	const n = 2000
	deadline := time.Now().Add(waitFor)
	round := func(i int) {
		if err := s.Write(remote, pkt); err != nil {
			t.Fatal(err)
		}
		for s.Counters().FramesOut < uint64(i+1) {
			if time.Now().After(deadline) {
				t.Fatalf("flush %d stalled: %+v", i, s.Counters())
			}
			runtime.Gosched()
		}
	}
	round(0) // warm up the buffers
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	for i := 1; i <= n; i++ {
		round(i)
	}
	runtime.ReadMemStats(&after)
	// A client that reads keeps the connection direct: no allocation. (A
	// flush through the loop costs 2: gnet's task closure and queue node.)
	if perWrite := float64(after.Mallocs-before.Mallocs) / n; perWrite > 0.01 {
		t.Fatalf("%.3f allocations per Write, want 0", perWrite)
	}
	c.Close()
	<-drained
}
