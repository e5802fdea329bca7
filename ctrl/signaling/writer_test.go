package signaling

import (
	"runtime"
	rtmetrics "runtime/metrics"
	"strings"
	"testing"
	"time"
)

// goroutinesIn counts the goroutines with fn in their stack.
func goroutinesIn(fn string) int {
	buf := make([]byte, 1<<20)
	return strings.Count(string(buf[:runtime.Stack(buf, true)]), fn+"(")
}

// goroutinesCreated is the process's count of goroutines created so far.
func goroutinesCreated() uint64 {
	s := []rtmetrics.Sample{{Name: "/sched/goroutines-created:goroutines"}}
	rtmetrics.Read(s)
	return s[0].Value.Uint64()
}

// TestOwnerWrites: a connection keeps two goroutines, its owner and its
// reader, and neither the HTTP handler's nor one per message: fifty pushes,
// each read by the client before the next, start no goroutine on the
// server, and a burst of fifty arrives complete and in order. The close
// still flushes what was queued before it.
func TestOwnerWrites(t *testing.T) {
	ts := newTestServer(t)
	c := dial(t, ts.url)
	o := ts.join(t, c, "recvonly")
	for fn, want := range map[string]int{
		"signaling.(*conn).ownerLoop":   1,
		"signaling.(*conn).readLoop":    1,
		"signaling.(*Server).ServeHTTP": 0,
	} {
		if got := goroutinesIn(fn); got != want {
			t.Errorf("%d goroutines in %s, want %d", got, fn, want)
		}
	}
	rc, ok := ts.Rooms().Connection(o["connection_id"].(string))
	if !ok {
		t.Fatal("connection not found")
	}
	const n = 50
	before := goroutinesCreated()
	for i := range n {
		if err := rc.Push(map[string]any{"i": i}); err != nil {
			t.Fatal(err)
		}
		if m := c.recv(); m["type"] != "push" {
			t.Fatalf("push %d: got %v", i, m)
		}
	}
	// The test's own client may start a few; a goroutine per message would
	// be fifty.
	if created := goroutinesCreated() - before; created > n/5 {
		t.Errorf("%d goroutines created for %d messages written one at a time", created, n)
	}
	for i := range n {
		if err := rc.Push(map[string]any{"i": i}); err != nil {
			t.Fatal(err)
		}
	}
	for i := range n {
		m := c.recv()
		if m["type"] != "push" {
			t.Fatalf("message %d: got %v, want push", i, m)
		}
		if got := m["data"].(map[string]any)["i"].(float64); int(got) != i {
			t.Fatalf("push %d arrived as number %d: order lost", int(got), i)
		}
	}
	if err := rc.Push(map[string]any{"last": true}); err != nil {
		t.Fatal(err)
	}
	rc.Disconnect("DISCONNECTED-API")
	if m := c.recv(); m["type"] != "push" {
		t.Fatalf("got %v before the close, want the last push", m)
	}
	c.expectClose(CloseNormal, "DISCONNECTED-API")
}

// TestWriteTimeoutClosesStalledClient: a client that stops reading fills
// the TCP buffers; the write that then blocks for the write timeout ends
// the connection (counted), and the server's other work goes on.
func TestWriteTimeoutClosesStalledClient(t *testing.T) {
	ts := newTestServer(t, func(c *Config) { c.writeTimeout = 200 * time.Millisecond })
	c := dial(t, ts.url)
	o := ts.join(t, c, "recvonly")
	rc, ok := ts.Rooms().Connection(o["connection_id"].(string))
	if !ok {
		t.Fatal("connection not found")
	}
	// The client reads nothing more. 100 pushes of 200 kB are more than
	// loopback's socket buffers hold, and fewer than the send queue's 256.
	big := strings.Repeat("x", 200_000)
	for i := range 100 {
		if err := rc.Push(map[string]any{"i": i, "pad": big}); err != nil {
			break // the connection is already gone
		}
	}
	ts.waitFor(t, "the stalled write to time out", func() bool {
		return ts.counter(t, "hayate_signaling_write_timeouts_total") == 1
	})
	ts.waitFor(t, "the connection to close", func() bool {
		return ts.counter(t, "hayate_signaling_closes_total", "code", "1001") == 1
	})
	if n := ts.counter(t, "hayate_signaling_send_queue_overflows_total"); n != 0 {
		t.Errorf("%v send queue overflows; the write timeout should have ended it", n)
	}
	// Another client still joins.
	c2 := dial(t, ts.url)
	ts.join(t, c2, "recvonly")
}
