package cluster

import (
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
)

// testTiming makes elections and liveness fast enough for unit tests
// without making a loaded 2-core machine flap.
var testTiming = Timing{
	Tick: 50 * time.Millisecond, ElectionTicks: 10,
	PingInterval: 100 * time.Millisecond, LiveTimeout: time.Second,
	ProposeTimeout: 3 * time.Second, PlaceTimeout: 2 * time.Second,
	ReleaseAfter: time.Hour, JanitorEvery: time.Hour,
	SnapshotEvery: 20, KeepEntries: 5,
}

// fakeLocal is a node's room registry as the cluster sees it.
type fakeLocal struct {
	mu    sync.Mutex
	local Local
}

func (f *fakeLocal) get() Local {
	f.mu.Lock()
	defer f.mu.Unlock()
	l := f.local
	l.Channels = map[string]int{}
	for k, v := range f.local.Channels {
		l.Channels[k] = v
	}
	return l
}

func (f *fakeLocal) set(channel string, n int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.local.Channels == nil {
		f.local.Channels = map[string]int{}
	}
	f.local.Connections += n - f.local.Channels[channel]
	f.local.Channels[channel] = n
	if n == 0 {
		delete(f.local.Channels, channel)
	}
}

// testNode is one in-process node: a Cluster on a loopback listener and a
// fake local API that answers ListChannels with its channels.
type testNode struct {
	t     *testing.T
	name  string
	addr  string
	dir   string
	c     *Cluster
	local *fakeLocal
	calls chan string // targets CallLocal ran
}

func newTestNode(t *testing.T, i int, dir string, ln net.Listener) *testNode {
	t.Helper()
	if ln == nil {
		var err error
		if ln, err = net.Listen("tcp", "127.0.0.1:0"); err != nil {
			t.Fatal(err)
		}
	}
	n := &testNode{t: t, addr: ln.Addr().String(), dir: dir, local: &fakeLocal{local: Local{Mode: "normal"}}, calls: make(chan string, 100)}
	n.name = fmt.Sprintf("n%d@%s", i, n.addr)
	n.start(ln)
	return n
}

func (n *testNode) start(ln net.Listener) {
	n.t.Helper()
	if ln == nil {
		var err error
		// The same address again: a restarted node keeps its name.
		deadline := time.Now().Add(5 * time.Second)
		for {
			ln, err = net.Listen("tcp", n.addr)
			if err == nil || time.Now().After(deadline) {
				break
			}
			time.Sleep(50 * time.Millisecond)
		}
		if err != nil {
			n.t.Fatal(err)
		}
	}
	c, err := New(Config{
		NodeName: n.name, Listener: ln, DataDir: n.dir,
		SignalingURL: "ws://" + n.name + "/signaling", APIURL: "http://" + n.name + "/",
		Version: "test", License: License{MaxConnections: 100, Type: "OSS", SerialCode: "HAYATE"},
		CallLocal: n.callLocal, Local: n.local.get,
		Logger: testLogger().With("node", n.name),
		Timing: testTiming,
	})
	if err != nil {
		n.t.Fatal(err)
	}
	n.c = c
}

func (n *testNode) callLocal(target string, body []byte) (int, []byte) {
	select {
	case n.calls <- target:
	default:
	}
	if target == TargetListChannels {
		var out []map[string]any
		for ch := range n.local.get().Channels {
			out = append(out, map[string]any{"channel_id": ch, "multistream": true, "spotlight": false})
		}
		b, _ := json.Marshal(out)
		return 200, b
	}
	return 200, []byte(`{"ran_on":"` + n.name + `"}`)
}

func (n *testNode) stop() {
	if n.c != nil {
		if err := n.c.Close(); err != nil {
			n.t.Errorf("closing %s: %v", n.name, err)
		}
		n.c = nil
	}
}

// api runs an operation through Intercept (which must handle it).
func (n *testNode) api(target, body string) (int, string) {
	n.t.Helper()
	st, b, ok := n.c.Intercept(target, []byte(body))
	if !ok {
		n.t.Fatalf("%s on %s was not handled by the cluster", target, n.name)
	}
	return st, string(b)
}

func newTestCluster(t *testing.T, size int) []*testNode {
	t.Helper()
	checkGoroutines(t) // registered first: runs after every node is closed
	var nodes []*testNode
	for i := range size {
		nodes = append(nodes, newTestNode(t, i+1, t.TempDir(), nil))
	}
	t.Cleanup(func() {
		for _, n := range nodes {
			n.stop()
		}
	})
	names := make([]string, len(nodes))
	for i, n := range nodes {
		names[i] = `"` + n.name + `"`
	}
	st, body := nodes[0].api(TargetInitCluster, `{"node_name_list":[`+strings.Join(names, ",")+`]}`)
	if st != 200 {
		t.Fatalf("InitCluster: %d %s", st, body)
	}
	return nodes
}

// eventually polls cond every 50 ms for up to 15 s.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func listNodes(t *testing.T, n *testNode, all bool) []nodeJSON {
	t.Helper()
	st, body := n.api(TargetListClusterNodes, fmt.Sprintf(`{"include_all_known_nodes":%v}`, all))
	if st != 200 {
		t.Fatalf("ListClusterNodes on %s: %d %s", n.name, st, body)
	}
	var out []nodeJSON
	if err := json.Unmarshal([]byte(body), &out); err != nil {
		t.Fatal(err)
	}
	return out
}

func connectedNames(nodes []nodeJSON) string {
	var s []string
	for _, n := range nodes {
		if n.Connected {
			s = append(s, n.NodeName)
		}
	}
	return strings.Join(s, ",")
}

func TestClusterInitJoinPlacePurge(t *testing.T) {
	nodes := newTestCluster(t, 3)
	a, b, c := nodes[0], nodes[1], nodes[2]

	st, body := a.api(TargetInitCluster, `{"node_name_list":["`+a.name+`"]}`)
	if st != 400 || !strings.Contains(body, `"ALREADY-IN-CLUSTER"`) || !strings.Contains(body, a.c.meta.ClusterID) {
		t.Errorf("second InitCluster: %d %s, want 400 ALREADY-IN-CLUSTER naming the cluster", st, body)
	}
	want := strings.Join([]string{a.name, b.name, c.name}, ",")
	for _, n := range nodes {
		eventually(t, n.name+" sees all three connected", func() bool { return connectedNames(listNodes(t, n, false)) == want })
	}

	// A fourth node joins through a follower.
	d := newTestNode(t, 4, t.TempDir(), nil)
	t.Cleanup(d.stop)
	st, body = d.api(TargetJoinCluster, `{"contact_node_name":"`+b.name+`"}`)
	if st != 200 || !strings.Contains(body, d.name) || !strings.Contains(body, a.name) {
		t.Fatalf("JoinCluster: %d %s", st, body)
	}
	nodes = append(nodes, d)

	// Placement: a new channel goes to the contacted node when loads tie;
	// another node redirects to it.
	url, err := b.c.Place("room1")
	if err != nil || url != "" {
		t.Fatalf("Place on b: %q %v, want b to own room1", url, err)
	}
	b.local.set("room1", 1)
	url, err = c.c.Place("room1")
	if err != nil || url != "ws://"+b.name+"/signaling" {
		t.Fatalf("Place on c: %q %v, want a redirect to b", url, err)
	}
	// With b loaded, a new channel contacted at b goes elsewhere.
	url, err = b.c.Place("room2")
	if err != nil || url == "" {
		t.Fatalf("Place room2 on loaded b: %q %v, want a redirect", url, err)
	}
	// An API operation on room1 reaches b.
	for len(b.calls) > 0 {
		<-b.calls
	}
	st, raw, ok := d.c.Intercept("Sora_20201013.ListChannelConnections", []byte(`{"channel_id":"room1"}`))
	if !ok || st != 200 || !strings.Contains(string(raw), b.name) {
		t.Errorf("forwarded operation: handled=%v %d %s, want it run on %s", ok, st, raw, b.name)
	}
	// ListChannels local:false lists room1 (on b) from a.
	st, raw, ok = a.c.Intercept(TargetListChannels, []byte(`{"local":false}`))
	if !ok || st != 200 || !strings.Contains(string(raw), `"room1"`) {
		t.Errorf("ListChannels local:false on a: handled=%v %d %s", ok, st, raw)
	}
	if _, _, ok := a.c.Intercept(TargetListChannels, []byte(`{}`)); ok {
		t.Errorf("ListChannels without local:false was taken by the cluster")
	}

	// Purge: refused for a running node, done for a stopped one.
	st, body2 := a.api(TargetPurgeClusterNode, `{"target_node_name":"`+d.name+`"}`)
	if st != 400 || !strings.Contains(body2, `"error_type":"NODE-IS-ALIVE"`) || !strings.Contains(body2, `"target_node":"`+d.name+`"`) {
		t.Errorf("purge of a running node: %d %s", st, body2)
	}
	d.stop()
	eventually(t, "d disconnected", func() bool {
		for _, n := range listNodes(t, a, true) {
			if n.NodeName == d.name {
				return !n.Connected
			}
		}
		return false
	})
	st, body2 = a.api(TargetPurgeClusterNode, `{"target_node_name":"`+d.name+`"}`)
	if st != 200 || body2 != `{"target_node_name":"`+d.name+`"}` {
		t.Fatalf("purge of a stopped node: %d %s", st, body2)
	}
	for _, n := range nodes[:3] {
		eventually(t, n.name+" forgets d", func() bool {
			for _, m := range listNodes(t, n, true) {
				if m.NodeName == d.name {
					return false
				}
			}
			return true
		})
	}
	// The purged node restarted with its data_dir stays out.
	d.start(nil)
	eventually(t, "d learns it was purged", func() bool {
		_, err := d.c.Place("x")
		return err != nil && strings.Contains(err.Error(), "purged")
	})
}

func TestClusterRestartBumpsEpoch(t *testing.T) {
	nodes := newTestCluster(t, 3)
	c := nodes[2]
	c.stop()
	c.start(nil)
	eventually(t, "c back in epoch 2", func() bool {
		for _, n := range listNodes(t, nodes[0], false) {
			if n.NodeName == c.name {
				return n.Epoch != nil && *n.Epoch == 2
			}
		}
		return false
	})
	if _, err := c.c.Place("after-restart"); err != nil {
		t.Fatalf("Place on the restarted node: %v", err)
	}
}

// TestClusterNoMajority: with two of three nodes stopped the survivor
// refuses new sessions (also on a channel it owns) and API writes, but
// still answers reads; when they come back, everything committed before
// is there and the restarted nodes are in epoch 2.
func TestClusterNoMajority(t *testing.T) {
	nodes := newTestCluster(t, 3)
	a, b, c := nodes[0], nodes[1], nodes[2]
	if url, err := a.c.Place("mine"); err != nil || url != "" {
		t.Fatalf("Place: %q %v", url, err)
	}
	a.local.set("mine", 1)
	if url, err := c.c.Place("elsewhere"); err != nil || url != "" {
		t.Fatalf("Place on c: %q %v", url, err)
	}
	b.stop()
	c.stop()
	for _, ch := range []string{"mine", "new-one"} {
		_, err := a.c.Place(ch)
		if !errors.Is(err, ErrNoMajority) {
			t.Errorf("Place(%s) without a majority: %v, want ErrNoMajority", ch, err)
		}
	}
	eventually(t, "b and c disconnected", func() bool { return connectedNames(listNodes(t, a, true)) == a.name })
	st, body := a.api(TargetPurgeClusterNode, `{"target_node_name":"`+c.name+`"}`)
	if st != 503 || !strings.Contains(body, `"NO-MAJORITY"`) {
		t.Errorf("purge without a majority: %d %s", st, body)
	}
	if n := testutil.ToFloat64(a.c.m.dropped.WithLabelValues("send_failed")); n == 0 {
		t.Errorf("raft messages to the stopped nodes were not counted as dropped")
	}
	st, body = a.api(TargetListClusterChannels, ``)
	if st != 200 || !strings.Contains(body, `"channel_id":"elsewhere"`) || !strings.Contains(body, `"connected":false`) {
		t.Errorf("ListClusterChannels without a majority: %d %s", st, body)
	}

	b.start(nil)
	eventually(t, "writes accepted again", func() bool {
		_, err := a.c.Place("after")
		return err == nil
	})
	c.start(nil)
	eventually(t, "c caught up in epoch 2", func() bool {
		for _, n := range listNodes(t, c, false) {
			if n.NodeName == c.name && n.Epoch != nil && *n.Epoch == 2 {
				return true
			}
		}
		return false
	})
	st, body = c.api(TargetListClusterChannels, ``)
	for _, want := range []string{`"channel_id":"mine"`, `"channel_id":"after"`, `"channel_id":"elsewhere","owners":[{"connected":true,"epoch":1,"epoch_latest":false`} {
		if st != 200 || !strings.Contains(body, want) {
			t.Errorf("ListClusterChannels on the restarted c lacks %s: %d %s", want, st, body)
		}
	}
}

// TestAPIOutsideCluster compares the answers of a node in no cluster
// (request errors, empty lists, operations that need a cluster) with
// testdata/api_solo.golden.
func TestAPIOutsideCluster(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	c, err := New(Config{NodeName: "solo@127.0.0.1:1", Listener: ln, DataDir: t.TempDir(),
		SignalingURL: "ws://127.0.0.1:5000/signaling", APIURL: "http://127.0.0.1:3000/",
		CallLocal: func(string, []byte) (int, []byte) { return 200, []byte(`[]`) }, Logger: testLogger(), Timing: testTiming})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	var out strings.Builder
	for _, tc := range []struct{ target, body string }{
		{TargetListClusterNodes, ``},
		{TargetListClusterNodes, `{"include_all_known_nodes":1}`},
		{TargetListClusterChannels, `{}`},
		{TargetListClusterChannels, `[1]`},
		{TargetInitCluster, `{}`},
		{TargetInitCluster, `{"node_name_list":"solo@127.0.0.1:1"}`},
		{TargetInitCluster, `{"node_name_list":[]}`},
		{TargetInitCluster, `{"node_name_list":["solo@127.0.0.1:1",5]}`},
		{TargetInitCluster, `{"node_name_list":["bad name@h"]}`},
		{TargetInitCluster, `{"node_name_list":["a@127.0.0.9","a@127.0.0.9"]}`},
		{TargetInitCluster, `{"node_name_list":["other@127.0.0.9"]}`},
		{TargetJoinCluster, `{"contact_node_name":"solo@127.0.0.1:1"}`},
		{TargetRegisterClusterNode, `{"contact_node_name":null}`},
		{TargetPurgeClusterNode, `{"target_node_name":"x@127.0.0.9"}`},
		{TargetPurgeClusterNode, `{"target_node_name":true}`},
		{TargetPurgeClusterNode, `{"target_node_name":"x@127.0.0.9"`},
	} {
		st, b, ok := c.Intercept(tc.target, []byte(tc.body))
		fmt.Fprintf(&out, "%s %s\n  %v %d %s\n", tc.target, tc.body, ok, st, b)
	}
	if _, err := c.Place("x"); !errors.Is(err, ErrNotInCluster) {
		t.Errorf("Place outside a cluster: %v, want ErrNotInCluster", err)
	}
	if _, ok := c.RaftStatus(); ok {
		t.Errorf("RaftStatus outside a cluster reports ok")
	}
	golden(t, "api_solo.golden", []byte(out.String()))
}

// TestClusterFailoverTime measures, with the default timing (100 ms raft
// ticks, elections after 1-2 s of silence), how long after the leader
// stops a new channel's placement (a raft write) is accepted again. It
// logs the time; it asserts only that writes come back.
func TestClusterFailoverTime(t *testing.T) {
	if testing.Short() {
		t.Skip("seconds of real election timeouts")
	}
	saved := testTiming
	testTiming = Timing{ReleaseAfter: time.Hour}
	nodes := newTestCluster(t, 3)
	testTiming = saved
	eventually(t, "all connected", func() bool { return strings.Count(connectedNames(listNodes(t, nodes[0], false)), "@") == 3 })
	var leader *testNode
	eventually(t, "a leader", func() bool {
		for _, n := range nodes {
			if st, _ := n.c.RaftStatus(); st.State == "leader" {
				leader = n
				return true
			}
		}
		return false
	})
	var survivor *testNode
	for _, n := range nodes {
		if n != leader {
			survivor = n
		}
	}
	leader.stop()
	stopped := time.Now()
	for i := 0; ; i++ {
		_, err := survivor.c.Place(fmt.Sprintf("after-%d", i))
		if err == nil {
			break
		}
		if time.Since(stopped) > 15*time.Second {
			t.Fatalf("no write accepted within 15 s of stopping the leader: %v", err)
		}
	}
	t.Logf("leader stopped; a placement was committed again after %v (default timing)", time.Since(stopped).Round(time.Millisecond))
}

// TestClusterReleasesEmptyChannels: the owner gives back a channel that
// stayed without connections for ReleaseAfter, and keeps one that has
// connections.
func TestClusterReleasesEmptyChannels(t *testing.T) {
	saved := testTiming
	testTiming.ReleaseAfter, testTiming.JanitorEvery = 300*time.Millisecond, 100*time.Millisecond
	nodes := newTestCluster(t, 3)
	testTiming = saved
	a := nodes[0]
	for _, ch := range []string{"busy", "idle"} {
		if url, err := a.c.Place(ch); err != nil || url != "" {
			t.Fatalf("Place(%s): %q %v", ch, url, err)
		}
	}
	a.local.set("busy", 2)
	eventually(t, "idle released", func() bool {
		_, body := a.api(TargetListClusterChannels, ``)
		return !strings.Contains(body, `"idle"`)
	})
	if _, body := a.api(TargetListClusterChannels, ``); !strings.Contains(body, `"channel_id":"busy"`) {
		t.Errorf("the channel with connections was released: %s", body)
	}
}
