package cluster

import (
	"encoding/json"
	"fmt"
	"maps"
)

// State is the replicated state machine: the cluster's members and the
// owner of every placed channel. Every node holds an identical copy built
// by applying the same commands in log order (Apply); nothing else changes
// it. Apply is pure and deterministic: it reads no clock, no randomness and
// no liveness, so a snapshot (its JSON) and a replay agree everywhere.
//
// A State is not safe for concurrent use; the replica guards its own.
type State struct {
	// ClusterID names the cluster; empty until the init command.
	ClusterID string `json:"cluster_id,omitempty"`
	// Members by node name.
	Members map[string]*Member `json:"members,omitempty"`
	// Purged maps the name of every purged node to the raft ID it had:
	// neither comes back.
	Purged map[string]uint64 `json:"purged,omitempty"`
	// Channels maps a channel_id to its owner.
	Channels map[string]Owner `json:"channels,omitempty"`
}

// Member is one node of the cluster.
type Member struct {
	Name string `json:"node_name"`
	// ID is the node's raft ID, unique for all time.
	ID uint64 `json:"id"`
	// Epoch counts the node's starts in the cluster: 1 when it joins, +1
	// each time it restarts with its data_dir.
	Epoch uint64 `json:"epoch"`
	// Boot is the nonce of the process start that set Epoch, so that a
	// start command applied twice bumps the epoch once.
	Boot         string  `json:"boot,omitempty"`
	SignalingURL string  `json:"external_signaling_url,omitempty"`
	APIURL       string  `json:"external_api_url,omitempty"`
	Version      string  `json:"version,omitempty"`
	License      License `json:"license"`
	// Since is when the node joined (RFC 3339, the proposer's clock).
	Since string `json:"member_since,omitempty"`
}

// License is what ListClusterNodes reports as license_* for a node.
type License struct {
	MaxNodes       int    `json:"max_nodes"`
	MaxConnections int    `json:"max_connections"`
	SerialCode     string `json:"serial_code,omitempty"`
	Type           string `json:"type,omitempty"`
}

// Owner is the node that owns a channel, with the epoch the node was in
// when it got it: a restarted node's old channels have an older epoch.
type Owner struct {
	Node  string `json:"node_name"`
	Epoch uint64 `json:"epoch"`
}

// Command ops.
const (
	OpInit    = "init"    // create the cluster with its first member
	OpAdd     = "add"     // a node joins (ConfChangeAddNode)
	OpStart   = "start"   // a member restarted: epoch+1
	OpRemove  = "remove"  // PurgeClusterNode (ConfChangeRemoveNode)
	OpClaim   = "claim"   // a node takes a channel (compare-and-set)
	OpRelease = "release" // the owner gives an empty channel back
)

// Command is one entry of the log (the data of a normal entry, or the
// context of a configuration change).
type Command struct {
	Op string `json:"op"`
	// Req identifies the proposal so that its proposer learns the result;
	// the state never depends on it.
	Req uint64 `json:"req,omitempty"`
	// ClusterID: init.
	ClusterID string `json:"cluster_id,omitempty"`
	// Member: init, add, start (Name, ID, Boot, URLs, version, license).
	Member *Member `json:"member,omitempty"`
	// Node: remove, claim, release. ID: remove.
	Node string `json:"node,omitempty"`
	ID   uint64 `json:"id,omitempty"`
	// Channel, Epoch (the claiming node's current epoch), Expect (the
	// owner the proposer saw; nil: none): claim, release.
	Channel string `json:"channel,omitempty"`
	Epoch   uint64 `json:"epoch,omitempty"`
	Expect  *Owner `json:"expect,omitempty"`
}

// Result is what applying a command did.
type Result struct {
	// Err is why the command changed nothing (a sentinel of this package);
	// nil when it applied or was a harmless duplicate.
	Err error
	// Noop: the command changed nothing (a duplicate, or refused).
	Noop bool
	// Owner and Claimed (claim): the channel's owner afterwards, and
	// whether it is the one claimed.
	Owner   Owner
	Claimed bool
}

// NewState returns the empty state of a node in no cluster.
func NewState() *State {
	return &State{Members: map[string]*Member{}, Purged: map[string]uint64{}, Channels: map[string]Owner{}}
}

// Clone returns a deep copy.
func (s *State) Clone() *State {
	c := &State{ClusterID: s.ClusterID, Members: make(map[string]*Member, len(s.Members)),
		Purged: maps.Clone(s.Purged), Channels: maps.Clone(s.Channels)}
	for k, m := range s.Members {
		mm := *m
		c.Members[k] = &mm
	}
	if c.Purged == nil {
		c.Purged = map[string]uint64{}
	}
	if c.Channels == nil {
		c.Channels = map[string]Owner{}
	}
	return c
}

// Marshal is the state's snapshot form (JSON, map keys sorted).
func (s *State) Marshal() ([]byte, error) { return json.Marshal(s) }

// UnmarshalState reads a snapshot written by Marshal.
func UnmarshalState(b []byte) (*State, error) {
	s := NewState()
	if len(b) == 0 {
		return s, nil
	}
	if err := json.Unmarshal(b, s); err != nil {
		return nil, fmt.Errorf("cluster: reading a state snapshot: %w", err)
	}
	if s.Members == nil {
		s.Members = map[string]*Member{}
	}
	if s.Purged == nil {
		s.Purged = map[string]uint64{}
	}
	if s.Channels == nil {
		s.Channels = map[string]Owner{}
	}
	for name, m := range s.Members {
		if m == nil {
			return nil, fmt.Errorf("cluster: reading a state snapshot: member %q is null", name)
		}
		m.Name = name
	}
	return s, nil
}

// MemberByID returns the member with raft ID id, or nil.
func (s *State) MemberByID(id uint64) *Member {
	for _, m := range s.Members {
		if m.ID == id {
			return m
		}
	}
	return nil
}

// idInUse reports whether id belongs to a member or a purged node.
func (s *State) idInUse(id uint64) bool {
	if s.MemberByID(id) != nil {
		return true
	}
	for _, pid := range s.Purged {
		if pid == id {
			return true
		}
	}
	return false
}

// OwnerValid reports whether o is a member's current incarnation: the
// member exists and has not restarted since it got the channel.
func (s *State) OwnerValid(o Owner) bool {
	m := s.Members[o.Node]
	return m != nil && m.Epoch == o.Epoch
}

func refused(err error) Result { return Result{Err: err, Noop: true} }

// Apply applies one command and reports what it did. It is deterministic:
// the same commands in the same order give the same State everywhere.
func (s *State) Apply(c *Command) Result {
	switch c.Op {
	case OpInit:
		return s.applyInit(c)
	case OpAdd:
		return s.applyAdd(c)
	case OpStart:
		return s.applyStart(c)
	case OpRemove:
		return s.applyRemove(c)
	case OpClaim:
		return s.applyClaim(c)
	case OpRelease:
		return s.applyRelease(c)
	}
	return refused(fmt.Errorf("%w: unknown op %q", ErrConfig, c.Op))
}

func (s *State) applyInit(c *Command) Result {
	if c.Member == nil || c.ClusterID == "" || c.Member.ID == 0 || c.Member.Name == "" {
		return refused(fmt.Errorf("%w: init without cluster ID or member", ErrConfig))
	}
	if s.ClusterID != "" {
		if m := s.Members[c.Member.Name]; s.ClusterID == c.ClusterID && m != nil && m.ID == c.Member.ID {
			return Result{Noop: true}
		}
		return refused(fmt.Errorf("%w: cluster %s exists", ErrAlreadyInCluster, s.ClusterID))
	}
	s.ClusterID = c.ClusterID
	s.addMember(c.Member)
	return Result{}
}

func (s *State) addMember(in *Member) {
	m := *in
	m.Epoch = 1
	s.Members[m.Name] = &m
}

func (s *State) applyAdd(c *Command) Result {
	if c.Member == nil || c.Member.ID == 0 || c.Member.Name == "" {
		return refused(fmt.Errorf("%w: add without member", ErrConfig))
	}
	name, id := c.Member.Name, c.Member.ID
	switch {
	case s.ClusterID == "":
		return refused(ErrNotInCluster)
	case c.ClusterID != "" && c.ClusterID != s.ClusterID:
		return refused(fmt.Errorf("%w: the node was asked to join cluster %s, this is %s", ErrAlreadyInCluster, c.ClusterID, s.ClusterID))
	}
	if _, ok := s.Purged[name]; ok {
		return refused(fmt.Errorf("%w: %s was purged from cluster %s; give the node a new name", ErrPurged, name, s.ClusterID))
	}
	if m := s.Members[name]; m != nil {
		if m.ID == id {
			return Result{Noop: true} // the same join proposed twice
		}
		return refused(fmt.Errorf("%w: %s is already a member of cluster %s (restart it with its data_dir, or purge it first)", ErrNameInUse, name, s.ClusterID))
	}
	if s.idInUse(id) {
		return refused(fmt.Errorf("%w: raft ID %x is taken", ErrNameInUse, id))
	}
	s.addMember(c.Member)
	return Result{}
}

func (s *State) applyStart(c *Command) Result {
	if c.Member == nil {
		return refused(fmt.Errorf("%w: start without member", ErrConfig))
	}
	m := s.Members[c.Member.Name]
	if m == nil || m.ID != c.Member.ID {
		if pid, ok := s.Purged[c.Member.Name]; ok && pid == c.Member.ID {
			return refused(fmt.Errorf("%w: %s", ErrPurged, c.Member.Name))
		}
		return refused(fmt.Errorf("%w: %s (raft ID %x)", ErrNodeNotFound, c.Member.Name, c.Member.ID))
	}
	if m.Boot == c.Member.Boot {
		return Result{Noop: true}
	}
	m.Epoch++
	m.Boot = c.Member.Boot
	m.SignalingURL, m.APIURL, m.Version, m.License = c.Member.SignalingURL, c.Member.APIURL, c.Member.Version, c.Member.License
	return Result{}
}

func (s *State) applyRemove(c *Command) Result {
	m := s.Members[c.Node]
	if m == nil || (c.ID != 0 && m.ID != c.ID) {
		return refused(fmt.Errorf("%w: %s", ErrNodeNotFound, c.Node))
	}
	delete(s.Members, c.Node)
	s.Purged[c.Node] = m.ID
	for ch, o := range s.Channels {
		if o.Node == c.Node {
			delete(s.Channels, ch)
		}
	}
	return Result{}
}

func (s *State) applyClaim(c *Command) Result {
	m := s.Members[c.Node]
	if m == nil {
		return refused(fmt.Errorf("%w: %s", ErrNodeNotFound, c.Node))
	}
	if m.Epoch != c.Epoch {
		return refused(fmt.Errorf("%w: %s is in epoch %d, the claim says %d", ErrStaleEpoch, c.Node, m.Epoch, c.Epoch))
	}
	want := Owner{Node: c.Node, Epoch: c.Epoch}
	cur, has := s.Channels[c.Channel]
	if has && cur == want {
		return Result{Noop: true, Owner: cur, Claimed: true}
	}
	if (c.Expect == nil && !has) || (c.Expect != nil && has && *c.Expect == cur) {
		s.Channels[c.Channel] = want
		return Result{Owner: want, Claimed: true}
	}
	// Someone else placed the channel first: the proposer learns the owner.
	return Result{Noop: true, Owner: cur}
}

func (s *State) applyRelease(c *Command) Result {
	cur, has := s.Channels[c.Channel]
	if !has || cur != (Owner{Node: c.Node, Epoch: c.Epoch}) {
		return Result{Noop: true, Owner: cur}
	}
	delete(s.Channels, c.Channel)
	return Result{}
}
