package webhook

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/prometheus/client_golang/prometheus"
)

func TestDecodeAuthResponse(t *testing.T) {
	for _, tc := range []struct {
		name, body string
		payouts    string // JSON of the payouts when allowed
		err        error
		reason     string
	}{
		{"allowed", `{"allowed": true, "reason": "ignored", "metadata": {"k": [1]}}`, `{"metadata":{"k":[1]}}`, nil, ""},
		{"allowed alone", `{"allowed":true}`, `{}`, nil, ""},
		{"denied", `{"allowed": false, "reason": "NO-TICKET"}`, "", ErrDenied, "NO-TICKET"},
		{"denied without reason", `{"allowed": false}`, "", ErrDenied, "not allowed"},
		{"allowed missing", `{"metadata": 1}`, "", ErrDenied, "not allowed"},
		{"allowed not a boolean", `{"allowed": "true"}`, "", ErrDenied, "not allowed"},
		{"reason not a string", `{"allowed": false, "reason": 5}`, "", ErrDenied, "not allowed"},
		{"array", `[{"allowed": true}]`, "", ErrAuthFailed, ""},
		{"null", `null`, "", ErrAuthFailed, ""},
		{"empty", ``, "", ErrAuthFailed, ""},
		{"truncated", `{"allowed": true`, "", ErrAuthFailed, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p, err := DecodeAuthResponse([]byte(tc.body))
			if tc.err == nil {
				got, _ := json.Marshal(p)
				if err != nil || string(got) != tc.payouts {
					t.Fatalf("DecodeAuthResponse = %s, %v; want %s", got, err, tc.payouts)
				}
				return
			}
			if !errors.Is(err, tc.err) || p != nil || !strings.HasSuffix(err.Error(), tc.reason) {
				t.Fatalf("DecodeAuthResponse = %v, %v; want %v ending in %q", p, err, tc.err, tc.reason)
			}
		})
	}
	long := strings.Repeat("é", 200) // 400 bytes
	_, err := DecodeAuthResponse([]byte(`{"allowed": false, "reason": "` + long + `"}`))
	reason := strings.TrimPrefix(err.Error(), ErrDenied.Error()+": ")
	if len(reason) > maxReasonBytes || !utf8.ValidString(reason) || !strings.HasPrefix(long, reason) {
		t.Fatalf("a long reason became %d bytes, valid UTF-8 %v", len(reason), utf8.ValidString(reason))
	}
}

func FuzzDecodeAuthResponse(f *testing.F) {
	for _, s := range []string{`{"allowed": true, "metadata": null}`, `{"allowed": false, "reason": "x"}`, `{"allowed": 1}`, `[]`, `"`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		p, err := DecodeAuthResponse(body)
		switch {
		case err == nil:
			if _, ok := p["allowed"]; ok || p == nil {
				t.Fatalf("allowed answer gave payouts %v", p)
			}
		case errors.Is(err, ErrDenied):
			if len(err.Error()) > len(ErrDenied.Error())+2+maxReasonBytes || !utf8.ValidString(err.Error()) {
				t.Fatalf("denial %q", err)
			}
		case !errors.Is(err, ErrAuthFailed):
			t.Fatalf("unexpected error %v", err)
		}
	})
}

// TestCountersAndCollector: GetStatsReport's webhook counters and the
// Prometheus series say the same.
func TestCountersAndCollector(t *testing.T) {
	answers := []string{`{"allowed": true}`, `{"allowed": false}`, `{"allowed": true}`, `oops`}
	i := 0
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		if r.URL.Path == "/fail" {
			w.WriteHeader(http.StatusInternalServerError)
			return
		}
		if r.URL.Path == "/auth" {
			_, _ = io.WriteString(w, answers[i])
			i++
		}
	}))
	defer srv.Close()
	auth := New(Config{AuthURL: srv.URL + "/auth", Timeout: 5 * time.Second})
	for range answers {
		_, _ = auth.Auth(context.Background(), AuthRequest{ConnectionID: "C"}, time.Now())
	}
	session := NewNotifier(NotifierConfig{URL: srv.URL + "/ok", Workers: 1})
	event := NewNotifier(NotifierConfig{URL: srv.URL + "/fail", Workers: 1})
	session.Send(map[string]string{"type": "session.created"})
	event.Send(map[string]string{"type": "connection.created"})
	session.Close()
	event.Close()
	event.Send("late")

	want := map[string]uint64{
		"total_auth_webhook_allowed": 2, "total_auth_webhook_denied": 1,
		"total_successful_auth_webhook": 3, "total_failed_auth_webhook": 1,
		"total_successful_session_webhook": 1, "total_failed_session_webhook": 0, "total_ignored_session_webhook": 0,
		"total_successful_event_webhook": 0, "total_failed_event_webhook": 1, "total_ignored_event_webhook": 1,
	}
	if got := Counters(auth, session, event); !reflect.DeepEqual(got, want) {
		t.Fatalf("Counters = %v\nwant %v", got, want)
	}
	zero := Counters(nil, nil, nil)
	if len(zero) != len(want) {
		t.Fatalf("Counters(nil…) has %d names, want %d", len(zero), len(want))
	}
	for k, v := range zero {
		if v != 0 {
			t.Errorf("Counters(nil…)[%s] = %d", k, v)
		}
	}

	reg := prometheus.NewRegistry()
	reg.MustRegister(NewCollector(auth, session, event))
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]float64{}
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			key := mf.GetName()
			for _, l := range m.GetLabel() {
				key += " " + l.GetValue()
			}
			got[key] = m.GetCounter().GetValue()
		}
	}
	for key, v := range map[string]float64{
		"hayate_webhook_requests_total successful auth": 3, "hayate_webhook_requests_total failed auth": 1,
		"hayate_webhook_requests_total successful session": 1, "hayate_webhook_requests_total ignored event": 1,
		"hayate_webhook_requests_total failed event":  1,
		"hayate_webhook_auth_decisions_total allowed": 2, "hayate_webhook_auth_decisions_total denied": 1,
	} {
		if got[key] != v {
			t.Errorf("%s = %v, want %v (all: %v)", key, got[key], v, got)
		}
	}
}
