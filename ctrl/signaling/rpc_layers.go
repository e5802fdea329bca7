package signaling

import (
	"encoding/json"
	"errors"
	"strings"

	"github.com/hayate-sfu/hayate/ctrl/room"
)

// The simulcast and spotlight methods of the rpc channel (signaling.md §9).
// The acting connection is the receiver. Errors: -32602 for a bad or
// missing parameter and for a sender that is not in the channel, -32000
// when the connection has left or the channel is (not) a spotlight channel
// as the method needs, or the connection receives no media.

var layerRPC = map[string]bool{
	room.RPCRequestSimulcastRid: true,
	room.RPCRequestSpotlightRid: true,
	room.RPCResetSpotlightRid:   true,
}

type simulcastRidResult struct {
	ChannelID            string `json:"channel_id"`
	ReceiverConnectionID string `json:"receiver_connection_id"`
	RID                  string `json:"rid"`
	SenderConnectionID   string `json:"sender_connection_id,omitempty"`
}

type spotlightRidResult struct {
	ChannelID           string `json:"channel_id"`
	RecvConnectionID    string `json:"recv_connection_id"`
	SendConnectionID    string `json:"send_connection_id,omitempty"`
	SpotlightFocusRID   string `json:"spotlight_focus_rid,omitempty"`
	SpotlightUnfocusRID string `json:"spotlight_unfocus_rid,omitempty"`
}

var ridValues = []string{"none", "r0", "r1", "r2"}

func callLayerRPC(rc *room.Connection, method string, p map[string]json.RawMessage) (any, *rpcError) {
	need := func(field string) (string, *rpcError) {
		if isAbsent(p[field]) {
			return "", &rpcError{rpcInvalidParams, "Invalid params: " + field + ": missing"}
		}
		v, cerr := enum(field, p[field], ridValues...)
		if cerr != nil {
			return "", paramsError(cerr)
		}
		return v, nil
	}
	sender := func(field string) (string, *rpcError) {
		v, _, cerr := optStr(field, p[field], 0, room.MaxClientIDBytes)
		if cerr != nil {
			return "", paramsError(cerr)
		}
		return v, nil
	}
	var (
		result any
		err    error
	)
	switch method {
	case room.RPCRequestSimulcastRid:
		rid, rerr := need("rid")
		if rerr != nil {
			return nil, rerr
		}
		from, rerr := sender("sender_connection_id")
		if rerr != nil {
			return nil, rerr
		}
		err = rc.RequestSimulcastRID(rid, from)
		result = simulcastRidResult{rc.ChannelID(), rc.ID(), rid, from}
	case room.RPCRequestSpotlightRid:
		focus, rerr := need("spotlight_focus_rid")
		if rerr != nil {
			return nil, rerr
		}
		unfocus, rerr := need("spotlight_unfocus_rid")
		if rerr != nil {
			return nil, rerr
		}
		from, rerr := sender("send_connection_id")
		if rerr != nil {
			return nil, rerr
		}
		err = rc.RequestSpotlightRID(from, focus, unfocus)
		result = spotlightRidResult{rc.ChannelID(), rc.ID(), from, focus, unfocus}
	case room.RPCResetSpotlightRid:
		from, rerr := sender("send_connection_id")
		if rerr != nil {
			return nil, rerr
		}
		err = rc.ResetSpotlightRID(from)
		result = spotlightRidResult{ChannelID: rc.ChannelID(), RecvConnectionID: rc.ID(), SendConnectionID: from}
	}
	switch {
	case err == nil:
		return result, nil
	case errors.Is(err, room.ErrUnknownConnection):
		return nil, &rpcError{rpcInvalidParams, "Invalid params: " + roomReason(err)}
	case errors.Is(err, room.ErrLeft):
		return nil, &rpcError{-32000, "Server error: the connection has left"}
	case errors.Is(err, room.ErrSpotlightChannel), errors.Is(err, room.ErrNotSpotlightChannel), errors.Is(err, room.ErrInvalidRequest):
		return nil, &rpcError{-32000, "Server error: " + roomReason(err)}
	}
	return nil, &rpcError{-32603, "Internal error"}
}

// roomReason is a room error's text without its "room: " prefix.
func roomReason(err error) string {
	return truncate(strings.TrimPrefix(err.Error(), "room: "), 200)
}
