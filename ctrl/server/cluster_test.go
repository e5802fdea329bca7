package server

import (
	"encoding/json"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"
)

// freePort returns a TCP port free on 127.0.0.1 a moment ago.
func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// TestClusterWiring: with cluster = true the API serves the cluster
// operations (a one-node cluster here), lists this server's URLs, exports
// the raft metrics, and data_dir holds the node's log; with the default
// (cluster = false) the operations stay 501.
func TestClusterWiring(t *testing.T) {
	c := testConfig(t)
	c.Cluster = true
	c.NodeName = "solo@127.0.0.1"
	c.ClusterPort = freePort(t)
	c.DataDir = t.TempDir()
	s := startServer(t, c)
	if s.Cluster() == nil {
		t.Fatal("Cluster() is nil with cluster = true")
	}
	post := func(target, body string) (int, string) {
		t.Helper()
		req, err := http.NewRequestWithContext(t.Context(), "POST", s.APIURL(), strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("X-Sora-Target", target)
		resp, err := (&http.Client{Timeout: 10 * time.Second}).Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		if err != nil {
			t.Fatal(err)
		}
		return resp.StatusCode, string(b)
	}
	if st, body := post("Sora_20221221.InitCluster", `{"node_name_list":["solo@127.0.0.1"]}`); st != 200 || body != `{"node_name_list":["solo@127.0.0.1"]}` {
		t.Fatalf("InitCluster: %d %s", st, body)
	}
	st, body := post("Sora_20211215.ListClusterNodes", "")
	var nodes []map[string]any
	if st != 200 || json.Unmarshal([]byte(body), &nodes) != nil || len(nodes) != 1 {
		t.Fatalf("ListClusterNodes: %d %s", st, body)
	}
	if nodes[0]["external_signaling_url"] != s.SignalingURL() || nodes[0]["external_api_url"] != s.APIURL() || nodes[0]["version"] != Version || nodes[0]["connected"] != true {
		t.Errorf("ListClusterNodes entry %v: want this server's URLs and version", nodes[0])
	}
	if _, body := do(t, "GET", s.AdminURL()+"metrics", nil); !strings.Contains(body, "hayate_cluster_raft_leader 1") {
		t.Errorf("/metrics lacks hayate_cluster_raft_leader 1")
	}
	if st, ok := s.Cluster().RaftStatus(); !ok || st.State != "leader" || st.Term == 0 {
		t.Errorf("RaftStatus %+v %v", st, ok)
	}
	if conn, err := net.Dial("tcp", "127.0.0.1:"+strconv.Itoa(c.ClusterPort)); err != nil {
		t.Errorf("the cluster listener is not on cluster_port: %v", err)
	} else {
		conn.Close()
	}

	plain := startServer(t, testConfig(t))
	if plain.Cluster() != nil {
		t.Errorf("Cluster() is set with cluster = false")
	}
	resp, body := do(t, "POST", plain.APIURL(), http.Header{"X-Sora-Target": {"Sora_20211215.ListClusterNodes"}})
	if resp.StatusCode != 501 {
		t.Errorf("ListClusterNodes without cluster: %d %s, want 501", resp.StatusCode, body)
	}
}
