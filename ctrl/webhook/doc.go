// Package webhook talks to the operator's webhook servers (spec
// webhooks.md): the auth webhook that admits each connect and may override
// what the client asked for (payouts), and the session and event webhooks,
// sent by a bounded worker pool so that a slow or dead webhook server never
// slows signaling or media. It also verifies the built-in access tokens
// (HS256 JWT, or the raw secret when allowed) for deployments without an
// auth webhook server.
//
// Concurrency: Auth, Send, Counters and VerifyAccessToken may be called from
// any goroutine. A Notifier's workers end when Close returns.
package webhook
