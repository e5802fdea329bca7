package api

import (
	"errors"
	"net/http"
	"strconv"

	"github.com/hayate-sfu/hayate/ctrl/room"
)

// Channels and connections: List*, Disconnect*, RequestKeyFrame.

type channelJSON struct {
	ChannelID   string `json:"channel_id"`
	Multistream bool   `json:"multistream"`
	Spotlight   bool   `json:"spotlight"`
}

// mediaJSON is a connection's audio or video when enabled.
type mediaJSON struct {
	BitRate   int    `json:"bit_rate,omitempty"`
	CodecType string `json:"codec_type"`
}

// connectionJSON is Sora's Connection object (spec/api.md §2.1). audio and
// video are false when disabled and {codec_type, bit_rate?} when enabled.
type connectionJSON struct {
	Audio        any    `json:"audio"`
	BundleID     string `json:"bundle_id"`
	ChannelID    string `json:"channel_id"`
	ClientID     string `json:"client_id"`
	ConnectionID string `json:"connection_id"`
	// CreatedTime is when the connect was admitted, in Unix seconds.
	CreatedTime int64  `json:"created_time"`
	Multistream bool   `json:"multistream"`
	Role        string `json:"role"`
	SessionID   string `json:"session_id"`
	Simulcast   bool   `json:"simulcast"`
	Spotlight   bool   `json:"spotlight"`
	Video       any    `json:"video"`
}

func media(enabled bool, codec string, bitRate int) any {
	if !enabled {
		return false
	}
	return mediaJSON{BitRate: bitRate, CodecType: codec}
}

func toConnectionJSON(c room.ConnectionInfo) connectionJSON {
	return connectionJSON{
		Audio:        media(c.Audio, c.AudioCodecType, c.AudioBitRate),
		BundleID:     c.BundleID,
		ChannelID:    c.ChannelID,
		ClientID:     c.ClientID,
		ConnectionID: c.ConnectionID,
		CreatedTime:  c.JoinedAt.Unix(),
		Multistream:  true, // every Hayate connection is multistream
		Role:         string(c.Role),
		SessionID:    c.SessionID,
		Video:        media(c.Video, c.VideoCodecType, c.VideoBitRate),
	}
}

func connectionsJSON(infos []room.ConnectionInfo) []connectionJSON {
	out := make([]connectionJSON, 0, len(infos))
	for _, c := range infos {
		out = append(out, toConnectionJSON(c))
	}
	return out
}

// channelConnections lists a channel's connections in join order; a channel
// without any is unknown (404).
func (a *API) channelConnections(channelID string) ([]room.ConnectionInfo, *Error) {
	infos := a.cfg.Rooms.Connections(channelID)
	if len(infos) == 0 {
		return nil, channelNotFound(channelID)
	}
	return infos, nil
}

// clientConnections lists the connections of a channel with a client_id.
func (a *API) clientConnections(channelID, clientID string) ([]room.ConnectionInfo, *Error) {
	infos, e := a.channelConnections(channelID)
	if e != nil {
		return nil, e
	}
	var out []room.ConnectionInfo
	for _, c := range infos {
		if c.ClientID == clientID {
			out = append(out, c)
		}
	}
	if len(out) == 0 {
		return nil, clientNotFound(channelID, clientID)
	}
	return out, nil
}

// roleConnections lists the connections of a channel with a role (possibly
// none: the channel exists, nobody has that role).
func (a *API) roleConnections(channelID string, role room.Role) ([]room.ConnectionInfo, *Error) {
	infos, e := a.channelConnections(channelID)
	if e != nil {
		return nil, e
	}
	var out []room.ConnectionInfo
	for _, c := range infos {
		if c.Role == role {
			out = append(out, c)
		}
	}
	return out, nil
}

// connection finds a connection of a channel.
func (a *API) connection(channelID, connectionID string) (*room.Connection, *Error) {
	c, ok := a.cfg.Rooms.Connection(connectionID)
	if !ok || c.ChannelID() != channelID {
		return nil, connectionNotFound(channelID, connectionID)
	}
	return c, nil
}

func (a *API) listChannels(*listChannelsRequest) (any, *Error) {
	chans := a.cfg.Rooms.Channels()
	out := make([]channelJSON, 0, len(chans))
	for _, ch := range chans {
		out = append(out, channelJSON{ChannelID: ch.ChannelID, Multistream: true})
	}
	return out, nil
}

func (a *API) listConnections(*noRequest) (any, *Error) {
	return connectionsJSON(a.cfg.Rooms.Connections("")), nil
}

func (a *API) listChannelConnections(req *channelRequest) (any, *Error) {
	infos, e := a.channelConnections(req.ChannelID)
	if e != nil {
		return nil, e
	}
	return connectionsJSON(infos), nil
}

// disconnect closes each connection with 1000 DISCONNECTED-API; each leaves
// its channel (the others get connection.destroyed). One that has left
// meanwhile is skipped.
func (a *API) disconnect(infos []room.ConnectionInfo) {
	for _, info := range infos {
		if c, ok := a.cfg.Rooms.Connection(info.ConnectionID); ok {
			c.Disconnect(DisconnectReason)
			a.log.Info("api: disconnected", "channel_id", info.ChannelID, "connection_id", info.ConnectionID)
		}
	}
}

func (a *API) disconnectChannel(req *disconnectChannelRequest) (any, *Error) {
	infos, e := a.channelConnections(req.ChannelID)
	if e != nil {
		return nil, e
	}
	a.disconnect(infos)
	return struct {
		ChannelID string `json:"channel_id"`
	}{req.ChannelID}, nil
}

func (a *API) disconnectClient(req *disconnectClientRequest) (any, *Error) {
	infos, e := a.clientConnections(req.ChannelID, req.ClientID)
	if e != nil {
		return nil, e
	}
	a.disconnect(infos)
	return struct {
		ChannelID string `json:"channel_id"`
		ClientID  string `json:"client_id"`
	}{req.ChannelID, req.ClientID}, nil
}

func (a *API) disconnectConnection(req *disconnectConnectionRequest) (any, *Error) {
	c, e := a.connection(req.ChannelID, req.ConnectionID)
	if e != nil {
		return nil, e
	}
	c.Disconnect(DisconnectReason)
	a.log.Info("api: disconnected", "channel_id", req.ChannelID, "connection_id", req.ConnectionID)
	return connectionResult{req.ChannelID, req.ConnectionID}, nil
}

type connectionResult struct {
	ChannelID    string `json:"channel_id"`
	ConnectionID string `json:"connection_id"`
}

func (a *API) disconnectChannelByRole(req *roleRequest) (any, *Error) {
	infos, e := a.roleConnections(req.ChannelID, req.Role)
	if e != nil {
		return nil, e
	}
	a.disconnect(infos)
	return struct {
		ChannelID string `json:"channel_id"`
		Role      string `json:"role"`
	}{req.ChannelID, string(req.Role)}, nil
}

func (a *API) requestKeyFrame(req *connectionRequest) (any, *Error) {
	c, e := a.connection(req.ChannelID, req.ConnectionID)
	if e != nil {
		return nil, e
	}
	n, err := c.RequestKeyFrame()
	switch {
	case errors.Is(err, room.ErrLeft):
		return nil, connectionNotFound(req.ChannelID, req.ConnectionID)
	case err != nil:
		return nil, internalError("requesting a keyframe: %v", err)
	case n == 0:
		return nil, &Error{Status: http.StatusBadRequest, Type: TypeNoVideoTrack, Reason: Reason{
			ChannelID: req.ChannelID, ConnectionID: req.ConnectionID,
			Message: "connection " + strconv.Quote(req.ConnectionID) + " publishes no video track to ask a keyframe of",
		}}
	}
	return connectionResult{req.ChannelID, req.ConnectionID}, nil
}
