// Package server assembles one Hayate process from its parts: the media
// plane (dataplane), the signaling server (ctrl/signaling), the try-it page
// (ctrl/webui), the HTTP API port and the admin listener (ctrl/obs), around
// one Prometheus registry.
//
// # Lifecycle
//
// New binds every listener (a port 0 in the Config picks a free port, which
// the URL methods then report) and starts serving; when it returns an error
// nothing is left open. Shutdown undoes it in this order:
//
//  1. stop accepting: the signaling/try-it and API listeners close, requests
//     in progress finish;
//  2. the signaling server disconnects every client with a reason;
//  3. with cluster = true the node's cluster part closes (it stays a
//     member, connected: false for the others, until it returns or is
//     purged); the media plane closes (every transport ends);
//  4. the admin listener closes last, so /healthz and /metrics answer while
//     clients drain;
//  5. Shutdown waits for every goroutine New started.
//
// When ctx expires first, the remaining steps close without waiting and
// Shutdown returns ctx's error among the others.
//
// # Listeners
//
//	signaling_port  /signaling (WebSocket) and / (try-it page, /sdk/ files)
//	api_port        the HTTP API (ctrl/api) over the signaling server's room registry
//	media_port      UDP, owned by the dataplane
//	admin_port      /healthz, /metrics, /debug/pprof/ on admin_address
//	cluster_port    with cluster = true: raft, liveness and forwarded API
//	                calls between nodes (ctrl/cluster), on listen_address
//	                (the port in node_name when it has one)
//
// With cluster = true the API's Intercept is the cluster's (cluster
// operations, forwarding to a channel's owner, ListChannels local: false)
// and the webhooks' node_name is node_name.
//
// # Concurrency
//
// Every method of Server may be called from any goroutine; Shutdown may be
// called more than once and returns the first call's result.
package server
