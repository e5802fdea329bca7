package dataplane

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"runtime/pprof"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hayate-sfu/hayate/dataplane/datachan"
	"github.com/hayate-sfu/hayate/dataplane/feedback"
	"github.com/hayate-sfu/hayate/dataplane/forward"
	"github.com/hayate-sfu/hayate/dataplane/handshake"
	"github.com/hayate-sfu/hayate/dataplane/icelite"
	"github.com/hayate-sfu/hayate/dataplane/secure"
	"github.com/pion/dtls/v3"
	"github.com/pion/srtp/v3"
	"github.com/pion/stun/v4"
)

// dtlsQuietPeriod: a transport without DataChannels releases its DTLS
// association when nothing DTLS arrived from the client for this long after
// the handshake (a client that missed our last flight retransmits its own
// within about a second), unless SRTP from it released it sooner. A
// variable so that tests can change it.
var dtlsQuietPeriod = 3 * time.Second

// transport is the implementation behind Transport. Three owners:
//   - immutable after newTransport: p, id, events, local, integrity, hs;
//   - the ctrl side (mu): remote parameters, the handshake goroutine's start
//     and the DTLS association until it is released or closed;
//   - the media loop: ls (loop state), touched only by loop commands.
//
// Counters are atomics so Stats can read them from anywhere.
//
// DTLS of a transport without DataChannels only yields the SRTP keys. Its
// association (pion/dtls state, buffers and goroutines) is released once
// the client has finished its side. As DTLS client we know that when our
// handshake ends: the server's Finished is the last flight, sent after it
// verified ours. As DTLS server (the client sends the last flight, and may
// retransmit it if our Finished was lost) we wait until the loop
// authenticated SRTP or SRTCP from the client (ls.holdsDTLS), or nothing
// DTLS came from it for dtlsQuietPeriod. The release sends nothing (see
// releaseDTLS); afterwards DTLS records from the client are dropped and
// counted (Counters.DropDTLSReleased), and the transport's end is learnt
// from signaling or from ICE consent, no longer from a close_notify.
type transport struct {
	p     *plane
	shard string
	// lp is the loop that owns ls. It changes at most once, when the first
	// check of a channel's only transport arrives on another loop's socket
	// (migrate); commands go through t.do, which follows it.
	lp        atomic.Pointer[mediaLoop]
	moveAsked atomic.Bool
	id        string
	events    TransportEvents
	local     LocalParams
	integrity stun.MessageIntegrity
	hs        *handshake.Conn
	rtcpSSRC  uint32

	mu         sync.Mutex
	remoteSet  bool
	remote     RemoteParams
	dtlsConn   *dtls.Conn // nil before the handshake and after the release
	assoc      *datachan.Association
	closed     bool
	hsCancel   context.CancelFunc
	hsDone     chan struct{}
	closedOnce sync.Once
	// released: the DTLS association was let go (releaseDTLS); quiet
	// is the timer that releases it after dtlsQuietPeriod of silence.
	released bool
	quiet    *time.Timer
	// releasing is done once releaseDTLS returned: the library's close,
	// whose close_notify the released handshake.Conn discards, included.
	releasing sync.WaitGroup

	// selected mirrors ls.selected for readers off the loop (SelectedRemote).
	selected atomic.Pointer[netip.AddrPort]

	packetsIn, bytesIn, packetsOut, bytesOut atomic.Uint64
	nacksIn, plisIn, retransmits             atomic.Uint64

	ls transportLoopState
}

// transportLoopState is owned by the media loop.
type transportLoopState struct {
	addrs       []netip.AddrPort
	selected    netip.AddrPort
	remoteUfrag string
	transportCC bool
	rx, tx      *srtp.Context
	// seal encrypts RTP and RTCP to this client with the AES-GCM profiles
	// (tx is nil then; rtcpIndex counts its SRTCP packets); nil with AES-CM,
	// where tx does both.
	seal      *secure.Sealer
	rtcpIndex secure.RTCPIndex
	connected bool
	gone      bool
	// holdsDTLS: the DTLS association is kept only until the client proves
	// it finished its side; the first authenticated SRTP/SRTCP from it
	// releases it (authenticated, loop.go). Never set with DataChannels.
	holdsDTLS bool
	created   int64
	lastSeen  int64
	twccSeq   uint16
	// egEpoch/egTail: the flush (loopState.egEpoch) this transport last
	// queued egress in, and that message's index (loopState.commitTo).
	egEpoch      uint64
	egTail       int32
	twcc         *feedback.TWCC
	bwe          *forward.Estimator  // of what we send to this transport (nil without transport-cc)
	ups          map[uint32]*upTrack // layers by media and RTX SSRC
	sources      map[string]*source  // published tracks by TrackID
	sourcesByMid map[string]*source
	downs        map[uint32]*downTrack // by downstream media and RTX SSRC
	downsByID    map[string]*downTrack
}

func (ls *transportLoopState) unbind(a netip.AddrPort) {
	for i, x := range ls.addrs {
		if x == a {
			ls.addrs = append(ls.addrs[:i], ls.addrs[i+1:]...)
			break
		}
	}
}

func randomUint32() uint32 {
	var b [4]byte
	_, _ = rand.Read(b[:])
	v := binary.BigEndian.Uint32(b[:])
	if v == 0 {
		v = 1
	}
	return v
}

func (p *plane) newTransport(cfg TransportConfig) (*transport, error) {
	if p.closed.Load() {
		return nil, ErrClosed
	}
	ufrag, pwd := icelite.NewCredentials()
	t := &transport{
		p:         p,
		id:        cfg.ID,
		events:    cfg.Events,
		local:     LocalParams{Ufrag: ufrag, Pwd: pwd},
		integrity: newIntegrity(pwd),
		rtcpSSRC:  randomUint32(),
		hsDone:    make(chan struct{}),
		shard:     cfg.Shard,
	}
	t.lp.Store(p.placeShard(cfg.Shard))
	// Every loop's socket is bound to the media port: any may send.
	nio := t.lp.Load().nio
	t.hs = handshake.NewConn(net.UDPAddrFromAddrPort(p.local), func(b []byte, to *net.UDPAddr) error {
		if a := to.AddrPort(); isTCP(a) {
			if p.tcp == nil {
				return ErrClosed
			}
			return p.tcp.Write(tcpRemote(a), b)
		}
		return nio.WriteTo(b, to.AddrPort())
	})
	t.ls = transportLoopState{
		ups:          map[uint32]*upTrack{},
		sources:      map[string]*source{},
		sourcesByMid: map[string]*source{},
		downs:        map[uint32]*downTrack{},
		downsByID:    map[string]*downTrack{},
		twcc:         feedback.NewTWCC(t.rtcpSSRC),
	}
	p.mu.Lock()
	p.transports[t] = struct{}{}
	p.mu.Unlock()
	p.ufrags.Store(ufrag, t)
	if err := t.do(func(l *loopState) {
		t.ls.created = l.p.now()
		t.ls.lastSeen = t.ls.created
		l.byUfrag[ufrag] = t
		l.transports[t] = struct{}{}
	}); err != nil {
		p.mu.Lock()
		delete(p.transports, t)
		p.mu.Unlock()
		p.ufrags.Delete(ufrag)
		p.leaveShard(cfg.Shard)
		return nil, err
	}
	return t, nil
}

func (t *transport) setRemote(r RemoteParams) error {
	if r.Ufrag == "" || r.Pwd == "" || r.Fingerprint == "" {
		return fmt.Errorf("%w: ice-ufrag, ice-pwd and fingerprint are required", ErrBadRemote)
	}
	t.mu.Lock()
	if t.closed {
		t.mu.Unlock()
		return ErrClosed
	}
	if t.remoteSet {
		same := t.remote == r
		t.mu.Unlock()
		if !same {
			return fmt.Errorf("%w: ICE/DTLS parameters changed (restart is not supported)", ErrBadRemote)
		}
		return nil
	}
	t.remoteSet = true
	t.remote = r
	ctx, cancel := context.WithTimeout(context.Background(), handshakeTimeout)
	t.hsCancel = cancel
	t.mu.Unlock()

	if err := t.do(func(l *loopState) {
		t.ls.remoteUfrag = r.Ufrag
		t.ls.transportCC = r.TransportCC
	}); err != nil {
		cancel()
		return err
	}
	t.p.tWG.Add(1)
	go t.runDTLS(ctx, r)
	return nil
}

// runDTLS is the transport's DTLS goroutine: handshake, key install, then it
// keeps reading the association so a close_notify ends the transport —
// with DataChannels for the transport's life, without them until the
// association is released (releaseDTLS), when it returns.
//
// Its goroutines, and those the DTLS library starts from it, carry the
// profiler label dtls=<transport id>: a goroutine dump shows whose they
// are (and tests count them).
func (t *transport) runDTLS(ctx context.Context, r RemoteParams) {
	defer t.p.tWG.Done()
	defer close(t.hsDone)
	pprof.SetGoroutineLabels(pprof.WithLabels(context.Background(), pprof.Labels("dtls", t.id)))
	res, err := handshake.Run(ctx, t.hs, handshake.Params{
		Certificate:       t.p.cert,
		Client:            r.Role == DTLSClient,
		RemoteFingerprint: r.Fingerprint,
		Logger:            t.p.dtlsLog,
	})
	if err != nil {
		t.p.log.Info("dtls handshake failed", "transport", t.id, "err", err)
		go t.close(fmt.Errorf("%w: %v", ErrHandshake, err))
		return
	}
	t.mu.Lock()
	if t.closed {
		t.mu.Unlock()
		_ = res.Conn.Close()
		return
	}
	t.dtlsConn = res.Conn
	cancelHandshake := t.hsCancel
	t.mu.Unlock()
	// The handshake's deadline no longer matters: free its timer now
	// rather than when the transport closes.
	cancelHandshake()

	rx, err := srtp.CreateContext(res.Keys.RemoteMasterKey, res.Keys.RemoteMasterSalt, res.Profile,
		srtp.SRTPReplayProtection(128), srtp.SRTCPReplayProtection(128))
	if err == nil {
		// GCM: the own sealer does RTP and RTCP; AES-CM: pion's context.
		var tx *srtp.Context
		seal, serr := secure.NewSealer(res.Profile, res.Keys.LocalMasterKey, res.Keys.LocalMasterSalt)
		err = serr
		if errors.Is(serr, secure.ErrProfileNotAEAD) {
			seal = nil
			tx, err = srtp.CreateContext(res.Keys.LocalMasterKey, res.Keys.LocalMasterSalt, res.Profile)
		}
		if err == nil {
			err = t.doWait(func(l *loopState) {
				l.installSRTP(t, rx, tx, seal)
				t.ls.holdsDTLS = !r.DataChannels && r.Role == DTLSServer && !t.ls.gone
			})
		}
	}
	if err != nil {
		go t.close(fmt.Errorf("%w: srtp: %v", ErrHandshake, err))
		return
	}
	if r.DataChannels {
		sctx, cancel := context.WithTimeout(context.Background(), handshakeTimeout)
		as, err := datachan.Start(sctx, sctpCounting{res.Conn, &t.p.counters}, datachan.Options{
			DTLSClient: r.Role == DTLSClient, MaxMessageSize: r.MaxMessageSize,
			MaxBufferedBytes: r.DataChannelMaxBufferedBytes, Logger: t.p.dtlsLog,
		})
		cancel()
		if err != nil {
			go t.close(fmt.Errorf("%w: %v", ErrHandshake, err))
			return
		}
		t.mu.Lock()
		closed := t.closed
		t.assoc = as
		t.mu.Unlock()
		if closed {
			_ = as.Close()
			return
		}
		t.p.log.Debug("transport connected", "transport", t.id, "profile", res.Profile.String(), "sctp", true)
		if t.events != nil {
			t.events.OnConnected()
		}
		<-as.Done()
		t.mu.Lock()
		closed = t.closed
		t.mu.Unlock()
		if !closed {
			go t.close(ErrPeerClosed)
		}
		return
	}
	t.p.log.Debug("transport connected", "transport", t.id, "profile", res.Profile.String())
	if t.events != nil {
		t.events.OnConnected()
	}
	if r.Role == DTLSClient {
		// Our handshake ended with the server's last flight: nothing of
		// ours can be missing on its side.
		t.releaseDTLS("handshake")
	} else {
		t.armQuiet(t.hs.Delivered())
	}
	// Without SCTP only close_notify (EOF) or errors arrive here, until the
	// release closes the association (EOF too).
	buf := make([]byte, 1500)
	for {
		if _, err := res.Conn.Read(buf); err != nil {
			t.mu.Lock()
			closed, released := t.closed, t.released
			t.mu.Unlock()
			if !closed && !released {
				go t.close(ErrPeerClosed)
			}
			return
		}
	}
}

// armQuiet starts the timer that releases the DTLS association after
// dtlsQuietPeriod without a DTLS record from the client; seen is the count
// of records delivered so far. A record in the meantime starts the period
// again.
func (t *transport) armQuiet(seen uint64) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closed || t.released || t.dtlsConn == nil || t.assoc != nil {
		return
	}
	t.quiet = time.AfterFunc(dtlsQuietPeriod, func() {
		if n := t.hs.Delivered(); n != seen {
			t.armQuiet(n)
			return
		}
		t.releaseDTLS("quiet")
	})
}

// releaseDTLS lets the DTLS association of a transport without
// DataChannels go, once its keys are installed and the client finished its
// side (why: "handshake", "media" or "quiet"). Nothing is sent: the
// handshake.Conn is released first, so the close_notify the DTLS library
// writes on Close is discarded (a browser would end its PeerConnection on
// it). Closing ends the library's goroutines and runDTLS's read; what
// remains of DTLS is the handshake.Conn, which drops and counts the
// client's late records. Safe from any goroutine; the first call acts, the
// others (and any after close or with DataChannels) do nothing.
func (t *transport) releaseDTLS(why string) {
	t.mu.Lock()
	dc := t.dtlsConn
	if t.closed || t.released || dc == nil || t.assoc != nil {
		t.mu.Unlock()
		return
	}
	t.released = true
	t.dtlsConn = nil
	t.releasing.Add(1)
	defer t.releasing.Done()
	if t.quiet != nil {
		t.quiet.Stop()
		t.quiet = nil
	}
	t.mu.Unlock()
	t.hs.Release(&t.p.counters.DropDTLSReleased)
	_ = dc.Close()
	t.p.log.Debug("dtls released", "transport", t.id, "after", why)
}

func (t *transport) addUpstream(u Upstream) error {
	if u.TrackID == "" {
		return fmt.Errorf("dataplane: upstream without a track id")
	}
	if _, ok := CodecByPayloadType(u.PayloadType); !ok {
		return fmt.Errorf("dataplane: upstream %s: unknown payload type %d", u.TrackID, u.PayloadType)
	}
	return t.doWait(func(l *loopState) { l.addUpstream(t, u) })
}

func (t *transport) removeUpstream(id string) {
	_ = t.do(func(l *loopState) { l.removeUpstream(t, id) })
}

func (t *transport) addDownstream(d Downstream) error {
	if d.SSRC == 0 {
		return fmt.Errorf("dataplane: downstream %s: SSRC 0", d.TrackID)
	}
	var err error
	if werr := t.doWait(func(l *loopState) { err = l.addDownstream(t, d) }); werr != nil {
		return werr
	}
	return err
}

func (t *transport) setDownstreamLayer(id, rid string) error {
	var err error
	if werr := t.doWait(func(l *loopState) { err = l.setLayer(t, id, rid) }); werr != nil {
		return werr
	}
	return err
}

func (t *transport) pauseDownstream(id string, paused bool) error {
	var err error
	if werr := t.doWait(func(l *loopState) { err = l.pauseDownstream(t, id, paused) }); werr != nil {
		return werr
	}
	return err
}

func (t *transport) setUpstreamBitrateCap(id string, bps uint64) error {
	var err error
	if werr := t.doWait(func(l *loopState) { err = l.setCap(t, id, bps) }); werr != nil {
		return werr
	}
	return err
}

func (t *transport) removeDownstream(id string) {
	_ = t.do(func(l *loopState) { l.removeDownstream(t, id) })
}

func (t *transport) requestKeyFrame(id string) {
	_ = t.do(func(l *loopState) {
		if src := t.ls.sources[id]; src != nil {
			for _, up := range src.layers {
				l.requestKeyframe(up, l.p.now(), true)
			}
		}
	})
}

func (t *transport) openDataChannel(cfg DataChannelConfig, h DataChannelHandler) (*DataChannel, error) {
	t.mu.Lock()
	as, closed := t.assoc, t.closed
	t.mu.Unlock()
	if closed {
		return nil, ErrClosed
	}
	if as == nil {
		return nil, ErrNoDataChannels
	}
	return as.Open(cfg, h)
}

func (t *transport) stats() TransportStats {
	return TransportStats{
		PacketsIn: t.packetsIn.Load(), BytesIn: t.bytesIn.Load(),
		PacketsOut: t.packetsOut.Load(), BytesOut: t.bytesOut.Load(),
		NACKsIn: t.nacksIn.Load(), PLIsIn: t.plisIn.Load(), Retransmits: t.retransmits.Load(),
	}
}

// close ends the transport once: loop state dropped, DTLS closed (sending
// close_notify, unless the association was released already), the DTLS
// goroutine awaited, then OnClosed(err).
func (t *transport) close(err error) {
	t.closedOnce.Do(func() {
		t.mu.Lock()
		t.closed = true
		dc := t.dtlsConn
		as := t.assoc
		cancel := t.hsCancel
		started := t.remoteSet
		if t.quiet != nil {
			t.quiet.Stop()
			t.quiet = nil
		}
		t.mu.Unlock()
		_ = t.doWait(func(l *loopState) { l.removeTransport(t) })
		if as != nil {
			// Channels close before the transport (DESIGN §6: the SDK
			// otherwise reports an abnormal close).
			_ = as.Close()
		}
		if dc != nil {
			_ = dc.Close()
		}
		if cancel != nil {
			cancel()
		}
		_ = t.hs.Close()
		if started {
			<-t.hsDone
		}
		t.p.mu.Lock()
		delete(t.p.transports, t)
		t.p.mu.Unlock()
		t.p.ufrags.Delete(t.local.Ufrag)
		t.p.leaveShard(t.shard)
		if t.events != nil {
			t.events.OnClosed(err)
		}
	})
}

// sctpCounting counts the SCTP packets (one DTLS record each way per Read
// and Write) of a transport's association in the plane's counters.
type sctpCounting struct {
	net.Conn
	c *Counters
}

func (s sctpCounting) Read(b []byte) (int, error) {
	n, err := s.Conn.Read(b)
	if n > 0 {
		s.c.SCTPPacketsIn.Add(1)
		s.c.SCTPBytesIn.Add(uint64(n))
	}
	return n, err
}

func (s sctpCounting) Write(b []byte) (int, error) {
	n, err := s.Conn.Write(b)
	if n > 0 {
		s.c.SCTPPacketsOut.Add(1)
		s.c.SCTPBytesOut.Add(uint64(n))
	}
	return n, err
}

// do runs cmd on the transport's loop. If the transport moves to another
// loop before cmd runs (migrate), cmd follows it there, after the move.
func (t *transport) do(cmd func(*loopState)) error {
	var run func(*loopState)
	run = func(l *loopState) {
		if cur := t.lp.Load(); l.lp != nil && cur != l.lp {
			_ = cur.do(run)
			return
		}
		cmd(l)
	}
	return t.lp.Load().do(run)
}

// doWait runs cmd on the transport's loop and waits for it.
func (t *transport) doWait(cmd func(*loopState)) error {
	ch := make(chan struct{})
	if err := t.do(func(l *loopState) { cmd(l); close(ch) }); err != nil {
		return err
	}
	select {
	case <-ch:
		return nil
	case <-t.p.done:
		return ErrClosed
	}
}
