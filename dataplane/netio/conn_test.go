//go:build linux

package netio

import (
	"bytes"
	"net"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

func pair(t *testing.T, gso bool) (*Conn, *Conn, *net.UDPConn, *net.UDPConn) {
	t.Helper()
	a, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	b, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { a.Close(); b.Close() })
	ca, err := New(a, 64, gso)
	if err != nil {
		t.Fatal(err)
	}
	cb, err := New(b, 64, false)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ca.Close(); cb.Close() })
	return ca, cb, a, b
}

func testRoundTrip(t *testing.T, gso bool) {
	ca, cb, a, b := pair(t, gso)
	to := b.LocalAddr().(*net.UDPAddr).AddrPort()
	out := NewMessages(40)
	// 30 equal-size packets (GSO-able), then 10 of varying sizes.
	for i := range out {
		size := 1200
		if i == 29 {
			size = 700 // a shorter last segment closes the run
		}
		if i >= 30 {
			size = 100 + i
		}
		for j := 0; j < size; j++ {
			out[i].Buf = out[i].Buf[:size]
			out[i].Buf[j] = byte(i)
		}
		out[i].N = size
		out[i].Addr = to
	}
	n, err := ca.WriteBatch(out)
	if err != nil || n != len(out) {
		t.Fatalf("WriteBatch = %d, %v", n, err)
	}
	t.Logf("gso=%v: %d sendmmsg calls, %d GSO super-packets for %d datagrams", ca.GSO(), ca.Stats.SendCalls, ca.Stats.GSOSends, len(out))
	if gso && ca.GSO() && ca.Stats.GSOSends == 0 {
		t.Fatal("GSO enabled but no super-packet sent")
	}
	in := NewMessages(64)
	got := 0
	cb.ArmTimer(3 * time.Second)
	for got < len(out) {
		k, err := cb.ReadBatch(in)
		if err != nil {
			t.Fatalf("after %d datagrams: %v", got, err)
		}
		for i := 0; i < k; i++ {
			want := out[got+i]
			if in[i].N != want.N || !bytes.Equal(in[i].Buf[:in[i].N], want.Buf[:want.N]) {
				t.Fatalf("datagram %d: got %d bytes starting %x, want %d of %x", got+i, in[i].N, in[i].Buf[:1], want.N, want.Buf[:1])
			}
			if in[i].Addr != a.LocalAddr().(*net.UDPAddr).AddrPort() {
				t.Fatalf("source %v", in[i].Addr)
			}
		}
		got += k
	}
	if cb.Stats.RecvCalls >= uint64(len(out)) {
		t.Logf("recvmmsg made %d calls for %d datagrams", cb.Stats.RecvCalls, len(out))
	}
}

func TestRoundTripPlain(t *testing.T) { testRoundTrip(t, false) }
func TestRoundTripGSO(t *testing.T)   { testRoundTrip(t, true) }

func TestArmTimer(t *testing.T) {
	_, cb, _, _ := pair(t, false)
	start := time.Now()
	cb.ArmTimer(20 * time.Millisecond)
	if n, err := cb.ReadBatch(NewMessages(4)); n != 0 || err != ErrWoken {
		t.Fatalf("ReadBatch with only a timer armed = %d, %v; want 0, ErrWoken", n, err)
	}
	if d := time.Since(start); d < 20*time.Millisecond {
		t.Fatalf("ReadBatch returned after %v, before its 20 ms timer", d)
	}
}

// Re-arming replaces the timer, an expiry not yet seen by ReadBatch included.
func TestArmTimerReplacesExpired(t *testing.T) {
	ca, cb, _, b := pair(t, false)
	cb.ArmTimer(time.Millisecond)
	time.Sleep(10 * time.Millisecond) // expired, not read
	cb.ArmTimer(time.Hour)
	go func() {
		time.Sleep(20 * time.Millisecond)
		out := NewMessages(1)
		out[0].N, out[0].Addr = 10, b.LocalAddr().(*net.UDPAddr).AddrPort()
		_, _ = ca.WriteBatch(out)
	}()
	if n, err := cb.ReadBatch(NewMessages(4)); n != 1 || err != nil {
		t.Fatalf("ReadBatch after re-arming an expired timer = %d, %v; want the datagram sent later", n, err)
	}
}

// Wake from another goroutine ends a waiting ReadBatch; wakes before a
// ReadBatch merge into one, and datagrams already waiting come first.
func TestWake(t *testing.T) {
	ca, cb, _, b := pair(t, false)
	in := NewMessages(4)
	go func() {
		time.Sleep(10 * time.Millisecond)
		cb.Wake()
	}()
	if n, err := cb.ReadBatch(in); n != 0 || err != ErrWoken {
		t.Fatalf("ReadBatch woken by another goroutine = %d, %v; want 0, ErrWoken", n, err)
	}

	cb.Wake()
	cb.Wake()
	cb.Wake()
	out := NewMessages(1)
	out[0].N, out[0].Addr = 10, b.LocalAddr().(*net.UDPAddr).AddrPort()
	if _, err := ca.WriteBatch(out); err != nil {
		t.Fatal(err)
	}
	if n, err := cb.ReadBatch(in); n != 1 || err != nil {
		t.Fatalf("ReadBatch with a datagram and wakes waiting = %d, %v; want the datagram first", n, err)
	}
	if n, err := cb.ReadBatch(in); n != 0 || err != ErrWoken {
		t.Fatalf("second ReadBatch = %d, %v; want 0, ErrWoken (three wakes, one return)", n, err)
	}
	cb.ArmTimer(30 * time.Millisecond)
	start := time.Now()
	if n, err := cb.ReadBatch(in); n != 0 || err != ErrWoken || time.Since(start) < 30*time.Millisecond {
		t.Fatalf("third ReadBatch = %d, %v after %v; want the 30 ms timer, the wakes already spent", n, err, time.Since(start))
	}
}

// WriteTo sends from any goroutine through the same socket.
func TestWriteTo(t *testing.T) {
	ca, _, a, _ := pair(t, false)
	b, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	done := make(chan error, 1)
	go func() { done <- ca.WriteTo([]byte("flight"), b.LocalAddr().(*net.UDPAddr).AddrPort()) }()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 64)
	_ = b.SetReadDeadline(time.Now().Add(3 * time.Second))
	n, from, err := b.ReadFromUDPAddrPort(buf)
	if err != nil || string(buf[:n]) != "flight" || from != a.LocalAddr().(*net.UDPAddr).AddrPort() {
		t.Fatalf("received %q from %v (%v); want \"flight\" from %v", buf[:n], from, err, a.LocalAddr())
	}
}

// After Close, WriteTo reports ErrClosed instead of writing to a descriptor
// number that may now be another file's.
func TestWriteToAfterClose(t *testing.T) {
	ca, _, _, b := pair(t, false)
	if err := ca.Close(); err != nil {
		t.Fatal(err)
	}
	if err := ca.WriteTo([]byte("late flight"), b.LocalAddr().(*net.UDPAddr).AddrPort()); err != ErrClosed {
		t.Fatalf("WriteTo after Close = %v, want ErrClosed", err)
	}
	if err := ca.Close(); err != nil {
		t.Fatalf("second Close = %v, want nil", err)
	}
}

// TestSocketWatchedForInputOnly reads every epoll set of the process from
// /proc/self/fdinfo: the media socket must be in exactly one, for EPOLLIN
// only. (The runtime's netpoller watches for EPOLLOUT as well, which on a
// UDP socket fires after every datagram sent: a wakeup per flush.)
func TestSocketWatchedForInputOnly(t *testing.T) {
	ca, _, _, b := pair(t, false)
	var st unix.Stat_t
	if err := unix.Fstat(ca.sock, &st); err != nil {
		t.Fatal(err)
	}
	ino := strconv.FormatUint(st.Ino, 16)
	// Send, so that write space is reported while we look.
	out := NewMessages(4)
	for i := range out {
		out[i].N, out[i].Addr = 100, b.LocalAddr().(*net.UDPAddr).AddrPort()
	}
	if _, err := ca.WriteBatch(out); err != nil {
		t.Fatal(err)
	}
	ents, err := os.ReadDir("/proc/self/fdinfo")
	if err != nil {
		t.Fatal(err)
	}
	var watches []string
	for _, e := range ents {
		body, err := os.ReadFile("/proc/self/fdinfo/" + e.Name())
		if err != nil {
			continue // closed meanwhile
		}
		for _, line := range strings.Split(string(body), "\n") {
			f := strings.Fields(line)
			// tfd: <fd> events: <mask> data: <data> pos:<p> ino:<ino> sdev:<dev>
			if len(f) < 8 || f[0] != "tfd:" || f[7] != "ino:"+ino {
				continue
			}
			mask, err := strconv.ParseUint(f[3], 16, 32)
			if err != nil {
				t.Fatalf("fdinfo line %q: %v", line, err)
			}
			watches = append(watches, line)
			if mask&unix.EPOLLOUT != 0 || mask&unix.EPOLLIN == 0 {
				t.Errorf("epoll set %s watches the media socket with events %#x; want EPOLLIN only", e.Name(), mask)
			}
		}
	}
	if len(watches) != 1 {
		t.Fatalf("the media socket is in %d epoll sets (%q); want 1", len(watches), watches)
	}
}

func TestZeroAlloc(t *testing.T) {
	ca, cb, _, b := pair(t, true)
	to := b.LocalAddr().(*net.UDPAddr).AddrPort()
	out := NewMessages(8)
	for i := range out {
		out[i].N = 1000
		out[i].Addr = to
	}
	in := NewMessages(64)
	allocs := testing.AllocsPerRun(50, func() {
		if _, err := ca.WriteBatch(out); err != nil {
			t.Fatal(err)
		}
		got := 0
		for got < len(out) {
			k, err := cb.ReadBatch(in)
			if err != nil {
				t.Fatal(err)
			}
			got += k
		}
	})
	if allocs != 0 {
		t.Fatalf("%.1f allocations per batch round trip, want 0", allocs)
	}
}

// TestKernelDrops overflows a small receive buffer that nobody reads and
// expects the kernel's drop count to say so: what an operator sees as
// hayate_media_dropped_total{reason="kernel_receive_buffer"}.
func TestKernelDrops(t *testing.T) {
	rx, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer rx.Close()
	if err := rx.SetReadBuffer(4096); err != nil {
		t.Fatal(err)
	}
	c, err := New(rx, 8, false)
	if err != nil {
		t.Fatal(err)
	}
	before, err := c.KernelDrops()
	if err != nil {
		t.Fatal(err)
	}
	tx, err := net.DialUDP("udp4", nil, rx.LocalAddr().(*net.UDPAddr))
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Close()
	payload := make([]byte, 1200)
	for i := 0; i < 200; i++ {
		if _, err := tx.Write(payload); err != nil {
			t.Fatal(err)
		}
	}
	after, err := c.KernelDrops()
	if err != nil {
		t.Fatal(err)
	}
	if after-before < 100 {
		t.Fatalf("kernel drops went from %d to %d after 200 datagrams into a 4 KiB buffer; want ≥ 100 more", before, after)
	}
}

// The loop's ticks, wakes and held flushes end a ReadBatch through its timer
// or a Wake, hundreds of times a second: that must not allocate.
func TestReadBatchWokenDoesNotAllocate(t *testing.T) {
	_, cb, _, _ := pair(t, false)
	in := NewMessages(8)
	for _, wake := range []func(){func() { cb.ArmTimer(0) }, cb.Wake} {
		allocs := testing.AllocsPerRun(100, func() {
			wake()
			if n, err := cb.ReadBatch(in); n != 0 || err != ErrWoken {
				t.Fatalf("ReadBatch after a wake = %d, %v; want 0, ErrWoken", n, err)
			}
		})
		if allocs != 0 {
			t.Errorf("a ReadBatch ended by a wake allocates %.1f times, want 0", allocs)
		}
	}
}
