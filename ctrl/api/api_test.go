package api

import (
	"bufio"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/hayate-sfu/hayate/ctrl/room"
	dto "github.com/prometheus/client_model/go"
)

// The operations of the brief (issue 5) this server implements for real;
// everything else in the table must answer 501.
var wantImplemented = []string{
	"Sora_20151104.DisconnectChannel",
	"Sora_20151104.DisconnectClient",
	"Sora_20151104.DisconnectConnection",
	"Sora_20160711.PushChannel",
	"Sora_20160711.PushClient",
	"Sora_20160711.PushConnection",
	"Sora_20170529.GetStatsClient",
	"Sora_20170529.GetStatsConnection",
	"Sora_20170814.StartForwardingRtp",
	"Sora_20170814.StopForwardingRtp",
	"Sora_20171010.GetStatsReport",
	"Sora_20171101.GetStatsAllConnections",
	"Sora_20171218.GetLicense",
	"Sora_20190327.ChangeUpstreamVideoBitRate",
	"Sora_20200401.ListPauseRtpStreams",
	"Sora_20200401.PauseRtpStream",
	"Sora_20200401.ResumeRtpStream",
	"Sora_20200807.ChangeSpotlightNumber",
	"Sora_20200807.FocusSpotlight",
	"Sora_20200807.FocusSpotlightFixed",
	"Sora_20200807.UnfocusSpotlight",
	"Sora_20201005.RequestRtpStream",
	"Sora_20201005.ResetRtpStream",
	"Sora_20201013.ListChannelConnections",
	"Sora_20201013.ListChannels",
	"Sora_20201013.ListConnections",
	"Sora_20201120.DisconnectChannelByRole",
	"Sora_20201120.PushChannelByRole",
	"Sora_20201124.DeleteSignalingNotifyMetadata",
	"Sora_20201124.DeleteSignalingNotifyMetadataItem",
	"Sora_20201124.GetSignalingNotifyMetadata",
	"Sora_20201124.ListSignalingNotifyMetadata",
	"Sora_20201124.PutSignalingNotifyMetadata",
	"Sora_20201124.PutSignalingNotifyMetadataItem",
	"Sora_20211215.BatchRequestSpotlightRid",
	"Sora_20211215.ChangeMode",
	"Sora_20211215.GetMode",
	"Sora_20211215.GetUserAgentStats",
	"Sora_20211215.ListChannelUserAgentStats",
	"Sora_20211215.ListUserAgentStats",
	"Sora_20211215.RequestSpotlightRid",
	"Sora_20211215.ResetSpotlightRid",
	"Sora_20221221.GenerateCrashLog",
	"Sora_20221221.StartAudioStreaming",
	"Sora_20221221.StopAudioStreaming",
	"Sora_20221221.SubscribeAudioStreamingResultPush",
	"Sora_20221221.UnsubscribeAudioStreamingResultPush",
	"Sora_20230628.ListAudioStreamingResultPushState",
	"Sora_20241218.RequestKeyFrame",
	"Sora_20251217.RequestSimulcastRid",
}

func TestTargets(t *testing.T) {
	var got []string
	ts := Targets()
	for i, tg := range ts {
		if i > 0 && ts[i-1].Operation() > tg.Operation() {
			t.Errorf("Targets not sorted by operation: %s before %s", ts[i-1].Name, tg.Name)
		}
		if !strings.HasPrefix(tg.Name, "Sora_") || len(tg.Name) < len("Sora_20201013.X") || tg.Name[13] != '.' {
			t.Errorf("target %q is not Sora_YYYYMMDD.Name", tg.Name)
		}
		if tg.Implemented {
			got = append(got, tg.Name)
		} else if tg.Missing == "" {
			t.Errorf("%s is not implemented and does not say why", tg.Name)
		}
	}
	slices.Sort(got)
	if !slices.Equal(got, wantImplemented) {
		t.Errorf("implemented targets:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(wantImplemented, "\n"))
	}
	// Every seed-document operation is in the table, implemented or not.
	for _, name := range []string{"ListChannels", "InitCluster", "JoinCluster", "ListClusterNodes", "ListClusterChannels",
		"PurgeClusterNode", "ChangeMode", "GetMode", "StartForwardingRtp", "StopForwardingRtp",
		"ListSignalingNotifyMetadata", "GetSignalingNotifyMetadata", "PutSignalingNotifyMetadata",
		"DeleteSignalingNotifyMetadata", "PutSignalingNotifyMetadataItem", "DeleteSignalingNotifyMetadataItem",
		"PauseRtpStream", "ResumeRtpStream", "ListPauseRtpStreams", "GetStatsReport", "ListUserAgentStats",
		"ListChannelUserAgentStats", "GetUserAgentStats", "StartAudioStreaming", "StopAudioStreaming",
		"SubscribeAudioStreamingResultPush", "UnsubscribeAudioStreamingResultPush", "ChangeUpstreamVideoBitRate",
		"GenerateCrashLog"} {
		if !slices.ContainsFunc(ts, func(tg Target) bool { return tg.Operation() == name }) {
			t.Errorf("the seed document's %s is not in the dispatch table", name)
		}
	}
}

// TestHeaderNameCaseInsensitive sends raw HTTP requests whose target header
// is spelled as the SDKs spell it, through a real HTTP server.
func TestHeaderNameCaseInsensitive(t *testing.T) {
	e := newEnv(t)
	srv := httptest.NewServer(e.api)
	defer srv.Close()
	for _, name := range []string{"x-sora-target", "X-Sora-Target", "X-SORA-TARGET"} {
		conn, err := net.DialTimeout("tcp", srv.Listener.Addr().String(), 5*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		_ = conn.SetDeadline(time.Now().Add(5 * time.Second))
		_, err = io.WriteString(conn, "POST / HTTP/1.1\r\nHost: x\r\n"+name+": Sora_20211215.GetMode\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
		if err != nil {
			t.Fatal(err)
		}
		resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		conn.Close()
		if resp.StatusCode != 200 || string(body) != `{"mode":"normal"}` {
			t.Errorf("header %q: %d %s, want 200 {\"mode\":\"normal\"}", name, resp.StatusCode, body)
		}
	}
}

func TestRequestsMetric(t *testing.T) {
	e := newEnv(t)
	e.api.Call("Sora_20211215.GetMode", nil)
	e.api.Call("Sora_20211215.GetMode", nil)
	e.api.Call("Sora_20231220.StartRecording", nil) // not implemented (a 501)
	e.api.Call("Sora_1.Bogus", nil)
	for _, tc := range []struct {
		target, code string
		want         float64
	}{
		{"Sora_20211215.GetMode", "200", 2},
		{"Sora_20231220.StartRecording", "501", 1},
		{"unknown", "400", 1},
	} {
		var m dto.Metric
		if err := e.api.requests.WithLabelValues(tc.target, tc.code).Write(&m); err != nil {
			t.Fatal(err)
		}
		if got := m.GetCounter().GetValue(); got != tc.want {
			t.Errorf("hayate_api_requests_total{target=%q,code=%q} = %v, want %v", tc.target, tc.code, got, tc.want)
		}
	}
}

func TestNewConfig(t *testing.T) {
	if _, err := New(Config{}); !errors.Is(err, ErrConfig) {
		t.Errorf("New without Rooms: %v, want ErrConfig", err)
	}
	e := newEnv(t)
	if _, err := New(Config{Rooms: e.reg, MaxBodyBytes: -1}); !errors.Is(err, ErrConfig) {
		t.Errorf("New with MaxBodyBytes -1: %v, want ErrConfig", err)
	}
	if a, err := New(Config{Rooms: e.reg}); err != nil || a.cfg.MaxBodyBytes != DefaultMaxBodyBytes {
		t.Errorf("New defaults: %v, MaxBodyBytes %d", err, a.cfg.MaxBodyBytes)
	}
}

// TestMetadataExtLifecycle: the metadata ext of a connection goes with it,
// and a later connection starts from {}.
func TestMetadataExtLifecycle(t *testing.T) {
	e := newEnv(t)
	e.world()
	status, resp := e.api.Call("Sora_20201124.PutSignalingNotifyMetadataItem",
		[]byte(`{"channel_id":"sora","connection_id":"`+idA+`","key":"k","value":1}`))
	if status != 200 || string(resp) != `{"k":1}` {
		t.Fatalf("PutSignalingNotifyMetadataItem: %d %s", status, resp)
	}
	e.peers["A"].c.Leave()
	if status, resp := e.api.Call("Sora_20201124.GetSignalingNotifyMetadata",
		[]byte(`{"channel_id":"sora","connection_id":"`+idA+`"}`)); status != 404 {
		t.Errorf("GetSignalingNotifyMetadata of a connection that left: %d %s, want 404", status, resp)
	}
	if _, err := e.reg.MetadataExt(idA); !errors.Is(err, room.ErrUnknownConnection) {
		t.Errorf("MetadataExt after leave: %v, want ErrUnknownConnection", err)
	}
}
