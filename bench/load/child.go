package load

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

const (
	// readyTimeout bounds the wait for a child server's /healthz.
	readyTimeout = 20 * time.Second
	// stopTimeout is how long a child gets after SIGTERM before SIGKILL.
	stopTimeout = 10 * time.Second
	// stderrLines is how many of a child's last stderr lines an error shows.
	stderrLines = 40
)

// serverKind says how a child server is configured: Hayate through
// HAYATE_* variables, the baseline through flags.
type serverKind int

const (
	kindHayate serverKind = iota
	kindBaseline
)

func (k serverKind) String() string {
	if k == kindBaseline {
		return "baseline"
	}
	return "hayate"
}

// serverSpec is how to start one server under test.
type serverSpec struct {
	kind serverKind
	argv []string // the command; kindBaseline gets its port flags appended
	gso  bool     // kindHayate: HAYATE_MEDIA_GSO=true (only when supported)
	// gsoKnown says the binary has the media_gso key, so HAYATE_MEDIA_GSO
	// is set at all (to true or false).
	gsoKnown bool
	loops    int // kindHayate: HAYATE_MEDIA_LOOPS when > 0
}

// child is a server under test running as a child process, so that its CPU
// time is its own. Its methods are called by the run's goroutine only.
type child struct {
	spec      serverSpec
	cmd       *exec.Cmd
	signaling string // ws://127.0.0.1:port/signaling
	admin     string // http://127.0.0.1:port
	stderr    *tail
	exited    chan struct{} // closed when Wait returned
	waitErr   error
	http      *http.Client
}

// listenUDP binds the candidate media port (a variable for tests).
var listenUDP = func() (net.PacketConn, error) { return net.ListenPacket("udp4", "127.0.0.1:0") }

// freePorts returns n distinct free TCP ports and a media port on
// 127.0.0.1, free for both UDP and TCP (Hayate listens for ICE-TCP on it
// too; after a large run, the clients' connections hold many ephemeral TCP
// ports). Another process may take one before the child binds it; the
// child then fails to start and the error says so.
func freePorts(n int) (tcp []int, udp int, err error) {
	var closers []io.Closer
	defer func() {
		for _, c := range closers {
			_ = c.Close()
		}
	}()
	for range n {
		ln, err := net.Listen("tcp4", "127.0.0.1:0")
		if err != nil {
			return nil, 0, fmt.Errorf("load: finding a free TCP port: %w", err)
		}
		closers = append(closers, ln)
		tcp = append(tcp, ln.Addr().(*net.TCPAddr).Port)
	}
	for range 50 {
		pc, err := listenUDP()
		if err != nil {
			return nil, 0, fmt.Errorf("load: finding a free UDP port: %w", err)
		}
		closers = append(closers, pc)
		port := pc.LocalAddr().(*net.UDPAddr).Port
		ln, err := net.Listen("tcp4", "127.0.0.1:"+strconv.Itoa(port))
		if err != nil {
			continue // taken for TCP: keep the UDP one held and try another
		}
		closers = append(closers, ln)
		return tcp, port, nil
	}
	return nil, 0, fmt.Errorf("load: no port free for both UDP and TCP in 50 tries")
}

// startChild starts the server of spec with its working directory in dir
// and waits until its admin /healthz answers.
func startChild(ctx context.Context, spec serverSpec, dir string) (*child, error) {
	if len(spec.argv) == 0 {
		return nil, fmt.Errorf("%w: no command for the %s server", ErrBadOptions, spec.kind)
	}
	tcp, media, err := freePorts(3)
	if err != nil {
		return nil, err
	}
	sigPort, apiPort, adminPort := tcp[0], tcp[1], tcp[2]
	argv := append([]string(nil), spec.argv...)
	env := withoutHayateEnv(os.Environ())
	switch spec.kind {
	case kindHayate:
		env = append(env,
			"HAYATE_LISTEN_ADDRESS=127.0.0.1",
			"HAYATE_ADMIN_ADDRESS=127.0.0.1",
			"HAYATE_PUBLIC_IP_LIST=127.0.0.1",
			"HAYATE_SIGNALING_PORT="+strconv.Itoa(sigPort),
			"HAYATE_API_PORT="+strconv.Itoa(apiPort),
			"HAYATE_ADMIN_PORT="+strconv.Itoa(adminPort),
			"HAYATE_MEDIA_PORT="+strconv.Itoa(media),
			"HAYATE_LOG_LEVEL=warn",
			"HAYATE_SHUTDOWN_TIMEOUT=3s",
		)
		if spec.gsoKnown {
			env = append(env, "HAYATE_MEDIA_GSO="+strconv.FormatBool(spec.gso))
		}
		if spec.loops > 0 {
			env = append(env, "HAYATE_MEDIA_LOOPS="+strconv.Itoa(spec.loops))
		}
	case kindBaseline:
		argv = append(argv,
			"--listen", "127.0.0.1",
			"--signaling-port", strconv.Itoa(sigPort),
			"--media-port", strconv.Itoa(media),
			"--admin-port", strconv.Itoa(adminPort),
			"--log-level", "warn",
		)
	}
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Env = env
	cmd.Dir = dir
	cmd.Stdout = io.Discard
	c := &child{
		spec:      spec,
		cmd:       cmd,
		signaling: "ws://127.0.0.1:" + strconv.Itoa(sigPort) + "/signaling",
		admin:     "http://127.0.0.1:" + strconv.Itoa(adminPort),
		stderr:    &tail{max: stderrLines},
		exited:    make(chan struct{}),
		http:      &http.Client{Timeout: 30 * time.Second},
	}
	cmd.Stderr = c.stderr
	if err := startNormal(cmd.Start); err != nil {
		return nil, fmt.Errorf("load: starting the %s server %q: %w", spec.kind, argv[0], err)
	}
	go func() {
		c.waitErr = cmd.Wait()
		close(c.exited)
	}()
	if err := c.waitReady(ctx); err != nil {
		_, _ = c.stop()
		return nil, err
	}
	return c, nil
}

// withoutHayateEnv drops HAYATE_* so the caller's settings do not leak into
// the server under test.
func withoutHayateEnv(env []string) []string {
	out := make([]string, 0, len(env))
	for _, kv := range env {
		if !strings.HasPrefix(kv, "HAYATE_") {
			out = append(out, kv)
		}
	}
	return out
}

func (c *child) waitReady(ctx context.Context) error {
	deadline := time.Now().Add(readyTimeout)
	for {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.admin+"/healthz", nil)
		if err != nil {
			return err
		}
		resp, err := c.http.Do(req)
		if err == nil {
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				// The signaling listener opens before the admin one in
				// Hayate, but check it anyway: the clients need it.
				conn, err := net.DialTimeout("tcp4", strings.TrimSuffix(strings.TrimPrefix(c.signaling, "ws://"), "/signaling"), time.Second)
				if err == nil {
					_ = conn.Close()
					return nil
				}
			}
		}
		select {
		case <-c.exited:
			return fmt.Errorf("%w: the %s server exited before it was ready (%v); its stderr:\n%s", ErrServer, c.spec.kind, c.waitErr, c.stderr)
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%w: the %s server did not answer %s/healthz within %v; its stderr:\n%s", ErrServer, c.spec.kind, c.admin, readyTimeout, c.stderr)
		}
	}
}

// alive returns an error when the child has exited.
func (c *child) alive() error {
	select {
	case <-c.exited:
		return fmt.Errorf("%w: the %s server exited (%v); its stderr:\n%s", ErrServer, c.spec.kind, c.waitErr, c.stderr)
	default:
		return nil
	}
}

// cpu is the child's CPU time so far (user + system, every thread, dead
// ones included), read from its process CPU clock with ns resolution. When
// that clock cannot be read it falls back to /proc/<pid>/stat (10 ms ticks).
func (c *child) cpu() (time.Duration, error) {
	pid := c.cmd.Process.Pid
	// clock_getcpuclockid(3): the process-wide CPU clock of pid is
	// (~pid << 3) | CPUCLOCK_SCHED (2), see linux/posix-timers.h.
	var ts unix.Timespec
	if err := unix.ClockGettime(int32((^pid)<<3|2), &ts); err == nil {
		return time.Duration(ts.Nano()), nil
	}
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0, fmt.Errorf("load: reading the %s server's CPU time: %w", c.spec.kind, err)
	}
	return parseStatCPU(b)
}

// parseStatCPU reads utime + stime (fields 14 and 15, clock ticks of 10 ms)
// from /proc/<pid>/stat; the command name in parentheses may hold spaces.
func parseStatCPU(b []byte) (time.Duration, error) {
	user, sys, err := parseStatTicks(b)
	return user + sys, err
}

// parseStatTicks reads utime and stime apart.
func parseStatTicks(b []byte) (user, sys time.Duration, err error) {
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0, 0, fmt.Errorf("%w: /proc stat %.60q has no command name", ErrServer, b)
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 13 {
		return 0, 0, fmt.Errorf("%w: /proc stat %.60q has %d fields after the name, want 13 or more", ErrServer, b, len(f))
	}
	var ticks [2]int64
	for j, s := range f[11:13] { // fields 14 and 15 of the line
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			return 0, 0, fmt.Errorf("%w: /proc stat field %q: %w", ErrServer, s, err)
		}
		ticks[j] = n
	}
	return time.Duration(ticks[0]) * 10 * time.Millisecond, time.Duration(ticks[1]) * 10 * time.Millisecond, nil
}

// userSys reads the child's user and kernel CPU time apart (10 ms ticks).
func (c *child) userSys() (user, sys time.Duration, err error) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(c.cmd.Process.Pid) + "/stat")
	if err != nil {
		return 0, 0, err
	}
	return parseStatTicks(b)
}

// mallocs reads the child's heap allocation count: from Hayate's
// /debug/allocs?exact=1 (one line "mallocs N"; the request costs a small
// constant that the window's two-read subtraction removes), else from
// go_memstats_mallocs_total on /metrics, whose scrape costs thousands of
// allocations, a different number each time.
func (c *child) mallocs(ctx context.Context) (float64, error) {
	if body, err := c.get(ctx, "/debug/allocs?exact=1"); err == nil {
		if rest, ok := strings.CutPrefix(strings.TrimSpace(string(body)), "mallocs "); ok {
			if v, err := strconv.ParseFloat(rest, 64); err == nil {
				return v, nil
			}
		}
	}
	body, err := c.get(ctx, "/metrics")
	if err != nil {
		return 0, err
	}
	return metricValue(body, "go_memstats_mallocs_total")
}

// memory forces two garbage collections in the child
// (/debug/pprof/heap?gc=1, in the text form, which is not gzipped) and
// returns, in bytes, the Go heap spans and stacks in use afterwards (inUse)
// and the live heap objects plus stacks (live): the difference is free room
// inside spans still holding live objects.
//
// The second collection empties the sync.Pool caches, which the first only
// moves aside: buffers a pool keeps between uses (gzip writers of earlier
// /metrics scrapes, about 800 kB each; packet buffers of released DTLS
// associations) are not what one more subscriber costs, and a reading
// that caught a few of them swung by 15 KiB per subscriber at 1→200.
func (c *child) memory(ctx context.Context) (inUse, live float64, err error) {
	for range 2 {
		if _, err := c.get(ctx, "/debug/pprof/heap?gc=1&debug=1"); err != nil {
			return 0, 0, err
		}
	}
	body, err := c.get(ctx, "/metrics")
	if err != nil {
		return 0, 0, err
	}
	var v [3]float64
	for i, name := range []string{"go_memstats_heap_inuse_bytes", "go_memstats_heap_alloc_bytes", "go_memstats_stack_inuse_bytes"} {
		if v[i], err = metricValue(body, name); err != nil {
			return 0, 0, err
		}
	}
	return v[0] + v[2], v[1] + v[2], nil
}

// forwardDelay reads the cumulative buckets of the server's
// hayate_media_forward_delay_seconds histogram (upper bound in seconds →
// count, +Inf as math.Inf(1)); nil for a server without it (the baseline).
func (c *child) forwardDelay(ctx context.Context) (map[float64]float64, error) {
	body, err := c.get(ctx, "/metrics")
	if err != nil {
		return nil, err
	}
	const prefix = `hayate_media_forward_delay_seconds_bucket{le="`
	var out map[float64]float64
	sc := bufio.NewScanner(bytes.NewReader(body))
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		rest, ok := strings.CutPrefix(sc.Text(), prefix)
		if !ok {
			continue
		}
		le, val, ok := strings.Cut(rest, `"} `)
		if !ok {
			continue
		}
		bound, err1 := strconv.ParseFloat(le, 64) // "+Inf" parses as +Inf
		n, err2 := strconv.ParseFloat(strings.TrimSpace(val), 64)
		if err1 != nil || err2 != nil {
			return nil, fmt.Errorf("%w: histogram line %q", ErrServer, sc.Text())
		}
		if out == nil {
			out = map[float64]float64{}
		}
		out[bound] = n
	}
	return out, nil
}

// quantileBound returns the upper bound of the bucket holding quantile q of
// the observations between two cumulative snapshots, or -1 without any.
func quantileBound(before, after map[float64]float64, q float64) float64 {
	bounds := make([]float64, 0, len(after))
	for b := range after {
		bounds = append(bounds, b)
	}
	slices.Sort(bounds)
	if len(bounds) == 0 {
		return -1
	}
	total := after[bounds[len(bounds)-1]] - before[bounds[len(bounds)-1]]
	if total <= 0 {
		return -1
	}
	for _, b := range bounds {
		if after[b]-before[b] >= q*total {
			return b
		}
	}
	return bounds[len(bounds)-1]
}

// metricValue finds an unlabelled sample in Prometheus text exposition.
func metricValue(body []byte, name string) (float64, error) {
	sc := bufio.NewScanner(bytes.NewReader(body))
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if rest, ok := strings.CutPrefix(line, name+" "); ok {
			v, err := strconv.ParseFloat(strings.TrimSpace(rest), 64)
			if err != nil {
				return 0, fmt.Errorf("%w: metric line %q: %w", ErrServer, line, err)
			}
			return v, nil
		}
	}
	return 0, fmt.Errorf("%w: no %s in /metrics", ErrServer, name)
}

// get fetches an admin path.
func (c *child) get(ctx context.Context, path string) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.admin+path, nil)
	if err != nil {
		return nil, err
	}
	// Uncompressed: for a gzipped response the server allocates a
	// compressor of about 800 kB (and pools it), which a memory reading
	// taken meanwhile would count.
	req.Header.Set("Accept-Encoding", "identity")
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, fmt.Errorf("load: GET %s from the %s server: %w", path, c.spec.kind, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 256<<20))
	if err != nil {
		return nil, fmt.Errorf("load: GET %s from the %s server: %w", path, c.spec.kind, err)
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("%w: GET %s from the %s server: %s", ErrServer, path, c.spec.kind, resp.Status)
	}
	return b, nil
}

// stop sends SIGTERM, waits up to stopTimeout, then SIGKILL. It returns the
// child's whole CPU time from wait4's rusage (what getrusage(RUSAGE_CHILDREN)
// adds for it), and an error when it had to be killed.
func (c *child) stop() (total time.Duration, err error) {
	select {
	case <-c.exited:
	default:
		_ = c.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-c.exited:
		case <-time.After(stopTimeout):
			_ = c.cmd.Process.Kill()
			<-c.exited
			err = fmt.Errorf("%w: the %s server did not stop within %v of SIGTERM; killed", ErrServer, c.spec.kind, stopTimeout)
		}
	}
	if st := c.cmd.ProcessState; st != nil {
		total = st.UserTime() + st.SystemTime()
	}
	return total, err
}

// tail is an io.Writer keeping the last max lines written to it.
type tail struct {
	mu    sync.Mutex
	max   int
	lines []string
	part  []byte
}

func (t *tail) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.part = append(t.part, p...)
	for {
		i := bytes.IndexByte(t.part, '\n')
		if i < 0 {
			break
		}
		t.lines = append(t.lines, string(t.part[:i]))
		t.part = t.part[i+1:]
	}
	if len(t.lines) > 2*t.max {
		t.lines = append([]string(nil), t.lines[len(t.lines)-t.max:]...)
	}
	return len(p), nil
}

func (t *tail) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	l := t.lines
	if len(l) > t.max {
		l = l[len(l)-t.max:]
	}
	s := strings.Join(l, "\n")
	if len(t.part) > 0 {
		s += "\n" + string(t.part)
	}
	if s == "" {
		return "(empty)"
	}
	return s
}

// SupportsGSO reports whether the Hayate binary at bin has the media_gso
// configuration key (its --help lists every key).
func SupportsGSO(ctx context.Context, bin string) (bool, error) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, bin, "--help").Output()
	if err != nil {
		var ee *exec.ExitError
		if !errors.As(err, &ee) {
			return false, fmt.Errorf("load: running %s --help: %w", bin, err)
		}
	}
	for _, line := range strings.Split(string(out), "\n") {
		f := strings.Fields(line)
		if len(f) > 0 && f[0] == "media_gso" {
			return true, nil
		}
	}
	return false, nil
}
