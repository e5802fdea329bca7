package room

import (
	"errors"
	"fmt"
)

// Mode is the server's admission mode, set with the API's ChangeMode
// (spec/api.md §2.9). It decides only whether a new connect is admitted;
// connections already in a channel are never touched by a mode change.
type Mode string

// Modes.
const (
	// ModeNormal admits every connect. It is the mode of a new Registry.
	ModeNormal Mode = "normal"
	// ModeBlockNewSession refuses a connect to a channel that has no
	// connection (it would start a session); joins to a channel with a
	// session go on.
	ModeBlockNewSession Mode = "block_new_session"
	// ModeBlockNewConnection refuses every connect.
	ModeBlockNewConnection Mode = "block_new_connection"
)

// Modes lists the valid modes in documentation order.
var Modes = []Mode{ModeNormal, ModeBlockNewSession, ModeBlockNewConnection}

// Valid reports whether m is one of Modes.
func (m Mode) Valid() bool {
	return m == ModeNormal || m == ModeBlockNewSession || m == ModeBlockNewConnection
}

// ErrBlocked is returned by Join for a connect the mode refuses. Join has
// already closed the Peer with CloseModeBlocked when it returns it.
var ErrBlocked = errors.New("room: connect refused by the server mode")

// CloseModeBlocked is the WebSocket close code of a connect refused by the
// mode. The reason is "MODE-BLOCKED: <mode>", e.g.
// "MODE-BLOCKED: block_new_connection".
const CloseModeBlocked = 4503

// Mode returns the current admission mode.
func (r *Registry) Mode() Mode {
	r.admin.mu.Lock()
	defer r.admin.mu.Unlock()
	if r.admin.mode == "" {
		return ModeNormal
	}
	return r.admin.mode
}

// SetMode changes the admission mode. Connections already admitted are not
// affected.
func (r *Registry) SetMode(m Mode) error {
	if !m.Valid() {
		return fmt.Errorf("%w: mode %q", ErrInvalidRequest, m)
	}
	r.admin.mu.Lock()
	prev := r.admin.mode
	r.admin.mode = m
	r.admin.mu.Unlock()
	if prev != m {
		r.log.Info("room: mode changed", "mode", string(m))
	}
	return nil
}

// ErrTooManyConnections is returned by Join for a connect beyond
// Config.MaxConnections or Config.MaxConnectionsPerChannel. Join has
// already closed the Peer with CloseTooManyConnections when it returns it.
var ErrTooManyConnections = errors.New("room: connect refused: too many connections")

// CloseTooManyConnections is the WebSocket close code of a connect refused
// by a connection limit. The reason is "TOO-MANY-CONNECTIONS: <which
// limit>", e.g. "TOO-MANY-CONNECTIONS: max_connections_per_channel 2".
const CloseTooManyConnections = 4429

// Reasons a connect is refused before it joins, as counted in
// hayate_room_connects_refused_total{reason} and Stats.
const (
	RefusedMode                     = "mode"
	RefusedMaxConnections           = "max_connections"
	RefusedMaxConnectionsPerChannel = "max_connections_per_channel"
)

// refusal is admission's decision to turn a connect away.
type refusal struct {
	reason string // one of the Refused* constants
	detail string // for the log and the error
	code   int
	close  string // WebSocket close reason
	err    error  // ErrBlocked or ErrTooManyConnections
}

// admitLocked decides whether a connect to channel ch (nil: the channel has
// no connection, the connect would start a session) is admitted: first the
// mode, then the connection limits. It is called by attach with Registry.mu
// held, so the check and the reservation of the slot are one step: two
// connects racing for the last slot cannot both get it, and
// block_new_session cannot miss a channel that is emptying.
func (r *Registry) admitLocked(ch *channel) *refusal {
	switch mode := r.Mode(); {
	case mode == ModeBlockNewConnection, mode == ModeBlockNewSession && ch == nil:
		return &refusal{reason: RefusedMode, detail: string(mode), code: CloseModeBlocked,
			close: "MODE-BLOCKED: " + string(mode), err: ErrBlocked}
	}
	if limit := r.cfg.MaxConnections; limit > 0 && len(r.conns) >= limit {
		d := fmt.Sprintf("max_connections %d", limit)
		return &refusal{reason: RefusedMaxConnections, detail: d, code: CloseTooManyConnections,
			close: "TOO-MANY-CONNECTIONS: " + d, err: ErrTooManyConnections}
	}
	if limit := r.cfg.MaxConnectionsPerChannel; limit > 0 && ch != nil && ch.refs >= limit {
		d := fmt.Sprintf("max_connections_per_channel %d", limit)
		return &refusal{reason: RefusedMaxConnectionsPerChannel, detail: d, code: CloseTooManyConnections,
			close: "TOO-MANY-CONNECTIONS: " + d, err: ErrTooManyConnections}
	}
	return nil
}

// refuse counts a refused connect (as a failed connection of its client
// type too), closes peer with the refusal's code and reason and returns the
// error for Join. Called without locks.
func (r *Registry) refuse(req *JoinRequest, peer Peer, f *refusal) error {
	r.metrics.refused.WithLabelValues(f.reason).Inc()
	r.admin.mu.Lock()
	if r.admin.refused == nil {
		r.admin.refused = make(map[string]uint64)
	}
	r.admin.refused[f.reason]++
	r.admin.clientCount(req.SoraClient).failed++
	r.admin.mu.Unlock()
	r.log.Info("room: connect refused", "reason", f.reason, "limit", f.detail, "channel_id", req.ChannelID)
	peer.Close(f.code, f.close)
	return fmt.Errorf("%w: %s (channel_id %q)", f.err, f.detail, req.ChannelID)
}

// Refused returns how many connects were refused before they joined, by
// reason; every Refused* key is present.
func (r *Registry) Refused() map[string]uint64 {
	out := map[string]uint64{RefusedMode: 0, RefusedMaxConnections: 0, RefusedMaxConnectionsPerChannel: 0}
	r.admin.mu.Lock()
	defer r.admin.mu.Unlock()
	for reason, n := range r.admin.refused {
		out[reason] += n
	}
	return out
}
