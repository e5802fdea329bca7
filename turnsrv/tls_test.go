package turnsrv

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io"
	"net"
	"net/netip"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/hayate-sfu/hayate/internal/testcert"
	"github.com/pion/logging"
	"github.com/pion/turn/v5"
)

// selfSigned writes a self-signed certificate for 127.0.0.1 and its key as
// PEM files and returns their paths and a pool that trusts it.
func selfSigned(t *testing.T) (certFile, keyFile string, roots *x509.CertPool) {
	return testcert.Write(t)
}

// relayRoundTrip allocates a relay with cl and checks that data goes to a
// peer through it and back, and that s names the client's transport for the
// relay address (want: "udp" or "tcp").
func relayRoundTrip(t *testing.T, s *Server, cl *turn.Client, want string) {
	t.Helper()
	relay, err := cl.Allocate()
	if err != nil {
		t.Fatalf("allocation: %v", err)
	}
	defer relay.Close()
	peer, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer peer.Close()
	if _, err := relay.WriteTo([]byte("hello"), peer.LocalAddr()); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 100)
	_ = peer.SetReadDeadline(time.Now().Add(5 * time.Second))
	n, from, err := peer.ReadFrom(buf)
	if err != nil || string(buf[:n]) != "hello" {
		t.Fatalf("peer got %q, %v", buf[:n], err)
	}
	// The way back may be sent before the client has learnt that its
	// channel binding (made in the background by WriteTo) succeeded: pion's
	// client then drops what arrives on the channel. The peer repeats, as a
	// media peer would.
	for i := 0; ; i++ {
		if _, err := peer.WriteTo([]byte("back"), from); err != nil {
			t.Fatal(err)
		}
		_ = relay.SetReadDeadline(time.Now().Add(200 * time.Millisecond))
		n, _, err = relay.ReadFrom(buf)
		if err == nil && string(buf[:n]) == "back" {
			ra := netip.MustParseAddrPort(relay.LocalAddr().String())
			if tr, ok := s.RelayTransport(ra); !ok || tr != want {
				t.Fatalf("RelayTransport(%v) = %q, %v; want %q, true", ra, tr, ok, want)
			}
			return
		}
		if i == 25 {
			t.Fatalf("client got %q, %v", buf[:n], err)
		}
	}
}

// TestAllocateOverTLS: with a certificate the server also speaks TURN over
// TLS on its own port, advertised as a turns: URL; a pion client that
// checks the certificate gets a working relay with issued credentials.
func TestAllocateOverTLS(t *testing.T) {
	certFile, keyFile, roots := selfSigned(t)
	s, err := New(Config{ListenAddress: "127.0.0.1", RelayIP: netip.MustParseAddr("127.0.0.1"), TLSCertFile: certFile, TLSKeyFile: keyFile})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if s.TLSPort() == 0 || s.TLSPort() == s.Port() {
		t.Fatalf("TLS port %d (TURN port %d)", s.TLSPort(), s.Port())
	}
	urls := s.URLs()
	if want := "turns:127.0.0.1:" + strconv.Itoa(s.TLSPort()) + "?transport=tcp"; len(urls) != 3 || urls[2] != want {
		t.Fatalf("URLs %v, want a third one %s", urls, want)
	}
	conn, err := tls.Dial("tcp4", "127.0.0.1:"+strconv.Itoa(s.TLSPort()), &tls.Config{RootCAs: roots, MinVersion: tls.VersionTLS12})
	if err != nil {
		t.Fatalf("TLS handshake with the TURN server: %v", err)
	}
	defer conn.Close()
	c := s.Credentials("CONN", time.Now())
	cl, err := turn.NewClient(&turn.ClientConfig{TURNServerAddr: conn.RemoteAddr().String(), Username: c.Username, Password: c.Password,
		Realm: "hayate", Conn: turn.NewSTUNConn(conn), LoggerFactory: logging.NewDefaultLoggerFactory()})
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	if err := cl.Listen(); err != nil {
		t.Fatal(err)
	}
	relayRoundTrip(t, s, cl, "tcp")
	if st := s.Stats(); st.TCPAllocations != 1 || st.UDPAllocations != 0 || st.InvalidTCPFrames != 0 {
		t.Fatalf("stats %+v, want one allocation over TCP (TLS)", st)
	}
	// Plain TURN over TCP on the TLS port is not TLS: refused.
	plain, err := net.Dial("tcp4", "127.0.0.1:"+strconv.Itoa(s.TLSPort()))
	if err != nil {
		t.Fatal(err)
	}
	defer plain.Close()
	_, _ = plain.Write(bindingRequest())
	_ = plain.SetReadDeadline(time.Now().Add(5 * time.Second))
	if b, _ := io.ReadAll(plain); bytes.Contains(b, []byte{0x21, 0x12, 0xA4, 0x42}) {
		t.Fatal("a STUN answer to plain TCP on the TLS port")
	}
}

func TestTLSConfig(t *testing.T) {
	certFile, keyFile, _ := selfSigned(t)
	lo := netip.MustParseAddr("127.0.0.1")
	for name, cfg := range map[string]Config{
		"cert without key": {RelayIP: lo, TLSCertFile: certFile},
		"key without cert": {RelayIP: lo, TLSKeyFile: keyFile},
		"missing file":     {RelayIP: lo, TLSCertFile: certFile, TLSKeyFile: filepath.Join(t.TempDir(), "none.pem")},
		"key is the cert":  {RelayIP: lo, TLSCertFile: certFile, TLSKeyFile: certFile},
	} {
		if s, err := New(cfg); !errors.Is(err, ErrConfig) {
			if s != nil {
				s.Close()
			}
			t.Errorf("%s: %v, want ErrConfig", name, err)
		}
	}
	s := newServer(t, nil)
	if s.TLSPort() != 0 || len(s.URLs()) != 2 || strings.Contains(strings.Join(s.URLs(), " "), "turns:") {
		t.Errorf("without a certificate: TLS port %d, URLs %v", s.TLSPort(), s.URLs())
	}
}
