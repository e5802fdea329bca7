package integration

import (
	"context"
	"encoding/binary"
	"fmt"
	"log/slog"
	"net/netip"
	"slices"
	"testing"
	"time"

	"github.com/hayate-sfu/hayate/bench/soraclient"
	"github.com/hayate-sfu/hayate/ctrl/config"
	"github.com/hayate-sfu/hayate/ctrl/server"
)

// Messaging benchmarks through the real server with pion clients:
//
//	go test ./e2e/integration -run '^$' -bench Messaging -benchtime 2000x
//
// BenchmarkMessagingRTT: one 1 kB message A → server → B, echoed B →
// server → A, one at a time; reports the median and p99 round trip.
// BenchmarkMessagingFanOut: one sender, ten receivers on one label, 1 kB
// messages sent as fast as the sender's SCTP buffer allows; reports the
// messages per second that reached every receiver, and the server's drops.

// benchServer starts a server on loopback with free ports, as newEnv does.
func benchServer(b *testing.B) *server.Server {
	b.Helper()
	cfg := config.Default()
	lo := netip.MustParseAddr("127.0.0.1")
	cfg.ListenAddress, cfg.AdminAddress = lo, lo
	cfg.SignalingPort, cfg.APIPort, cfg.MediaPort, cfg.AdminPort = 0, 0, 0, 0
	cfg.PublicIPList = []netip.Addr{lo}
	cfg.SDKDir = b.TempDir()
	srv, err := server.New(cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = srv.Shutdown(ctx)
	})
	return srv
}

func benchClient(b *testing.B, srv *server.Server, channel string, label map[string]any) *soraclient.Client {
	b.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	cfg := soraclient.Config{SignalingURL: srv.SignalingURL(), ChannelID: channel, Role: "sendonly",
		Logger: slog.New(slog.DiscardHandler)}
	messaging(label)(&cfg)
	c, err := soraclient.Connect(ctx, cfg)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(c.Close)
	if err := c.WaitDataChannelsOpen(ctx, "#bench"); err != nil {
		b.Fatal(err)
	}
	return c
}

func BenchmarkMessagingRTT(b *testing.B) {
	srv := benchServer(b)
	label := map[string]any{"label": "#bench", "direction": "sendrecv"}
	a := benchClient(b, srv, "bench-rtt", label)
	echo := benchClient(b, srv, "bench-rtt", label)
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() { // B echoes every message
		defer close(done)
		for {
			select {
			case m := <-echo.Messages():
				_ = echo.SendMessage("#bench", m.Data)
			case <-stop:
				return
			}
		}
	}()
	defer func() { close(stop); <-done }()
	msg := make([]byte, 1024)
	rtts := make([]time.Duration, 0, b.N)
	timeout := time.NewTimer(time.Hour)
	b.ResetTimer()
	for i := range b.N {
		binary.BigEndian.PutUint64(msg, uint64(i))
		start := time.Now()
		if err := a.SendMessage("#bench", msg); err != nil {
			b.Fatal(err)
		}
		timeout.Reset(5 * time.Second)
		for got := false; !got; {
			select {
			case m := <-a.Messages():
				got = binary.BigEndian.Uint64(m.Data) == uint64(i)
			case <-timeout.C:
				b.Fatalf("message %d did not come back", i)
			}
		}
		rtts = append(rtts, time.Since(start))
	}
	b.StopTimer()
	b.ReportMetric(float64(pct(rtts, 50).Microseconds()), "median-µs")
	b.ReportMetric(float64(pct(rtts, 99).Microseconds()), "p99-µs")
}

func BenchmarkMessagingFanOut(b *testing.B) {
	const receivers = 10
	srv := benchServer(b)
	label := map[string]any{"label": "#bench", "direction": "sendrecv"}
	send := benchClient(b, srv, "bench-fanout", label)
	var rs []*soraclient.Client
	for range receivers {
		rs = append(rs, benchClient(b, srv, "bench-fanout", label))
	}
	dc := send.DataChannel("#bench")
	low := make(chan struct{}, 1)
	const highWater = 1 << 20
	dc.SetBufferedAmountLowThreshold(highWater / 2)
	dc.OnBufferedAmountLow(func() {
		select {
		case low <- struct{}{}:
		default:
		}
	})
	// Receivers count until they have every message or nothing comes for 2 s.
	type result struct {
		n    int
		last time.Time
	}
	results := make(chan result, receivers)
	msg := make([]byte, 1024)
	b.ResetTimer()
	start := time.Now()
	for _, r := range rs {
		go func() {
			n, last := 0, time.Now()
			idle := time.NewTimer(2 * time.Second)
			defer idle.Stop()
			for n < b.N {
				select {
				case <-r.Messages():
					n++
					last = time.Now()
					idle.Reset(2 * time.Second)
				case <-idle.C:
					results <- result{n, last}
					return
				}
			}
			results <- result{n, last}
		}()
	}
	for i := range b.N {
		for dc.BufferedAmount() > highWater {
			select {
			case <-low:
			case <-time.After(100 * time.Millisecond):
			}
		}
		binary.BigEndian.PutUint64(msg, uint64(i))
		if err := dc.Send(msg); err != nil {
			b.Fatal(err)
		}
	}
	total, end := 0, start
	for range receivers {
		r := <-results
		total += r.n
		if r.last.After(end) {
			end = r.last
		}
	}
	b.StopTimer()
	secs := end.Sub(start).Seconds()
	b.ReportMetric(float64(total)/float64(receivers)/secs, "msgs/s")
	b.ReportMetric(float64(total)/secs, "deliveries/s")
	b.ReportMetric(float64(b.N*receivers-total), "lost")
	if lost := b.N*receivers - total; lost > 0 {
		b.Logf("%d of %d deliveries lost (server drops: %s)", lost, b.N*receivers, drops(srv))
	}
}

func drops(srv *server.Server) string {
	mfs, err := srv.Registry().Gather()
	if err != nil {
		return err.Error()
	}
	out := ""
	for _, mf := range mfs {
		if mf.GetName() != "hayate_room_datachannel_drops_total" {
			continue
		}
		for _, m := range mf.GetMetric() {
			if v := m.GetCounter().GetValue(); v > 0 {
				out += fmt.Sprintf("%s=%v ", m.GetLabel()[0].GetValue(), v)
			}
		}
	}
	if out == "" {
		return "none"
	}
	return out
}

// pct is the p-th percentile of ds.
func pct(ds []time.Duration, p int) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	i := len(s) * p / 100
	if i >= len(s) {
		i = len(s) - 1
	}
	return s[i]
}
