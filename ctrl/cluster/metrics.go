package cluster

import (
	"fmt"

	"github.com/prometheus/client_golang/prometheus"
)

// metrics are the hayate_cluster_* series.
type metrics struct {
	dropped    *prometheus.CounterVec // raft messages not delivered, by reason
	placements *prometheus.CounterVec // Place answers, by result
}

func newMetrics(reg prometheus.Registerer, c *Cluster) (*metrics, error) {
	m := &metrics{
		dropped: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "hayate_cluster_raft_messages_dropped_total",
			Help: "Raft messages this node did not deliver or did not accept, by reason (queue_full, send_failed, unknown_peer, other_cluster, purged_sender, wrong_recipient, step_failed, marshal). Raft sends again; a steady rise means a peer is down or slow.",
		}, []string{"reason"}),
		placements: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "hayate_cluster_placements_total",
			Help: "Connects placed by the cluster, by result: local (this node owns the channel), redirect (another node does), refused (no majority, not ready, no node with room).",
		}, []string{"result"}),
	}
	if reg == nil {
		return m, nil
	}
	raftValue := func(name, help string, f func(RaftStatus) float64) prometheus.Collector {
		return prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: name, Help: help}, func() float64 {
			st, ok := c.RaftStatus()
			if !ok {
				return 0
			}
			return f(st)
		})
	}
	cs := []prometheus.Collector{
		m.dropped, m.placements,
		raftValue("hayate_cluster_raft_term", "The node's current raft term (0 in no cluster).", func(s RaftStatus) float64 { return float64(s.Term) }),
		raftValue("hayate_cluster_raft_commit_index", "The node's raft commit index (0 in no cluster).", func(s RaftStatus) float64 { return float64(s.CommitIndex) }),
		raftValue("hayate_cluster_raft_leader", "1 while this node is the raft leader, else 0.", func(s RaftStatus) float64 {
			if s.State == "leader" {
				return 1
			}
			return 0
		}),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "hayate_cluster_nodes_connected",
			Help: "Members of the cluster this node reaches, itself included (0 in no cluster).",
		}, func() float64 { return float64(c.connectedCount()) }),
	}
	for _, col := range cs {
		if err := reg.Register(col); err != nil {
			return nil, fmt.Errorf("%w: metrics: %w", ErrConfig, err)
		}
	}
	return m, nil
}
