package handshake

import (
	"bytes"
	"context"
	"errors"
	"net"
	"os"
	"sync/atomic"
	"testing"
	"time"
)

// pair wires two Conns back to back, as the media loop would over UDP.
func pair() (a, b *Conn) {
	la := &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 1}
	lb := &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 2}
	a = NewConn(la, func(p []byte, _ *net.UDPAddr) error { b.Deliver(p); return nil })
	b = NewConn(lb, func(p []byte, _ *net.UDPAddr) error { a.Deliver(p); return nil })
	a.SetRemote(lb)
	b.SetRemote(la)
	return a, b
}

// handshakePair runs a handshake between the two Conns of a pair (a the
// server) and returns both results.
func handshakePair(t *testing.T, a, b *Conn) (srv, cli *Result) {
	t.Helper()
	srvCert, err := NewCertificate()
	if err != nil {
		t.Fatal(err)
	}
	cliCert, err := NewCertificate()
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	type res struct {
		r   *Result
		err error
	}
	ch := make(chan res, 1)
	go func() {
		r, err := Run(ctx, b, Params{Certificate: cliCert, Client: true, RemoteFingerprint: srvCert.Fingerprint})
		ch <- res{r, err}
	}()
	srv, err = Run(ctx, a, Params{Certificate: srvCert, RemoteFingerprint: cliCert.Fingerprint})
	c := <-ch
	if err != nil {
		t.Fatal(err)
	}
	if c.err != nil {
		t.Fatal(c.err)
	}
	return srv, c.r
}

// TestReleaseIsSilent: closing an association whose Conn was released
// sends the peer nothing (a close_notify would end a browser's
// PeerConnection), while a plain close does send one; after Release the Conn
// drops and counts what the peer sends.
func TestReleaseIsSilent(t *testing.T) {
	for _, tc := range []struct {
		name    string
		release bool
		// wantToPeer: whether the close reached the peer.
		wantToPeer bool
	}{
		{"released", true, false},
		{"plain close", false, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a, b := pair()
			defer b.Close()
			srv, cli := handshakePair(t, a, b)
			defer cli.Conn.Close()
			sent, atPeer := a.Sent(), b.Delivered()
			var late atomic.Uint64
			if tc.release {
				a.Release(&late)
			}
			if err := srv.Conn.Close(); err != nil {
				t.Fatal(err)
			}
			// The alert, if any, is written inside Close: the pair
			// delivers synchronously.
			reached := b.Delivered() != atPeer
			if reached != tc.wantToPeer {
				t.Fatalf("close reached the peer: %v, want %v (server sent %d datagrams on close, %d discarded)",
					reached, tc.wantToPeer, a.Sent()-sent, a.Discarded())
			}
			if !tc.release {
				return
			}
			if a.Sent() != sent {
				t.Fatalf("released Conn sent %d datagrams", a.Sent()-sent)
			}
			if a.Discarded() == 0 {
				t.Fatal("the association's close wrote nothing to discard: the test no longer covers the close_notify")
			}
			// A record from the peer after the release: dropped and counted.
			if a.Deliver([]byte{21, 0xfe, 0xfd, 0, 1, 0, 0, 0, 0, 0, 9, 0, 2, 1, 0}) {
				t.Fatal("a released Conn accepted a datagram")
			}
			if late.Load() != 1 {
				t.Fatalf("late records counted: %d, want 1", late.Load())
			}
			if _, err := a.WriteTo([]byte("x"), nil); err != nil || a.Sent() != sent {
				t.Fatalf("write after release: err %v, sent %d", err, a.Sent()-sent)
			}
		})
	}
}

func TestHandshakeKeys(t *testing.T) {
	a, b := pair()
	defer a.Close()
	defer b.Close()
	srv, cli := handshakePair(t, a, b)
	defer srv.Conn.Close()
	defer cli.Conn.Close()
	if srv.Profile != cli.Profile {
		t.Fatalf("profiles differ: %v %v", srv.Profile, cli.Profile)
	}
	if !bytes.Equal(srv.Keys.LocalMasterKey, cli.Keys.RemoteMasterKey) || !bytes.Equal(srv.Keys.RemoteMasterSalt, cli.Keys.LocalMasterSalt) {
		t.Fatal("server's send key is not the client's receive key")
	}
	if srv.Profile.String() == "" {
		t.Fatal("no profile name")
	}
}

func TestFingerprintMismatch(t *testing.T) {
	srvCert, _ := NewCertificate()
	cliCert, _ := NewCertificate()
	other, _ := NewCertificate()
	a, b := pair()
	defer a.Close()
	defer b.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	go func() {
		r, err := Run(ctx, b, Params{Certificate: cliCert, Client: true, RemoteFingerprint: srvCert.Fingerprint})
		if err == nil {
			r.Conn.Close()
		}
	}()
	_, err := Run(ctx, a, Params{Certificate: srvCert, RemoteFingerprint: other.Fingerprint})
	if err == nil || !errors.Is(err, ErrFingerprint) && !bytes.Contains([]byte(err.Error()), []byte("fingerprint")) {
		t.Fatalf("want fingerprint error, got %v", err)
	}
}

// TestWriteBeforeRemoteIsHeld: a record written before the pair is known
// (we are the DTLS client and the peer's first check has not arrived) is
// sent when SetRemote comes, not dropped.
func TestWriteBeforeRemoteIsHeld(t *testing.T) {
	var got [][]byte
	c := NewConn(nil, func(p []byte, to *net.UDPAddr) error {
		got = append(got, append([]byte(nil), p...))
		return nil
	})
	if _, err := c.WriteTo([]byte("hello"), nil); err != nil {
		t.Fatal(err)
	}
	if len(got) != 0 {
		t.Fatal("sent without an address")
	}
	c.SetRemote(&net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 9})
	if len(got) != 1 || string(got[0]) != "hello" {
		t.Fatalf("after SetRemote sent %q", got)
	}
	if _, err := c.WriteTo([]byte("again"), nil); err != nil || len(got) != 2 {
		t.Fatalf("direct write: %v, %d sent", err, len(got))
	}
}

// TestDeliverQueue: datagrams reach the reader in order, copied (the loop
// reuses its buffer); past queueLen waiting ones Deliver drops and counts;
// a deadline ends a read with nothing queued, and Close ends Deliver.
func TestDeliverQueue(t *testing.T) {
	c := NewConn(nil, func([]byte, *net.UDPAddr) error { return nil })
	buf := []byte{0}
	for i := range queueLen {
		buf[0] = byte(i)
		if !c.Deliver(buf) {
			t.Fatalf("datagram %d refused", i)
		}
	}
	if c.Deliver(buf) || c.Dropped() != 1 {
		t.Fatalf("past the bound: dropped %d, want 1", c.Dropped())
	}
	p := make([]byte, 10)
	for i := range queueLen {
		n, _, err := c.ReadFrom(p)
		if err != nil || n != 1 || p[0] != byte(i) {
			t.Fatalf("read %d: %d bytes %v, err %v", i, n, p[:n], err)
		}
	}
	if err := c.SetReadDeadline(time.Now().Add(-time.Second)); err != nil {
		t.Fatal(err)
	}
	if _, _, err := c.ReadFrom(p); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("read past the deadline: %v", err)
	}
	if c.Delivered() != queueLen {
		t.Fatalf("delivered %d, want %d", c.Delivered(), queueLen)
	}
	c.Close()
	if c.Deliver(buf) {
		t.Fatal("a closed Conn accepted a datagram")
	}
}
