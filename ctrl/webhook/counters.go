package webhook

import (
	"github.com/prometheus/client_golang/prometheus"
)

// Counters returns the webhook counters of GetStatsReport (spec api.md §3)
// by their Sora names:
//
//	total_auth_webhook_allowed, total_auth_webhook_denied      answers allowed: true / false
//	total_successful_auth_webhook, total_failed_auth_webhook   answered (allowed or denied) / timeout, transport error, non-200, not JSON
//	total_{successful,failed,ignored}_session_webhook          sent (200) / failed / dropped (queue full, after Close)
//	total_{successful,failed,ignored}_event_webhook            likewise
//
// auth, session and event may be nil (a webhook that is not used): its
// counters are 0. Every name is always present. It may be called from any
// goroutine.
func Counters(auth *Client, session, event *Notifier) map[string]uint64 {
	m := make(map[string]uint64, 10)
	var a authCounts
	if auth != nil {
		a = auth.counts()
	}
	m["total_auth_webhook_allowed"] = a.allowed
	m["total_auth_webhook_denied"] = a.denied
	m["total_successful_auth_webhook"] = a.successful
	m["total_failed_auth_webhook"] = a.failed
	for _, n := range []struct {
		kind string
		n    *Notifier
	}{{"session", session}, {"event", event}} {
		var c notifierCounts
		if n.n != nil {
			c = n.n.counts()
		}
		m["total_successful_"+n.kind+"_webhook"] = c.successful
		m["total_failed_"+n.kind+"_webhook"] = c.failed
		m["total_ignored_"+n.kind+"_webhook"] = c.ignored
	}
	return m
}

type authCounts struct{ allowed, denied, successful, failed uint64 }

func (c *Client) counts() authCounts {
	return authCounts{c.Counters.Allowed.Load(), c.Counters.Denied.Load(), c.Counters.Successful.Load(), c.Counters.Failed.Load()}
}

type notifierCounts struct{ successful, failed, ignored uint64 }

func (n *Notifier) counts() notifierCounts {
	return notifierCounts{n.Successful.Load(), n.Failed.Load(), n.Ignored.Load()}
}

// collector exports the counters to Prometheus, read at scrape time.
type collector struct {
	auth           *Client
	session, event *Notifier
	requests       *prometheus.Desc
	decisions      *prometheus.Desc
}

// NewCollector returns a Prometheus collector of the webhooks' counters:
//
//	hayate_webhook_requests_total{webhook="auth|session|event", result="successful|failed|ignored"}
//	hayate_webhook_auth_decisions_total{decision="allowed|denied"}
//
// Any argument may be nil (its series are 0). Register it once.
func NewCollector(auth *Client, session, event *Notifier) prometheus.Collector {
	return &collector{
		auth: auth, session: session, event: event,
		requests: prometheus.NewDesc("hayate_webhook_requests_total",
			"Webhook requests by webhook (auth, session, event) and result: successful (answered 200; for auth, allowed or denied), "+
				"failed (timeout, transport error, other status, for auth an unreadable answer), ignored (dropped: queue full or shutting down).",
			[]string{"webhook", "result"}, nil),
		decisions: prometheus.NewDesc("hayate_webhook_auth_decisions_total",
			"Connects the auth webhook answered, by decision (allowed, denied).", []string{"decision"}, nil),
	}
}

func (c *collector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.requests
	ch <- c.decisions
}

func (c *collector) Collect(ch chan<- prometheus.Metric) {
	m := Counters(c.auth, c.session, c.event)
	counter := func(d *prometheus.Desc, v uint64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v), labels...)
	}
	counter(c.requests, m["total_successful_auth_webhook"], "auth", "successful")
	counter(c.requests, m["total_failed_auth_webhook"], "auth", "failed")
	counter(c.requests, 0, "auth", "ignored")
	for _, kind := range []string{"session", "event"} {
		for _, result := range []string{"successful", "failed", "ignored"} {
			counter(c.requests, m["total_"+result+"_"+kind+"_webhook"], kind, result)
		}
	}
	counter(c.decisions, m["total_auth_webhook_allowed"], "allowed")
	counter(c.decisions, m["total_auth_webhook_denied"], "denied")
}
