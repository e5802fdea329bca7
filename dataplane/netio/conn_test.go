//go:build linux

package netio

import (
	"bytes"
	"errors"
	"net"
	"os"
	"testing"
	"time"
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
	_ = cb.SetReadDeadline(time.Now().Add(3 * time.Second))
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

func TestReadDeadline(t *testing.T) {
	_, cb, _, _ := pair(t, false)
	_ = cb.SetReadDeadline(time.Now().Add(20 * time.Millisecond))
	if _, err := cb.ReadBatch(NewMessages(4)); err == nil {
		t.Fatal("ReadBatch returned without data or deadline error")
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

// The loop's ticks, wakes and held flushes end a ReadBatch through its read
// deadline, hundreds of times a second: that must not allocate.
func TestReadBatchDeadlineDoesNotAllocate(t *testing.T) {
	_, cb, _, _ := pair(t, false)
	in := NewMessages(8)
	allocs := testing.AllocsPerRun(100, func() {
		_ = cb.SetReadDeadline(time.Now().Add(-time.Second))
		if n, err := cb.ReadBatch(in); n != 0 || !errors.Is(err, os.ErrDeadlineExceeded) {
			t.Fatalf("ReadBatch past its deadline = %d, %v; want 0, os.ErrDeadlineExceeded", n, err)
		}
	})
	if allocs != 0 {
		t.Errorf("a ReadBatch ended by its deadline allocates %.1f times, want 0", allocs)
	}
}
