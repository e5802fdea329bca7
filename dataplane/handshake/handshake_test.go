package handshake

import (
	"bytes"
	"context"
	"errors"
	"net"
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

func TestHandshakeKeys(t *testing.T) {
	srvCert, err := NewCertificate()
	if err != nil {
		t.Fatal(err)
	}
	cliCert, err := NewCertificate()
	if err != nil {
		t.Fatal(err)
	}
	a, b := pair()
	defer a.Close()
	defer b.Close()
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
	srv, err := Run(ctx, a, Params{Certificate: srvCert, RemoteFingerprint: cliCert.Fingerprint})
	if err != nil {
		t.Fatal(err)
	}
	cli := <-ch
	if cli.err != nil {
		t.Fatal(cli.err)
	}
	defer srv.Conn.Close()
	defer cli.r.Conn.Close()
	if srv.Profile != cli.r.Profile {
		t.Fatalf("profiles differ: %v %v", srv.Profile, cli.r.Profile)
	}
	if !bytes.Equal(srv.Keys.LocalMasterKey, cli.r.Keys.RemoteMasterKey) || !bytes.Equal(srv.Keys.RemoteMasterSalt, cli.r.Keys.LocalMasterSalt) {
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
