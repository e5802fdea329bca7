package room

import (
	"errors"

	"github.com/prometheus/client_golang/prometheus"
)

// metrics are the room's Prometheus series. They exist (and count) even
// without a Registerer, so the code never checks for nil.
type metrics struct {
	sessionsCreated   prometheus.Counter
	sessionsEnded     prometheus.Counter
	joined            prometheus.Counter
	created           prometheus.Counter
	left              prometheus.Counter
	transportFailures prometheus.Counter
	offers            *prometheus.CounterVec // kind: offer | re-offer
	answers           *prometheus.CounterVec // kind: answer | re-answer
	notifies          *prometheus.CounterVec // event_type
	pushes            prometheus.Counter
	dataplaneErrors   prometheus.Counter
	channels          prometheus.Gauge
	connections       prometheus.Gauge
	refused           *prometheus.CounterVec // reason: mode | max_connections | max_connections_per_channel

	// DataChannels. The drop counters are children of one vector, resolved
	// once so that the fan-out does not look them up per message.
	dcOpened         prometheus.Counter
	switched         prometheus.Counter
	msgIn            prometheus.Counter // messages received on messaging labels
	delivered        prometheus.Counter // copies queued to receivers
	dcSignalingIn    prometheus.Counter // messages received on signaling labels
	dcDrops          *prometheus.CounterVec
	dcDropDirection  prometheus.Counter
	dcDropTooLarge   prometheus.Counter
	dcDropDecompress prometheus.Counter
	dcDropBufferFull prometheus.Counter
	dcDropSendError  prometheus.Counter
	dcDropUnhandled  prometheus.Counter
}

// dropInflate counts a message whose zlib stream was refused.
func (m *metrics) dropInflate(err error) {
	if errors.Is(err, errTooLarge) {
		m.dcDropTooLarge.Inc()
	} else {
		m.dcDropDecompress.Inc()
	}
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		sessionsCreated: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "hayate_room_sessions_created_total", Help: "Sessions created (a channel went from 0 to 1 connection)."}),
		sessionsEnded: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "hayate_room_sessions_ended_total", Help: "Sessions ended (a channel went back to 0 connections)."}),
		joined: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "hayate_room_connections_joined_total", Help: "Connections admitted to a channel (offer sent)."}),
		created: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "hayate_room_connections_created_total", Help: "Connections whose transport came up (connection.created)."}),
		left: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "hayate_room_connections_left_total", Help: "Connections that left their channel, for any reason."}),
		transportFailures: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "hayate_room_transport_failures_total", Help: "Connections ended because their media transport closed (ICE/DTLS failure or timeout)."}),
		offers: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "hayate_room_offers_total", Help: "SDP offers sent, by kind (offer, re-offer)."}, []string{"kind"}),
		answers: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "hayate_room_answers_total", Help: "SDP answers applied, by kind (answer, re-answer)."}, []string{"kind"}),
		notifies: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "hayate_room_notifies_total", Help: "notify messages queued, by event_type."}, []string{"event_type"}),
		pushes: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "hayate_room_pushes_total", Help: "push messages queued."}),
		dataplaneErrors: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "hayate_room_dataplane_errors_total", Help: "Errors returned by the media plane for a track (the track is skipped)."}),
		channels: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "hayate_room_channels", Help: "Channels with at least one connection."}),
		connections: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "hayate_room_connections", Help: "Connections admitted and not yet left."}),
		refused: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "hayate_room_connects_refused_total",
			Help: "Connects refused before they joined, by reason: mode (the API's ChangeMode), max_connections, max_connections_per_channel."}, []string{"reason"}),
		dcOpened: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "hayate_room_datachannels_opened_total", Help: "DataChannels the server opened."}),
		switched: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "hayate_room_datachannel_signaling_switched_total", Help: "Connections whose signaling switched to DataChannels (switched sent)."}),
		msgIn: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "hayate_room_messaging_messages_received_total", Help: "Messages received on messaging (#) DataChannels."}),
		delivered: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "hayate_room_messaging_deliveries_total", Help: "Copies of messaging messages queued to receivers."}),
		dcSignalingIn: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "hayate_room_datachannel_signaling_messages_received_total", Help: "Messages received on the signaling, notify, push, stats and rpc DataChannels."}),
		dcDrops: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "hayate_room_datachannel_drops_total",
			Help: "DataChannel messages dropped, by reason: direction (sent on a recvonly label), too_large (over data_channel_max_message_size, also after decompression), " +
				"decompress (not a zlib stream), buffer_full (the receiver's buffer is full), send_error, unhandled."}, []string{"reason"}),
	}
	m.dcDropDirection = m.dcDrops.WithLabelValues("direction")
	m.dcDropTooLarge = m.dcDrops.WithLabelValues("too_large")
	m.dcDropDecompress = m.dcDrops.WithLabelValues("decompress")
	m.dcDropBufferFull = m.dcDrops.WithLabelValues("buffer_full")
	m.dcDropSendError = m.dcDrops.WithLabelValues("send_error")
	m.dcDropUnhandled = m.dcDrops.WithLabelValues("unhandled")
	for _, reason := range []string{RefusedMode, RefusedMaxConnections, RefusedMaxConnectionsPerChannel} {
		m.refused.WithLabelValues(reason) // exported as 0 from the start
	}
	if reg != nil {
		for _, c := range []prometheus.Collector{m.sessionsCreated, m.sessionsEnded, m.joined, m.created, m.left,
			m.transportFailures, m.offers, m.answers, m.notifies, m.pushes, m.dataplaneErrors, m.channels, m.connections, m.refused,
			m.dcOpened, m.switched, m.msgIn, m.delivered, m.dcSignalingIn, m.dcDrops} {
			if err := reg.Register(c); err != nil {
				return nil, err
			}
		}
	}
	return m, nil
}
