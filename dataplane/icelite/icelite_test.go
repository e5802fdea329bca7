package icelite

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha1" //nolint:gosec // the algorithm under test
	"encoding/hex"
	"errors"
	"hash/crc32"
	"net/netip"
	"strings"
	"testing"

	"github.com/pion/stun/v4"
)

// attr adds a raw attribute (any type, any value) where it stands in the
// setter list: before or after MESSAGE-INTEGRITY.
type attr struct {
	t stun.AttrType
	v []byte
}

func (a attr) AddTo(m *stun.Message) error { m.Add(a.t, a.v); return nil }

var (
	priority    = attr{stun.AttrPriority, []byte{0x6e, 0x7f, 0x1e, 0xff}}
	controlling = attr{stun.AttrICEControlling, []byte{1, 2, 3, 4, 5, 6, 7, 8}}
	controlled  = attr{stun.AttrICEControlled, []byte{1, 2, 3, 4, 5, 6, 7, 8}}
	useCand     = attr{stun.AttrUseCandidate, nil}
)

// chromeCheck is what Chrome sends an ICE-lite server: USERNAME, PRIORITY,
// ICE-CONTROLLING, USE-CANDIDATE, MESSAGE-INTEGRITY, FINGERPRINT, built by
// pion/stun (an independent encoder).
func chromeCheck(t testing.TB, username, pwd string) []byte {
	t.Helper()
	return build(t, stun.NewUsername(username), priority, controlling, useCand, stun.NewShortTermIntegrity(pwd), stun.Fingerprint)
}

func build(t testing.TB, setters ...stun.Setter) []byte {
	t.Helper()
	m, err := stun.Build(append([]stun.Setter{stun.TransactionID, stun.BindingRequest}, setters...)...)
	if err != nil {
		t.Fatal(err)
	}
	return m.Raw
}

func mustHex(s string) []byte {
	b, err := hex.DecodeString(strings.Join(strings.Fields(s), ""))
	if err != nil {
		panic(err)
	}
	return b
}

// checkResponse decodes out with pion/stun and checks what a client checks.
func checkResponse(t *testing.T, out, req []byte, src netip.AddrPort, pwd string) {
	t.Helper()
	var res, q stun.Message
	res.Raw = append([]byte(nil), out...)
	if err := res.Decode(); err != nil {
		t.Fatalf("response does not decode: %v", err)
	}
	q.Raw = append([]byte(nil), req...)
	if err := q.Decode(); err != nil {
		t.Fatal(err)
	}
	if res.Type != stun.BindingSuccess {
		t.Fatalf("response type %v", res.Type)
	}
	if res.TransactionID != q.TransactionID {
		t.Fatal("transaction ID not echoed")
	}
	var xor stun.XORMappedAddress
	if err := xor.GetFrom(&res); err != nil {
		t.Fatalf("XOR-MAPPED-ADDRESS: %v", err)
	}
	want := src.Addr().Unmap()
	if got, _ := netip.AddrFromSlice(xor.IP); got.Unmap() != want || xor.Port != int(src.Port()) {
		t.Fatalf("XOR-MAPPED-ADDRESS %v:%d, want %v", xor.IP, xor.Port, src)
	}
	if err := stun.NewShortTermIntegrity(pwd).Check(&res); err != nil {
		t.Fatalf("response MESSAGE-INTEGRITY: %v", err)
	}
	if err := stun.Fingerprint.Check(&res); err != nil {
		t.Fatalf("response FINGERPRINT: %v", err)
	}
	if last := res.Attributes[len(res.Attributes)-1]; last.Type != stun.AttrFingerprint {
		t.Fatalf("last attribute %v, want FINGERPRINT", last.Type)
	}
}

func TestBindingRoundTrip(t *testing.T) {
	ufrag, pwd := NewCredentials()
	if len(ufrag) != 16 || len(pwd) != 32 {
		t.Fatalf("credentials %q/%q", ufrag, pwd)
	}
	for _, src := range []string{"127.0.0.1:40000", "[::ffff:10.1.2.3]:9", "[2001:db8::1]:65535"} {
		t.Run(src, func(t *testing.T) {
			var r Responder
			raw := chromeCheck(t, ufrag+":chrome", pwd)
			local, err := r.Parse(raw)
			if err != nil || local != ufrag {
				t.Fatalf("Parse = %q, %v", local, err)
			}
			integ := stun.NewShortTermIntegrity(pwd)
			req, err := r.Verify(integ)
			if err != nil {
				t.Fatal(err)
			}
			if string(req.RemoteUfrag) != "chrome" || !req.UseCandidate {
				t.Fatalf("request %q %+v", req.RemoteUfrag, req)
			}
			from := netip.MustParseAddrPort(src)
			prefix := []byte("queued")
			out, err := r.AppendSuccess(prefix, from, integ)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.HasPrefix(out, []byte("queued")) {
				t.Fatal("dst's bytes overwritten")
			}
			checkResponse(t, out[len(prefix):], raw, from, pwd)
		})
	}
}

// The sample request of RFC 5769 §2.1: short-term credentials, USERNAME
// "evtj:h6vY", password "VOkJxbRl1RmTxUk/WvJxBt", ICE-CONTROLLED.
var rfc5769Request = mustHex(`
	00 01 00 58  21 12 a4 42  b7 e7 a7 01  bc 34 d6 86  fa 87 df ae
	80 22 00 10  53 54 55 4e  20 74 65 73  74 20 63 6c  69 65 6e 74
	00 24 00 04  6e 00 01 ff
	80 29 00 08  93 2f f9 b1  51 26 3b 36
	00 06 00 09  65 76 74 6a  3a 68 36 76  59 20 20 20
	00 08 00 14  9a ea a7 0c  bf d8 cb 56  78 1e f2 b5  b2 d3 f2 49  c1 b5 71 a2
	80 28 00 04  e5 7a 3b cf`)

const rfc5769Password = "VOkJxbRl1RmTxUk/WvJxBt"

func TestRFC5769Request(t *testing.T) {
	var r Responder
	local, err := r.Parse(rfc5769Request)
	if err != nil || local != "evtj" {
		t.Fatalf("Parse = %q, %v", local, err)
	}
	// The vector's integrity and fingerprint are right, so the role check
	// decides: the sample agent is controlled, which an ICE-lite server
	// cannot accept.
	if _, err := r.Verify(stun.NewShortTermIntegrity(rfc5769Password)); !errors.Is(err, ErrRoleConflict) {
		t.Fatalf("Verify = %v, want %v", err, ErrRoleConflict)
	}
	if _, err := r.Verify(stun.NewShortTermIntegrity(rfc5769Password + "x")); !errors.Is(err, ErrIntegrity) {
		t.Fatalf("Verify with another password = %v, want %v", err, ErrIntegrity)
	}
}

// The XOR-MAPPED-ADDRESS values of the sample responses of RFC 5769 §2.2 and
// §2.3 (same transaction ID as the sample request).
func TestRFC5769XORMappedAddress(t *testing.T) {
	for _, tc := range []struct {
		src  string
		want string
	}{
		{"192.0.2.1:32853", "00 20 00 08  00 01 a1 47  e1 12 a6 43"},
		{"[2001:db8:1234:5678:11:2233:4455:6677]:32853", "00 20 00 14  00 02 a1 47  01 13 a9 fa  a5 d3 f1 79  bc 25 f4 b5  be d2 b9 d9"},
	} {
		var r Responder
		if _, err := r.Decode(rfc5769Request); err != nil {
			t.Fatal(err)
		}
		out, err := r.AppendSuccess(nil, netip.MustParseAddrPort(tc.src), stun.NewShortTermIntegrity(rfc5769Password))
		if err != nil {
			t.Fatal(err)
		}
		want := mustHex(tc.want)
		if got := out[headerSize : headerSize+len(want)]; !bytes.Equal(got, want) {
			t.Errorf("%s: XOR-MAPPED-ADDRESS % x, want % x", tc.src, got, want)
		}
	}
}

func TestRejects(t *testing.T) {
	const pwd = "0123456789abcdefghijklmnopqrstuv"
	const user = "local:remote"
	integ := stun.NewShortTermIntegrity(pwd)
	valid := chromeCheck(t, user, pwd)
	xor := func(b []byte, i int, v byte) []byte { c := append([]byte(nil), b...); c[i] ^= v; return c }
	flip := func(b []byte, i int) []byte { return xor(b, i, 1) }
	lengthBy := func(b []byte, d int) []byte {
		c := append([]byte(nil), b...)
		be.PutUint16(c[2:], uint16(int(be.Uint16(c[2:]))+d))
		return c
	}
	for _, tc := range []struct {
		name      string
		raw       []byte
		parseErr  error // from Decode
		verifyErr error // from Verify, when Decode passed
	}{
		{"wrong password", chromeCheck(t, user, "wrong-password-wrong-pwd"), nil, ErrIntegrity},
		{"tampered attribute", flip(valid, headerSize+attrHeaderSize+len(user)+6), nil, ErrIntegrity},
		{"tampered transaction ID", flip(valid, 10), nil, ErrIntegrity},
		{"tampered FINGERPRINT", flip(valid, len(valid)-1), nil, ErrIntegrity},
		{"no FINGERPRINT", build(t, stun.NewUsername(user), integ), nil, ErrIntegrity},
		{"no MESSAGE-INTEGRITY", build(t, stun.NewUsername(user), stun.Fingerprint), nil, ErrIntegrity},
		{"FINGERPRINT not last", fingerprintNotLast(t, user, pwd), nil, ErrIntegrity},
		{"short MESSAGE-INTEGRITY", build(t, stun.NewUsername(user), attr{stun.AttrMessageIntegrity, make([]byte, 16)}, stun.Fingerprint), nil, ErrIntegrity},
		{"ICE-CONTROLLED", build(t, stun.NewUsername(user), controlled, integ, stun.Fingerprint), nil, ErrRoleConflict},
		{"no USERNAME", build(t, integ, stun.Fingerprint), ErrBadUsername, nil},
		{"USERNAME without colon", chromeCheck(t, "nocolon", pwd), ErrBadUsername, nil},
		{"empty local ufrag", chromeCheck(t, ":x", pwd), ErrBadUsername, nil},
		{"empty remote ufrag", chromeCheck(t, "x:", pwd), ErrBadUsername, nil},
		{"USERNAME after MESSAGE-INTEGRITY", build(t, integ, stun.NewUsername(user), stun.Fingerprint), ErrBadUsername, nil},
		{"success response", stun.MustBuild(stun.TransactionID, stun.BindingSuccess, stun.Fingerprint).Raw, ErrNotBindingRequest, nil},
		{"indication", stun.MustBuild(stun.TransactionID, stun.NewType(stun.MethodBinding, stun.ClassIndication)).Raw, ErrNotBindingRequest, nil},
		{"short header", []byte{0, 1, 0, 8, 1, 2, 3}, ErrMalformed, nil},
		{"bad cookie", flip(valid, 5), ErrMalformed, nil},
		{"top bits set", xor(valid, 0, 0x80), ErrMalformed, nil},
		{"length past the datagram", lengthBy(valid, 4), ErrMalformed, nil},
		{"length not a multiple of 4", lengthBy(valid, -2), ErrMalformed, nil},
		{"attribute past the length", lengthBy(valid, -4), ErrMalformed, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var r Responder
			_, err := r.Decode(tc.raw)
			if !errors.Is(err, tc.parseErr) {
				t.Fatalf("Decode = %v, want %v", err, tc.parseErr)
			}
			if err != nil {
				if _, err := r.Verify(integ); !errors.Is(err, ErrMalformed) {
					t.Fatalf("Verify after a failed Decode = %v", err)
				}
				if _, err := r.AppendSuccess(nil, netip.MustParseAddrPort("127.0.0.1:1"), integ); !errors.Is(err, ErrMalformed) {
					t.Fatalf("AppendSuccess after a failed Decode = %v", err)
				}
				return
			}
			if _, err := r.Verify(integ); !errors.Is(err, tc.verifyErr) {
				t.Fatalf("Verify = %v, want %v", err, tc.verifyErr)
			}
		})
	}
}

// fingerprintNotLast is a check followed by SOFTWARE after its FINGERPRINT,
// whose CRC is right for the bytes before it (header length included).
func fingerprintNotLast(t *testing.T, user, pwd string) []byte {
	raw := build(t, stun.NewUsername(user), stun.NewShortTermIntegrity(pwd), stun.Fingerprint, attr{stun.AttrSoftware, []byte("x")})
	fp := len(raw) - 2*attrHeaderSize - 4 - 4
	if be.Uint16(raw[fp:]) != attrFingerprint {
		t.Fatalf("no FINGERPRINT at %d", fp)
	}
	be.PutUint32(raw[fp+attrHeaderSize:], crc32.ChecksumIEEE(raw[:fp])^fingerprintXOR)
	return raw
}

// Attributes after MESSAGE-INTEGRITY are outside its protection: an
// attacker on the path could add them, so they must not count.
func TestAttributesAfterIntegrityIgnored(t *testing.T) {
	const pwd = "0123456789abcdefghijklmnopqrstuv"
	integ := stun.NewShortTermIntegrity(pwd)
	raw := build(t, stun.NewUsername("a:b"), controlling, integ, useCand, controlled, stun.Fingerprint)
	var r Responder
	if _, err := r.Decode(raw); err != nil {
		t.Fatal(err)
	}
	req, err := r.Verify(integ)
	if err != nil {
		t.Fatalf("Verify = %v (ICE-CONTROLLED after the integrity must be ignored)", err)
	}
	if req.UseCandidate {
		t.Fatal("USE-CANDIDATE after MESSAGE-INTEGRITY nominated the pair")
	}
}

func TestTrailingBytesIgnored(t *testing.T) {
	const pwd = "0123456789abcdefghijklmnopqrstuv"
	raw := append(chromeCheck(t, "a:b", pwd), 0xde, 0xad)
	var r Responder
	if _, err := r.Decode(raw); err != nil {
		t.Fatal(err)
	}
	if _, err := r.Verify(stun.NewShortTermIntegrity(pwd)); err != nil {
		t.Fatal(err)
	}
}

func TestBadAddress(t *testing.T) {
	var r Responder
	if _, err := r.Decode(rfc5769Request); err != nil {
		t.Fatal(err)
	}
	if _, err := r.AppendSuccess(nil, netip.AddrPort{}, nil); !errors.Is(err, ErrBadAddress) {
		t.Fatalf("AppendSuccess(zero address) = %v", err)
	}
}

func TestHMACMatchesCryptoHMAC(t *testing.T) {
	msg := []byte("a STUN message, more or less, long enough to span two SHA-1 blocks of sixty-four bytes each")
	for _, n := range []int{0, 1, 22, 32, 63, 64, 65, 200} {
		key := bytes.Repeat([]byte{byte(n)}, n)
		ref := hmac.New(sha1.New, key)
		ref.Write(msg)
		var m hmacSHA1
		for range 2 { // reuse must not leak state
			m.start(key)
			m.write(msg[:10])
			m.write(msg[10:])
			if got := m.finish(nil); !bytes.Equal(got, ref.Sum(nil)) {
				t.Fatalf("key of %d bytes: %x, want %x", n, got, ref.Sum(nil))
			}
		}
	}
}

// Answering a check on the media loop allocates nothing: parse, verify,
// build the response into a buffer with room. Rejecting a datagram neither.
func TestAnswerZeroAlloc(t *testing.T) {
	_, pwd := NewCredentials()
	integ := stun.NewShortTermIntegrity(pwd)
	good := chromeCheck(t, "abcd:efgh", pwd)
	forged := chromeCheck(t, "abcd:efgh", "another-password-entirely")
	garbage := append([]byte(nil), good[:headerSize]...)
	from := netip.MustParseAddrPort("192.0.2.7:5000")
	var r Responder
	buf := make([]byte, 0, 1500)
	answer := func() {
		if _, err := r.Decode(good); err != nil {
			t.Fatal(err)
		}
		if _, err := r.Verify(integ); err != nil {
			t.Fatal(err)
		}
		if _, err := r.AppendSuccess(buf, from, integ); err != nil {
			t.Fatal(err)
		}
	}
	answer() // first use sizes r's buffers
	if n := testing.AllocsPerRun(100, answer); n != 0 {
		t.Errorf("answering a check allocates %.1f times, want 0", n)
	}
	reject := func() {
		if _, err := r.Decode(forged); err != nil {
			t.Fatal(err)
		}
		if _, err := r.Verify(integ); !errors.Is(err, ErrIntegrity) {
			t.Fatal(err)
		}
		if _, err := r.Decode(garbage[:7]); !errors.Is(err, ErrMalformed) {
			t.Fatal(err)
		}
	}
	if n := testing.AllocsPerRun(100, reject); n != 0 {
		t.Errorf("rejecting a check allocates %.1f times, want 0", n)
	}
}

func BenchmarkAnswer(b *testing.B) {
	_, pwd := NewCredentials()
	integ := stun.NewShortTermIntegrity(pwd)
	raw := chromeCheck(b, "abcd:efgh", pwd)
	from := netip.MustParseAddrPort("192.0.2.7:5000")
	var r Responder
	buf := make([]byte, 0, 1500)
	b.ReportAllocs()
	for b.Loop() {
		_, _ = r.Decode(raw)
		_, _ = r.Verify(integ)
		_, _ = r.AppendSuccess(buf, from, integ)
	}
}

// FuzzParse checks Decode and Verify against pion/stun's decoder: whatever
// Responder accepts, pion reads the same way, and every answer it builds is
// a valid response.
func FuzzParse(f *testing.F) {
	const pwd = "0123456789012345678901"
	integ := stun.NewShortTermIntegrity(pwd)
	f.Add(chromeCheck(f, "abcd:efgh", pwd))
	f.Add(rfc5769Request)
	f.Add([]byte{0, 1, 0, 0, 0x21, 0x12, 0xa4, 0x42, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12})
	from := netip.MustParseAddrPort("[2001:db8::2]:3478")
	f.Fuzz(func(t *testing.T, b []byte) {
		var r Responder
		local, err := r.Decode(b)
		if err != nil {
			return
		}
		n := headerSize + int(be.Uint16(b[2:4]))
		var m stun.Message
		m.Raw = append([]byte(nil), b[:n]...)
		if err := m.Decode(); err != nil {
			t.Fatalf("Decode accepted what pion rejects: %v", err)
		}
		if m.Type != stun.BindingRequest {
			t.Fatalf("type %v accepted", m.Type)
		}
		u, err := m.Get(stun.AttrUsername)
		if err != nil || !bytes.HasPrefix(u, append(local[:len(local):len(local)], ':')) {
			t.Fatalf("local ufrag %q, pion's USERNAME %q (%v)", local, u, err)
		}
		req, err := r.Verify(integ)
		if err != nil {
			return
		}
		if !bytes.Equal(u[len(local)+1:], req.RemoteUfrag) {
			t.Fatalf("remote ufrag %q, pion's USERNAME %q", req.RemoteUfrag, u)
		}
		if err := integ.Check(&m); err != nil {
			t.Fatalf("Verify passed, pion's MESSAGE-INTEGRITY check: %v", err)
		}
		if err := stun.Fingerprint.Check(&m); err != nil {
			t.Fatalf("Verify passed, pion's FINGERPRINT check: %v", err)
		}
		out, err := r.AppendSuccess(nil, from, integ)
		if err != nil {
			t.Fatal(err)
		}
		checkResponse(t, out, b[:n], from, pwd)
	})
}
