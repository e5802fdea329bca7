package integration

import (
	"context"
	"sort"
	"testing"
	"time"

	"github.com/hayate-sfu/hayate/bench/soraclient"
)

func TestZZDebugJoin(t *testing.T) {
	for _, role := range []string{"recvonly", "sendrecv"} {
		t.Run(role, func(t *testing.T) { joins(t, role) })
	}
}

func joins(t *testing.T, role string) {
	e := newEnv(t, 60*time.Second)
	var ds []time.Duration
	for range 10 {
		ctx, cancel := context.WithTimeout(e.ctx, 10*time.Second)
		start := time.Now()
		c, err := soraclient.Connect(ctx, soraclient.Config{SignalingURL: e.srv.SignalingURL(), ChannelID: "j", Role: role, Audio: true, Video: true})
		cancel()
		if err != nil {
			t.Fatal(err)
		}
		ds = append(ds, time.Since(start))
		c.Close()
	}
	sort.Slice(ds, func(i, j int) bool { return ds[i] < ds[j] })
	t.Log(ds)
}
