package room

import (
	"encoding/json"
	"errors"
	"testing"
	"time"
)

func TestSoraClientType(t *testing.T) {
	for in, want := range map[string]string{
		"Sora JavaScript SDK 2026.1.0":                          "sora_js_sdk",
		"Sora Android SDK 2025.1.0":                             "sora_android_sdk",
		"Sora iOS SDK 2025.1.0":                                 "sora_ios_sdk",
		"Sora Unity SDK 2025.1.0 (Windows)":                     "sora_unity_sdk",
		"Sora C++ SDK 2025.1.0 (Ubuntu 24.04 x86_64)":           "sora_cpp_sdk",
		"Sora C SDK 2025.1.0":                                   "sora_c_sdk",
		"Sora Flutter SDK 2025.1.0":                             "sora_flutter_sdk",
		"Sora Python SDK 2025.1.0":                              "sora_python_sdk",
		"WebRTC Native Client Momo 2025.1.0 (Raspberry Pi OS)":  "webrtc_native_client_momo",
		"WebRTC Load Testing Tool Zakuro 2025.1.0 (macOS 15.1)": "webrtc_load_testing_tool_zakuro",
		"OBS-Studio WHIP 31.0":                                  "obs_studio_whip",
		"":                                                      "unknown",
		"my own client":                                         "unknown",
		"Sora":                                                  "unknown",
	} {
		if got := SoraClientType(in); got != want {
			t.Errorf("SoraClientType(%q) = %q, want %q", in, got, want)
		}
	}
	for _, typ := range SoraClientTypes {
		if typ == "" {
			t.Error("empty client type")
		}
	}
}

// TestMode: block_new_connection refuses every connect, block_new_session
// those that would start a session, with close 4503 naming the mode; the
// connections already there are untouched.
func TestMode(t *testing.T) {
	e := newEnv(t)
	a := e.join("A", req(RoleSendRecv))
	a.connect(t)
	if m := e.reg.Mode(); m != ModeNormal {
		t.Fatalf("a new registry is in mode %q", m)
	}
	if err := e.reg.SetMode("initial"); !errors.Is(err, ErrInvalidRequest) {
		t.Errorf("SetMode(initial) = %v, want ErrInvalidRequest", err)
	}

	refused := func(name string, r JoinRequest, mode Mode) {
		t.Helper()
		p := &fakePeer{name: name, log: e.log}
		transports := len(e.fac.transports)
		c, err := e.reg.Join(r, p)
		if !errors.Is(err, ErrBlocked) || c != nil {
			t.Fatalf("%s: Join = %v, %v; want ErrBlocked", name, c, err)
		}
		if p.closeCode != CloseModeBlocked || p.closeReason != "MODE-BLOCKED: "+string(mode) {
			t.Errorf("%s: closed %d %q, want %d %q", name, p.closeCode, p.closeReason, CloseModeBlocked, "MODE-BLOCKED: "+string(mode))
		}
		if len(e.fac.transports) != transports {
			t.Errorf("%s: a refused connect created a transport", name)
		}
	}

	if err := e.reg.SetMode(ModeBlockNewConnection); err != nil {
		t.Fatal(err)
	}
	refused("B", req(RoleRecvOnly), ModeBlockNewConnection)
	other := req(RoleSendRecv)
	other.ChannelID = "room-2"
	refused("C", other, ModeBlockNewConnection)

	if err := e.reg.SetMode(ModeBlockNewSession); err != nil {
		t.Fatal(err)
	}
	refused("D", other, ModeBlockNewSession)
	e.join("E", req(RoleRecvOnly)) // room-1 has a session: admitted

	if err := e.reg.SetMode(ModeNormal); err != nil {
		t.Fatal(err)
	}
	e.join("F", other)
	if code, _ := a.p.closeCode, a.p.closeReason; code != 0 {
		t.Errorf("A was closed (%d) by mode changes", code)
	}
	if got := len(e.reg.Connections("room-1")); got != 2 {
		t.Errorf("room-1 has %d connections, want A and E", got)
	}
	if st := e.reg.Stats(); st.ConnectionsFailed != 3 || st.Clients["unknown"].Failed != 3 {
		t.Errorf("Stats after 3 refusals: failed %d, clients %+v", st.ConnectionsFailed, st.Clients)
	}
}

func TestStats(t *testing.T) {
	e := newEnv(t)
	r := req(RoleSendRecv)
	r.SoraClient = "Sora JavaScript SDK 2026.1.0"
	a := e.join("A", r)
	e.advance(200 * time.Millisecond)
	a.connect(t)
	e.advance(10 * time.Second)
	b := e.join("B", req(RoleRecvOnly))
	e.advance(400 * time.Millisecond)
	b.connect(t)
	c := e.join("C", req(RoleRecvOnly)) // never comes up
	e.advance(20 * time.Second)
	b.c.Leave()
	c.c.Leave()
	e.advance(30 * time.Second)

	st := e.reg.Stats()
	// A: created at 0.2 s, alive at 60.6 s → 60.4 s; B: 10.6 → 30.6 s = 20 s.
	want := Stats{
		ConnectionsCreated: 2, ConnectionsDestroyed: 1, ConnectionsOngoing: 1, ConnectionsFailed: 1,
		SessionsCreated: 1, SessionsDestroyed: 0,
		Duration: 80400 * time.Millisecond, Setup: 600 * time.Millisecond,
	}
	got := st
	got.Clients, got.Transport = nil, want.Transport
	if got.ConnectionsCreated != want.ConnectionsCreated || got.ConnectionsDestroyed != want.ConnectionsDestroyed ||
		got.ConnectionsOngoing != want.ConnectionsOngoing || got.ConnectionsFailed != want.ConnectionsFailed ||
		got.SessionsCreated != want.SessionsCreated || got.SessionsDestroyed != want.SessionsDestroyed ||
		got.Duration != want.Duration || got.Setup != want.Setup {
		t.Errorf("Stats = %+v\nwant    %+v", got, want)
	}
	if cc := st.Clients["sora_js_sdk"]; cc != (ClientCount{Successful: 1}) {
		t.Errorf("sora_js_sdk %+v, want 1 successful", cc)
	}
	if cc := st.Clients["unknown"]; cc != (ClientCount{Successful: 1, Failed: 1}) {
		t.Errorf("unknown %+v, want 1 successful (B), 1 failed (C)", cc)
	}

	a.c.Leave()
	if st := e.reg.Stats(); st.SessionsDestroyed != 1 || st.ConnectionsOngoing != 0 || st.ConnectionsDestroyed != 2 {
		t.Errorf("after everyone left: %+v", st)
	}
}

func TestMetadataExt(t *testing.T) {
	e := newEnv(t)
	a := e.join("A", req(RoleSendRecv))
	id := a.c.ID()
	m, err := e.reg.MetadataExt(id)
	if err != nil || len(m) != 0 {
		t.Fatalf("MetadataExt of a new connection = %v, %v; want empty", m, err)
	}
	prev, next, err := e.reg.UpdateMetadataExt(id, func(cur map[string]json.RawMessage) map[string]json.RawMessage {
		if cur == nil {
			cur = map[string]json.RawMessage{}
		}
		cur["k"] = json.RawMessage(`1`)
		return cur
	})
	if err != nil || len(prev) != 0 || string(next["k"]) != "1" {
		t.Fatalf("UpdateMetadataExt = %v, %v, %v", prev, next, err)
	}
	next["k"] = json.RawMessage(`2`) // a copy: the room's value stays
	if m, _ := e.reg.MetadataExt(id); string(m["k"]) != "1" {
		t.Errorf("the metadata changed through a returned copy: %v", m)
	}
	if _, err := e.reg.MetadataExt("nope"); !errors.Is(err, ErrUnknownConnection) {
		t.Errorf("MetadataExt(nope) = %v, want ErrUnknownConnection", err)
	}
	a.c.Leave()
	if _, _, err := e.reg.UpdateMetadataExt(id, func(m map[string]json.RawMessage) map[string]json.RawMessage { return m }); !errors.Is(err, ErrUnknownConnection) {
		t.Errorf("UpdateMetadataExt after leave = %v, want ErrUnknownConnection", err)
	}
	if len(e.reg.admin.ext) != 0 {
		t.Errorf("metadata ext kept after leave: %v", e.reg.admin.ext)
	}
}
