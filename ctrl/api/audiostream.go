package api

import (
	"errors"
	"net/http"
	"strconv"

	"github.com/hayate-sfu/hayate/ctrl/audiostream"
)

// Audio streaming (seed document; Sora_20221221, and
// Sora_20230628.ListAudioStreamingResultPushState from spec/api.md §2.6):
// Config.AudioStreams does the work (ctrl/audiostream); this file checks
// the channel and connection and answers in the seed's shapes.

// Error types of the audio streaming operations.
const (
	// TypeAudioStreamingStarted: StartAudioStreaming on a channel whose
	// session streams already.
	TypeAudioStreamingStarted = "AUDIO-STREAMING-ALREADY-STARTED"
	// TypeAudioStreamingNotStarted: StopAudioStreaming on a channel that
	// does not stream.
	TypeAudioStreamingNotStarted = "AUDIO-STREAMING-NOT-STARTED"
)

// sessionResult is the answer of StartAudioStreaming and
// StopAudioStreaming.
type sessionResult struct {
	SessionID string `json:"session_id"`
}

// pushStateJSON is one entry of ListAudioStreamingResultPushState: a
// connection of the channel and whether it receives the results.
type pushStateJSON struct {
	ChannelID    string `json:"channel_id"`
	ConnectionID string `json:"connection_id"`
	Subscribed   bool   `json:"subscribed"`
}

// audioStreams returns Config.AudioStreams, or the 501 of a server started
// without it.
func (a *API) audioStreams(target string) (*audiostream.Streams, *Error) {
	if a.cfg.AudioStreams == nil {
		return nil, notImplemented(target, "the server was started without audio streaming")
	}
	return a.cfg.AudioStreams, nil
}

func (a *API) startAudioStreaming(req *channelRequest) (any, *Error) {
	const target = "Sora_20221221.StartAudioStreaming"
	st, e := a.audioStreams(target)
	if e != nil {
		return nil, e
	}
	if _, e := a.channelConnections(req.ChannelID); e != nil {
		return nil, e
	}
	sid, err := st.Start(req.ChannelID)
	switch {
	case errors.Is(err, audiostream.ErrNoURL):
		return nil, &Error{Status: http.StatusNotImplemented, Type: TypeNotImplemented,
			Reason: Reason{Target: target, Message: target + " is not available: audio_streaming_url is not set"}}
	case errors.Is(err, audiostream.ErrNoChannel):
		return nil, channelNotFound(req.ChannelID)
	case errors.Is(err, audiostream.ErrStarted):
		return nil, &Error{Status: http.StatusBadRequest, Type: TypeAudioStreamingStarted, Reason: Reason{
			ChannelID: req.ChannelID,
			Message:   "channel " + strconv.Quote(req.ChannelID) + " streams its audio already (StopAudioStreaming first)",
		}}
	case err != nil:
		return nil, internalError("starting audio streaming: %v", err)
	}
	a.log.Info("api: audio streaming started", "channel_id", req.ChannelID, "session_id", sid)
	return sessionResult{sid}, nil
}

func (a *API) stopAudioStreaming(req *channelRequest) (any, *Error) {
	st, e := a.audioStreams("Sora_20221221.StopAudioStreaming")
	if e != nil {
		return nil, e
	}
	if _, e := a.channelConnections(req.ChannelID); e != nil {
		return nil, e
	}
	sid, err := st.Stop(req.ChannelID)
	switch {
	case errors.Is(err, audiostream.ErrNotStarted):
		return nil, &Error{Status: http.StatusBadRequest, Type: TypeAudioStreamingNotStarted, Reason: Reason{
			ChannelID: req.ChannelID,
			Message:   "channel " + strconv.Quote(req.ChannelID) + " does not stream its audio",
		}}
	case err != nil:
		return nil, internalError("stopping audio streaming: %v", err)
	}
	a.log.Info("api: audio streaming stopped", "channel_id", req.ChannelID, "session_id", sid)
	return sessionResult{sid}, nil
}

func (a *API) subscribeAudioStreamingResultPush(req *connectionRequest) (any, *Error) {
	st, e := a.audioStreams("Sora_20221221.SubscribeAudioStreamingResultPush")
	if e != nil {
		return nil, e
	}
	if _, e := a.connection(req.ChannelID, req.ConnectionID); e != nil {
		return nil, e
	}
	st.Subscribe(req.ChannelID, req.ConnectionID)
	return connectionResult{req.ChannelID, req.ConnectionID}, nil
}

func (a *API) unsubscribeAudioStreamingResultPush(req *connectionRequest) (any, *Error) {
	st, e := a.audioStreams("Sora_20221221.UnsubscribeAudioStreamingResultPush")
	if e != nil {
		return nil, e
	}
	if _, e := a.connection(req.ChannelID, req.ConnectionID); e != nil {
		return nil, e
	}
	st.Unsubscribe(req.ConnectionID)
	return connectionResult{req.ChannelID, req.ConnectionID}, nil
}

func (a *API) listAudioStreamingResultPushState(req *channelRequest) (any, *Error) {
	st, e := a.audioStreams("Sora_20230628.ListAudioStreamingResultPushState")
	if e != nil {
		return nil, e
	}
	infos, e := a.channelConnections(req.ChannelID)
	if e != nil {
		return nil, e
	}
	out := make([]pushStateJSON, 0, len(infos))
	for _, c := range infos {
		out = append(out, pushStateJSON{ChannelID: c.ChannelID, ConnectionID: c.ConnectionID, Subscribed: st.Subscribed(c.ConnectionID)})
	}
	return out, nil
}
