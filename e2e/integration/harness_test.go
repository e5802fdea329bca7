package integration

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"net/netip"
	"os"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pion/interceptor"
	"github.com/pion/webrtc/v4"

	"github.com/hayate-sfu/hayate/bench/soraclient"
	"github.com/hayate-sfu/hayate/ctrl/config"
	"github.com/hayate-sfu/hayate/ctrl/server"
)

const (
	// connectTimeout bounds one client's connect (WS → offer → ICE/DTLS →
	// own connection.created).
	connectTimeout = 15 * time.Second
	// logLines is how many of the server's last log lines a failing test prints.
	logLines = 400
)

// env is one test's world: a server, its log, the clients, one deadline.
type env struct {
	t   *testing.T
	ctx context.Context // ends at the test's soft deadline
	srv *server.Server
	cfg config.Config
	log *logRing

	mu    sync.Mutex
	joins []time.Duration // how long each connect took
}

// newEnv starts a server for t and arranges, in cleanup order: clients
// closed (registered later by connect, so they run first), server shut down,
// server log printed if t failed, goroutine leak check. The whole test must
// end within limit; past limit+10 s the process panics with every stack.
func newEnv(t *testing.T, limit time.Duration) *env {
	t.Helper()
	return newEnvWith(t, limit, nil)
}

// newEnvWith is newEnv with a change to the server's configuration.
func newEnvWith(t *testing.T, limit time.Duration, change func(*config.Config)) *env {
	t.Helper()
	before := runtime.NumGoroutine()
	hard := time.AfterFunc(limit+10*time.Second, func() {
		buf := make([]byte, 4<<20)
		n := runtime.Stack(buf, true)
		fmt.Fprintf(os.Stderr, "HARD TIMEOUT: %s ran longer than %v\n%s\n", t.Name(), limit+10*time.Second, buf[:n])
		panic("integration: hard timeout in " + t.Name())
	})
	ctx, cancel := context.WithTimeout(context.Background(), limit)
	e := &env{t: t, ctx: ctx, log: &logRing{max: logLines}}

	cfg := config.Default()
	lo := netip.MustParseAddr("127.0.0.1")
	cfg.ListenAddress = lo
	cfg.AdminAddress = lo
	cfg.SignalingPort, cfg.APIPort, cfg.MediaPort, cfg.AdminPort = 0, 0, 0, 0
	cfg.PublicIPList = []netip.Addr{lo}
	cfg.PingInterval = time.Second
	cfg.SDKDir = t.TempDir()
	if change != nil {
		change(&cfg)
	}
	e.cfg = cfg
	logger := slog.New(slog.NewTextHandler(e.log, &slog.HandlerOptions{Level: slog.LevelDebug}))

	t.Cleanup(func() {
		hard.Stop()
		cancel()
		if t.Failed() {
			t.Logf("last %d lines of the server log:\n%s", logLines, e.log.String())
		}
		checkGoroutines(t, before)
	})
	srv, err := server.New(cfg, logger)
	if err != nil {
		t.Fatalf("server.New: %v", err)
	}
	e.srv = srv
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := srv.Shutdown(ctx); err != nil {
			t.Errorf("server Shutdown: %v", err)
		}
	})
	return e
}

// checkGoroutines fails t when more goroutines run than before it started,
// after giving them a few seconds to end.
func checkGoroutines(t *testing.T, before int) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for runtime.NumGoroutine() > before && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	if n := runtime.NumGoroutine(); n > before {
		buf := make([]byte, 2<<20)
		t.Errorf("goroutine leak: %d before the test, %d after it:\n%s", before, n, buf[:runtime.Stack(buf, true)])
	}
}

// clientOpt changes a client's Config.
type clientOpt func(*soraclient.Config)

// connect opens a client on channel with role (audio+video VP8) and closes it
// at cleanup.
func (e *env) connect(channel, role string, opts ...clientOpt) *soraclient.Client {
	e.t.Helper()
	cfg := soraclient.Config{
		SignalingURL: e.srv.SignalingURL(),
		ChannelID:    channel,
		Role:         role,
		Audio:        true,
		Video:        true,
		VideoCodec:   "VP8",
		Logger:       slog.New(slog.NewTextHandler(e.log, &slog.HandlerOptions{Level: slog.LevelDebug})).With("side", "client", "role", role),
	}
	for _, o := range opts {
		o(&cfg)
	}
	ctx, cancel := context.WithTimeout(e.ctx, connectTimeout)
	defer cancel()
	start := time.Now()
	c, err := soraclient.Connect(ctx, cfg)
	if err != nil {
		e.t.Fatalf("connect %s to channel %q: %v", role, channel, err)
	}
	e.t.Cleanup(c.Close)
	took := time.Since(start)
	e.mu.Lock()
	e.joins = append(e.joins, took)
	e.mu.Unlock()
	e.t.Logf("%s %s connected in %v", role, c.ConnectionID(), took.Round(time.Millisecond))
	return c
}

// joinSummary is the median and maximum connect time so far.
func (e *env) joinSummary() string {
	e.mu.Lock()
	ds := slices.Clone(e.joins)
	e.mu.Unlock()
	if len(ds) == 0 {
		return "no joins"
	}
	slices.Sort(ds)
	return fmt.Sprintf("%d joins: median %v, max %v", len(ds), ds[len(ds)/2].Round(time.Millisecond), ds[len(ds)-1].Round(time.Millisecond))
}

// settle is how long a test lets the server apply a (re-)answer that the
// client has already sent before it relies on the forwarding it sets up.
const settle = 300 * time.Millisecond

// waitSees waits until c's offer or a later re-offer carries a section
// whose msid stream is peer's connection id (the server has set up the
// forwarding of peer's tracks to c, pending c's re-answer; the client answers
// before it records the event, so after settle the forwarding is on).
func (e *env) waitSees(c *soraclient.Client, peer string) {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(e.ctx, 10*time.Second)
	defer cancel()
	_, err := c.WaitEvent(ctx, func(ev soraclient.Event) bool {
		return (ev.Type == "offer" || ev.Type == "re-offer") && strings.Contains(ev.SDP, "msid:"+peer+" ")
	})
	if err != nil {
		e.t.Fatalf("%s never got an offer/re-offer with msid %s: %v\nevents: %s", c.ConnectionID(), peer, err, describeEvents(c))
	}
}

func describeEvents(c *soraclient.Client) string {
	var b strings.Builder
	for _, ev := range c.Events() {
		fmt.Fprintf(&b, "\n  %s %s %s code=%d reason=%q", ev.At.Format("15:04:05.000"), ev.Type, ev.EventType, ev.Code, ev.Reason)
		if ev.Type == "notify" {
			fmt.Fprintf(&b, " connection_id=%s", ev.ConnectionID)
		}
	}
	return b.String()
}

// dtlsPassive makes a client answer a=setup:passive, pion's own default
// towards an ICE-lite offer (browsers answer active): the server then is the
// DTLS client.
func dtlsPassive(c *soraclient.Config) {
	se := soraclient.LoopbackSettingEngine()
	if err := se.SetAnsweringDTLSRole(webrtc.DTLSRoleServer); err != nil {
		panic(err)
	}
	c.SettingEngine = se
}

// withInterceptors puts a custom interceptor chain on a client.
func withInterceptors(f func(*webrtc.MediaEngine, *interceptor.Registry) error) clientOpt {
	return func(c *soraclient.Config) { c.Interceptors = f }
}

// logRing is an io.Writer keeping the last max lines written to it.
type logRing struct {
	mu    sync.Mutex
	max   int
	lines []string
	part  []byte
}

func (r *logRing) Write(p []byte) (int, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.part = append(r.part, p...)
	for {
		i := bytes.IndexByte(r.part, '\n')
		if i < 0 {
			break
		}
		r.lines = append(r.lines, string(r.part[:i]))
		r.part = r.part[i+1:]
	}
	if len(r.lines) > 2*r.max {
		r.lines = append(r.lines[:0:0], r.lines[len(r.lines)-r.max:]...)
	}
	return len(p), nil
}

func (r *logRing) String() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	l := r.lines
	if len(l) > r.max {
		l = l[len(l)-r.max:]
	}
	return strings.Join(l, "\n")
}
