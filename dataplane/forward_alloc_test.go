package dataplane

import (
	"bytes"
	"net"
	"net/netip"
	"testing"

	"github.com/hayate-sfu/hayate/dataplane/handshake"
	"github.com/hayate-sfu/hayate/dataplane/netio"
	"github.com/hayate-sfu/hayate/dataplane/secure"
	"github.com/pion/rtp"
	"github.com/pion/srtp/v3"
)

// keyed builds matching SRTP contexts: what a client encrypts with "send",
// the server's transport decrypts with rx, and so on.
func srtpPair(t testing.TB, seed byte) (client, server *srtp.Context) {
	t.Helper()
	key := bytes.Repeat([]byte{seed}, 16)
	salt := bytes.Repeat([]byte{seed + 1}, 12)
	c, err := srtp.CreateContext(key, salt, srtp.ProtectionProfileAeadAes128Gcm)
	if err != nil {
		t.Fatal(err)
	}
	s, err := srtp.CreateContext(key, salt, srtp.ProtectionProfileAeadAes128Gcm, srtp.SRTPReplayProtection(128))
	if err != nil {
		t.Fatal(err)
	}
	return c, s
}

// sealerFor is the AES-GCM sealer that encrypts like srtpPair(seed)'s
// contexts (same master key and salt).
func sealerFor(t testing.TB, seed byte) *secure.Sealer {
	t.Helper()
	s, err := secure.NewSealer(srtp.ProtectionProfileAeadAes128Gcm, bytes.Repeat([]byte{seed}, 16), bytes.Repeat([]byte{seed + 1}, 12))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// usePion makes newTestLoop's subscribers encrypt with pion's context (the
// AES-CM path) instead of the sealer, with the same keys.
func usePion(t testing.TB, l *loopState) {
	t.Helper()
	for tr := range l.transports {
		if tr.ls.seal != nil {
			_, tr.ls.tx = srtpPair(t, byte(10+2*(int(tr.ls.selected.Port())-20000)))
			tr.ls.seal = nil
		}
	}
}

type fakeWire struct {
	sent  int
	bytes int
	keep  bool
	got   [][]byte
}

func (w *fakeWire) send(ms []netio.Message) {
	for _, m := range ms {
		w.sent++
		w.bytes += m.N
		if w.keep {
			w.got = append(w.got, append([]byte(nil), m.Buf[:m.N]...))
		}
	}
}

// newTestLoop returns a loop without a socket, one publisher and n subscribers
// all connected, and the publisher's client-side encrypt context.
func newTestLoop(t testing.TB, n int) (*loopState, *fakeWire, *srtp.Context, netip.AddrPort, []*srtp.Context) {
	t.Helper()
	p := &plane{}
	l := newLoopState(p)
	w := &fakeWire{}
	l.wire = w.send
	mk := func(id string, port uint16) *transport {
		tr := &transport{p: p, id: id}
		tr.hs = handshake.NewConn(nil, func([]byte, *net.UDPAddr) error { return nil })
		tr.ls = transportLoopState{
			ups: map[uint32]*upTrack{}, sources: map[string]*source{}, sourcesByMid: map[string]*source{},
			downs: map[uint32]*downTrack{}, downsByID: map[string]*downTrack{},
		}
		addr := netip.AddrPortFrom(netip.MustParseAddr("127.0.0.1"), port)
		tr.ls.selected = addr
		tr.ls.addrs = []netip.AddrPort{addr}
		tr.ls.connected = true
		l.byAddr[addr] = tr
		l.transports[tr] = struct{}{}
		return tr
	}
	pub := mk("pub", 10000)
	clientEnc, serverDec := srtpPair(t, 1)
	_, serverEnc := srtpPair(t, 2)
	pub.ls.rx, pub.ls.tx = serverDec, serverEnc
	l.addUpstream(pub, Upstream{TrackID: "pub:1", Kind: KindVideo, Mid: "1", SSRC: 1111, RTXSSRC: 1112, PayloadType: 96, ClockRate: 90000})
	var subDecs []*srtp.Context
	for i := 0; i < n; i++ {
		sub := mk("sub", uint16(20000+i))
		subDec, _ := srtpPair(t, byte(10+2*i))
		_, rx := srtpPair(t, byte(11+2*i))
		sub.ls.rx, sub.ls.seal = rx, sealerFor(t, byte(10+2*i))
		if err := l.addDownstream(sub, Downstream{TrackID: "pub:1", Mid: "2", SSRC: uint32(5000 + i), RTXSSRC: uint32(6000 + i)}); err != nil {
			t.Fatal(err)
		}
		d := sub.ls.downsByID["pub:1"]
		d.current, d.started = 0, true // as if a keyframe had arrived
		subDecs = append(subDecs, subDec)
	}
	l.flush() // the keyframe requests of the subscriptions
	w.sent, w.bytes = 0, 0
	return l, w, clientEnc, netip.AddrPortFrom(netip.MustParseAddr("127.0.0.1"), 10000), subDecs
}

func encryptRTP(t testing.TB, c *srtp.Context, seq uint16, payload []byte) []byte {
	t.Helper()
	return encryptRTPHeader(t, c, rtp.Header{Version: 2, PayloadType: 96, SequenceNumber: seq, Timestamp: uint32(seq) * 3000, SSRC: 1111}, payload)
}

// encryptRTPHeader is SRTP of one packet with header h.
func encryptRTPHeader(t testing.TB, c *srtp.Context, h rtp.Header, payload []byte) []byte {
	t.Helper()
	p := rtp.Packet{Header: h, Payload: payload}
	raw, err := p.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	out, err := c.EncryptRTP(nil, raw, nil)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// Each subscriber decrypts its own copy, whether the loop seals with its
// own AES-GCM sealer (GCM profiles) or with pion's context (AES-CM).
func TestForwardDecryptsAndReencryptsForEachSubscriber(t *testing.T) {
	for _, sealer := range []bool{true, false} {
		t.Run(map[bool]string{true: "sealer", false: "pion"}[sealer], func(t *testing.T) {
			l, w, enc, from, subDecs := newTestLoop(t, 3)
			if !sealer {
				usePion(t, l)
			}
			payload := []byte{0x10, 0x00, 0x00, 0x9d, 0x01, 0x2a, 1, 2, 3, 4, 5}
			w.keep = true
			// Across a sequence wrap: the rollover counter must follow.
			for k, seq := range []uint16{65534, 65535, 0, 1} {
				pkt := encryptRTP(t, enc, seq, payload)
				in := append([]byte(nil), pkt...)
				l.handleDatagram(in, from, int64(k+1))
				l.flush()
				got := w.got
				w.got = nil
				if len(got) != 3 {
					t.Fatalf("seq %d: sent %d packets, want 3 (one per subscriber)", seq, len(got))
				}
				for i, b := range got {
					plain, err := subDecs[i].DecryptRTP(nil, b, nil)
					if err != nil {
						t.Fatalf("seq %d: subscriber %d cannot decrypt: %v", seq, i, err)
					}
					var p rtp.Packet
					if err := p.Unmarshal(plain); err != nil {
						t.Fatal(err)
					}
					if p.SSRC != uint32(5000+i) || p.SequenceNumber != seq || !bytes.Equal(p.Payload, payload) {
						t.Fatalf("subscriber %d got ssrc=%d seq=%d payload=%x", i, p.SSRC, p.SequenceNumber, p.Payload)
					}
				}
			}
		})
	}
}

// The forward path — decrypt, fan out to N subscribers, re-encrypt each —
// allocates nothing per packet.
func TestForwardZeroAlloc(t *testing.T) {
	const subs = 10
	l, w, enc, from, _ := newTestLoop(t, subs)
	l.groupByDestination = true // the GSO flush path groups; that must not allocate either
	payload := bytes.Repeat([]byte{0xab}, 1100)
	pkts := make([][]byte, 0, 300)
	for i := 0; i < 300; i++ {
		pkts = append(pkts, encryptRTP(t, enc, uint16(1000+i), payload))
	}
	buf := make([]byte, 2048)
	i := 0
	// Warm up: first packets create SRTP per-SSRC state (one allocation each).
	for ; i < 5; i++ {
		n := copy(buf, pkts[i])
		l.handleDatagram(buf[:n], from, int64(i))
	}
	allocs := testing.AllocsPerRun(200, func() {
		n := copy(buf, pkts[i])
		l.handleDatagram(buf[:n], from, int64(i))
		if i%4 == 3 {
			l.flush()
		}
		i++
	})
	if allocs != 0 {
		t.Fatalf("forward path allocates %.1f times per packet, want 0", allocs)
	}
	if w.sent < 200*subs {
		t.Fatalf("sent %d packets, want ≥ %d", w.sent, 200*subs)
	}
}

// BenchmarkForward prices one forwarded packet (decrypt once, munge and
// encrypt per subscriber, flush every 8 received); the -gso variants group
// each flush by subscriber as the loop does with GSO, flushing per frame of 5.
// The -cold variant writes 4 MiB (more than this machine's L2) before each
// frame, outside the timer, as 33 ms of other work would between two frames
// of a real server: it prices the cache misses on the subscribers' state.
func BenchmarkForward(b *testing.B) {
	for _, c := range []struct {
		subs  int
		gso   bool
		every int
		cold  bool
	}{{1, false, 8, false}, {10, false, 8, false}, {50, false, 8, false}, {50, true, 5, false}, {50, true, 5, true}} {
		name := itoa(c.subs) + "subs"
		if c.gso {
			name += "-gso"
		}
		if c.cold {
			name += "-cold"
		}
		var evict []byte
		if c.cold {
			evict = make([]byte, 4<<20)
		}
		subs := c.subs
		b.Run(name, func(b *testing.B) {
			l, _, enc, from, _ := newTestLoop(b, subs)
			l.groupByDestination = c.gso
			payload := bytes.Repeat([]byte{0xab}, 1100)
			pkts := make([][]byte, 4096)
			for i := range pkts {
				pkts[i] = encryptRTP(b, enc, uint16(i), payload)
			}
			buf := make([]byte, 2048)
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				if i%len(pkts) == 0 && i > 0 {
					b.StopTimer()
					for j := range pkts {
						pkts[j] = encryptRTP(b, enc, uint16(i+j), payload)
					}
					b.StartTimer()
				}
				if c.cold && i%c.every == 0 {
					b.StopTimer()
					for j := 0; j < len(evict); j += 64 {
						evict[j]++
					}
					b.StartTimer()
				}
				n := copy(buf, pkts[i%len(pkts)])
				l.handleDatagram(buf[:n], from, int64(i))
				if i%c.every == c.every-1 {
					l.flush()
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*subs), "ns/fwd-pkt")
		})
	}
}

func itoa(n int) string {
	if n == 0 {
		return "0"
	}
	var b []byte
	for ; n > 0; n /= 10 {
		b = append([]byte{byte('0' + n%10)}, b...)
	}
	return string(b)
}
