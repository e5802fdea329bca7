package cluster

import (
	"fmt"
	"sort"
)

// DefaultCapacity is the number of connections a node without
// license_max_connections (max_connections = 0) is taken to hold when
// placement compares loads.
const DefaultCapacity = 10000

// Load is what one node knows about another for placement: whether it
// answers and runs its current epoch, its API mode and how many
// connections it holds.
type Load struct {
	Connected   bool
	Mode        string
	Connections int
}

// View is one node's picture of the cluster at a moment: Self and the
// load of every node it can judge (a node missing from Nodes is taken as
// disconnected). Liveness is local knowledge; placement reads it, the
// state machine never does.
type View struct {
	Self  string
	Nodes map[string]Load
}

// Decision is where a channel goes.
type Decision struct {
	// Owner is the node that owns the channel, or is to own it.
	Owner string
	// Claim: the ownership must be committed first (the channel is new,
	// or its owner is gone). Expect is the owner the claim replaces (nil:
	// none), so that of two nodes deciding at once only one wins.
	Claim  bool
	Expect *Owner
	// Why is a word for logs and tests: owned, new, owner-disconnected,
	// owner-restarted.
	Why string
}

// Decide places channelID: the current owner while it is valid and
// connected; otherwise the least-loaded connected node in normal mode
// (connections / capacity, capacity = license max connections or
// DefaultCapacity; a full node is skipped), Self on a tie (Sora: the
// contacted node takes it), then the first name. It is pure: the same
// state and view give the same decision.
func Decide(s *State, channelID string, v View) (Decision, error) {
	cur, has := s.Channels[channelID]
	why := "new"
	if has {
		switch {
		case !s.OwnerValid(cur):
			why = "owner-restarted"
		case cur.Node != v.Self && !v.Nodes[cur.Node].Connected:
			why = "owner-disconnected"
		default:
			return Decision{Owner: cur.Node, Why: "owned"}, nil
		}
	}
	type cand struct {
		name string
		conn int64
		capa int64
	}
	var cands []cand
	for name, m := range s.Members {
		l, ok := v.Nodes[name]
		if !ok || !l.Connected || (l.Mode != "" && l.Mode != "normal") {
			continue
		}
		capa := int64(m.License.MaxConnections)
		if capa <= 0 {
			capa = DefaultCapacity
		}
		if int64(l.Connections) >= capa {
			continue
		}
		cands = append(cands, cand{name, int64(l.Connections), capa})
	}
	if len(cands) == 0 {
		return Decision{}, fmt.Errorf("%w: channel %q: no connected node in normal mode has room", ErrNoCandidate, channelID)
	}
	sort.Slice(cands, func(i, j int) bool {
		a, b := cands[i], cands[j]
		// a.conn/a.capa < b.conn/b.capa without floats.
		if l, r := a.conn*b.capa, b.conn*a.capa; l != r {
			return l < r
		}
		if (a.name == v.Self) != (b.name == v.Self) {
			return a.name == v.Self
		}
		return a.name < b.name
	})
	d := Decision{Owner: cands[0].name, Claim: true, Why: why}
	if has {
		e := cur
		d.Expect = &e
	}
	return d, nil
}
