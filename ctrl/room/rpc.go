package room

import (
	"encoding/json"
	"fmt"
	"maps"
)

// The effects of the JSON-RPC methods a client calls on its rpc
// DataChannel (signaling.md §9). ctrl/signaling decodes the requests and
// calls these; the acting connection is the channel's owner.

// MetadataExtPushType is data.type of the push sent when a connection's
// signaling-notify metadata ext changes with push: true.
const MetadataExtPushType = "signaling_notify_metadata_ext"

// metadataExtPush is the push data of a metadata ext change, in the field
// order of the seed document's example.
type metadataExtPush struct {
	Action       string                     `json:"action"`
	ConnectionID string                     `json:"connection_id"`
	Key          string                     `json:"key,omitempty"`
	Metadata     map[string]json.RawMessage `json:"metadata,omitempty"`
	Type         string                     `json:"type"`
	Value        json.RawMessage            `json:"value,omitempty"`
}

// PutNotifyMetadataExt replaces the connection's signaling-notify metadata
// ext (the value the API's Sora_20201124 *SignalingNotifyMetadata operations
// read and write) with md, and returns the stored value. With push, every
// connection of the channel gets
// {"type":"push","data":{"action":"PutMetadata","connection_id",
// "metadata","type":"signaling_notify_metadata_ext"}} (the action name is
// unconfirmed; the seed shows only PutMetadataItem).
func (c *Connection) PutNotifyMetadataExt(md map[string]json.RawMessage, push bool) (map[string]json.RawMessage, error) {
	_, next, err := c.reg.UpdateMetadataExt(c.id, func(map[string]json.RawMessage) map[string]json.RawMessage {
		return maps.Clone(md)
	})
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrLeft, err)
	}
	if next == nil {
		next = map[string]json.RawMessage{}
	}
	if push {
		c.pushToChannel(metadataExtPush{Action: "PutMetadata", ConnectionID: c.id, Metadata: next, Type: MetadataExtPushType})
	}
	return next, nil
}

// PutNotifyMetadataExtItem sets one key of the connection's
// signaling-notify metadata ext and returns the whole stored value. With
// push, every connection of the channel gets the seed's push
// {"action":"PutMetadataItem","connection_id","key",
// "type":"signaling_notify_metadata_ext","value"}.
func (c *Connection) PutNotifyMetadataExtItem(key string, value json.RawMessage, push bool) (map[string]json.RawMessage, error) {
	_, next, err := c.reg.UpdateMetadataExt(c.id, func(cur map[string]json.RawMessage) map[string]json.RawMessage {
		if cur == nil {
			cur = map[string]json.RawMessage{}
		}
		cur[key] = value
		return cur
	})
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrLeft, err)
	}
	if push {
		c.pushToChannel(metadataExtPush{Action: "PutMetadataItem", ConnectionID: c.id, Key: key, Type: MetadataExtPushType, Value: value})
	}
	return next, nil
}

// pushToChannel sends {"type":"push","data":data} to every connection of
// c's channel, c included.
func (c *Connection) pushToChannel(data any) {
	b, err := encode(pushMessage{Type: "push", Data: data})
	if err != nil {
		c.reg.log.Error("room: encoding a push", "connection_id", c.id, "err", err)
		return
	}
	c.ch.mu.Lock()
	defer c.ch.mu.Unlock()
	for _, m := range c.ch.members {
		if !m.left {
			m.sendBytesLocked(LabelPush, b)
			c.reg.metrics.pushes.Inc()
		}
	}
}
