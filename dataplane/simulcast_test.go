package dataplane

import (
	"bytes"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hayate-sfu/hayate/dataplane/forward"
	"github.com/hayate-sfu/hayate/dataplane/handshake"
	"github.com/pion/rtp"
	"github.com/pion/srtp/v3"
)

var update = flag.Bool("update", false, "rewrite golden files")

// vp8Packet builds a VP8 RTP packet of one simulcast layer with the MID and
// RID extensions Chrome sends, a 15-bit picture id and TL0PICIDX.
func vp8Packet(t testing.TB, ssrc uint32, rid string, seq uint16, ts uint32, pid uint16, tl0 uint8, key bool) []byte {
	t.Helper()
	h := rtp.Header{Version: 2, PayloadType: 96, SequenceNumber: seq, Timestamp: ts, SSRC: ssrc, Marker: true}
	if err := h.SetExtension(ExtMid, []byte("1")); err != nil {
		t.Fatal(err)
	}
	if err := h.SetExtension(ExtRID, []byte(rid)); err != nil {
		t.Fatal(err)
	}
	vp8 := byte(0x11) // P=1: inter frame
	if key {
		vp8 = 0x10
	}
	// X=1 S=1 PID=0 | I=1 L=1 | M=1 picture id (15 bit) | TL0PICIDX | VP8 payload header
	payload := []byte{0x90, 0xc0, 0x80 | byte(pid>>8), byte(pid), tl0, vp8, 0x9d, 0x01, 0x2a, byte(seq)}
	p := rtp.Packet{Header: h, Payload: payload}
	raw, err := p.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	return raw
}

type layerPkt struct {
	rid string
	key bool
}

// TestSimulcastSwitchGolden feeds a recorded interleaving of three layers
// through the loop and records what one subscriber receives: one continuous
// stream whose sequence numbers go up by one, timestamps never go back, VP8
// picture ids and TL0PICIDX continue, and layer changes happen only on a
// keyframe of the requested layer.
func TestSimulcastSwitchGolden(t *testing.T) {
	l, w, pubEnc, from, sub, subDec := newSimulcastLoop(t, "r0")
	w.keep = true
	ssrcs := map[string]uint32{"r0": 100, "r1": 101, "r2": 102}
	seqs := map[string]uint16{"r0": 1000, "r1": 5000, "r2": 64000} // r2 wraps
	pids := map[string]uint16{"r0": 10, "r1": 2000, "r2": 32760}   // r2 wraps at 2^15
	tl0s := map[string]uint8{"r0": 1, "r1": 100, "r2": 250}
	var log strings.Builder
	now := int64(0)
	frame := 0
	step := func(script []layerPkt, note string) {
		fmt.Fprintf(&log, "# %s\n", note)
		for _, lp := range script {
			now += 33_000_000
			frame++
			ts := uint32(frame) * 3000
			pkt := vp8Packet(t, ssrcs[lp.rid], lp.rid, seqs[lp.rid], ts+uint32(len(lp.rid))*7, pids[lp.rid], tl0s[lp.rid], lp.key)
			seqs[lp.rid]++
			pids[lp.rid] = (pids[lp.rid] + 1) & 0x7fff
			tl0s[lp.rid]++
			enc, err := pubEnc.EncryptRTP(nil, pkt, nil)
			if err != nil {
				t.Fatal(err)
			}
			w.got = w.got[:0]
			l.handleDatagram(enc, from, now)
			l.flush()
			fmt.Fprintf(&log, "in  %s key=%-5v -> ", lp.rid, lp.key)
			out := 0
			for _, b := range w.got {
				plain, err := subDec.DecryptRTP(nil, b, nil)
				if err != nil {
					continue // RTCP to the publisher (PLI), not for the subscriber
				}
				var p rtp.Packet
				if err := p.Unmarshal(plain); err != nil {
					t.Fatal(err)
				}
				out++
				fmt.Fprintf(&log, "out ssrc=%d seq=%d ts=%d pid=%d tl0=%d", p.SSRC, p.SequenceNumber, p.Timestamp,
					uint16(p.Payload[2]&0x7f)<<8|uint16(p.Payload[3]), p.Payload[4])
			}
			if out == 0 {
				fmt.Fprintf(&log, "dropped")
			}
			log.WriteString("\n")
		}
	}
	// All three layers flow; the subscriber asked for r0.
	step([]layerPkt{{"r0", false}, {"r1", true}, {"r0", true}, {"r1", false}, {"r2", false}, {"r0", false}}, "r0 requested: nothing before an r0 keyframe")
	if err := l.setLayer(sub, "pub:1", "r2"); err != nil {
		t.Fatal(err)
	}
	step([]layerPkt{{"r0", false}, {"r2", false}, {"r0", false}, {"r2", true}, {"r0", false}, {"r2", false}}, "switch up to r2: r0 continues until an r2 keyframe")
	if err := l.setLayer(sub, "pub:1", "r1"); err != nil {
		t.Fatal(err)
	}
	step([]layerPkt{{"r2", false}, {"r1", true}, {"r2", false}, {"r1", false}}, "switch down to r1 on its keyframe")
	if err := l.setLayer(sub, "pub:1", "none"); err != nil {
		t.Fatal(err)
	}
	step([]layerPkt{{"r1", false}, {"r0", true}}, "none: nothing is forwarded")

	golden := filepath.Join("testdata", "simulcast_switch.golden")
	if *update {
		if err := os.MkdirAll("testdata", 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(golden, []byte(log.String()), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatalf("%v (run with -update to create it)", err)
	}
	if !bytes.Equal(want, []byte(log.String())) {
		t.Fatalf("output differs from %s (rerun with -update and review the diff):\n%s", golden, log.String())
	}
	checkContinuity(t, log.String())
}

// checkContinuity re-reads the transcript and asserts the invariants the
// golden file is meant to show, so a careless -update cannot bless a bug.
func checkContinuity(t *testing.T, transcript string) {
	t.Helper()
	var lastSeq, lastPID int = -1, -1
	var lastTS, lastTL0 int64 = -1, -1
	for _, line := range strings.Split(transcript, "\n") {
		i := strings.Index(line, "out ssrc=")
		if i < 0 {
			continue
		}
		var ssrc, seq, pid, tl0 int
		var ts int64
		if _, err := fmt.Sscanf(line[i:], "out ssrc=%d seq=%d ts=%d pid=%d tl0=%d", &ssrc, &seq, &ts, &pid, &tl0); err != nil {
			t.Fatalf("parse %q: %v", line, err)
		}
		if ssrc != 7000 {
			t.Errorf("ssrc %d, want the subscriber's 7000", ssrc)
		}
		if lastSeq >= 0 && seq != (lastSeq+1)&0xffff {
			t.Errorf("sequence jumps from %d to %d", lastSeq, seq)
		}
		if lastTS >= 0 && ts <= lastTS {
			t.Errorf("timestamp goes from %d to %d", lastTS, ts)
		}
		if lastPID >= 0 && pid != (lastPID+1)&0x7fff {
			t.Errorf("picture id jumps from %d to %d", lastPID, pid)
		}
		if lastTL0 >= 0 && int64(tl0) != (lastTL0+1)&0xff {
			t.Errorf("TL0PICIDX jumps from %d to %d", lastTL0, tl0)
		}
		lastSeq, lastTS, lastPID, lastTL0 = seq, ts, pid, int64(tl0)
	}
	if lastSeq < 0 {
		t.Fatal("nothing was forwarded")
	}
}

func newSimulcastLoop(t *testing.T, rid string) (*loopState, *fakeWire, *srtp.Context, netip.AddrPort, *transport, *srtp.Context) {
	t.Helper()
	l, w, enc, from, _ := newTestLoop(t, 0)
	pub := l.byAddr[from]
	l.removeUpstream(pub, "pub:1")
	l.addUpstream(pub, Upstream{TrackID: "pub:1", Kind: KindVideo, Mid: "1", PayloadType: 96, ClockRate: 90000, RIDs: []string{"r0", "r1", "r2"}})
	sub := &transport{p: l.p, id: "sub"}
	sub.hs = handshake.NewConn(nil, func([]byte, *net.UDPAddr) error { return nil })
	sub.ls = transportLoopState{
		ups: map[uint32]*upTrack{}, sources: map[string]*source{}, sourcesByMid: map[string]*source{},
		downs: map[uint32]*downTrack{}, downsByID: map[string]*downTrack{},
	}
	addr := netip.MustParseAddrPort("127.0.0.1:30000")
	sub.ls.selected, sub.ls.addrs, sub.ls.connected = addr, []netip.AddrPort{addr}, true
	subDec, subEnc := srtpPair(t, 40)
	_, rx := srtpPair(t, 41)
	sub.ls.rx, sub.ls.tx = rx, subEnc
	l.byAddr[addr] = sub
	l.transports[sub] = struct{}{}
	if err := l.addDownstream(sub, Downstream{TrackID: "pub:1", Mid: "5", SSRC: 7000, RTXSSRC: 7001, RID: rid}); err != nil {
		t.Fatal(err)
	}
	l.flush()
	w.sent = 0
	return l, w, enc, from, sub, subDec
}

// TestAutomaticLayerFollowsEstimate: a subscriber that asked for r2 is held
// at the layer its transport's bandwidth estimate can carry, and goes back
// up (never above r2) when the estimate grows.
func TestAutomaticLayerFollowsEstimate(t *testing.T) {
	l, _, _, from, sub, _ := newSimulcastLoop(t, "r2")
	src := l.byAddr[from].ls.sources["pub:1"]
	for i, r := range []float64{150_000, 500_000, 1_500_000} {
		src.layers[i].rate = r
	}
	d := sub.ls.downsByID["pub:1"]
	var logged bytes.Buffer
	l.p.log = slog.New(slog.NewTextHandler(&logged, &slog.HandlerOptions{Level: slog.LevelDebug}))
	for _, tc := range []struct {
		estimate float64
		want     int
	}{
		{3_000_000, 2},
		{700_000, 1},
		{200_000, 0},
		{50_000, 0}, // the lowest layer is kept even when nothing fits
		{1_000_000, 1},
		{2_500_000, 2},
	} {
		sub.ls.bwe = forward.NewEstimator(tc.estimate, 1, 1e9)
		sub.ls.bwe.Reports = 1
		l.allocate(sub, 1)
		if d.target != tc.want || d.requested != 2 {
			t.Fatalf("estimate %.0f: target layer %d (requested %d), want %d", tc.estimate, d.target, d.requested, tc.want)
		}
		d.current = d.target // as if the keyframe had come
	}
	// Each time the estimate took a requested layer away, the debug log
	// says so with the figures (two of the steps above lowered it).
	if got := strings.Count(logged.String(), "layer lowered by the bandwidth estimate"); got != 2 ||
		!strings.Contains(logged.String(), "from=2 to=1 requested=2 estimate_bps=700000") {
		t.Errorf("the debug log of the lowered layers:\n%s", logged.String())
	}
	// An explicit request caps the automatic choice.
	if err := l.setLayer(sub, "pub:1", "r0"); err != nil {
		t.Fatal(err)
	}
	l.allocate(sub, 2)
	if d.target != 0 {
		t.Fatalf("after requesting r0 with a 2.5 Mb/s estimate the target is %d", d.target)
	}
}
