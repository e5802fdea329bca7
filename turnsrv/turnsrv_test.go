package turnsrv

import (
	"bytes"
	"net"
	"net/netip"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/pion/logging"
	"github.com/pion/turn/v5"
)

func newServer(t *testing.T, alive func(string) bool) *Server {
	t.Helper()
	s, err := New(Config{ListenAddress: "127.0.0.1", RelayIP: netip.MustParseAddr("127.0.0.1"), Alive: alive})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// allocateUDP allocates a relay over UDP and checks that data sent to the
// relay from a peer arrives at the client.
func allocateUDP(t *testing.T, s *Server, c Credentials) error {
	t.Helper()
	conn, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	addr := "127.0.0.1:" + strconv.Itoa(s.Port())
	cl, err := turn.NewClient(&turn.ClientConfig{TURNServerAddr: addr, STUNServerAddr: addr, Username: c.Username, Password: c.Password,
		Realm: "hayate", Conn: conn, LoggerFactory: logging.NewDefaultLoggerFactory(), RTO: 200 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	if err := cl.Listen(); err != nil {
		t.Fatal(err)
	}
	relay, err := cl.Allocate()
	if err != nil {
		return err
	}
	defer relay.Close()
	peer, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer peer.Close()
	// A permission for the peer: the client sends to it first.
	if _, err := relay.WriteTo([]byte("hello"), peer.LocalAddr()); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 100)
	_ = peer.SetReadDeadline(time.Now().Add(3 * time.Second))
	n, from, err := peer.ReadFrom(buf)
	if err != nil || !bytes.Equal(buf[:n], []byte("hello")) {
		t.Fatalf("peer got %q, %v", buf[:n], err)
	}
	if from.String() != relay.LocalAddr().String() {
		t.Fatalf("peer saw %v, relay is %v", from, relay.LocalAddr())
	}
	if _, err := peer.WriteTo([]byte("back"), from); err != nil {
		t.Fatal(err)
	}
	_ = relay.SetReadDeadline(time.Now().Add(3 * time.Second))
	n, _, err = relay.ReadFrom(buf)
	if err != nil || string(buf[:n]) != "back" {
		t.Fatalf("client got %q, %v", buf[:n], err)
	}
	// The media plane sees the relay address; the server names its transport.
	ra := netip.MustParseAddrPort(relay.LocalAddr().String())
	if tr, ok := s.RelayTransport(ra); !ok || tr != "udp" {
		t.Fatalf("RelayTransport(%v) = %q, %v; want udp, true", ra, tr, ok)
	}
	return nil
}

func TestAllocateWithIssuedCredentials(t *testing.T) {
	var mu sync.Mutex
	alive := map[string]bool{"CONN1": true}
	s := newServer(t, func(id string) bool { mu.Lock(); defer mu.Unlock(); return alive[id] })
	if err := allocateUDP(t, s, s.Credentials("CONN1", time.Now())); err != nil {
		t.Fatalf("allocation with valid credentials: %v", err)
	}
	if got := s.Stats().UDPAllocations; got != 1 {
		t.Fatalf("UDP allocations %d, want 1", got)
	}
	// The connection ended: its credentials are refused.
	mu.Lock()
	delete(alive, "CONN1")
	mu.Unlock()
	if err := allocateUDP(t, s, s.Credentials("CONN1", time.Now())); err == nil {
		t.Fatal("allocation for a connection that has ended succeeded")
	}
	// Expired, forged, and from another server's secret.
	mu.Lock()
	alive["CONN2"] = true
	mu.Unlock()
	expired := s.Credentials("CONN2", time.Now().Add(-48*time.Hour))
	forged := Credentials{Username: s.Credentials("CONN2", time.Now()).Username, Password: "AAAA"}
	for name, c := range map[string]Credentials{"expired": expired, "forged": forged} {
		if err := allocateUDP(t, s, c); err == nil {
			t.Fatalf("%s credentials were accepted", name)
		}
	}
	if s.Stats().AuthFailures == 0 {
		t.Fatal("refusals not counted")
	}
}

func TestAllocateOverTCP(t *testing.T) {
	s := newServer(t, nil)
	c := s.Credentials("CONN", time.Now())
	conn, err := net.Dial("tcp4", "127.0.0.1:"+strconv.Itoa(s.Port()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
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
	if got := s.Stats().TCPAllocations; got != 1 {
		t.Fatalf("TCP allocations %d, want 1", got)
	}
}

func TestURLsAndConfig(t *testing.T) {
	s := newServer(t, nil)
	urls := s.URLs()
	p := strconv.Itoa(s.Port())
	if len(urls) != 2 || urls[0] != "turn:127.0.0.1:"+p+"?transport=udp" || urls[1] != "turn:127.0.0.1:"+p+"?transport=tcp" {
		t.Fatalf("URLs %v", urls)
	}
	if _, err := New(Config{RelayIP: netip.IPv4Unspecified()}); err == nil {
		t.Fatal("0.0.0.0 accepted as relay IP")
	}
	if _, err := New(Config{RelayIP: netip.MustParseAddr("127.0.0.1"), RelayMinPort: 10, RelayMaxPort: 5}); err == nil {
		t.Fatal("inverted port range accepted")
	}
}
