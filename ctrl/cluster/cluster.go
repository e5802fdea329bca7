package cluster

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.etcd.io/raft/v3/raftpb"
)

// DefaultPort is cluster_port's default.
const DefaultPort = 5100

// Config configures a Cluster. The zero value of each optional field is
// documented.
type Config struct {
	// NodeName is this node's name, "name@host" or "name@host:port"
	// (required). Other nodes reach its cluster listener at host:Port, or
	// at the port in the name.
	NodeName string
	// Port is cluster_port, the listener port of every node whose name
	// carries none; 0 means DefaultPort.
	Port int
	// ListenAddress is the address the cluster listener binds; the zero
	// value means the host of NodeName when it is an IP address, else
	// 0.0.0.0.
	ListenAddress netip.Addr
	// Listener, when set, is used instead of binding one (tests); the
	// Cluster closes it.
	Listener net.Listener
	// DataDir holds the raft log (cluster.db); required.
	DataDir string
	// ContactNodeNames: when this node is in no cluster yet, it tries to
	// join through them (in order, every 2 s) until one accepts it.
	ContactNodeNames []string
	// SignalingURL and APIURL are this node's external_signaling_url and
	// external_api_url (required): where redirect sends clients and what
	// ListClusterNodes lists.
	SignalingURL, APIURL string
	// Version is the server version ListClusterNodes lists.
	Version string
	// License is what ListClusterNodes lists as license_*; MaxConnections
	// also bounds what placement gives this node.
	License License
	// CallLocal runs an API operation on this node alone (api.CallLocal);
	// forwarded operations from other nodes and the cluster-wide
	// ListChannels use it. Required.
	CallLocal func(target string, body []byte) (status int, response []byte)
	// Local reports this node's mode, connections and channels (with their
	// connection counts); nil means a normal node with none.
	Local func() Local
	// Logger; nil means slog.Default().
	Logger *slog.Logger
	// Registerer receives the hayate_cluster_* metrics; nil registers none.
	Registerer prometheus.Registerer
	// Timing; zero fields take their defaults.
	Timing Timing
}

// Local is what the node reports about itself for placement.
type Local struct {
	// Mode is the API mode: normal, block_new_session or
	// block_new_connection; empty means normal.
	Mode        string
	Connections int
	// Channels maps each channel_id with connections on this node to
	// their number.
	Channels map[string]int
}

// Timing holds the cluster's clocks. Zero fields take the defaults in
// brackets.
type Timing struct {
	// Tick is raft's clock tick [100ms]; a leader sends heartbeats every
	// tick, and ElectionTicks ticks [10] without one start an election
	// (randomised to 1-2 times that).
	Tick          time.Duration
	ElectionTicks int
	// PingInterval between liveness pings to each node [500ms]; a node
	// not heard from for LiveTimeout [2s] is disconnected.
	PingInterval, LiveTimeout time.Duration
	// ProposeTimeout bounds an API write (join, purge) [5s]; PlaceTimeout
	// bounds the placement of one connect [3s].
	ProposeTimeout, PlaceTimeout time.Duration
	// ReleaseAfter: a channel this node owns without a connection for
	// that long is given back [30s]; the janitor looks every JanitorEvery
	// [5s].
	ReleaseAfter, JanitorEvery time.Duration
	// SnapshotEvery applied entries the log is compacted [1000], keeping
	// KeepEntries [500] for slow followers.
	SnapshotEvery, KeepEntries uint64
}

func (t *Timing) fill() {
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	def(&t.Tick, 100*time.Millisecond)
	if t.ElectionTicks <= 1 {
		t.ElectionTicks = 10
	}
	def(&t.PingInterval, 500*time.Millisecond)
	def(&t.LiveTimeout, 2*time.Second)
	def(&t.ProposeTimeout, 5*time.Second)
	def(&t.PlaceTimeout, 3*time.Second)
	def(&t.ReleaseAfter, 30*time.Second)
	def(&t.JanitorEvery, 5*time.Second)
	if t.SnapshotEvery == 0 {
		t.SnapshotEvery = 1000
	}
	if t.KeepEntries == 0 {
		t.KeepEntries = 500
	}
}

// autoJoinEvery is the pause between rounds of joining through
// Config.ContactNodeNames, and between attempts to commit a restart.
const autoJoinEvery = 2 * time.Second

// Cluster is this node's part of the cluster: its raft replica, the
// cluster listener, liveness of the other nodes and the cluster's API
// operations. See the package doc.
type Cluster struct {
	cfg    Config
	t      Timing
	log    *slog.Logger
	store  *storage
	client *http.Client
	ln     net.Listener
	srv    *http.Server
	tr     *transport
	boot   string // nonce of this process start
	m      *metrics

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	opMu sync.Mutex // serialises InitCluster and JoinCluster on this node

	mu     sync.Mutex
	meta   nodeMeta
	rep    *replica // nil while in no cluster
	purged bool
	joinID uint64 // the raft ID offered while joining, kept across retries

	liveMu sync.Mutex
	live   map[string]peerInfo // by node name

	janMu      sync.Mutex
	placed     map[string]time.Time // channel → when Place last chose this node
	emptySince map[string]time.Time

	closeOnce sync.Once
}

// peerInfo is what the last ping exchange told about a node.
type peerInfo struct {
	seen time.Time
	ping pingMsg
}

// pingMsg is the body of a ping and of its answer.
type pingMsg struct {
	ClusterID   string `json:"cluster_id,omitempty"`
	Name        string `json:"node_name"`
	ID          uint64 `json:"id,omitempty"`
	Epoch       uint64 `json:"epoch,omitempty"`
	Ready       bool   `json:"ready"`
	Mode        string `json:"mode,omitempty"`
	Connections int    `json:"connections"`
}

// joinRequest is what a joining node sends its contact.
type joinRequest struct {
	// ClusterID, when set (an InitCluster invitation), is the cluster the
	// node means to join.
	ClusterID string  `json:"cluster_id,omitempty"`
	Member    *Member `json:"member"`
}

// joinAnswer is the contact's answer: the cluster and its members.
type joinAnswer struct {
	ClusterID string       `json:"cluster_id"`
	Members   []memberAddr `json:"members"`
}

type memberAddr struct {
	Name string `json:"node_name"`
	ID   uint64 `json:"id"`
}

// inviteRequest asks a node listed in InitCluster to join through Contact.
type inviteRequest struct {
	Contact   string `json:"contact_node_name"`
	ClusterID string `json:"cluster_id"`
}

// New opens DataDir, binds the cluster listener and starts serving. A node
// whose DataDir holds a membership restarts its replica and commits its
// return (epoch+1) in the background; a node in no cluster waits for
// InitCluster or JoinCluster, or joins through ContactNodeNames.
func New(cfg Config) (_ *Cluster, err error) {
	if _, _, err := splitNodeName(cfg.NodeName); err != nil {
		return nil, fmt.Errorf("%w: node_name: %w", ErrConfig, err)
	}
	for _, n := range cfg.ContactNodeNames {
		if _, _, err := splitNodeName(n); err != nil {
			return nil, fmt.Errorf("%w: contact_node_name_list: %w", ErrConfig, err)
		}
	}
	switch {
	case cfg.DataDir == "":
		return nil, fmt.Errorf("%w: data_dir is empty", ErrConfig)
	case cfg.CallLocal == nil:
		return nil, fmt.Errorf("%w: CallLocal is nil", ErrConfig)
	case cfg.SignalingURL == "" || cfg.APIURL == "":
		return nil, fmt.Errorf("%w: the external signaling and API URLs are required", ErrConfig)
	case cfg.Port < 0 || cfg.Port > 65535:
		return nil, fmt.Errorf("%w: cluster_port %d", ErrConfig, cfg.Port)
	}
	if cfg.Port == 0 {
		cfg.Port = DefaultPort
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Local == nil {
		cfg.Local = func() Local { return Local{Mode: "normal"} }
	}
	cfg.Timing.fill()
	c := &Cluster{
		cfg: cfg, t: cfg.Timing, log: cfg.Logger, client: newHTTPClient(),
		boot: hex.EncodeToString(binaryID()), live: map[string]peerInfo{},
		placed: map[string]time.Time{}, emptySince: map[string]time.Time{},
	}
	c.ctx, c.cancel = context.WithCancel(context.Background())
	var undo []func()
	defer func() {
		if err != nil {
			c.cancel()
			for i := len(undo) - 1; i >= 0; i-- {
				undo[i]()
			}
		}
	}()
	if c.store, err = openStorage(cfg.DataDir); err != nil {
		return nil, err
	}
	undo = append(undo, func() { c.store.close() })
	if c.meta, err = c.store.meta(); err != nil {
		return nil, err
	}
	if c.meta.Name != "" && c.meta.Name != cfg.NodeName {
		return nil, fmt.Errorf("%w: data_dir %s belongs to node %s, not %s", ErrConfig, cfg.DataDir, c.meta.Name, cfg.NodeName)
	}
	c.ln = cfg.Listener
	if c.ln == nil {
		addr, err := c.listenAddr()
		if err != nil {
			return nil, err
		}
		if c.ln, err = net.Listen("tcp", addr); err != nil {
			return nil, fmt.Errorf("cluster: listener: %w", err)
		}
	}
	undo = append(undo, func() { c.ln.Close() })
	if c.m, err = newMetrics(cfg.Registerer, c); err != nil {
		return nil, err
	}
	c.tr = newTransport(transportConfig{
		Client: c.client, Logger: c.log,
		ClusterID:    func() string { c.mu.Lock(); defer c.mu.Unlock(); return c.meta.ClusterID },
		Gone:         c.markPurged,
		Dropped:      func(reason string, n int) { c.m.dropped.WithLabelValues(reason).Add(float64(n)) },
		PingInterval: c.t.PingInterval, Ping: c.pingBody, Pong: c.pong,
	})
	undo = append(undo, c.tr.close)
	mux := http.NewServeMux()
	mux.HandleFunc("POST "+pathRaft, c.serveRaft)
	mux.HandleFunc("POST "+pathPing, c.servePing)
	mux.HandleFunc("POST "+pathJoin, c.serveJoin)
	mux.HandleFunc("POST "+pathInvite, c.serveInvite)
	mux.HandleFunc("POST "+pathAPI, c.serveAPI)
	c.srv = &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second,
		ErrorLog: slog.NewLogLogger(c.log.Handler(), slog.LevelWarn)}
	if c.meta.ID != 0 {
		c.tr.cfg.Self = c.meta.ID
		if err := c.startReplica(nil); err != nil {
			return nil, err
		}
		c.goRun(c.rejoin)
	} else if len(cfg.ContactNodeNames) > 0 {
		c.goRun(c.autoJoin)
	}
	c.goRun(func() {
		if err := c.srv.Serve(c.ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			c.log.Error("cluster: listener stopped", "err", err)
		}
	})
	c.goRun(c.janitor)
	c.log.Info("cluster: listening", "node_name", cfg.NodeName, "addr", c.ln.Addr().String(), "cluster_id", c.meta.ClusterID)
	return c, nil
}

func binaryID() []byte {
	var b [8]byte
	for i, v := 0, randUint64(); i < 8; i++ {
		b[i] = byte(v >> (8 * i))
	}
	return b[:]
}

// listenAddr is where the cluster listener binds.
func (c *Cluster) listenAddr() (string, error) {
	host, port, err := splitNodeName(c.cfg.NodeName)
	if err != nil {
		return "", err
	}
	if port == 0 {
		port = c.cfg.Port
	}
	ip := c.cfg.ListenAddress
	if !ip.IsValid() {
		if a, err := netip.ParseAddr(host); err == nil {
			ip = a
		} else {
			ip = netip.IPv4Unspecified()
		}
	}
	return netip.AddrPortFrom(ip, uint16(port)).String(), nil
}

// Addr is the cluster listener's address.
func (c *Cluster) Addr() net.Addr { return c.ln.Addr() }

// NodeName is this node's name.
func (c *Cluster) NodeName() string { return c.cfg.NodeName }

func (c *Cluster) goRun(fn func()) {
	c.wg.Add(1)
	go func() {
		defer c.wg.Done()
		fn()
	}()
}

// Close stops the node's part of the cluster: the loops, the listener, the
// peers and the replica, and closes the data file. The node stays a member
// (connected: false for the others) until it comes back or is purged.
func (c *Cluster) Close() error {
	var err error
	c.closeOnce.Do(func() {
		c.cancel()
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		if e := c.srv.Shutdown(ctx); e != nil {
			c.srv.Close()
		}
		cancel()
		c.tr.close()
		c.mu.Lock()
		rep := c.rep
		c.mu.Unlock()
		if rep != nil {
			rep.close()
		}
		c.wg.Wait()
		err = c.store.close()
		c.client.CloseIdleConnections()
	})
	return err
}

// startReplica starts the raft replica of this node (meta.ID set).
func (c *Cluster) startReplica(bootstrap *Command) error {
	c.mu.Lock()
	id := c.meta.ID
	c.mu.Unlock()
	rep, err := startReplica(replicaConfig{
		ID: id, Store: c.store, Send: c.tr.Send,
		Tick: c.t.Tick, ElectionTicks: c.t.ElectionTicks,
		SnapshotEvery: c.t.SnapshotEvery, KeepEntries: c.t.KeepEntries,
		Logger: c.log, Bootstrap: bootstrap,
		OnApplied: c.applied,
		OnFail: func(err error) {
			c.log.Error("cluster: this node stops taking part in the cluster and refuses new sessions", "err", err)
		},
	})
	if err != nil {
		return err
	}
	c.tr.setReporter(rep.node)
	c.mu.Lock()
	c.rep = rep
	c.mu.Unlock()
	rep.view(c.applied)
	return nil
}

// applied follows the state after the replica applied entries: the
// transport's peers are the members, and a node that finds itself purged
// stops.
func (c *Cluster) applied(s *State) {
	c.mu.Lock()
	self := c.meta
	c.mu.Unlock()
	if len(s.Members) == 0 {
		return // a joining node that has not received the log yet: keep the contact's list
	}
	peers := make(map[uint64]string, len(s.Members))
	for name, m := range s.Members {
		if m.ID != self.ID {
			peers[m.ID] = name
		}
	}
	c.tr.setPeers(peers, c.addrOf)
	if id, ok := s.Purged[self.Name]; ok && id == self.ID {
		c.goRun(c.markPurged) // it closes the replica: not from its loop
	}
}

// addrOf is the cluster listener address of a node ("" when its name is
// unusable).
func (c *Cluster) addrOf(name string) string {
	a, err := nodeAddr(name, c.cfg.Port)
	if err != nil {
		c.log.Warn("cluster: unusable node name", "node_name", name, "err", err)
		return ""
	}
	return a
}

// markPurged records that this node was purged: it takes no further part
// and refuses every cluster operation and new session.
func (c *Cluster) markPurged() {
	c.mu.Lock()
	if c.purged {
		c.mu.Unlock()
		return
	}
	c.purged = true
	rep := c.rep
	c.mu.Unlock()
	c.log.Error("cluster: this node was purged from the cluster; it refuses new sessions (start it under a new node_name with an empty data_dir to add it again)")
	if rep != nil {
		c.goRun(rep.close)
	}
}

// replica returns the running replica, or why there is none.
func (c *Cluster) replica() (*replica, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	switch {
	case c.purged:
		return nil, fmt.Errorf("%w: %s was purged from cluster %s", ErrPurged, c.meta.Name, c.meta.ClusterID)
	case c.rep == nil:
		return nil, fmt.Errorf("%w: %s is in no cluster (InitCluster or JoinCluster first)", ErrNotInCluster, c.cfg.NodeName)
	}
	if err := c.rep.alive(); err != nil {
		return nil, err
	}
	return c.rep, nil
}

// member returns a copy of this node's entry (nil when absent).
func (c *Cluster) self(rep *replica) *Member {
	var out *Member
	rep.view(func(s *State) {
		if m := s.Members[c.cfg.NodeName]; m != nil {
			mm := *m
			out = &mm
		}
	})
	return out
}

// ready reports whether this node runs its current epoch: its join or
// restart of this process start is committed.
func (c *Cluster) ready(rep *replica) bool {
	m := c.self(rep)
	return m != nil && m.Boot == c.boot
}

// template is this node's member entry as it offers it.
func (c *Cluster) template(id uint64) *Member {
	return &Member{
		Name: c.cfg.NodeName, ID: id, Boot: c.boot,
		SignalingURL: c.cfg.SignalingURL, APIURL: c.cfg.APIURL,
		Version: c.cfg.Version, License: c.cfg.License,
		Since: time.Now().UTC().Format(time.RFC3339Nano),
	}
}

// rejoin commits this process start (epoch+1) after a restart, retrying
// until it is committed, the node turns out purged, or Close.
func (c *Cluster) rejoin() {
	for attempt := 0; ; attempt++ {
		rep, err := c.replica()
		if err != nil {
			return
		}
		ctx, cancel := context.WithTimeout(c.ctx, c.t.ProposeTimeout)
		c.mu.Lock()
		id := c.meta.ID
		c.mu.Unlock()
		res, err := rep.propose(ctx, &Command{Op: OpStart, Member: c.template(id)})
		cancel()
		switch {
		case err == nil && res.Err == nil:
			m := c.self(rep)
			if m != nil {
				c.log.Info("cluster: rejoined", "node_name", c.cfg.NodeName, "epoch", m.Epoch)
			}
			return
		case err == nil && (errors.Is(res.Err, ErrPurged) || errors.Is(res.Err, ErrNodeNotFound)):
			c.markPurged()
			return
		case err == nil:
			c.log.Error("cluster: restart refused", "err", res.Err)
			return
		}
		if attempt%5 == 0 {
			c.log.Warn("cluster: cannot commit this restart yet; new sessions are refused until a majority answers", "err", err)
		}
		select {
		case <-c.ctx.Done():
			return
		case <-time.After(autoJoinEvery):
		}
	}
}

// autoJoin joins through ContactNodeNames, one round every autoJoinEvery,
// until a contact accepts this node, the refusal is final, or Close.
func (c *Cluster) autoJoin() {
	for round := 0; ; round++ {
		for _, contact := range c.cfg.ContactNodeNames {
			if contact == c.cfg.NodeName {
				continue
			}
			ctx, cancel := context.WithTimeout(c.ctx, 2*c.t.ProposeTimeout)
			_, err := c.join(ctx, contact, "")
			cancel()
			switch {
			case err == nil, errors.Is(err, ErrAlreadyInCluster):
				return
			case errors.Is(err, ErrPurged), errors.Is(err, ErrNameInUse):
				c.log.Error("cluster: cannot join", "contact_node_name", contact, "err", err)
				return
			}
			if round%5 == 0 {
				c.log.Info("cluster: join through contact failed; retrying", "contact_node_name", contact, "err", err)
			}
		}
		select {
		case <-c.ctx.Done():
			return
		case <-time.After(autoJoinEvery):
		}
	}
}

// initCluster creates a cluster of names (which include this node): this
// node bootstraps it alone, then invites the others one at a time.
func (c *Cluster) initCluster(ctx context.Context, names []string) ([]string, error) {
	c.opMu.Lock()
	defer c.opMu.Unlock()
	if err := c.notInCluster(); err != nil {
		return nil, err
	}
	id := newNodeID()
	clusterID := hex.EncodeToString(binaryID())
	c.mu.Lock()
	c.meta = nodeMeta{Name: c.cfg.NodeName, ClusterID: clusterID, ID: id}
	meta := c.meta
	c.mu.Unlock()
	if err := c.store.setMeta(meta); err != nil {
		return nil, err
	}
	c.tr.cfg.Self = id
	if err := c.startReplica(&Command{Op: OpInit, ClusterID: clusterID, Member: c.template(id)}); err != nil {
		return nil, err
	}
	rep, err := c.replica()
	if err != nil {
		return nil, err
	}
	if err := c.waitReady(ctx, rep); err != nil {
		return nil, err
	}
	// Alone: lead at once instead of after an election timeout (raft
	// refuses to campaign before the bootstrap entries are applied).
	_ = rep.node.Campaign(ctx)
	for rep.lead.Load() != id {
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("%w: this node did not become the leader of its new cluster", ErrNoMajority)
		case <-time.After(10 * time.Millisecond):
		}
	}
	c.log.Info("cluster: initialised", "cluster_id", clusterID, "node_name", c.cfg.NodeName)
	var failed []string
	var firstErr error
	for _, name := range names {
		if name == c.cfg.NodeName {
			continue
		}
		if err := c.invite(ctx, name, clusterID); err != nil {
			c.log.Warn("cluster: a node of InitCluster did not join", "node_name", name, "err", err)
			failed = append(failed, name)
			if firstErr == nil {
				firstErr = err
			}
		}
	}
	if len(failed) > 0 {
		e := toAPIError(firstErr, errorReason{})
		e.Reason = errorReason{ClusterID: clusterID, NodeName: failed[0],
			Message: fmt.Sprintf("cluster %s was created, but %s did not join (%s); start them and call JoinCluster on each", clusterID, strings.Join(failed, ", "), e.Reason.Message)}
		return nil, e
	}
	return c.memberNames(rep), nil
}

func (c *Cluster) invite(ctx context.Context, name, clusterID string) error {
	addr, err := nodeAddr(name, c.cfg.Port)
	if err != nil {
		return err
	}
	body, _ := json.Marshal(inviteRequest{Contact: c.cfg.NodeName, ClusterID: clusterID})
	ictx, cancel := context.WithTimeout(ctx, 3*c.t.ProposeTimeout)
	defer cancel()
	status, ans, err := call(ictx, c.client, "http://"+addr+pathInvite, nil, body)
	if err != nil {
		return fmt.Errorf("%w: %s: %w", ErrUnreachable, name, err)
	}
	if status != http.StatusOK {
		return decodeAPIError(status, ans)
	}
	return nil
}

// notInCluster refuses to init or join a node that is in a cluster.
func (c *Cluster) notInCluster() error {
	c.mu.Lock()
	purged, rep, meta := c.purged, c.rep, c.meta
	c.mu.Unlock()
	if purged {
		return fmt.Errorf("%w: %s was purged from cluster %s", ErrPurged, meta.Name, meta.ClusterID)
	}
	if rep == nil {
		return nil
	}
	names := c.memberNames(rep)
	return &apiError{Status: http.StatusBadRequest, Type: TypeAlreadyInCluster, Reason: errorReason{
		ClusterID: meta.ClusterID,
		Message: fmt.Sprintf("%s is already in cluster %s (nodes: %s); InitCluster is needed once per cluster, and JoinCluster only on a node in no cluster",
			c.cfg.NodeName, meta.ClusterID, strings.Join(names, ", ")),
	}}
}

// join asks contact to add this node; on success the replica starts and
// join waits until it has caught up with its own membership. clusterID,
// when set, is the cluster this node was invited to: being in it already
// is success.
func (c *Cluster) join(ctx context.Context, contact, clusterID string) ([]string, error) {
	c.opMu.Lock()
	defer c.opMu.Unlock()
	if err := c.notInCluster(); err != nil {
		c.mu.Lock()
		same := clusterID != "" && c.meta.ClusterID == clusterID && c.rep != nil
		rep := c.rep
		c.mu.Unlock()
		if same {
			return c.memberNames(rep), nil
		}
		return nil, err
	}
	if contact == c.cfg.NodeName {
		return nil, &apiError{Status: http.StatusBadRequest, Type: TypeInvalidValue, Reason: errorReason{Key: "contact_node_name", ContactNode: contact,
			Message: "contact_node_name names this node; name a node of the cluster to join"}}
	}
	addr, err := nodeAddr(contact, c.cfg.Port)
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	if c.joinID == 0 {
		c.joinID = newNodeID()
	}
	id := c.joinID
	c.mu.Unlock()
	body, _ := json.Marshal(joinRequest{ClusterID: clusterID, Member: c.template(id)})
	status, ansBody, err := call(ctx, c.client, "http://"+addr+pathJoin, nil, body)
	if err != nil {
		return nil, fmt.Errorf("%w: contact node %s: %w", ErrUnreachable, contact, err)
	}
	if status != http.StatusOK {
		return nil, decodeAPIError(status, ansBody)
	}
	var ans joinAnswer
	if err := json.Unmarshal(ansBody, &ans); err != nil || ans.ClusterID == "" {
		return nil, fmt.Errorf("%w: contact node %s answered the join with %.100q", ErrUnreachable, contact, ansBody)
	}
	c.mu.Lock()
	c.meta = nodeMeta{Name: c.cfg.NodeName, ClusterID: ans.ClusterID, ID: id}
	meta := c.meta
	c.mu.Unlock()
	if err := c.store.setMeta(meta); err != nil {
		return nil, err
	}
	c.tr.cfg.Self = id
	peers := map[uint64]string{}
	for _, m := range ans.Members {
		peers[m.ID] = m.Name
	}
	c.tr.setPeers(peers, c.addrOf)
	if err := c.startReplica(nil); err != nil {
		return nil, err
	}
	rep, err := c.replica()
	if err != nil {
		return nil, err
	}
	if err := c.waitReady(ctx, rep); err != nil {
		return nil, err
	}
	c.log.Info("cluster: joined", "cluster_id", ans.ClusterID, "node_name", c.cfg.NodeName, "contact_node_name", contact)
	return c.memberNames(rep), nil
}

// waitReady waits until this node's current start is in its state.
func (c *Cluster) waitReady(ctx context.Context, rep *replica) error {
	for {
		rep.mu.RLock()
		ch := rep.appliedCh
		rep.mu.RUnlock()
		if c.ready(rep) {
			return nil
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return fmt.Errorf("%w: this node's membership is not applied yet: %w", ErrNoMajority, ctx.Err())
		case <-rep.done:
			return ErrClosed
		}
	}
}

func (c *Cluster) memberNames(rep *replica) []string {
	var names []string
	rep.view(func(s *State) {
		for n := range s.Members {
			names = append(names, n)
		}
	})
	sort.Strings(names)
	return names
}

// decodeAPIError turns another node's error answer into an *apiError.
func decodeAPIError(status int, b []byte) *apiError {
	var body struct {
		ErrorReason errorReason `json:"error_reason"`
		ErrorType   string      `json:"error_type"`
	}
	if err := json.Unmarshal(b, &body); err != nil || body.ErrorType == "" {
		return &apiError{Status: http.StatusBadGateway, Type: TypeUnreachable, Reason: errorReason{Message: fmt.Sprintf("the other node answered %d %.100q", status, b)}}
	}
	return &apiError{Status: status, Type: body.ErrorType, Reason: body.ErrorReason}
}

// pingBody is this node's ping (and ping answer).
func (c *Cluster) pingBody() []byte {
	l := c.cfg.Local()
	c.mu.Lock()
	p := pingMsg{ClusterID: c.meta.ClusterID, Name: c.cfg.NodeName, ID: c.meta.ID, Mode: l.Mode, Connections: l.Connections}
	rep := c.rep
	purged := c.purged
	c.mu.Unlock()
	if rep != nil && !purged && rep.alive() == nil {
		if m := c.self(rep); m != nil {
			p.Epoch = m.Epoch
			p.Ready = m.Boot == c.boot
		}
	}
	b, _ := json.Marshal(p)
	return b
}

// pong records a ping answer.
func (c *Cluster) pong(name string, b []byte, err error) {
	if err != nil {
		return
	}
	var p pingMsg
	if json.Unmarshal(b, &p) != nil || p.Name != name {
		return
	}
	c.saw(p)
}

func (c *Cluster) saw(p pingMsg) {
	c.liveMu.Lock()
	c.live[p.Name] = peerInfo{seen: time.Now(), ping: p}
	c.liveMu.Unlock()
}

// reachable reports whether name answered within LiveTimeout, and what it
// said last.
func (c *Cluster) reachable(name string) (pingMsg, bool) {
	if name == c.cfg.NodeName {
		return pingMsg{}, true
	}
	c.liveMu.Lock()
	defer c.liveMu.Unlock()
	pi, ok := c.live[name]
	return pi.ping, ok && time.Since(pi.seen) < c.t.LiveTimeout
}

// view is this node's placement view of the members of s.
func (c *Cluster) view(s *State, rep *replica) View {
	l := c.cfg.Local()
	v := View{Self: c.cfg.NodeName, Nodes: map[string]Load{}}
	for name, m := range s.Members {
		if name == c.cfg.NodeName {
			v.Nodes[name] = Load{Connected: m.Boot == c.boot, Mode: l.Mode, Connections: l.Connections}
			continue
		}
		p, ok := c.reachable(name)
		v.Nodes[name] = Load{
			Connected:   ok && p.Ready && p.ClusterID == s.ClusterID && p.ID == m.ID && p.Epoch == m.Epoch,
			Mode:        p.Mode,
			Connections: p.Connections,
		}
	}
	return v
}

// serveRaft steps a batch of raft messages into the replica.
func (c *Cluster) serveRaft(w http.ResponseWriter, r *http.Request) {
	c.mu.Lock()
	rep, meta, purged := c.rep, c.meta, c.purged
	c.mu.Unlock()
	if rep == nil || purged || rep.alive() != nil {
		http.Error(w, "not running a raft replica", http.StatusServiceUnavailable)
		return
	}
	if cid := r.Header.Get(headerCluster); cid != "" && cid != meta.ClusterID {
		c.m.dropped.WithLabelValues("other_cluster").Inc()
		http.Error(w, "this node is in cluster "+meta.ClusterID+", not "+cid, http.StatusConflict)
		return
	}
	from, _ := strconv.ParseUint(r.Header.Get(headerFrom), 10, 64)
	gone := false
	rep.view(func(s *State) {
		for _, id := range s.Purged {
			if id == from {
				gone = true
			}
		}
	})
	if gone {
		c.m.dropped.WithLabelValues("purged_sender").Inc()
		http.Error(w, "the sender was purged from the cluster", http.StatusGone)
		return
	}
	b, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxRaftBody))
	if err != nil {
		http.Error(w, err.Error(), http.StatusRequestEntityTooLarge)
		return
	}
	msgs, err := decodeBatch(b)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), time.Second)
	defer cancel()
	for _, m := range msgs {
		if m.GetTo() != meta.ID {
			c.m.dropped.WithLabelValues("wrong_recipient").Inc()
			continue
		}
		if err := rep.node.Step(ctx, m); err != nil {
			c.m.dropped.WithLabelValues("step_failed").Inc()
		}
	}
	w.WriteHeader(http.StatusNoContent)
}

// servePing records the sender and answers with this node's ping.
func (c *Cluster) servePing(w http.ResponseWriter, r *http.Request) {
	b, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxMessageBody))
	if err != nil {
		http.Error(w, err.Error(), http.StatusRequestEntityTooLarge)
		return
	}
	var p pingMsg
	if len(b) > 0 {
		if err := json.Unmarshal(b, &p); err != nil {
			http.Error(w, "bad ping: "+err.Error(), http.StatusBadRequest)
			return
		}
	}
	if p.Name != "" {
		c.mu.Lock()
		rep := c.rep
		c.mu.Unlock()
		gone, member := false, false
		if rep != nil {
			rep.view(func(s *State) {
				id, ok := s.Purged[p.Name]
				gone = ok && id == p.ID && s.ClusterID == p.ClusterID
				member = s.Members[p.Name] != nil
			})
		}
		if gone {
			http.Error(w, "the sender was purged from the cluster", http.StatusGone)
			return
		}
		if member { // only members are tracked: the map stays bounded
			c.saw(p)
		}
	}
	writeJSON(w, http.StatusOK, c.pingBody())
}

// serveJoin adds the node that asks (this node is its contact).
func (c *Cluster) serveJoin(w http.ResponseWriter, r *http.Request) {
	var req joinRequest
	if err := readJSON(w, r, &req); err != nil || req.Member == nil {
		writeAPIError(w, &apiError{Status: http.StatusBadRequest, Type: TypeInvalidJSON, Reason: errorReason{Message: "bad join request"}})
		return
	}
	if _, _, err := splitNodeName(req.Member.Name); err != nil || req.Member.ID == 0 {
		writeAPIError(w, toAPIError(fmt.Errorf("%w: %w", ErrBadNodeName, err), errorReason{NodeName: req.Member.Name}))
		return
	}
	rep, err := c.replica()
	if err != nil {
		writeAPIError(w, toAPIError(err, errorReason{ContactNode: c.cfg.NodeName}))
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), c.t.ProposeTimeout)
	defer cancel()
	res, err := rep.proposeConf(ctx, raftpb.ConfChangeAddNode, req.Member.ID, &Command{Op: OpAdd, ClusterID: req.ClusterID, Member: req.Member})
	if err == nil {
		err = res.Err
	}
	if err != nil {
		writeAPIError(w, toAPIError(err, errorReason{NodeName: req.Member.Name}))
		return
	}
	var ans joinAnswer
	rep.view(func(s *State) {
		ans.ClusterID = s.ClusterID
		for name, m := range s.Members {
			ans.Members = append(ans.Members, memberAddr{Name: name, ID: m.ID})
		}
	})
	sort.Slice(ans.Members, func(i, j int) bool { return ans.Members[i].Name < ans.Members[j].Name })
	c.log.Info("cluster: node added", "node_name", req.Member.Name)
	b, _ := json.Marshal(ans)
	writeJSON(w, http.StatusOK, b)
}

// serveInvite joins this node to the cluster of an InitCluster call.
func (c *Cluster) serveInvite(w http.ResponseWriter, r *http.Request) {
	var req inviteRequest
	if err := readJSON(w, r, &req); err != nil || req.Contact == "" {
		writeAPIError(w, &apiError{Status: http.StatusBadRequest, Type: TypeInvalidJSON, Reason: errorReason{Message: "bad invitation"}})
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), 2*c.t.ProposeTimeout)
	defer cancel()
	names, err := c.join(ctx, req.Contact, req.ClusterID)
	if err != nil {
		writeAPIError(w, toAPIError(err, errorReason{ContactNode: req.Contact}))
		return
	}
	b, _ := json.Marshal(map[string][]string{"node_name_list": names})
	writeJSON(w, http.StatusOK, b)
}

// serveAPI runs an operation another node forwarded to this one.
func (c *Cluster) serveAPI(w http.ResponseWriter, r *http.Request) {
	b, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxMessageBody))
	if err != nil {
		http.Error(w, err.Error(), http.StatusRequestEntityTooLarge)
		return
	}
	status, resp := c.cfg.CallLocal(r.Header.Get(headerTarget), b)
	writeJSON(w, status, resp)
}

func readJSON(w http.ResponseWriter, r *http.Request, v any) error {
	b, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxMessageBody))
	if err != nil {
		return err
	}
	return json.Unmarshal(b, v)
}

func writeJSON(w http.ResponseWriter, status int, b []byte) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", strconv.Itoa(len(b)))
	w.WriteHeader(status)
	_, _ = w.Write(b)
}

func writeAPIError(w http.ResponseWriter, e *apiError) { writeJSON(w, e.Status, e.body()) }

// RaftStatus is the node's raft state for GetStatsReport's cluster block;
// ok is false while the node is in no cluster.
func (c *Cluster) RaftStatus() (st RaftStatus, ok bool) {
	c.mu.Lock()
	rep := c.rep
	c.mu.Unlock()
	if rep == nil {
		return RaftStatus{}, false
	}
	return rep.status(), true
}

// janitor gives back the channels this node owns that stayed empty for
// ReleaseAfter (and at once those of its earlier epochs), one pass every
// JanitorEvery until Close.
func (c *Cluster) janitor() {
	t := time.NewTicker(c.t.JanitorEvery)
	defer t.Stop()
	for {
		select {
		case <-c.ctx.Done():
			return
		case <-t.C:
		}
		c.sweep(time.Now())
	}
}

func (c *Cluster) sweep(now time.Time) {
	rep, err := c.replica()
	if err != nil || !c.ready(rep) {
		return
	}
	self := c.self(rep)
	if self == nil {
		return
	}
	local := c.cfg.Local()
	var release []Owner
	var chans []string
	rep.view(func(s *State) {
		for ch, o := range s.Channels {
			if o.Node == c.cfg.NodeName {
				chans = append(chans, ch)
				release = append(release, o)
			}
		}
	})
	c.janMu.Lock()
	var todo []int
	for i, ch := range chans {
		if local.Channels[ch] > 0 {
			delete(c.emptySince, ch)
			continue
		}
		if release[i].Epoch != self.Epoch {
			todo = append(todo, i) // an earlier life's channel: its sessions are gone
			continue
		}
		since, ok := c.emptySince[ch]
		if !ok {
			c.emptySince[ch] = now
			continue
		}
		if now.Sub(since) >= c.t.ReleaseAfter && now.Sub(c.placed[ch]) >= c.t.ReleaseAfter {
			todo = append(todo, i)
		}
	}
	for ch := range c.emptySince {
		if !slices.Contains(chans, ch) {
			delete(c.emptySince, ch)
		}
	}
	for ch, at := range c.placed {
		if now.Sub(at) >= c.t.ReleaseAfter && !slices.Contains(chans, ch) {
			delete(c.placed, ch)
		}
	}
	c.janMu.Unlock()
	for _, i := range todo {
		ctx, cancel := context.WithTimeout(c.ctx, c.t.ProposeTimeout)
		_, err := rep.propose(ctx, &Command{Op: OpRelease, Channel: chans[i], Node: c.cfg.NodeName, Epoch: release[i].Epoch})
		cancel()
		if err != nil {
			c.log.Debug("cluster: releasing a channel failed; retrying later", "channel_id", chans[i], "err", err)
			return
		}
		c.janMu.Lock()
		delete(c.emptySince, chans[i])
		c.janMu.Unlock()
		c.log.Debug("cluster: released empty channel", "channel_id", chans[i])
	}
}
