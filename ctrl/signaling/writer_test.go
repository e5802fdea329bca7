package signaling

import (
	"runtime"
	"strings"
	"testing"
)

// goroutinesIn counts the goroutines with fn in their stack.
func goroutinesIn(fn string) int {
	buf := make([]byte, 1<<20)
	return strings.Count(string(buf[:runtime.Stack(buf, true)]), fn+"(")
}

func writers() int { return goroutinesIn("signaling.(*conn).writeLoop") }

// TestWriterOnlyWhileSending: an idle connection keeps two goroutines, its
// owner and its reader, and neither the HTTP handler's nor a writer; a
// burst of messages starts a writer, arrives complete and in order, and
// the writer is gone again once the queue is drained. The close still
// flushes what was queued before it.
func TestWriterOnlyWhileSending(t *testing.T) {
	ts := newTestServer(t)
	c := dial(t, ts.url)
	o := ts.join(t, c, "recvonly")
	ts.waitFor(t, "no writer on an idle connection", func() bool { return writers() == 0 })
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
	ts.waitFor(t, "the writer to end after the burst", func() bool { return writers() == 0 })
	if err := rc.Push(map[string]any{"last": true}); err != nil {
		t.Fatal(err)
	}
	rc.Disconnect("DISCONNECTED-API")
	if m := c.recv(); m["type"] != "push" {
		t.Fatalf("got %v before the close, want the last push", m)
	}
	c.expectClose(CloseNormal, "DISCONNECTED-API")
}
