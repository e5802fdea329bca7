package icelite

import (
	"errors"
	"net"
	"net/netip"
	"testing"

	"github.com/pion/stun/v4"
)

func request(t *testing.T, username, pwd string, extra ...stun.Setter) []byte {
	t.Helper()
	setters := []stun.Setter{stun.TransactionID, stun.BindingRequest, stun.NewUsername(username)}
	setters = append(setters, extra...)
	setters = append(setters, stun.NewShortTermIntegrity(pwd), stun.Fingerprint)
	m, err := stun.Build(setters...)
	if err != nil {
		t.Fatal(err)
	}
	return m.Raw
}

type flag stun.AttrType

func (f flag) AddTo(m *stun.Message) error { m.Add(stun.AttrType(f), nil); return nil }

type controlling uint64

func (c controlling) AddTo(m *stun.Message) error {
	b := make([]byte, 8)
	m.Add(stun.AttrICEControlling, b)
	return nil
}

func TestBindingRoundTrip(t *testing.T) {
	ufrag, pwd := NewCredentials()
	if len(ufrag) != 16 || len(pwd) != 32 {
		t.Fatalf("credentials %q/%q", ufrag, pwd)
	}
	var r Responder
	raw := request(t, ufrag+":chrome", pwd, controlling(1), flag(stun.AttrUseCandidate))
	local, err := r.Parse(raw)
	if err != nil || local != ufrag {
		t.Fatalf("Parse = %q, %v", local, err)
	}
	integ := stun.NewShortTermIntegrity(pwd)
	req, err := r.Verify(integ)
	if err != nil {
		t.Fatal(err)
	}
	if req.RemoteUfrag != "chrome" || !req.UseCandidate {
		t.Fatalf("request %+v", req)
	}
	src := netip.MustParseAddrPort("127.0.0.1:40000")
	out, err := r.AppendSuccess(nil, src, integ)
	if err != nil {
		t.Fatal(err)
	}
	var res stun.Message
	res.Raw = out
	if err := res.Decode(); err != nil {
		t.Fatal(err)
	}
	if res.Type != stun.BindingSuccess {
		t.Fatalf("type %v", res.Type)
	}
	var reqMsg stun.Message
	reqMsg.Raw = raw
	_ = reqMsg.Decode()
	if res.TransactionID != reqMsg.TransactionID {
		t.Fatal("transaction id not echoed")
	}
	var xor stun.XORMappedAddress
	if err := xor.GetFrom(&res); err != nil {
		t.Fatal(err)
	}
	if !xor.IP.Equal(net.IPv4(127, 0, 0, 1)) || xor.Port != 40000 {
		t.Fatalf("xor-mapped %v:%d", xor.IP, xor.Port)
	}
	if err := integ.Check(&res); err != nil {
		t.Fatalf("response integrity: %v", err)
	}
	if err := stun.Fingerprint.Check(&res); err != nil {
		t.Fatalf("response fingerprint: %v", err)
	}
}

func TestRejects(t *testing.T) {
	ufrag, pwd := NewCredentials()
	var r Responder
	// wrong password
	if _, err := r.Parse(request(t, ufrag+":x", "wrong-password-wrong-pwd")); err != nil {
		t.Fatal(err)
	}
	if _, err := r.Verify(stun.NewShortTermIntegrity(pwd)); !errors.Is(err, ErrIntegrity) {
		t.Fatalf("wrong pwd: %v", err)
	}
	// bad usernames
	for _, u := range []string{"nocolon", ":x", "x:"} {
		if _, err := r.Parse(request(t, u, pwd)); !errors.Is(err, ErrBadUsername) {
			t.Fatalf("username %q: %v", u, err)
		}
	}
	// not a request
	m := stun.MustBuild(stun.TransactionID, stun.BindingSuccess, stun.Fingerprint)
	if _, err := r.Parse(m.Raw); !errors.Is(err, ErrNotBindingRequest) {
		t.Fatalf("success parsed as request: %v", err)
	}
	// garbage
	if _, err := r.Parse([]byte{0, 1, 0, 8, 1, 2, 3}); err == nil {
		t.Fatal("garbage parsed")
	}
}

func FuzzParse(f *testing.F) {
	f.Add([]byte{0, 1, 0, 0, 0x21, 0x12, 0xa4, 0x42, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12})
	integ := stun.NewShortTermIntegrity("0123456789012345678901")
	f.Fuzz(func(t *testing.T, b []byte) {
		var r Responder
		if _, err := r.Parse(b); err == nil {
			_, _ = r.Verify(integ)
		}
	})
}
