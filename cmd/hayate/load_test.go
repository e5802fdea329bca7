package main

import (
	"bytes"
	"strings"
	"testing"
)

func TestLoadUsageErrors(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string // in stderr
	}{
		{[]string{"--scenario", "storm"}, `scenario "storm"`},
		{[]string{"--gso", "sometimes"}, `gso "sometimes"`},
		{[]string{"--subs", "-3"}, "subs -3"},
		{[]string{"extra"}, `unexpected argument "extra"`},
		{[]string{"--no-such-flag"}, "no-such-flag"},
		{[]string{"--serve-baseline", "--media-port", "99999"}, "MediaPort 99999"},
		{[]string{"--serve-baseline", "--listen", "nowhere"}, `--listen "nowhere"`},
	} {
		var out, errb bytes.Buffer
		if code := runLoad(tc.args, &out, &errb); code != exitUsage {
			t.Errorf("load %q: exit %d, want %d (stderr %q)", tc.args, code, exitUsage, errb.String())
		}
		if !strings.Contains(errb.String(), tc.want) {
			t.Errorf("load %q: stderr %q does not name %q", tc.args, errb.String(), tc.want)
		}
		if out.Len() != 0 {
			t.Errorf("load %q wrote %q on stdout", tc.args, out.String())
		}
	}
}

// `hayate load` is reached through run, before the server's own flags.
func TestLoadDispatch(t *testing.T) {
	var out, errb bytes.Buffer
	if code := run([]string{"load", "--scenario", "storm"}, nil, &out, &errb); code != exitUsage || !strings.Contains(errb.String(), "storm") {
		t.Errorf("run(load …) = %d, stderr %q; want the load generator's usage error", code, errb.String())
	}
}
