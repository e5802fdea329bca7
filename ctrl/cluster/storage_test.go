package cluster

import (
	"errors"
	"testing"
	"time"

	"go.etcd.io/raft/v3/raftpb"
)

func ent(term, index uint64, data string) *raftpb.Entry {
	return &raftpb.Entry{Term: new(term), Index: new(index), Type: raftpb.EntryNormal.Enum(), Data: []byte(data)}
}

func entryIndexes(ents []*raftpb.Entry) []uint64 {
	var out []uint64
	for _, e := range ents {
		out = append(out, e.GetIndex())
	}
	return out
}

// TestStorageSaveLoad: what a Ready batch writes is what a restart reads,
// a conflicting append replaces the tail, a snapshot drops the entries it
// covers, and the data_dir refuses a second process.
func TestStorageSaveLoad(t *testing.T) {
	dir := t.TempDir()
	s, err := openStorage(dir)
	if err != nil {
		t.Fatal(err)
	}
	hs := &raftpb.HardState{Term: new(uint64(2)), Vote: new(uint64(7)), Commit: new(uint64(3))}
	if err := s.save(hs, []*raftpb.Entry{ent(1, 1, "a"), ent(1, 2, "b"), ent(2, 3, "c"), ent(2, 4, "d")}, nil); err != nil {
		t.Fatal(err)
	}
	// A new leader overwrites index 3 on: entry 4 of the old term goes.
	if err := s.save(nil, []*raftpb.Entry{ent(3, 3, "c'")}, nil); err != nil {
		t.Fatal(err)
	}
	if err := s.setMeta(nodeMeta{Name: "a@h", ClusterID: "c", ID: 7}); err != nil {
		t.Fatal(err)
	}
	if _, err := openStorage(dir); !errors.Is(err, ErrStorage) {
		t.Errorf("second open of the same data_dir: %v, want ErrStorage (in use)", err)
	}
	s.close()

	s, err = openStorage(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer s.close()
	snap, gotHS, ents, err := s.load()
	if err != nil {
		t.Fatal(err)
	}
	if snap != nil || gotHS.GetTerm() != 2 || gotHS.GetVote() != 7 || gotHS.GetCommit() != 3 {
		t.Errorf("loaded snapshot %v, hard state %v", snap, gotHS)
	}
	if got := entryIndexes(ents); len(got) != 3 || got[2] != 3 || string(ents[2].GetData()) != "c'" || ents[2].GetTerm() != 3 {
		t.Errorf("entries %v (last %q), want 1 2 3 with the new term's 3", got, ents[len(ents)-1].GetData())
	}
	if m, err := s.meta(); err != nil || m.ID != 7 || m.Name != "a@h" {
		t.Errorf("meta %+v %v", m, err)
	}

	// A snapshot at 2 (received from a leader) and a compaction at 3.
	snapAt := func(i uint64) *raftpb.Snapshot {
		return &raftpb.Snapshot{Data: []byte(`{}`), Metadata: &raftpb.SnapshotMetadata{Index: new(i), Term: new(uint64(1)), ConfState: &raftpb.ConfState{Voters: []uint64{7}}}}
	}
	if err := s.save(nil, nil, snapAt(2)); err != nil {
		t.Fatal(err)
	}
	snap, _, ents, err = s.load()
	if err != nil {
		t.Fatal(err)
	}
	if snap.GetMetadata().GetIndex() != 2 || len(ents) != 1 || ents[0].GetIndex() != 3 || s.entryCount() != 1 {
		t.Errorf("after a snapshot at 2: snapshot %d, entries %v, stored %d", snap.GetMetadata().GetIndex(), entryIndexes(ents), s.entryCount())
	}
	if err := s.save(nil, []*raftpb.Entry{ent(3, 4, "e"), ent(3, 5, "f")}, nil); err != nil {
		t.Fatal(err)
	}
	if err := s.compact(snapAt(5), 4); err != nil {
		t.Fatal(err)
	}
	snap, _, ents, _ = s.load()
	if snap.GetMetadata().GetIndex() != 5 || len(ents) != 0 || s.entryCount() != 1 {
		t.Errorf("after compaction: snapshot %d, entries after it %v, stored %d (want 5, none, 1)", snap.GetMetadata().GetIndex(), entryIndexes(ents), s.entryCount())
	}
}

// TestReplicaCompactsLog: a single-node replica applying many claims keeps
// its stored log bounded by the snapshot interval, and a restart from the
// snapshot plus the tail rebuilds the same state.
func TestReplicaCompactsLog(t *testing.T) {
	dir := t.TempDir()
	st, err := openStorage(dir)
	if err != nil {
		t.Fatal(err)
	}
	cfg := replicaConfig{ID: 1, Store: st, Send: func([]*raftpb.Message) {}, Tick: 10 * time.Millisecond, ElectionTicks: 5, Logger: testLogger(),
		SnapshotEvery: 10, KeepEntries: 3,
		Bootstrap: &Command{Op: OpInit, ClusterID: "c", Member: &Member{Name: "a@h", ID: 1, Boot: "x"}}}
	r, err := startReplica(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx := testCtx(t)
	if err := waitLeader(ctx, r); err != nil {
		t.Fatal(err)
	}
	for i := range 55 {
		res, err := r.propose(ctx, &Command{Op: OpClaim, Channel: "ch" + string(rune('a'+i%26)) + string(rune('a'+i/26)), Node: "a@h", Epoch: 1})
		if err != nil || !res.Claimed {
			t.Fatalf("claim %d: %+v %v", i, res, err)
		}
	}
	if n := st.entryCount(); n > 15 {
		t.Errorf("%d entries stored after 57, want at most SnapshotEvery+a few", n)
	}
	var before []byte
	r.view(func(s *State) { before, _ = s.Marshal() })
	r.close()

	cfg.Bootstrap = nil
	r, err = startReplica(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { r.close(); st.close() }()
	if err := waitLeader(ctx, r); err != nil {
		t.Fatal(err)
	}
	if err := r.readIndex(ctx); err != nil {
		t.Fatal(err)
	}
	var after []byte
	r.view(func(s *State) { after, _ = s.Marshal() })
	if string(before) != string(after) {
		t.Errorf("state after restart differs:\n%s\nvs\n%s", before, after)
	}
}
