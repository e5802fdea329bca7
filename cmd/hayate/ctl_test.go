package main

import (
	"bytes"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/hayate-sfu/hayate/ctrl/api"
	"github.com/hayate-sfu/hayate/ctrl/room"
	"github.com/hayate-sfu/hayate/dataplane"
)

func TestCtlTarget(t *testing.T) {
	for _, tc := range []struct {
		name, date, want, err string
	}{
		{"ListChannels", "", "Sora_20201013.ListChannels", ""},
		{"DisconnectConnection", "", "Sora_20151104.DisconnectConnection", ""},
		{"GetStatsAllConnections", "", "Sora_20171101.GetStatsAllConnections", ""},
		{"Sora_20201013.ListChannels", "", "Sora_20201013.ListChannels", ""},
		{"Sora_20991231.Future", "", "Sora_20991231.Future", ""},
		{"StartRecording", "20161101", "Sora_20161101.StartRecording", ""},
		{"listchannels", "", "", "did you mean ListChannels?"},
		{"Nothing", "", "", `unknown operation "Nothing"`},
		{"ListChannels", "2020", "", "not YYYYMMDD"},
		{"Sora_20201013.ListChannels", "20201013", "", "already has a date"},
	} {
		got, err := ctlTarget(tc.name, tc.date)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("ctlTarget(%q, %q) = %q, %v; want an error with %q", tc.name, tc.date, got, err, tc.err)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("ctlTarget(%q, %q) = %q, %v; want %q", tc.name, tc.date, got, err, tc.want)
		}
	}
}

func TestCtlBody(t *testing.T) {
	for _, tc := range []struct {
		args      []string
		want, err string
	}{
		{nil, "", ""},
		{[]string{"channel_id=sora"}, `{"channel_id":"sora"}`, ""},
		{[]string{"channel_id=sora", `data:={"spam": "egg"}`, "push:=true", "n:=3"},
			`{"channel_id":"sora","data":{"spam":"egg"},"push":true,"n":3}`, ""},
		{[]string{"key=a:=b"}, `{"key":"a:=b"}`, ""},
		{[]string{"value=", "x:=null"}, `{"value":"","x":null}`, ""},
		{[]string{"url=http://h/?a=b"}, `{"url":"http://h/?a=b"}`, ""},
		{[]string{"sora"}, "", "neither key=value nor key:=json"},
		{[]string{"=x"}, "", "has no key"},
		{[]string{"a=1", "a=2"}, "", "given twice"},
		{[]string{"data:={spam}"}, "", "is not JSON"},
	} {
		got, err := ctlBody(tc.args)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("ctlBody(%q) = %s, %v; want an error with %q", tc.args, got, err, tc.err)
			}
			continue
		}
		if err != nil || string(got) != tc.want {
			t.Errorf("ctlBody(%q) = %s, %v; want %s", tc.args, got, err, tc.want)
		}
	}
}

// stubFactory lets a registry exist; no test here joins a connection.
type stubFactory struct{}

func (stubFactory) NewTransport(string, dataplane.TransportEvents) (room.Transport, error) {
	return nil, dataplane.ErrClosed
}
func (stubFactory) Fingerprint() string               { return "" }
func (stubFactory) Candidates() []dataplane.Candidate { return nil }

// TestCtl runs hayate ctl against the real API handler.
func TestCtl(t *testing.T) {
	reg, err := room.NewRegistry(room.Config{Transports: stubFactory{}, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	h, err := api.New(api.Config{Rooms: reg, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	var seen []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		seen = append(seen, r.Header.Get("X-Sora-Target")+" "+r.Header.Get("Content-Type")+" "+string(b))
		r.Body = io.NopCloser(bytes.NewReader(b))
		h.ServeHTTP(w, r)
	}))
	defer srv.Close()

	for _, tc := range []struct {
		args           []string
		code           int
		stdout, stderr string
		request        string
	}{
		{[]string{"ChangeMode", "mode=block_new_session"}, exitOK, "{\n  \"mode\": \"block_new_session\"\n}\n", "",
			`Sora_20211215.ChangeMode application/json {"mode":"block_new_session"}`},
		{[]string{"GetMode"}, exitOK, "{\n  \"mode\": \"block_new_session\"\n}\n", "", "Sora_20211215.GetMode  "},
		{[]string{"Sora_20201013.ListChannels"}, exitOK, "[]\n", "", "Sora_20201013.ListChannels  "},
		{[]string{"DisconnectChannel", "channel_id=sora"}, exitFail, "",
			"hayate ctl: Sora_20151104.DisconnectChannel: 404 Not Found\n{\n  \"error_reason\": {\n    \"channel_id\": \"sora\",\n    \"message\": \"channel \\\"sora\\\" has no connection\"\n  },\n  \"error_type\": \"CHANNEL-NOT-FOUND\"\n}\n",
			`Sora_20151104.DisconnectChannel application/json {"channel_id":"sora"}`},
		{[]string{"--date", "20991231", "Future"}, exitFail, "",
			"hayate ctl: Sora_20991231.Future: 400 Bad Request\n{\n  \"error_reason\": {\n    \"message\": \"x-sora-target \\\"Sora_20991231.Future\\\" names no operation of this server\",\n    \"target\": \"Sora_20991231.Future\"\n  },\n  \"error_type\": \"UNKNOWN-TARGET\"\n}\n",
			"Sora_20991231.Future  "},
		{[]string{"Nothing"}, exitUsage, "", "", ""},
		{[]string{"PushChannel", "sora"}, exitUsage, "", "", ""},
		{[]string{}, exitUsage, "", "", ""},
	} {
		seen = nil
		var stdout, stderr bytes.Buffer
		code := run(append([]string{"ctl", "--url", srv.URL + "/"}, tc.args...), nil, &stdout, &stderr)
		if code != tc.code {
			t.Errorf("ctl %q: exit %d, want %d; stderr %s", tc.args, code, tc.code, stderr.String())
		}
		if code != exitUsage && (stdout.String() != tc.stdout || stderr.String() != tc.stderr) {
			t.Errorf("ctl %q:\nstdout %q\nwant   %q\nstderr %q\nwant   %q", tc.args, stdout.String(), tc.stdout, stderr.String(), tc.stderr)
		}
		if code == exitUsage && stderr.Len() == 0 {
			t.Errorf("ctl %q: usage error without a message", tc.args)
		}
		var req string
		if len(seen) > 0 {
			req = seen[0]
		}
		if req != tc.request {
			t.Errorf("ctl %q sent %q, want %q", tc.args, req, tc.request)
		}
	}

	// A server that is not there: exit 1 with the reason.
	var stdout, stderr bytes.Buffer
	srv.Close()
	if code := run([]string{"ctl", "--url", srv.URL + "/", "ListChannels"}, nil, &stdout, &stderr); code != exitFail ||
		!strings.Contains(stderr.String(), "Sora_20201013.ListChannels") {
		t.Errorf("ctl against a closed server: exit %d, stderr %q; want 1 naming the target", code, stderr.String())
	}
}

func TestCtlList(t *testing.T) {
	var stdout, stderr bytes.Buffer
	if code := run([]string{"ctl", "--list"}, nil, &stdout, &stderr); code != exitOK {
		t.Fatalf("ctl --list: exit %d: %s", code, stderr.String())
	}
	out := stdout.String()
	for _, want := range []string{"Sora_20160711.PushChannel\n", "Sora_20170814.StartForwardingRtp\n", "Sora_20231220.StartRecording  (not implemented: "} {
		if !strings.Contains(out, want) {
			t.Errorf("ctl --list lacks %q:\n%s", want, out)
		}
	}
}

// FuzzCtlBody: any two arguments either make a usage error or a JSON
// object with one member per argument; never a panic.
func FuzzCtlBody(f *testing.F) {
	f.Add("channel_id=sora", `data:={"spam":"egg"}`)
	f.Add("push:=true", "key=a:=b")
	f.Add("a=1", "a=2")
	f.Add(":=", "=")
	f.Fuzz(func(t *testing.T, a, b string) {
		body, err := ctlBody([]string{a, b})
		if err != nil {
			return
		}
		var m map[string]json.RawMessage
		if e := json.Unmarshal(body, &m); e != nil || len(m) != 2 {
			t.Fatalf("ctlBody(%q, %q) = %s: %v, %d members", a, b, body, e, len(m))
		}
	})
}
