package api

import (
	"encoding/json"
	"errors"

	"github.com/hayate-sfu/hayate/ctrl/room"
)

// Signaling notify metadata ext (Sora_20201124, seed document): a JSON
// object per connection, {} until set, kept by the room until the connection
// leaves. With push: true every connection of the channel (the changed one
// included) receives {"type":"push","data":{…,"type":"signaling_notify_metadata_ext"}}.

// metadataPushType is the data.type of the push a change sends.
const metadataPushType = "signaling_notify_metadata_ext"

// metadataJSON is one entry of ListSignalingNotifyMetadata.
type metadataJSON struct {
	ClientID     string                     `json:"client_id"`
	BundleID     string                     `json:"bundle_id"`
	ConnectionID string                     `json:"connection_id"`
	Metadata     map[string]json.RawMessage `json:"metadata"`
}

// The push data of each change. action names the change as the seed
// document's example does for PutSignalingNotifyMetadataItem
// ("PutMetadataItem"); the other three follow the same pattern.
type metadataItemPush struct {
	Action       string          `json:"action"`
	ConnectionID string          `json:"connection_id"`
	Key          string          `json:"key"`
	Type         string          `json:"type"`
	Value        json.RawMessage `json:"value,omitempty"`
}

type metadataPush struct {
	Action       string                     `json:"action"`
	ConnectionID string                     `json:"connection_id"`
	Metadata     map[string]json.RawMessage `json:"metadata"`
	Type         string                     `json:"type"`
}

// nonNil makes a nil metadata object encode as {} rather than null.
func nonNil(m map[string]json.RawMessage) map[string]json.RawMessage {
	if m == nil {
		return map[string]json.RawMessage{}
	}
	return m
}

func (a *API) listMetadata(req *channelRequest) (any, *Error) {
	infos, e := a.channelConnections(req.ChannelID)
	if e != nil {
		return nil, e
	}
	out := make([]metadataJSON, 0, len(infos))
	for _, c := range infos {
		m, err := a.cfg.Rooms.MetadataExt(c.ConnectionID)
		if err != nil {
			continue // it left meanwhile
		}
		out = append(out, metadataJSON{ClientID: c.ClientID, BundleID: c.BundleID, ConnectionID: c.ConnectionID, Metadata: nonNil(m)})
	}
	return out, nil
}

func (a *API) getMetadata(req *connectionRequest) (any, *Error) {
	if _, e := a.connection(req.ChannelID, req.ConnectionID); e != nil {
		return nil, e
	}
	m, err := a.cfg.Rooms.MetadataExt(req.ConnectionID)
	if err != nil {
		return nil, connectionNotFound(req.ChannelID, req.ConnectionID)
	}
	return nonNil(m), nil
}

// updateMetadata runs one change on a connection of the channel.
func (a *API) updateMetadata(r connectionRequest, f func(map[string]json.RawMessage) map[string]json.RawMessage) (prev, next map[string]json.RawMessage, e *Error) {
	if _, e := a.connection(r.ChannelID, r.ConnectionID); e != nil {
		return nil, nil, e
	}
	prev, next, err := a.cfg.Rooms.UpdateMetadataExt(r.ConnectionID, f)
	if errors.Is(err, room.ErrUnknownConnection) {
		return nil, nil, connectionNotFound(r.ChannelID, r.ConnectionID)
	} else if err != nil {
		return nil, nil, internalError("updating the metadata: %v", err)
	}
	return nonNil(prev), nonNil(next), nil
}

// pushMetadata sends a change to every connection of the channel.
func (a *API) pushMetadata(channelID string, data any) {
	a.push(a.cfg.Rooms.Connections(channelID), data)
}

// PutSignalingNotifyMetadata replaces the metadata and returns the new one.
func (a *API) putMetadata(req *putMetadataRequest) (any, *Error) {
	_, next, e := a.updateMetadata(req.connectionRequest, func(map[string]json.RawMessage) map[string]json.RawMessage {
		return req.Metadata
	})
	if e != nil {
		return nil, e
	}
	if req.Push {
		a.pushMetadata(req.ChannelID, metadataPush{Action: "PutMetadata", ConnectionID: req.ConnectionID, Metadata: next, Type: metadataPushType})
	}
	return next, nil
}

// DeleteSignalingNotifyMetadata empties the metadata and returns the one
// it had.
func (a *API) deleteMetadata(req *deleteMetadataRequest) (any, *Error) {
	prev, _, e := a.updateMetadata(req.connectionRequest, func(map[string]json.RawMessage) map[string]json.RawMessage {
		return nil
	})
	if e != nil {
		return nil, e
	}
	if req.Push {
		a.pushMetadata(req.ChannelID, metadataPush{Action: "DeleteMetadata", ConnectionID: req.ConnectionID, Metadata: map[string]json.RawMessage{}, Type: metadataPushType})
	}
	return prev, nil
}

// PutSignalingNotifyMetadataItem sets one key and returns the new metadata.
func (a *API) putMetadataItem(req *putMetadataItemRequest) (any, *Error) {
	_, next, e := a.updateMetadata(req.connectionRequest, func(m map[string]json.RawMessage) map[string]json.RawMessage {
		m = nonNil(m)
		m[req.Key] = req.Value
		return m
	})
	if e != nil {
		return nil, e
	}
	if req.Push {
		a.pushMetadata(req.ChannelID, metadataItemPush{Action: "PutMetadataItem", ConnectionID: req.ConnectionID, Key: req.Key, Type: metadataPushType, Value: req.Value})
	}
	return next, nil
}

// DeleteSignalingNotifyMetadataItem removes one key (absent is fine) and
// returns the metadata after.
func (a *API) deleteMetadataItem(req *deleteMetadataItemRequest) (any, *Error) {
	_, next, e := a.updateMetadata(req.connectionRequest, func(m map[string]json.RawMessage) map[string]json.RawMessage {
		delete(m, req.Key)
		return m
	})
	if e != nil {
		return nil, e
	}
	if req.Push {
		a.pushMetadata(req.ChannelID, metadataItemPush{Action: "DeleteMetadataItem", ConnectionID: req.ConnectionID, Key: req.Key, Type: metadataPushType})
	}
	return next, nil
}
