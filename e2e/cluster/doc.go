// Package cluster holds the cluster's end-to-end tests: real hayate
// processes (the binary built from cmd/hayate once per run) form a raft
// cluster on loopback, each node on its own address, 127.0.0.2 to
// 127.0.0.5 (Linux routes all of 127.0.0.0/8 to lo), with fixed ports per
// address that the other test packages (127.0.0.1, free ports) never use.
// The tests drive the nodes as an operator does: the HTTP API
// (InitCluster, JoinCluster, ListClusterNodes, ListClusterChannels,
// PurgeClusterNode), /metrics on the admin port (which node leads), the
// signaling WebSocket (redirect to a channel's owner) and pion clients
// (bench/soraclient) exchanging media; and they kill processes with
// SIGKILL.
//
// The package has no code outside its _test.go files. Tests run one at a
// time (the ports are fixed); each bounds itself, prints the tail of every
// node's log when it fails, and kills what it started.
package cluster
