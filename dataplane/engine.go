package dataplane

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"log/slog"
	"net"
	"net/netip"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/hayate-sfu/hayate/dataplane/demux"
	"github.com/hayate-sfu/hayate/dataplane/handshake"
	"github.com/hayate-sfu/hayate/dataplane/icelite"
	"github.com/hayate-sfu/hayate/dataplane/netio"
	"github.com/hayate-sfu/hayate/dataplane/pkt"
	"github.com/hayate-sfu/hayate/dataplane/tcpmux"
	"github.com/hayate-sfu/hayate/ringbuf"
	"github.com/pion/logging"
	"github.com/pion/stun/v4"
	"golang.org/x/sys/unix"
)

// Timing of the loop's periodic work.
const (
	tickInterval     = 20 * time.Millisecond  // while a NACK is due: NACK generation
	slowTickInterval = 100 * time.Millisecond // while media arrives: TWCC
	idleTickInterval = time.Second            // a loop without transports
	twccInterval     = 100 * time.Millisecond // transport-wide CC feedback to publishers
	reportInterval   = time.Second            // RR to publishers, SR to subscribers, keyframe retries
	iceTimeout       = 30 * time.Second       // no authenticated check or SRTP for this long: gone (RFC 7675)
	connectTimeout   = 30 * time.Second       // created but never DTLS-connected
	handshakeTimeout = 20 * time.Second
	pliInterval      = 500 * time.Millisecond // at most one PLI per source in this time
	maxPLIRetries    = 10                     // PLIs sent for one subscriber waiting for a keyframe
	commandRingSize  = 4096
	recvBatch        = 64 // datagrams per recvmmsg
	maxLoops         = 256
	handoffRingSize  = 1024  // datagrams in flight from one loop to another
	handoffPoolSize  = 256   // buffers each loop keeps for handing off
	maxRoutes        = 65536 // addresses a loop remembers as another loop's
	maxHops          = 2     // hand-offs of one datagram before it is dropped
)

// frameHold bounds how long a flush waits for the rest of a video frame
// whose first packets arrived (GSO only): the packets of one frame to one
// subscriber then leave as one UDP_SEGMENT send. A variable for tests.
var frameHold = 400 * time.Microsecond

// Errors with which the plane ends a transport (passed to OnClosed).
var (
	// ErrICETimeout: nothing authenticated arrived from the client for iceTimeout.
	ErrICETimeout = errors.New("dataplane: ICE consent timeout")
	// ErrConnectTimeout: the transport never became connected.
	ErrConnectTimeout = errors.New("dataplane: not connected in time")
	// ErrPeerClosed: the client closed DTLS (close_notify).
	ErrPeerClosed = errors.New("dataplane: DTLS closed by peer")
	// ErrHandshake: the DTLS handshake failed.
	ErrHandshake = errors.New("dataplane: DTLS handshake failed")
)

// plane is the implementation behind Plane. Fields are immutable after
// newPlane, atomics, or under mu; loop-owned state lives in each mediaLoop's
// loopState.
type plane struct {
	log         *slog.Logger
	dtlsLog     logging.LoggerFactory
	local       netip.AddrPort
	publicIPs   []netip.Addr
	cert        handshake.Certificate
	fingerprint string
	epoch       time.Time
	gso         bool

	// loops share media_port through SO_REUSEPORT (one loop: a plain
	// socket). The kernel picks a socket by the client's address and port;
	// a transport lives on the loop its shard hashes to (TransportConfig.Shard),
	// and datagrams that arrive on another loop's socket are handed to it.
	loops []*mediaLoop
	// ufrags maps every live transport's ICE ufrag to it, for a loop that
	// gets a check for a transport of another loop (string → *transport).
	ufrags sync.Map

	closed atomic.Bool
	done   chan struct{}
	loopWG sync.WaitGroup
	tWG    sync.WaitGroup // transports' goroutines

	mu         sync.Mutex
	transports map[*transport]struct{}
	// shards holds each shard's loop and its number of transports.
	shards map[string]*shardPlace

	counters    Counters
	nextForward atomic.Uint64

	// tcp is the ICE-TCP listener on the media port's number (nil without
	// Config.ICETCP); tcpRoutes maps a TCP peer (tcpKey) to its loop.
	tcp       *tcpmux.Server
	tcpRoutes sync.Map
	ready     atomic.Bool // the loops exist: ICE-TCP packets may enter
}

// mediaLoop is one media loop: its socket, its command ring and the state
// only its goroutine touches.
type mediaLoop struct {
	p       *plane
	idx     int
	nio     *netio.Conn
	cmds    *ringbuf.MPSC[func(*loopState)]
	pending atomic.Bool // a command or a handed-off packet is waiting
	// inbox[j] carries datagrams that loop j received for this loop's
	// transports (nil for j == idx): one producer, one consumer each.
	inbox []*ringbuf.SPSC[handoff]
	// pool holds the buffers this loop hands to others (returned by them).
	pool *pkt.Pool
	// tcpIn carries packets from ICE-TCP connections of this loop's
	// transports (many tcpmux goroutines may push).
	tcpIn *ringbuf.MPSC[tcpPacket]
	st    *loopState
	// seen and seenDrops are the socket counts already added to the
	// plane's Counters (loop only).
	seen      netio.Stats
	seenDrops uint64
}

// handoff is one datagram passed between loops.
type handoff struct {
	buf  *pkt.Buf
	from netip.AddrPort
	hops uint8 // hand-offs before this one (a moved transport can bounce once)
}

// Counters are plane-wide drop and error counts, for metrics.
type Counters struct {
	PacketsIn, BytesIn, PacketsOut, BytesOut atomic.Uint64
	// DropUnknown: datagrams of no known class or from no known transport.
	DropUnknown atomic.Uint64
	// DropNotReady: SRTP before keys; DropDecrypt: authentication failed.
	DropNotReady, DropDecrypt atomic.Uint64
	// DropSTUN: checks that failed parsing or authentication.
	DropSTUN atomic.Uint64
	// DropCommandFull: ctrl commands refused because the ring was full.
	DropCommandFull atomic.Uint64
	// SendErrors: socket writes that failed.
	SendErrors atomic.Uint64
	// UnknownSSRC: RTP on a connected transport with an SSRC no track claims.
	UnknownSSRC atomic.Uint64
	// KernelRxDrops: datagrams the kernel dropped because the media socket's
	// receive buffer was full (media_read_buffer_size too small, or the loop
	// too slow); refreshed every tick.
	KernelRxDrops atomic.Uint64
	// RecvSyscalls, SendSyscalls: recvmmsg and sendmmsg calls; GSOSends:
	// super-packets among the sent messages (PacketsOut counts segments).
	RecvSyscalls, SendSyscalls, GSOSends atomic.Uint64
	// HandedOff: datagrams that arrived on one loop's socket for a
	// transport of another loop and were passed to it; DropHandoffFull:
	// those dropped because that loop's inbox was full.
	HandedOff, DropHandoffFull atomic.Uint64
	// Migrations: transports moved to the loop their client's datagrams
	// arrive on (the only transport of their channel, at its first check).
	Migrations atomic.Uint64
	// SCTP packets and bytes of the DataChannel associations (inside DTLS).
	SCTPPacketsIn, SCTPBytesIn, SCTPPacketsOut, SCTPBytesOut atomic.Uint64
	// DropDTLSReleased: DTLS records from a client whose transport has no
	// DataChannels and released its association after the handshake.
	DropDTLSReleased atomic.Uint64
	// ForwardDelay: per flush of forwarded packets, the time from the read
	// of the oldest datagram in it to the end of the send.
	ForwardDelay DelayHistogram
}

// DelayBounds are the upper bounds of DelayHistogram's buckets; the last
// bucket (index len(DelayBounds)) takes the rest.
var DelayBounds = [...]time.Duration{
	20 * time.Microsecond, 50 * time.Microsecond, 100 * time.Microsecond, 200 * time.Microsecond,
	500 * time.Microsecond, time.Millisecond, 2 * time.Millisecond, 5 * time.Millisecond, 10 * time.Millisecond,
}

// DelayHistogram counts durations in the buckets of DelayBounds, without
// allocating or locking (one atomic add per Record).
type DelayHistogram struct {
	Buckets [len(DelayBounds) + 1]atomic.Uint64
	SumNs   atomic.Uint64
}

// Record counts one duration (in nanoseconds).
func (h *DelayHistogram) Record(ns int64) {
	i := 0
	for i < len(DelayBounds) && ns > int64(DelayBounds[i]) {
		i++
	}
	h.Buckets[i].Add(1)
	if ns > 0 {
		h.SumNs.Add(uint64(ns))
	}
}

// Counters returns the plane's counters (read with Load).
func (p *Plane) Counters() *Counters { return &p.impl.counters }

func newPlane(cfg Config) (*plane, error) {
	log := cfg.Logger
	if log == nil {
		log = slog.Default()
	}
	ip := net.IPv4zero
	if cfg.ListenAddress != "" {
		ip = net.ParseIP(cfg.ListenAddress)
		if ip == nil {
			return nil, fmt.Errorf("dataplane: listen address %q is not an IP", cfg.ListenAddress)
		}
	}
	n := cfg.Loops
	if n <= 0 {
		n = 1
	}
	if n > maxLoops {
		return nil, fmt.Errorf("dataplane: %d loops (at most %d)", n, maxLoops)
	}
	p := &plane{log: log, done: make(chan struct{}), transports: map[*transport]struct{}{}, shards: map[string]*shardPlace{}}
	var conns []*net.UDPConn
	closeAll := func() {
		for _, c := range conns {
			c.Close()
		}
		if p.tcp != nil {
			_ = p.tcp.Close()
		}
		for _, lp := range p.loops {
			_ = lp.nio.Close()
		}
	}
	for attempt := 1; ; attempt++ {
		var err error
		if conns, err = listenMedia(ip, cfg.Port, n); err != nil {
			return nil, err
		}
		if !cfg.ICETCP {
			break
		}
		// ICE-TCP takes the TCP port of the same number. With a port
		// picked by the kernel (0) that number may be taken on the TCP
		// side: pick another.
		udp := conns[0].LocalAddr().(*net.UDPAddr).AddrPort()
		err = p.startICETCP(netip.AddrPortFrom(udp.Addr().Unmap(), udp.Port()))
		if err == nil {
			break
		}
		closeAll()
		if cfg.Port != 0 || attempt == 5 {
			return nil, err
		}
	}
	rbuf, wbuf := cfg.ReadBufferSize, cfg.WriteBufferSize
	if rbuf == 0 {
		rbuf = DefaultSocketBufferSize
	}
	if wbuf == 0 {
		wbuf = DefaultSocketBufferSize
	}
	for _, c := range conns {
		if err := c.SetReadBuffer(rbuf); err != nil {
			log.Warn("media socket receive buffer", "bytes", rbuf, "err", err)
		}
		if err := c.SetWriteBuffer(wbuf); err != nil {
			log.Warn("media socket send buffer", "bytes", wbuf, "err", err)
		}
	}
	cert, err := handshake.NewCertificate()
	if err != nil {
		closeAll()
		return nil, err
	}
	local := conns[0].LocalAddr().(*net.UDPAddr).AddrPort()
	pub := cfg.PublicIPs
	if len(pub) == 0 {
		a := local.Addr().Unmap()
		if a.IsUnspecified() {
			a = netip.AddrFrom4([4]byte{127, 0, 0, 1})
		}
		pub = []netip.Addr{a}
	}
	lf := logging.NewDefaultLoggerFactory()
	lf.DefaultLogLevel = logging.LogLevelError
	p.dtlsLog = lf
	p.local = local
	p.publicIPs = pub
	p.cert = cert
	p.fingerprint = cert.Fingerprint
	p.epoch = time.Now()
	for i, c := range conns {
		nio, err := netio.New(c, recvBatch, cfg.GSO)
		if err != nil {
			closeAll()
			return nil, err
		}
		lp := &mediaLoop{
			p: p, idx: i, nio: nio,
			cmds:  ringbuf.NewMPSC[func(*loopState)](commandRingSize),
			inbox: make([]*ringbuf.SPSC[handoff], n),
			tcpIn: ringbuf.NewMPSC[tcpPacket](handoffRingSize),
			pool:  pkt.NewPool(handoffPoolSize),
		}
		if n > 1 {
			for j := range n {
				if j != i {
					lp.inbox[j] = ringbuf.NewSPSC[handoff](handoffRingSize)
				}
			}
		}
		lp.st = newLoopState(p)
		lp.st.lp = lp
		lp.st.wire = lp.writeBatch
		lp.st.groupByDestination = nio.GSO()
		p.gso = nio.GSO()
		p.loops = append(p.loops, lp)
	}
	p.ready.Store(true)
	for _, lp := range p.loops {
		p.loopWG.Add(1)
		go lp.run()
	}
	p.log.Info("media plane listening", "addr", local.String(), "advertised", pub, "loops", n, "gso", p.gso)
	return p, nil
}

// listenMedia opens n UDP sockets on ip:port. With n > 1 they share the
// port through SO_REUSEPORT (the first picks it when port is 0).
func listenMedia(ip net.IP, port, n int) ([]*net.UDPConn, error) {
	if n == 1 {
		c, err := net.ListenUDP("udp4", &net.UDPAddr{IP: ip, Port: port})
		if err != nil {
			return nil, fmt.Errorf("dataplane: media socket: %w", err)
		}
		return []*net.UDPConn{c}, nil
	}
	lc := net.ListenConfig{Control: func(_, _ string, rc syscall.RawConn) error {
		var serr error
		if err := rc.Control(func(fd uintptr) {
			serr = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_REUSEPORT, 1)
		}); err != nil {
			return err
		}
		return serr
	}}
	var conns []*net.UDPConn
	for i := 0; i < n; i++ {
		pc, err := lc.ListenPacket(context.Background(), "udp4", net.JoinHostPort(ip.String(), strconv.Itoa(port)))
		if err != nil {
			for _, c := range conns {
				c.Close()
			}
			return nil, fmt.Errorf("dataplane: media socket %d of %d (SO_REUSEPORT): %w", i+1, n, err)
		}
		c := pc.(*net.UDPConn)
		conns = append(conns, c)
		port = c.LocalAddr().(*net.UDPAddr).Port
	}
	return conns, nil
}

// shardPlace is where a shard's transports live.
type shardPlace struct {
	loop *mediaLoop
	n    int // live transports
}

// placeShard picks the loop of a new transport of shard: every transport of
// one shard (a channel) shares a loop, so forwarding among them never
// crosses loops. A new shard goes to the loop its id hashes to; the loop
// may change while the shard has one transport (migrate).
func (p *plane) placeShard(shard string) *mediaLoop {
	if len(p.loops) == 1 || shard == "" {
		return p.loops[0]
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	sp := p.shards[shard]
	if sp == nil {
		h := fnv.New32a()
		_, _ = h.Write([]byte(shard))
		sp = &shardPlace{loop: p.loops[h.Sum32()%uint32(len(p.loops))]}
		p.shards[shard] = sp
	}
	sp.n++
	return sp.loop
}

// leaveShard forgets a transport of shard.
func (p *plane) leaveShard(shard string) {
	if len(p.loops) == 1 || shard == "" {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if sp := p.shards[shard]; sp != nil {
		if sp.n--; sp.n <= 0 {
			delete(p.shards, shard)
		}
	}
}

// migrate moves t, the only transport of its shard, from this loop to to,
// whose socket its client's first check arrived on: the kernel will
// deliver all of that client's datagrams there, so none has to be handed
// over. Only a transport that has no address bound yet, is not connected
// and feeds no one moves; otherwise it stays.
func (l *loopState) migrate(t *transport, to *mediaLoop) {
	p := l.p
	if t.lp.Load() != l.lp || t.ls.gone || t.ls.connected || len(t.ls.addrs) > 0 {
		return
	}
	for _, src := range t.ls.sources {
		if len(src.downs) > 0 {
			return
		}
	}
	p.mu.Lock()
	sp := p.shards[t.shard]
	if sp == nil || sp.n != 1 || sp.loop != l.lp {
		p.mu.Unlock()
		return
	}
	sp.loop = to
	p.mu.Unlock()
	delete(l.byUfrag, t.local.Ufrag)
	delete(l.transports, t)
	for id := range t.ls.sources {
		delete(l.tracks, id)
	}
	// The adoption is queued before t.lp changes: a command that reads the
	// new loop, or follows t there, runs after it.
	if err := to.do(func(lx *loopState) {
		lx.byUfrag[t.local.Ufrag] = t
		lx.transports[t] = struct{}{}
		for id, src := range t.ls.sources {
			lx.tracks[id] = src
		}
	}); err != nil {
		return // closing
	}
	t.lp.Store(to)
	p.counters.Migrations.Add(1)
}

func (p *plane) now() int64 { return int64(time.Since(p.epoch)) }

func (p *plane) candidates() []Candidate {
	out := make([]Candidate, 0, 2*len(p.publicIPs))
	for _, ip := range p.publicIPs {
		out = append(out, Candidate{Addr: netip.AddrPortFrom(ip, p.local.Port()), Protocol: "udp"})
	}
	if p.tcp != nil {
		for _, ip := range p.publicIPs {
			out = append(out, Candidate{Addr: netip.AddrPortFrom(ip, p.tcp.Addr().Port()), Protocol: "tcp"})
		}
	}
	return out
}

func (p *plane) localAddr() netip.AddrPort { return p.local }

func (p *plane) startRTPForwarding(trackID string, to netip.AddrPort, ssrc uint32, rid string) (uint64, error) {
	if !to.IsValid() || to.Port() == 0 {
		return 0, fmt.Errorf("dataplane: RTP forwarding destination %v is not an address and port", to)
	}
	// The track lives on one loop: ask each until one has it.
	for _, lp := range p.loops {
		var (
			id  uint64
			err error
		)
		if werr := lp.doWait(func(l *loopState) { id, err = l.addForward(trackID, to, ssrc, rid) }); werr != nil {
			return 0, werr
		}
		if !errors.Is(err, ErrUnknownTrack) {
			return id, err
		}
	}
	return 0, ErrUnknownTrack
}

func (l *loopState) addForward(trackID string, to netip.AddrPort, ssrc uint32, rid string) (uint64, error) {
	src := l.tracks[trackID]
	if src == nil {
		return 0, ErrUnknownTrack
	}
	if _, ok := src.layerIndex(rid); !ok {
		return 0, fmt.Errorf("dataplane: %s has no layer %q", trackID, rid)
	}
	id := l.p.nextForward.Add(1)
	d := &downTrack{srcID: trackID, ssrc: ssrc, plainTo: to, current: -1, target: -1, requestedRID: rid}
	l.forwards[id] = d
	l.attach(d, src, rid)
	return id, nil
}

func (p *plane) stopRTPForwarding(id uint64) {
	for _, lp := range p.loops {
		lp.stopRTPForwarding(id)
	}
}

func (lp *mediaLoop) stopRTPForwarding(id uint64) {
	_ = lp.do(func(l *loopState) {
		d := l.forwards[id]
		if d == nil {
			return
		}
		delete(l.forwards, id)
		if d.src != nil {
			d.src.downs = removeDown(d.src.downs, d)
			d.src = nil
		}
	})
}

func (p *plane) audioLevels() (map[string]AudioLevel, error) {
	out := map[string]AudioLevel{}
	for _, lp := range p.loops {
		if err := lp.doWait(func(l *loopState) { l.audioLevels(out, l.p.now()) }); err != nil {
			return out, err
		}
	}
	return out, nil
}

func (l *loopState) audioLevels(out map[string]AudioLevel, now int64) {
	for id, src := range l.tracks {
		if src.kind != KindAudio {
			continue
		}
		since := time.Duration(-1)
		if src.lastVoice != 0 {
			since = time.Duration(now - src.lastVoice)
		}
		out[id] = AudioLevel{Loudness: src.loudness, SinceVoice: since}
	}
}

// do hands a command to the loop. Commands run on the loop goroutine in the
// order pushed; they must not block.
func (lp *mediaLoop) do(cmd func(*loopState)) error {
	p := lp.p
	if p.closed.Load() {
		return ErrClosed
	}
	if !lp.cmds.Push(cmd) {
		p.counters.DropCommandFull.Add(1)
		return fmt.Errorf("dataplane: command queue full (%d)", commandRingSize)
	}
	lp.wake()
	return nil
}

// wake gets the loop out of its read to look at its command ring and inboxes.
func (lp *mediaLoop) wake() {
	if !lp.pending.Swap(true) {
		lp.nio.Wake()
	}
}

// doWait runs cmd on the loop and waits for it (ctrl plane only).
func (lp *mediaLoop) doWait(cmd func(*loopState)) error {
	ch := make(chan struct{})
	if err := lp.do(func(l *loopState) { cmd(l); close(ch) }); err != nil {
		return err
	}
	select {
	case <-ch:
		return nil
	case <-lp.p.done:
		return ErrClosed
	}
}

// writeBatch is the loop's wire: one sendmmsg (with GSO runs) per flush.
func (lp *mediaLoop) writeBatch(ms []netio.Message) {
	p := lp.p
	n, err := lp.nio.WriteBatch(ms)
	if err != nil && !p.closed.Load() {
		p.log.Warn("media socket write", "err", err)
	}
	if n < len(ms) {
		p.counters.SendErrors.Add(uint64(len(ms) - n))
	}
	var bytes uint64
	for i := 0; i < n; i++ {
		bytes += uint64(ms[i].N)
	}
	p.counters.PacketsOut.Add(uint64(n))
	p.counters.BytesOut.Add(bytes)
	st := &lp.nio.Stats
	p.counters.SendSyscalls.Add(st.SendCalls - lp.seen.SendCalls)
	p.counters.GSOSends.Add(st.GSOSends - lp.seen.GSOSends)
	lp.seen.SendCalls, lp.seen.GSOSends = st.SendCalls, st.GSOSends
}

// handOff passes a datagram this loop received to the loop that owns its
// transport. It never blocks: a full inbox drops the datagram (counted).
func (lp *mediaLoop) handOff(to *mediaLoop, b []byte, from netip.AddrPort, hops uint8) {
	if hops >= maxHops || to == lp {
		lp.p.counters.DropUnknown.Add(1) // bounced between loops: the client retries
		return
	}
	buf := lp.pool.Get()
	buf.B = append(buf.B[:0], b...)
	if !to.inbox[lp.idx].Push(handoff{buf: buf, from: from, hops: hops + 1}) {
		buf.Release()
		lp.p.counters.DropHandoffFull.Add(1)
		return
	}
	lp.p.counters.HandedOff.Add(1)
	to.wake()
}

// drainInboxes handles the datagrams other loops passed to this one.
func (lp *mediaLoop) drainInboxes(now int64) {
	for _, in := range lp.inbox {
		if in == nil {
			continue
		}
		for {
			h, ok := in.Pop()
			if !ok {
				break
			}
			lp.st.hops = h.hops
			lp.st.handleDatagram(h.buf.B, h.from, now)
			lp.st.hops = 0
			h.buf.Release()
		}
	}
}

// run is the media loop: one goroutine that owns loopState. Each turn: one
// recvmmsg batch, then pending commands and handed-off datagrams, then the
// periodic duties when due, then one sendmmsg flush of everything queued
// (held up to frameHold while a video frame is incomplete, with GSO).
//
// The goroutine is not locked to its thread: parking in the netpoller then
// hands nothing between threads (locked, every wakeup cost two futex calls
// and two context switches). The batch syscalls are raw (netio): they never
// block, so the runtime need not hand the P to another thread meanwhile.
func (lp *mediaLoop) run() {
	p := lp.p
	defer p.loopWG.Done()
	l := lp.st
	rx := netio.NewMessages(recvBatch)
	nextTick := p.now() + int64(tickInterval)
	var holdUntil int64   // a frame's flush is held until then (0: not held)
	var armed int64       // what the timer is armed for
	var queuedSince int64 // when the oldest datagram with queued output was read
	// arm points the timer at `at` unless it already is (fired: it may
	// have expired; a wake cannot tell which, so re-arm).
	arm := func(at int64, fired bool) {
		if at != armed || fired {
			lp.nio.ArmTimer(time.Duration(at - p.now()))
			armed = at
		}
	}
	arm(nextTick, true)
	for {
		n, err := lp.nio.ReadBatch(rx)
		now := p.now()
		if err == nil {
			for i := 0; i < n; i++ {
				m := &rx[i]
				p.counters.PacketsIn.Add(1)
				p.counters.BytesIn.Add(uint64(m.N))
				l.handleDatagram(m.Buf[:m.N], m.Addr, now)
			}
			if n > 0 && l.en > 0 && queuedSince == 0 {
				queuedSince = now
			}
		} else if err != netio.ErrWoken {
			if p.closed.Load() {
				l.flush()
				l.closeAll()
				return
			}
			p.log.Warn("media socket read", "err", err)
		}
		if lp.pending.Load() {
			lp.pending.Store(false)
			for {
				cmd, ok := lp.cmds.Pop()
				if !ok {
					break
				}
				cmd(l)
			}
			lp.drainInboxes(now)
			lp.drainTCP(now)
		}
		if p.closed.Load() {
			l.flush()
			l.closeAll()
			return
		}
		if now >= nextTick {
			l.tick(now)
			nextTick = now + int64(l.tickEvery())
			p.counters.RecvSyscalls.Add(lp.nio.Stats.RecvCalls - lp.seen.RecvCalls)
			lp.seen.RecvCalls = lp.nio.Stats.RecvCalls
			if d, err := lp.nio.KernelDrops(); err == nil && d >= lp.seenDrops {
				p.counters.KernelRxDrops.Add(d - lp.seenDrops)
				lp.seenDrops = d
			}
		}
		if every := int64(l.tickEvery()); nextTick-now > every {
			// A gap to NACK, or a command gave an idle loop work: tick sooner.
			nextTick = now + every
		}
		if l.frameOpen && l.groupByDestination && l.en > 0 && l.en <= len(l.egress)*3/4 {
			if holdUntil == 0 {
				holdUntil = now + int64(frameHold)
			}
			if now < holdUntil {
				arm(min(holdUntil, nextTick), err != nil)
				continue // read the rest of the frame first
			}
		}
		l.frameOpen = false
		l.flush()
		if queuedSince != 0 {
			// From the read of the oldest datagram whose packets were queued
			// to the end of the flush that sent them: the forwarding delay.
			p.counters.ForwardDelay.Record(p.now() - queuedSince)
			queuedSince = 0
		}
		holdUntil = 0
		// The timer fired (tick, hold or wake) or the tick moved: re-arm. A
		// command pushed after the drain above left its wake in the
		// eventfd, so the next ReadBatch returns for it.
		arm(nextTick, err != nil)
	}
}

func (p *plane) close() error {
	if p.closed.Swap(true) {
		return nil
	}
	close(p.done)
	for _, lp := range p.loops {
		lp.nio.Wake()
	}
	p.loopWG.Wait()
	if p.tcp != nil {
		_ = p.tcp.Close()
	}
	p.mu.Lock()
	ts := make([]*transport, 0, len(p.transports))
	for t := range p.transports {
		ts = append(ts, t)
	}
	p.mu.Unlock()
	for _, t := range ts {
		t.close(nil)
	}
	p.tWG.Wait()
	var err error
	for _, lp := range p.loops {
		if cerr := lp.nio.Close(); err == nil {
			err = cerr
		}
	}
	return err
}

// demuxDatagram is split out so tests can drive the loop without a socket.
func (l *loopState) handleDatagram(b []byte, from netip.AddrPort, now int64) {
	l.now = now
	switch demux.Classify(b) {
	case demux.STUN:
		l.handleSTUN(b, from, now)
	case demux.DTLS:
		t := l.byAddr[from]
		if t == nil {
			l.route(b, from)
			return
		}
		t.hs.Deliver(b)
	case demux.RTP:
		t := l.byAddr[from]
		if t == nil {
			l.route(b, from)
			return
		}
		l.handleRTP(t, b, from, now)
	case demux.RTCP:
		t := l.byAddr[from]
		if t == nil {
			l.route(b, from)
			return
		}
		l.handleRTCP(t, b, from, now)
	default:
		l.p.counters.DropUnknown.Add(1)
	}
}

// handleSTUN answers an ICE check (a consent check, every few seconds per
// client, once connected) in the egress slot. For a transport of this loop it
// allocates nothing: the Responder's scratch is reused and the ufrag is
// looked up without a string (icelite.TestAnswerZeroAlloc,
// TestHandleSTUNZeroAlloc).
func (l *loopState) handleSTUN(b []byte, from netip.AddrPort, now int64) {
	ufrag, err := l.stun.Decode(b)
	if err != nil {
		l.p.counters.DropSTUN.Add(1)
		return
	}
	t := l.byUfrag[string(ufrag)] // no allocation: the compiler looks up with the bytes
	if t == nil {
		if v, ok := l.p.ufrags.Load(string(ufrag)); ok && l.lp != nil && v.(*transport).lp.Load() != l.lp {
			// A check for a transport of another loop: the kernel hashed
			// this client's address to our socket. If it is its channel's
			// only transport, it may move here; meanwhile hand the check
			// over, and the rest of this address's datagrams after it.
			ot := v.(*transport)
			other := ot.lp.Load()
			if !isTCP(from) && ot.shard != "" && ot.moveAsked.CompareAndSwap(false, true) {
				to := l.lp
				_ = ot.do(func(ly *loopState) { ly.migrate(ot, to) })
			}
			if len(l.routes) >= maxRoutes {
				clear(l.routes)
			}
			l.routes[from] = other
			l.lp.handOff(other, b, from, l.hops)
			return
		}
		l.p.counters.DropSTUN.Add(1)
		return
	}
	req, err := l.stun.Verify(t.integrity)
	if err != nil {
		l.p.counters.DropSTUN.Add(1)
		if isTCP(from) && l.byAddr[from] == nil && l.p.tcp != nil {
			_ = l.p.tcp.CloseConn(tcpRemote(from)) // RFC 6544: the first check must pass
		}
		return
	}
	ls := &t.ls
	if ls.remoteUfrag != "" && string(req.RemoteUfrag) != ls.remoteUfrag {
		l.p.counters.DropSTUN.Add(1)
		return
	}
	if l.byAddr[from] != t {
		if other := l.byAddr[from]; other != nil {
			other.ls.unbind(from)
		}
		l.byAddr[from] = t
		ls.addrs = append(ls.addrs, from)
	}
	if req.UseCandidate || !ls.selected.IsValid() {
		if ls.selected != from {
			ls.selected = from
			sel := from
			t.selected.Store(&sel)
			t.hs.SetRemote(net.UDPAddrFromAddrPort(from))
		}
	}
	ls.lastSeen = now
	out, err := l.stun.AppendSuccess(l.slot(), from, t.integrity)
	if err != nil {
		return
	}
	l.commit(out, from)
}

// tickEvery is how soon the loop must tick: every tickInterval while a
// publisher's packets are missing (NACKs and their retries), every
// slowTickInterval while media arrives (TWCC feedback is due every
// twccInterval), every reportInterval while transports exist but no media
// arrives (reports, keyframe retries, timeouts), idleTickInterval without
// transports. Each tick is a wakeup: a server whose clients are joined but
// quiet should not pay 10 a second per loop.
func (l *loopState) tickEvery() time.Duration {
	switch {
	case l.nackDue:
		return tickInterval
	case l.receiving:
		return slowTickInterval
	case l.idle():
		return idleTickInterval
	}
	return reportInterval
}

// idle reports whether the loop has nothing to time: no transport, no RTP
// forwarding.
func (l *loopState) idle() bool { return len(l.transports) == 0 && len(l.forwards) == 0 }

// route passes a datagram from an address this loop has no transport for
// to the loop a STUN check from that address went to, or drops it.
func (l *loopState) route(b []byte, from netip.AddrPort) {
	if other := l.routes[from]; other != nil {
		l.lp.handOff(other, b, from, l.hops)
		return
	}
	l.p.counters.DropUnknown.Add(1)
}

// newIntegrity keys MESSAGE-INTEGRITY with the server's ICE password.
func newIntegrity(pwd string) stun.MessageIntegrity { return stun.NewShortTermIntegrity(pwd) }

var _ = icelite.NewCredentials
