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

// admit applies the mode to a validated connect. A refused connect closes
// peer with CloseModeBlocked, counts as a failed connection and returns an
// error wrapping ErrBlocked.
//
// block_new_session looks at the channel without reserving it: a connect
// racing with the channel's last connection leaving may still start a
// session. That is the price of not holding the registry lock across Join;
// the mode exists to drain a server, where it does not matter.
func (r *Registry) admit(req *JoinRequest, peer Peer) error {
	mode := r.Mode()
	switch mode {
	case ModeBlockNewConnection:
	case ModeBlockNewSession:
		r.mu.Lock()
		_, exists := r.channels[req.ChannelID]
		r.mu.Unlock()
		if exists {
			return nil
		}
	default:
		return nil
	}
	r.admin.mu.Lock()
	r.admin.refused++
	r.admin.clientCount(req.SoraClient).failed++
	r.admin.mu.Unlock()
	r.log.Info("room: connect refused by the mode", "mode", string(mode), "channel_id", req.ChannelID)
	peer.Close(CloseModeBlocked, "MODE-BLOCKED: "+string(mode))
	return fmt.Errorf("%w: %s (channel_id %q)", ErrBlocked, mode, req.ChannelID)
}
