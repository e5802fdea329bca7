package signaling

import "github.com/hayate-sfu/hayate/ctrl/room"

// WebSocket close codes. A close reason is "<KEYWORD>" or "<KEYWORD>:
// <detail>", at most 123 bytes; the keyword is one of the constants'
// comments below. The Sora SDKs surface code and reason to the application
// (the JS SDK's connect() rejects with them).
const (
	// CloseNormal (1000) ends a connection normally: "TYPE-DISCONNECT"
	// after the client's disconnect, "SHUTDOWN" when the server stops,
	// "DISCONNECTED-API" from the API.
	CloseNormal = 1000
	// CloseInvalidJSON: "INVALID-JSON" — the frame is not a JSON object,
	// not UTF-8, has no "type", or is a binary frame.
	CloseInvalidJSON = 4400
	// CloseUnknownType: "UNKNOWN-TYPE" — "type" names no client message.
	CloseUnknownType = 4401
	// CloseUnexpectedMessage: "UNEXPECTED-MESSAGE" — a message out of
	// order: anything before connect, a second connect, an answer no offer
	// awaits.
	CloseUnexpectedMessage = 4402
	// CloseInvalidField: "INVALID-FIELD" — a field is missing, of the wrong
	// type or out of range; the detail names the field.
	CloseInvalidField = 4403
	// CloseInvalidAnswer: "INVALID-ANSWER" — the SDP answer cannot be used.
	CloseInvalidAnswer = 4406
	// ClosePongTimeout: "PONG-TIMEOUT" — nothing received for PongTimeout.
	ClosePongTimeout = 4408
	// CloseSendQueueFull: "SEND-QUEUE-FULL" — the client reads too slowly.
	CloseSendQueueFull = 4409
	// CloseTransportFailed: "TRANSPORT-CLOSED" — the media transport ended
	// (ICE timeout, DTLS failure); set by the room.
	CloseTransportFailed = room.CloseTransportFailed
	// CloseMessageTooLarge: "MESSAGE-TOO-LARGE" — a frame exceeded
	// MaxMessageBytes; the detail names the limit.
	CloseMessageTooLarge = 4413
	// CloseTooManyConnections: "TOO-MANY-CONNECTIONS: <limit> <n>" — the
	// connect would exceed max_connections or max_connections_per_channel
	// (Config.MaxConnections, MaxConnectionsPerChannel); set by the room.
	CloseTooManyConnections = room.CloseTooManyConnections
	// CloseAuthFailed: "AUTH-FAILED: <why>" — the connect did not pass the
	// built-in token auth (Config.AuthSecret) or the auth webhook denied it,
	// failed or timed out.
	CloseAuthFailed = 4490
	// CloseModeBlocked: "MODE-BLOCKED: <mode>" — the API's ChangeMode
	// refuses new connections; set by the room.
	CloseModeBlocked = room.CloseModeBlocked
	// CloseClusterUnavailable: "CLUSTER-UNAVAILABLE: <why>" — with a
	// cluster, the connect's channel cannot be placed (no raft majority, no
	// connected node); Config.Place refused it.
	CloseClusterUnavailable = 4504
	// CloseInternalError: "INTERNAL-ERROR" — a server fault.
	CloseInternalError = 4500
)

// maxCloseReason is the longest close reason a WebSocket close frame can
// carry (RFC 6455 §5.5: 125-byte control payload minus the 2-byte code).
const maxCloseReason = 123

// closeError is a decision to close the WebSocket.
type closeError struct {
	code   int
	reason string
}

func (e *closeError) Error() string { return e.reason }

func closeErr(code int, keyword, detail string) *closeError {
	r := keyword
	if detail != "" {
		r += ": " + detail
	}
	return &closeError{code: code, reason: truncate(r, maxCloseReason)}
}

func invalidField(field, detail string) *closeError {
	return closeErr(CloseInvalidField, "INVALID-FIELD", field+": "+detail)
}

// reasonKeywords bound the reason label of the closes metric.
var reasonKeywords = map[string]bool{
	"TYPE-DISCONNECT": true, "SHUTDOWN": true, "DISCONNECTED-API": true, "CLIENT-CLOSED": true,
	"INVALID-JSON": true, "UNKNOWN-TYPE": true, "UNEXPECTED-MESSAGE": true, "INVALID-FIELD": true,
	"INVALID-ANSWER": true, "PONG-TIMEOUT": true, "SEND-QUEUE-FULL": true, "TRANSPORT-CLOSED": true,
	"MESSAGE-TOO-LARGE": true, "INTERNAL-ERROR": true, "LIFETIME-EXPIRED": true,
	"MODE-BLOCKED":         true, // room.CloseModeBlocked: a connect refused by the API's ChangeMode
	"AUTH-FAILED":          true, // the built-in token auth or the auth webhook refused the connect
	"TOO-MANY-CONNECTIONS": true, // room.CloseTooManyConnections: max_connections(_per_channel)
}

func reasonKeyword(reason string) string {
	k := reason
	for i := 0; i < len(k); i++ {
		if k[i] == ':' {
			k = k[:i]
			break
		}
	}
	if reasonKeywords[k] {
		return k
	}
	return "OTHER"
}
