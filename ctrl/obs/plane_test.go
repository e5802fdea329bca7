package obs

import (
	"strings"
	"testing"

	"github.com/hayate-sfu/hayate/dataplane"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

func TestRegisterPlane(t *testing.T) {
	reg := prometheus.NewRegistry()
	var c dataplane.Counters
	if err := RegisterPlane(reg, &c); err != nil {
		t.Fatal(err)
	}
	c.PacketsIn.Add(7)
	c.DropDecrypt.Add(2)
	c.DropDTLSReleased.Add(3)
	want := `
# HELP hayate_media_dropped_total Datagrams or packets the media plane dropped, by reason.
# TYPE hayate_media_dropped_total counter
hayate_media_dropped_total{reason="command_queue_full"} 0
hayate_media_dropped_total{reason="decrypt"} 2
hayate_media_dropped_total{reason="dtls_released"} 3
hayate_media_dropped_total{reason="handoff_full"} 0
hayate_media_dropped_total{reason="kernel_receive_buffer"} 0
hayate_media_dropped_total{reason="not_ready"} 0
hayate_media_dropped_total{reason="stun"} 0
hayate_media_dropped_total{reason="unknown"} 0
hayate_media_dropped_total{reason="unknown_ssrc"} 0
# HELP hayate_media_received_packets_total Datagrams received on the media port.
# TYPE hayate_media_received_packets_total counter
hayate_media_received_packets_total 7
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want), "hayate_media_dropped_total", "hayate_media_received_packets_total"); err != nil {
		t.Fatal(err)
	}
}
