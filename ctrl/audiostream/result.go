package audiostream

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"unicode/utf8"
)

// errResult: a line of the gateway's answer that is not a JSON object.
var errResult = errors.New("audiostream: result line is not a JSON object")

// resultData turns one line of the gateway's answer into the data of the
// push that subscribers get: the JSON object as the gateway sent it, with
// "connection_id" (the streamed connection, whose speech it is) added
// when the object has none. White space around the object is allowed;
// anything else fails with errResult.
func resultData(line []byte, connectionID string) (json.RawMessage, error) {
	line = bytes.TrimSpace(line)
	if len(line) == 0 || line[0] != '{' {
		return nil, fmt.Errorf("%w: it starts with %q", errResult, head(line))
	}
	if !utf8.Valid(line) {
		return nil, fmt.Errorf("%w: not valid UTF-8", errResult)
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(line, &m); err != nil {
		return nil, fmt.Errorf("%w: %v", errResult, err)
	}
	if _, ok := m["connection_id"]; !ok {
		id, _ := json.Marshal(connectionID)
		m["connection_id"] = id
	}
	return json.Marshal(m) // compact, keys sorted
}

// failureData is the push that tells subscribers a connection's stream
// failed, in the shape of a gateway's own fatal error ({"type": "error",
// "reason": …}), naming the connection.
func failureData(connectionID, reason string) json.RawMessage {
	b, _ := json.Marshal(struct {
		ConnectionID       string `json:"connection_id"`
		FailedConnectionID string `json:"failed_connection_id"`
		Reason             string `json:"reason"`
		Type               string `json:"type"`
	}{connectionID, connectionID, reason, "error"})
	return b
}

func head(b []byte) string {
	if len(b) > 16 {
		b = b[:16]
	}
	return string(b)
}
