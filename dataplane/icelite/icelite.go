package icelite

import (
	"crypto/rand"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strings"

	"github.com/pion/stun/v4"
)

// Errors returned for requests that are dropped.
var (
	// ErrNotBindingRequest is returned for STUN messages other than a Binding request.
	ErrNotBindingRequest = errors.New("icelite: not a binding request")
	// ErrBadUsername is returned when USERNAME is missing or not "local:remote".
	ErrBadUsername = errors.New("icelite: bad USERNAME")
	// ErrIntegrity is returned when MESSAGE-INTEGRITY or FINGERPRINT fail.
	ErrIntegrity = errors.New("icelite: integrity check failed")
	// ErrRoleConflict is returned when the peer claims the controlled role too.
	ErrRoleConflict = errors.New("icelite: peer is ICE-CONTROLLED, expected controlling")
)

const alphabet = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789+/"

func randomString(n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic(fmt.Sprintf("icelite: crypto/rand: %v", err))
	}
	for i := range b {
		b[i] = alphabet[int(b[i])%len(alphabet)]
	}
	return string(b)
}

// NewCredentials returns a fresh ufrag (16 chars) and pwd (32 chars) from the
// ice-char set of RFC 8839 §5.4 (ufrag ≥ 4, pwd ≥ 22 characters).
func NewCredentials() (ufrag, pwd string) {
	return randomString(16), randomString(32)
}

// Request is an authenticated Binding request.
type Request struct {
	RemoteUfrag  string
	UseCandidate bool
}

// Responder parses and answers Binding requests. See the package doc.
type Responder struct {
	req, res stun.Message
	setters  []stun.Setter
	xor      stun.XORMappedAddress
	txid     txSetter
}

type txSetter struct{ id [stun.TransactionIDSize]byte }

func (t *txSetter) AddTo(m *stun.Message) error {
	m.TransactionID = t.id
	m.WriteTransactionID()
	return nil
}

// Parse decodes b (a datagram classified as STUN) and returns the local ufrag
// named by USERNAME ("local:remote"), for the caller's session lookup. b is
// borrowed until the next call.
func (r *Responder) Parse(b []byte) (localUfrag string, err error) {
	r.req.Reset()
	r.req.Raw = append(r.req.Raw[:0], b...)
	if err := r.req.Decode(); err != nil {
		return "", fmt.Errorf("icelite: decode: %w", err)
	}
	if r.req.Type != stun.BindingRequest {
		return "", ErrNotBindingRequest
	}
	u, err := r.req.Get(stun.AttrUsername)
	if err != nil {
		return "", ErrBadUsername
	}
	i := strings.IndexByte(string(u), ':')
	if i <= 0 || i == len(u)-1 {
		return "", ErrBadUsername
	}
	return string(u[:i]), nil
}

// Verify checks the parsed request with the local password: MESSAGE-INTEGRITY
// (HMAC-SHA1 keyed with the server's pwd) then FINGERPRINT, and the peer's role.
func (r *Responder) Verify(integrity stun.MessageIntegrity) (Request, error) {
	if err := integrity.Check(&r.req); err != nil {
		return Request{}, ErrIntegrity
	}
	if err := stun.Fingerprint.Check(&r.req); err != nil {
		return Request{}, ErrIntegrity
	}
	if r.req.Contains(stun.AttrICEControlled) {
		return Request{}, ErrRoleConflict
	}
	u, _ := r.req.Get(stun.AttrUsername)
	i := strings.IndexByte(string(u), ':')
	return Request{
		RemoteUfrag:  string(u[i+1:]),
		UseCandidate: r.req.Contains(stun.AttrUseCandidate),
	}, nil
}

// AppendSuccess appends the Binding success response to the last parsed
// request, for a request that came from src, to dst.
func (r *Responder) AppendSuccess(dst []byte, src netip.AddrPort, integrity stun.MessageIntegrity) ([]byte, error) {
	r.txid.id = r.req.TransactionID
	ip := src.Addr().Unmap()
	if ip.Is4() {
		a := ip.As4()
		r.xor.IP = append(r.xor.IP[:0], a[:]...)
	} else {
		a := ip.As16()
		r.xor.IP = append(r.xor.IP[:0], a[:]...)
	}
	r.xor.IP = net.IP(r.xor.IP)
	r.xor.Port = int(src.Port())
	r.setters = append(r.setters[:0], &r.txid, stun.BindingSuccess, &r.xor, integrity, stun.Fingerprint)
	r.res.Reset()
	if err := r.res.Build(r.setters...); err != nil {
		return dst, fmt.Errorf("icelite: build response: %w", err)
	}
	return append(dst, r.res.Raw...), nil
}
