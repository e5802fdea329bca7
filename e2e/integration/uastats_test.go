package integration

import (
	"encoding/json"
	"net/http"
	"testing"
	"time"
)

// TestUserAgentStats: a client's stats report reaches the user-agent stats
// API, whether it answers the WebSocket ping (pong.stats) or the req-stats
// on the "stats" DataChannel; the report is the client's getStats array and
// goes away with its connection.
func TestUserAgentStats(t *testing.T) {
	for _, tc := range []struct {
		name string
		opts []clientOpt
	}{
		{name: "pong", opts: nil},
		{name: "datachannel", opts: []clientOpt{dcSignaling}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, 30*time.Second)
			ch := "ua-stats-" + tc.name
			c := e.connect(ch, "sendrecv", tc.opts...)
			e.connect(ch+"-other", "recvonly") // another channel's client: not listed

			if status, b := e.callAPI("Sora_20211215.ListUserAgentStats", nil); status == http.StatusNotImplemented {
				t.Fatalf("user-agent stats are not wired into the server: %s", b)
			}
			type entry struct {
				ChannelID      string            `json:"channel_id"`
				ConnectionID   string            `json:"connection_id"`
				Timestamp      string            `json:"timestamp"`
				UserAgentStats []json.RawMessage `json:"user_agent_stats"`
			}
			var list []entry
			deadline := time.Now().Add(10 * time.Second) // pings every second here, req-stats at once
			for time.Now().Before(deadline) {
				if err := json.Unmarshal(e.mustAPI("Sora_20211215.ListChannelUserAgentStats", map[string]any{"channel_id": ch}), &list); err != nil {
					t.Fatal(err)
				}
				if len(list) > 0 {
					break
				}
				time.Sleep(100 * time.Millisecond)
			}
			if len(list) != 1 || list[0].ConnectionID != c.ConnectionID() || list[0].ChannelID != ch {
				t.Fatalf("ListChannelUserAgentStats = %+v, want one entry for %s", list, c.ConnectionID())
			}
			if _, err := time.Parse("2006-01-02T15:04:05.000Z", list[0].Timestamp); err != nil {
				t.Errorf("timestamp %q: %v", list[0].Timestamp, err)
			}
			// pion's getStats: a codec, a transport, … each with a type.
			types := map[string]bool{}
			for _, s := range list[0].UserAgentStats {
				var st struct {
					Type string `json:"type"`
				}
				if err := json.Unmarshal(s, &st); err != nil || st.Type == "" {
					t.Fatalf("a stats entry without type: %s", s)
				}
				types[st.Type] = true
			}
			if !types["codec"] || !types["transport"] {
				t.Errorf("the report lacks codec or transport stats: %v", types)
			}

			var got struct {
				ChannelID    string            `json:"channel_id"`
				ConnectionID string            `json:"connection_id"`
				Stats        []json.RawMessage `json:"stats"`
			}
			if err := json.Unmarshal(e.mustAPI("Sora_20211215.GetUserAgentStats",
				map[string]any{"channel_id": ch, "connection_id": c.ConnectionID()}), &got); err != nil {
				t.Fatal(err)
			}
			if got.ConnectionID != c.ConnectionID() || len(got.Stats) == 0 {
				t.Fatalf("GetUserAgentStats = %+v", got)
			}

			// Gone with its connection.
			c.Close()
			deadline = time.Now().Add(10 * time.Second)
			for {
				var all []entry
				if err := json.Unmarshal(e.mustAPI("Sora_20211215.ListUserAgentStats", nil), &all); err != nil {
					t.Fatal(err)
				}
				gone := true
				for _, a := range all {
					if a.ConnectionID == c.ConnectionID() {
						gone = false
					}
				}
				if gone {
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("the report of %s outlived its connection: %+v", c.ConnectionID(), all)
				}
				time.Sleep(100 * time.Millisecond)
			}
		})
	}
}
