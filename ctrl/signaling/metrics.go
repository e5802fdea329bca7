package signaling

import "github.com/prometheus/client_golang/prometheus"

type metrics struct {
	accepted      prometheus.Counter
	refused       prometheus.Counter
	open          prometheus.Gauge
	received      *prometheus.CounterVec // type
	closes        *prometheus.CounterVec // code, reason keyword
	panics        prometheus.Counter
	pings         prometheus.Counter
	sendDrops     prometheus.Counter
	writeTimeouts prometheus.Counter
	dcIn          *prometheus.CounterVec // label
	rpc           *prometheus.CounterVec // method, code
	wsGone        prometheus.Counter
	authFailures  prometheus.Counter
	redirects     prometheus.Counter

	// Upgrades refused with 429 by max_connects_per_second_per_address.
	rateLimited          *prometheus.CounterVec // reason: address | table_full
	rateLimitedAddress   prometheus.Counter
	rateLimitedTableFull prometheus.Counter
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		accepted: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "hayate_signaling_websockets_accepted_total", Help: "WebSocket connections accepted on /signaling."}),
		refused: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "hayate_signaling_websockets_refused_total", Help: "Upgrades refused with 503 while shutting down."}),
		open: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "hayate_signaling_websockets", Help: "Open signaling WebSockets."}),
		received: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "hayate_signaling_messages_received_total", Help: "Client messages received, by type (\"invalid\" for undecodable ones)."}, []string{"type"}),
		closes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "hayate_signaling_closes_total", Help: "Signaling WebSockets closed, by close code and reason keyword (PONG-TIMEOUT, SEND-QUEUE-FULL, …)."}, []string{"code", "reason"}),
		panics: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "hayate_signaling_panics_total", Help: "Panics recovered in signaling connection goroutines."}),
		pings: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "hayate_signaling_pings_total", Help: "ping messages sent."}),
		sendDrops: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "hayate_signaling_send_queue_overflows_total", Help: "Connections closed because their send queue was full."}),
		writeTimeouts: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "hayate_signaling_write_timeouts_total", Help: "WebSockets closed because a frame could not be written within 10 s."}),
		dcIn: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "hayate_signaling_datachannel_messages_total", Help: "Messages taken from the signaling DataChannels, by label (signaling, notify, push, stats, rpc)."}, []string{"label"}),
		rpc: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "hayate_signaling_rpc_requests_total", Help: "JSON-RPC requests on the rpc DataChannel, by method (\"invalid\" when unreadable, \"other\" when unknown) and result."}, []string{"method", "result"}),
		wsGone: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "hayate_signaling_websockets_closed_after_switch_total", Help: "WebSockets that closed while their connection went on over DataChannels (ignore_disconnect_websocket)."}),
		authFailures: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "hayate_signaling_auth_failures_total", Help: "Connects refused by the built-in token auth (signaling_auth_secret) or the auth webhook."}),
		redirects: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "hayate_signaling_redirects_total", Help: "Connects answered with redirect to the node that owns the channel (cluster)."}),
		rateLimited: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "hayate_signaling_connects_rate_limited_total",
			Help: "WebSocket upgrades refused with 429 by max_connects_per_second_per_address, by reason: address (the client address used up its connects), " +
				"table_full (too many addresses connecting at once to track another)."}, []string{"reason"}),
	}
	m.rateLimitedAddress = m.rateLimited.WithLabelValues("address")
	m.rateLimitedTableFull = m.rateLimited.WithLabelValues("table_full")
	if reg != nil {
		for _, c := range []prometheus.Collector{m.accepted, m.refused, m.open, m.received, m.closes, m.panics, m.pings, m.sendDrops, m.writeTimeouts, m.dcIn, m.rpc, m.wsGone, m.authFailures, m.redirects, m.rateLimited} {
			if err := reg.Register(c); err != nil {
				return nil, err
			}
		}
	}
	return m, nil
}
