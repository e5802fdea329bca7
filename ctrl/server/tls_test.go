package server

import (
	"crypto/tls"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/hayate-sfu/hayate/internal/testcert"
)

// TestTLS: with tls_cert_file and tls_key_file, signaling is wss:// (a
// connect gets its offer over TLS), the API https://, and a plain-text
// client gets no answer from either.
func TestTLS(t *testing.T) {
	certFile, keyFile, roots := testcert.Write(t)
	c := testConfig(t)
	c.TLSCertFile, c.TLSKeyFile = certFile, keyFile
	s := startServer(t, c)
	if !strings.HasPrefix(s.SignalingURL(), "wss://") || !strings.HasPrefix(s.APIURL(), "https://") {
		t.Fatalf("URLs %s and %s, want wss:// and https://", s.SignalingURL(), s.APIURL())
	}
	hc := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: roots}}}

	ctx := t.Context()
	ws, _, err := websocket.Dial(ctx, s.SignalingURL(), &websocket.DialOptions{HTTPClient: hc})
	if err != nil {
		t.Fatalf("wss dial: %v", err)
	}
	defer ws.CloseNow()
	connect := `{"type":"connect","role":"recvonly","channel_id":"tls","sora_client":"test","environment":"test"}`
	if err := ws.Write(ctx, websocket.MessageText, []byte(connect)); err != nil {
		t.Fatal(err)
	}
	_, b, err := ws.Read(ctx)
	if err != nil {
		t.Fatalf("reading the offer over wss: %v", err)
	}
	var offer struct {
		Type string `json:"type"`
		SDP  string `json:"sdp"`
	}
	if err := json.Unmarshal(b, &offer); err != nil || offer.Type != "offer" || offer.SDP == "" {
		t.Fatalf("over wss got %.200s (%v), want an offer", b, err)
	}

	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.APIURL(), strings.NewReader("{}"))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("x-sora-target", "Sora_20211215.GetMode")
	resp, err := hc.Do(req)
	if err != nil {
		t.Fatalf("https API: %v", err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || string(body) != `{"mode":"normal"}` {
		t.Fatalf("GetMode over https = %d %s", resp.StatusCode, body)
	}

	// Plain HTTP to the TLS listener: no API answer.
	plain := &http.Client{Timeout: 5 * time.Second}
	preq, _ := http.NewRequestWithContext(ctx, http.MethodPost, "http://"+strings.TrimPrefix(s.APIURL(), "https://"), strings.NewReader("{}"))
	preq.Header.Set("x-sora-target", "Sora_20211215.GetMode")
	if presp, err := plain.Do(preq); err == nil {
		pb, _ := io.ReadAll(presp.Body)
		presp.Body.Close()
		if presp.StatusCode == 200 {
			t.Fatalf("plain HTTP to the TLS API answered 200 %s", pb)
		}
	}
}

// TestTLSBadFiles: a missing certificate file is refused at start, naming
// the keys.
func TestTLSBadFiles(t *testing.T) {
	c := testConfig(t)
	c.TLSCertFile, c.TLSKeyFile = t.TempDir()+"/none.pem", t.TempDir()+"/none-key.pem"
	_, err := New(c, quietLog())
	if err == nil || !strings.Contains(err.Error(), "tls_cert_file") {
		t.Fatalf("New with missing TLS files: %v, want an error naming tls_cert_file", err)
	}
}
