package signaling

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/coder/websocket"
)

// TestPlaceRedirect: with a cluster's Place, a connect for a channel owned
// elsewhere gets {"type":"redirect","location"} and no offer, and the
// server leaves the closing to the client (the SDKs close on the message);
// a Place error refuses with 4504 naming it; "" admits the connect here.
func TestPlaceRedirect(t *testing.T) {
	const there = "ws://127.0.0.2:5000/signaling"
	var asked []string
	ts := newTestServer(t, func(c *Config) {
		c.Place = func(ch string) (string, error) {
			asked = append(asked, ch)
			switch ch {
			case "elsewhere":
				return there, nil
			case "stuck":
				return "", errors.New("no majority: 1 of 3 nodes connected")
			}
			return "", nil
		}
	})

	c := dial(t, ts.url)
	m := connectMsg("sendrecv")
	m["channel_id"] = "elsewhere"
	c.send(m)
	got := c.recv()
	if got["type"] != "redirect" || got["location"] != there || len(got) != 2 {
		t.Fatalf("connect for a channel owned elsewhere got %v, want {type: redirect, location: %s}", got, there)
	}
	// The server does not close first: a read sees nothing for a moment.
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	_, _, err := c.ws.Read(ctx)
	cancel()
	if websocket.CloseStatus(err) != -1 {
		t.Fatalf("the server closed right after the redirect (%v); the client closes", err)
	}
	_ = c.ws.Close(websocket.StatusNormalClosure, "")
	if n := ts.counter(t, "hayate_signaling_redirects_total"); n != 1 {
		t.Errorf("redirects counted %v, want 1", n)
	}

	c = dial(t, ts.url)
	m = connectMsg("sendrecv")
	m["channel_id"] = "stuck"
	c.send(m)
	c.expectClose(CloseClusterUnavailable, "CLUSTER-UNAVAILABLE: no majority")

	c = dial(t, ts.url)
	m = connectMsg("sendrecv")
	m["channel_id"] = "here"
	c.send(m)
	if got := c.recv(); got["type"] != "offer" {
		t.Fatalf("connect for a channel placed here got %v, want an offer", got["type"])
	}
	if len(asked) != 3 {
		t.Errorf("Place asked about %v, want each connect's channel", asked)
	}
}
