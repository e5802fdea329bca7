package cluster

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/coder/websocket"
)

// Fixed ports of every node, each on its own loopback address.
const (
	signalingPort = 25000
	apiPort       = 23000
	mediaPort     = 25001
	adminPort     = 26060
	clusterPort   = 25100
)

// binary is the hayate binary TestMain built.
var binary string

func TestMain(m *testing.M) {
	os.Exit(run(m))
}

func run(m *testing.M) int {
	dir, err := os.MkdirTemp("", "hayate-e2e-cluster-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	binary = filepath.Join(dir, "hayate")
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	build := exec.CommandContext(ctx, "go", "build", "-o", binary, "github.com/hayate-sfu/hayate/cmd/hayate")
	build.Stderr, build.Stdout = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "building hayate:", err)
		return 1
	}
	return m.Run()
}

// node is one hayate process of the cluster.
type node struct {
	t    *testing.T
	i    int    // 1.. ; the address is 127.0.0.(i+1)
	ip   string // 127.0.0.(i+1)
	name string // n<i>@<ip>
	dir  string // data_dir, kept across restarts
	log  string // the process's stderr, appended across restarts

	mu   sync.Mutex
	cmd  *exec.Cmd
	done chan struct{}
}

func newNode(t *testing.T, i int) *node {
	t.Helper()
	ip := fmt.Sprintf("127.0.0.%d", i+1)
	base := t.TempDir()
	n := &node{t: t, i: i, ip: ip, name: fmt.Sprintf("n%d@%s", i, ip), dir: filepath.Join(base, "data"), log: filepath.Join(base, "hayate.log")}
	t.Cleanup(func() {
		n.kill()
		if t.Failed() {
			t.Logf("tail of %s's log:\n%s", n.name, tail(n.log, 40))
		}
	})
	return n
}

// start runs the process and waits until its API answers.
func (n *node) start(extraEnv ...string) {
	n.t.Helper()
	lf, err := os.OpenFile(n.log, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		n.t.Fatal(err)
	}
	cmd := exec.Command(binary)
	cmd.Env = append(os.Environ(),
		"HAYATE_CLUSTER=true",
		"HAYATE_NODE_NAME="+n.name,
		"HAYATE_CLUSTER_PORT="+strconv.Itoa(clusterPort),
		"HAYATE_DATA_DIR="+n.dir,
		"HAYATE_LISTEN_ADDRESS="+n.ip,
		"HAYATE_ADMIN_ADDRESS="+n.ip,
		"HAYATE_PUBLIC_IP_LIST="+n.ip,
		"HAYATE_SIGNALING_PORT="+strconv.Itoa(signalingPort),
		"HAYATE_API_PORT="+strconv.Itoa(apiPort),
		"HAYATE_MEDIA_PORT="+strconv.Itoa(mediaPort),
		"HAYATE_ADMIN_PORT="+strconv.Itoa(adminPort),
		"HAYATE_MEDIA_LOOPS=1",
		"HAYATE_SDK_DIR="+filepath.Dir(n.log),
		"HAYATE_LOG_LEVEL=info",
	)
	cmd.Env = append(cmd.Env, extraEnv...)
	cmd.Stdout, cmd.Stderr = lf, lf
	if err := cmd.Start(); err != nil {
		lf.Close()
		n.t.Fatalf("starting %s: %v", n.name, err)
	}
	done := make(chan struct{})
	go func() {
		_ = cmd.Wait()
		lf.Close()
		close(done)
	}()
	n.mu.Lock()
	n.cmd, n.done = cmd, done
	n.mu.Unlock()
	deadline := time.Now().Add(15 * time.Second)
	for {
		if st, _, err := n.tryAPI("Sora_20211215.GetMode", ``); err == nil && st == 200 {
			return
		}
		select {
		case <-done:
			n.t.Fatalf("%s exited at start:\n%s", n.name, tail(n.log, 20))
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			n.t.Fatalf("%s's API did not answer within 15 s", n.name)
		}
	}
}

// kill ends the process with SIGKILL (a crash) and waits for it.
func (n *node) kill() { n.signal(syscall.SIGKILL) }

// stop ends the process with SIGTERM (a clean shutdown), or SIGKILL after
// 10 s.
func (n *node) stop() { n.signal(syscall.SIGTERM) }

func (n *node) signal(sig syscall.Signal) {
	n.mu.Lock()
	cmd, done := n.cmd, n.done
	n.cmd = nil
	n.mu.Unlock()
	if cmd == nil {
		return
	}
	_ = cmd.Process.Signal(sig)
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		_ = cmd.Process.Kill()
		<-done
	}
}

var client = &http.Client{Timeout: 30 * time.Second}

func (n *node) apiURL() string       { return fmt.Sprintf("http://%s:%d/", n.ip, apiPort) }
func (n *node) signalingURL() string { return fmt.Sprintf("ws://%s:%d/signaling", n.ip, signalingPort) }

func (n *node) tryAPI(target, body string) (int, string, error) {
	req, err := http.NewRequest(http.MethodPost, n.apiURL(), strings.NewReader(body))
	if err != nil {
		return 0, "", err
	}
	req.Header.Set("x-sora-target", target)
	resp, err := client.Do(req)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	var b bytes.Buffer
	_, err = b.ReadFrom(resp.Body)
	return resp.StatusCode, b.String(), err
}

// api calls an operation; a transport error fails the test.
func (n *node) api(target, body string) (int, string) {
	n.t.Helper()
	st, b, err := n.tryAPI(target, body)
	if err != nil {
		n.t.Fatalf("%s on %s: %v", target, n.name, err)
	}
	return st, b
}

// clusterNode is a ListClusterNodes entry.
type clusterNode struct {
	NodeName             string `json:"node_name"`
	Connected            bool   `json:"connected"`
	Epoch                int    `json:"epoch"`
	Mode                 string `json:"mode"`
	ExternalSignalingURL string `json:"external_signaling_url"`
	ExternalAPIURL       string `json:"external_api_url"`
	Version              string `json:"version"`
}

func (n *node) nodes(all bool) map[string]clusterNode {
	n.t.Helper()
	st, body := n.api("Sora_20211215.ListClusterNodes", fmt.Sprintf(`{"include_all_known_nodes":%v}`, all))
	if st != 200 {
		n.t.Fatalf("ListClusterNodes on %s: %d %s", n.name, st, body)
	}
	var list []clusterNode
	if err := json.Unmarshal([]byte(body), &list); err != nil {
		n.t.Fatalf("ListClusterNodes on %s: %v: %s", n.name, err, body)
	}
	out := map[string]clusterNode{}
	for _, c := range list {
		out[c.NodeName] = c
	}
	return out
}

// clusterChannel is a ListClusterChannels entry.
type clusterChannel struct {
	ChannelID string `json:"channel_id"`
	Owners    []struct {
		NodeName    string `json:"node_name"`
		Epoch       int    `json:"epoch"`
		EpochLatest bool   `json:"epoch_latest"`
		Connected   bool   `json:"connected"`
	} `json:"owners"`
}

func (n *node) channels() map[string]clusterChannel {
	n.t.Helper()
	st, body := n.api("Sora_20211215.ListClusterChannels", ``)
	if st != 200 {
		n.t.Fatalf("ListClusterChannels on %s: %d %s", n.name, st, body)
	}
	var list []clusterChannel
	if err := json.Unmarshal([]byte(body), &list); err != nil {
		n.t.Fatalf("ListClusterChannels: %v: %s", err, body)
	}
	out := map[string]clusterChannel{}
	for _, c := range list {
		out[c.ChannelID] = c
	}
	return out
}

// isLeader reads hayate_cluster_raft_leader from the node's /metrics.
func (n *node) isLeader() bool {
	resp, err := client.Get(fmt.Sprintf("http://%s:%d/metrics", n.ip, adminPort))
	if err != nil {
		return false
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		if sc.Text() == "hayate_cluster_raft_leader 1" {
			return true
		}
	}
	return false
}

// leaderOf waits up to 10 s until one of nodes leads.
func leaderOf(t *testing.T, nodes ...*node) *node {
	t.Helper()
	var l *node
	eventually(t, 10*time.Second, "a leader among the running nodes", func() bool {
		for _, n := range nodes {
			if n.isLeader() {
				l = n
				return true
			}
		}
		return false
	})
	return l
}

// eventually polls cond every 100 ms until it holds or limit passes.
func eventually(t *testing.T, limit time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(limit)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("not within %v: %s", limit, what)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// probeResult is what a bare connect got: the server's offer (the node
// serves the channel), a redirect (another node owns it), or a refusal
// (the WebSocket closed with a reason).
type probeResult struct {
	kind     string // "offer", "redirect" or "closed"
	location string // redirect
	reason   string // closed
}

// errNoAnswer: the probe got neither a message nor a close in time.
var errNoAnswer = errors.New("no answer to connect")

// probe sends a connect for channel to url and reports the server's first
// answer; the WebSocket is closed after it (an admitted connection then
// leaves at once).
func probe(ctx context.Context, url, channel string) (probeResult, error) {
	ctx, cancel := context.WithTimeout(ctx, 8*time.Second)
	defer cancel()
	ws, _, err := websocket.Dial(ctx, url, nil) //nolint:bodyclose // coder/websocket owns it
	if err != nil {
		return probeResult{}, err
	}
	defer ws.CloseNow()
	msg, _ := json.Marshal(map[string]any{"type": "connect", "role": "recvonly", "channel_id": channel, "audio": true, "video": false,
		"sora_client": "e2e cluster probe"})
	if err := ws.Write(ctx, websocket.MessageText, msg); err != nil {
		return probeResult{}, err
	}
	for {
		_, b, err := ws.Read(ctx)
		if err != nil {
			var ce websocket.CloseError
			if errors.As(err, &ce) {
				return probeResult{kind: "closed", reason: ce.Reason}, nil
			}
			if ctx.Err() != nil {
				return probeResult{}, errNoAnswer
			}
			return probeResult{kind: "closed", reason: err.Error()}, nil
		}
		var m struct {
			Type     string `json:"type"`
			Location string `json:"location"`
		}
		if json.Unmarshal(b, &m) != nil {
			continue
		}
		switch m.Type {
		case "redirect":
			return probeResult{kind: "redirect", location: m.Location}, nil
		case "offer":
			_ = ws.Close(websocket.StatusNormalClosure, "")
			return probeResult{kind: "offer"}, nil
		}
	}
}

func tail(path string, n int) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return err.Error()
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
