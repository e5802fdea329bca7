package cluster

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"testing"
	"time"
)

// startCluster starts nodes and runs InitCluster on the first with all of
// them.
func startCluster(t *testing.T, nodes ...*node) {
	t.Helper()
	var names []string
	for _, n := range nodes {
		n.start()
		names = append(names, n.name)
	}
	list, _ := json.Marshal(names)
	st, body := nodes[0].api("Sora_20221221.InitCluster", `{"node_name_list":`+string(list)+`}`)
	sort.Strings(names)
	want, _ := json.Marshal(map[string][]string{"node_name_list": names})
	if st != 200 || body != string(want) {
		t.Fatalf("InitCluster: %d %s, want 200 %s", st, body, want)
	}
}

// placeWired checks that the nodes redirect a connect to a channel's owner
// (ctrl/signaling calls the cluster's Place): a channel taken on a answers
// b's connect with a redirect to a. It fails the test otherwise.
func placeWired(t *testing.T, ctx context.Context, a, b *node) {
	t.Helper()
	ch := fmt.Sprintf("wired-%d", time.Now().UnixNano())
	r, err := probe(ctx, a.signalingURL(), ch)
	if err != nil || r.kind != "offer" {
		t.Fatalf("connect on %s: %+v %v, want an offer", a.name, r, err)
	}
	r, err = probe(ctx, b.signalingURL(), ch)
	if err != nil {
		t.Fatalf("connect on %s: %v", b.name, err)
	}
	switch r.kind {
	case "redirect":
		if r.location != a.signalingURL() {
			t.Fatalf("redirect to %q, want the owner's %q", r.location, a.signalingURL())
		}
	case "offer":
		t.Fatalf("%s served a connect to a channel just opened on %s instead of redirecting to its owner", b.name, a.name)
	default:
		t.Fatalf("connect on %s: %+v", b.name, r)
	}
}

// ownerOf maps a probe's answer to the node that owns the channel.
func ownerOf(r probeResult, contacted *node, nodes ...*node) string {
	if r.kind == "offer" {
		return contacted.name
	}
	for _, n := range nodes {
		if n.signalingURL() == r.location {
			return n.name
		}
	}
	return "?" + r.location
}

// TestClusterLifecycle: three processes form a cluster, a fourth joins,
// is refused purging while alive and purged once stopped (and never comes
// back), the leader is killed and the majority carries on (the failover
// time is logged), two of three killed refuse writes, and the killed nodes
// restart, catch up, and come back in epoch 2 with nothing acknowledged
// lost.
func TestClusterLifecycle(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Second)
	defer cancel()
	n1, n2, n3, n4 := newNode(t, 1), newNode(t, 2), newNode(t, 3), newNode(t, 4)
	startCluster(t, n1, n2, n3)

	st, body := n2.api("Sora_20221221.InitCluster", `{"node_name_list":["`+n2.name+`"]}`)
	if st != 400 || !strings.Contains(body, `"error_type":"ALREADY-IN-CLUSTER"`) || !strings.Contains(body, `"cluster_id":"`) {
		t.Errorf("second InitCluster: %d %s, want 400 ALREADY-IN-CLUSTER naming the cluster", st, body)
	}
	for _, n := range []*node{n1, n2, n3} {
		eventually(t, 10*time.Second, n.name+" lists three connected nodes", func() bool {
			ns := n.nodes(false)
			for _, m := range []*node{n1, n2, n3} {
				e, ok := ns[m.name]
				if !ok || !e.Connected || e.Epoch != 1 || e.Mode != "normal" || e.ExternalSignalingURL != m.signalingURL() || e.ExternalAPIURL != m.apiURL() || e.Version == "" {
					return false
				}
			}
			return len(ns) == 3
		})
	}

	// A fourth node joins through a follower.
	n4.start()
	st, body = n4.api("Sora_20211215.JoinCluster", `{"contact_node_name":"`+n2.name+`"}`)
	if st != 200 || !strings.Contains(body, n4.name) || !strings.Contains(body, n1.name) {
		t.Fatalf("JoinCluster: %d %s", st, body)
	}
	eventually(t, 10*time.Second, n1.name+" lists the fourth node", func() bool { return n1.nodes(false)[n4.name].Connected })

	// Purge: NODE-IS-ALIVE while it runs; done once stopped.
	st, body = n1.api("Sora_20220629.PurgeClusterNode", `{"target_node_name":"`+n4.name+`"}`)
	if st != 400 || !strings.Contains(body, `"error_type":"NODE-IS-ALIVE"`) || !strings.Contains(body, `"target_node":"`+n4.name+`"`) {
		t.Errorf("purging a running node: %d %s, want 400 NODE-IS-ALIVE with target_node", st, body)
	}
	n4.stop()
	eventually(t, 10*time.Second, "the stopped node listed as disconnected", func() bool {
		e, ok := n1.nodes(true)[n4.name]
		return ok && !e.Connected
	})
	if _, ok := n1.nodes(false)[n4.name]; ok {
		t.Errorf("ListClusterNodes without include_all_known_nodes lists the stopped node")
	}
	_, body = n1.api("Sora_20211215.ListClusterNodes", `{"include_all_known_nodes":true}`)
	if !strings.Contains(body, `{"connected":false,"node_name":"`+n4.name+`"}`) {
		t.Errorf("a disconnected node should carry only node_name and connected: %s", body)
	}
	st, body = n1.api("Sora_20220629.PurgeClusterNode", `{"target_node_name":"`+n4.name+`"}`)
	if st != 200 || body != `{"target_node_name":"`+n4.name+`"}` {
		t.Fatalf("purging the stopped node: %d %s", st, body)
	}
	for _, n := range []*node{n1, n2, n3} {
		eventually(t, 10*time.Second, n.name+" forgets the purged node", func() bool {
			_, ok := n.nodes(true)[n4.name]
			return !ok
		})
	}
	// Restarted with its data_dir, the purged node stays out.
	n4.start()
	eventually(t, 10*time.Second, "the purged node knows it", func() bool {
		st, body := n4.api("Sora_20211215.ListClusterNodes", ``)
		return st == 400 && strings.Contains(body, "NODE-PURGED")
	})
	n4.kill()

	placeWired(t, ctx, n1, n2)

	// Kill the leader: the other two elect one and accept writes.
	leader := leaderOf(t, n1, n2, n3)
	var others []*node
	for _, n := range []*node{n1, n2, n3} {
		if n != leader {
			others = append(others, n)
		}
	}
	keep, second := others[0], others[1]
	acked := map[string]string{} // channel → owner, as answered
	leader.kill()
	killed := time.Now()
	for i := 0; ; i++ {
		ch := fmt.Sprintf("failover-%d", i)
		r, err := probe(ctx, keep.signalingURL(), ch)
		if err == nil && (r.kind == "offer" || r.kind == "redirect") {
			acked[ch] = ownerOf(r, keep, n1, n2, n3)
			break
		}
		if time.Since(killed) > 30*time.Second {
			t.Fatalf("no connect accepted within 30 s of killing the leader: %+v %v", r, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Logf("FAILOVER: leader %s killed with SIGKILL; a write (a new channel's placement, committed through raft) was accepted again after %v", leader.name, time.Since(killed).Round(time.Millisecond))
	eventually(t, 10*time.Second, "the killed leader listed as disconnected, the others connected", func() bool {
		ns := keep.nodes(true)
		return !ns[leader.name].Connected && ns[keep.name].Connected && ns[second.name].Connected
	})
	for i := range 4 {
		ch := fmt.Sprintf("majority-%d", i)
		r, err := probe(ctx, second.signalingURL(), ch)
		if err != nil || (r.kind != "offer" && r.kind != "redirect") {
			t.Fatalf("connect on the majority: %+v %v", r, err)
		}
		acked[ch] = ownerOf(r, second, n1, n2, n3)
	}

	// Kill a second node: the last one refuses writes, still answers reads.
	second.kill()
	r, err := probe(ctx, keep.signalingURL(), "refused")
	if err != nil || r.kind != "closed" || !strings.Contains(strings.ToLower(r.reason), "majority") {
		t.Errorf("connect without a majority: %+v %v, want a close naming the lost majority", r, err)
	}
	eventually(t, 10*time.Second, "both killed nodes disconnected", func() bool {
		ns := keep.nodes(true)
		return !ns[leader.name].Connected && !ns[second.name].Connected
	})
	st, body = keep.api("Sora_20220629.PurgeClusterNode", `{"target_node_name":"`+second.name+`"}`)
	if st != 503 || !strings.Contains(body, `"error_type":"NO-MAJORITY"`) {
		t.Errorf("purge without a majority: %d %s, want 503 NO-MAJORITY", st, body)
	}

	// Restart both: they catch up, return in epoch 2, and every node has
	// everything that was acknowledged.
	leader.start()
	second.start()
	for _, n := range []*node{n1, n2, n3} {
		eventually(t, 15*time.Second, n.name+" sees the restarted nodes back in epoch 2", func() bool {
			ns := n.nodes(false)
			return ns[leader.name].Epoch == 2 && ns[second.name].Epoch == 2 && ns[keep.name].Epoch == 1 &&
				ns[leader.name].Connected && ns[second.name].Connected && ns[keep.name].Connected
		})
	}
	for _, n := range []*node{n1, n2, n3} {
		chans := n.channels()
		for ch, owner := range acked {
			if owner != keep.name {
				continue // a restarted owner may give its old channels back
			}
			got, ok := chans[ch]
			if !ok || len(got.Owners) != 1 || got.Owners[0].NodeName != owner || !got.Owners[0].EpochLatest {
				t.Errorf("%s: acknowledged channel %s (owner %s) is %+v", n.name, ch, owner, got)
			}
		}
	}
	r, err = probe(ctx, leader.signalingURL(), "after-restart")
	if err != nil || (r.kind != "offer" && r.kind != "redirect") {
		t.Errorf("connect on a restarted node: %+v %v", r, err)
	}
}
