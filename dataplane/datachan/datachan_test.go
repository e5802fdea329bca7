package datachan

import (
	"context"
	"errors"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/hayate-sfu/hayate/dataplane/handshake"
	"github.com/pion/datachannel"
	"github.com/pion/logging"
	"github.com/pion/sctp"
)

type recorder struct {
	mu     sync.Mutex
	msgs   []string
	closed chan struct{}
	opened chan struct{}
}

func (r *recorder) OnOpen(*Channel) { close(r.opened) }

func (r *recorder) OnMessage(_ *Channel, b []byte, _ bool) {
	r.mu.Lock()
	r.msgs = append(r.msgs, string(b))
	r.mu.Unlock()
}
func (r *recorder) OnClose(*Channel) { close(r.closed) }

// dtlsPair returns two established DTLS conns wired back to back in memory.
func dtlsPair(t *testing.T) (server, client net.Conn) {
	t.Helper()
	la := &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 1}
	lb := &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 2}
	var a, b *handshake.Conn
	a = handshake.NewConn(la, func(p []byte, _ *net.UDPAddr) error { b.Deliver(p); return nil })
	b = handshake.NewConn(lb, func(p []byte, _ *net.UDPAddr) error { a.Deliver(p); return nil })
	a.SetRemote(lb)
	b.SetRemote(la)
	sc, _ := handshake.NewCertificate()
	cc, _ := handshake.NewCertificate()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	ch := make(chan *handshake.Result, 1)
	go func() {
		r, err := handshake.Run(ctx, b, handshake.Params{Certificate: cc, Client: true, RemoteFingerprint: sc.Fingerprint})
		if err != nil {
			t.Error(err)
		}
		ch <- r
	}()
	rs, err := handshake.Run(ctx, a, handshake.Params{Certificate: sc, RemoteFingerprint: cc.Fingerprint})
	if err != nil {
		t.Fatal(err)
	}
	rc := <-ch
	if rc == nil {
		t.FailNow()
	}
	t.Cleanup(func() { rs.Conn.Close(); rc.Conn.Close(); a.Close(); b.Close() })
	return rs.Conn, rc.Conn
}

func TestOpenSendReceive(t *testing.T) {
	srvConn, cliConn := dtlsPair(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	lf := logging.NewDefaultLoggerFactory()
	type cliRes struct {
		a   *sctp.Association
		err error
	}
	cres := make(chan cliRes, 1)
	go func() { // the browser's side: an SCTP endpoint that accepts channels
		a, err := sctp.ClientContext(ctx, sctp.WithNetConn(cliConn), sctp.WithMTU(sctpMTU), sctp.WithLoggerFactory(lf),
			sctp.WithMaxMessageSize(1<<20)) // a peer that ignores our a=max-message-size
		cres <- cliRes{a, err}
	}()
	as, err := Start(ctx, srvConn, Options{MaxMessageSize: 1024})
	if err != nil {
		t.Fatal(err)
	}
	cr := <-cres
	if cr.err != nil {
		t.Fatal(cr.err)
	}
	defer cr.a.Close()
	rec := &recorder{closed: make(chan struct{}), opened: make(chan struct{})}
	ch, err := as.Open(ChannelConfig{Label: "#chat", Ordered: true, MaxRetransmits: -1, MaxPacketLifeTime: -1}, rec)
	if err != nil {
		t.Fatal(err)
	}
	if err := ch.Send([]byte("hello"), true); err != nil {
		t.Fatal(err)
	}
	peer, err := datachannel.Accept(cr.a, &datachannel.Config{LoggerFactory: lf})
	if err != nil {
		t.Fatal(err)
	}
	if peer.Config.Label != "#chat" || peer.StreamIdentifier()%2 != 1 {
		t.Fatalf("peer saw label %q on stream %d (want #chat on an odd stream)", peer.Config.Label, peer.StreamIdentifier())
	}
	buf := make([]byte, 2048)
	n, isString, err := peer.ReadDataChannel(buf)
	if err != nil || string(buf[:n]) != "hello" || !isString {
		t.Fatalf("peer read %q string=%v err=%v", buf[:n], isString, err)
	}
	select {
	case <-rec.opened:
	case <-time.After(5 * time.Second):
		t.Fatal("OnOpen not called after the peer acknowledged the channel")
	}
	// A message larger than our read buffer is dropped and counted; the
	// channel goes on.
	if _, err := peer.WriteDataChannel(make([]byte, 70000), false); err != nil {
		t.Fatal(err)
	}
	if _, err := peer.WriteDataChannel([]byte("world"), false); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		rec.mu.Lock()
		got := append([]string(nil), rec.msgs...)
		rec.mu.Unlock()
		if len(got) == 1 && got[0] == "world" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("server received %q", got)
		}
		time.Sleep(10 * time.Millisecond)
	}
	if as.Oversized() != 1 {
		t.Fatalf("oversized messages counted: %d, want 1", as.Oversized())
	}
	if err := ch.Send(make([]byte, 2000), false); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("oversized send: %v", err)
	}
	if err := as.Close(); err != nil {
		t.Logf("close: %v", err)
	}
	select {
	case <-rec.closed:
	case <-time.After(5 * time.Second):
		t.Fatal("OnClose not called after Close")
	}
}
