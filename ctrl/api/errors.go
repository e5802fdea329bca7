package api

import (
	"fmt"
	"net/http"
	"strconv"
)

// Error types: the error_type of an error response. Clients compare them as
// strings; every one is listed with its status in the package doc.
const (
	TypeInvalidJSON        = "INVALID-JSON"
	TypeMissingKey         = "MISSING-KEY"
	TypeInvalidType        = "INVALID-TYPE"
	TypeInvalidValue       = "INVALID-VALUE"
	TypeUnknownTarget      = "UNKNOWN-TARGET"
	TypeNoVideoTrack       = "NO-VIDEO-TRACK"
	TypeForbidden          = "FORBIDDEN"
	TypeNotFound           = "NOT-FOUND"
	TypeChannelNotFound    = "CHANNEL-NOT-FOUND"
	TypeConnectionNotFound = "CONNECTION-NOT-FOUND"
	TypeClientNotFound     = "CLIENT-NOT-FOUND"
	TypeMethodNotAllowed   = "METHOD-NOT-ALLOWED"
	TypeBodyTooLarge       = "BODY-TOO-LARGE"
	TypeInternalError      = "INTERNAL-ERROR"
	TypeNotImplemented     = "NOT-IMPLEMENTED"
)

// Error is an error response: Status, and the body
// {"error_type": Type, "error_reason": Reason}. Following the seed document
// (NODE-IS-ALIVE), error_reason is an object: the request values the error
// is about, and a message for people.
type Error struct {
	Status int
	Type   string
	Reason Reason
}

// Reason is the error_reason object. Empty fields are left out, except
// message.
type Reason struct {
	ChannelID    string `json:"channel_id,omitempty"`
	ClientID     string `json:"client_id,omitempty"`
	ConnectionID string `json:"connection_id,omitempty"`
	Key          string `json:"key,omitempty"`
	Limit        int64  `json:"limit,omitempty"`
	Message      string `json:"message"`
	Method       string `json:"method,omitempty"`
	Path         string `json:"path,omitempty"`
	Target       string `json:"target,omitempty"`
}

func (e *Error) Error() string {
	return fmt.Sprintf("api: %d %s: %s", e.Status, e.Type, e.Reason.Message)
}

// errorBody is the wire form of an Error.
type errorBody struct {
	ErrorReason Reason `json:"error_reason"`
	ErrorType   string `json:"error_type"`
}

func invalidJSON(format string, args ...any) *Error {
	return &Error{Status: http.StatusBadRequest, Type: TypeInvalidJSON, Reason: Reason{Message: fmt.Sprintf(format, args...)}}
}

func missingKey(key string) *Error {
	return &Error{Status: http.StatusBadRequest, Type: TypeMissingKey,
		Reason: Reason{Key: key, Message: key + " is required"}}
}

func invalidType(key, want, got string) *Error {
	return &Error{Status: http.StatusBadRequest, Type: TypeInvalidType,
		Reason: Reason{Key: key, Message: key + " must be " + want + ", not " + got}}
}

func invalidValue(key, format string, args ...any) *Error {
	return &Error{Status: http.StatusBadRequest, Type: TypeInvalidValue,
		Reason: Reason{Key: key, Message: key + " " + fmt.Sprintf(format, args...)}}
}

func unknownTarget(target string) *Error {
	if target == "" {
		return &Error{Status: http.StatusBadRequest, Type: TypeUnknownTarget,
			Reason: Reason{Message: "the x-sora-target header is missing (want Sora_YYYYMMDD.Operation)"}}
	}
	return &Error{Status: http.StatusBadRequest, Type: TypeUnknownTarget,
		Reason: Reason{Target: target, Message: "x-sora-target " + strconv.Quote(target) + " names no operation of this server"}}
}

func notImplemented(target, why string) *Error {
	return &Error{Status: http.StatusNotImplemented, Type: TypeNotImplemented,
		Reason: Reason{Target: target, Message: target + " is not implemented yet: " + why}}
}

func channelNotFound(channelID string) *Error {
	return &Error{Status: http.StatusNotFound, Type: TypeChannelNotFound,
		Reason: Reason{ChannelID: channelID, Message: "channel " + strconv.Quote(channelID) + " has no connection"}}
}

func connectionNotFound(channelID, connectionID string) *Error {
	return &Error{Status: http.StatusNotFound, Type: TypeConnectionNotFound,
		Reason: Reason{ChannelID: channelID, ConnectionID: connectionID,
			Message: "channel " + strconv.Quote(channelID) + " has no connection " + strconv.Quote(connectionID)}}
}

func clientNotFound(channelID, clientID string) *Error {
	return &Error{Status: http.StatusNotFound, Type: TypeClientNotFound,
		Reason: Reason{ChannelID: channelID, ClientID: clientID,
			Message: "channel " + strconv.Quote(channelID) + " has no connection with client_id " + strconv.Quote(clientID)}}
}

func internalError(format string, args ...any) *Error {
	return &Error{Status: http.StatusInternalServerError, Type: TypeInternalError,
		Reason: Reason{Message: fmt.Sprintf(format, args...)}}
}
