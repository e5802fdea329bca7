package api

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/hayate-sfu/hayate/ctrl/room"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/golden")

// goldenCase is one HTTP exchange against a fresh env. Its golden file
// holds the request, the exact response (status, headers, body) and what
// the room's clients saw because of it.
type goldenCase struct {
	name     string
	method   string // "" is POST
	path     string // "" is "/"
	target   string // x-sora-target; "" sends none
	body     string
	chunked  bool                           // no Content-Length (the body limit is found while reading)
	remote   string                         // the client's address; "" is httptest's 192.0.2.1:1234
	cfg      func(*Config)                  // changes the API's config
	empty    bool                           // no connections (otherwise env.world)
	before   func(e *env)                   // runs before the request, effects not recorded
	after    func(e *env)                   // runs after it, effects recorded
	check    func(*testing.T, *env, []byte) // extra assertions on the response body
	keepPath bool                           // do not normalise paths in the body
}

const (
	tList   = "Sora_20201013.ListChannels"
	tConns  = "Sora_20201013.ListConnections"
	tChConn = "Sora_20201013.ListChannelConnections"
	tDiscCh = "Sora_20151104.DisconnectChannel"
	tDiscCl = "Sora_20151104.DisconnectClient"
	tDiscCo = "Sora_20151104.DisconnectConnection"
	tDiscRo = "Sora_20201120.DisconnectChannelByRole"
	tKey    = "Sora_20241218.RequestKeyFrame"
	tPushCh = "Sora_20160711.PushChannel"
	tPushCl = "Sora_20160711.PushClient"
	tPushCo = "Sora_20160711.PushConnection"
	tPushRo = "Sora_20201120.PushChannelByRole"
	tMode   = "Sora_20211215.ChangeMode"
	tGetMod = "Sora_20211215.GetMode"
	tMdList = "Sora_20201124.ListSignalingNotifyMetadata"
	tMdGet  = "Sora_20201124.GetSignalingNotifyMetadata"
	tMdPut  = "Sora_20201124.PutSignalingNotifyMetadata"
	tMdDel  = "Sora_20201124.DeleteSignalingNotifyMetadata"
	tMdPutI = "Sora_20201124.PutSignalingNotifyMetadataItem"
	tMdDelI = "Sora_20201124.DeleteSignalingNotifyMetadataItem"
	tReport = "Sora_20171010.GetStatsReport"
	tStAll  = "Sora_20171101.GetStatsAllConnections"
	tStConn = "Sora_20170529.GetStatsConnection"
	tStCl   = "Sora_20170529.GetStatsClient"
	tLic    = "Sora_20171218.GetLicense"
	tCrash  = "Sora_20221221.GenerateCrashLog"
)

// Connection ids of env.world: A, B, C in channel sora, D in akane (ids
// 2 and 6 are the sessions of sora and akane).
const (
	idA = "CONN0000000000000000000001"
	idB = "CONN0000000000000000000003"
	idC = "CONN0000000000000000000004"
	idD = "CONN0000000000000000000005"
)

func cors(c *Config) { c.CORSOrigin = "http://127.0.0.1:5000" }

// putMeta sets A's metadata ext before a request.
func putMeta(e *env) {
	if _, _, err := e.reg.UpdateMetadataExt(idA, func(map[string]json.RawMessage) map[string]json.RawMessage {
		return map[string]json.RawMessage{"abc": json.RawMessage(`"efg"`), "n": json.RawMessage(`10`)}
	}); err != nil {
		e.t.Fatal(err)
	}
}

// tryJoin attempts a connect after the request and records the outcome.
func tryJoin(name, channel string) func(*env) {
	return func(e *env) {
		p := &fakePeer{name: name, fx: e.fx}
		if _, err := e.reg.Join(joinReq(channel, "", room.RoleSendRecv), p); err != nil {
			e.fx.add("%s: Join(%s): %v", name, channel, err)
			return
		}
		e.fx.add("%s: Join(%s) admitted", name, channel)
	}
}

var goldenCases = []goldenCase{
	// --- transport ---
	{name: "transport/options_preflight_cors", method: "OPTIONS", target: tList, cfg: cors},
	{name: "transport/options_without_cors", method: "OPTIONS"},
	{name: "transport/get_method", method: "GET", target: tList},
	{name: "transport/put_method_cors", method: "PUT", target: tList, cfg: cors},
	{name: "transport/other_path", path: "/api", target: tList},
	{name: "transport/body_too_large", target: tPushCh, body: `{"channel_id":"sora","data":{"x":"` + strings.Repeat("y", 100) + `"}}`,
		cfg: func(c *Config) { c.MaxBodyBytes = 64 }},
	{name: "transport/body_too_large_chunked", target: tPushCh, chunked: true,
		body: `{"channel_id":"sora","data":{"x":"` + strings.Repeat("y", 100) + `"}}`, cfg: func(c *Config) { c.MaxBodyBytes = 64 }},
	{name: "transport/missing_target", body: `{}`},
	{name: "transport/unknown_target", target: "Sora_20201013.ListChannel"},
	{name: "transport/unknown_target_cors", target: "Sora_99999999.Nothing", cfg: cors},
	{name: "transport/malformed_json", target: tChConn, body: `{"channel_id":`},
	{name: "transport/not_an_object", target: tChConn, body: `["sora"]`},
	{name: "transport/null_body", target: tList, body: `null`},
	{name: "transport/invalid_utf8", target: tChConn, body: "{\"channel_id\":\"\xff\"}"},
	// A target Hayate will not implement (StartForwardingRtp was the example until it was built).
	{name: "transport/not_implemented", target: "Sora_20231220.StartRecording",
		body: `{"channel_id":"sora","expire_time":60}`},
	{name: "transport/not_implemented_cluster", target: "Sora_20211215.ListClusterNodes"},
	{name: "transport/cors_success", target: tGetMod, cfg: cors},
	{name: "transport/loopback_only_refuses", target: tGetMod, remote: "192.0.2.1:40000", cfg: func(c *Config) { c.LoopbackOnly = true }},
	{name: "transport/loopback_only_admits", target: tGetMod, remote: "[::1]:40000", cfg: func(c *Config) { c.LoopbackOnly = true }},

	// --- channels and connections ---
	{name: "ListChannels/ok", target: tList},
	{name: "ListChannels/empty", target: tList, empty: true},
	{name: "ListChannels/local_false", target: tList, body: `{"local":false}`},
	{name: "ListChannels/local_wrong_type", target: tList, body: `{"local":"no"}`},
	{name: "ListConnections/ok", target: tConns},
	{name: "ListConnections/empty", target: tConns, empty: true},
	{name: "ListChannelConnections/ok", target: tChConn, body: `{"channel_id":"sora"}`},
	{name: "ListChannelConnections/unknown_channel", target: tChConn, body: `{"channel_id":"nobody"}`},
	{name: "ListChannelConnections/missing_channel_id", target: tChConn, body: `{}`},
	{name: "ListChannelConnections/null_channel_id", target: tChConn, body: `{"channel_id":null}`},
	{name: "ListChannelConnections/channel_id_number", target: tChConn, body: `{"channel_id":123}`},
	{name: "ListChannelConnections/channel_id_empty", target: tChConn, body: `{"channel_id":""}`},
	{name: "ListChannelConnections/channel_id_too_long", target: tChConn, body: `{"channel_id":"` + strings.Repeat("x", 256) + `"}`},
	{name: "DisconnectChannel/ok", target: tDiscCh, body: `{"channel_id":"sora","reason":{"why":"maintenance"}}`,
		after: func(e *env) { e.fx.add("channels now: %v", channelIDs(e.reg)) }},
	{name: "DisconnectChannel/unknown_channel", target: tDiscCh, body: `{"channel_id":"nobody"}`},
	{name: "DisconnectChannel/reason_not_object", target: tDiscCh, body: `{"channel_id":"sora","reason":"maintenance"}`},
	{name: "DisconnectClient/ok", target: tDiscCl, body: `{"channel_id":"sora","client_id":"alice"}`},
	{name: "DisconnectClient/unknown_client", target: tDiscCl, body: `{"channel_id":"sora","client_id":"carol"}`},
	{name: "DisconnectClient/missing_client_id", target: tDiscCl, body: `{"channel_id":"sora"}`},
	{name: "DisconnectConnection/ok", target: tDiscCo, body: `{"channel_id":"sora","connection_id":"` + idA + `"}`},
	{name: "DisconnectConnection/unknown_connection", target: tDiscCo, body: `{"channel_id":"sora","connection_id":"CONN9999999999999999999999"}`},
	{name: "DisconnectConnection/other_channel", target: tDiscCo, body: `{"channel_id":"sora","connection_id":"` + idD + `"}`},
	{name: "DisconnectConnection/connection_id_object", target: tDiscCo, body: `{"channel_id":"sora","connection_id":{"id":1}}`},
	{name: "DisconnectChannelByRole/ok", target: tDiscRo, body: `{"channel_id":"sora","role":"recvonly"}`},
	{name: "DisconnectChannelByRole/nobody_has_role", target: tDiscRo, body: `{"channel_id":"akane","role":"recvonly"}`},
	{name: "DisconnectChannelByRole/bad_role", target: tDiscRo, body: `{"channel_id":"sora","role":"viewer"}`},
	{name: "DisconnectChannelByRole/missing_role", target: tDiscRo, body: `{"channel_id":"sora"}`},
	{name: "RequestKeyFrame/ok", target: tKey, body: `{"channel_id":"sora","connection_id":"` + idA + `"}`},
	{name: "RequestKeyFrame/recvonly", target: tKey, body: `{"channel_id":"sora","connection_id":"` + idB + `"}`},
	{name: "RequestKeyFrame/unknown_connection", target: tKey, body: `{"channel_id":"akane","connection_id":"` + idA + `"}`},

	// --- push ---
	{name: "PushChannel/ok", target: tPushCh, body: `{"channel_id":"sora","data":{"spam":"egg","n":[1, 2]}}`},
	{name: "PushChannel/unknown_channel", target: tPushCh, body: `{"channel_id":"nobody","data":{}}`},
	{name: "PushChannel/missing_data", target: tPushCh, body: `{"channel_id":"sora"}`},
	{name: "PushChannel/data_not_object", target: tPushCh, body: `{"channel_id":"sora","data":"egg"}`},
	{name: "PushClient/ok", target: tPushCl, body: `{"channel_id":"sora","client_id":"alice","data":{"to":"alice"}}`},
	{name: "PushClient/unknown_client", target: tPushCl, body: `{"channel_id":"sora","client_id":"carol","data":{}}`},
	{name: "PushConnection/ok", target: tPushCo, body: `{"channel_id":"akane","connection_id":"` + idD + `","data":{"hello":"D"}}`},
	{name: "PushConnection/unknown_connection", target: tPushCo, body: `{"channel_id":"akane","connection_id":"` + idA + `","data":{}}`},
	{name: "PushChannelByRole/ok", target: tPushRo, body: `{"channel_id":"sora","role":"sendrecv","data":{"role":"sendrecv"}}`},
	{name: "PushChannelByRole/bad_role", target: tPushRo, body: `{"channel_id":"sora","role":"SENDRECV","data":{}}`},

	// --- mode ---
	{name: "GetMode/normal", target: tGetMod},
	{name: "ChangeMode/block_new_connection", target: tMode, body: `{"mode":"block_new_connection"}`,
		after: func(e *env) {
			tryJoin("E", "sora")(e)
			tryJoin("F", "new-channel")(e)
			e.fx.add("A still in sora: %v", e.peers["A"].c.Info().ConnectionID == idA && inChannel(e.reg, "sora", idA))
		}},
	{name: "ChangeMode/block_new_session", target: tMode, body: `{"mode":"block_new_session"}`,
		after: func(e *env) {
			tryJoin("E", "sora")(e)
			tryJoin("F", "new-channel")(e)
		}},
	{name: "ChangeMode/back_to_normal", target: tMode, body: `{"mode":"normal"}`,
		before: func(e *env) { _ = e.reg.SetMode(room.ModeBlockNewConnection) },
		after:  tryJoin("F", "new-channel")},
	{name: "ChangeMode/unknown_mode", target: tMode, body: `{"mode":"initial"}`},
	{name: "ChangeMode/missing_mode", target: tMode, body: `{}`},
	{name: "GetMode/after_change", target: tGetMod, before: func(e *env) { _ = e.reg.SetMode(room.ModeBlockNewSession) }},

	// --- signaling notify metadata ext ---
	{name: "ListSignalingNotifyMetadata/ok", target: tMdList, body: `{"channel_id":"sora"}`, before: putMeta},
	{name: "ListSignalingNotifyMetadata/unknown_channel", target: tMdList, body: `{"channel_id":"nobody"}`},
	{name: "GetSignalingNotifyMetadata/ok", target: tMdGet, body: `{"channel_id":"sora","connection_id":"` + idA + `"}`, before: putMeta},
	{name: "GetSignalingNotifyMetadata/unset", target: tMdGet, body: `{"channel_id":"sora","connection_id":"` + idB + `"}`},
	{name: "GetSignalingNotifyMetadata/unknown_connection", target: tMdGet, body: `{"channel_id":"sora","connection_id":"` + idD + `"}`},
	{name: "PutSignalingNotifyMetadata/ok", target: tMdPut, body: `{"channel_id":"sora","connection_id":"` + idA + `","metadata":{"abc": "efg"}}`, before: putMeta},
	{name: "PutSignalingNotifyMetadata/push", target: tMdPut, body: `{"channel_id":"sora","connection_id":"` + idB + `","metadata":{"abc":"efg"},"push":true}`},
	{name: "PutSignalingNotifyMetadata/metadata_not_object", target: tMdPut, body: `{"channel_id":"sora","connection_id":"` + idA + `","metadata":[1]}`},
	{name: "PutSignalingNotifyMetadata/push_not_bool", target: tMdPut, body: `{"channel_id":"sora","connection_id":"` + idA + `","metadata":{},"push":"yes"}`},
	{name: "DeleteSignalingNotifyMetadata/ok", target: tMdDel, body: `{"channel_id":"sora","connection_id":"` + idA + `"}`, before: putMeta,
		after: func(e *env) { m, _ := e.reg.MetadataExt(idA); e.fx.add("A's metadata now: %d keys", len(m)) }},
	{name: "DeleteSignalingNotifyMetadata/push", target: tMdDel, body: `{"channel_id":"sora","connection_id":"` + idA + `","push":true}`, before: putMeta},
	{name: "DeleteSignalingNotifyMetadata/unset", target: tMdDel, body: `{"channel_id":"sora","connection_id":"` + idB + `"}`},
	{name: "PutSignalingNotifyMetadataItem/ok", target: tMdPutI, body: `{"channel_id":"sora","connection_id":"` + idB + `","key":"abc","value":"efg"}`},
	{name: "PutSignalingNotifyMetadataItem/push", target: tMdPutI, body: `{"channel_id":"sora","connection_id":"` + idA + `","key":"abc","value":{"x": [1, true]},"push":true}`, before: putMeta},
	{name: "PutSignalingNotifyMetadataItem/null_value", target: tMdPutI, body: `{"channel_id":"sora","connection_id":"` + idB + `","key":"k","value":null}`},
	{name: "PutSignalingNotifyMetadataItem/missing_value", target: tMdPutI, body: `{"channel_id":"sora","connection_id":"` + idB + `","key":"k"}`},
	{name: "PutSignalingNotifyMetadataItem/missing_key", target: tMdPutI, body: `{"channel_id":"sora","connection_id":"` + idB + `","value":1}`},
	{name: "DeleteSignalingNotifyMetadataItem/push", target: tMdDelI, body: `{"channel_id":"sora","connection_id":"` + idA + `","key":"abc","push":true}`, before: putMeta},
	{name: "DeleteSignalingNotifyMetadataItem/absent_key", target: tMdDelI, body: `{"channel_id":"sora","connection_id":"` + idB + `","key":"abc"}`},
	{name: "DeleteSignalingNotifyMetadataItem/key_number", target: tMdDelI, body: `{"channel_id":"sora","connection_id":"` + idB + `","key":1}`},

	// --- stats ---
	{name: "GetStatsReport/ok", target: tReport, before: func(e *env) {
		// One created connection leaves after 90 s, one never comes up,
		// one connect is refused by the mode.
		e.advance(90 * time.Second)
		e.peers["B"].c.Leave()
		e.peers["C"].c.Leave()
		_ = e.reg.SetMode(room.ModeBlockNewConnection)
		p := &fakePeer{name: "G", fx: e.fx}
		r := joinReq("sora", "", room.RoleSendRecv)
		r.SoraClient = "Sora Python SDK 2025.1.0"
		_, _ = e.reg.Join(r, p)
		_ = e.reg.SetMode(room.ModeNormal)
	}},
	{name: "GetStatsReport/empty", target: tReport, empty: true},
	{name: "GetStatsAllConnections/ok", target: tStAll},
	{name: "GetStatsConnection/ok", target: tStConn, body: `{"channel_id":"sora","connection_id":"` + idA + `"}`},
	{name: "GetStatsConnection/unknown_connection", target: tStConn, body: `{"channel_id":"sora","connection_id":"nope"}`},
	{name: "GetStatsClient/ok", target: tStCl, body: `{"channel_id":"sora","client_id":"alice"}`},
	{name: "GetStatsClient/unknown_client", target: tStCl, body: `{"channel_id":"sora","client_id":"carol"}`},

	// --- license, crash log ---
	{name: "GetLicense/default", target: tLic},
	{name: "GetLicense/configured", target: tLic, cfg: func(c *Config) {
		c.License = License{ExpiredAt: "2027-03", MaxConnections: 500, SerialCode: "EXAMPLE-0001", Type: "Production"}
	}},
	{name: "GenerateCrashLog/ok", target: tCrash, body: `{"info":{"spam":"egg"}}`, check: checkCrashLog},
}

func channelIDs(reg *room.Registry) []string {
	var out []string
	for _, c := range reg.Channels() {
		out = append(out, c.ChannelID)
	}
	return out
}

func inChannel(reg *room.Registry, channel, id string) bool {
	for _, c := range reg.Connections(channel) {
		if c.ConnectionID == id {
			return true
		}
	}
	return false
}

func checkCrashLog(t *testing.T, e *env, body []byte) {
	var r crashLogResult
	if err := json.Unmarshal(body, &r); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(r.Path)
	if err != nil {
		t.Fatalf("the crash log %s: %v", r.Path, err)
	}
	for _, want := range []string{`"spam": "egg"`, "goroutine ", "HeapAlloc", "version: 2026.1.0-test", "connections: 4"} {
		if !bytes.Contains(b, []byte(want)) {
			t.Errorf("the crash log lacks %q:\n%.2000s", want, b)
		}
	}
}

func TestGolden(t *testing.T) {
	seen := map[string]bool{}
	for _, tc := range goldenCases {
		if seen[tc.name] {
			t.Fatalf("duplicate case %s", tc.name)
		}
		seen[tc.name] = true
		t.Run(tc.name, func(t *testing.T) {
			var cfgs []func(*Config)
			if tc.cfg != nil {
				cfgs = append(cfgs, tc.cfg)
			}
			e := newEnv(t, cfgs...)
			if !tc.empty {
				e.world()
			}
			if tc.before != nil {
				tc.before(e)
			}
			got, body := exchange(t, e, tc)
			if tc.check != nil {
				tc.check(t, e, body)
			}
			if !tc.keepPath {
				got = normalisePaths(got, e.api.cfg.CrashLogDir)
			}
			compareGolden(t, filepath.Join("testdata", "golden", tc.name+".txt"), got)
		})
	}
}

// exchange runs one request through ServeHTTP and renders the transcript.
// runGoldenCases runs a set of golden cases whose names must not repeat
// goldenCases', each in an env that setup builds.
func runGoldenCases(t *testing.T, cases []goldenCase, setup func(*testing.T, ...func(*Config)) *env) {
	seen := map[string]bool{}
	for _, tc := range goldenCases {
		seen[tc.name] = true
	}
	for _, tc := range cases {
		if seen[tc.name] {
			t.Fatalf("duplicate case %s", tc.name)
		}
		seen[tc.name] = true
		t.Run(tc.name, func(t *testing.T) {
			var cfgs []func(*Config)
			if tc.cfg != nil {
				cfgs = append(cfgs, tc.cfg)
			}
			e := setup(t, cfgs...)
			if tc.before != nil {
				tc.before(e)
			}
			got, body := exchange(t, e, tc)
			if tc.check != nil {
				tc.check(t, e, body)
			}
			compareGolden(t, filepath.Join("testdata", "golden", tc.name+".txt"), got)
		})
	}
}

func exchange(t *testing.T, e *env, tc goldenCase) (string, []byte) {
	t.Helper()
	method, path := tc.method, tc.path
	if method == "" {
		method = http.MethodPost
	}
	if path == "" {
		path = "/"
	}
	req := httptest.NewRequest(method, path, strings.NewReader(tc.body))
	if tc.chunked {
		req.ContentLength = -1
	}
	if tc.remote != "" {
		req.RemoteAddr = tc.remote
	}
	if tc.target != "" {
		req.Header.Set("x-sora-target", tc.target)
	}
	if tc.body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	var out strings.Builder
	out.WriteString(method + " " + path + " HTTP/1.1\n")
	if tc.target != "" {
		out.WriteString("x-sora-target: " + tc.target + "\n")
	}
	if tc.remote != "" {
		out.WriteString("(from " + tc.remote + ")\n")
	}
	out.WriteString("\n")
	if tc.body != "" {
		b := tc.body
		if len(b) > 300 {
			b = b[:300] + "… (" + strconv.Itoa(len(tc.body)) + " bytes)"
		}
		out.WriteString(strings.ToValidUTF8(b, "\\xff") + "\n")
	}

	e.fx.start()
	rec := httptest.NewRecorder()
	e.api.ServeHTTP(rec, req)
	res := rec.Result()
	body := rec.Body.Bytes()
	if tc.after != nil {
		tc.after(e)
	}
	fx := e.fx.stop()

	fmt.Fprintf(&out, "\nHTTP/1.1 %d %s\n", res.StatusCode, http.StatusText(res.StatusCode))
	var keys []string
	for k := range res.Header {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		if k == "Content-Length" {
			continue // checked below; it depends on the normalised paths
		}
		for _, v := range res.Header[k] {
			out.WriteString(strings.ToLower(k) + ": " + v + "\n")
		}
	}
	out.WriteString("\n")
	out.Write(body)
	out.WriteString("\n")
	if len(fx) > 0 {
		out.WriteString("\n-- effects --\n" + strings.Join(fx, "\n") + "\n")
	}

	// What every response must be, whatever the case.
	if res.StatusCode == http.StatusNoContent {
		if len(body) != 0 {
			t.Errorf("204 with a body: %q", body)
		}
	} else {
		if ct := res.Header.Get("Content-Type"); ct != "application/json" {
			t.Errorf("content-type %q", ct)
		}
		if cl := res.Header.Get("Content-Length"); cl != strconv.Itoa(len(body)) {
			t.Errorf("content-length %s, body %d bytes", cl, len(body))
		}
		if !json.Valid(body) {
			t.Errorf("the body is not JSON: %s", body)
		}
		if res.StatusCode != http.StatusOK {
			var eb struct {
				ErrorType   string         `json:"error_type"`
				ErrorReason map[string]any `json:"error_reason"`
			}
			if err := json.Unmarshal(body, &eb); err != nil || eb.ErrorType == "" || eb.ErrorReason["message"] == nil {
				t.Errorf("error body %s lacks error_type or error_reason.message", body)
			}
		}
	}
	return out.String(), body
}

var crashName = regexp.MustCompile(`hayate-crash-\d{8}T\d{6}Z-\d+\.log`)

func normalisePaths(s, dir string) string {
	s = strings.ReplaceAll(s, dir, "$CRASH_LOG_DIR")
	return crashName.ReplaceAllString(s, "hayate-crash-20261127T134533Z-N.log")
}

func compareGolden(t *testing.T, path, got string) {
	t.Helper()
	if *update {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test ./ctrl/api -run TestGolden -update)", err)
	}
	if string(want) != got {
		t.Errorf("%s differs (go test ./ctrl/api -run TestGolden -update rewrites it)\n--- got ---\n%s\n--- want ---\n%s", path, got, want)
	}
}
