package room

import (
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/hayate-sfu/hayate/dataplane"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
)

// What the HTTP API (ctrl/api) needs from the room beyond joining and
// leaving: the admission mode (mode.go), statistics of connections alive and
// gone, the signaling-notify metadata ext of each connection, transport
// counters and keyframe requests.

// ErrUnknownConnection is returned for a connection id the registry does not
// hold (never joined, or already left).
var ErrUnknownConnection = errors.New("room: no such connection")

// adminState is the Registry's state for the API. Lock order: a channel's
// mutex, then Registry.mu, then adminState.mu, which is taken last and never
// held while taking another lock.
type adminState struct {
	mu   sync.Mutex
	mode Mode // "" means ModeNormal

	// Connects refused before they joined, by reason (Refused*).
	refused map[string]uint64
	// connection.updated events.
	updated uint64
	// Of the connections that have left:
	destroyed uint64        // had been created (connection.created)
	abandoned uint64        // left before they were created
	duration  time.Duration // sum of created → left
	setup     time.Duration // sum of joined → created
	transport dataplane.TransportStats
	clients   map[string]*clientCount // by SoraClientType

	// ext is each connection's signaling-notify metadata ext (the API's
	// Sora_20201124 operations), by connection id; a connection without
	// an entry has {}.
	ext map[string]map[string]json.RawMessage
}

type clientCount struct{ successful, failed uint64 }

// clientCount returns the counters of soraClient's type. Called with a.mu held.
func (a *adminState) clientCount(soraClient string) *clientCount {
	if a.clients == nil {
		a.clients = make(map[string]*clientCount)
	}
	t := SoraClientType(soraClient)
	cc := a.clients[t]
	if cc == nil {
		cc = &clientCount{}
		a.clients[t] = cc
	}
	return cc
}

// onDetach records a connection that leaves. Registry.detach calls it with
// c's channel lock and Registry.mu held, once per connection.
func (r *Registry) onDetach(c *Connection) {
	ts := transportStats(c.tr)
	now := r.cfg.Now()
	a := &r.admin
	a.mu.Lock()
	defer a.mu.Unlock()
	delete(a.ext, c.id)
	cc := a.clientCount(c.soraClient)
	if c.created {
		a.destroyed++
		a.duration += now.Sub(c.createdAt)
		a.setup += c.createdAt.Sub(c.joinedAt)
		cc.successful++
	} else {
		a.abandoned++
		cc.failed++
	}
	addStats(&a.transport, ts)
}

func addStats(dst *dataplane.TransportStats, s dataplane.TransportStats) {
	dst.PacketsIn += s.PacketsIn
	dst.BytesIn += s.BytesIn
	dst.PacketsOut += s.PacketsOut
	dst.BytesOut += s.BytesOut
	dst.NACKsIn += s.NACKsIn
	dst.PLIsIn += s.PLIsIn
	dst.Retransmits += s.Retransmits
}

// transportStats reads a transport's counters when it keeps them
// (*dataplane.Transport does); zero otherwise.
func transportStats(t Transport) dataplane.TransportStats {
	if s, ok := t.(interface {
		Stats() dataplane.TransportStats
	}); ok {
		return s.Stats()
	}
	return dataplane.TransportStats{}
}

// ClientCount counts connections of one client type.
type ClientCount struct {
	// Successful connections were created (transport up, answer applied).
	Successful uint64
	// Failed connections were refused (mode, connection limits) or left
	// before they were created.
	Failed uint64
}

// Stats are the registry's counters since it was made (the API's
// GetStatsReport).
type Stats struct {
	// ConnectionsCreated counts connections that were created
	// (connection.created): the ongoing ones and the destroyed ones.
	ConnectionsCreated uint64
	// ConnectionsDestroyed counts created connections that have left.
	ConnectionsDestroyed uint64
	// ConnectionsOngoing counts created connections that have not left.
	ConnectionsOngoing uint64
	// ConnectionsFailed counts connects refused (mode, connection limits)
	// and connections that left before they were created (ICE/DTLS never
	// came up, the client went away during the offer/answer).
	ConnectionsFailed uint64
	// ConnectionsUpdated counts connection.updated events (one per created
	// connection per minute; GetStatsReport's total_connection_updated).
	ConnectionsUpdated uint64
	// Refused counts the connects refused before they joined, by reason:
	// RefusedMode, RefusedMaxConnections, RefusedMaxConnectionsPerChannel
	// (every key is present).
	Refused map[string]uint64
	// SessionsCreated and SessionsDestroyed count channels going from 0 to
	// 1 connection and back.
	SessionsCreated, SessionsDestroyed uint64
	// Duration is the sum of the created connections' lives (created →
	// left, or → now for the ongoing ones).
	Duration time.Duration
	// Setup is the sum over created connections of joined → created (from
	// the connect message to the transport up and the answer applied).
	Setup time.Duration
	// Transport sums the transport counters of every connection, alive or
	// gone.
	Transport dataplane.TransportStats
	// Clients counts connections by SoraClientType.
	Clients map[string]ClientCount
}

// Stats returns the registry's counters. They are read channel by channel:
// a connection leaving during the call may be missed or counted twice in
// the durations, never in the connection counts' totals for long.
func (r *Registry) Stats() Stats {
	var st Stats
	now := r.cfg.Now()
	clients := map[string]ClientCount{}
	for _, ch := range r.channelList() {
		ch.mu.Lock()
		for _, c := range ch.members {
			addStats(&st.Transport, transportStats(c.tr))
			if !c.created || c.left {
				continue
			}
			st.ConnectionsOngoing++
			st.Duration += now.Sub(c.createdAt)
			st.Setup += c.createdAt.Sub(c.joinedAt)
			t := SoraClientType(c.soraClient)
			cc := clients[t]
			cc.Successful++
			clients[t] = cc
		}
		ch.mu.Unlock()
	}
	a := &r.admin
	a.mu.Lock()
	st.ConnectionsDestroyed = a.destroyed
	st.ConnectionsFailed = a.abandoned
	for _, n := range a.refused {
		st.ConnectionsFailed += n
	}
	st.ConnectionsUpdated = a.updated
	st.Duration += a.duration
	st.Setup += a.setup
	addStats(&st.Transport, a.transport)
	for t, c := range a.clients {
		cc := clients[t]
		cc.Successful += c.successful
		cc.Failed += c.failed
		clients[t] = cc
	}
	a.mu.Unlock()
	st.Refused = r.Refused()
	st.ConnectionsCreated = st.ConnectionsOngoing + st.ConnectionsDestroyed
	st.SessionsCreated = counterValue(r.metrics.sessionsCreated)
	st.SessionsDestroyed = counterValue(r.metrics.sessionsEnded)
	st.Clients = clients
	return st
}

func counterValue(c prometheus.Counter) uint64 {
	var m dto.Metric
	if err := c.Write(&m); err != nil {
		return 0
	}
	return uint64(m.GetCounter().GetValue())
}

// channelList returns the channels, by channel id.
func (r *Registry) channelList() []*channel {
	r.mu.Lock()
	chans := make([]*channel, 0, len(r.channels))
	for _, ch := range r.channels {
		chans = append(chans, ch)
	}
	r.mu.Unlock()
	slices.SortFunc(chans, func(a, b *channel) int { return strings.Compare(a.id, b.id) })
	return chans
}

// SoraClientTypes are the client types of GetStatsReport's sora_client
// group, in its order.
var SoraClientTypes = []string{
	"sora_android_sdk", "sora_c_sdk", "sora_cpp_sdk", "sora_flutter_sdk", "sora_ios_sdk", "sora_js_sdk",
	"sora_unity_sdk", "sora_python_sdk", "obs_studio_whip", "obs_studio_whep",
	"webrtc_load_testing_tool_zakuro", "webrtc_native_client_momo", "unknown",
}

// SoraClientType classifies connect's sora_client string ("Sora JavaScript
// SDK 2026.1.0", "WebRTC Native Client Momo 2025.1.0 …") into one of
// SoraClientTypes, by the product name it starts with; anything else is
// "unknown".
func SoraClientType(soraClient string) string {
	s := strings.ToLower(soraClient)
	for _, p := range []struct{ prefix, typ string }{
		{"sora javascript sdk", "sora_js_sdk"},
		{"sora android sdk", "sora_android_sdk"},
		{"sora ios sdk", "sora_ios_sdk"},
		{"sora unity sdk", "sora_unity_sdk"},
		{"sora c++ sdk", "sora_cpp_sdk"},
		{"sora cpp sdk", "sora_cpp_sdk"},
		{"sora c sdk", "sora_c_sdk"},
		{"sora flutter sdk", "sora_flutter_sdk"},
		{"sora python sdk", "sora_python_sdk"},
		{"webrtc native client momo", "webrtc_native_client_momo"},
		{"webrtc load testing tool zakuro", "webrtc_load_testing_tool_zakuro"},
		{"obs-studio whip", "obs_studio_whip"},
		{"obs studio whip", "obs_studio_whip"},
		{"obs-studio whep", "obs_studio_whep"},
		{"obs studio whep", "obs_studio_whep"},
	} {
		if strings.HasPrefix(s, p.prefix) {
			return p.typ
		}
	}
	return "unknown"
}

// MetadataExt returns a copy of a connection's signaling-notify metadata
// ext ({} when none was set).
func (r *Registry) MetadataExt(connectionID string) (map[string]json.RawMessage, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.conns[connectionID] == nil {
		return nil, fmt.Errorf("%w: %q", ErrUnknownConnection, connectionID)
	}
	r.admin.mu.Lock()
	defer r.admin.mu.Unlock()
	return maps.Clone(r.admin.ext[connectionID]), nil
}

// UpdateMetadataExt replaces a connection's signaling-notify metadata ext
// with what update returns when given a copy of the current one; prev and
// next are copies of the value before and after. The read-modify-write is
// atomic. update must not call into the room.
func (r *Registry) UpdateMetadataExt(connectionID string, update func(cur map[string]json.RawMessage) map[string]json.RawMessage) (prev, next map[string]json.RawMessage, err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.conns[connectionID] == nil {
		return nil, nil, fmt.Errorf("%w: %q", ErrUnknownConnection, connectionID)
	}
	a := &r.admin
	a.mu.Lock()
	defer a.mu.Unlock()
	prev = maps.Clone(a.ext[connectionID])
	next = update(maps.Clone(prev))
	if a.ext == nil {
		a.ext = make(map[string]map[string]json.RawMessage)
	}
	if len(next) == 0 {
		delete(a.ext, connectionID)
	} else {
		a.ext[connectionID] = maps.Clone(next)
	}
	return prev, next, nil
}

// TransportStats returns the counters of the connection's media transport:
// zero before the transport exists or when it keeps none. After the
// connection has left they are the final ones.
func (c *Connection) TransportStats() dataplane.TransportStats {
	c.ch.mu.Lock()
	defer c.ch.mu.Unlock()
	return transportStats(c.tr)
}

// RequestKeyFrame asks the client for a keyframe on every video track it
// publishes (a PLI each, which the plane rate-limits) and returns how many
// tracks were asked: 0 when it publishes no video (yet).
func (c *Connection) RequestKeyFrame() (int, error) {
	c.ch.mu.Lock()
	defer c.ch.mu.Unlock()
	if c.left {
		return 0, ErrLeft
	}
	kf, ok := c.tr.(interface{ RequestKeyFrame(trackID string) })
	if !ok {
		return 0, fmt.Errorf("%w: the transport cannot request keyframes", ErrTransport)
	}
	n := 0
	for _, t := range c.upstreams {
		if t.kind == dataplane.KindVideo {
			kf.RequestKeyFrame(t.id)
			n++
		}
	}
	return n, nil
}

// ConnectionsUpdated returns how many connection.updated events there were
// (Stats.ConnectionsUpdated, without reading every channel).
func (r *Registry) ConnectionsUpdated() uint64 {
	r.admin.mu.Lock()
	defer r.admin.mu.Unlock()
	return r.admin.updated
}
