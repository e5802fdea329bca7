package audiostream

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"

	"github.com/hayate-sfu/hayate/ctrl/room"
)

// ErrNoAudio is what Rooms.ForwardAudio returns (wrapped or not) for a
// connection that publishes no audio track yet: the stream is tried again
// at the next sync, without counting a failure.
var ErrNoAudio = errors.New("audiostream: the connection publishes no audio track")

// Conn is one connection of a channel as Streams sees it.
type Conn struct {
	ConnectionID string
	ClientID     string
	// Audio is true when the connection publishes audio now: its role
	// sends, it connected with audio, and its transport is up and its
	// answer applied (connection.created), so its audio track exists.
	Audio bool
	// LanguageCode is its audio_streaming_language_code (from connect or
	// the auth webhook's answer); "" when it gave none.
	LanguageCode string
}

// Rooms is what Streams needs from the rooms. Streams calls it without
// holding its own lock, from its sync goroutine and its streams'
// goroutines; implementations may take room locks. A Rooms must never call
// Streams while holding a lock that Rooms itself takes.
type Rooms interface {
	// Channel returns the channel's session id and its connections in
	// join order; ok is false when the channel has no connection (no
	// session).
	Channel(channelID string) (sessionID string, conns []Conn, ok bool)
	// ForwardAudio sends the audio track that the connection publishes as
	// plain RTP with ssrc to to (a loopback UDP socket of the stream)
	// until stop is called; stop may be called more than once and after
	// the connection left. It fails with ErrNoAudio when the connection
	// publishes no audio (yet); other errors are failures.
	ForwardAudio(connectionID string, to netip.AddrPort, ssrc uint32) (stop func(), err error)
	// Push sends {"type":"push","data":data} to the connection (WebSocket
	// or the push DataChannel); data is a JSON object.
	Push(connectionID string, data json.RawMessage) error
}

// RegistryRooms is Rooms over a *room.Registry.
type RegistryRooms struct {
	Registry *room.Registry
	// Forward sends one connection's audio track as plain RTP (see
	// Rooms.ForwardAudio). nil uses the connection's own
	// ForwardAudio(to netip.AddrPort, ssrc uint32) (stop func(), err error)
	// method when *room.Connection has one (room.ErrNoTrack from it means
	// ErrNoAudio), and fails every stream otherwise.
	Forward func(connectionID string, to netip.AddrPort, ssrc uint32) (stop func(), err error)
	// LanguageCode is a connection's audio_streaming_language_code; nil
	// means none has one (only Config.DefaultLanguageCode then streams).
	LanguageCode func(info room.ConnectionInfo) string
}

// Channel implements Rooms.
func (r RegistryRooms) Channel(channelID string) (string, []Conn, bool) {
	infos := r.Registry.Connections(channelID)
	if len(infos) == 0 {
		return "", nil, false
	}
	conns := make([]Conn, 0, len(infos))
	for _, info := range infos {
		c := Conn{ConnectionID: info.ConnectionID, ClientID: info.ClientID,
			Audio: info.Role.Sends() && info.Audio && info.Created}
		if r.LanguageCode != nil {
			c.LanguageCode = r.LanguageCode(info)
		}
		conns = append(conns, c)
	}
	return infos[0].SessionID, conns, true
}

// audioForwarder is the method RegistryRooms looks for on a
// *room.Connection.
type audioForwarder interface {
	ForwardAudio(to netip.AddrPort, ssrc uint32) (stop func(), err error)
}

// ForwardAudio implements Rooms.
func (r RegistryRooms) ForwardAudio(connectionID string, to netip.AddrPort, ssrc uint32) (func(), error) {
	if r.Forward != nil {
		return r.Forward(connectionID, to, ssrc)
	}
	c, ok := r.Registry.Connection(connectionID)
	if !ok {
		return nil, fmt.Errorf("%w: %s", room.ErrLeft, connectionID)
	}
	f, ok := any(c).(audioForwarder)
	if !ok {
		return nil, fmt.Errorf("audiostream: the rooms cannot forward %s's audio (room.Connection has no ForwardAudio)", connectionID)
	}
	stop, err := f.ForwardAudio(to, ssrc)
	if errors.Is(err, room.ErrNoTrack) {
		return nil, fmt.Errorf("%w: %w", ErrNoAudio, err)
	}
	return stop, err
}

// Push implements Rooms.
func (r RegistryRooms) Push(connectionID string, data json.RawMessage) error {
	c, ok := r.Registry.Connection(connectionID)
	if !ok {
		return room.ErrLeft
	}
	return c.Push(data)
}
