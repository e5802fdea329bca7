package room

import "github.com/prometheus/client_golang/prometheus"

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
	}
	if reg != nil {
		for _, c := range []prometheus.Collector{m.sessionsCreated, m.sessionsEnded, m.joined, m.created, m.left,
			m.transportFailures, m.offers, m.answers, m.notifies, m.pushes, m.dataplaneErrors, m.channels, m.connections} {
			if err := reg.Register(c); err != nil {
				return nil, err
			}
		}
	}
	return m, nil
}
