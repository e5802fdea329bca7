package udpio

import (
	"bufio"
	"bytes"
	"flag"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"
)

var (
	flagSize     = flag.Int("udpio.size", 1200, "datagram size in bytes")
	flagBurst    = flag.Int("udpio.burst", 32, "datagrams per sendmmsg burst")
	flagInterval = flag.Duration("udpio.interval", 400*time.Microsecond, "time between bursts")
)

// senderEnv carries the sender's parameters to the child process.
const senderEnv = "HAYATE_UDPIO_SENDER"

// TestSenderChild is the sender when this binary runs as the child of run;
// otherwise it is skipped.
func TestSenderChild(t *testing.T) {
	spec := os.Getenv(senderEnv)
	if spec == "" {
		t.Skip("only runs as the sender child process")
	}
	f := strings.Split(spec, ",")
	if len(f) != 5 {
		t.Fatalf("bad %s=%q", senderEnv, spec)
	}
	dst, err := netip.ParseAddrPort(f[0])
	if err != nil {
		t.Fatal(err)
	}
	var v [4]int64
	for i := range v {
		if v[i], err = strconv.ParseInt(f[i+1], 10, 64); err != nil {
			t.Fatal(err)
		}
	}
	fmt.Println("ready")
	took, err := Send(dst, Pacing{N: int(v[0]), Size: int(v[1]), Burst: int(v[2]), Interval: time.Duration(v[3])})
	if err != nil {
		t.Fatal(err)
	}
	fmt.Printf("sent %d in %v\n", v[0], took)
}

// variant is one receiver under test.
type variant struct {
	name string
	new  func(want int) (receiver, error)
}

var variants = []variant{
	{"recvmmsg-locked", func(n int) (receiver, error) { return newPlain(n, true) }},
	{"recvmmsg", func(n int) (receiver, error) { return newPlain(n, false) }},
	{"epoll-recvmmsg", func(n int) (receiver, error) { return newEpoll(n) }},
	{"gnet-recvmmsg", func(n int) (receiver, error) { return newGnet(n, true) }},
	{"gnet-recvfrom", func(n int) (receiver, error) { return newGnet(n, false) }},
}

// outcome is one run: what the receiver counted and this process's CPU
// from the sender's start to the last datagram (the sender is another
// process, so this is the receiver's cost, Go runtime included).
type outcome struct {
	Result
	CPU  time.Duration
	Sent time.Duration // the sender's own run time
}

// run starts the sender child against rx and waits, bounded, for every
// datagram (or for the sender to end and the socket to go quiet). When b is
// not nil, its timer runs only from the sender's start.
func run(b *testing.B, rx receiver, p Pacing) (outcome, error) {
	if b != nil {
		b.StopTimer()
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestSenderChild$", "-test.count=1")
	cmd.Env = append(os.Environ(), fmt.Sprintf("%s=%v,%d,%d,%d,%d", senderEnv, rx.Addr(), p.N, p.Size, p.Burst, int64(p.Interval)))
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return outcome{}, err
	}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		return outcome{}, err
	}
	// The child says "ready" just before its first burst; the rest of its
	// output is collected until it exits.
	lines := make(chan string, 16)
	go func() {
		defer close(lines)
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			lines <- sc.Text()
		}
	}()
	startLimit := time.NewTimer(30 * time.Second)
	defer startLimit.Stop()
	var out []string
	for ready := false; !ready; {
		select {
		case line, ok := <-lines:
			if !ok {
				return outcome{}, fmt.Errorf("sender ended before ready: %v\n%s\n%s", cmd.Wait(), strings.Join(out, "\n"), stderr.Bytes())
			}
			out = append(out, line)
			ready = line == "ready"
		case <-startLimit.C:
			_ = cmd.Process.Kill()
			return outcome{}, fmt.Errorf("sender not ready after 30s: %v", cmd.Wait())
		}
	}
	if b != nil {
		b.StartTimer()
	}
	cpu0 := processCPU()

	var o outcome
	limit := time.NewTimer(time.Duration(p.N/max(p.Burst, 1)+1)*p.Interval + 30*time.Second)
	defer limit.Stop()
	var quiet <-chan time.Time // armed when the sender has exited
	pending := lines           // nil once the child's output has ended
wait:
	for {
		select {
		case <-rx.Done():
			break wait
		case line, ok := <-pending:
			if ok {
				out = append(out, line)
				continue
			}
			// The sender is done: give what is in flight a moment.
			pending, quiet = nil, time.After(500*time.Millisecond)
		case <-quiet:
			break wait
		case <-limit.C:
			_ = cmd.Process.Kill()
			break wait
		}
	}
	if b != nil {
		b.StopTimer()
	}
	o.CPU = processCPU() - cpu0
	if pending != nil {
		for line := range pending { // the rest of the child's output, until it exits
			out = append(out, line)
		}
	}
	senderErr := cmd.Wait()
	if err := rx.Close(); err != nil {
		return o, err
	}
	o.Result = rx.Result()
	if o.Err != nil {
		return o, fmt.Errorf("receiver stopped: %w", o.Err)
	}
	if senderErr != nil {
		return o, fmt.Errorf("sender: %v\n%s\n%s", senderErr, strings.Join(out, "\n"), stderr.Bytes())
	}
	for _, line := range out {
		var n int
		var d string
		if _, err := fmt.Sscanf(line, "sent %d in %s", &n, &d); err == nil {
			o.Sent, _ = time.ParseDuration(d)
		}
	}
	return o, nil
}

func pacing(n int) Pacing {
	return Pacing{N: n, Size: *flagSize, Burst: *flagBurst, Interval: *flagInterval}
}

func TestEveryDatagramArrives(t *testing.T) {
	const n = 2000
	before := runtime.NumGoroutine()
	for _, v := range variants {
		t.Run(v.name, func(t *testing.T) {
			rx, err := v.new(n)
			if err != nil {
				t.Fatal(err)
			}
			o, err := run(nil, rx, pacing(n))
			if err != nil {
				t.Fatal(err)
			}
			if o.Packets != n || o.Distinct != n {
				t.Fatalf("received %d datagrams, %d distinct, want %d", o.Packets, o.Distinct, n)
			}
			if o.Wakes == 0 {
				t.Fatalf("no wake counted")
			}
		})
	}
	deadline := time.Now().Add(5 * time.Second)
	for runtime.NumGoroutine() > before && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if after := runtime.NumGoroutine(); after > before {
		t.Errorf("goroutines: %d before, %d after", before, after)
	}
}

// BenchmarkUDPRecv receives b.N paced datagrams (sent by a child process)
// with each receiver and reports this process's CPU per datagram (ns/pkt),
// the receiving thread's alone where it is locked (thread-ns/pkt), loss and
// datagrams per wake and the rate the sender achieved. ns/op is wall time
// and only reflects the pacing.
func BenchmarkUDPRecv(b *testing.B) {
	for _, v := range variants {
		b.Run(v.name, func(b *testing.B) {
			rx, err := v.new(b.N)
			if err != nil {
				b.Fatal(err)
			}
			o, err := run(b, rx, pacing(b.N))
			if err != nil {
				b.Fatal(err)
			}
			if o.Packets == 0 {
				b.Fatal("nothing received")
			}
			pk := float64(o.Packets)
			b.ReportMetric(float64(o.CPU.Nanoseconds())/pk, "ns/pkt")
			if o.ThreadCPU > 0 {
				b.ReportMetric(float64(o.ThreadCPU.Nanoseconds())/pk, "thread-ns/pkt")
			}
			b.ReportMetric(100*float64(uint64(b.N)-o.Distinct)/float64(b.N), "loss-%")
			b.ReportMetric(pk/float64(max(o.Wakes, 1)), "pkts/wake")
			if o.Sent > 0 {
				b.ReportMetric(float64(b.N)/o.Sent.Seconds()/1000, "sent-kpps")
			}
		})
	}
}

// BenchmarkUDPRecvInterleaved runs every receiver on b.N datagrams too, but
// in chunks that rotate through the receivers, so that a change of load on
// a shared machine hits them all alike; it reports each one's process CPU
// per datagram as <receiver>-ns/pkt. Prefer it for comparisons.
func BenchmarkUDPRecvInterleaved(b *testing.B) {
	chunk := max(2000, b.N/4)
	cpu := make([]time.Duration, len(variants))
	got := make([]uint64, len(variants))
	for done, round := 0, 0; done < b.N; round++ {
		n := min(chunk, b.N-done)
		for k := range variants {
			i := (k + round) % len(variants)
			rx, err := variants[i].new(n)
			if err != nil {
				b.Fatal(err)
			}
			o, err := run(b, rx, pacing(n))
			if err != nil {
				b.Fatalf("%s: %v", variants[i].name, err)
			}
			cpu[i] += o.CPU
			got[i] += o.Packets
		}
		done += n
	}
	for i, v := range variants {
		if got[i] > 0 {
			b.ReportMetric(float64(cpu[i].Nanoseconds())/float64(got[i]), v.name+"-ns/pkt")
		}
	}
}
