package load

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"
)

func TestParseStatCPU(t *testing.T) {
	for _, tc := range []struct {
		name, stat string
		want       time.Duration
		ok         bool
	}{
		{"plain", "1234 (hayate) S 1 1234 1234 0 -1 4194560 500 0 0 0 150 25 0 0 20 0 7 0 100 0 0", 1750 * time.Millisecond, true},
		{"spaces and parens in the name", "99 (a) b (c) R 1 1 1 0 -1 0 0 0 0 0 3 4 0 0", 70 * time.Millisecond, true},
		{"no name", "1234 hayate S 1", 0, false},
		{"truncated", "1234 (hayate) S 1 2 3", 0, false},
		{"not a number", "1 (x) S 1 1 1 0 -1 0 0 0 0 0 x 4 0 0", 0, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := parseStatCPU([]byte(tc.stat))
			if (err == nil) != tc.ok || got != tc.want {
				t.Errorf("parseStatCPU = %v, %v; want %v, ok=%v", got, err, tc.want, tc.ok)
			}
			if err != nil && !errors.Is(err, ErrServer) {
				t.Errorf("error %v is not ErrServer", err)
			}
		})
	}
}

func TestMetricValue(t *testing.T) {
	body := []byte("# HELP go_memstats_mallocs_total Total.\n# TYPE go_memstats_mallocs_total counter\ngo_memstats_mallocs_total_other 3\ngo_memstats_mallocs_total 1.234567e+06\n")
	if v, err := metricValue(body, "go_memstats_mallocs_total"); err != nil || v != 1234567 {
		t.Errorf("metricValue = %v, %v; want 1234567", v, err)
	}
	if _, err := metricValue(body, "go_goroutines"); !errors.Is(err, ErrServer) {
		t.Errorf("a missing metric gives %v, want ErrServer", err)
	}
	if _, err := metricValue([]byte("go_goroutines many\n"), "go_goroutines"); !errors.Is(err, ErrServer) {
		t.Errorf("a bad value gives %v, want ErrServer", err)
	}
}

// The process CPU clock of a child is readable and grows while it works.
func TestChildCPUClock(t *testing.T) {
	spin := filepath.Join(t.TempDir(), "spin.sh")
	if err := os.WriteFile(spin, []byte("#!/bin/sh\ni=0\nwhile [ $i -lt 300000 ]; do i=$((i+1)); done\nexec sleep 5\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	c := &child{spec: serverSpec{kind: kindHayate, argv: []string{spin}}, exited: make(chan struct{}), stderr: &tail{max: 5}}
	c.cmd = exec.Command(spin)
	if err := c.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { c.waitErr = c.cmd.Wait(); close(c.exited) }()
	first, err := c.cpu()
	if err != nil {
		t.Fatalf("cpu: %v", err)
	}
	var later time.Duration
	for range 100 {
		time.Sleep(20 * time.Millisecond)
		if later, err = c.cpu(); err != nil || later > first {
			break
		}
	}
	total, _ := c.stop()
	if later <= first {
		t.Errorf("the CPU clock did not grow (%v, then %v) while the child spun", first, later)
	}
	if total < later {
		t.Errorf("rusage total %v is less than the clock's %v", total, later)
	}
}

func TestSupportsGSO(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct {
		name, help string
		want       bool
	}{
		{"with", "Settings:\n  media_port   default 50000\n  media_gso    default false\n                 send with UDP_SEGMENT\n", true},
		{"without", "Settings:\n  media_port   default 50000\n  # media_gso is coming\n", false},
	} {
		bin := filepath.Join(dir, tc.name)
		if err := os.WriteFile(bin, []byte("#!/bin/sh\ncat <<'X'\n"+tc.help+"X\n"), 0o755); err != nil {
			t.Fatal(err)
		}
		got, err := SupportsGSO(context.Background(), bin)
		if err != nil || got != tc.want {
			t.Errorf("%s: SupportsGSO = %v, %v; want %v", tc.name, got, err, tc.want)
		}
	}
	if _, err := SupportsGSO(context.Background(), filepath.Join(dir, "missing")); err == nil {
		t.Error("SupportsGSO of a missing binary succeeded")
	}
}

func TestTail(t *testing.T) {
	tl := &tail{max: 2}
	for _, s := range []string{"one\ntwo\n", "thr", "ee\nfour\nfive"} {
		_, _ = tl.Write([]byte(s))
	}
	if got, want := tl.String(), "three\nfour\nfive"; got != want {
		t.Errorf("tail = %q, want %q", got, want)
	}
}
