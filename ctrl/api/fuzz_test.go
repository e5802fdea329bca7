package api

import (
	"encoding/json"
	"hash/fnv"
	"net/http"
	"slices"
	"testing"

	"github.com/hayate-sfu/hayate/ctrl/room"
)

// FuzzCall runs arbitrary bodies through the dispatch: under the target as
// given (mostly unknown ones once mutated) and under an implemented target
// picked from it, so every request decoder and handler sees every body. The
// answer must always be JSON with a status from the package doc's table,
// and an error must have the documented shape; nothing may panic (Call's
// own recovery would turn a panic into a 500, which fails here too).
func FuzzCall(f *testing.F) {
	for _, tc := range slices.Concat(goldenCases, extGoldenCases) {
		if tc.method == "" && tc.path == "" && !tc.chunked && tc.cfg == nil {
			f.Add(tc.target, []byte(tc.body))
		}
	}
	var implemented []string
	for _, t := range Targets() {
		if t.Implemented && t.Name != "Sora_20221221.GenerateCrashLog" { // it writes files
			implemented = append(implemented, t.Name)
		}
	}
	e := newExtEnvTB(f) // with the user-agent stats store and audio streaming
	allowed := map[int]bool{200: true, 400: true, 404: true, 501: true}
	f.Fuzz(func(t *testing.T, target string, body []byte) {
		e.t = t
		if len(e.reg.Connections("")) < 2 { // the disconnects empty the world
			_ = e.reg.SetMode(room.ModeNormal)
			e.world()
		}
		h := fnv.New32a()
		h.Write([]byte(target))
		for _, tg := range []string{target, implemented[int(h.Sum32())%len(implemented)]} {
			if tg == "Sora_20221221.GenerateCrashLog" {
				continue
			}
			status, resp := e.api.Call(tg, body)
			if !allowed[status] {
				t.Fatalf("Call(%q, %q) = %d %s", tg, body, status, resp)
			}
			if !json.Valid(resp) {
				t.Fatalf("Call(%q, %q) answered non-JSON %q", tg, body, resp)
			}
			if status == http.StatusOK {
				continue
			}
			var eb struct {
				ErrorType   string         `json:"error_type"`
				ErrorReason map[string]any `json:"error_reason"`
			}
			if err := json.Unmarshal(resp, &eb); err != nil || eb.ErrorType == "" || eb.ErrorReason["message"] == nil {
				t.Fatalf("Call(%q, %q) = %d with a malformed error %s", tg, body, status, resp)
			}
		}
	})
}
