package room

import (
	"encoding/json"
	"time"

	"github.com/bytedance/sonic"
	"github.com/hayate-sfu/hayate/ctrl/offer"
)

// Server → client messages. Field order is the wire order (golden tests).

type offerMessage struct {
	Type                string     `json:"type"`
	SDP                 string     `json:"sdp"`
	Version             string     `json:"version,omitempty"`
	ChannelID           string     `json:"channel_id"`
	SessionID           string     `json:"session_id"`
	ConnectionID        string     `json:"connection_id"`
	ClientID            string     `json:"client_id"`
	BundleID            string     `json:"bundle_id"`
	Simulcast           bool       `json:"simulcast"`
	SimulcastMulticodec bool       `json:"simulcast_multicodec"`
	Spotlight           bool       `json:"spotlight"`
	Config              rtcConfig  `json:"config"`
	Mid                 *offerMids `json:"mid,omitempty"`
	// Encodings tell a simulcast publisher how to encode each rid.
	Encodings []offer.Encoding `json:"encodings,omitempty"`
	// The DataChannel fields are present only when the connection uses
	// DataChannels (signaling.md §5).
	DataChannelSignaling      *bool              `json:"data_channel_signaling,omitempty"`
	IgnoreDisconnectWebSocket *bool              `json:"ignore_disconnect_websocket,omitempty"`
	DataChannels              []offerDataChannel `json:"data_channels,omitempty"`
	RPCMethods                []string           `json:"rpc_methods,omitempty"`
	// Metadata is the auth webhook's metadata payout ("authz" metadata).
	Metadata       json.RawMessage `json:"metadata,omitempty"`
	Audio          bool            `json:"audio"`
	AudioCodecType string          `json:"audio_codec_type,omitempty"`
	AudioBitRate   int             `json:"audio_bit_rate,omitempty"`
	Video          bool            `json:"video"`
	VideoCodecType string          `json:"video_codec_type,omitempty"`
	VideoBitRate   int             `json:"video_bit_rate,omitempty"`
}

// rtcConfig is passed by the SDKs to new RTCPeerConnection as is.
type rtcConfig struct {
	ICEServers         []ICEServer `json:"iceServers"`
	ICETransportPolicy string      `json:"iceTransportPolicy,omitempty"`
}

// ICEServer is one entry of offer.config.iceServers. The C++ SDK requires
// username and credential on every entry.
type ICEServer struct {
	URLs       []string `json:"urls"`
	Username   string   `json:"username"`
	Credential string   `json:"credential"`
}

type offerMids struct {
	Audio string `json:"audio,omitempty"`
	Video string `json:"video,omitempty"`
}

// offerDataChannel is one entry of offer.data_channels: a channel the
// server opens. compress is always present (the C++ SDK requires it).
type offerDataChannel struct {
	Label     string          `json:"label"`
	Direction string          `json:"direction"`
	Compress  bool            `json:"compress"`
	Header    json.RawMessage `json:"header,omitempty"`
}

// switchedMessage goes on the WebSocket once the DataChannels are open.
type switchedMessage struct {
	Type                      string `json:"type"`
	IgnoreDisconnectWebSocket bool   `json:"ignore_disconnect_websocket"`
}

// closeMessage goes on the signaling DataChannel before the server ends a
// switched connection.
type closeMessage struct {
	Type   string `json:"type"`
	Code   int    `json:"code"`
	Reason string `json:"reason"`
}

// labelOf names the DataChannel a server message goes on once signaling
// has switched; "" means the WebSocket.
func labelOf(v any) string {
	switch v.(type) {
	case reOfferMessage, *reOfferMessage:
		return LabelSignaling
	case notifyMessage, *notifyMessage:
		return LabelNotify
	case pushMessage, *pushMessage:
		return LabelPush
	case simulcastSwitchedMessage, spotlightMessage:
		return LabelNotify
	}
	return ""
}

type reOfferMessage struct {
	Type string `json:"type"`
	SDP  string `json:"sdp"`
}

type pushMessage struct {
	Type string `json:"type"`
	Data any    `json:"data"`
}

// notifyMessage is a connection.* notify (signaling.md §6).
type notifyMessage struct {
	Type                       string          `json:"type"`
	EventType                  string          `json:"event_type"`
	Role                       Role            `json:"role"`
	SessionID                  string          `json:"session_id"`
	ClientID                   string          `json:"client_id"`
	BundleID                   string          `json:"bundle_id"`
	ConnectionID               string          `json:"connection_id"`
	Audio                      bool            `json:"audio"`
	Video                      bool            `json:"video"`
	Minutes                    int             `json:"minutes"`
	ChannelConnections         int             `json:"channel_connections"`
	ChannelSendrecvConnections int             `json:"channel_sendrecv_connections"`
	ChannelSendonlyConnections int             `json:"channel_sendonly_connections"`
	ChannelRecvonlyConnections int             `json:"channel_recvonly_connections"`
	Timestamp                  string          `json:"timestamp"`
	TurnTransportType          string          `json:"turn_transport_type"`
	AuthnMetadata              json.RawMessage `json:"authn_metadata,omitempty"`
	AuthzMetadata              json.RawMessage `json:"authz_metadata,omitempty"`
	Metadata                   json.RawMessage `json:"metadata,omitempty"`
	Data                       *[]notifyMember `json:"data,omitempty"`
}

// notifyMember is one entry of connection.created's data list.
type notifyMember struct {
	ClientID      string          `json:"client_id"`
	ConnectionID  string          `json:"connection_id"`
	AuthnMetadata json.RawMessage `json:"authn_metadata,omitempty"`
	AuthzMetadata json.RawMessage `json:"authz_metadata,omitempty"`
	Metadata      json.RawMessage `json:"metadata,omitempty"`
}

// Notify event types.
const (
	EventConnectionCreated   = "connection.created"
	EventConnectionUpdated   = "connection.updated"
	EventConnectionDestroyed = "connection.destroyed"
)

// timestampLayout is RFC 3339 in UTC with milliseconds, as Sora writes it.
const timestampLayout = "2006-01-02T15:04:05.000Z"

func timestamp(t time.Time) string { return t.UTC().Format(timestampLayout) }

// encode marshals a server message. The messages are plain structs and
// json.RawMessage values that were validated on the way in, so an error is
// a programming error; it is returned for the caller to log.
func encode(v any) ([]byte, error) { return sonic.ConfigStd.Marshal(v) }
