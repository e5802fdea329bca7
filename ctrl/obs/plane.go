package obs

import (
	"github.com/hayate-sfu/hayate/dataplane"
	"github.com/hayate-sfu/hayate/dataplane/tcpmux"
	"github.com/prometheus/client_golang/prometheus"
)

// planeCollector exports the media plane's counters. It reads the atomics
// at scrape time: nothing is added to the per-packet path.
type planeCollector struct {
	c     *dataplane.Counters
	descs []planeMetric
}

type planeMetric struct {
	desc *prometheus.Desc
	val  func(*dataplane.Counters) uint64
}

// RegisterPlane registers the media plane's packet, byte and drop counters
// (hayate_media_*) on reg.
func RegisterPlane(reg prometheus.Registerer, c *dataplane.Counters) error {
	m := func(name, help string, val func(*dataplane.Counters) uint64) planeMetric {
		return planeMetric{prometheus.NewDesc("hayate_media_"+name, help, nil, nil), val}
	}
	drop := func(reason, help string, val func(*dataplane.Counters) uint64) planeMetric {
		return planeMetric{prometheus.NewDesc("hayate_media_dropped_total", "Datagrams or packets the media plane dropped, by reason.",
			nil, prometheus.Labels{"reason": reason}), val}
	}
	pc := &planeCollector{c: c, descs: []planeMetric{
		m("received_packets_total", "Datagrams received on the media port.", func(c *dataplane.Counters) uint64 { return c.PacketsIn.Load() }),
		m("received_bytes_total", "Bytes received on the media port.", func(c *dataplane.Counters) uint64 { return c.BytesIn.Load() }),
		m("sent_packets_total", "Datagrams sent from the media port.", func(c *dataplane.Counters) uint64 { return c.PacketsOut.Load() }),
		m("sent_bytes_total", "Bytes sent from the media port.", func(c *dataplane.Counters) uint64 { return c.BytesOut.Load() }),
		m("send_errors_total", "Datagrams the kernel refused or that did not fit a buffer.", func(c *dataplane.Counters) uint64 { return c.SendErrors.Load() }),
		m("recv_syscalls_total", "recvmmsg calls of the media loop (received_packets_total / this = datagrams per call).", func(c *dataplane.Counters) uint64 { return c.RecvSyscalls.Load() }),
		m("send_syscalls_total", "sendmmsg calls of the media loop.", func(c *dataplane.Counters) uint64 { return c.SendSyscalls.Load() }),
		m("gso_sends_total", "UDP GSO super-packets sent (each carries several of sent_packets_total).", func(c *dataplane.Counters) uint64 { return c.GSOSends.Load() }),
		m("sctp_received_packets_total", "SCTP packets received on DataChannel associations.", func(c *dataplane.Counters) uint64 { return c.SCTPPacketsIn.Load() }),
		m("sctp_sent_packets_total", "SCTP packets sent on DataChannel associations.", func(c *dataplane.Counters) uint64 { return c.SCTPPacketsOut.Load() }),
		m("loop_migrations_total", "Transports moved to the media loop their client's datagrams arrive on (a channel's only transport, at its first check).", func(c *dataplane.Counters) uint64 { return c.Migrations.Load() }),
		m("handed_off_total", "Datagrams one media loop received for a transport of another and passed to it.", func(c *dataplane.Counters) uint64 { return c.HandedOff.Load() }),
		drop("handoff_full", "", func(c *dataplane.Counters) uint64 { return c.DropHandoffFull.Load() }),
		drop("kernel_receive_buffer", "", func(c *dataplane.Counters) uint64 { return c.KernelRxDrops.Load() }),
		drop("unknown", "", func(c *dataplane.Counters) uint64 { return c.DropUnknown.Load() }),
		drop("dtls_released", "", func(c *dataplane.Counters) uint64 { return c.DropDTLSReleased.Load() }),
		drop("not_ready", "", func(c *dataplane.Counters) uint64 { return c.DropNotReady.Load() }),
		drop("decrypt", "", func(c *dataplane.Counters) uint64 { return c.DropDecrypt.Load() }),
		drop("stun", "", func(c *dataplane.Counters) uint64 { return c.DropSTUN.Load() }),
		drop("command_queue_full", "", func(c *dataplane.Counters) uint64 { return c.DropCommandFull.Load() }),
		drop("unknown_ssrc", "", func(c *dataplane.Counters) uint64 { return c.UnknownSSRC.Load() }),
	}}
	return reg.Register(pc)
}

var forwardDelayDesc = prometheus.NewDesc("hayate_media_forward_delay_seconds",
	"Per flush of forwarded packets, from the read of the oldest datagram in it to the end of its send (the delay the media plane adds; frame holds included).", nil, nil)

func (pc *planeCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range pc.descs {
		ch <- d.desc
	}
	ch <- forwardDelayDesc
}

func (pc *planeCollector) Collect(ch chan<- prometheus.Metric) {
	for _, d := range pc.descs {
		ch <- prometheus.MustNewConstMetric(d.desc, prometheus.CounterValue, float64(d.val(pc.c)))
	}
	h := &pc.c.ForwardDelay
	buckets := make(map[float64]uint64, len(dataplane.DelayBounds))
	var cum uint64
	for i, b := range dataplane.DelayBounds {
		cum += h.Buckets[i].Load()
		buckets[b.Seconds()] = cum
	}
	cum += h.Buckets[len(dataplane.DelayBounds)].Load()
	ch <- prometheus.MustNewConstHistogram(forwardDelayDesc, cum, float64(h.SumNs.Load())/1e9, buckets)
}

// RegisterICETCP registers the ICE-TCP listener's counters
// (hayate_media_tcp_*); counters reports ok=false without ICE-TCP, and then
// nothing is exported.
func RegisterICETCP(reg prometheus.Registerer, counters func() (tcpmux.Counters, bool)) error {
	return reg.Register(icetcpCollector(counters))
}

type icetcpCollector func() (tcpmux.Counters, bool)

var (
	tcpConnsDesc = prometheus.NewDesc("hayate_media_tcp_connections_total",
		"ICE-TCP connections on the media port, by event: accepted, rejected (over the limit), closed.", []string{"event"}, nil)
	tcpFramesDesc = prometheus.NewDesc("hayate_media_tcp_frames_total",
		"RFC 4571 frames over ICE-TCP, by direction.", []string{"direction"}, nil)
	tcpClosedDesc = prometheus.NewDesc("hayate_media_tcp_closed_by_server_total",
		"ICE-TCP connections the server closed, by reason.", []string{"reason"}, nil)
	tcpDropDesc = prometheus.NewDesc("hayate_media_tcp_dropped_total",
		"Packets not written to an ICE-TCP client, by reason.", []string{"reason"}, nil)
)

func (f icetcpCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- tcpConnsDesc
	ch <- tcpFramesDesc
	ch <- tcpClosedDesc
	ch <- tcpDropDesc
}

func (f icetcpCollector) Collect(ch chan<- prometheus.Metric) {
	c, ok := f()
	if !ok {
		return
	}
	m := func(d *prometheus.Desc, v uint64, label string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v), label)
	}
	m(tcpConnsDesc, c.Accepted, "accepted")
	m(tcpConnsDesc, c.Rejected, "rejected")
	m(tcpConnsDesc, c.Closed, "closed")
	m(tcpFramesDesc, c.FramesIn, "in")
	m(tcpFramesDesc, c.FramesOut, "out")
	m(tcpClosedDesc, c.ClosedBadLength, "bad_length")
	m(tcpClosedDesc, c.ClosedNotSTUN, "not_stun")
	m(tcpClosedDesc, c.ClosedHandshakeTimeout, "handshake_timeout")
	m(tcpClosedDesc, c.ClosedIdle, "idle")
	m(tcpDropDesc, c.DropOutboundFull, "outbound_full")
	m(tcpDropDesc, c.DropNoConn, "no_connection")
}
