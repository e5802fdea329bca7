package integration

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pion/rtcp"
	"github.com/pion/webrtc/v4"

	"github.com/hayate-sfu/hayate/bench/soraclient"
)

// The HTTP API end to end: the real server, pion clients, and the API
// called over HTTP as an operator would.

// callAPI posts one operation; body nil sends no body. It fails the test
// when the server cannot be reached or the answer is not JSON.
func (e *env) callAPI(target string, body any) (int, json.RawMessage) {
	e.t.Helper()
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			e.t.Fatal(err)
		}
		rd = bytes.NewReader(b)
	}
	ctx, cancel := context.WithTimeout(e.ctx, 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, e.srv.APIURL(), rd)
	if err != nil {
		e.t.Fatal(err)
	}
	req.Header.Set("x-sora-target", target)
	// No keep-alive: the goroutine leak check runs at the end of the test.
	client := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
	resp, err := client.Do(req)
	if err != nil {
		e.t.Fatalf("%s: %v", target, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil || !json.Valid(b) || resp.Header.Get("Content-Type") != "application/json" {
		e.t.Fatalf("%s: %d %s answer %q (%v)", target, resp.StatusCode, resp.Header.Get("Content-Type"), b, err)
	}
	return resp.StatusCode, b
}

// mustAPI is callAPI that requires 200.
func (e *env) mustAPI(target string, body any) json.RawMessage {
	e.t.Helper()
	status, b := e.callAPI(target, body)
	if status != http.StatusOK {
		e.t.Fatalf("%s %v: %d %s", target, body, status, b)
	}
	return b
}

// waitPush waits for a push whose data equals want (compared as JSON).
func (e *env) waitPush(c *soraclient.Client, want string) {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(e.ctx, 5*time.Second)
	defer cancel()
	_, err := c.WaitEvent(ctx, func(ev soraclient.Event) bool { return ev.Type == "push" && pushData(ev) == compact(want) })
	if err != nil {
		e.t.Fatalf("%s never got a push with data %s: %v\nevents: %s", c.ConnectionID(), want, err, describeEvents(c))
	}
}

func pushData(ev soraclient.Event) string {
	var m struct {
		Data json.RawMessage `json:"data"`
	}
	_ = json.Unmarshal(ev.Raw, &m)
	return compact(string(m.Data))
}

func compact(s string) string {
	var b bytes.Buffer
	if json.Compact(&b, []byte(s)) != nil {
		return s
	}
	return b.String()
}

func pushes(c *soraclient.Client) []string {
	var out []string
	for _, ev := range c.Events() {
		if ev.Type == "push" {
			out = append(out, pushData(ev))
		}
	}
	return out
}

// TestAPIListAndPush: ListChannels and ListConnections show the live
// connections; each Push operation reaches exactly the connections it
// addresses; a signaling-notify-metadata change with push: true reaches the
// whole channel.
func TestAPIListAndPush(t *testing.T) {
	e := newEnv(t, 40*time.Second)
	const ch = "api-push"
	a := e.connect(ch, "sendrecv")
	b := e.connect(ch, "recvonly", func(c *soraclient.Config) { c.ClientID = "bob" })
	other := e.connect("api-push-other", "sendonly")

	var chans []struct {
		ChannelID   string `json:"channel_id"`
		Multistream bool   `json:"multistream"`
	}
	if err := json.Unmarshal(e.mustAPI("Sora_20201013.ListChannels", nil), &chans); err != nil {
		t.Fatal(err)
	}
	if len(chans) != 2 || chans[0].ChannelID != ch || chans[1].ChannelID != "api-push-other" || !chans[0].Multistream {
		t.Errorf("ListChannels = %+v, want %s and api-push-other", chans, ch)
	}
	var conns []struct {
		ChannelID    string `json:"channel_id"`
		ConnectionID string `json:"connection_id"`
		ClientID     string `json:"client_id"`
		Role         string `json:"role"`
		SessionID    string `json:"session_id"`
	}
	if err := json.Unmarshal(e.mustAPI("Sora_20201013.ListConnections", nil), &conns); err != nil {
		t.Fatal(err)
	}
	type row struct{ channel, id, client, role string }
	var got []row
	for _, c := range conns {
		got = append(got, row{c.ChannelID, c.ConnectionID, c.ClientID, c.Role})
		if len(c.SessionID) != 26 {
			t.Errorf("connection %s has session_id %q", c.ConnectionID, c.SessionID)
		}
	}
	want := []row{
		{ch, a.ConnectionID(), a.ConnectionID(), "sendrecv"},
		{ch, b.ConnectionID(), "bob", "recvonly"},
		{"api-push-other", other.ConnectionID(), other.ConnectionID(), "sendonly"},
	}
	if !slices.Equal(got, want) {
		t.Errorf("ListConnections = %+v\nwant %+v", got, want)
	}

	e.mustAPI("Sora_20160711.PushConnection", map[string]any{"channel_id": ch, "connection_id": a.ConnectionID(), "data": map[string]any{"to": "a"}})
	e.waitPush(a, `{"to":"a"}`)
	e.mustAPI("Sora_20160711.PushClient", map[string]any{"channel_id": ch, "client_id": "bob", "data": map[string]any{"to": "bob"}})
	e.waitPush(b, `{"to":"bob"}`)
	e.mustAPI("Sora_20201120.PushChannelByRole", map[string]any{"channel_id": ch, "role": "sendrecv", "data": map[string]any{"to": "sendrecv"}})
	e.waitPush(a, `{"to":"sendrecv"}`)
	e.mustAPI("Sora_20160711.PushChannel", map[string]any{"channel_id": ch, "data": map[string]any{"to": "all", "n": []int{1, 2}}})
	e.waitPush(a, `{"n":[1,2],"to":"all"}`)
	e.waitPush(b, `{"n":[1,2],"to":"all"}`)
	e.mustAPI("Sora_20201124.PutSignalingNotifyMetadataItem", map[string]any{
		"channel_id": ch, "connection_id": b.ConnectionID(), "key": "name", "value": "Bob", "push": true})
	meta := `{"action":"PutMetadataItem","connection_id":"` + b.ConnectionID() + `","key":"name","type":"signaling_notify_metadata_ext","value":"Bob"}`
	e.waitPush(a, meta)
	e.waitPush(b, meta)
	if got := e.mustAPI("Sora_20201124.GetSignalingNotifyMetadata", map[string]any{"channel_id": ch, "connection_id": b.ConnectionID()}); string(got) != `{"name":"Bob"}` {
		t.Errorf("GetSignalingNotifyMetadata = %s", got)
	}

	// Exactly the addressed pushes, in order; nothing for the other channel.
	time.Sleep(300 * time.Millisecond)
	if got, want := pushes(a), []string{`{"to":"a"}`, `{"to":"sendrecv"}`, `{"n":[1,2],"to":"all"}`, meta}; !slices.Equal(got, want) {
		t.Errorf("a's pushes %q, want %q", got, want)
	}
	if got, want := pushes(b), []string{`{"to":"bob"}`, `{"n":[1,2],"to":"all"}`, meta}; !slices.Equal(got, want) {
		t.Errorf("b's pushes %q, want %q", got, want)
	}
	if got := pushes(other); len(got) != 0 {
		t.Errorf("the other channel's client got pushes %q", got)
	}

	// Errors an operator meets: unknown connection, missing key.
	if status, body := e.callAPI("Sora_20160711.PushConnection", map[string]any{"channel_id": ch, "connection_id": other.ConnectionID(), "data": map[string]any{}}); status != 404 ||
		!strings.Contains(string(body), `"error_type":"CONNECTION-NOT-FOUND"`) {
		t.Errorf("PushConnection to a connection of another channel: %d %s, want 404 CONNECTION-NOT-FOUND", status, body)
	}
	if status, body := e.callAPI("Sora_20160711.PushChannel", map[string]any{"channel_id": ch}); status != 400 ||
		!strings.Contains(string(body), `"key":"data"`) {
		t.Errorf("PushChannel without data: %d %s, want 400 naming data", status, body)
	}
}

// TestAPIDisconnectConnection: the client sees close 1000 DISCONNECTED-API
// and the others connection.destroyed about it; the API no longer lists it.
func TestAPIDisconnectConnection(t *testing.T) {
	e := newEnv(t, 40*time.Second)
	const ch = "api-disconnect"
	a := e.connect(ch, "sendrecv")
	b := e.connect(ch, "sendrecv")
	e.mustAPI("Sora_20151104.DisconnectConnection", map[string]any{"channel_id": ch, "connection_id": b.ConnectionID(), "reason": map[string]any{"why": "test"}})
	select {
	case <-b.Done():
	case <-time.After(5 * time.Second):
		t.Fatalf("b's WebSocket is still open 5 s after DisconnectConnection")
	}
	if code, reason := b.CloseStatus(); code != 1000 || reason != "DISCONNECTED-API" {
		t.Errorf("b closed with %d %q, want 1000 \"DISCONNECTED-API\"", code, reason)
	}
	ctx, cancel := context.WithTimeout(e.ctx, 5*time.Second)
	defer cancel()
	if _, err := a.WaitEvent(ctx, func(ev soraclient.Event) bool {
		return ev.Type == "notify" && ev.EventType == "connection.destroyed" && ev.ConnectionID == b.ConnectionID()
	}); err != nil {
		t.Errorf("a got no connection.destroyed about b: %v\nevents: %s", err, describeEvents(a))
	}
	var conns []struct {
		ConnectionID string `json:"connection_id"`
	}
	if err := json.Unmarshal(e.mustAPI("Sora_20201013.ListChannelConnections", map[string]any{"channel_id": ch}), &conns); err != nil {
		t.Fatal(err)
	}
	if len(conns) != 1 || conns[0].ConnectionID != a.ConnectionID() {
		t.Errorf("ListChannelConnections after the disconnect = %+v, want only a (%s)", conns, a.ConnectionID())
	}
	if status, body := e.callAPI("Sora_20151104.DisconnectConnection", map[string]any{"channel_id": ch, "connection_id": b.ConnectionID()}); status != 404 {
		t.Errorf("a second DisconnectConnection: %d %s, want 404", status, body)
	}
	// a got two re-offers: b's tracks coming, then going. Let the second
	// be answered before the channel goes: a re-offer still being applied
	// when the server closes a's transport fails in the client, which then
	// gives up and closes its WebSocket before reading the close frame.
	reOffers := 0
	if _, err := a.WaitEvent(ctx, func(ev soraclient.Event) bool {
		if ev.Type == "re-offer" {
			reOffers++
		}
		return reOffers == 2
	}); err != nil {
		t.Errorf("a got %d re-offers, want two (b joining and leaving): %v\nevents: %s", reOffers, err, describeEvents(a))
	}
	// The whole channel goes with DisconnectChannel.
	e.mustAPI("Sora_20151104.DisconnectChannel", map[string]any{"channel_id": ch})
	select {
	case <-a.Done():
	case <-time.After(5 * time.Second):
		t.Fatalf("a's WebSocket is still open 5 s after DisconnectChannel")
	}
	if code, reason := a.CloseStatus(); code != 1000 || reason != "DISCONNECTED-API" {
		t.Errorf("a closed with %d %q, want 1000 \"DISCONNECTED-API\"", code, reason)
	}
	if got := e.mustAPI("Sora_20201013.ListChannels", nil); string(got) != "[]" {
		t.Errorf("ListChannels after DisconnectChannel = %s, want []", got)
	}
}

// TestAPIChangeMode: block_new_connection refuses a connect with 4503
// "MODE-BLOCKED: block_new_connection" while the connected client stays;
// block_new_session admits a join to the existing session only.
func TestAPIChangeMode(t *testing.T) {
	e := newEnv(t, 60*time.Second)
	const ch = "api-mode"
	a := e.connect(ch, "sendrecv")
	refused := func(channel, mode string) {
		t.Helper()
		ctx, cancel := context.WithTimeout(e.ctx, connectTimeout)
		defer cancel()
		c, err := soraclient.Connect(ctx, soraclient.Config{SignalingURL: e.srv.SignalingURL(), ChannelID: channel,
			Role: "recvonly", Audio: true, Video: true})
		if err == nil {
			c.Close()
			t.Fatalf("connect to %s admitted in mode %s", channel, mode)
		}
		want := `code 4503 reason "MODE-BLOCKED: ` + mode + `"`
		if !errors.Is(err, soraclient.ErrClosedBeforeConnected) || !strings.Contains(err.Error(), want) {
			t.Errorf("connect to %s in mode %s: %v; want the close %s", channel, mode, err, want)
		}
	}

	if got := e.mustAPI("Sora_20211215.ChangeMode", map[string]any{"mode": "block_new_connection"}); string(got) != `{"mode":"block_new_connection"}` {
		t.Errorf("ChangeMode = %s", got)
	}
	if got := e.mustAPI("Sora_20211215.GetMode", nil); string(got) != `{"mode":"block_new_connection"}` {
		t.Errorf("GetMode = %s", got)
	}
	refused(ch, "block_new_connection")
	refused("api-mode-new", "block_new_connection")

	e.mustAPI("Sora_20211215.ChangeMode", map[string]any{"mode": "block_new_session"})
	refused("api-mode-new", "block_new_session")
	b := e.connect(ch, "recvonly") // the session exists

	// a was never disturbed: it still receives what is pushed to it.
	select {
	case <-a.Done():
		code, reason := a.CloseStatus()
		t.Fatalf("a was closed (%d %q) while the mode changed", code, reason)
	default:
	}
	e.mustAPI("Sora_20160711.PushChannel", map[string]any{"channel_id": ch, "data": map[string]any{"still": "here"}})
	e.waitPush(a, `{"still":"here"}`)
	e.waitPush(b, `{"still":"here"}`)

	e.mustAPI("Sora_20211215.ChangeMode", map[string]any{"mode": "normal"})
	e.connect("api-mode-new", "recvonly")

	var report struct {
		Failed  int `json:"total_failed_connections"`
		Ongoing int `json:"total_ongoing_connections"`
		Created int `json:"total_connection_created"`
	}
	if err := json.Unmarshal(e.mustAPI("Sora_20171010.GetStatsReport", nil), &report); err != nil {
		t.Fatal(err)
	}
	if report.Failed != 3 || report.Ongoing != 3 || report.Created != 3 {
		t.Errorf("GetStatsReport: %+v, want 3 refused (failed), 3 ongoing, 3 created", report)
	}
}

// TestAPIStatsAndKeyFrame: while media flows, GetStatsConnection counters
// of the publisher (received) and the subscriber (sent) grow; the report's
// totals cover them; RequestKeyFrame makes the server send the publisher a
// PLI for its video.
func TestAPIStatsAndKeyFrame(t *testing.T) {
	e := newEnv(t, 50*time.Second)
	const ch = "api-stats"
	var mu sync.Mutex
	var plis []uint32
	pub := e.connect(ch, "sendonly", func(c *soraclient.Config) {
		c.OnSenderRTCP = func(kind webrtc.RTPCodecType, pkts []rtcp.Packet) {
			mu.Lock()
			defer mu.Unlock()
			for _, p := range pkts {
				if pli, ok := p.(*rtcp.PictureLossIndication); ok && kind == video {
					plis = append(plis, pli.MediaSSRC)
				}
			}
		}
	})
	sub := e.connect(ch, "recvonly")
	rs := collect(e, sub)
	e.waitSees(sub, pub.ConnectionID())
	time.Sleep(settle)

	type counters struct {
		ConnectionID string `json:"connection_id"`
		Role         string `json:"role"`
		RecvPackets  uint64 `json:"total_received_srtp"`
		RecvBytes    uint64 `json:"total_received_srtp_byte_size"`
		SentPackets  uint64 `json:"total_sent_srtp"`
		SentBytes    uint64 `json:"total_sent_srtp_byte_size"`
	}
	stats := func(c *soraclient.Client) counters {
		t.Helper()
		var s counters
		if err := json.Unmarshal(e.mustAPI("Sora_20170529.GetStatsConnection", map[string]any{"channel_id": ch, "connection_id": c.ConnectionID()}), &s); err != nil {
			t.Fatal(err)
		}
		if s.ConnectionID != c.ConnectionID() {
			t.Fatalf("GetStatsConnection answered for %s, asked %s", s.ConnectionID, c.ConnectionID())
		}
		return s
	}
	pub0, sub0 := stats(pub), stats(sub)

	const n = 100
	p := publish(e, pub, 'S', n, 10*time.Millisecond, audio, video)
	e.waitWritten(p)
	rec, err := rs.track(e.ctx, pub.ConnectionID(), video)
	if err != nil {
		t.Fatal(err)
	}
	wctx, cancel := context.WithTimeout(e.ctx, 5*time.Second)
	rec.waitFor(wctx, hasIndex('S', n-1))
	cancel()
	time.Sleep(settle)
	pub1, sub1 := stats(pub), stats(sub)
	t.Logf("publisher %+v → %+v", pub0, pub1)
	t.Logf("subscriber %+v → %+v", sub0, sub1)
	// 2n RTP packets were sent; a few may be lost on loopback, RTCP adds more.
	if d := pub1.RecvPackets - pub0.RecvPackets; d < 2*n*9/10 {
		t.Errorf("publisher total_received_srtp grew by %d while it sent %d RTP packets", d, 2*n)
	}
	if pub1.RecvBytes-pub0.RecvBytes < (pub1.RecvPackets-pub0.RecvPackets)*12 {
		t.Errorf("publisher bytes grew by %d for %d packets", pub1.RecvBytes-pub0.RecvBytes, pub1.RecvPackets-pub0.RecvPackets)
	}
	if d := sub1.SentPackets - sub0.SentPackets; d < 2*n*9/10 {
		t.Errorf("subscriber total_sent_srtp grew by %d while %d RTP packets were forwarded to it", d, 2*n)
	}
	if sub1.SentBytes <= sub0.SentBytes {
		t.Errorf("subscriber total_sent_srtp_byte_size did not grow: %d → %d", sub0.SentBytes, sub1.SentBytes)
	}
	var all []counters
	if err := json.Unmarshal(e.mustAPI("Sora_20171101.GetStatsAllConnections", nil), &all); err != nil {
		t.Fatal(err)
	}
	if len(all) != 2 {
		t.Errorf("GetStatsAllConnections has %d entries, want 2", len(all))
	}
	var report struct {
		Received uint64 `json:"total_received_srtp"`
		Sent     uint64 `json:"total_sent_srtp"`
	}
	if err := json.Unmarshal(e.mustAPI("Sora_20171010.GetStatsReport", nil), &report); err != nil {
		t.Fatal(err)
	}
	if report.Received < pub1.RecvPackets || report.Sent < sub1.SentPackets {
		t.Errorf("GetStatsReport srtp totals %+v below the connections' (%d received, %d sent)", report, pub1.RecvPackets, sub1.SentPackets)
	}

	// RequestKeyFrame: a PLI for the publisher's video SSRC reaches it. The
	// plane rate-limits PLIs, so ask a few times over 3 s.
	ownSSRC := uint32(pub.Sender(video).GetParameters().Encodings[0].SSRC)
	// First let the keyframe requests of the join pass: 1 s without any.
	last, lastAt := -1, time.Now()
	for deadline := time.Now().Add(8 * time.Second); time.Now().Before(deadline) && time.Since(lastAt) < time.Second; time.Sleep(100 * time.Millisecond) {
		mu.Lock()
		if len(plis) != last {
			last, lastAt = len(plis), time.Now()
		}
		mu.Unlock()
	}
	mu.Lock()
	before := len(plis)
	mu.Unlock()
	t.Logf("%d PLIs reached the publisher before RequestKeyFrame", before)
	got := false
	for i := 0; i < 10 && !got; i++ {
		e.mustAPI("Sora_20241218.RequestKeyFrame", map[string]any{"channel_id": ch, "connection_id": pub.ConnectionID()})
		time.Sleep(300 * time.Millisecond)
		mu.Lock()
		got = slices.Contains(plis[before:], ownSSRC)
		mu.Unlock()
	}
	if !got {
		t.Errorf("no PLI for the publisher's SSRC %d after RequestKeyFrame", ownSSRC)
	}
	if status, body := e.callAPI("Sora_20241218.RequestKeyFrame", map[string]any{"channel_id": ch, "connection_id": sub.ConnectionID()}); status != 400 ||
		!strings.Contains(string(body), "NO-VIDEO-TRACK") {
		t.Errorf("RequestKeyFrame of a recvonly connection: %d %s, want 400 NO-VIDEO-TRACK", status, body)
	}
}
