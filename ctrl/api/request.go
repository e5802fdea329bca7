package api

import (
	"encoding/json"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/bytedance/sonic"
	"github.com/hayate-sfu/hayate/ctrl/room"
)

// body is a request body: the members of its top-level object. Unknown keys
// are ignored (Sora clients send some this server has no use for, e.g.
// "redirect").
type body map[string]json.RawMessage

// parseBody reads a request body. Empty (or only white space) is {}.
func parseBody(b []byte) (body, *Error) {
	i := 0
	for i < len(b) && isSpace(b[i]) {
		i++
	}
	if i == len(b) {
		return body{}, nil
	}
	if b[i] != '{' {
		return nil, invalidJSON("the body is not a JSON object (it starts with %s)", strconv.QuoteRune(firstRune(b[i:])))
	}
	if !utf8.Valid(b) {
		return nil, invalidJSON("the body is not valid UTF-8")
	}
	var m body
	if err := sonic.ConfigStd.Unmarshal(b, &m); err != nil {
		// encoding/json words syntax errors for people ("unexpected end of
		// JSON input"); sonic's message quotes the input over several lines.
		var std map[string]json.RawMessage
		if serr := json.Unmarshal(b, &std); serr != nil {
			return nil, invalidJSON("%s", firstLine(serr.Error()))
		}
		return nil, invalidJSON("%s", firstLine(err.Error()))
	}
	if m == nil { // defensive: "{" was checked, so this is an object
		m = body{}
	}
	return m, nil
}

func isSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\r' || c == '\n' }

func firstRune(b []byte) rune {
	r, _ := utf8.DecodeRune(b)
	return r
}

func firstLine(s string) string {
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		s = s[:i]
	}
	s = strings.TrimSpace(s)
	if len(s) > 200 {
		s = truncate(s, 200) + "…"
	}
	return s
}

// truncate shortens s to at most n bytes without splitting a character.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}

// JSONKind names the JSON type of a value as the API's error messages say
// it ("a string", "an object", "null", "nothing", …); the cluster's
// operations use it too.
func JSONKind(raw json.RawMessage) string {
	s := strings.TrimLeft(string(raw), " \t\r\n")
	if s == "" {
		return "nothing"
	}
	switch s[0] {
	case '"':
		return "a string"
	case '{':
		return "an object"
	case '[':
		return "an array"
	case 't', 'f':
		return "a boolean"
	case 'n':
		return "null"
	}
	return "a number"
}

// present reports whether key is in the body with a value other than null.
func (b body) present(key string) bool {
	raw, ok := b[key]
	return ok && JSONKind(raw) != "null"
}

// str reads a required string of 1..maxLen bytes.
func (b body) str(key string, maxLen int) (string, *Error) {
	if !b.present(key) {
		return "", missingKey(key)
	}
	raw := b[key]
	if k := JSONKind(raw); k != "a string" {
		return "", invalidType(key, "a string", k)
	}
	var s string
	if err := sonic.ConfigStd.Unmarshal(raw, &s); err != nil {
		return "", invalidType(key, "a string", "a malformed string")
	}
	if s == "" {
		return "", invalidValue(key, "is empty")
	}
	if len(s) > maxLen {
		return "", invalidValue(key, "is %d bytes long (at most %d)", len(s), maxLen)
	}
	return s, nil
}

// optBool reads an optional boolean; absent or null is def.
func (b body) optBool(key string, def bool) (bool, *Error) {
	if !b.present(key) {
		return def, nil
	}
	switch string(b[key]) {
	case "true":
		return true, nil
	case "false":
		return false, nil
	}
	return false, invalidType(key, "a boolean", JSONKind(b[key]))
}

// object reads a required JSON object into its members.
func (b body) object(key string) (map[string]json.RawMessage, *Error) {
	if !b.present(key) {
		return nil, missingKey(key)
	}
	return b.objectValue(key)
}

// optObject reads an optional JSON object (nil when absent or null).
func (b body) optObject(key string) (map[string]json.RawMessage, *Error) {
	if !b.present(key) {
		return nil, nil
	}
	return b.objectValue(key)
}

func (b body) objectValue(key string) (map[string]json.RawMessage, *Error) {
	raw := b[key]
	if k := JSONKind(raw); k != "an object" {
		return nil, invalidType(key, "an object", k)
	}
	m := map[string]json.RawMessage{}
	if err := sonic.ConfigStd.Unmarshal(raw, &m); err != nil {
		return nil, invalidType(key, "an object", "a malformed object")
	}
	return m, nil
}

// value reads a required JSON value of any type, null included.
func (b body) value(key string) (json.RawMessage, *Error) {
	raw, ok := b[key]
	if !ok {
		return nil, missingKey(key)
	}
	return raw, nil
}

// Identifier limits (spec/signaling.md §2: ids are at most 255 bytes).
const (
	maxIDBytes  = room.MaxChannelIDBytes
	maxKeyBytes = 255 // a metadata ext key
)

// --- typed requests ---
//
// Each request type decodes itself from a body, naming the first key that
// is missing, of the wrong type or out of range.

type decoder interface{ decode(body) *Error }

type noRequest struct{}

func (*noRequest) decode(body) *Error { return nil }

type listChannelsRequest struct {
	// Local is accepted for cluster compatibility; without a cluster every
	// channel is local.
	Local bool
}

func (r *listChannelsRequest) decode(b body) (err *Error) {
	r.Local, err = b.optBool("local", true)
	return err
}

type channelRequest struct{ ChannelID string }

func (r *channelRequest) decode(b body) (err *Error) {
	r.ChannelID, err = b.str("channel_id", maxIDBytes)
	return err
}

type connectionRequest struct{ ChannelID, ConnectionID string }

func (r *connectionRequest) decode(b body) (err *Error) {
	if r.ChannelID, err = b.str("channel_id", maxIDBytes); err != nil {
		return err
	}
	r.ConnectionID, err = b.str("connection_id", maxIDBytes)
	return err
}

type clientRequest struct{ ChannelID, ClientID string }

func (r *clientRequest) decode(b body) (err *Error) {
	if r.ChannelID, err = b.str("channel_id", maxIDBytes); err != nil {
		return err
	}
	r.ClientID, err = b.str("client_id", maxIDBytes)
	return err
}

type roleRequest struct {
	ChannelID string
	Role      room.Role
}

func (r *roleRequest) decode(b body) *Error {
	var err *Error
	if r.ChannelID, err = b.str("channel_id", maxIDBytes); err != nil {
		return err
	}
	return decodeRole(b, &r.Role)
}

func decodeRole(b body, dst *room.Role) *Error {
	s, err := b.str("role", 16)
	if err != nil {
		if err.Type == TypeInvalidValue {
			return invalidValue("role", "must be sendrecv, sendonly or recvonly")
		}
		return err
	}
	if !room.Role(s).Valid() {
		return invalidValue("role", "%s is not sendrecv, sendonly or recvonly", strconv.Quote(s))
	}
	*dst = room.Role(s)
	return nil
}

// disconnectReason reads the optional "reason" object of the Disconnect
// operations. Sora copies it into the connection.destroyed event webhook;
// it is validated and kept for that, which does not exist yet.
func disconnectReason(b body) (map[string]json.RawMessage, *Error) { return b.optObject("reason") }

type disconnectChannelRequest struct {
	channelRequest
	Reason map[string]json.RawMessage
}

func (r *disconnectChannelRequest) decode(b body) (err *Error) {
	if err = r.channelRequest.decode(b); err != nil {
		return err
	}
	r.Reason, err = disconnectReason(b)
	return err
}

type disconnectClientRequest struct {
	clientRequest
	Reason map[string]json.RawMessage
}

func (r *disconnectClientRequest) decode(b body) (err *Error) {
	if err = r.clientRequest.decode(b); err != nil {
		return err
	}
	r.Reason, err = disconnectReason(b)
	return err
}

type disconnectConnectionRequest struct {
	connectionRequest
	Reason map[string]json.RawMessage
}

func (r *disconnectConnectionRequest) decode(b body) (err *Error) {
	if err = r.connectionRequest.decode(b); err != nil {
		return err
	}
	r.Reason, err = disconnectReason(b)
	return err
}

// pushData is the "data" object of the Push operations, kept as it came
// (compacted on the way out).
type pushData map[string]json.RawMessage

type pushChannelRequest struct {
	channelRequest
	Data pushData
}

func (r *pushChannelRequest) decode(b body) (err *Error) {
	if err = r.channelRequest.decode(b); err != nil {
		return err
	}
	r.Data, err = b.object("data")
	return err
}

type pushClientRequest struct {
	clientRequest
	Data pushData
}

func (r *pushClientRequest) decode(b body) (err *Error) {
	if err = r.clientRequest.decode(b); err != nil {
		return err
	}
	r.Data, err = b.object("data")
	return err
}

type pushConnectionRequest struct {
	connectionRequest
	Data pushData
}

func (r *pushConnectionRequest) decode(b body) (err *Error) {
	if err = r.connectionRequest.decode(b); err != nil {
		return err
	}
	r.Data, err = b.object("data")
	return err
}

type pushRoleRequest struct {
	roleRequest
	Data pushData
}

func (r *pushRoleRequest) decode(b body) (err *Error) {
	if err = r.roleRequest.decode(b); err != nil {
		return err
	}
	r.Data, err = b.object("data")
	return err
}

type changeModeRequest struct{ Mode room.Mode }

func (r *changeModeRequest) decode(b body) *Error {
	s, err := b.str("mode", 32)
	if err != nil {
		if err.Type == TypeInvalidValue {
			return invalidValue("mode", "must be normal, block_new_session or block_new_connection")
		}
		return err
	}
	if !room.Mode(s).Valid() {
		return invalidValue("mode", "%s is not normal, block_new_session or block_new_connection", strconv.Quote(s))
	}
	r.Mode = room.Mode(s)
	return nil
}

type putMetadataRequest struct {
	connectionRequest
	Metadata map[string]json.RawMessage
	Push     bool
}

func (r *putMetadataRequest) decode(b body) (err *Error) {
	if err = r.connectionRequest.decode(b); err != nil {
		return err
	}
	if r.Metadata, err = b.object("metadata"); err != nil {
		return err
	}
	r.Push, err = b.optBool("push", false)
	return err
}

type deleteMetadataRequest struct {
	connectionRequest
	Push bool
}

func (r *deleteMetadataRequest) decode(b body) (err *Error) {
	if err = r.connectionRequest.decode(b); err != nil {
		return err
	}
	r.Push, err = b.optBool("push", false)
	return err
}

type putMetadataItemRequest struct {
	connectionRequest
	Key   string
	Value json.RawMessage
	Push  bool
}

func (r *putMetadataItemRequest) decode(b body) (err *Error) {
	if err = r.connectionRequest.decode(b); err != nil {
		return err
	}
	if r.Key, err = b.str("key", maxKeyBytes); err != nil {
		return err
	}
	if r.Value, err = b.value("value"); err != nil {
		return err
	}
	r.Push, err = b.optBool("push", false)
	return err
}

type deleteMetadataItemRequest struct {
	connectionRequest
	Key  string
	Push bool
}

func (r *deleteMetadataItemRequest) decode(b body) (err *Error) {
	if err = r.connectionRequest.decode(b); err != nil {
		return err
	}
	if r.Key, err = b.str("key", maxKeyBytes); err != nil {
		return err
	}
	r.Push, err = b.optBool("push", false)
	return err
}

type crashLogRequest struct {
	// Info is written into the report as given; nil when absent.
	Info json.RawMessage
}

func (r *crashLogRequest) decode(b body) *Error {
	if raw, ok := b["info"]; ok {
		r.Info = raw
	}
	return nil
}
