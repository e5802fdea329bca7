package cluster

import (
	"bytes"
	"fmt"
	"testing"
)

// placeState: members a, b, c (c restarted once: epoch 2) with license
// capacities 100, 100 and 10; channel "owned-by-b" is b's, "old-c" was
// c's first life's, "owned-by-a" is a's.
func placeState() *State {
	s := NewState()
	s.Apply(&Command{Op: OpInit, ClusterID: "c", Member: &Member{Name: "a@h1", ID: 1, Boot: "a", License: License{MaxConnections: 100}}})
	s.Apply(&Command{Op: OpAdd, Member: &Member{Name: "b@h2", ID: 2, Boot: "b", License: License{MaxConnections: 100}}})
	s.Apply(&Command{Op: OpAdd, Member: &Member{Name: "c@h3", ID: 3, Boot: "c1", License: License{MaxConnections: 10}}})
	s.Apply(&Command{Op: OpClaim, Channel: "owned-by-b", Node: "b@h2", Epoch: 1})
	s.Apply(&Command{Op: OpClaim, Channel: "old-c", Node: "c@h3", Epoch: 1})
	s.Apply(&Command{Op: OpClaim, Channel: "owned-by-a", Node: "a@h1", Epoch: 1})
	s.Apply(&Command{Op: OpStart, Member: &Member{Name: "c@h3", ID: 3, Boot: "c2", License: License{MaxConnections: 10}}})
	return s
}

func describeDecision(d Decision) string {
	s := fmt.Sprintf("owner=%s claim=%v why=%s", d.Owner, d.Claim, d.Why)
	if d.Expect != nil {
		s += fmt.Sprintf(" expect=%s/%d", d.Expect.Node, d.Expect.Epoch)
	}
	return s
}

func up(conns int) Load { return Load{Connected: true, Mode: "normal", Connections: conns} }

// TestDecideGolden places channels under different views and compares the
// decisions with testdata/place.golden.
func TestDecideGolden(t *testing.T) {
	s := placeState()
	cases := []struct {
		name    string
		channel string
		view    View
	}{
		{"new channel, all idle: the contacted node", "new", View{Self: "b@h2", Nodes: map[string]Load{"a@h1": up(0), "b@h2": up(0), "c@h3": up(0)}}},
		{"new channel, contacted node busiest", "new", View{Self: "a@h1", Nodes: map[string]Load{"a@h1": up(9), "b@h2": up(3), "c@h3": up(1)}}},
		{"ratio, not count: b holds 5 of 100, c 1 of 10", "new", View{Self: "a@h1", Nodes: map[string]Load{"a@h1": up(50), "b@h2": up(5), "c@h3": up(1)}}},
		{"tie between others: the first name", "new", View{Self: "a@h1", Nodes: map[string]Load{"a@h1": up(50), "b@h2": up(10), "c@h3": up(1)}}},
		{"tie with the contacted node: it takes the channel", "new", View{Self: "c@h3", Nodes: map[string]Load{"a@h1": up(50), "b@h2": up(10), "c@h3": up(1)}}},
		{"full nodes skipped", "new", View{Self: "a@h1", Nodes: map[string]Load{"a@h1": up(100), "b@h2": up(99), "c@h3": up(10)}}},
		{"all full", "new", View{Self: "a@h1", Nodes: map[string]Load{"a@h1": up(100), "b@h2": up(100), "c@h3": up(10)}}},
		{"blocked modes skipped", "new", View{Self: "a@h1", Nodes: map[string]Load{"a@h1": {Connected: true, Mode: "block_new_session"}, "b@h2": {Connected: true, Mode: "block_new_connection"}, "c@h3": up(4)}}},
		{"disconnected nodes skipped", "new", View{Self: "c@h3", Nodes: map[string]Load{"a@h1": {Mode: "normal"}, "c@h3": up(9)}}},
		{"nobody can take it", "new", View{Self: "a@h1", Nodes: map[string]Load{"a@h1": {Connected: true, Mode: "block_new_session"}}}},
		{"owner connected: stays", "owned-by-b", View{Self: "a@h1", Nodes: map[string]Load{"a@h1": up(0), "b@h2": up(99), "c@h3": up(0)}}},
		{"owner is self", "owned-by-a", View{Self: "a@h1", Nodes: map[string]Load{"a@h1": up(99)}}},
		{"owner disconnected: reassigned", "owned-by-b", View{Self: "c@h3", Nodes: map[string]Load{"a@h1": up(2), "b@h2": {Mode: "normal"}, "c@h3": up(5)}}},
		{"owner restarted: reassigned even though it answers", "old-c", View{Self: "a@h1", Nodes: map[string]Load{"a@h1": up(3), "b@h2": up(3), "c@h3": up(0)}}},
		{"owner blocked but connected: still the owner", "owned-by-b", View{Self: "a@h1", Nodes: map[string]Load{"a@h1": up(0), "b@h2": {Connected: true, Mode: "block_new_connection"}}}},
	}
	var out bytes.Buffer
	for _, tc := range cases {
		d, err := Decide(s, tc.channel, tc.view)
		fmt.Fprintf(&out, "%s (%s from %s):\n  ", tc.name, tc.channel, tc.view.Self)
		if err != nil {
			fmt.Fprintf(&out, "error: %v\n", err)
			continue
		}
		out.WriteString(describeDecision(d) + "\n")
		// Pure: the same inputs decide the same way, and the state is untouched.
		before, _ := s.Marshal()
		d2, err2 := Decide(s, tc.channel, tc.view)
		after, _ := s.Marshal()
		if describeDecision(d2) != describeDecision(d) || err2 != nil || !bytes.Equal(before, after) {
			t.Errorf("%s: Decide is not pure", tc.name)
		}
	}
	golden(t, "place.golden", out.Bytes())
}

// TestDecideThenClaim: two nodes decide on the same state that a dead
// owner's channel moves, each to itself; applying both claims in log order
// leaves one owner, and the loser's claim names the winner.
func TestDecideThenClaim(t *testing.T) {
	s := placeState()
	dead := map[string]Load{"a@h1": up(0), "b@h2": {Mode: "normal"}, "c@h3": up(0)}
	da, err := Decide(s, "owned-by-b", View{Self: "a@h1", Nodes: dead})
	if err != nil {
		t.Fatal(err)
	}
	dc, err := Decide(s, "owned-by-b", View{Self: "c@h3", Nodes: dead})
	if err != nil {
		t.Fatal(err)
	}
	if da.Owner != "a@h1" || dc.Owner != "c@h3" {
		t.Fatalf("decisions %s and %s, want each node itself", da.Owner, dc.Owner)
	}
	epoch := func(n string) uint64 { return s.Members[n].Epoch }
	ra := s.Apply(&Command{Op: OpClaim, Channel: "owned-by-b", Node: da.Owner, Epoch: epoch(da.Owner), Expect: da.Expect})
	rc := s.Apply(&Command{Op: OpClaim, Channel: "owned-by-b", Node: dc.Owner, Epoch: epoch(dc.Owner), Expect: dc.Expect})
	if !ra.Claimed || rc.Claimed || rc.Owner.Node != "a@h1" {
		t.Errorf("first claim %+v, second %+v: want the first to win and the second to learn it", ra, rc)
	}
}
