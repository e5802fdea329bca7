package cluster

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
)

// Errors. Every error the package returns wraps one of them (errors.Is);
// the API answers each with the status and error_type in the package doc.
var (
	// ErrConfig: New was given an unusable Config.
	ErrConfig = errors.New("cluster: bad config")
	// ErrBadNodeName: a node name is not name@host or name@host:port.
	ErrBadNodeName = errors.New("cluster: bad node name")
	// ErrNotInCluster: the operation needs a cluster and this node (or the
	// contact node) belongs to none yet.
	ErrNotInCluster = errors.New("cluster: not in a cluster")
	// ErrAlreadyInCluster: InitCluster or JoinCluster on a node that
	// already belongs to a cluster.
	ErrAlreadyInCluster = errors.New("cluster: already in a cluster")
	// ErrNameInUse: a node joins under the name of another member.
	ErrNameInUse = errors.New("cluster: node name in use")
	// ErrPurged: the node (or name) was purged from the cluster and never
	// comes back under that identity.
	ErrPurged = errors.New("cluster: node purged")
	// ErrNoMajority: a write (or a linearizable read) did not reach a
	// majority of the cluster in time.
	ErrNoMajority = errors.New("cluster: no majority")
	// ErrNotReady: this node restarted and its return (the epoch bump) is
	// not committed yet.
	ErrNotReady = errors.New("cluster: node not ready")
	// ErrNodeNotFound: no member has that name.
	ErrNodeNotFound = errors.New("cluster: no such node")
	// ErrNodeIsAlive: PurgeClusterNode on a node that is running.
	ErrNodeIsAlive = errors.New("cluster: node is alive")
	// ErrUnreachable: another node did not answer.
	ErrUnreachable = errors.New("cluster: node unreachable")
	// ErrNoCandidate: no connected node accepts a new channel (every one
	// is blocked by its mode or full).
	ErrNoCandidate = errors.New("cluster: no node can take the channel")
	// ErrStaleEpoch: a claim names an epoch its node has left (it
	// restarted meanwhile).
	ErrStaleEpoch = errors.New("cluster: stale epoch")
	// ErrClosed: the cluster is closed.
	ErrClosed = errors.New("cluster: closed")
	// ErrStorage: the node could not write its raft log; it stops taking
	// part and refuses new sessions (Sora switches to block_new_connection).
	ErrStorage = errors.New("cluster: storage failure")
)

// Error types of the cluster operations (error_type), beside the request
// errors of ctrl/api (INVALID-JSON, MISSING-KEY, INVALID-TYPE,
// INVALID-VALUE) that the cluster operations share.
const (
	TypeNodeIsAlive      = "NODE-IS-ALIVE"
	TypeNotInCluster     = "NOT-IN-CLUSTER"
	TypeAlreadyInCluster = "ALREADY-IN-CLUSTER"
	TypeNameInUse        = "NODE-NAME-IN-USE"
	TypeNodePurged       = "NODE-PURGED"
	TypeNoMajority       = "NO-MAJORITY"
	TypeNotReady         = "NODE-NOT-READY"
	TypeNodeNotFound     = "NODE-NOT-FOUND"
	TypeUnreachable      = "NODE-UNREACHABLE"
	TypeInternal         = "INTERNAL-ERROR"
	TypeInvalidJSON      = "INVALID-JSON"
	TypeMissingKey       = "MISSING-KEY"
	TypeInvalidType      = "INVALID-TYPE"
	TypeInvalidValue     = "INVALID-VALUE"
)

// apiError is an error answer of a cluster operation: the status and the
// body {"error_reason": {…, "message": …}, "error_type": …}, the shape of
// ctrl/api's errors and of the seed's NODE-IS-ALIVE example.
type apiError struct {
	Status int
	Type   string
	Reason errorReason
}

// errorReason is error_reason. Empty members are left out, except message.
// The members are in alphabetical order, as ctrl/api writes them.
type errorReason struct {
	ClusterID   string `json:"cluster_id,omitempty"`
	ContactNode string `json:"contact_node,omitempty"`
	Key         string `json:"key,omitempty"`
	Message     string `json:"message"`
	NodeName    string `json:"node_name,omitempty"`
	TargetNode  string `json:"target_node,omitempty"`
}

func (e *apiError) Error() string {
	return fmt.Sprintf("cluster: %d %s: %s", e.Status, e.Type, e.Reason.Message)
}

func (e *apiError) body() []byte {
	b, err := json.Marshal(struct {
		ErrorReason errorReason `json:"error_reason"`
		ErrorType   string      `json:"error_type"`
	}{e.Reason, e.Type})
	if err != nil { // strings only: cannot happen
		return []byte(`{"error_reason":{"message":"encoding the error failed"},"error_type":"INTERNAL-ERROR"}`)
	}
	return b
}

// toAPIError maps an error of this package to its answer; reason carries
// the request values the error is about (its message is replaced).
func toAPIError(err error, reason errorReason) *apiError {
	var ae *apiError
	if errors.As(err, &ae) {
		return ae
	}
	reason.Message = err.Error()
	e := &apiError{Status: http.StatusInternalServerError, Type: TypeInternal, Reason: reason}
	switch {
	case errors.Is(err, ErrNodeIsAlive):
		e.Status, e.Type = http.StatusBadRequest, TypeNodeIsAlive
	case errors.Is(err, ErrNotInCluster):
		e.Status, e.Type = http.StatusBadRequest, TypeNotInCluster
	case errors.Is(err, ErrAlreadyInCluster):
		e.Status, e.Type = http.StatusBadRequest, TypeAlreadyInCluster
	case errors.Is(err, ErrNameInUse):
		e.Status, e.Type = http.StatusBadRequest, TypeNameInUse
	case errors.Is(err, ErrPurged):
		e.Status, e.Type = http.StatusBadRequest, TypeNodePurged
	case errors.Is(err, ErrBadNodeName):
		e.Status, e.Type = http.StatusBadRequest, TypeInvalidValue
	case errors.Is(err, ErrNodeNotFound):
		e.Status, e.Type = http.StatusNotFound, TypeNodeNotFound
	case errors.Is(err, ErrNoMajority), errors.Is(err, ErrClosed), errors.Is(err, ErrStorage):
		e.Status, e.Type = http.StatusServiceUnavailable, TypeNoMajority
	case errors.Is(err, ErrNotReady):
		e.Status, e.Type = http.StatusServiceUnavailable, TypeNotReady
	case errors.Is(err, ErrUnreachable):
		e.Status, e.Type = http.StatusBadGateway, TypeUnreachable
	}
	return e
}
