package integration

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/hayate-sfu/hayate/bench/soraclient"
	"github.com/hayate-sfu/hayate/ctrl/config"
)

// connectRefused opens a client that the server must refuse before it is
// up, with a WebSocket close of code and reason.
func (e *env) connectRefused(channel, role string, code int, reason string) {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(e.ctx, connectTimeout)
	defer cancel()
	c, err := soraclient.Connect(ctx, soraclient.Config{
		SignalingURL: e.srv.SignalingURL(), ChannelID: channel, Role: role, Audio: true, Video: true, VideoCodec: "VP8",
		Logger: slog.New(slog.NewTextHandler(e.log, &slog.HandlerOptions{Level: slog.LevelDebug})).With("side", "client", "role", role),
	})
	if err == nil {
		c.Close()
		e.t.Fatalf("a %s connect to %q was admitted, want close %d %q", role, channel, code, reason)
	}
	if !errors.Is(err, soraclient.ErrClosedBeforeConnected) || !strings.Contains(err.Error(), fmt.Sprintf("code %d reason %q", code, reason)) {
		e.t.Fatalf("a %s connect to %q failed with %v, want close %d %q", role, channel, err, code, reason)
	}
}

// waitGauge waits until a gauge of the server's registry has value want.
func (e *env) waitGauge(name string, want float64) {
	e.t.Helper()
	for range 500 {
		mfs, err := e.srv.Registry().Gather()
		if err != nil {
			e.t.Fatal(err)
		}
		for _, mf := range mfs {
			if mf.GetName() == name && len(mf.GetMetric()) == 1 && mf.GetMetric()[0].GetGauge().GetValue() == want {
				return
			}
		}
		time.Sleep(10 * time.Millisecond)
	}
	e.t.Fatalf("%s never became %v", name, want)
}

// TestAdmissionLimits: real clients beyond max_connections_per_channel and
// max_connections are refused with 4429 naming the limit, counted, and the
// clients already in keep their media path; a slot that frees up is taken
// by the next connect.
func TestAdmissionLimits(t *testing.T) {
	e := newEnvWith(t, 40*time.Second, func(c *config.Config) {
		c.MaxConnections, c.MaxConnectionsPerChannel = 2, 1
	})
	a := e.connect("limits-1", "sendrecv")
	e.connectRefused("limits-1", "recvonly", 4429, "TOO-MANY-CONNECTIONS: max_connections_per_channel 1")
	e.connect("limits-2", "sendonly")
	e.connectRefused("limits-3", "recvonly", 4429, "TOO-MANY-CONNECTIONS: max_connections 2")

	for reason, want := range map[string]float64{"max_connections_per_channel": 1, "max_connections": 1} {
		if got := e.counterValue("hayate_room_connects_refused_total", "reason", reason); got != want {
			t.Errorf("hayate_room_connects_refused_total{reason=%q} = %v, want %v", reason, got, want)
		}
	}
	// A close is counted when its connection's goroutines have ended,
	// which may be just after the client saw it.
	for i := 0; e.counterValue("hayate_signaling_closes_total", "code", "4429") != 2; i++ {
		if i == 500 {
			t.Fatalf("4429 closes counted %v, want 2", e.counterValue("hayate_signaling_closes_total", "code", "4429"))
		}
		time.Sleep(10 * time.Millisecond)
	}

	if err := a.Disconnect(e.ctx); err != nil {
		t.Fatal(err)
	}
	e.waitGauge("hayate_room_connections", 1)
	e.connect("limits-1", "recvonly")
}

// TestConnectRateLimit: beyond max_connects_per_second_per_address the
// WebSocket upgrade is answered 429 and counted, before any signaling.
func TestConnectRateLimit(t *testing.T) {
	e := newEnvWith(t, 30*time.Second, func(c *config.Config) { c.MaxConnectsPerSecondPerAddress = 1 })
	refused := 0
	// One connect per second is allowed: of five back-to-back upgrades at
	// least one is refused, however slow the machine.
	for range 5 {
		ctx, cancel := context.WithTimeout(e.ctx, 5*time.Second)
		ws, resp, err := websocket.Dial(ctx, e.srv.SignalingURL(), nil)
		cancel()
		if err == nil {
			ws.CloseNow()
			continue
		}
		if resp == nil || resp.StatusCode != http.StatusTooManyRequests {
			t.Fatalf("upgrade failed with %v (%v), want 429", resp, err)
		}
		refused++
	}
	if refused == 0 {
		t.Fatal("five upgrades in a row were all accepted with a limit of one per second")
	}
	if got := e.counterValue("hayate_signaling_connects_rate_limited_total"); got != float64(refused) {
		t.Fatalf("rate-limited upgrades counted %v, %d were refused", got, refused)
	}
}
