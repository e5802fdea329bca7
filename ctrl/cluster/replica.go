package cluster

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"go.etcd.io/raft/v3"
	"go.etcd.io/raft/v3/raftpb"
	"google.golang.org/protobuf/proto"
)

// Raft tuning that the Config does not expose.
const (
	maxSizePerMsg   = 1 << 20
	maxInflightMsgs = 256
	// reproposeEvery is replicaConfig.Repropose's default.
	reproposeEvery = time.Second
	// dropRetry is the pause after raft refused a proposal at once (no
	// leader known).
	dropRetry = 50 * time.Millisecond
)

// replicaConfig configures a replica.
type replicaConfig struct {
	ID    uint64
	Store *storage
	// Send hands the messages of one Ready to the transport. It is called
	// from the loop and must not block; it marshals before returning.
	Send          func(msgs []*raftpb.Message)
	Tick          time.Duration
	ElectionTicks int
	// SnapshotEvery applied entries the replica snapshots its state and
	// compacts the log, keeping KeepEntries for slow followers.
	SnapshotEvery uint64
	KeepEntries   uint64
	Logger        *slog.Logger
	// Bootstrap, when set, creates a new cluster whose first entry is this
	// init command; nil restarts from Store (which is empty for a node
	// that has just joined: the leader then sends it the log).
	Bootstrap *Command
	// OnApplied is called from the loop after a batch that applied
	// entries or a snapshot, with the state; it must not keep s nor block.
	OnApplied func(s *State)
	// Repropose is how long a proposal waits to be applied before it is
	// proposed again (raft may drop proposals without telling, e.g. across
	// a leader change; the state machine makes a repeat harmless); 0
	// means reproposeEvery.
	Repropose time.Duration
	// OnFail is called once when the replica stops because of err (a
	// storage failure).
	OnFail func(err error)
}

// replica runs one raft node: the Ready loop that persists, sends,
// applies and advances, the state machine it applies to, and the waiters
// of proposals and linearizable reads.
//
// The loop goroutine owns node's Ready handling, mem and the storage; the
// state is read by other goroutines under mu (read lock), written by the
// loop under mu. propose, readIndex and the getters may be called from any
// goroutine.
type replica struct {
	cfg   replicaConfig
	node  raft.Node
	mem   *raft.MemoryStorage
	store *storage
	log   *slog.Logger

	mu        sync.RWMutex
	st        *State
	applied   uint64
	appliedCh chan struct{} // closed and replaced whenever applied grows

	// Loop only.
	confState *raftpb.ConfState
	snapIndex uint64

	wmu     sync.Mutex
	waiters map[uint64]chan Result // by Command.Req
	reads   map[string]chan uint64 // by ReadIndex request context

	reqBase uint64
	reqSeq  atomic.Uint64

	lead            atomic.Uint64
	leadMu          sync.Mutex
	leadCh          chan struct{} // closed and replaced when the leader changes
	raftState       atomic.Uint64 // raft.StateType
	term, commit    atomic.Uint64
	leaderlessSince atomic.Int64 // unix nanos; 0 while a leader is known

	failMu sync.Mutex
	failed error

	stopOnce sync.Once
	stop     chan struct{}
	done     chan struct{}
}

func randUint64() uint64 {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return binary.BigEndian.Uint64(b[:])
}

// newNodeID returns a fresh raft ID (non-zero, below 2^63 so that it reads
// the same as a JSON number everywhere).
func newNodeID() uint64 {
	for {
		if id := randUint64() >> 1; id != 0 {
			return id
		}
	}
}

// startReplica loads the node's log from cfg.Store and starts its loop.
func startReplica(cfg replicaConfig) (*replica, error) {
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Repropose <= 0 {
		cfg.Repropose = reproposeEvery
	}
	r := &replica{
		cfg: cfg, mem: raft.NewMemoryStorage(), store: cfg.Store, log: cfg.Logger,
		st: NewState(), appliedCh: make(chan struct{}),
		confState: &raftpb.ConfState{},
		waiters:   map[uint64]chan Result{}, reads: map[string]chan uint64{},
		reqBase: randUint64() &^ 0xffffffff,
		leadCh:  make(chan struct{}),
		stop:    make(chan struct{}), done: make(chan struct{}),
	}
	snap, hs, ents, err := cfg.Store.load()
	if err != nil {
		return nil, err
	}
	if snap != nil && !raft.IsEmptySnap(snap) {
		if err := r.mem.ApplySnapshot(snap); err != nil {
			return nil, fmt.Errorf("%w: applying the stored snapshot: %w", ErrStorage, err)
		}
		st, err := UnmarshalState(snap.GetData())
		if err != nil {
			return nil, err
		}
		r.st = st
		r.confState = snap.GetMetadata().GetConfState()
		r.applied = snap.GetMetadata().GetIndex()
		r.snapIndex = r.applied
	}
	if hs != nil {
		if err := r.mem.SetHardState(hs); err != nil {
			return nil, fmt.Errorf("%w: %w", ErrStorage, err)
		}
		r.term.Store(hs.GetTerm())
		r.commit.Store(hs.GetCommit())
	}
	if err := r.mem.Append(ents); err != nil {
		return nil, fmt.Errorf("%w: replaying stored entries: %w", ErrStorage, err)
	}
	rc := &raft.Config{
		ID:                        cfg.ID,
		ElectionTick:              cfg.ElectionTicks,
		HeartbeatTick:             1,
		Storage:                   r.mem,
		Applied:                   r.applied,
		MaxSizePerMsg:             maxSizePerMsg,
		MaxInflightMsgs:           maxInflightMsgs,
		MaxUncommittedEntriesSize: 64 << 20,
		CheckQuorum:               true,
		PreVote:                   true,
		Logger:                    raftLogger{cfg.Logger.With("raft_id", fmt.Sprintf("%x", cfg.ID))},
	}
	r.leaderlessSince.Store(time.Now().UnixNano())
	if cfg.Bootstrap != nil {
		data, err := json.Marshal(cfg.Bootstrap)
		if err != nil {
			return nil, err
		}
		r.node = raft.StartNode(rc, []raft.Peer{{ID: cfg.ID, Context: data}})
	} else {
		r.node = raft.RestartNode(rc)
	}
	go r.run()
	return r, nil
}

// close stops the loop and the raft node and waits for them.
func (r *replica) close() {
	r.stopOnce.Do(func() { close(r.stop) })
	<-r.done
}

func (r *replica) run() {
	defer close(r.done)
	defer r.node.Stop()
	t := time.NewTicker(r.cfg.Tick)
	defer t.Stop()
	for {
		select {
		case <-t.C:
			r.node.Tick()
		case rd := <-r.node.Ready():
			if err := r.handle(rd); err != nil {
				r.fail(err)
				return
			}
			r.node.Advance()
		case <-r.stop:
			return
		}
	}
}

// handle processes one Ready in the order raft requires: persist (one
// bbolt transaction), send, apply, then (by the caller) Advance.
func (r *replica) handle(rd raft.Ready) error {
	if ss := rd.SoftState; ss != nil {
		r.raftState.Store(uint64(ss.RaftState))
		prev := r.lead.Swap(ss.Lead)
		switch {
		case ss.Lead == raft.None && prev != raft.None:
			r.leaderlessSince.Store(time.Now().UnixNano())
		case ss.Lead != raft.None:
			r.leaderlessSince.Store(0)
		}
		if prev != ss.Lead {
			// Waiting proposals and reads go to the new leader at once
			// rather than at their next retry.
			r.leadMu.Lock()
			close(r.leadCh)
			r.leadCh = make(chan struct{})
			r.leadMu.Unlock()
		}
	}
	hasHS := !raft.IsEmptyHardState(rd.HardState)
	hasSnap := !raft.IsEmptySnap(rd.Snapshot)
	// 1. Persist.
	if err := r.store.save(rd.HardState, rd.Entries, rd.Snapshot); err != nil {
		return err
	}
	if hasSnap {
		if err := r.mem.ApplySnapshot(rd.Snapshot); err != nil && !errors.Is(err, raft.ErrSnapOutOfDate) {
			return fmt.Errorf("%w: %w", ErrStorage, err)
		}
	}
	if hasHS {
		_ = r.mem.SetHardState(rd.HardState)
		r.term.Store(rd.HardState.GetTerm())
		r.commit.Store(rd.HardState.GetCommit())
	}
	if err := r.mem.Append(rd.Entries); err != nil {
		return fmt.Errorf("%w: %w", ErrStorage, err)
	}
	// 2. Send.
	if len(rd.Messages) > 0 {
		for _, m := range rd.Messages {
			if m.GetType() == raftpb.MsgSnap {
				// The snapshot's conf state may predate a later conf
				// change. The snapshot is shared with mem: change a copy.
				snap := proto.CloneOf(m.Snapshot)
				snap.Metadata.ConfState = r.confState
				m.Snapshot = snap
			}
		}
		r.cfg.Send(rd.Messages)
	}
	// 3. Apply.
	changed := false
	if hasSnap {
		if err := r.restore(rd.Snapshot); err != nil {
			return err
		}
		changed = true
	}
	if r.applyEntries(rd.CommittedEntries) {
		changed = true
	}
	for _, rs := range rd.ReadStates {
		r.wmu.Lock()
		ch := r.reads[string(rs.RequestCtx)]
		delete(r.reads, string(rs.RequestCtx))
		r.wmu.Unlock()
		if ch != nil {
			ch <- rs.Index // buffered
		}
	}
	if changed && r.cfg.OnApplied != nil {
		r.mu.RLock()
		r.cfg.OnApplied(r.st)
		r.mu.RUnlock()
	}
	return r.maybeSnapshot()
}

func (r *replica) restore(snap *raftpb.Snapshot) error {
	st, err := UnmarshalState(snap.GetData())
	if err != nil {
		return err
	}
	r.confState = snap.GetMetadata().GetConfState()
	r.snapIndex = snap.GetMetadata().GetIndex()
	r.mu.Lock()
	r.st = st
	r.setAppliedLocked(snap.GetMetadata().GetIndex())
	r.mu.Unlock()
	return nil
}

func (r *replica) setAppliedLocked(i uint64) {
	if i > r.applied {
		r.applied = i
		close(r.appliedCh)
		r.appliedCh = make(chan struct{})
	}
}

// applyEntries applies committed entries; it reports whether any was new.
func (r *replica) applyEntries(ents []*raftpb.Entry) bool {
	any := false
	for _, e := range ents {
		r.mu.RLock()
		applied := r.applied
		r.mu.RUnlock()
		if e.GetIndex() <= applied {
			continue
		}
		any = true
		var cmd *Command
		var res Result
		r.mu.Lock()
		switch e.GetType() {
		case raftpb.EntryNormal:
			if len(e.GetData()) > 0 {
				cmd = &Command{}
				if err := json.Unmarshal(e.GetData(), cmd); err != nil {
					r.log.Error("cluster: undecodable log entry skipped", "index", e.GetIndex(), "err", err)
					cmd = nil
				} else {
					res = r.st.Apply(cmd)
				}
			}
		case raftpb.EntryConfChange:
			var cc raftpb.ConfChange
			if err := proto.Unmarshal(e.GetData(), &cc); err != nil {
				r.log.Error("cluster: undecodable conf change skipped", "index", e.GetIndex(), "err", err)
				cc = raftpb.ConfChange{}
			}
			cmd = &Command{}
			if err := json.Unmarshal(cc.GetContext(), cmd); err != nil {
				res = refused(fmt.Errorf("%w: conf change without a command", ErrConfig))
				cmd = nil
			} else {
				res = r.st.Apply(cmd)
			}
			if res.Err != nil || res.Noop {
				// Cancel it in raft too: the decision rests on the state
				// machine alone, so every node cancels the same changes.
				cc.NodeId = new(uint64(0))
			}
			r.confState = r.node.ApplyConfChange(&cc)
		}
		r.setAppliedLocked(e.GetIndex())
		r.mu.Unlock()
		if cmd != nil && cmd.Req != 0 {
			r.wmu.Lock()
			ch := r.waiters[cmd.Req]
			delete(r.waiters, cmd.Req)
			r.wmu.Unlock()
			if ch != nil {
				ch <- res // buffered
			}
		}
	}
	return any
}

// maybeSnapshot snapshots the state and compacts the log every
// SnapshotEvery applied entries.
func (r *replica) maybeSnapshot() error {
	r.mu.RLock()
	applied := r.applied
	if applied-r.snapIndex < r.cfg.SnapshotEvery {
		r.mu.RUnlock()
		return nil
	}
	data, err := r.st.Marshal()
	r.mu.RUnlock()
	if err != nil {
		return err
	}
	snap, err := r.mem.CreateSnapshot(applied, r.confState, data)
	if err != nil {
		if errors.Is(err, raft.ErrSnapOutOfDate) {
			return nil
		}
		return fmt.Errorf("%w: %w", ErrStorage, err)
	}
	compact := uint64(0)
	if applied > r.cfg.KeepEntries {
		compact = applied - r.cfg.KeepEntries
	}
	if err := r.store.compact(snap, applied); err != nil {
		return err
	}
	if compact > 0 {
		if err := r.mem.Compact(compact); err != nil && !errors.Is(err, raft.ErrCompacted) {
			return fmt.Errorf("%w: %w", ErrStorage, err)
		}
	}
	r.snapIndex = applied
	r.log.Debug("cluster: snapshot", "index", applied, "compacted_to", compact)
	return nil
}

func (r *replica) fail(err error) {
	r.failMu.Lock()
	first := r.failed == nil
	if first {
		r.failed = err
	}
	r.failMu.Unlock()
	r.log.Error("cluster: raft stopped", "err", err)
	if first && r.cfg.OnFail != nil {
		r.cfg.OnFail(err)
	}
}

func (r *replica) err() error {
	r.failMu.Lock()
	defer r.failMu.Unlock()
	return r.failed
}

// alive reports whether the loop still runs.
func (r *replica) alive() error {
	select {
	case <-r.done:
		if err := r.err(); err != nil {
			return err
		}
		return ErrClosed
	default:
		return nil
	}
}

// noLeaderFor is how long the node has known no leader (0 when it knows one).
func (r *replica) noLeaderFor() time.Duration {
	since := r.leaderlessSince.Load()
	if since == 0 {
		return 0
	}
	return time.Since(time.Unix(0, since))
}

// leaderChanged is closed when the leader changes next.
func (r *replica) leaderChanged() <-chan struct{} {
	r.leadMu.Lock()
	defer r.leadMu.Unlock()
	return r.leadCh
}

func (r *replica) newReq() uint64 { return r.reqBase | (r.reqSeq.Add(1) & 0xffffffff) }

// propose commits cmd and returns what applying it did (on this node). A
// proposal that is not applied within Repropose is proposed again
// (with the same Req: the state machine treats repeats as no-ops) until
// ctx ends, which is ErrNoMajority.
func (r *replica) propose(ctx context.Context, cmd *Command) (Result, error) {
	return r.proposeWith(ctx, cmd, func(ctx context.Context, data []byte) error { return r.node.Propose(ctx, data) })
}

// proposeConf commits a configuration change carrying cmd.
func (r *replica) proposeConf(ctx context.Context, typ raftpb.ConfChangeType, nodeID uint64, cmd *Command) (Result, error) {
	return r.proposeWith(ctx, cmd, func(ctx context.Context, data []byte) error {
		return r.node.ProposeConfChange(ctx, &raftpb.ConfChange{Type: typ.Enum(), NodeId: new(nodeID), Context: data})
	})
}

func (r *replica) proposeWith(ctx context.Context, cmd *Command, submit func(context.Context, []byte) error) (Result, error) {
	if err := r.alive(); err != nil {
		return Result{}, err
	}
	cmd.Req = r.newReq()
	data, err := json.Marshal(cmd)
	if err != nil {
		return Result{}, err
	}
	ch := make(chan Result, 1)
	r.wmu.Lock()
	r.waiters[cmd.Req] = ch
	r.wmu.Unlock()
	defer func() {
		r.wmu.Lock()
		delete(r.waiters, cmd.Req)
		r.wmu.Unlock()
	}()
	for {
		wait := r.cfg.Repropose
		leader := r.leaderChanged()
		if err := submit(ctx, data); err != nil {
			if ctx.Err() != nil {
				return Result{}, r.noMajority(ctx, cmd.Op)
			}
			if errors.Is(err, raft.ErrStopped) {
				return Result{}, ErrClosed
			}
			wait = dropRetry // no leader yet: try again soon
		}
		t := time.NewTimer(wait)
		select {
		case res := <-ch:
			t.Stop()
			return res, nil
		case <-ctx.Done():
			t.Stop()
			return Result{}, r.noMajority(ctx, cmd.Op)
		case <-r.done:
			t.Stop()
			if err := r.alive(); err != nil {
				return Result{}, err
			}
			return Result{}, ErrClosed
		case <-t.C:
		case <-leader:
			t.Stop()
		}
	}
}

func (r *replica) noMajority(ctx context.Context, what string) error {
	if err := r.alive(); err != nil {
		return err
	}
	if r.lead.Load() == 0 {
		return fmt.Errorf("%w: %s not committed: no leader (fewer than a majority of the nodes answer)", ErrNoMajority, what)
	}
	return fmt.Errorf("%w: %s not committed: %w", ErrNoMajority, what, ctx.Err())
}

// readIndex returns once this node's state is at least as new as every
// write committed before the call: a majority confirmed the leader. It
// fails with ErrNoMajority when ctx ends first.
func (r *replica) readIndex(ctx context.Context) error {
	if err := r.alive(); err != nil {
		return err
	}
	var key [8]byte
	binary.BigEndian.PutUint64(key[:], r.newReq())
	ch := make(chan uint64, 1)
	r.wmu.Lock()
	r.reads[string(key[:])] = ch
	r.wmu.Unlock()
	defer func() {
		r.wmu.Lock()
		delete(r.reads, string(key[:]))
		r.wmu.Unlock()
	}()
	var index uint64
wait:
	for {
		wait := r.cfg.Repropose
		leader := r.leaderChanged()
		if err := r.node.ReadIndex(ctx, key[:]); err != nil {
			if ctx.Err() != nil {
				return r.noMajority(ctx, "read")
			}
			wait = dropRetry
		}
		t := time.NewTimer(wait)
		select {
		case index = <-ch:
			t.Stop()
			break wait
		case <-ctx.Done():
			t.Stop()
			return r.noMajority(ctx, "read")
		case <-r.done:
			t.Stop()
			return ErrClosed
		case <-t.C:
		case <-leader:
			t.Stop()
		}
	}
	return r.waitApplied(ctx, index)
}

// waitApplied waits until the state has applied index.
func (r *replica) waitApplied(ctx context.Context, index uint64) error {
	for {
		r.mu.RLock()
		applied, ch := r.applied, r.appliedCh
		r.mu.RUnlock()
		if applied >= index {
			return nil
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return r.noMajority(ctx, "catching up")
		case <-r.done:
			return ErrClosed
		}
	}
}

// view runs fn with the state under the read lock; fn must not keep s.
func (r *replica) view(fn func(s *State)) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	fn(r.st)
}

// RaftStatus is GetStatsReport's cluster block.
type RaftStatus struct {
	// State is follower, candidate (pre-candidate included) or leader.
	State       string `json:"raft_state"`
	Term        uint64 `json:"raft_term"`
	CommitIndex uint64 `json:"raft_commit_index"`
}

func (r *replica) status() RaftStatus {
	st := "follower"
	switch raft.StateType(r.raftState.Load()) {
	case raft.StateLeader:
		st = "leader"
	case raft.StateCandidate, raft.StatePreCandidate:
		st = "candidate"
	}
	return RaftStatus{State: st, Term: r.term.Load(), CommitIndex: r.commit.Load()}
}

// raftLogger sends raft's log to slog. raft logs every election at info;
// they are kept at info (they are rare and an operator wants them).
type raftLogger struct{ l *slog.Logger }

func (g raftLogger) Debug(v ...any)                 { g.l.Debug(fmt.Sprint(v...)) }
func (g raftLogger) Debugf(format string, v ...any) { g.l.Debug(fmt.Sprintf(format, v...)) }
func (g raftLogger) Info(v ...any)                  { g.l.Info(fmt.Sprint(v...)) }
func (g raftLogger) Infof(format string, v ...any)  { g.l.Info(fmt.Sprintf(format, v...)) }
func (g raftLogger) Warning(v ...any)               { g.l.Warn(fmt.Sprint(v...)) }
func (g raftLogger) Warningf(format string, v ...any) {
	g.l.Warn(fmt.Sprintf(format, v...))
}
func (g raftLogger) Error(v ...any)                 { g.l.Error(fmt.Sprint(v...)) }
func (g raftLogger) Errorf(format string, v ...any) { g.l.Error(fmt.Sprintf(format, v...)) }
func (g raftLogger) Fatal(v ...any)                 { g.l.Error(fmt.Sprint(v...)); panic(fmt.Sprint(v...)) }
func (g raftLogger) Fatalf(format string, v ...any) {
	s := fmt.Sprintf(format, v...)
	g.l.Error(s)
	panic(s)
}
func (g raftLogger) Panic(v ...any) { panic(fmt.Sprint(v...)) }
func (g raftLogger) Panicf(format string, v ...any) {
	panic(fmt.Sprintf(format, v...))
}
