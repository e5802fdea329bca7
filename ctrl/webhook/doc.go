// Package webhook talks to the operator's webhook servers (spec
// webhooks.md): the auth webhook that admits each connect and may override
// what the client asked for (payouts), and the session and event webhooks,
// sent by a bounded worker pool so that a slow or dead webhook server never
// slows signaling or media. It also verifies the built-in access tokens
// (HS256 JWT, or the raw secret when allowed) for deployments without an
// auth webhook server.
//
// The auth webhook contract: a POST of the request body with the
// sora-connection-id header; a 200 answer whose body is a JSON object
// (DecodeAuthResponse). {"allowed": true, …payouts} admits the connect,
// {"allowed": false, "reason": "…"} denies it with that reason. A timeout,
// a transport error, another status or a body that is not a JSON object
// fail it; the connect is refused either way. Session and event webhooks
// are POSTs whose answers only count as successful (200) or failed; a full
// queue drops the body (ignored). Nothing is retried.
//
// Counters gives GetStatsReport's total_*_webhook counters by name;
// NewCollector exports them to Prometheus.
//
// Concurrency: Auth, Send, Counters, DecodeAuthResponse and
// VerifyAccessToken may be called from any goroutine. A Notifier's workers
// end when Close returns.
package webhook
