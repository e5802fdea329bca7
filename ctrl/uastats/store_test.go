package uastats

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

var t0 = time.Date(2021, 11, 13, 13, 5, 33, 264_000_000, time.UTC)

// chromeReport is the shape of a pong's stats (the seed document's
// example, shortened), spread over lines as a client may send it.
const chromeReport = `[
  {"audioLevel": 0, "id": "RTCAudioSource_1", "kind": "audio",
   "timestamp": 1636808733258.573, "totalAudioEnergy": 0,
   "totalSamplesDuration": 90.08000000000918,
   "trackIdentifier": "222a181f-d0fe-4434-b7a1-a8e05e3abbb4", "type": "media-source"},
  {"id": "OT01V1234", "type": "outbound-rtp", "bytesSent": 123456, "kind": "video"}
]`

func newStore(t testing.TB, max int) *Store {
	t.Helper()
	s, err := New(Config{MaxReportBytes: max})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestRecord(t *testing.T) {
	conn := ConnInfo{ChannelID: "sora", SessionID: "S1", ClientID: "alice", ConnectionID: "C1"}
	for _, tc := range []struct {
		name    string
		info    ConnInfo
		report  string
		max     int
		wantErr error
		want    string // compact report kept
	}{
		{name: "chrome report", info: conn, report: chromeReport,
			want: `[{"audioLevel":0,"id":"RTCAudioSource_1","kind":"audio","timestamp":1636808733258.573,"totalAudioEnergy":0,"totalSamplesDuration":90.08000000000918,"trackIdentifier":"222a181f-d0fe-4434-b7a1-a8e05e3abbb4","type":"media-source"},{"id":"OT01V1234","type":"outbound-rtp","bytesSent":123456,"kind":"video"}]`},
		{name: "empty array", info: conn, report: ` [] `, want: `[]`},
		{name: "array of anything", info: conn, report: `[1,"x",null]`, want: `[1,"x",null]`},
		{name: "exactly the limit", info: conn, report: `[1,2,3]`, max: 7, want: `[1,2,3]`},
		{name: "over the limit", info: conn, report: `[1,2,3,4]`, max: 7, wantErr: ErrTooLarge},
		{name: "object", info: conn, report: `{"type":"pong"}`, wantErr: ErrNotArray},
		{name: "null", info: conn, report: `null`, wantErr: ErrNotArray},
		{name: "empty", info: conn, report: ``, wantErr: ErrNotArray},
		{name: "unterminated", info: conn, report: `[{"a":1]`, wantErr: ErrNotArray},
		{name: "not UTF-8", info: conn, report: "[\"\xff\"]", wantErr: ErrNotArray},
		{name: "two arrays", info: conn, report: `[1] [2]`, wantErr: ErrNotArray},
		{name: "no connection id", info: ConnInfo{ChannelID: "sora"}, report: `[]`, wantErr: ErrNoConnection},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := newStore(t, tc.max)
			err := s.Record(tc.info, json.RawMessage(tc.report), t0)
			if !errors.Is(err, tc.wantErr) {
				t.Fatalf("Record(%q) = %v, want %v", tc.report, err, tc.wantErr)
			}
			r, ok := s.Get(tc.info.ConnectionID)
			if tc.wantErr != nil {
				if ok {
					t.Fatalf("a refused report was kept: %s", r.Stats)
				}
				if err.Error() == tc.wantErr.Error() && tc.wantErr != ErrNoConnection {
					t.Errorf("the error %q does not say more than the sentinel", err)
				}
				return
			}
			if !ok || string(r.Stats) != tc.want || r.ConnInfo != tc.info || !r.At.Equal(t0) {
				t.Fatalf("Get = %+v, %v; want stats %s", r, ok, tc.want)
			}
		})
	}
}

func TestRecordErrorNamesConnection(t *testing.T) {
	s := newStore(t, 4)
	err := s.Record(ConnInfo{ChannelID: "sora", ConnectionID: "CONN-X"}, json.RawMessage(`[1,2,3]`), t0)
	if err == nil || !strings.Contains(err.Error(), "CONN-X") || !strings.Contains(err.Error(), "7 bytes") {
		t.Fatalf("error %v does not name the connection and size", err)
	}
}

// A refused report leaves the previous one; a good one replaces it.
func TestRecordReplaces(t *testing.T) {
	s := newStore(t, 0)
	c := ConnInfo{ChannelID: "sora", ConnectionID: "C1"}
	mustRecord(t, s, c, `[1]`, t0)
	if err := s.Record(c, json.RawMessage(`{}`), t0.Add(time.Second)); !errors.Is(err, ErrNotArray) {
		t.Fatal(err)
	}
	if r, _ := s.Get("C1"); string(r.Stats) != `[1]` || !r.At.Equal(t0) {
		t.Fatalf("after a refused report: %s at %v", r.Stats, r.At)
	}
	mustRecord(t, s, c, `[2]`, t0.Add(5*time.Second))
	if r, _ := s.Get("C1"); string(r.Stats) != `[2]` || !r.At.Equal(t0.Add(5*time.Second)) {
		t.Fatalf("after a new report: %s at %v", r.Stats, r.At)
	}
	if got := s.Counters(); got != (Counters{Recorded: 2, Invalid: 1}) {
		t.Fatalf("counters %+v", got)
	}
}

// The Store keeps its own copy: the caller may reuse its buffer.
func TestRecordCopies(t *testing.T) {
	s := newStore(t, 0)
	buf := []byte(`["abc"]`)
	mustRecord(t, s, ConnInfo{ConnectionID: "C1"}, string(buf), t0)
	if err := s.Record(ConnInfo{ConnectionID: "C2"}, buf, t0); err != nil {
		t.Fatal(err)
	}
	copy(buf, `["xyz"]`)
	if r, _ := s.Get("C2"); string(r.Stats) != `["abc"]` {
		t.Fatalf("the report changed with the caller's buffer: %s", r.Stats)
	}
}

// A kept report takes its compressed size; Get hands out a copy of its own
// every time; replacing and forgetting reports keeps the count of kept
// bytes right; Record allocates only what it keeps.
func TestKeptCompressed(t *testing.T) {
	s := newStore(t, 1<<20)
	r8, r40 := loadReport(t, "report-8k.json"), loadReport(t, "report-40k.json")
	c1, c2 := ConnInfo{ConnectionID: "C1"}, ConnInfo{ConnectionID: "C2"}
	mustRecord(t, s, c1, string(r8), t0)
	k8 := s.KeptBytes()
	if k8 == 0 || k8 > len(r8)*3/10 {
		t.Fatalf("an %d-byte report takes %d bytes, want at most 30 %%", len(r8), k8)
	}
	mustRecord(t, s, c2, string(r40), t0)
	k40 := s.KeptBytes() - k8
	if k40 == 0 || k40 > len(r40)/8 {
		t.Fatalf("a %d-byte report takes %d bytes, want at most an eighth", len(r40), k40)
	}
	a, _ := s.Get("C2")
	a.Stats[0] = 'x'
	if b, _ := s.Get("C2"); !bytes.Equal(b.Stats, r40) {
		t.Fatal("changing what Get returned changed the kept report")
	}
	mustRecord(t, s, c2, string(r8), t0) // replaces C2's
	if got := s.KeptBytes(); got != 2*k8 {
		t.Fatalf("after replacing: %d bytes kept, want %d", got, 2*k8)
	}
	s.Forget("C1")
	s.Forget("C1")
	s.Forget("C2")
	if got := s.KeptBytes(); got != 0 {
		t.Fatalf("after forgetting all: %d bytes kept", got)
	}
	if n := testing.AllocsPerRun(100, func() { _ = s.Record(c1, r8, t0) }); n > 2 {
		t.Fatalf("Record allocates %v times, want 2 (the report and its entry)", n)
	}
}

func mustRecord(t *testing.T, s *Store, c ConnInfo, report string, at time.Time) {
	t.Helper()
	if err := s.Record(c, json.RawMessage(report), at); err != nil {
		t.Fatal(err)
	}
}

func TestListForgetPrune(t *testing.T) {
	s := newStore(t, 0)
	mustRecord(t, s, ConnInfo{ChannelID: "sora", ConnectionID: "B"}, `[2]`, t0.Add(2*time.Second))
	mustRecord(t, s, ConnInfo{ChannelID: "zakuro", ConnectionID: "Z"}, `[3]`, t0)
	mustRecord(t, s, ConnInfo{ChannelID: "sora", ConnectionID: "A"}, `[1]`, t0.Add(time.Second))
	mustRecord(t, s, ConnInfo{ChannelID: "sora", ConnectionID: "C"}, `[4]`, t0.Add(time.Second))

	ids := func(rs []Report) string {
		var out []string
		for _, r := range rs {
			out = append(out, r.ChannelID+"/"+r.ConnectionID)
		}
		return strings.Join(out, " ")
	}
	if got := ids(s.List("")); got != "sora/A sora/C sora/B zakuro/Z" {
		t.Fatalf("List(\"\") = %s", got)
	}
	if got := ids(s.List("sora")); got != "sora/A sora/C sora/B" {
		t.Fatalf("List(sora) = %s", got)
	}
	if got := s.List("nobody"); len(got) != 0 {
		t.Fatalf("List(nobody) = %v", got)
	}
	s.Forget("A")
	s.Forget("never-seen")
	if _, ok := s.Get("A"); ok || s.Len() != 3 {
		t.Fatalf("after Forget(A): Len %d", s.Len())
	}
	if n := s.Prune(func(id string) bool { return id != "Z" }); n != 1 {
		t.Fatalf("Prune dropped %d, want 1", n)
	}
	if got := ids(s.List("")); got != "sora/C sora/B" {
		t.Fatalf("after Prune: %s", got)
	}
}

func TestMetrics(t *testing.T) {
	reg := prometheus.NewRegistry()
	s, err := New(Config{MaxReportBytes: 8, Registerer: reg})
	if err != nil {
		t.Fatal(err)
	}
	_ = s.Record(ConnInfo{ConnectionID: "C1"}, json.RawMessage(`[1]`), t0)
	_ = s.Record(ConnInfo{ConnectionID: "C1"}, json.RawMessage(`[1,2,3,4,5]`), t0)
	_ = s.Record(ConnInfo{ConnectionID: "C1"}, json.RawMessage(`"x"`), t0)
	want := `
# HELP hayate_user_agent_stats_connections Connections whose last stats report the server keeps.
# TYPE hayate_user_agent_stats_connections gauge
hayate_user_agent_stats_connections 1
# HELP hayate_user_agent_stats_reports_total Client RTC stats reports (pong.stats, DataChannel stats) by result: recorded, too_large or invalid (the last two dropped).
# TYPE hayate_user_agent_stats_reports_total counter
hayate_user_agent_stats_reports_total{result="invalid"} 1
hayate_user_agent_stats_reports_total{result="recorded"} 1
hayate_user_agent_stats_reports_total{result="too_large"} 1
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want), "hayate_user_agent_stats_connections",
		"hayate_user_agent_stats_reports_total"); err != nil {
		t.Fatal(err)
	}
	if got := testutil.ToFloat64(s.keptGauge); got != float64(s.KeptBytes()) || got == 0 {
		t.Fatalf("hayate_user_agent_stats_bytes %v, KeptBytes %d", got, s.KeptBytes())
	}
	if _, err := New(Config{Registerer: reg}); !errors.Is(err, ErrConfig) {
		t.Fatalf("registering twice: %v", err)
	}
	if _, err := New(Config{MaxReportBytes: -1}); !errors.Is(err, ErrConfig) {
		t.Fatalf("negative limit: %v", err)
	}
}

// Records, reads and forgets from many goroutines (run with -race).
func TestConcurrent(t *testing.T) {
	s := newStore(t, 0)
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 200 {
				id := fmt.Sprintf("C%d", i%10)
				_ = s.Record(ConnInfo{ChannelID: fmt.Sprint("ch", g%2), ConnectionID: id}, json.RawMessage(`[{"i":1}]`), t0)
				_ = s.List("ch0")
				_, _ = s.Get(id)
				if i%7 == 0 {
					s.Forget(id)
				}
			}
		}()
	}
	wg.Wait()
	if s.Len() > 10 {
		t.Fatalf("%d reports for 10 connection ids", s.Len())
	}
}

// FuzzRecord: whatever a client sends, Record keeps exactly what
// json.Compact makes of it when it is a UTF-8 JSON array within the limit
// (encoding/json's judgement), and otherwise refuses it with one of its
// errors and keeps nothing.
func FuzzRecord(f *testing.F) {
	for _, s := range []string{chromeReport, `[]`, `{}`, `null`, `[1,`, " \t[\n]\r\n", `["\u00e9\ud800"]`, `[1e999]`,
		`[" a ", "\" b"]`, `["\u12G4"]`, "[\"\x01\"]", `[-0.5e+3,01]`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		s := newStore(t, 4096)
		err := s.Record(ConnInfo{ChannelID: "sora", ConnectionID: "C1"}, b, t0)
		r, ok := s.Get("C1")
		var want bytes.Buffer
		valid := len(b) <= 4096 && utf8.Valid(b) && isArray(b) && json.Compact(&want, b) == nil
		switch {
		case err != nil:
			if ok || !(errors.Is(err, ErrNotArray) || errors.Is(err, ErrTooLarge)) {
				t.Fatalf("Record(%q) = %v, kept %v", b, err, ok)
			}
			if valid {
				t.Fatalf("Record(%q) = %v; encoding/json takes it", b, err)
			}
		case !ok:
			t.Fatalf("Record(%q) succeeded and kept nothing", b)
		case !valid:
			t.Fatalf("Record(%q) kept %q; encoding/json refuses it", b, r.Stats)
		case !bytes.Equal(r.Stats, want.Bytes()):
			t.Fatalf("Record(%q) kept %q, json.Compact makes %q", b, r.Stats, want.Bytes())
		}
	})
}

// Record runs on each connection's own goroutine (signaling's owner), once
// per ping: it must not leave those goroutines with large stacks. 200
// goroutines that each recorded a 40 kB report and wait take at most 16 KiB
// of stack each (a compressor with a 32 kB table on the stack makes 64).
func TestRecordKeepsCallersStacksSmall(t *testing.T) {
	s := newStore(t, 1<<20)
	r40 := loadReport(t, "report-40k.json")
	_ = s.Record(ConnInfo{ConnectionID: "warm"}, r40, t0) // the compressor's first use
	const n = 200
	var ms runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&ms)
	before := ms.StackInuse
	var recorded sync.WaitGroup
	release := make(chan struct{})
	var done sync.WaitGroup
	for i := range n {
		recorded.Add(1)
		done.Add(1)
		go func() {
			defer done.Done()
			if err := s.Record(ConnInfo{ConnectionID: "C" + strconv.Itoa(i)}, r40, t0); err != nil {
				t.Error(err)
			}
			recorded.Done()
			<-release
		}()
	}
	recorded.Wait()
	runtime.ReadMemStats(&ms)
	grown := int64(ms.StackInuse) - int64(before)
	close(release)
	done.Wait()
	if per := grown / n; per > 16<<10 {
		t.Fatalf("each goroutine that recorded a report holds %d KiB of stack, want at most 16", per>>10)
	}
}
