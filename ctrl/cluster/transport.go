package cluster

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"go.etcd.io/raft/v3"
	"go.etcd.io/raft/v3/raftpb"
	"google.golang.org/protobuf/proto"
)

// Paths on the cluster listener.
const (
	pathRaft   = "/cluster/raft"   // a batch of raft messages
	pathPing   = "/cluster/ping"   // liveness and load
	pathJoin   = "/cluster/join"   // a new node asks a member to add it
	pathInvite = "/cluster/invite" // InitCluster asks a listed node to join
	pathAPI    = "/cluster/api"    // an API operation forwarded to its channel's owner
)

// Headers of cluster requests.
const (
	headerCluster = "X-Hayate-Cluster" // the sender's cluster ID
	headerFrom    = "X-Hayate-From"    // the sender's raft ID
	headerTarget  = "X-Sora-Target"    // pathAPI: the operation
)

// Transport limits.
const (
	peerQueue      = 1024     // raft messages waiting for one peer; more are dropped
	maxBatch       = 64       // raft messages in one POST
	maxBatchBytes  = 8 << 20  // bytes of messages in one POST (a snapshot may exceed it alone)
	maxRaftBody    = 64 << 20 // the largest raft POST accepted
	maxMessageBody = 8 << 20  // the largest other request or answer
	sendTimeout    = 2 * time.Second
)

// reporter is the part of raft.Node the transport reports to.
type reporter interface {
	ReportUnreachable(id uint64)
	ReportSnapshot(id uint64, status raft.SnapshotStatus)
}

// transportConfig configures a transport.
type transportConfig struct {
	Self   uint64
	Client *http.Client
	Logger *slog.Logger
	// ClusterID is sent with every raft batch; the receiver drops a batch
	// of another cluster.
	ClusterID func() string
	// Gone is called when a peer answers that this node was purged.
	Gone func()
	// Dropped counts messages not delivered, by reason.
	Dropped func(reason string, n int)
	// PingInterval, Ping and Pong: every PingInterval each peer is sent
	// Ping() and Pong gets its answer (or the error).
	PingInterval time.Duration
	Ping         func() []byte
	Pong         func(peerName string, answer []byte, err error)
}

// transport carries raft messages to the other members over HTTP, one
// sending goroutine and one pinging goroutine per peer. Send never blocks:
// a peer whose queue is full loses the message (counted), and raft, told
// the peer is unreachable, sends again later. Methods may be called from
// any goroutine; Send is called from the replica loop.
type transport struct {
	cfg      transportConfig
	reporter atomic.Pointer[reporter]

	mu     sync.Mutex
	peers  map[uint64]*peer
	closed bool
	wg     sync.WaitGroup
}

type peer struct {
	id   uint64
	name string
	url  string // http://host:port
	q    chan outMsg
	stop chan struct{}
}

type outMsg struct {
	b    []byte
	snap bool
}

func newTransport(cfg transportConfig) *transport {
	if cfg.Dropped == nil {
		cfg.Dropped = func(string, int) {}
	}
	return &transport{cfg: cfg, peers: map[uint64]*peer{}}
}

func (t *transport) setReporter(r reporter) { t.reporter.Store(&r) }

func (t *transport) report() reporter {
	if p := t.reporter.Load(); p != nil {
		return *p
	}
	return nil
}

// setPeers makes the peer set equal to peers (raft ID → node name, with
// its listener address in addrs), starting and stopping goroutines.
func (t *transport) setPeers(peers map[uint64]string, addr func(name string) string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closed {
		return
	}
	for id, p := range t.peers {
		if name, ok := peers[id]; !ok || name != p.name {
			close(p.stop)
			delete(t.peers, id)
		}
	}
	for id, name := range peers {
		if id == t.cfg.Self || t.peers[id] != nil {
			continue
		}
		a := addr(name)
		if a == "" {
			continue
		}
		p := &peer{id: id, name: name, url: "http://" + a, q: make(chan outMsg, peerQueue), stop: make(chan struct{})}
		t.peers[id] = p
		t.wg.Add(2)
		go t.sendLoop(p)
		go t.pingLoop(p)
	}
}

// close stops every peer and waits for their goroutines.
func (t *transport) close() {
	t.mu.Lock()
	if !t.closed {
		t.closed = true
		for id, p := range t.peers {
			close(p.stop)
			delete(t.peers, id)
		}
	}
	t.mu.Unlock()
	t.wg.Wait()
}

// Send queues the messages of one Ready. It marshals them before it
// returns (raft's messages must not be read after the loop moves on).
func (t *transport) Send(msgs []*raftpb.Message) {
	for _, m := range msgs {
		to := m.GetTo()
		t.mu.Lock()
		p := t.peers[to]
		t.mu.Unlock()
		snap := m.GetType() == raftpb.MsgSnap
		if p == nil {
			t.cfg.Dropped("unknown_peer", 1)
			t.unsent(to, snap)
			continue
		}
		b, err := proto.Marshal(m)
		if err != nil {
			t.cfg.Logger.Error("cluster: marshalling a raft message", "type", m.GetType(), "err", err)
			t.cfg.Dropped("marshal", 1)
			continue
		}
		select {
		case p.q <- outMsg{b: b, snap: snap}:
		default:
			t.cfg.Dropped("queue_full", 1)
			t.unsent(to, snap)
		}
	}
}

// unsent tells raft a message to id was lost; a lost snapshot must be
// reported or the leader waits for it forever. The raft node serves these
// reports while it waits for Advance, so the loop may call this.
func (t *transport) unsent(id uint64, snap bool) {
	r := t.report()
	if r == nil {
		return
	}
	if snap {
		r.ReportSnapshot(id, raft.SnapshotFailure)
	}
	r.ReportUnreachable(id)
}

func (t *transport) sendLoop(p *peer) {
	defer t.wg.Done()
	var batch []outMsg
	for {
		batch = batch[:0]
		select {
		case <-p.stop:
			return
		case m := <-p.q:
			batch = append(batch, m)
		}
		size := len(batch[0].b)
	fill:
		for len(batch) < maxBatch && size < maxBatchBytes {
			select {
			case m := <-p.q:
				batch = append(batch, m)
				size += len(m.b)
			default:
				break fill
			}
		}
		body := encodeBatch(batch)
		err := t.postRaft(p, body)
		r := t.report()
		if err != nil {
			t.cfg.Dropped("send_failed", len(batch))
			t.cfg.Logger.Debug("cluster: raft messages not delivered", "peer", p.name, "messages", len(batch), "err", err)
		}
		if r == nil {
			continue
		}
		for _, m := range batch {
			if !m.snap {
				continue
			}
			if err != nil {
				r.ReportSnapshot(p.id, raft.SnapshotFailure)
			} else {
				r.ReportSnapshot(p.id, raft.SnapshotFinish)
			}
		}
		if err != nil {
			r.ReportUnreachable(p.id)
		}
	}
}

func (t *transport) postRaft(p *peer, body []byte) error {
	ctx, cancel := context.WithTimeout(context.Background(), sendTimeout)
	defer cancel()
	go func() {
		select {
		case <-p.stop:
			cancel()
		case <-ctx.Done():
		}
	}()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, p.url+pathRaft, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set(headerCluster, t.cfg.ClusterID())
	req.Header.Set(headerFrom, strconv.FormatUint(t.cfg.Self, 10))
	resp, err := t.cfg.Client.Do(req)
	if err != nil {
		return err
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, maxMessageBody))
	resp.Body.Close()
	switch resp.StatusCode {
	case http.StatusNoContent, http.StatusOK:
		return nil
	case http.StatusGone:
		if t.cfg.Gone != nil {
			t.cfg.Gone()
		}
	}
	return fmt.Errorf("%s answered %s", p.name, resp.Status)
}

func (t *transport) pingLoop(p *peer) {
	defer t.wg.Done()
	if t.cfg.PingInterval <= 0 || t.cfg.Ping == nil {
		return
	}
	tick := time.NewTicker(t.cfg.PingInterval)
	defer tick.Stop()
	for {
		ctx, cancel := context.WithTimeout(context.Background(), t.cfg.PingInterval*2)
		stopped := make(chan struct{})
		go func() {
			select {
			case <-p.stop:
				cancel()
			case <-stopped:
			}
		}()
		status, b, err := call(ctx, t.cfg.Client, p.url+pathPing, nil, t.cfg.Ping())
		close(stopped)
		cancel()
		if err == nil && status != http.StatusOK {
			err = fmt.Errorf("%w: %s answered the ping with %d", ErrUnreachable, p.name, status)
			if status == http.StatusGone && t.cfg.Gone != nil {
				t.cfg.Gone()
			}
		}
		select {
		case <-p.stop:
			return
		default:
		}
		if t.cfg.Pong != nil {
			t.cfg.Pong(p.name, b, err)
		}
		select {
		case <-p.stop:
			return
		case <-tick.C:
		}
	}
}

// call POSTs body to url and returns the status and the answer (at most
// maxMessageBody bytes). A transport failure wraps ErrUnreachable.
func call(ctx context.Context, client *http.Client, url string, header http.Header, body []byte) (int, []byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return 0, nil, err
	}
	for k, v := range header {
		req.Header[k] = v
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := client.Do(req)
	if err != nil {
		return 0, nil, fmt.Errorf("%w: %w", ErrUnreachable, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, maxMessageBody))
	if err != nil {
		return 0, nil, fmt.Errorf("%w: reading the answer of %s: %w", ErrUnreachable, url, err)
	}
	return resp.StatusCode, b, nil
}

// newHTTPClient is the client of one node's cluster traffic: short dial
// timeout (a dead peer must not hold a sender for long), keep-alive.
func newHTTPClient() *http.Client {
	d := &net.Dialer{Timeout: time.Second}
	return &http.Client{Transport: &http.Transport{
		DialContext:         d.DialContext,
		MaxIdleConnsPerHost: 4,
		IdleConnTimeout:     30 * time.Second,
		DisableCompression:  true,
	}}
}

// encodeBatch frames raft messages: each is its length (uvarint) then its
// protobuf bytes.
func encodeBatch(batch []outMsg) []byte {
	n := 0
	for _, m := range batch {
		n += binary.MaxVarintLen64 + len(m.b)
	}
	out := make([]byte, 0, n)
	for _, m := range batch {
		out = binary.AppendUvarint(out, uint64(len(m.b)))
		out = append(out, m.b...)
	}
	return out
}

// errBadBatch: a raft POST body is not a sequence of framed messages.
var errBadBatch = errors.New("cluster: malformed raft batch")

// decodeBatch reads the messages framed by encodeBatch.
func decodeBatch(b []byte) ([]*raftpb.Message, error) {
	var msgs []*raftpb.Message
	for len(b) > 0 {
		n, k := binary.Uvarint(b)
		if k <= 0 || n > uint64(len(b)-k) {
			return nil, fmt.Errorf("%w: bad length at byte %d", errBadBatch, k)
		}
		m := &raftpb.Message{}
		if err := proto.Unmarshal(b[k:k+int(n)], m); err != nil {
			return nil, fmt.Errorf("%w: message %d: %w", errBadBatch, len(msgs), err)
		}
		msgs = append(msgs, m)
		b = b[k+int(n):]
	}
	return msgs, nil
}
