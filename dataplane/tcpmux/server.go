package tcpmux

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"sync"
	"time"

	"github.com/panjf2000/gnet/v2"
	"golang.org/x/sys/unix"
)

// Defaults for the zero values of Config.
const (
	DefaultMaxFrame         = 2048
	DefaultMaxConns         = 4096
	DefaultHandshakeTimeout = 10 * time.Second
	DefaultIdleTimeout      = 30 * time.Second
	DefaultMaxOutbound      = 64 << 10
)

// bootTimeout bounds how long New waits for the engine to come up.
const bootTimeout = 5 * time.Second

var (
	// ErrConfig is returned by New for an invalid Config.
	ErrConfig = errors.New("tcpmux: invalid config")
	// ErrClosed is returned by calls on a closed Server.
	ErrClosed = errors.New("tcpmux: server closed")
	// ErrNoConn is returned for a remote that has no open connection.
	ErrNoConn = errors.New("tcpmux: no connection for remote")
	// ErrOutboundFull is returned when a packet is dropped because the
	// connection already holds MaxOutbound bytes: the client does not read.
	ErrOutboundFull = errors.New("tcpmux: outbound buffer full")
)

// Config configures a Server. Zero values of the optional fields mean the
// defaults above.
type Config struct {
	// Addr is the TCP address to listen on. Port 0 picks a free port; see
	// Server.Addr. An IPv4 (or unspecified IPv4) address listens on IPv4 only.
	Addr netip.AddrPort

	// OnPacket is called, on a gnet event loop, with every complete inbound
	// frame's payload. pkt is valid only during the call: copy it to keep it.
	// It must not block. Required.
	OnPacket func(remote netip.AddrPort, pkt []byte)

	// OnClose is called, on a gnet event loop, once for every accepted
	// connection when it ends, whatever the reason (peer close, error,
	// timeout, CloseConn, Close). Optional. It must not call Close.
	OnClose func(remote netip.AddrPort)

	// MaxFrame is the largest payload accepted in either direction, at most
	// MaxFrameLimit. Inbound, a longer (or zero) length closes the connection.
	MaxFrame int

	// MaxConns bounds the number of open connections; more are closed at
	// accept and counted as Rejected.
	MaxConns int

	// HandshakeTimeout closes a connection that has not delivered its first
	// frame (a STUN Binding request) this long after accept.
	HandshakeTimeout time.Duration

	// IdleTimeout closes a connection that has delivered no frame for this
	// long. Negative disables it. ICE consent checks arrive every few seconds
	// on a live connection (RFC 7675).
	IdleTimeout time.Duration

	// MaxOutbound bounds, in bytes, each of the two stages a connection's
	// outbound frames pass through when the kernel does not take them at
	// once: those queued by Write and not yet flushed by the loop, and those
	// flushed but still buffered by gnet (plus the tail of one partly sent
	// frame). Packets that do not fit are dropped whole and counted.
	MaxOutbound int

	// Loops is the number of gnet event loops serving connections (one more
	// goroutine accepts them). 0 means 1.
	Loops int

	// Logf receives gnet's warnings and errors. Nil discards them.
	Logf func(format string, args ...any)
}

// Server is an ICE-TCP passive listener. See the package doc for the model
// and the concurrency contract.
type Server struct {
	cfg   Config
	addr  netip.AddrPort
	eng   gnet.Engine
	start time.Time
	tick  time.Duration

	mu     sync.RWMutex // guards conns and closed
	conns  map[netip.AddrPort]*conn
	closed bool

	ready     chan struct{} // closed at the first tick: the engine runs
	readyOnce sync.Once
	runDone   chan struct{} // closed when gnet.Run returns
	runErr    error
	closeOnce sync.Once
	closeErr  error

	expired []*conn // ticker goroutine only

	c counters
}

// New validates cfg, starts listening and returns once the server accepts
// connections.
func New(cfg Config) (*Server, error) {
	if err := normalize(&cfg); err != nil {
		return nil, err
	}
	network := "tcp4"
	if a := cfg.Addr.Addr(); a.Is6() && !a.Is4In6() {
		network = "tcp6"
	}
	hs, idle := cfg.HandshakeTimeout, cfg.IdleTimeout
	if idle > 0 {
		hs = min(hs, idle)
	}
	s := &Server{
		cfg:     cfg,
		start:   time.Now(),
		tick:    min(max(hs/4, 10*time.Millisecond), time.Second),
		conns:   make(map[netip.AddrPort]*conn),
		ready:   make(chan struct{}),
		runDone: make(chan struct{}),
	}
	h := &handler{s: s}
	ap := netip.AddrPortFrom(cfg.Addr.Addr().Unmap(), cfg.Addr.Port())
	go func() {
		defer close(s.runDone)
		s.runErr = gnet.Run(h, network+"://"+ap.String(),
			gnet.WithNumEventLoop(cfg.Loops),
			gnet.WithTicker(true),
			gnet.WithReuseAddr(true),
			gnet.WithTCPNoDelay(gnet.TCPNoDelay),
			gnet.WithLogger(logger{cfg.Logf}),
		)
		s.mu.RLock()
		closed := s.closed
		s.mu.RUnlock()
		if !closed {
			// gnet stops the whole engine on some errors (an accept
			// failure such as EMFILE); every connection got OnClose.
			s.logf("tcpmux: engine on %v stopped: %v", cfg.Addr, s.runErr)
		}
	}()
	t := time.NewTimer(bootTimeout)
	defer t.Stop()
	select {
	case <-s.ready:
		return s, nil
	case <-s.runDone:
		if s.runErr == nil {
			s.runErr = errors.New("engine stopped at start")
		}
		return nil, fmt.Errorf("tcpmux: listen %v: %w", cfg.Addr, s.runErr)
	case <-t.C:
		_ = s.Close()
		return nil, fmt.Errorf("tcpmux: listen %v: engine not up after %v", cfg.Addr, bootTimeout)
	}
}

func normalize(cfg *Config) error {
	switch {
	case cfg.OnPacket == nil:
		return fmt.Errorf("%w: OnPacket is nil", ErrConfig)
	case !cfg.Addr.Addr().IsValid():
		return fmt.Errorf("%w: Addr %v", ErrConfig, cfg.Addr)
	case cfg.MaxFrame < 0 || cfg.MaxFrame > MaxFrameLimit:
		return fmt.Errorf("%w: MaxFrame %d not in [0, %d]", ErrConfig, cfg.MaxFrame, MaxFrameLimit)
	case cfg.MaxConns < 0:
		return fmt.Errorf("%w: MaxConns %d", ErrConfig, cfg.MaxConns)
	case cfg.HandshakeTimeout < 0:
		return fmt.Errorf("%w: HandshakeTimeout %v", ErrConfig, cfg.HandshakeTimeout)
	case cfg.MaxOutbound < 0:
		return fmt.Errorf("%w: MaxOutbound %d", ErrConfig, cfg.MaxOutbound)
	case cfg.Loops < 0:
		return fmt.Errorf("%w: Loops %d", ErrConfig, cfg.Loops)
	}
	if cfg.MaxFrame == 0 {
		cfg.MaxFrame = DefaultMaxFrame
	}
	if cfg.MaxConns == 0 {
		cfg.MaxConns = DefaultMaxConns
	}
	if cfg.HandshakeTimeout == 0 {
		cfg.HandshakeTimeout = DefaultHandshakeTimeout
	}
	if cfg.IdleTimeout == 0 {
		cfg.IdleTimeout = DefaultIdleTimeout
	}
	if cfg.MaxOutbound == 0 {
		cfg.MaxOutbound = DefaultMaxOutbound
	}
	if cfg.MaxOutbound < HeaderLen+cfg.MaxFrame {
		return fmt.Errorf("%w: MaxOutbound %d below one frame (%d)", ErrConfig, cfg.MaxOutbound, HeaderLen+cfg.MaxFrame)
	}
	if cfg.Loops == 0 {
		cfg.Loops = 1
	}
	return nil
}

// Addr returns the address the server listens on, with the port chosen by
// the kernel when Config.Addr had port 0. Safe from any goroutine.
func (s *Server) Addr() netip.AddrPort { return s.addr }

// Counters returns a snapshot of the counters. Safe from any goroutine.
func (s *Server) Counters() Counters { return s.c.snapshot() }

// Write frames pkt and sends it on remote's connection. It is safe from any
// goroutine and never blocks on the network: when nothing is pending for
// the connection it does one non-blocking write(2) itself (no allocation,
// no hand-off); otherwise, or for what the kernel did not take, the frame
// is copied into the connection's queue and its event loop writes it
// shortly after. Errors that happen then (the connection closed, gnet's
// buffer full) are counted, not returned. Write returns ErrFrameSize,
// ErrNoConn, ErrOutboundFull (the packet was dropped) or ErrClosed; pkt is
// not retained.
func (s *Server) Write(remote netip.AddrPort, pkt []byte) error {
	if len(pkt) == 0 || len(pkt) > s.cfg.MaxFrame {
		return fmt.Errorf("%w: %d bytes (max %d)", ErrFrameSize, len(pkt), s.cfg.MaxFrame)
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	tc, err := s.lookupLocked(remote)
	if err != nil {
		return err
	}
	_, flush, err := tc.enqueue(pkt, nil)
	s.scheduleLocked(tc, flush)
	return err
}

// WriteBatch is Write for several packets to one remote, with one lookup and
// one lock. It returns how many packets were queued (a prefix of pkts) and
// the error that stopped it, if any.
func (s *Server) WriteBatch(remote netip.AddrPort, pkts [][]byte) (int, error) {
	for _, p := range pkts {
		if len(p) == 0 || len(p) > s.cfg.MaxFrame {
			return 0, fmt.Errorf("%w: %d bytes (max %d)", ErrFrameSize, len(p), s.cfg.MaxFrame)
		}
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	tc, err := s.lookupLocked(remote)
	if err != nil {
		return 0, err
	}
	n, flush, err := tc.enqueue(nil, pkts)
	s.scheduleLocked(tc, flush)
	return n, err
}

func (s *Server) lookupLocked(remote netip.AddrPort) (*conn, error) {
	if s.closed {
		return nil, ErrClosed
	}
	tc := s.conns[remote]
	if tc == nil {
		s.c.dropNoConn.Add(1)
		return nil, fmt.Errorf("%w: %v", ErrNoConn, remote)
	}
	return tc, nil
}

// scheduleLocked asks tc's loop to flush when enqueue said so. s.mu is
// read-held, so the engine (and its poller) is still running.
func (s *Server) scheduleLocked(tc *conn, flush bool) {
	if flush {
		_ = tc.el.Execute(context.Background(), tc)
	}
}

// CloseConn closes remote's connection; OnClose follows on its loop. Safe
// from any goroutine. The plane calls it when the first Binding request
// fails authentication.
func (s *Server) CloseConn(remote netip.AddrPort) error {
	s.mu.RLock()
	defer s.mu.RUnlock()
	tc, err := s.lookupLocked(remote)
	if err != nil {
		return err
	}
	return tc.gc.Close()
}

// Close stops accepting, closes every connection (OnClose is called for
// each, on the loops, before Close returns) and waits for the engine's
// goroutines to end. It is safe to call more than once and from any
// goroutine except an OnPacket or OnClose callback.
func (s *Server) Close() error {
	s.closeOnce.Do(func() {
		s.mu.Lock()
		s.closed = true
		s.mu.Unlock()
		t := time.NewTimer(10 * time.Second)
		defer t.Stop()
		select {
		case <-s.ready:
		case <-s.runDone:
			return
		case <-t.C:
			s.closeErr = errors.New("tcpmux: engine neither up nor stopped within 10s")
			return
		}
		// An already cancelled context makes Stop start the shutdown and
		// return at once instead of polling every 500 ms; runDone says
		// when it is over.
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		_ = s.eng.Stop(ctx)
		select {
		case <-s.runDone:
			s.closeErr = s.runErr
		case <-t.C:
			s.closeErr = errors.New("tcpmux: engine did not stop within 10s")
		}
	})
	return s.closeErr
}

func (s *Server) now() int64 { return int64(time.Since(s.start)) }

// handler adapts gnet's callbacks; it keeps them off Server's method set.
type handler struct {
	gnet.BuiltinEventEngine
	s *Server
}

func (h *handler) OnBoot(eng gnet.Engine) gnet.Action {
	s := h.s
	s.eng = eng
	fd, err := eng.Dup()
	if err != nil {
		s.logf("tcpmux: dup listener: %v", err)
		return gnet.Shutdown
	}
	defer unix.Close(fd)
	sa, err := unix.Getsockname(fd)
	if err != nil {
		s.logf("tcpmux: getsockname: %v", err)
		return gnet.Shutdown
	}
	switch sa := sa.(type) {
	case *unix.SockaddrInet4:
		s.addr = netip.AddrPortFrom(netip.AddrFrom4(sa.Addr), uint16(sa.Port))
	case *unix.SockaddrInet6:
		s.addr = netip.AddrPortFrom(netip.AddrFrom16(sa.Addr).Unmap(), uint16(sa.Port))
	}
	return gnet.None
}

func (h *handler) OnOpen(gc gnet.Conn) ([]byte, gnet.Action) {
	s := h.s
	ta, _ := gc.RemoteAddr().(*net.TCPAddr)
	if ta == nil {
		s.c.rejected.Add(1)
		return nil, gnet.Close
	}
	ap := ta.AddrPort()
	remote := netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port())
	tc := &conn{s: s, gc: gc, el: gc.EventLoop(), fd: gc.Fd(), remote: remote, opened: s.now()}
	tc.lastRecv.Store(tc.opened)
	tc.de.Reset(s.cfg.MaxFrame)
	s.mu.Lock()
	if s.closed || len(s.conns) >= s.cfg.MaxConns || s.conns[remote] != nil {
		s.mu.Unlock()
		s.c.rejected.Add(1)
		return nil, gnet.Close
	}
	s.conns[remote] = tc
	s.mu.Unlock()
	gc.SetContext(tc)
	s.c.accepted.Add(1)
	return nil, gnet.None
}

func (h *handler) OnClose(gc gnet.Conn, _ error) gnet.Action {
	tc, _ := gc.Context().(*conn)
	if tc == nil {
		return gnet.None // rejected at accept
	}
	s := h.s
	s.mu.Lock()
	if s.conns[tc.remote] == tc {
		delete(s.conns, tc.remote)
	}
	s.mu.Unlock()
	tc.kill()
	s.c.closed.Add(1)
	if s.cfg.OnClose != nil {
		s.cfg.OnClose(tc.remote)
	}
	return gnet.None
}

func (h *handler) OnTraffic(gc gnet.Conn) gnet.Action {
	s := h.s
	tc, _ := gc.Context().(*conn)
	if tc == nil {
		return gnet.Close
	}
	// Take everything: gnet's own inbound buffer stays empty and the
	// Deframer keeps the one partial frame.
	data, _ := gc.Next(-1)
	var frames, bytes uint64
	defer func() {
		if frames > 0 {
			s.c.framesIn.Add(frames)
			s.c.bytesIn.Add(bytes)
			tc.lastRecv.Store(s.now())
		}
	}()
	for len(data) > 0 {
		pkt, rest, err := tc.de.Next(data)
		if err != nil {
			s.c.badLength.Add(1)
			return gnet.Close
		}
		data = rest
		if pkt == nil {
			break
		}
		if !tc.active.Load() {
			if !isBindingRequest(pkt) {
				s.c.notSTUN.Add(1)
				return gnet.Close
			}
			tc.active.Store(true)
		}
		frames++
		bytes += uint64(len(pkt))
		s.cfg.OnPacket(tc.remote, pkt)
	}
	return gnet.None
}

// OnTick runs on gnet's ticker goroutine: it closes connections whose first
// frame or whose traffic is overdue.
func (h *handler) OnTick() (time.Duration, gnet.Action) {
	s := h.s
	s.readyOnce.Do(func() { close(s.ready) })
	now := s.now()
	hs, idle := int64(s.cfg.HandshakeTimeout), int64(s.cfg.IdleTimeout)
	s.expired = s.expired[:0]
	s.mu.RLock()
	for _, tc := range s.conns {
		if tc.kicked.Load() {
			continue
		}
		if !tc.active.Load() {
			if now-tc.opened > hs {
				s.c.handshakeTimeout.Add(1)
				s.expired = append(s.expired, tc)
			}
		} else if idle > 0 && now-tc.lastRecv.Load() > idle {
			s.c.idle.Add(1)
			s.expired = append(s.expired, tc)
		}
	}
	for _, tc := range s.expired {
		tc.kicked.Store(true)
		_ = tc.gc.Close()
	}
	s.mu.RUnlock()
	clear(s.expired)
	return s.tick, gnet.None
}

func (s *Server) logf(format string, args ...any) {
	if s.cfg.Logf != nil {
		s.cfg.Logf(format, args...)
	}
}

// logger routes gnet's warnings and errors to Config.Logf.
type logger struct{ f func(string, ...any) }

func (logger) Debugf(string, ...any) {}
func (logger) Infof(string, ...any)  {}
func (l logger) Warnf(format string, args ...any) {
	if l.f != nil {
		l.f("gnet: "+format, args...)
	}
}
func (l logger) Errorf(format string, args ...any) {
	if l.f != nil {
		l.f("gnet: "+format, args...)
	}
}
func (l logger) Fatalf(format string, args ...any) { l.Errorf(format, args...) }
