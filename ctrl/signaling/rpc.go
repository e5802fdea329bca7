package signaling

import (
	"encoding/json"
	"errors"
	"slices"
	"strings"

	"github.com/bytedance/sonic"
	"github.com/hayate-sfu/hayate/ctrl/room"
)

// JSON-RPC 2.0 on the rpc DataChannel (signaling.md §9). A request is
// {"jsonrpc":"2.0","id"?,"method","params"?}; without an id it is a
// notification and gets no response, even when it fails. Errors use the
// codes of the JSON-RPC 2.0 specification §5.1; the message names the
// problem. Batches (arrays) are refused as an invalid request.

// JSON-RPC 2.0 error codes.
const (
	rpcParseError     = -32700
	rpcInvalidRequest = -32600
	rpcMethodNotFound = -32601
	rpcInvalidParams  = -32602
)

// rpcMethods are the methods Hayate implements.
var rpcMethods = map[string]bool{
	room.RPCPutSignalingNotifyMetadata:     true,
	room.RPCPutSignalingNotifyMetadataItem: true,
	room.RPCRequestSimulcastRid:            true,
	room.RPCRequestSpotlightRid:            true,
	room.RPCResetSpotlightRid:              true,
}

// rpcPending are methods of the spec that this server does not implement
// yet (answered "not supported by this server yet"); none today.
var rpcPending = map[string]bool{}

// rpcCall is a decoded request.
type rpcCall struct {
	id     json.RawMessage // the id as sent; nil when absent (notification)
	method string
	params json.RawMessage // object, array or nil
}

// rpcError is a JSON-RPC error object.
type rpcError struct {
	Code    int    `json:"code"`
	Message string `json:"message"`
}

type rpcResponse struct {
	JSONRPC string          `json:"jsonrpc"`
	ID      json.RawMessage `json:"id"`
	Result  any             `json:"result,omitempty"`
	Error   *rpcError       `json:"error,omitempty"`
}

var jsonNull = json.RawMessage("null")

// rpcRaw has every member of a request, undecoded.
type rpcRaw struct {
	JSONRPC json.RawMessage `json:"jsonrpc"`
	ID      json.RawMessage `json:"id"`
	Method  json.RawMessage `json:"method"`
	Params  json.RawMessage `json:"params"`
}

// parseRPC decodes one request. On error, call.id is what the response
// must carry (null when the id could not be read) and respond says whether
// a response is due (not for a notification, always for a request whose
// id could not be read).
func parseRPC(b []byte) (call rpcCall, rerr *rpcError, respond bool) {
	i := 0
	for i < len(b) && (b[i] == ' ' || b[i] == '\t' || b[i] == '\r' || b[i] == '\n') {
		i++
	}
	if !json.Valid(b) {
		return rpcCall{id: jsonNull}, &rpcError{rpcParseError, "Parse error: not a JSON text"}, true
	}
	if i < len(b) && b[i] == '[' {
		return rpcCall{id: jsonNull}, &rpcError{rpcInvalidRequest, "Invalid Request: batch requests are not supported"}, true
	}
	if i == len(b) || b[i] != '{' {
		return rpcCall{id: jsonNull}, &rpcError{rpcInvalidRequest, "Invalid Request: not a JSON object"}, true
	}
	var raw rpcRaw
	if err := sonic.ConfigStd.Unmarshal(b, &raw); err != nil {
		return rpcCall{id: jsonNull}, &rpcError{rpcInvalidRequest, "Invalid Request: " + firstLine(err.Error())}, true
	}
	// The id first: every later error is answered with it.
	if raw.ID != nil {
		switch jsonKind(raw.ID) {
		case "string", "number", "null":
			call.id = raw.ID
		default:
			return rpcCall{id: jsonNull}, &rpcError{rpcInvalidRequest, "Invalid Request: id must be a string, a number or null"}, true
		}
	}
	respond = call.id != nil
	if string(raw.JSONRPC) != `"2.0"` {
		return call, &rpcError{rpcInvalidRequest, `Invalid Request: jsonrpc must be "2.0"`}, respond
	}
	if jsonKind(raw.Method) != "string" {
		return call, &rpcError{rpcInvalidRequest, "Invalid Request: method must be a string"}, respond
	}
	if err := sonic.ConfigStd.Unmarshal(raw.Method, &call.method); err != nil {
		return call, &rpcError{rpcInvalidRequest, "Invalid Request: bad method string"}, respond
	}
	if raw.Params != nil {
		switch jsonKind(raw.Params) {
		case "object", "array":
			call.params = raw.Params
		default:
			return call, &rpcError{rpcInvalidRequest, "Invalid Request: params must be an object or an array"}, respond
		}
	}
	return call, nil, respond
}

// callRPC checks that the method exists and is granted, reads its params
// and runs it.
func callRPC(rc *room.Connection, call rpcCall) (any, *rpcError) {
	m := truncate(call.method, 64)
	if !rpcMethods[call.method] {
		if rpcPending[call.method] {
			return nil, &rpcError{rpcMethodNotFound, "Method not found: " + m + " is not supported by this server yet"}
		}
		return nil, &rpcError{rpcMethodNotFound, "Method not found: " + m}
	}
	if !slices.Contains(rc.RPCMethods(), call.method) {
		return nil, &rpcError{rpcMethodNotFound, "Method not found: " + m + " is not granted to this connection (offer.rpc_methods)"}
	}
	if jsonKind(call.params) != "object" {
		return nil, &rpcError{rpcInvalidParams, "Invalid params: want an object"}
	}
	p, cerr := object("params", call.params)
	if cerr != nil {
		return nil, paramsError(cerr)
	}
	if layerRPC[call.method] {
		return callLayerRPC(rc, call.method, p)
	}
	push, _, cerr := optBool("push", p["push"])
	if cerr != nil {
		return nil, paramsError(cerr)
	}
	var md map[string]json.RawMessage
	var err error
	switch call.method {
	case room.RPCPutSignalingNotifyMetadata:
		if isAbsent(p["metadata"]) {
			return nil, &rpcError{rpcInvalidParams, "Invalid params: metadata: missing"}
		}
		obj, cerr := object("metadata", p["metadata"])
		if cerr != nil {
			return nil, paramsError(cerr)
		}
		md, err = rc.PutNotifyMetadataExt(obj, push)
	case room.RPCPutSignalingNotifyMetadataItem:
		if isAbsent(p["key"]) {
			return nil, &rpcError{rpcInvalidParams, "Invalid params: key: missing"}
		}
		key, cerr := str("key", p["key"], 1, 255)
		if cerr != nil {
			return nil, paramsError(cerr)
		}
		v, ok := p["value"]
		if !ok {
			return nil, &rpcError{rpcInvalidParams, "Invalid params: value: missing"}
		}
		md, err = rc.PutNotifyMetadataExtItem(key, v, push)
	}
	if errors.Is(err, room.ErrLeft) {
		return nil, &rpcError{-32000, "Server error: the connection has left"}
	}
	if err != nil {
		return nil, &rpcError{-32603, "Internal error"}
	}
	return md, nil
}

// paramsError turns a field error of the decode helpers into -32602.
func paramsError(e *closeError) *rpcError {
	return &rpcError{rpcInvalidParams, "Invalid params: " + strings.TrimPrefix(e.reason, "INVALID-FIELD: ")}
}

// handleRPC runs one message of the rpc channel and sends the response,
// if one is due, on the same channel.
func (c *conn) handleRPC(b []byte) {
	call, rerr, respond := parseRPC(b)
	var result any
	if rerr == nil {
		result, rerr = callRPC(c.room, call)
	}
	method, code := "invalid", 0
	if rerr == nil || rerr.Code != rpcParseError && rerr.Code != rpcInvalidRequest {
		method = "other"
		if rpcMethods[call.method] || rpcPending[call.method] {
			method = call.method
		}
	}
	if rerr != nil {
		code = rerr.Code
	}
	c.s.metrics.rpc.WithLabelValues(method, rpcCodeLabel(code)).Inc()
	if !respond {
		return
	}
	resp := rpcResponse{JSONRPC: "2.0", ID: call.id, Result: result, Error: rerr}
	if resp.ID == nil {
		resp.ID = jsonNull
	}
	if rerr == nil && result == nil {
		resp.Result = struct{}{}
	}
	out, err := sonic.ConfigStd.Marshal(resp)
	if err != nil {
		c.log.Error("signaling: encoding an RPC response", "err", err)
		return
	}
	if err := c.room.SendDataChannel(room.LabelRPC, out); err != nil {
		c.log.Debug("signaling: RPC response not sent", "err", err)
	}
}

func rpcCodeLabel(code int) string {
	switch code {
	case 0:
		return "ok"
	case rpcParseError:
		return "parse_error"
	case rpcInvalidRequest:
		return "invalid_request"
	case rpcMethodNotFound:
		return "method_not_found"
	case rpcInvalidParams:
		return "invalid_params"
	}
	return "server_error"
}
