package dataplane

import (
	"bufio"
	"bytes"
	"context"
	"net"
	"runtime"
	"runtime/pprof"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hayate-sfu/hayate/dataplane/handshake"
	"github.com/hayate-sfu/hayate/dataplane/icelite"
	"github.com/pion/rtcp"
	"github.com/pion/rtp"
	"github.com/pion/srtp/v3"
	"github.com/pion/stun/v4"
)

// wireClient is a client of the plane over real UDP on loopback: an ICE
// check, a DTLS handshake (as DTLS client) and SRTP, with nothing of
// pion/webrtc. Its reader goroutine ends when the test closes the socket.
type wireClient struct {
	t      *testing.T
	conn   *net.UDPConn
	server *net.UDPAddr
	tr     *Transport
	hs     *handshake.Conn
	dtls   *handshake.Result
	tx, rx *srtp.Context
	events *testEvents

	stun  chan []byte
	media chan []byte
	// alerts counts DTLS alert records (close_notify among them) received
	// after the client's handshake completed.
	alerts    atomic.Uint64
	handshook atomic.Bool
}

type testEvents struct {
	connected chan struct{}
	closed    chan error
}

func (e *testEvents) OnConnected()       { close(e.connected) }
func (e *testEvents) OnClosed(err error) { e.closed <- err }

// hasAlert reports whether a DTLS datagram holds an alert record (content
// type 21); records are 13-byte headers (RFC 6347 §4.1) and their payload.
func hasAlert(b []byte) bool {
	for len(b) >= 13 {
		if b[0] == 21 {
			return true
		}
		n := 13 + int(b[11])<<8 | int(b[12])
		if n > len(b) {
			return false
		}
		b = b[n:]
	}
	return false
}

func (c *wireClient) read() {
	buf := make([]byte, 1500)
	for {
		n, _, err := c.conn.ReadFromUDP(buf)
		if err != nil {
			return
		}
		b := append([]byte(nil), buf[:n]...)
		switch {
		case n > 0 && b[0] < 4:
			select {
			case c.stun <- b:
			default:
			}
		case n > 0 && b[0] >= 20 && b[0] <= 63:
			if c.handshook.Load() && hasAlert(b) {
				c.alerts.Add(1)
			}
			c.hs.Deliver(b)
		case n > 0 && b[0] >= 128 && b[0] <= 191:
			select {
			case c.media <- b:
			default:
			}
		}
	}
}

// dial creates a transport with id on p and connects a client to it: ICE
// check, DTLS handshake with the plane in role, SRTP keys. It returns once
// the transport reported OnConnected.
func dial(t *testing.T, p *Plane, id string, role DTLSRole, setup func(*Transport)) *wireClient {
	t.Helper()
	ev := &testEvents{connected: make(chan struct{}), closed: make(chan error, 1)}
	tr, err := p.NewTransport(TransportConfig{ID: id, Events: ev, Shard: "release"})
	if err != nil {
		t.Fatal(err)
	}
	if setup != nil {
		setup(tr)
	}
	conn, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	c := &wireClient{t: t, conn: conn, server: net.UDPAddrFromAddrPort(p.LocalAddr()), tr: tr, events: ev,
		stun: make(chan []byte, 4), media: make(chan []byte, 256)}
	c.hs = handshake.NewConn(conn.LocalAddr(), func(b []byte, to *net.UDPAddr) error {
		_, err := conn.WriteToUDP(b, to)
		return err
	})
	c.hs.SetRemote(c.server)
	go c.read()

	cert, err := handshake.NewCertificate()
	if err != nil {
		t.Fatal(err)
	}
	ufrag, pwd := icelite.NewCredentials()
	if err := tr.SetRemote(RemoteParams{Ufrag: ufrag, Pwd: pwd, Fingerprint: cert.Fingerprint, Role: role}); err != nil {
		t.Fatal(err)
	}
	// Commands run after the datagrams of a read: make sure the loop knows
	// the transport before its one check (a real client retransmits).
	if err := tr.impl.doWait(func(*loopState) {}); err != nil {
		t.Fatal(err)
	}
	check, err := stun.Build(stun.TransactionID, stun.BindingRequest, stun.NewUsername(tr.Local().Ufrag+":"+ufrag),
		stun.NewShortTermIntegrity(tr.Local().Pwd), stun.Fingerprint)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := conn.WriteToUDP(check.Raw, c.server); err != nil {
		t.Fatal(err)
	}
	select {
	case <-c.stun:
	case <-time.After(10 * time.Second):
		t.Fatalf("%s: no answer to the ICE check (%d checks dropped)", id, p.Counters().DropSTUN.Load())
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	res, err := handshake.Run(ctx, c.hs, handshake.Params{Certificate: cert, Client: role == DTLSServer, RemoteFingerprint: p.Fingerprint()})
	if err != nil {
		t.Fatalf("%s: handshake: %v", id, err)
	}
	c.handshook.Store(true)
	c.dtls = res
	t.Cleanup(func() { res.Conn.Close(); c.hs.Close() })
	if c.tx, err = srtp.CreateContext(res.Keys.LocalMasterKey, res.Keys.LocalMasterSalt, res.Profile); err != nil {
		t.Fatal(err)
	}
	if c.rx, err = srtp.CreateContext(res.Keys.RemoteMasterKey, res.Keys.RemoteMasterSalt, res.Profile); err != nil {
		t.Fatal(err)
	}
	select {
	case <-ev.connected:
	case <-time.After(10 * time.Second):
		t.Fatalf("%s: transport not connected", id)
	}
	return c
}

func (c *wireClient) send(b []byte) {
	c.t.Helper()
	if _, err := c.conn.WriteToUDP(b, c.server); err != nil {
		c.t.Fatal(err)
	}
}

func (c *wireClient) sendRTP(seq uint16, payload []byte) {
	c.t.Helper()
	c.send(encryptRTP(c.t, c.tx, seq, payload))
}

func (c *wireClient) sendRTCP(pkts ...rtcp.Packet) {
	c.t.Helper()
	raw, err := rtcp.Marshal(pkts)
	if err != nil {
		c.t.Fatal(err)
	}
	enc, err := c.tx.EncryptRTCP(nil, raw, nil)
	if err != nil {
		c.t.Fatal(err)
	}
	c.send(enc)
}

// awaitRTP waits for an RTP packet of ssrc (RTCP in between is skipped)
// and returns it decrypted.
func (c *wireClient) awaitRTP(ssrc uint32) rtp.Header {
	c.t.Helper()
	deadline := time.After(10 * time.Second)
	for {
		select {
		case b := <-c.media:
			if b[1] >= 192 && b[1] <= 223 {
				continue // RTCP
			}
			plain, err := c.rx.DecryptRTP(nil, b, nil)
			if err != nil {
				c.t.Fatalf("RTP from the server does not decrypt: %v", err)
			}
			var h rtp.Header
			if _, err := h.Unmarshal(plain); err != nil {
				c.t.Fatal(err)
			}
			if h.SSRC == ssrc {
				return h
			}
		case <-deadline:
			c.t.Fatalf("no RTP of SSRC %d arrived", ssrc)
		}
	}
}

// awaitREMB waits for an SRTCP compound holding a REMB (sent only once a
// cap is set: it cannot be an older packet) for ssrc.
func (c *wireClient) awaitREMB(ssrc uint32) {
	c.t.Helper()
	deadline := time.After(10 * time.Second)
	for {
		select {
		case b := <-c.media:
			if b[1] < 192 || b[1] > 223 {
				continue
			}
			plain, err := c.rx.DecryptRTCP(nil, b, nil)
			if err != nil {
				c.t.Fatalf("RTCP from the server does not decrypt: %v", err)
			}
			pkts, err := rtcp.Unmarshal(plain)
			if err != nil {
				c.t.Fatal(err)
			}
			for _, p := range pkts {
				if remb, ok := p.(*rtcp.ReceiverEstimatedMaximumBitrate); ok && len(remb.SSRCs) == 1 && remb.SSRCs[0] == ssrc {
					return
				}
			}
		case <-deadline:
			c.t.Fatalf("no REMB for SSRC %d arrived", ssrc)
		}
	}
}

// dtlsGoroutines counts the goroutines labelled as the DTLS of transport
// id (runDTLS and those the DTLS library started from it).
func dtlsGoroutines(t *testing.T, id string) int {
	t.Helper()
	var b bytes.Buffer
	if err := pprof.Lookup("goroutine").WriteTo(&b, 1); err != nil {
		t.Fatal(err)
	}
	want := `"dtls":"` + id + `"`
	n, count := 0, 0
	sc := bufio.NewScanner(&b)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if k, _, ok := strings.Cut(line, " @ "); ok {
			count, _ = strconv.Atoi(k)
			continue
		}
		if strings.HasPrefix(line, "# labels: ") && strings.Contains(line, want) {
			n += count
		}
	}
	return n
}

// awaitNoDTLSGoroutines waits (bounded) for the association's goroutines
// to end: closing a dtls.Conn does not wait for them.
func awaitNoDTLSGoroutines(t *testing.T, id string) {
	t.Helper()
	n := 0
	for range 500 {
		if n = dtlsGoroutines(t, id); n == 0 {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("%s: %d DTLS goroutines remain after the release", id, n)
}

// awaitReleased waits (bounded) for the transport's DTLS goroutine to
// return and for releaseDTLS to finish (the goroutine may end first: the
// release ends its reads before it closes the library's conn).
func awaitReleased(t *testing.T, tr *Transport) {
	t.Helper()
	select {
	case <-tr.impl.hsDone:
	case <-time.After(10 * time.Second):
		t.Fatalf("%s: DTLS not released", tr.impl.id)
	}
	tr.impl.releasing.Wait()
	tr.impl.mu.Lock()
	released, dc := tr.impl.released, tr.impl.dtlsConn
	tr.impl.mu.Unlock()
	if !released || dc != nil {
		t.Fatalf("%s: DTLS goroutine ended without a release (released %v)", tr.impl.id, released)
	}
}

func setQuietPeriod(t *testing.T, d time.Duration) {
	old := dtlsQuietPeriod
	dtlsQuietPeriod = d
	t.Cleanup(func() { dtlsQuietPeriod = old })
}

const (
	releasePubSSRC = 1111 // encryptRTP's SSRC
	releaseSubSSRC = 5000
)

// releasePair connects a publisher and a subscriber of its video track,
// the plane taking role in both handshakes.
func releasePair(t *testing.T, role DTLSRole) (*Plane, *wireClient, *wireClient) {
	t.Helper()
	return mediaPair(t, Config{ListenAddress: "127.0.0.1", Loops: 1}, role)
}

// mediaPair starts a plane with cfg and connects a publisher and a
// subscriber of its video track, the plane taking role in both handshakes.
func mediaPair(t *testing.T, cfg Config, role DTLSRole) (*Plane, *wireClient, *wireClient) {
	t.Helper()
	p, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	pub := dial(t, p, "pub", role, func(tr *Transport) {
		if err := tr.AddUpstream(Upstream{TrackID: "pub:1", Kind: KindVideo, Mid: "1", SSRC: releasePubSSRC, PayloadType: 96, ClockRate: 90000}); err != nil {
			t.Fatal(err)
		}
	})
	sub := dial(t, p, "sub", role, func(tr *Transport) {
		if err := tr.AddDownstream(Downstream{TrackID: "pub:1", Mid: "1", SSRC: releaseSubSSRC}); err != nil {
			t.Fatal(err)
		}
	})
	return p, pub, sub
}

// TestDTLSReleasedAfterMedia: a transport without DataChannels where the
// plane is DTLS server lets its association go at the first SRTP/SRTCP
// packet of its client. The
// release sends the client nothing (no close_notify), leaves no goroutine
// of the association, and the transport goes on forwarding SRTP both ways;
// a DTLS record the client sends later is dropped and counted.
func TestDTLSReleasedAfterMedia(t *testing.T) {
	setQuietPeriod(t, time.Hour) // only media releases here
	p, pub, sub := releasePair(t, DTLSServer)
	for _, c := range []*wireClient{pub, sub} {
		if n := dtlsGoroutines(t, c.tr.impl.id); n == 0 {
			t.Fatalf("%s: no labelled DTLS goroutine before the release: the count below proves nothing", c.tr.impl.id)
		}
	}

	// The publisher's first RTP releases its association; the subscriber's
	// first SRTCP releases its own.
	pub.sendRTP(1, keyPayload)
	if h := sub.awaitRTP(releaseSubSSRC); h.SequenceNumber == 0 && h.Timestamp == 0 {
		t.Fatal("empty header")
	}
	sub.sendRTCP(&rtcp.ReceiverReport{SSRC: 77})
	for _, c := range []*wireClient{pub, sub} {
		awaitReleased(t, c.tr)
		awaitNoDTLSGoroutines(t, c.tr.impl.id)
		if c.tr.impl.hs.Discarded() == 0 {
			t.Fatalf("%s: the association's close wrote nothing: no close_notify was there to suppress", c.tr.impl.id)
		}
	}

	// A late DTLS record (an encrypted alert's header and body): dropped,
	// counted, and the transport lives on.
	late := []byte{21, 0xfe, 0xfd, 0, 1, 0, 0, 0, 0, 0, 9, 0, 2, 1, 0}
	pub.send(late)
	for i := 0; p.Counters().DropDTLSReleased.Load() == 0; i++ {
		if i == 500 {
			t.Fatal("the late DTLS record was not counted")
		}
		time.Sleep(10 * time.Millisecond)
	}
	if n := p.Counters().DropDTLSReleased.Load(); n != 1 {
		t.Fatalf("DropDTLSReleased = %d, want 1", n)
	}

	// Both ways after the release: publisher → plane → subscriber RTP,
	// subscriber → plane SRTCP, plane → publisher SRTCP.
	pub.sendRTP(2, deltaPayload)
	if h := sub.awaitRTP(releaseSubSSRC); h.SequenceNumber != 2 || h.PayloadType != 96 {
		t.Fatalf("forwarded seq %d payload type %d, want 2 and 96", h.SequenceNumber, h.PayloadType)
	}
	in := sub.tr.Stats().PacketsIn
	sub.sendRTCP(&rtcp.PictureLossIndication{SenderSSRC: 77, MediaSSRC: releaseSubSSRC})
	for i := 0; sub.tr.Stats().PacketsIn == in; i++ {
		if i == 500 {
			t.Fatal("the subscriber's SRTCP after the release was not accepted")
		}
		time.Sleep(10 * time.Millisecond)
	}
	// Everything the plane sent came before the REMB awaited here: a
	// close_notify would have been read by now.
	capAwaitREMBNoAlerts(t, pub, sub)
	for _, c := range []*wireClient{pub, sub} {
		select {
		case err := <-c.events.closed:
			t.Fatalf("%s: transport closed: %v", c.tr.impl.id, err)
		default:
		}
	}
}

// TestDTLSReleasedWhenQuiet: a client that sends no media (a subscriber
// without RTCP) has its association released once nothing DTLS came from
// it for the quiet period; the transport still carries SRTCP to it.
func TestDTLSReleasedWhenQuiet(t *testing.T) {
	setQuietPeriod(t, 50*time.Millisecond)
	_, pub, _ := releasePair(t, DTLSServer)
	awaitReleased(t, pub.tr)
	awaitNoDTLSGoroutines(t, "pub")
	if pub.tr.Stats().PacketsIn != 0 {
		t.Fatal("the client sent media: this test is about silence")
	}
	if err := pub.tr.SetUpstreamBitrateCap("pub:1", 300_000); err != nil {
		t.Fatal(err)
	}
	pub.awaitREMB(releasePubSSRC)
	if n := pub.alerts.Load(); n != 0 {
		t.Fatalf("the client received %d DTLS alerts", n)
	}
}

// TestTransportCloseAfterRelease: closing a transport whose association is
// gone ends it normally (OnClosed(nil)), writing no DTLS.
func TestTransportCloseAfterRelease(t *testing.T) {
	setQuietPeriod(t, time.Hour)
	_, pub, _ := releasePair(t, DTLSServer)
	pub.sendRTP(1, keyPayload)
	awaitReleased(t, pub.tr)
	sent, discarded := pub.tr.impl.hs.Sent(), pub.tr.impl.hs.Discarded()
	pub.tr.Close()
	select {
	case err := <-pub.events.closed:
		if err != nil {
			t.Fatalf("OnClosed(%v), want nil", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("OnClosed not called")
	}
	if n, d := pub.tr.impl.hs.Sent()-sent, pub.tr.impl.hs.Discarded()-discarded; n != 0 || d != 0 {
		t.Fatalf("closing wrote %d DTLS datagrams (%d discarded)", n, d)
	}
}

// TestDTLSReleasedAfterHandshakeAsClient: as DTLS client the plane lets the
// association go as soon as its handshake is done (the server's Finished
// was the last flight), before any media and with no quiet period.
func TestDTLSReleasedAfterHandshakeAsClient(t *testing.T) {
	setQuietPeriod(t, time.Hour)
	_, pub, sub := releasePair(t, DTLSClient)
	for _, c := range []*wireClient{pub, sub} {
		awaitReleased(t, c.tr)
		awaitNoDTLSGoroutines(t, c.tr.impl.id)
		if c.tr.Stats().PacketsIn != 0 {
			t.Fatalf("%s: the client sent media: this test is about the handshake alone", c.tr.impl.id)
		}
	}
	pub.sendRTP(1, keyPayload)
	if h := sub.awaitRTP(releaseSubSSRC); h.SequenceNumber != 1 {
		t.Fatalf("forwarded seq %d, want 1", h.SequenceNumber)
	}
	capAwaitREMBNoAlerts(t, pub, sub)
}

// capAwaitREMBNoAlerts caps the publisher's track, waits for the REMB that
// carries the cap (the plane still sends it SRTCP), and checks that neither
// client has received a DTLS alert.
func capAwaitREMBNoAlerts(t *testing.T, pub, sub *wireClient) {
	t.Helper()
	if err := pub.tr.SetUpstreamBitrateCap("pub:1", 300_000); err != nil {
		t.Fatal(err)
	}
	pub.awaitREMB(releasePubSSRC)
	for _, c := range []*wireClient{pub, sub} {
		if n := c.alerts.Load(); n != 0 {
			t.Fatalf("%s: the client received %d DTLS alerts", c.tr.impl.id, n)
		}
	}
}

// TestDTLSReleaseFreesMemory: what a released association gives back per
// transport (its pion/dtls state, buffers and goroutine stacks), measured
// as the process's heap and stacks in use across the release of n
// transports whose clients stay connected.
func TestDTLSReleaseFreesMemory(t *testing.T) {
	const n = 40
	setQuietPeriod(t, time.Hour)
	p, err := New(Config{ListenAddress: "127.0.0.1", Loops: 1})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	cs := make([]*wireClient, n)
	for i := range cs {
		cs[i] = dial(t, p, "m"+strconv.Itoa(i), DTLSServer, nil)
	}
	inUse := func() (heap, stack int64) {
		runtime.GC()
		runtime.GC()
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		return int64(ms.HeapAlloc), int64(ms.StackInuse)
	}
	heap0, stack0 := inUse()
	for _, c := range cs {
		c.sendRTCP(&rtcp.ReceiverReport{SSRC: 77})
	}
	for _, c := range cs {
		awaitReleased(t, c.tr)
		awaitNoDTLSGoroutines(t, c.tr.impl.id)
	}
	heap1, stack1 := inUse()
	heap, stack := (heap0-heap1)/n, (stack0-stack1)/n
	t.Logf("a released DTLS association gives back %.1f KiB of heap and %.1f KiB of stacks per transport",
		float64(heap)/1024, float64(stack)/1024)
	if heap+stack < 8<<10 {
		t.Errorf("a release gives back %d bytes per transport, want at least 8 KiB", heap+stack)
	}
	runtime.KeepAlive(cs)
}
