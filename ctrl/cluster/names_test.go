package cluster

import (
	"errors"
	"testing"
)

func TestNodeAddr(t *testing.T) {
	for _, tc := range []struct {
		name, want string
		bad        bool
	}{
		{name: "node-01@192.0.2.5", want: "192.0.2.5:5100"},
		{name: "n1@127.0.0.2:6100", want: "127.0.0.2:6100"},
		{name: "n_1.x@sora.example", want: "sora.example:5100"},
		{name: "n@[::1]:7000", want: "[::1]:7000"},
		{name: "n@::1", want: "[::1]:5100"},
		{name: "@127.0.0.1", bad: true},
		{name: "n@", bad: true},
		{name: "n127.0.0.1", bad: true},
		{name: "n o@h", bad: true},
		{name: "n@h:0", bad: true},
		{name: "n@h:65536", bad: true},
		{name: "n@a@b", bad: true},
	} {
		got, err := nodeAddr(tc.name, DefaultPort)
		if tc.bad {
			if !errors.Is(err, ErrBadNodeName) {
				t.Errorf("%q: %q %v, want ErrBadNodeName", tc.name, got, err)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("%q: %q %v, want %q", tc.name, got, err, tc.want)
		}
	}
}
