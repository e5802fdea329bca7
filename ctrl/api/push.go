package api

import (
	"encoding/json"
	"errors"

	"github.com/hayate-sfu/hayate/ctrl/room"
)

// Push: every addressed connection receives {"type":"push","data":<data>}
// on its signaling channel; the response echoes that message, as Sora's
// does.

type pushResult struct {
	Data any    `json:"data"`
	Type string `json:"type"`
}

// push queues data for each connection; one that has left meanwhile is
// skipped.
func (a *API) push(infos []room.ConnectionInfo, data any) {
	for _, info := range infos {
		if c, ok := a.cfg.Rooms.Connection(info.ConnectionID); ok {
			if err := c.Push(data); err != nil {
				a.log.Debug("api: push skipped", "connection_id", info.ConnectionID, "err", err)
			}
		}
	}
}

func (a *API) pushChannel(req *pushChannelRequest) (any, *Error) {
	infos, e := a.channelConnections(req.ChannelID)
	if e != nil {
		return nil, e
	}
	a.push(infos, map[string]json.RawMessage(req.Data))
	return pushResult{Data: map[string]json.RawMessage(req.Data), Type: "push"}, nil
}

func (a *API) pushClient(req *pushClientRequest) (any, *Error) {
	infos, e := a.clientConnections(req.ChannelID, req.ClientID)
	if e != nil {
		return nil, e
	}
	a.push(infos, map[string]json.RawMessage(req.Data))
	return pushResult{Data: map[string]json.RawMessage(req.Data), Type: "push"}, nil
}

func (a *API) pushConnection(req *pushConnectionRequest) (any, *Error) {
	c, e := a.connection(req.ChannelID, req.ConnectionID)
	if e != nil {
		return nil, e
	}
	if err := c.Push(map[string]json.RawMessage(req.Data)); errors.Is(err, room.ErrLeft) {
		return nil, connectionNotFound(req.ChannelID, req.ConnectionID)
	} else if err != nil {
		return nil, internalError("pushing: %v", err)
	}
	return pushResult{Data: map[string]json.RawMessage(req.Data), Type: "push"}, nil
}

func (a *API) pushChannelByRole(req *pushRoleRequest) (any, *Error) {
	infos, e := a.roleConnections(req.ChannelID, req.Role)
	if e != nil {
		return nil, e
	}
	a.push(infos, map[string]json.RawMessage(req.Data))
	return pushResult{Data: map[string]json.RawMessage(req.Data), Type: "push"}, nil
}
