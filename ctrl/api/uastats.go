package api

import (
	"encoding/json"
	"net/http"
	"strconv"
)

// User-agent stats (Sora_20211215, seed document): the last RTC stats
// report each client sent (pong.stats every 5 s on WebSocket, stats on the
// DataChannel every 30 s), as Config.UAStats keeps it.

// TypeStatsNotFound: GetUserAgentStats for a connection that has sent no
// stats report yet.
const TypeStatsNotFound = "STATS-NOT-FOUND"

// uaTimestamp is the timestamp format of the seed document's answers.
const uaTimestamp = "2006-01-02T15:04:05.000Z"

// uaStatsListJSON is one entry of ListUserAgentStats and
// ListChannelUserAgentStats.
type uaStatsListJSON struct {
	ChannelID      string          `json:"channel_id"`
	ConnectionID   string          `json:"connection_id"`
	Timestamp      string          `json:"timestamp"`
	UserAgentStats json.RawMessage `json:"user_agent_stats"`
}

// uaStatsJSON is GetUserAgentStats' answer (the report is "stats" here).
type uaStatsJSON struct {
	ChannelID    string          `json:"channel_id"`
	ConnectionID string          `json:"connection_id"`
	Stats        json.RawMessage `json:"stats"`
	Timestamp    string          `json:"timestamp"`
}

func uaNotCollected(target string) *Error {
	return notImplemented(target, "the server was started without a user-agent stats store")
}

// uaReports lists the kept reports of a channel ("" every channel) whose
// connection is still in it. Reports of connections that have left are
// dropped on the way (uastats.Store.Prune).
func (a *API) uaReports(channelID string) []uaStatsListJSON {
	st := a.cfg.UAStats
	st.Prune(func(id string) bool { _, ok := a.cfg.Rooms.Connection(id); return ok })
	var out []uaStatsListJSON
	for _, r := range st.List(channelID) {
		if c, ok := a.cfg.Rooms.Connection(r.ConnectionID); !ok || c.ChannelID() != r.ChannelID {
			continue
		}
		out = append(out, uaStatsListJSON{ChannelID: r.ChannelID, ConnectionID: r.ConnectionID,
			Timestamp: r.At.UTC().Format(uaTimestamp), UserAgentStats: r.Stats})
	}
	if out == nil {
		out = []uaStatsListJSON{}
	}
	return out
}

func (a *API) listUserAgentStats(*noRequest) (any, *Error) {
	if a.cfg.UAStats == nil {
		return nil, uaNotCollected("Sora_20211215.ListUserAgentStats")
	}
	return a.uaReports(""), nil
}

func (a *API) listChannelUserAgentStats(req *channelRequest) (any, *Error) {
	if a.cfg.UAStats == nil {
		return nil, uaNotCollected("Sora_20211215.ListChannelUserAgentStats")
	}
	if _, e := a.channelConnections(req.ChannelID); e != nil {
		return nil, e
	}
	return a.uaReports(req.ChannelID), nil
}

func (a *API) getUserAgentStats(req *connectionRequest) (any, *Error) {
	if a.cfg.UAStats == nil {
		return nil, uaNotCollected("Sora_20211215.GetUserAgentStats")
	}
	if _, e := a.connection(req.ChannelID, req.ConnectionID); e != nil {
		return nil, e
	}
	r, ok := a.cfg.UAStats.Get(req.ConnectionID)
	if !ok || r.ChannelID != req.ChannelID {
		return nil, &Error{Status: http.StatusNotFound, Type: TypeStatsNotFound, Reason: Reason{
			ChannelID: req.ChannelID, ConnectionID: req.ConnectionID,
			Message: "connection " + strconv.Quote(req.ConnectionID) + " has sent no stats report yet (WebSocket clients send one every 5 s, DataChannel clients every 30 s)",
		}}
	}
	return uaStatsJSON{ChannelID: r.ChannelID, ConnectionID: r.ConnectionID, Stats: r.Stats,
		Timestamp: r.At.UTC().Format(uaTimestamp)}, nil
}
