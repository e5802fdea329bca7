package cluster

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"

	"go.etcd.io/raft/v3/raftpb"
	"google.golang.org/protobuf/proto"
)

// FuzzDecodeBatch: the raft POST body (network bytes) never panics the
// decoder, and what it accepts re-encodes to the same bytes.
func FuzzDecodeBatch(f *testing.F) {
	m := &raftpb.Message{Type: raftpb.MsgHeartbeat.Enum(), To: new(uint64(2)), From: new(uint64(1)), Term: new(uint64(3))}
	b, _ := proto.Marshal(m)
	f.Add(encodeBatch([]outMsg{{b: b}, {b: b}}))
	f.Add([]byte{})
	f.Add([]byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01})
	f.Add([]byte{0x05, 0x08})
	f.Fuzz(func(t *testing.T, body []byte) {
		msgs, err := decodeBatch(body)
		if err != nil {
			return
		}
		var out []outMsg
		for _, m := range msgs {
			b, err := proto.Marshal(m)
			if err != nil {
				t.Fatal(err)
			}
			out = append(out, outMsg{b: b})
		}
		again, err := decodeBatch(encodeBatch(out))
		if err != nil || len(again) != len(msgs) {
			t.Fatalf("re-encoded batch: %d messages, %v (had %d)", len(again), err, len(msgs))
		}
	})
}

// FuzzClusterRequest: the cluster operations' bodies (user bytes) are
// answered with a JSON error or accepted, never a panic; an error names
// its type from the documented set.
func FuzzClusterRequest(f *testing.F) {
	for _, s := range []string{
		`{"node_name_list":["a@127.0.0.1","b@127.0.0.2:5100"]}`,
		`{"node_name_list":[]}`, `{"node_name_list":"a@h"}`, `{"node_name_list":["a@h","a@h"]}`,
		`{"contact_node_name":"node-03@10.99.0.8"}`, `{"contact_node_name":7}`, `{"contact_node_name":"nohost@"}`,
		`{"target_node_name":"n@[::1]:5100"}`, `{"include_all_known_nodes":"yes"}`, ``, `[]`, `{`, `null`,
	} {
		f.Add([]byte(s))
	}
	types := map[string]bool{TypeInvalidJSON: true, TypeMissingKey: true, TypeInvalidType: true, TypeInvalidValue: true}
	f.Fuzz(func(t *testing.T, body []byte) {
		b, e := parseReq(body)
		if e != nil {
			if !types[e.Type] || !json.Valid(e.body()) {
				t.Fatalf("error %s %s", e.Type, e.body())
			}
			return
		}
		for _, read := range []func() *apiError{
			func() *apiError { _, e := b.nodeNames("node_name_list"); return e },
			func() *apiError { _, e := b.nodeName("contact_node_name"); return e },
			func() *apiError { _, e := b.optBool("include_all_known_nodes", false); return e },
		} {
			if e := read(); e != nil && (!types[e.Type] || !json.Valid(e.body())) {
				t.Fatalf("error %s %s", e.Type, e.body())
			}
		}
		if names, e := b.nodeNames("node_name_list"); e == nil {
			for _, n := range names {
				if _, err := nodeAddr(n, DefaultPort); err != nil {
					t.Fatalf("accepted %q that has no address: %v", n, err)
				}
			}
		}
	})
}

// FuzzNodeName: any string either is refused or yields a host:port.
func FuzzNodeName(f *testing.F) {
	for _, s := range []string{"node-01@192.0.2.5", "a@h:5100", "a@[::1]:1", "a@::1", "@h", "a@", "a b@h", "a@h:0", "a@h:99999", "a@@h"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		addr, err := nodeAddr(s, DefaultPort)
		if err != nil {
			return
		}
		if !strings.Contains(addr, ":") || strings.HasSuffix(addr, ":") {
			t.Fatalf("%q gave address %q", s, addr)
		}
	})
}

// FuzzStateSnapshot: a snapshot from the network either is refused or,
// applied commands to it twice from copies, gives the same state (Apply
// stays deterministic whatever state it starts from).
func FuzzStateSnapshot(f *testing.F) {
	s := placeState()
	b, _ := s.Marshal()
	f.Add(b, []byte(`{"op":"claim","channel":"x","node":"a@h1","epoch":1}`))
	f.Add([]byte(`{"members":{"a@h":null}}`), []byte(`{"op":"remove","node":"a@h"}`))
	f.Add([]byte(`{}`), []byte(`{"op":"init","cluster_id":"c","member":{"node_name":"a@h","id":1}}`))
	f.Fuzz(func(t *testing.T, snap, cmd []byte) {
		s1, err := UnmarshalState(snap)
		if err != nil {
			return
		}
		var c Command
		if json.Unmarshal(cmd, &c) != nil {
			return
		}
		s2 := s1.Clone()
		c2 := c
		r1, r2 := s1.Apply(&c), s2.Apply(&c2)
		b1, err1 := s1.Marshal()
		b2, err2 := s2.Marshal()
		if err1 != nil || err2 != nil || !bytes.Equal(b1, b2) || (r1.Err == nil) != (r2.Err == nil) || r1.Owner != r2.Owner {
			t.Fatalf("two applications differ: %s vs %s", b1, b2)
		}
	})
}
