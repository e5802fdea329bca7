package cluster

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"go.etcd.io/raft/v3"
	"go.etcd.io/raft/v3/raftpb"
	"google.golang.org/protobuf/proto"
)

// fakeNet connects in-process replicas. Every message may be dropped
// (dropRate) and is delivered after a random delay below maxDelay; a cut
// node neither sends nor receives. The random source is seeded, so the
// decisions repeat (the timing of goroutines does not).
type fakeNet struct {
	mu       sync.Mutex
	rng      *rand.Rand
	nodes    map[uint64]*replica
	cut      map[uint64]bool
	dropRate float64
	maxDelay time.Duration
	closed   bool
	wg       sync.WaitGroup
	dropped  int
}

func newFakeNet(seed uint64) *fakeNet {
	return &fakeNet{rng: rand.New(rand.NewPCG(seed, 1)), nodes: map[uint64]*replica{}, cut: map[uint64]bool{}}
}

func (n *fakeNet) set(f func()) {
	n.mu.Lock()
	defer n.mu.Unlock()
	f()
}

// sender is the Send of replica from.
func (n *fakeNet) sender(from uint64) func([]*raftpb.Message) {
	return func(msgs []*raftpb.Message) {
		for _, m := range msgs {
			m := proto.CloneOf(m) // raft's message must not be read after Send returns
			to := m.GetTo()
			n.mu.Lock()
			dst := n.nodes[to]
			drop := n.closed || dst == nil || n.cut[from] || n.cut[to] || n.rng.Float64() < n.dropRate
			var delay time.Duration
			if n.maxDelay > 0 {
				delay = time.Duration(n.rng.Int64N(int64(n.maxDelay)))
			}
			if drop {
				n.dropped++
			} else {
				n.wg.Add(1)
			}
			src := n.nodes[from]
			n.mu.Unlock()
			if drop {
				if m.GetType() == raftpb.MsgSnap && src != nil {
					src.node.ReportSnapshot(to, raft.SnapshotFailure)
				}
				continue
			}
			time.AfterFunc(delay, func() {
				defer n.wg.Done()
				ctx, cancel := context.WithTimeout(context.Background(), time.Second)
				defer cancel()
				if err := dst.node.Step(ctx, m); err == nil && m.GetType() == raftpb.MsgSnap && src != nil {
					// As the HTTP transport does once the POST succeeded:
					// the leader stays paused until it hears this.
					src.node.ReportSnapshot(to, raft.SnapshotFinish)
				}
			})
		}
	}
}

func (n *fakeNet) close() {
	n.set(func() { n.closed = true })
	n.wg.Wait()
}

// faultCluster starts replica 1 as a new cluster and adds 2 and 3 through
// configuration changes, as JoinCluster does.
func faultCluster(t *testing.T, net *fakeNet) map[uint64]*replica {
	t.Helper()
	ctx := testCtx(t)
	reps := map[uint64]*replica{}
	start := func(id uint64, boot *Command) {
		st, err := openStorage(t.TempDir())
		if err != nil {
			t.Fatal(err)
		}
		r, err := startReplica(replicaConfig{
			ID: id, Store: st, Send: net.sender(id), Tick: 20 * time.Millisecond, ElectionTicks: 10,
			SnapshotEvery: 15, KeepEntries: 3, Repropose: 200 * time.Millisecond, Logger: testLogger().With("id", id), Bootstrap: boot,
		})
		if err != nil {
			t.Fatal(err)
		}
		net.set(func() { net.nodes[id] = r })
		reps[id] = r
		t.Cleanup(func() { r.close(); st.close() })
	}
	start(1, &Command{Op: OpInit, ClusterID: "fault", Member: &Member{Name: "n1@h", ID: 1, Boot: "1"}})
	if err := waitLeader(ctx, reps[1]); err != nil {
		t.Fatal(err)
	}
	for id := uint64(2); id <= 3; id++ {
		res, err := reps[1].proposeConf(ctx, raftpb.ConfChangeAddNode, id, &Command{Op: OpAdd, Member: &Member{Name: fmt.Sprintf("n%d@h", id), ID: id, Boot: "1"}})
		if err != nil || res.Err != nil {
			t.Fatalf("adding %d: %v %v", id, err, res.Err)
		}
		start(id, nil)
		if err := waitLeader(ctx, reps[id]); err != nil {
			t.Fatal(err)
		}
	}
	return reps
}

// ack is a claim a proposer was told succeeded.
type ack struct {
	channel string
	owner   Owner
}

// TestFaultDropsAndDelays runs the replicated state machine over a network
// that drops 20% of the raft messages and delays the rest up to 30 ms,
// cuts one node off and later the leader: every acknowledged claim
// survives, a contested channel gets exactly one owner that every claimer
// is told, the cut-off minority refuses writes, and all nodes converge on
// the same state (the cut-off node through a snapshot: the log is
// compacted every 15 entries).
func TestFaultDropsAndDelays(t *testing.T) {
	if testing.Short() {
		t.Skip("multi-second raft run")
	}
	net := newFakeNet(7)
	defer net.close()
	reps := faultCluster(t, net)
	ctx := testCtx(t)
	net.set(func() { net.dropRate, net.maxDelay = 0.2, 30*time.Millisecond })

	var mu sync.Mutex
	var acks []ack
	claim := func(ctx context.Context, r *replica, node string, channel string) (Result, error) {
		res, err := r.propose(ctx, &Command{Op: OpClaim, Channel: channel, Node: node, Epoch: 1})
		if err == nil && res.Claimed {
			mu.Lock()
			acks = append(acks, ack{channel, res.Owner})
			mu.Unlock()
		}
		return res, err
	}

	// 1. Every node claims its own channels and all three fight over one.
	var wg sync.WaitGroup
	contested := make([]Result, 4)
	for id := uint64(1); id <= 3; id++ {
		wg.Go(func() {
			node := fmt.Sprintf("n%d@h", id)
			res, err := claim(ctx, reps[id], node, "contested")
			if err != nil {
				t.Errorf("contested claim from %d: %v", id, err)
			}
			contested[id] = res
			for i := range 10 {
				if _, err := claim(ctx, reps[id], node, fmt.Sprintf("c%d-%d", id, i)); err != nil {
					t.Errorf("claim from %d: %v", id, err)
				}
			}
		})
	}
	wg.Wait()
	winners := 0
	for id := uint64(1); id <= 3; id++ {
		if contested[id].Claimed {
			winners++
		}
		if contested[id].Owner != contested[1].Owner {
			t.Errorf("claimers were told different owners: %v vs %v", contested[id].Owner, contested[1].Owner)
		}
	}
	if winners != 1 {
		t.Errorf("%d claims of one channel won, want 1", winners)
	}

	// 2. Cut node 3 off: it refuses writes; the majority goes on (and
	// compacts past what node 3 has).
	net.set(func() { net.cut[3] = true })
	short, cancel := context.WithTimeout(ctx, 1500*time.Millisecond)
	if _, err := reps[3].propose(short, &Command{Op: OpClaim, Channel: "minority", Node: "n3@h", Epoch: 1}); !errors.Is(err, ErrNoMajority) {
		t.Errorf("write on the cut-off node: %v, want ErrNoMajority", err)
	}
	if err := reps[3].readIndex(short); !errors.Is(err, ErrNoMajority) {
		t.Errorf("linearizable read on the cut-off node: %v, want ErrNoMajority", err)
	}
	cancel()
	for i := range 20 {
		if _, err := claim(ctx, reps[1+uint64(i%2)], fmt.Sprintf("n%d@h", 1+i%2), fmt.Sprintf("m%d", i)); err != nil {
			t.Fatalf("write on the majority: %v", err)
		}
	}

	// 3. Heal, then stop the leader: the other two elect one and accept a
	// write.
	net.set(func() { delete(net.cut, 3) })
	converge(t, ctx, reps)
	var leader uint64
	for id, r := range reps {
		if r.status().State == "leader" {
			leader = id
		}
	}
	if leader == 0 {
		t.Fatal("no leader after healing")
	}
	killed := time.Now()
	net.set(func() { net.cut[leader] = true })
	reps[leader].close()
	delete(reps, leader)
	for id, r := range reps {
		if _, err := claim(ctx, r, fmt.Sprintf("n%d@h", id), fmt.Sprintf("after-%d", id)); err != nil {
			t.Fatalf("write after the leader stopped: %v", err)
		}
	}
	t.Logf("leader %d stopped; writes accepted again after %v (20 ms ticks, election timeout 200-400 ms, 20%% loss)", leader, time.Since(killed).Round(time.Millisecond))
	converge(t, ctx, reps)

	// Nothing acknowledged is lost: each acknowledged claim is in the
	// state with its owner (none of these channels was released).
	for _, r := range reps {
		r.view(func(s *State) {
			for _, a := range acks {
				if got := s.Channels[a.channel]; got != a.owner {
					t.Errorf("acknowledged claim of %s by %v: state says %v", a.channel, a.owner, got)
				}
			}
		})
	}
	net.mu.Lock()
	t.Logf("%d acknowledged claims, %d raft messages dropped", len(acks), net.dropped)
	net.mu.Unlock()
}

// converge waits until every replica has applied the same log and holds
// the same state.
func converge(t *testing.T, ctx context.Context, reps map[uint64]*replica) {
	t.Helper()
	for _, r := range reps {
		if err := r.readIndex(ctx); err != nil {
			t.Fatalf("catching up: %v", err)
		}
	}
	for {
		var states []string
		for _, r := range reps {
			r.view(func(s *State) {
				b, _ := s.Marshal()
				states = append(states, string(b))
			})
		}
		same := true
		for _, s := range states[1:] {
			same = same && s == states[0]
		}
		if same {
			return
		}
		select {
		case <-ctx.Done():
			t.Fatalf("replicas did not converge:\n%v", states)
		case <-time.After(20 * time.Millisecond):
		}
	}
}
