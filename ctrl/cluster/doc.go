// Package cluster lets Hayate nodes form a cluster: a replicated state
// (members and channel owners) kept with raft (go.etcd.io/raft/v3, the log
// in bbolt), channel placement with redirects, forwarding of API
// operations to a channel's owner, and Sora's cluster operations
// (shared/seed/experimental-api.ja.txt is authoritative for them).
//
// # Model
//
// State is a pure, deterministic state machine: Apply(Command) changes
// only the State, from the command alone (no clock, no liveness), so
// every node that applies the same log holds the same State. It holds the
// cluster ID; the members (node_name, raft ID, epoch, URLs, version,
// license); the purged nodes (name → raft ID: neither returns); and the
// owner of each channel with the owner's epoch. Commands: init (the first
// entry, bootstrapping a one-node cluster), add (a configuration change
// adding a voter), start (a member restarted: epoch+1, once per process
// start), remove (PurgeClusterNode, a configuration change), claim (a
// compare-and-set of a channel's owner: it succeeds only when the owner is
// still the one the proposer saw, so two nodes never own a channel) and
// release (the owner gives an empty channel back). A configuration change
// whose command the state machine refuses is cancelled in raft too.
//
// The replica runs raft.Node's Ready loop on one goroutine, in the order
// raft requires: persist (HardState, entries and a received snapshot in
// one bbolt write transaction per Ready), send (the transport marshals
// before returning), apply the snapshot and the committed entries to the
// State (ApplyConfChange for configuration changes), then Advance. Every
// SnapshotEvery applied entries it snapshots the State (its JSON) and
// compacts the log (in memory keeping KeepEntries for slow followers; on
// disk dropping everything the snapshot covers), so the log stays bounded;
// a follower too far behind gets the snapshot. Proposals wait for their
// own entry to be applied (matched by a request ID) and are proposed again
// after a second or on a leader change; the state machine makes repeats
// harmless. Reads that must not be stale (placement) use ReadIndex, which
// needs a majority to confirm the leader. PreVote and CheckQuorum are on.
//
// Liveness is not replicated: every node pings every member on the
// cluster listener (PingInterval), learning its mode, connection count and
// whether it runs its current epoch; a node not heard from for
// LiveTimeout is disconnected. ListClusterNodes' connected, placement and
// NODE-IS-ALIVE (plus one direct ping) read it.
//
// # Placement
//
// Place(channelID) runs before a connect's auth: after a ReadIndex (no
// majority: ErrNoMajority, the connect is refused; established
// connections are untouched), the current owner keeps a channel while it
// is a member in the epoch it claimed it in and answers pings; otherwise
// Decide picks the least-loaded connected node in normal mode
// (connections / license max connections, DefaultCapacity when 0; full
// nodes skipped; the contacted node on a tie) and a claim commits it.
// Place returns "" when this node owns the channel, else the owner's
// external_signaling_url for {"type":"redirect"}. The owner gives a
// channel back after it has had no connection for ReleaseAfter (at once
// for channels of its earlier epochs). A node whose owner died sees
// owner-disconnected and claims the channel anew on the next connect; the
// old owner, if it was only cut off, keeps its connections but refuses new
// ones (it has no majority, or redirects to the new owner).
//
// # Cluster listener (cluster_port, HTTP)
//
//	POST /cluster/raft    a batch of raft messages (each: uvarint length, protobuf)
//	POST /cluster/ping    liveness and load, answered with the same
//	POST /cluster/join    a node asks a member to add it (JoinCluster's contact)
//	POST /cluster/invite  InitCluster asks a listed node to join through it
//	POST /cluster/api     an API operation forwarded to its channel's owner (api.CallLocal)
//
// Each peer has one sending goroutine with a queue of 1024 messages; a
// full queue or a failed POST drops the messages (counted in
// hayate_cluster_raft_messages_dropped_total), raft is told the peer is
// unreachable and sends again later. A batch from another cluster or from
// a purged node is refused (409, 410: a purged node learns it and stops).
// The listener has no authentication: keep cluster_port on a trusted
// network.
//
// # API operations (Intercept)
//
//	target                                  keys (? optional)            answer
//	Sora_20221221.InitCluster               node_name_list               {node_name_list}
//	Sora_20211215.JoinCluster               contact_node_name            {node_name_list}
//	Sora_20211215.RegisterClusterNode       contact_node_name            {node_name_list} (same as JoinCluster)
//	Sora_20211215.ListClusterNodes          include_all_known_nodes?     [{connected, epoch, external_api_url, external_signaling_url,
//	                                                                       license_max_connections, license_max_nodes, license_serial_code,
//	                                                                       license_type, mode, node_name, temporary_node, version}]
//	Sora_20211215.ListClusterChannels       -                            [{channel_id, owners: [{connected, epoch, epoch_latest, node_name}]}]
//	Sora_20220629.PurgeClusterNode          target_node_name             {target_node_name}
//	Sora_20201013.ListChannels              local: false                 every reachable node's channels, merged by channel_id
//	any other with a channel_id             -                            run by the channel's owner when another reachable node owns it
//
// ListClusterNodes lists connected nodes; with include_all_known_nodes
// also the disconnected members, as {connected: false, node_name} only.
// A node in no cluster lists []. InitCluster bootstraps this node alone,
// then invites the others one at a time (each must be running); a node
// that does not join is named in the error and can JoinCluster later.
//
//	status  error_type           when
//	400     INVALID-JSON         the body is not a JSON object
//	400     MISSING-KEY          a required key is absent or null (error_reason.key)
//	400     INVALID-TYPE         a key has the wrong JSON type
//	400     INVALID-VALUE        not a node name, an empty or repeating list, InitCluster without this node, JoinCluster naming itself
//	400     ALREADY-IN-CLUSTER   InitCluster or JoinCluster on a node in a cluster (error_reason.cluster_id)
//	400     NOT-IN-CLUSTER       PurgeClusterNode on, or JoinCluster through, a node in no cluster
//	400     NODE-NAME-IN-USE     a node joins under a member's name
//	400     NODE-PURGED          a purged name joins again; any operation on a purged node
//	400     NODE-IS-ALIVE        PurgeClusterNode on a running node (error_reason.target_node)
//	404     NODE-NOT-FOUND       PurgeClusterNode on a name that is not a member
//	502     NODE-UNREACHABLE     the contact or an invited node did not answer
//	503     NO-MAJORITY          a write not committed within the timeout (fewer than a majority answer)
//
// Place's errors (the connect is refused with the message): ErrNoMajority,
// ErrNotReady (this node restarted and its return is not committed yet),
// ErrNotInCluster, ErrPurged, ErrNoCandidate (no connected node in normal
// mode has room).
//
// # Concurrency
//
// Every exported method of Cluster may be called from any goroutine.
// Close stops every goroutine the Cluster started and waits for them.
// Config.CallLocal and Config.Local are called from the API, listener and
// janitor goroutines and must be safe for that; Local is called on every
// ping answer and placement, so it must be cheap.
package cluster
