package dataplane

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hayate-sfu/hayate/dataplane/demux"
	"github.com/hayate-sfu/hayate/dataplane/handshake"
	"github.com/hayate-sfu/hayate/dataplane/icelite"
	"github.com/hayate-sfu/hayate/dataplane/netio"
	"github.com/hayate-sfu/hayate/ringbuf"
	"github.com/pion/logging"
	"github.com/pion/stun/v4"
)

// Timing of the loop's periodic work.
const (
	tickInterval     = 20 * time.Millisecond  // NACK generation, command polling
	twccInterval     = 100 * time.Millisecond // transport-wide CC feedback to publishers
	reportInterval   = time.Second            // RR to publishers, SR to subscribers, keyframe retries
	iceTimeout       = 30 * time.Second       // no authenticated check or SRTP for this long: gone (RFC 7675)
	connectTimeout   = 30 * time.Second       // created but never DTLS-connected
	handshakeTimeout = 20 * time.Second
	pliInterval      = 500 * time.Millisecond // at most one PLI per source in this time
	maxPLIRetries    = 10                     // PLIs sent for one subscriber waiting for a keyframe
	commandRingSize  = 4096
	recvBatch        = 64 // datagrams per recvmmsg
	// frameHold bounds how long a flush waits for the rest of a video frame
	// whose first packets arrived (GSO only): the packets of one frame to
	// one subscriber then leave as one UDP_SEGMENT send.
	frameHold = 400 * time.Microsecond
)

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

// plane is the implementation behind Plane. Fields above the loop marker are
// immutable after newPlane or atomics; loop-owned state lives in loopState.
type plane struct {
	log         *slog.Logger
	dtlsLog     logging.LoggerFactory
	conn        *net.UDPConn
	nio         *netio.Conn
	local       netip.AddrPort
	publicIPs   []netip.Addr
	cert        handshake.Certificate
	fingerprint string
	epoch       time.Time

	cmds    *ringbuf.MPSC[func(*loopState)]
	pending atomic.Bool // a command was pushed since the loop last drained
	closed  atomic.Bool
	done    chan struct{}
	loopWG  sync.WaitGroup
	tWG     sync.WaitGroup // transports' goroutines

	mu         sync.Mutex
	transports map[*transport]struct{}

	counters Counters
	loop     *loopState
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
	conn, err := net.ListenUDP("udp4", &net.UDPAddr{IP: ip, Port: cfg.Port})
	if err != nil {
		return nil, fmt.Errorf("dataplane: media socket: %w", err)
	}
	rbuf, wbuf := cfg.ReadBufferSize, cfg.WriteBufferSize
	if rbuf == 0 {
		rbuf = DefaultSocketBufferSize
	}
	if wbuf == 0 {
		wbuf = DefaultSocketBufferSize
	}
	if err := conn.SetReadBuffer(rbuf); err != nil {
		log.Warn("media socket receive buffer", "bytes", rbuf, "err", err)
	}
	if err := conn.SetWriteBuffer(wbuf); err != nil {
		log.Warn("media socket send buffer", "bytes", wbuf, "err", err)
	}
	cert, err := handshake.NewCertificate()
	if err != nil {
		conn.Close()
		return nil, err
	}
	local := conn.LocalAddr().(*net.UDPAddr).AddrPort()
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
	p := &plane{
		log:         log,
		dtlsLog:     lf,
		conn:        conn,
		local:       local,
		publicIPs:   pub,
		cert:        cert,
		fingerprint: cert.Fingerprint,
		epoch:       time.Now(),
		cmds:        ringbuf.NewMPSC[func(*loopState)](commandRingSize),
		done:        make(chan struct{}),
		transports:  map[*transport]struct{}{},
	}
	p.nio, err = netio.New(conn, recvBatch, cfg.GSO)
	if err != nil {
		conn.Close()
		return nil, err
	}
	p.loop = newLoopState(p)
	p.loop.wire = p.writeBatch
	p.loop.groupByDestination = p.nio.GSO()
	p.loopWG.Add(1)
	go p.run()
	p.log.Info("media plane listening", "addr", local.String(), "advertised", pub)
	return p, nil
}

func (p *plane) now() int64 { return int64(time.Since(p.epoch)) }

func (p *plane) candidates() []Candidate {
	out := make([]Candidate, 0, len(p.publicIPs))
	for _, ip := range p.publicIPs {
		out = append(out, Candidate{Addr: netip.AddrPortFrom(ip, p.local.Port()), Protocol: "udp"})
	}
	return out
}

func (p *plane) localAddr() netip.AddrPort { return p.local }

func (p *plane) startRTPForwarding(trackID string, to netip.AddrPort, ssrc uint32, rid string) (uint64, error) {
	if !to.IsValid() || to.Port() == 0 {
		return 0, fmt.Errorf("dataplane: RTP forwarding destination %v is not an address and port", to)
	}
	var (
		id  uint64
		err error
	)
	if werr := p.doWait(func(l *loopState) { id, err = l.addForward(trackID, to, ssrc, rid) }); werr != nil {
		return 0, werr
	}
	return id, err
}

func (l *loopState) addForward(trackID string, to netip.AddrPort, ssrc uint32, rid string) (uint64, error) {
	src := l.tracks[trackID]
	if src == nil {
		return 0, ErrUnknownTrack
	}
	if _, ok := src.layerIndex(rid); !ok {
		return 0, fmt.Errorf("dataplane: %s has no layer %q", trackID, rid)
	}
	l.nextForward++
	d := &downTrack{srcID: trackID, ssrc: ssrc, plainTo: to, current: -1, target: -1, requestedRID: rid}
	l.forwards[l.nextForward] = d
	l.attach(d, src, rid)
	return l.nextForward, nil
}

func (p *plane) stopRTPForwarding(id uint64) {
	_ = p.do(func(l *loopState) {
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
	err := p.doWait(func(l *loopState) { l.audioLevels(out, l.p.now()) })
	return out, err
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
func (p *plane) do(cmd func(*loopState)) error {
	if p.closed.Load() {
		return ErrClosed
	}
	if !p.cmds.Push(cmd) {
		p.counters.DropCommandFull.Add(1)
		return fmt.Errorf("dataplane: command queue full (%d)", commandRingSize)
	}
	p.pending.Store(true)
	// Wake the loop out of its read.
	_ = p.conn.SetReadDeadline(time.Now())
	return nil
}

// doWait runs cmd on the loop and waits for it (ctrl plane only).
func (p *plane) doWait(cmd func(*loopState)) error {
	ch := make(chan struct{})
	if err := p.do(func(l *loopState) { cmd(l); close(ch) }); err != nil {
		return err
	}
	select {
	case <-ch:
		return nil
	case <-p.done:
		return ErrClosed
	}
}

// writeBatch is the loop's wire: one sendmmsg (with GSO runs) per flush.
func (p *plane) writeBatch(ms []netio.Message) {
	n, err := p.nio.WriteBatch(ms)
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
	p.counters.SendSyscalls.Store(p.nio.Stats.SendCalls)
	p.counters.GSOSends.Store(p.nio.Stats.GSOSends)
}

// run is the media loop: one goroutine, locked to its thread, that owns
// loopState. Each turn: one recvmmsg batch, then pending commands, then the
// periodic duties when due, then one sendmmsg flush of everything queued
// (held up to frameHold while a video frame is incomplete, with GSO).
//
// The goroutine is not locked to its thread: parking in the netpoller then
// hands nothing between threads (locked, every wakeup cost two futex calls
// and two context switches). The batch syscalls are raw (netio): they never
// block, so the runtime need not hand the P to another thread meanwhile.
func (p *plane) run() {
	defer p.loopWG.Done()
	l := p.loop
	rx := netio.NewMessages(recvBatch)
	nextTick := p.now() + int64(tickInterval)
	var holdUntil int64 // a frame's flush is held until then (0: not held)
	_ = p.conn.SetReadDeadline(p.epoch.Add(time.Duration(nextTick)))
	for {
		n, err := p.nio.ReadBatch(rx)
		now := p.now()
		if err == nil {
			for i := 0; i < n; i++ {
				m := &rx[i]
				p.counters.PacketsIn.Add(1)
				p.counters.BytesIn.Add(uint64(m.N))
				l.handleDatagram(m.Buf[:m.N], m.Addr, now)
			}
		} else if !errors.Is(err, os.ErrDeadlineExceeded) {
			if p.closed.Load() {
				l.flush()
				l.closeAll()
				return
			}
			p.log.Warn("media socket read", "err", err)
		}
		if p.pending.Load() {
			p.pending.Store(false)
			for {
				cmd, ok := p.cmds.Pop()
				if !ok {
					break
				}
				cmd(l)
			}
		}
		if p.closed.Load() {
			l.flush()
			l.closeAll()
			return
		}
		ticked := now >= nextTick
		if ticked {
			l.tick(now)
			nextTick = now + int64(tickInterval)
			p.counters.RecvSyscalls.Store(p.nio.Stats.RecvCalls)
			if d, err := p.nio.KernelDrops(); err == nil {
				p.counters.KernelRxDrops.Store(d)
			}
		}
		if l.frameOpen && l.groupByDestination && l.en > 0 && l.en <= len(l.egress)*3/4 {
			if holdUntil == 0 {
				holdUntil = now + int64(frameHold)
				_ = p.conn.SetReadDeadline(p.epoch.Add(time.Duration(min(holdUntil, nextTick))))
			}
			if now < holdUntil {
				continue // read the rest of the frame first
			}
		}
		l.frameOpen = false
		l.flush()
		if holdUntil != 0 {
			holdUntil = 0
			ticked = true // re-arm the deadline for the tick
		}
		if err != nil || ticked {
			// The deadline fired (tick or wake): arm it for the next tick. A
			// command pushed after the drain above must not wait for it.
			_ = p.conn.SetReadDeadline(p.epoch.Add(time.Duration(nextTick)))
			if p.pending.Load() {
				_ = p.conn.SetReadDeadline(time.Now())
			}
		}
	}
}

func (p *plane) close() error {
	if p.closed.Swap(true) {
		return nil
	}
	close(p.done)
	_ = p.conn.SetReadDeadline(time.Now())
	p.loopWG.Wait()
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
	return p.conn.Close()
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
			l.p.counters.DropUnknown.Add(1)
			return
		}
		t.hs.Deliver(b)
	case demux.RTP:
		t := l.byAddr[from]
		if t == nil {
			l.p.counters.DropUnknown.Add(1)
			return
		}
		l.handleRTP(t, b, from, now)
	case demux.RTCP:
		t := l.byAddr[from]
		if t == nil {
			l.p.counters.DropUnknown.Add(1)
			return
		}
		l.handleRTCP(t, b, from, now)
	default:
		l.p.counters.DropUnknown.Add(1)
	}
}

func (l *loopState) handleSTUN(b []byte, from netip.AddrPort, now int64) {
	ufrag, err := l.stun.Parse(b)
	if err != nil {
		l.p.counters.DropSTUN.Add(1)
		return
	}
	t := l.byUfrag[ufrag]
	if t == nil {
		l.p.counters.DropSTUN.Add(1)
		return
	}
	req, err := l.stun.Verify(t.integrity)
	if err != nil {
		l.p.counters.DropSTUN.Add(1)
		return
	}
	ls := &t.ls
	if ls.remoteUfrag != "" && req.RemoteUfrag != ls.remoteUfrag {
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

// newIntegrity keys MESSAGE-INTEGRITY with the server's ICE password.
func newIntegrity(pwd string) stun.MessageIntegrity { return stun.NewShortTermIntegrity(pwd) }

var _ = icelite.NewCredentials
