package config

import (
	"errors"
	"reflect"
	"testing"
)

// FuzzLoad feeds arbitrary file bytes to the loader. It must not panic; every
// refusal must be classified by a sentinel; every accepted file must print
// back (LogValue) to a file that loads to the same configuration.
func FuzzLoad(f *testing.F) {
	// More seeds are in testdata/fuzz/FuzzLoad.
	f.Add([]byte("signaling_port = 5000\n"))
	f.Add([]byte("# c\npong_timeout = 30 s # t\npublic_ip_list = 127.0.0.1, ::1\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := load(data, nil)
		if err != nil {
			for _, s := range []error{ErrUnknownKey, ErrBadValue, ErrSyntax, ErrDuplicateKey} {
				if errors.Is(err, s) {
					return
				}
			}
			t.Fatalf("unclassified error: %v", err)
		}
		if err := c.Validate(); err != nil {
			t.Fatalf("Load accepted a config that Validate refuses: %v", err)
		}
		again, err := load([]byte(format(c)), nil)
		if err != nil {
			t.Fatalf("printed config does not load: %v\n%s", err, format(c))
		}
		if !reflect.DeepEqual(again, c) {
			t.Fatalf("round trip changed the config:\n got %+v\nwant %+v", again, c)
		}
	})
}
