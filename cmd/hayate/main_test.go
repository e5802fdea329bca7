package main

import (
	"bufio"
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/hayate-sfu/hayate/ctrl/server"
)

// The tests run the real binary, built once.
var (
	buildOnce sync.Once
	binPath   string
	buildErr  error
)

func hayateBin(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "hayate-cmd-test")
		if err != nil {
			buildErr = err
			return
		}
		binPath = filepath.Join(dir, "hayate")
		out, err := exec.Command("go", "build", "-o", binPath, ".").CombinedOutput()
		if err != nil {
			buildErr = errors.New("go build: " + err.Error() + "\n" + string(out))
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return binPath
}

func TestMain(m *testing.M) {
	code := m.Run()
	if binPath != "" {
		os.RemoveAll(filepath.Dir(binPath))
	}
	os.Exit(code)
}

// baseEnv is the test's environment without any HAYATE_ variable.
func baseEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "HAYATE_") {
			env = append(env, kv)
		}
	}
	return env
}

// freePorts returns n distinct ports that were free for TCP and UDP on
// 127.0.0.1 a moment ago (port 0 cannot be passed through the environment).
func freePorts(t *testing.T, n int) []int {
	t.Helper()
	var ports []int
	var held []io.Closer
	defer func() {
		for _, c := range held {
			c.Close()
		}
	}()
	for attempt := 0; len(ports) < n && attempt < 50; attempt++ {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		held = append(held, ln)
		port := ln.Addr().(*net.TCPAddr).Port
		pc, err := net.ListenPacket("udp", "127.0.0.1:"+strconv.Itoa(port))
		if err != nil {
			continue // UDP side taken: try another
		}
		held = append(held, pc)
		ports = append(ports, port)
	}
	if len(ports) < n {
		t.Fatalf("found only %d free ports", len(ports))
	}
	return ports
}

type result struct {
	code           int
	stdout, stderr string
}

// runHayate runs the binary to completion (bounded by a timeout).
func runHayate(t *testing.T, env []string, args ...string) result {
	t.Helper()
	cmd := exec.Command(hayateBin(t), args...)
	cmd.Env = append(baseEnv(), env...)
	var stdout, stderr strings.Builder
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case <-done:
	case <-time.After(20 * time.Second):
		cmd.Process.Kill()
		<-done
		t.Fatalf("hayate %v did not exit; stderr:\n%s", args, stderr.String())
	}
	return result{cmd.ProcessState.ExitCode(), stdout.String(), stderr.String()}
}

func TestRunAndSIGTERM(t *testing.T) {
	ports := freePorts(t, 4)
	sig, api, media, admin := ports[0], ports[1], ports[2], ports[3]
	cmd := exec.Command(hayateBin(t))
	cmd.Env = append(baseEnv(),
		"HAYATE_LISTEN_ADDRESS=127.0.0.1",
		"HAYATE_SIGNALING_PORT="+strconv.Itoa(sig),
		"HAYATE_API_PORT="+strconv.Itoa(api),
		"HAYATE_MEDIA_PORT="+strconv.Itoa(media),
		"HAYATE_ADMIN_PORT="+strconv.Itoa(admin),
		"HAYATE_PUBLIC_IP_LIST=127.0.0.1",
		"HAYATE_SDK_DIR="+t.TempDir(),
		"HAYATE_SHUTDOWN_TIMEOUT=5 s",
	)
	stderrPipe, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill() // no-op once it has exited

	// Collect the log lines as they come.
	var mu sync.Mutex
	var logText strings.Builder
	logDone := make(chan struct{})
	go func() {
		defer close(logDone)
		sc := bufio.NewScanner(stderrPipe)
		for sc.Scan() {
			mu.Lock()
			logText.WriteString(sc.Text() + "\n")
			mu.Unlock()
		}
	}()
	logs := func() string { mu.Lock(); defer mu.Unlock(); return logText.String() }

	// /healthz must answer while the server runs.
	healthz := "http://127.0.0.1:" + strconv.Itoa(admin) + "/healthz"
	client := &http.Client{Timeout: 2 * time.Second}
	healthy := false
	for i := 0; i < 100 && !healthy; i++ {
		resp, err := client.Get(healthz)
		if err == nil {
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			healthy = resp.StatusCode == 200 && string(body) == "ok"
		}
		if !healthy {
			time.Sleep(100 * time.Millisecond)
		}
	}
	if !healthy {
		t.Fatalf("%s never answered 200 ok; log:\n%s", healthz, logs())
	}

	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	waitErr := make(chan error, 1)
	go func() {
		<-logDone // Wait closes the pipe: read it all first
		waitErr <- cmd.Wait()
	}()
	select {
	case err := <-waitErr:
		if err != nil {
			t.Fatalf("exit after SIGTERM: %v, want status 0; log:\n%s", err, logs())
		}
	case <-time.After(20 * time.Second):
		t.Fatalf("no exit 20 s after SIGTERM; log:\n%s", logs())
	}

	log := logs()
	for _, want := range []string{
		`msg=listening what=signaling url=ws://127.0.0.1:` + strconv.Itoa(sig) + `/signaling`,
		`url=http://127.0.0.1:` + strconv.Itoa(sig) + `/`,
		`url=http://127.0.0.1:` + strconv.Itoa(api) + `/`,
		`url=http://127.0.0.1:` + strconv.Itoa(admin) + `/`,
		`msg="shut down"`,
	} {
		if !strings.Contains(log, want) {
			t.Errorf("log lacks %q; log:\n%s", want, log)
		}
	}
}

func TestUsageAndConfigErrors(t *testing.T) {
	bad := filepath.Join(t.TempDir(), "bad.conf")
	if err := os.WriteFile(bad, []byte("# ok\nsigaling_port = 5000\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name      string
		args, env []string
		code      int
		stdout    string // substring
		stderr    string // substring
	}{
		{name: "version", args: []string{"--version"}, code: 0, stdout: "hayate " + server.Version + " (go"},
		{name: "help", args: []string{"--help"}, code: 0, stdout: "--config FILE"},
		{name: "help lists keys", args: []string{"-h"}, code: 0, stdout: "signaling_port"},
		{name: "unknown flag", args: []string{"--verbose"}, code: 2, stderr: "flag provided but not defined: -verbose"},
		{name: "subcommand", args: []string{"frobnicate"}, code: 2, stderr: `hayate: unknown subcommand "frobnicate"`},
		{name: "bad env", env: []string{"HAYATE_API_PORT=abc"}, code: 2,
			stderr: `hayate: config: HAYATE_API_PORT: "abc" is not a port (1-65535)` + "\n"},
		{name: "every error reported", env: []string{"HAYATE_API_PORT=abc", "HAYATE_LOG_LEVL=debug"}, code: 2,
			stderr: `hayate: config: HAYATE_API_PORT: "abc" is not a port (1-65535)` + "\n" +
				`hayate: config: HAYATE_LOG_LEVL: unknown key "log_levl" (did you mean "log_level"?)` + "\n"},
		{name: "unknown key in file", args: []string{"--config", bad}, code: 2,
			stderr: `hayate: config: line 2: unknown key "sigaling_port" (did you mean "signaling_port"?)`},
		{name: "missing file", args: []string{"--config", bad + ".nope"}, code: 2, stderr: "no such file"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := runHayate(t, tc.env, tc.args...)
			if r.code != tc.code || !strings.Contains(r.stdout, tc.stdout) || !strings.Contains(r.stderr, tc.stderr) {
				t.Errorf("hayate %v: exit %d, want %d\nstdout: %s\nstderr: %s\nwant stdout ∋ %q, stderr ∋ %q",
					tc.args, r.code, tc.code, r.stdout, r.stderr, tc.stdout, tc.stderr)
			}
		})
	}
}
