package cluster

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"sort"
	"strconv"
	"sync"
	"time"

	"go.etcd.io/raft/v3/raftpb"

	"github.com/hayate-sfu/hayate/ctrl/api"
)

// The x-sora-target values the cluster serves or widens.
const (
	TargetInitCluster         = "Sora_20221221.InitCluster"
	TargetJoinCluster         = "Sora_20211215.JoinCluster"
	TargetRegisterClusterNode = "Sora_20211215.RegisterClusterNode"
	TargetListClusterNodes    = "Sora_20211215.ListClusterNodes"
	TargetListClusterChannels = "Sora_20211215.ListClusterChannels"
	TargetPurgeClusterNode    = "Sora_20220629.PurgeClusterNode"
	TargetListChannels        = "Sora_20201013.ListChannels"
)

// forwardTimeout bounds an API operation forwarded to another node, and
// each node's answer to a cluster-wide ListChannels.
const forwardTimeout = 5 * time.Second

// Intercept is ctrl/api's Config.Intercept: it serves the cluster
// operations, forwards an operation whose body names a channel_id owned by
// another (reachable) node to that node, and answers ListChannels with
// local: false from every reachable node. Everything else (handled =
// false) the node runs itself. It may be called from any goroutine.
func (c *Cluster) Intercept(target string, body []byte) (status int, response []byte, handled bool) {
	var v any
	var e *apiError
	switch target {
	case TargetInitCluster:
		v, e = c.apiInit(body)
	case TargetJoinCluster, TargetRegisterClusterNode:
		v, e = c.apiJoin(body)
	case TargetListClusterNodes:
		v, e = c.apiListNodes(body)
	case TargetListClusterChannels:
		v, e = c.apiListChannels(body)
	case TargetPurgeClusterNode:
		v, e = c.apiPurge(body)
	case TargetListChannels:
		return c.listChannelsWide(body)
	default:
		return c.forward(target, body)
	}
	if e != nil {
		if e.Status >= 500 {
			c.log.Warn("cluster: operation failed", "target", target, "status", e.Status, "error_type", e.Type, "message", e.Reason.Message)
		}
		return e.Status, e.body(), true
	}
	b, err := json.Marshal(v)
	if err != nil {
		e := &apiError{Status: http.StatusInternalServerError, Type: TypeInternal, Reason: errorReason{Message: "encoding the answer: " + err.Error()}}
		return e.Status, e.body(), true
	}
	return http.StatusOK, b, true
}

type nodeNameList struct {
	NodeNameList []string `json:"node_name_list"`
}

func (c *Cluster) apiInit(body []byte) (any, *apiError) {
	b, e := parseReq(body)
	if e != nil {
		return nil, e
	}
	names, e := b.nodeNames("node_name_list")
	if e != nil {
		return nil, e
	}
	found := false
	for _, n := range names {
		found = found || n == c.cfg.NodeName
	}
	if !found {
		return nil, &apiError{Status: http.StatusBadRequest, Type: TypeInvalidValue, Reason: errorReason{Key: "node_name_list", NodeName: c.cfg.NodeName,
			Message: "node_name_list must include the node InitCluster is called on (" + c.cfg.NodeName + ")"}}
	}
	ctx, cancel := context.WithTimeout(c.ctx, c.t.ProposeTimeout*time.Duration(2+3*len(names)))
	defer cancel()
	got, err := c.initCluster(ctx, names)
	if err != nil {
		return nil, toAPIError(err, errorReason{})
	}
	return nodeNameList{got}, nil
}

func (c *Cluster) apiJoin(body []byte) (any, *apiError) {
	b, e := parseReq(body)
	if e != nil {
		return nil, e
	}
	contact, e := b.nodeName("contact_node_name")
	if e != nil {
		return nil, e
	}
	ctx, cancel := context.WithTimeout(c.ctx, 2*c.t.ProposeTimeout)
	defer cancel()
	got, err := c.join(ctx, contact, "")
	if err != nil {
		return nil, toAPIError(err, errorReason{ContactNode: contact})
	}
	return nodeNameList{got}, nil
}

// nodeJSON is one ListClusterNodes entry; a disconnected node has only
// node_name and connected (seed document). Members in alphabetical order.
type nodeJSON struct {
	Connected             bool    `json:"connected"`
	Epoch                 *uint64 `json:"epoch,omitempty"`
	ExternalAPIURL        string  `json:"external_api_url,omitempty"`
	ExternalSignalingURL  string  `json:"external_signaling_url,omitempty"`
	LicenseMaxConnections *int    `json:"license_max_connections,omitempty"`
	LicenseMaxNodes       *int    `json:"license_max_nodes,omitempty"`
	LicenseSerialCode     string  `json:"license_serial_code,omitempty"`
	LicenseType           string  `json:"license_type,omitempty"`
	Mode                  string  `json:"mode,omitempty"`
	NodeName              string  `json:"node_name"`
	TemporaryNode         *bool   `json:"temporary_node,omitempty"`
	Version               string  `json:"version,omitempty"`
}

func (c *Cluster) apiListNodes(body []byte) (any, *apiError) {
	b, e := parseReq(body)
	if e != nil {
		return nil, e
	}
	all, e := b.optBool("include_all_known_nodes", false)
	if e != nil {
		return nil, e
	}
	rep, err := c.replica()
	if errors.Is(err, ErrNotInCluster) {
		return []nodeJSON{}, nil
	}
	if err != nil {
		return nil, toAPIError(err, errorReason{})
	}
	localMode := c.cfg.Local().Mode
	out := []nodeJSON{}
	rep.view(func(s *State) {
		for name, m := range s.Members {
			p, ok := c.reachable(name)
			if !ok {
				if all {
					out = append(out, nodeJSON{NodeName: name})
				}
				continue
			}
			mode := p.Mode
			if name == c.cfg.NodeName {
				mode = localMode
			}
			if mode == "" {
				mode = "normal"
			}
			epoch, maxConn, maxNodes, temp := m.Epoch, m.License.MaxConnections, m.License.MaxNodes, false
			out = append(out, nodeJSON{
				Connected: true, Epoch: &epoch, ExternalAPIURL: m.APIURL, ExternalSignalingURL: m.SignalingURL,
				LicenseMaxConnections: &maxConn, LicenseMaxNodes: &maxNodes,
				LicenseSerialCode: m.License.SerialCode, LicenseType: m.License.Type,
				Mode: mode, NodeName: name, TemporaryNode: &temp, Version: m.Version,
			})
		}
	})
	sort.Slice(out, func(i, j int) bool { return out[i].NodeName < out[j].NodeName })
	return out, nil
}

type ownerJSON struct {
	Connected   bool   `json:"connected"`
	Epoch       uint64 `json:"epoch"`
	EpochLatest bool   `json:"epoch_latest"`
	NodeName    string `json:"node_name"`
}

type clusterChannelJSON struct {
	ChannelID string      `json:"channel_id"`
	Owners    []ownerJSON `json:"owners"`
}

func (c *Cluster) apiListChannels(body []byte) (any, *apiError) {
	if _, e := parseReq(body); e != nil {
		return nil, e
	}
	rep, err := c.replica()
	if errors.Is(err, ErrNotInCluster) {
		return []clusterChannelJSON{}, nil
	}
	if err != nil {
		return nil, toAPIError(err, errorReason{})
	}
	out := []clusterChannelJSON{}
	rep.view(func(s *State) {
		for ch, o := range s.Channels {
			_, ok := c.reachable(o.Node)
			out = append(out, clusterChannelJSON{ChannelID: ch, Owners: []ownerJSON{{
				Connected: ok, Epoch: o.Epoch, EpochLatest: s.OwnerValid(o), NodeName: o.Node,
			}}})
		}
	})
	sort.Slice(out, func(i, j int) bool { return out[i].ChannelID < out[j].ChannelID })
	return out, nil
}

func (c *Cluster) apiPurge(body []byte) (any, *apiError) {
	b, e := parseReq(body)
	if e != nil {
		return nil, e
	}
	target, e := b.nodeName("target_node_name")
	if e != nil {
		return nil, e
	}
	rep, err := c.replica()
	if err != nil {
		return nil, toAPIError(err, errorReason{TargetNode: target})
	}
	var id uint64
	purged := false
	rep.view(func(s *State) {
		if m := s.Members[target]; m != nil {
			id = m.ID
		}
		_, purged = s.Purged[target]
	})
	alive := func(why string) *apiError {
		return &apiError{Status: http.StatusBadRequest, Type: TypeNodeIsAlive, Reason: errorReason{TargetNode: target,
			Message: target + " " + why + "; stop it before PurgeClusterNode"}}
	}
	switch {
	case target == c.cfg.NodeName:
		return nil, alive("is the node this request reached")
	case id == 0 && purged:
		return nil, &apiError{Status: http.StatusNotFound, Type: TypeNodeNotFound, Reason: errorReason{TargetNode: target, Message: target + " is already purged"}}
	case id == 0:
		return nil, &apiError{Status: http.StatusNotFound, Type: TypeNodeNotFound, Reason: errorReason{TargetNode: target, Message: target + " is not a member of the cluster"}}
	}
	if _, ok := c.reachable(target); ok {
		return nil, alive("is running (it answered within " + c.t.LiveTimeout.String() + ")")
	}
	if c.answersPing(target) {
		return nil, alive("is running (it answered a ping)")
	}
	ctx, cancel := context.WithTimeout(c.ctx, c.t.ProposeTimeout)
	defer cancel()
	res, err := rep.proposeConf(ctx, raftpb.ConfChangeRemoveNode, id, &Command{Op: OpRemove, Node: target, ID: id})
	if err == nil {
		err = res.Err
	}
	if err != nil {
		return nil, toAPIError(err, errorReason{TargetNode: target})
	}
	c.log.Info("cluster: node purged", "node_name", target)
	return map[string]string{"target_node_name": target}, nil
}

// answersPing pings name once (bounded by a second).
func (c *Cluster) answersPing(name string) bool {
	addr := c.addrOf(name)
	if addr == "" {
		return false
	}
	ctx, cancel := context.WithTimeout(c.ctx, time.Second)
	defer cancel()
	status, b, err := call(ctx, c.client, "http://"+addr+pathPing, nil, c.pingBody())
	if err != nil || status != http.StatusOK {
		return false
	}
	c.pong(name, b, nil)
	return true
}

// forward sends an operation on a channel owned by another reachable node
// to that node; handled is false when this node should run it (no
// channel_id, the channel is this node's or nobody's, the owner is down).
func (c *Cluster) forward(target string, body []byte) (int, []byte, bool) {
	if !bytes.Contains(body, []byte(`"channel_id"`)) {
		return 0, nil, false
	}
	var m map[string]json.RawMessage
	var ch string
	if json.Unmarshal(body, &m) != nil || json.Unmarshal(m["channel_id"], &ch) != nil || ch == "" {
		return 0, nil, false
	}
	rep, err := c.replica()
	if err != nil {
		return 0, nil, false
	}
	var owner string
	rep.view(func(s *State) {
		if o, ok := s.Channels[ch]; ok && s.OwnerValid(o) {
			owner = o.Node
		}
	})
	if owner == "" || owner == c.cfg.NodeName {
		return 0, nil, false
	}
	if _, ok := c.reachable(owner); !ok {
		return 0, nil, false
	}
	status, resp, err := c.callNode(owner, target, body)
	if err != nil {
		c.log.Warn("cluster: forwarding to the channel's owner failed; answering locally", "target", target, "channel_id", ch, "owner", owner, "err", err)
		return 0, nil, false
	}
	return status, resp, true
}

// callNode runs an API operation on another node (its CallLocal).
func (c *Cluster) callNode(name, target string, body []byte) (int, []byte, error) {
	addr := c.addrOf(name)
	if addr == "" {
		return 0, nil, fmt.Errorf("%w: %s", ErrBadNodeName, name)
	}
	ctx, cancel := context.WithTimeout(c.ctx, forwardTimeout)
	defer cancel()
	return call(ctx, c.client, "http://"+addr+pathAPI, http.Header{headerTarget: {target}}, body)
}

// listChannelsWide answers ListChannels with local: false from every
// reachable member; anything else is left to the node.
func (c *Cluster) listChannelsWide(body []byte) (int, []byte, bool) {
	b, e := parseReq(body)
	if e != nil {
		return 0, nil, false
	}
	local, e := b.optBool("local", true)
	if e != nil || local {
		return 0, nil, false
	}
	rep, err := c.replica()
	if err != nil {
		return 0, nil, false
	}
	status, own := c.cfg.CallLocal(TargetListChannels, []byte(`{"local":true}`))
	if status != http.StatusOK {
		return status, own, true
	}
	var others []string
	rep.view(func(s *State) {
		for name := range s.Members {
			if _, ok := c.reachable(name); ok && name != c.cfg.NodeName {
				others = append(others, name)
			}
		}
	})
	answers := make([][]byte, len(others))
	var wg sync.WaitGroup
	for i, name := range others {
		wg.Go(func() {
			st, b, err := c.callNode(name, TargetListChannels, []byte(`{"local":true}`))
			if err != nil || st != http.StatusOK {
				c.log.Warn("cluster: a node did not list its channels", "node_name", name, "status", st, "err", err)
				return
			}
			answers[i] = b
		})
	}
	wg.Wait()
	merged := map[string]json.RawMessage{}
	for _, a := range append([][]byte{own}, answers...) {
		var items []json.RawMessage
		if json.Unmarshal(a, &items) != nil {
			continue
		}
		for _, it := range items {
			var id struct {
				ChannelID string `json:"channel_id"`
			}
			if json.Unmarshal(it, &id) == nil && id.ChannelID != "" {
				if _, dup := merged[id.ChannelID]; !dup {
					merged[id.ChannelID] = it
				}
			}
		}
	}
	ids := make([]string, 0, len(merged))
	for id := range merged {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	out := make([]json.RawMessage, 0, len(ids))
	for _, id := range ids {
		out = append(out, merged[id])
	}
	resp, err := json.Marshal(out)
	if err != nil {
		return 0, nil, false
	}
	return http.StatusOK, resp, true
}

// connectedCount is the number of members this node reaches (itself
// included); 0 in no cluster.
func (c *Cluster) connectedCount() int {
	rep, err := c.replica()
	if err != nil {
		return 0
	}
	n := 0
	rep.view(func(s *State) {
		for name := range s.Members {
			if _, ok := c.reachable(name); ok {
				n++
			}
		}
	})
	return n
}

// Place decides where a connect to channelID goes, before any auth: ""
// when this node owns the channel (or now does), else the owner's
// external_signaling_url for a redirect. It confirms with a majority
// first, so a node without one refuses (ErrNoMajority) and serves only the
// connections it has; a new channel, or one whose owner died or
// restarted, is claimed for the least-loaded connected node by a
// compare-and-set command, so two nodes never own a channel. Bounded by
// Timing.PlaceTimeout. Signature of ctrl/signaling's Config.Place.
func (c *Cluster) Place(channelID string) (redirectURL string, err error) {
	url, err := c.place(channelID)
	switch {
	case err != nil:
		c.m.placements.WithLabelValues("refused").Inc()
		c.log.Info("cluster: connect refused", "channel_id", channelID, "err", err)
	case url == "":
		c.m.placements.WithLabelValues("local").Inc()
	default:
		c.m.placements.WithLabelValues("redirect").Inc()
	}
	return url, err
}

func (c *Cluster) place(channelID string) (string, error) {
	rep, err := c.replica()
	if err != nil {
		return "", err
	}
	electionTimeout := c.t.Tick * time.Duration(c.t.ElectionTicks)
	if d := rep.noLeaderFor(); d > 2*electionTimeout {
		return "", fmt.Errorf("%w: no raft leader for %v (fewer than a majority of the nodes answer)", ErrNoMajority, d.Round(100*time.Millisecond))
	}
	ctx, cancel := context.WithTimeout(c.ctx, c.t.PlaceTimeout)
	defer cancel()
	if !c.ready(rep) {
		if err := c.waitReady(ctx, rep); err != nil {
			return "", fmt.Errorf("%w: %s restarted and a majority has not confirmed its return yet", ErrNotReady, c.cfg.NodeName)
		}
	}
	if err := rep.readIndex(ctx); err != nil {
		return "", err
	}
	for attempt := 0; attempt < 4; attempt++ {
		var d Decision
		var derr error
		var epoch uint64
		rep.view(func(s *State) {
			d, derr = Decide(s, channelID, c.view(s, rep))
			if derr == nil {
				epoch = s.Members[d.Owner].Epoch
			}
		})
		if derr != nil {
			return "", derr
		}
		if !d.Claim {
			return c.redirectTo(rep, d.Owner, channelID)
		}
		res, err := rep.propose(ctx, &Command{Op: OpClaim, Channel: channelID, Node: d.Owner, Epoch: epoch, Expect: d.Expect})
		if err != nil {
			return "", err
		}
		if res.Claimed {
			c.log.Info("cluster: channel placed", "channel_id", channelID, "owner", res.Owner.Node, "why", d.Why)
			return c.redirectTo(rep, res.Owner.Node, channelID)
		}
		// Another node placed it first, or the chosen node restarted:
		// decide again on the newer state.
	}
	return "", fmt.Errorf("%w: channel %q: its placement kept changing", ErrNoMajority, channelID)
}

// redirectTo is "" for this node (and notes the placement for the
// janitor), else the owner's signaling URL.
func (c *Cluster) redirectTo(rep *replica, owner, channelID string) (string, error) {
	if owner == c.cfg.NodeName {
		c.janMu.Lock()
		c.placed[channelID] = time.Now()
		c.janMu.Unlock()
		return "", nil
	}
	var url string
	rep.view(func(s *State) {
		if m := s.Members[owner]; m != nil {
			url = m.SignalingURL
		}
	})
	if url == "" {
		return "", fmt.Errorf("%w: owner %s of channel %q has no signaling URL", ErrNodeNotFound, owner, channelID)
	}
	return url, nil
}

// Request bodies of the cluster operations: a JSON object (empty body is
// {}), its keys checked as ctrl/api checks them.

type reqBody map[string]json.RawMessage

func parseReq(b []byte) (reqBody, *apiError) {
	t := bytes.TrimSpace(b)
	if len(t) == 0 {
		return reqBody{}, nil
	}
	if t[0] != '{' {
		return nil, &apiError{Status: http.StatusBadRequest, Type: TypeInvalidJSON, Reason: errorReason{Message: "the body is not a JSON object"}}
	}
	var m reqBody
	if err := json.Unmarshal(t, &m); err != nil {
		return nil, &apiError{Status: http.StatusBadRequest, Type: TypeInvalidJSON, Reason: errorReason{Message: err.Error()}}
	}
	if m == nil {
		m = reqBody{}
	}
	return m, nil
}

func (b reqBody) present(key string) bool {
	raw, ok := b[key]
	return ok && api.JSONKind(raw) != "null"
}

func missingKey(key string) *apiError {
	return &apiError{Status: http.StatusBadRequest, Type: TypeMissingKey, Reason: errorReason{Key: key, Message: key + " is required"}}
}

func invalidType(key, want string, raw json.RawMessage) *apiError {
	return &apiError{Status: http.StatusBadRequest, Type: TypeInvalidType, Reason: errorReason{Key: key, Message: key + " must be " + want + ", not " + api.JSONKind(raw)}}
}

func invalidValue(key, msg string) *apiError {
	return &apiError{Status: http.StatusBadRequest, Type: TypeInvalidValue, Reason: errorReason{Key: key, Message: key + " " + msg}}
}

func (b reqBody) optBool(key string, def bool) (bool, *apiError) {
	if !b.present(key) {
		return def, nil
	}
	switch string(bytes.TrimSpace(b[key])) {
	case "true":
		return true, nil
	case "false":
		return false, nil
	}
	return false, invalidType(key, "a boolean", b[key])
}

// nodeName reads a required node name.
func (b reqBody) nodeName(key string) (string, *apiError) {
	if !b.present(key) {
		return "", missingKey(key)
	}
	var s string
	if api.JSONKind(b[key]) != "a string" || json.Unmarshal(b[key], &s) != nil {
		return "", invalidType(key, "a string", b[key])
	}
	if _, _, err := splitNodeName(s); err != nil {
		return "", invalidValue(key, strconv.Quote(truncate(s, 100))+" is not a node name (name@host or name@host:port)")
	}
	return s, nil
}

// nodeNames reads a required non-empty array of distinct node names.
func (b reqBody) nodeNames(key string) ([]string, *apiError) {
	if !b.present(key) {
		return nil, missingKey(key)
	}
	var raw []json.RawMessage
	if api.JSONKind(b[key]) != "an array" || json.Unmarshal(b[key], &raw) != nil {
		return nil, invalidType(key, "an array of strings", b[key])
	}
	if len(raw) == 0 {
		return nil, invalidValue(key, "is empty")
	}
	seen := map[string]bool{}
	var out []string
	for i, r := range raw {
		var s string
		if api.JSONKind(r) != "a string" || json.Unmarshal(r, &s) != nil {
			return nil, invalidType(key+"["+strconv.Itoa(i)+"]", "a string", r)
		}
		if _, _, err := splitNodeName(s); err != nil {
			return nil, invalidValue(key, strconv.Quote(truncate(s, 100))+" is not a node name (name@host or name@host:port)")
		}
		if seen[s] {
			return nil, invalidValue(key, "lists "+s+" twice")
		}
		seen[s] = true
		out = append(out, s)
	}
	return out, nil
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}
