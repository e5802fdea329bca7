package api

import (
	"encoding/json"
	"errors"
	"net/http"
	"strconv"

	"github.com/bytedance/sonic"
	"github.com/hayate-sfu/hayate/ctrl/room"
)

// Simulcast and spotlight operations (spec/api.md §2.4). The layers and
// the focus are the room's (room.Connection.RequestSimulcastRID,
// FocusSpotlight, …); these handlers decode, find the connections and map
// the room's errors:
//
//	target                                    keys (? optional)                                                        result
//	Sora_20251217.RequestSimulcastRid         channel_id, receiver_connection_id, rid, sender_connection_id?          the keys given
//	Sora_20201005.RequestRtpStream            channel_id, recv_connection_id, rid, send_connection_id?                the keys given
//	Sora_20201005.ResetRtpStream              channel_id, connection_id, stream_id? (a sender's connection_id)        the keys given
//	Sora_20200807.FocusSpotlight              channel_id, connection_id                                               {channel_id, connection_id}
//	Sora_20200807.FocusSpotlightFixed         channel_id, connection_id                                               {channel_id, connection_id}
//	Sora_20200807.UnfocusSpotlight            channel_id, connection_id                                               {channel_id, connection_id}
//	Sora_20200807.ChangeSpotlightNumber       channel_id, spotlight_number (1-255)                                    {channel_id, spotlight_number}
//	Sora_20211215.RequestSpotlightRid         channel_id, recv_connection_id, send_connection_id?,
//	                                          spotlight_focus_rid, spotlight_unfocus_rid                              the keys given
//	Sora_20211215.ResetSpotlightRid           channel_id, recv_connection_id, send_connection_id?                     the keys given
//	Sora_20211215.BatchRequestSpotlightRid    channel_id, item_list [{recv_connection_id, send_connection_id?,
//	                                          spotlight_focus_rid, spotlight_unfocus_rid}] (1-1000 items)             {channel_id, item_list}
//
// rid values are none, r0, r1, r2. A sender that is not in the channel is
// 404 CONNECTION-NOT-FOUND naming it; a receiver that receives nothing
// (sendonly) is 400 INVALID-VALUE; RequestSimulcastRid, RequestRtpStream
// and ResetRtpStream in a spotlight channel are 400 SPOTLIGHT-CHANNEL, the
// spotlight operations elsewhere 400 NOT-SPOTLIGHT-CHANNEL. FocusSpotlight
// of a connection that publishes nothing (yet), or when every place is
// fixed, is 400 INVALID-VALUE. BatchRequestSpotlightRid checks every item
// before it applies any.

// Error types of the simulcast and spotlight operations (400).
const (
	TypeSpotlightChannel    = "SPOTLIGHT-CHANNEL"
	TypeNotSpotlightChannel = "NOT-SPOTLIGHT-CHANNEL"
)

// maxBatchItems bounds BatchRequestSpotlightRid's item_list.
const maxBatchItems = 1000

// rid reads a required rid key: none, r0, r1 or r2.
func (b body) rid(key string) (string, *Error) {
	s, e := b.str(key, 8)
	if e != nil {
		if e.Type == TypeInvalidValue {
			return "", invalidValue(key, "must be none, r0, r1 or r2")
		}
		return "", e
	}
	switch s {
	case "none", "r0", "r1", "r2":
		return s, nil
	}
	return "", invalidValue(key, "%s is not none, r0, r1 or r2", strconv.Quote(truncate(s, 16)))
}

// layerError maps a room error of a layer or spotlight operation;
// receiverKey names the receiving connection's key for INVALID-VALUE.
func layerError(err error, channelID, receiverKey, receiverID, senderID string) *Error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, room.ErrLeft):
		return connectionNotFound(channelID, receiverID)
	case errors.Is(err, room.ErrUnknownConnection):
		return connectionNotFound(channelID, senderID)
	case errors.Is(err, room.ErrUnknownChannel):
		return channelNotFound(channelID)
	case errors.Is(err, room.ErrSpotlightChannel):
		return &Error{Status: http.StatusBadRequest, Type: TypeSpotlightChannel, Reason: Reason{ChannelID: channelID,
			Message: "channel " + strconv.Quote(channelID) + " is a spotlight channel: its layers are chosen with RequestSpotlightRid"}}
	case errors.Is(err, room.ErrNotSpotlightChannel):
		return &Error{Status: http.StatusBadRequest, Type: TypeNotSpotlightChannel, Reason: Reason{ChannelID: channelID,
			Message: "channel " + strconv.Quote(channelID) + " is not a spotlight channel"}}
	case errors.Is(err, room.ErrInvalidRequest):
		return &Error{Status: http.StatusBadRequest, Type: TypeInvalidValue, Reason: Reason{Key: receiverKey, ChannelID: channelID,
			ConnectionID: receiverID, Message: roomMessage(err)}}
	}
	return internalError("%v", err)
}

// roomMessage is a room error's text without the sentinel's prefix.
func roomMessage(err error) string {
	s := err.Error()
	for _, sentinel := range []error{room.ErrInvalidRequest} {
		if p := sentinel.Error() + ": "; len(s) > len(p) && s[:len(p)] == p {
			return s[len(p):]
		}
	}
	return s
}

// --- simulcast ---

type simulcastRidRequest struct {
	ChannelID, ReceiverConnectionID, RID, SenderConnectionID string
}

func (r *simulcastRidRequest) decode(b body) (err *Error) {
	if r.ChannelID, err = b.str("channel_id", maxIDBytes); err != nil {
		return err
	}
	if r.ReceiverConnectionID, err = b.str("receiver_connection_id", maxIDBytes); err != nil {
		return err
	}
	if r.RID, err = b.rid("rid"); err != nil {
		return err
	}
	r.SenderConnectionID, err = b.optStr("sender_connection_id", maxIDBytes)
	return err
}

type simulcastRidResult struct {
	ChannelID            string `json:"channel_id"`
	ReceiverConnectionID string `json:"receiver_connection_id"`
	RID                  string `json:"rid"`
	SenderConnectionID   string `json:"sender_connection_id,omitempty"`
}

func (a *API) requestSimulcastRid(req *simulcastRidRequest) (any, *Error) {
	c, e := a.connection(req.ChannelID, req.ReceiverConnectionID)
	if e != nil {
		return nil, e
	}
	err := c.RequestSimulcastRID(req.RID, req.SenderConnectionID)
	if e := layerError(err, req.ChannelID, "receiver_connection_id", req.ReceiverConnectionID, req.SenderConnectionID); e != nil {
		return nil, e
	}
	return simulcastRidResult(*req), nil
}

// rtpStreamRidRequest is RequestRtpStream's body (the deprecated name of
// RequestSimulcastRid, with Sora's older key names).
type rtpStreamRidRequest struct {
	ChannelID, RecvConnectionID, RID, SendConnectionID string
}

func (r *rtpStreamRidRequest) decode(b body) (err *Error) {
	if r.ChannelID, err = b.str("channel_id", maxIDBytes); err != nil {
		return err
	}
	if r.RecvConnectionID, err = b.str("recv_connection_id", maxIDBytes); err != nil {
		return err
	}
	if r.RID, err = b.rid("rid"); err != nil {
		return err
	}
	r.SendConnectionID, err = b.optStr("send_connection_id", maxIDBytes)
	return err
}

type rtpStreamRidResult struct {
	ChannelID        string `json:"channel_id"`
	RecvConnectionID string `json:"recv_connection_id"`
	RID              string `json:"rid"`
	SendConnectionID string `json:"send_connection_id,omitempty"`
}

func (a *API) requestRtpStream(req *rtpStreamRidRequest) (any, *Error) {
	c, e := a.connection(req.ChannelID, req.RecvConnectionID)
	if e != nil {
		return nil, e
	}
	err := c.RequestSimulcastRID(req.RID, req.SendConnectionID)
	if e := layerError(err, req.ChannelID, "recv_connection_id", req.RecvConnectionID, req.SendConnectionID); e != nil {
		return nil, e
	}
	return rtpStreamRidResult(*req), nil
}

type resetRtpStreamRequest struct {
	ChannelID, ConnectionID, StreamID string
}

func (r *resetRtpStreamRequest) decode(b body) (err *Error) {
	if r.ChannelID, err = b.str("channel_id", maxIDBytes); err != nil {
		return err
	}
	if r.ConnectionID, err = b.str("connection_id", maxIDBytes); err != nil {
		return err
	}
	r.StreamID, err = b.optStr("stream_id", maxIDBytes)
	return err
}

type resetRtpStreamResult struct {
	ChannelID    string `json:"channel_id"`
	ConnectionID string `json:"connection_id"`
	StreamID     string `json:"stream_id,omitempty"`
}

// resetRtpStream drops the layer requests of a receiver (for one sender:
// stream_id, the msid stream id Sora clients see, is the sender's
// connection_id).
func (a *API) resetRtpStream(req *resetRtpStreamRequest) (any, *Error) {
	c, e := a.connection(req.ChannelID, req.ConnectionID)
	if e != nil {
		return nil, e
	}
	err := c.ResetSimulcastRID(req.StreamID)
	if e := layerError(err, req.ChannelID, "connection_id", req.ConnectionID, req.StreamID); e != nil {
		return nil, e
	}
	return resetRtpStreamResult(*req), nil
}

// --- spotlight ---

func (a *API) focusSpotlight(req *connectionRequest) (any, *Error) { return a.focus(req, false) }

func (a *API) focusSpotlightFixed(req *connectionRequest) (any, *Error) { return a.focus(req, true) }

func (a *API) focus(req *connectionRequest, fixed bool) (any, *Error) {
	c, e := a.connection(req.ChannelID, req.ConnectionID)
	if e != nil {
		return nil, e
	}
	err := c.FocusSpotlight(fixed)
	if e := layerError(err, req.ChannelID, "connection_id", req.ConnectionID, ""); e != nil {
		return nil, e
	}
	return connectionResult{req.ChannelID, req.ConnectionID}, nil
}

func (a *API) unfocusSpotlight(req *connectionRequest) (any, *Error) {
	c, e := a.connection(req.ChannelID, req.ConnectionID)
	if e != nil {
		return nil, e
	}
	err := c.UnfocusSpotlight()
	if e := layerError(err, req.ChannelID, "connection_id", req.ConnectionID, ""); e != nil {
		return nil, e
	}
	return connectionResult{req.ChannelID, req.ConnectionID}, nil
}

type spotlightNumberRequest struct {
	ChannelID       string
	SpotlightNumber int
}

func (r *spotlightNumberRequest) decode(b body) (err *Error) {
	if r.ChannelID, err = b.str("channel_id", maxIDBytes); err != nil {
		return err
	}
	n, err := b.integer("spotlight_number", 1, room.MaxSpotlightNumber)
	r.SpotlightNumber = int(n)
	return err
}

type spotlightNumberResult struct {
	ChannelID       string `json:"channel_id"`
	SpotlightNumber int    `json:"spotlight_number"`
}

func (a *API) changeSpotlightNumber(req *spotlightNumberRequest) (any, *Error) {
	err := a.cfg.Rooms.ChangeSpotlightNumber(req.ChannelID, req.SpotlightNumber)
	if e := layerError(err, req.ChannelID, "spotlight_number", "", ""); e != nil {
		return nil, e
	}
	return spotlightNumberResult(*req), nil
}

// spotlightRidItem is one receiver's spotlight layers: RequestSpotlightRid's
// body, and an entry of BatchRequestSpotlightRid's item_list.
type spotlightRidItem struct {
	RecvConnectionID    string `json:"recv_connection_id"`
	SendConnectionID    string `json:"send_connection_id,omitempty"`
	SpotlightFocusRID   string `json:"spotlight_focus_rid"`
	SpotlightUnfocusRID string `json:"spotlight_unfocus_rid"`
}

func (r *spotlightRidItem) decode(b body) (err *Error) {
	if r.RecvConnectionID, err = b.str("recv_connection_id", maxIDBytes); err != nil {
		return err
	}
	if r.SendConnectionID, err = b.optStr("send_connection_id", maxIDBytes); err != nil {
		return err
	}
	if r.SpotlightFocusRID, err = b.rid("spotlight_focus_rid"); err != nil {
		return err
	}
	r.SpotlightUnfocusRID, err = b.rid("spotlight_unfocus_rid")
	return err
}

type spotlightRidRequest struct {
	ChannelID string
	spotlightRidItem
}

func (r *spotlightRidRequest) decode(b body) (err *Error) {
	if r.ChannelID, err = b.str("channel_id", maxIDBytes); err != nil {
		return err
	}
	return r.spotlightRidItem.decode(b)
}

type spotlightRidResult struct {
	ChannelID           string `json:"channel_id"`
	RecvConnectionID    string `json:"recv_connection_id"`
	SendConnectionID    string `json:"send_connection_id,omitempty"`
	SpotlightFocusRID   string `json:"spotlight_focus_rid,omitempty"`
	SpotlightUnfocusRID string `json:"spotlight_unfocus_rid,omitempty"`
}

func (a *API) requestSpotlightRid(req *spotlightRidRequest) (any, *Error) {
	if e := a.applySpotlightRid(req.ChannelID, req.spotlightRidItem); e != nil {
		return nil, e
	}
	return spotlightRidResult{req.ChannelID, req.RecvConnectionID, req.SendConnectionID, req.SpotlightFocusRID, req.SpotlightUnfocusRID}, nil
}

func (a *API) applySpotlightRid(channelID string, it spotlightRidItem) *Error {
	c, e := a.connection(channelID, it.RecvConnectionID)
	if e != nil {
		return e
	}
	err := c.RequestSpotlightRID(it.SendConnectionID, it.SpotlightFocusRID, it.SpotlightUnfocusRID)
	return layerError(err, channelID, "recv_connection_id", it.RecvConnectionID, it.SendConnectionID)
}

type resetSpotlightRidRequest struct {
	ChannelID, RecvConnectionID, SendConnectionID string
}

func (r *resetSpotlightRidRequest) decode(b body) (err *Error) {
	if r.ChannelID, err = b.str("channel_id", maxIDBytes); err != nil {
		return err
	}
	if r.RecvConnectionID, err = b.str("recv_connection_id", maxIDBytes); err != nil {
		return err
	}
	r.SendConnectionID, err = b.optStr("send_connection_id", maxIDBytes)
	return err
}

func (a *API) resetSpotlightRid(req *resetSpotlightRidRequest) (any, *Error) {
	c, e := a.connection(req.ChannelID, req.RecvConnectionID)
	if e != nil {
		return nil, e
	}
	err := c.ResetSpotlightRID(req.SendConnectionID)
	if e := layerError(err, req.ChannelID, "recv_connection_id", req.RecvConnectionID, req.SendConnectionID); e != nil {
		return nil, e
	}
	return spotlightRidResult{ChannelID: req.ChannelID, RecvConnectionID: req.RecvConnectionID, SendConnectionID: req.SendConnectionID}, nil
}

type batchSpotlightRidRequest struct {
	ChannelID string
	Items     []spotlightRidItem
}

func (r *batchSpotlightRidRequest) decode(b body) (err *Error) {
	if r.ChannelID, err = b.str("channel_id", maxIDBytes); err != nil {
		return err
	}
	if !b.present("item_list") {
		return missingKey("item_list")
	}
	raw, perr := parseItems(b["item_list"])
	if perr != nil {
		return perr
	}
	if len(raw) == 0 || len(raw) > maxBatchItems {
		return invalidValue("item_list", "has %d items (want 1-%d)", len(raw), maxBatchItems)
	}
	for i, ib := range raw {
		var it spotlightRidItem
		if e := it.decode(ib); e != nil {
			key := "item_list[" + strconv.Itoa(i) + "]." + e.Reason.Key
			e.Reason.Message = "item_list[" + strconv.Itoa(i) + "]: " + e.Reason.Message
			e.Reason.Key = key
			return e
		}
		r.Items = append(r.Items, it)
	}
	return nil
}

// parseItems reads item_list: an array of objects.
func parseItems(raw json.RawMessage) ([]body, *Error) {
	if k := JSONKind(raw); k != "an array" {
		return nil, invalidType("item_list", "an array", k)
	}
	var elems []json.RawMessage
	if err := sonic.ConfigStd.Unmarshal(raw, &elems); err != nil {
		return nil, invalidType("item_list", "an array", "a malformed array")
	}
	out := make([]body, 0, len(elems))
	for i, el := range elems {
		key := "item_list[" + strconv.Itoa(i) + "]"
		if k := JSONKind(el); k != "an object" {
			return nil, invalidType(key, "an object", k)
		}
		m := body{}
		if err := sonic.ConfigStd.Unmarshal(el, &m); err != nil {
			return nil, invalidType(key, "an object", "a malformed object")
		}
		out = append(out, m)
	}
	return out, nil
}

type batchSpotlightRidResult struct {
	ChannelID string             `json:"channel_id"`
	ItemList  []spotlightRidItem `json:"item_list"`
}

// batchRequestSpotlightRid checks that every receiver and sender is in the
// channel, then applies the items in order.
func (a *API) batchRequestSpotlightRid(req *batchSpotlightRidRequest) (any, *Error) {
	for _, it := range req.Items {
		if _, e := a.connection(req.ChannelID, it.RecvConnectionID); e != nil {
			return nil, e
		}
		if it.SendConnectionID != "" {
			if _, e := a.connection(req.ChannelID, it.SendConnectionID); e != nil {
				return nil, e
			}
		}
	}
	for _, it := range req.Items {
		if e := a.applySpotlightRid(req.ChannelID, it); e != nil {
			return nil, e
		}
	}
	return batchSpotlightRidResult{req.ChannelID, req.Items}, nil
}
