package webhook

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sync/atomic"
	"time"
	"unicode/utf8"
)

// Errors of the auth webhook. A connect is refused on any of them.
var (
	// ErrDenied: the webhook answered allowed: false (Reason says why).
	ErrDenied = errors.New("webhook: connect denied")
	// ErrAuthFailed: timeout, transport error, non-200 status or a body that
	// is not the expected JSON.
	ErrAuthFailed = errors.New("webhook: auth webhook failed")
)

// Config configures a Client. The zero value of each field is documented.
type Config struct {
	// AuthURL is the auth webhook; "" means connects are not sent anywhere.
	AuthURL string
	// Timeout bounds each request; 0 means 5 s.
	Timeout time.Duration
	// Label, NodeName and Version go into every request body.
	Label, NodeName, Version string
	// HTTP is the client used; nil means a client with Timeout.
	HTTP *http.Client
}

// AuthCounters are the auth webhook's counts (read them with Counters).
type AuthCounters struct {
	Allowed, Denied    atomic.Uint64 // total_auth_webhook_allowed / _denied
	Successful, Failed atomic.Uint64 // total_successful_auth_webhook / total_failed_auth_webhook
}

// Client calls the auth webhook.
type Client struct {
	cfg      Config
	http     *http.Client
	Counters AuthCounters
}

// New returns a Client.
func New(cfg Config) *Client {
	if cfg.Timeout == 0 {
		cfg.Timeout = 5 * time.Second
	}
	h := cfg.HTTP
	if h == nil {
		h = &http.Client{Timeout: cfg.Timeout}
	}
	return &Client{cfg: cfg, http: h}
}

// Enabled reports whether an auth webhook URL is configured.
func (c *Client) Enabled() bool { return c.cfg.AuthURL != "" }

// AuthRequest is the auth webhook's request body (spec §2.1): Sora builds it
// from the connect; it is not the raw message. Fields is merged into it.
type AuthRequest struct {
	ConnectionID string
	// Fields are the request's own keys (role, channel_id, metadata, …).
	Fields map[string]any
}

// AuthResult is an accepted connect's answer: every key except allowed and
// reason is a payout that overrides what the client asked for.
type AuthResult struct {
	Payouts map[string]json.RawMessage
}

// Auth posts the request and returns the payouts of an allowed connect;
// ErrDenied (with the webhook's reason) or ErrAuthFailed otherwise.
func (c *Client) Auth(ctx context.Context, req AuthRequest, now time.Time) (AuthResult, error) {
	body := map[string]any{}
	for k, v := range req.Fields {
		body[k] = v
	}
	body["connection_id"] = req.ConnectionID
	body["timestamp"] = now.UTC().Format("2006-01-02T15:04:05.000Z")
	body["id"] = req.ConnectionID
	body["version"] = c.cfg.Version
	body["label"] = c.cfg.Label
	body["node_name"] = c.cfg.NodeName
	body["multistream"] = true
	body["e2ee"] = false
	raw, err := json.Marshal(body)
	if err != nil {
		c.Counters.Failed.Add(1)
		return AuthResult{}, fmt.Errorf("%w: encoding the request: %v", ErrAuthFailed, err)
	}
	ctx, cancel := context.WithTimeout(ctx, c.cfg.Timeout)
	defer cancel()
	hreq, err := http.NewRequestWithContext(ctx, http.MethodPost, c.cfg.AuthURL, bytes.NewReader(raw))
	if err != nil {
		c.Counters.Failed.Add(1)
		return AuthResult{}, fmt.Errorf("%w: %v", ErrAuthFailed, err)
	}
	hreq.Header.Set("content-type", "application/json")
	hreq.Header.Set("sora-connection-id", req.ConnectionID)
	resp, err := c.http.Do(hreq)
	if err != nil {
		c.Counters.Failed.Add(1)
		return AuthResult{}, fmt.Errorf("%w: %v", ErrAuthFailed, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		c.Counters.Failed.Add(1)
		return AuthResult{}, fmt.Errorf("%w: reading the answer: %v", ErrAuthFailed, err)
	}
	if resp.StatusCode != http.StatusOK {
		c.Counters.Failed.Add(1)
		return AuthResult{}, fmt.Errorf("%w: status %d", ErrAuthFailed, resp.StatusCode)
	}
	payouts, err := DecodeAuthResponse(data)
	if err != nil && !errors.Is(err, ErrDenied) {
		c.Counters.Failed.Add(1)
		return AuthResult{}, err
	}
	c.Counters.Successful.Add(1)
	if err != nil {
		c.Counters.Denied.Add(1)
		return AuthResult{}, err
	}
	c.Counters.Allowed.Add(1)
	return AuthResult{Payouts: payouts}, nil
}

// maxReasonBytes bounds a denial's reason as it is passed on (the WebSocket
// close reason is shorter still).
const maxReasonBytes = 256

// DecodeAuthResponse reads the body of an auth webhook's 200 answer (spec
// webhooks.md §2.2). {"allowed": true, …} returns the payouts: every key but
// allowed and reason. {"allowed": false, "reason": "…"} — or any allowed
// that is not true — returns ErrDenied with the reason (at most 256 bytes;
// "not allowed" when absent). A body that is not a JSON object returns
// ErrAuthFailed. It never panics.
func DecodeAuthResponse(body []byte) (map[string]json.RawMessage, error) {
	var payouts map[string]json.RawMessage
	if err := json.Unmarshal(body, &payouts); err != nil || payouts == nil {
		return nil, fmt.Errorf("%w: the answer is not a JSON object", ErrAuthFailed)
	}
	var allowed bool
	if err := json.Unmarshal(payouts["allowed"], &allowed); err != nil || !allowed {
		var reason string
		_ = json.Unmarshal(payouts["reason"], &reason)
		if reason == "" {
			reason = "not allowed"
		}
		if len(reason) > maxReasonBytes {
			n := maxReasonBytes
			for n > 0 && !utf8.RuneStart(reason[n]) {
				n--
			}
			reason = reason[:n]
		}
		return nil, fmt.Errorf("%w: %s", ErrDenied, reason)
	}
	delete(payouts, "allowed")
	delete(payouts, "reason")
	return payouts, nil
}
