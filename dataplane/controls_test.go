package dataplane

import (
	"bytes"
	"net/netip"
	"testing"

	"github.com/hayate-sfu/hayate/dataplane/feedback"
	"github.com/pion/rtcp"
	"github.com/pion/rtp"
)

// keyPayload is a VP8 keyframe start (S=1, PID=0, P=0).
var keyPayload = []byte{0x10, 0x10, 0x9d, 0x01, 0x2a, 1, 2, 3}
var deltaPayload = []byte{0x10, 0x11, 4, 5, 6}

func TestPauseAndResumeFromKeyframe(t *testing.T) {
	l, w, enc, from, _ := newTestLoop(t, 1)
	sub := l.byAddr[netip.MustParseAddrPort("127.0.0.1:20000")]
	send := func(seq uint16, payload []byte) int {
		w.sent = 0
		l.handleDatagram(encryptRTP(t, enc, seq, payload), from, int64(seq)*1e6)
		l.flush()
		return w.sent
	}
	if n := send(1, deltaPayload); n != 1 {
		t.Fatalf("before pausing %d packets went out, want 1", n)
	}
	if err := l.pauseDownstream(sub, "pub:1", true); err != nil {
		t.Fatal(err)
	}
	if n := send(2, keyPayload); n != 0 {
		t.Fatalf("paused: %d packets went out", n)
	}
	if err := l.pauseDownstream(sub, "pub:1", false); err != nil {
		t.Fatal(err)
	}
	// Resumed: a delta frame is held back (only the PLI goes out), the keyframe passes.
	w.keep, w.got = true, nil
	send(3, deltaPayload)
	for _, b := range w.got {
		if b[1] != 206 && !(b[0]&0xc0 == 0x80 && b[1] >= 192 && b[1] <= 223) {
			t.Fatalf("after resume, before a keyframe, a media packet went out")
		}
	}
	if n := send(4, keyPayload); n != 1 {
		t.Fatalf("after resume the keyframe sent %d packets, want 1", n)
	}
}

func TestUpstreamCapSendsREMB(t *testing.T) {
	l, w, _, from, _ := newTestLoop(t, 0)
	pub := l.byAddr[from]
	w.keep, w.got = true, nil
	if err := l.setCap(pub, "pub:1", 300_000); err != nil {
		t.Fatal(err)
	}
	l.flush()
	if len(w.got) != 1 {
		t.Fatalf("%d packets after setting a cap, want one REMB", len(w.got))
	}
	// The test loop's publisher shares keys with its client: decrypt as the client would.
	_, dec := srtpPair(t, 2)
	plain, err := dec.DecryptRTCP(nil, w.got[0], nil)
	if err != nil {
		t.Fatal(err)
	}
	pkts, err := rtcp.Unmarshal(plain)
	if err != nil {
		t.Fatal(err)
	}
	remb, ok := pkts[0].(*rtcp.ReceiverEstimatedMaximumBitrate)
	if !ok || remb.Bitrate < 290_000 || remb.Bitrate > 300_000 || len(remb.SSRCs) != 1 || remb.SSRCs[0] != 1111 {
		t.Fatalf("got %#v, want REMB ≈300 kb/s for SSRC 1111", pkts[0])
	}
	_ = feedback.FormatREMB
}

func TestPlainRTPForwarding(t *testing.T) {
	l, w, enc, from, _ := newTestLoop(t, 0)
	sink := netip.MustParseAddrPort("127.0.0.1:40000")
	id, err := l.addForward("pub:1", sink, 4242, "")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := l.addForward("nope", sink, 1, ""); err == nil {
		t.Fatal("forwarding an unknown track succeeded")
	}
	w.keep = true
	for seq, p := range [][]byte{deltaPayload, keyPayload, deltaPayload} {
		w.got = nil
		l.handleDatagram(encryptRTP(t, enc, uint16(100+seq), p), from, int64(seq)*1e6)
		l.flush()
		var media [][]byte
		for _, b := range w.got {
			if b[1]&0x7f == 96 {
				media = append(media, b)
			}
		}
		if seq == 0 {
			if len(media) != 0 {
				t.Fatal("forwarded before a keyframe")
			}
			continue
		}
		if len(media) != 1 {
			t.Fatalf("packet %d: %d forwarded", seq, len(media))
		}
		var pk rtp.Packet
		if err := pk.Unmarshal(media[0]); err != nil {
			t.Fatalf("forwarded packet is not plain RTP: %v", err)
		}
		if pk.SSRC != 4242 || !bytes.Equal(pk.Payload, p) {
			t.Fatalf("forwarded ssrc %d payload %x", pk.SSRC, pk.Payload)
		}
	}
	if len(l.forwards) != 1 || id == 0 {
		t.Fatalf("forwards %v id %d", l.forwards, id)
	}
}

func TestAudioLevels(t *testing.T) {
	l, _, enc, from, _ := newTestLoop(t, 0)
	pub := l.byAddr[from]
	l.addUpstream(pub, Upstream{TrackID: "pub:0", Kind: KindAudio, Mid: "0", SSRC: 2222, PayloadType: 111, ClockRate: 48000})
	for i := 0; i < 50; i++ {
		h := rtp.Header{Version: 2, PayloadType: 111, SequenceNumber: uint16(i), Timestamp: uint32(i) * 960, SSRC: 2222}
		level := byte(90) // quiet
		if i >= 25 {
			level = 0x80 | 10 // loud, voice
		}
		if err := h.SetExtension(ExtAudioLevel, []byte{level}); err != nil {
			t.Fatal(err)
		}
		raw, _ := (&rtp.Packet{Header: h, Payload: []byte{1, 2, 3}}).Marshal()
		pkt, err := enc.EncryptRTP(nil, raw, nil)
		if err != nil {
			t.Fatal(err)
		}
		l.handleDatagram(pkt, from, int64(i)*20e6)
	}
	out := map[string]AudioLevel{}
	l.audioLevels(out, 50*20e6)
	a, ok := out["pub:0"]
	if !ok {
		t.Fatalf("no level for the audio track: %v", out)
	}
	if a.Loudness < 80 || a.Loudness > 117 || a.SinceVoice < 0 || a.SinceVoice > 100e6 {
		t.Fatalf("level %+v after 25 loud packets with voice", a)
	}
	if _, ok := out["pub:1"]; ok {
		t.Fatal("a video track has an audio level")
	}
}

// TestDelayHistogram: durations land in the first bucket whose bound they do
// not exceed; the last bucket takes the rest.
func TestDelayHistogram(t *testing.T) {
	var h DelayHistogram
	for _, ns := range []int64{0, 20_000, 20_001, 999_999, 1_000_000, 10_000_001, -5} {
		h.Record(ns)
	}
	want := map[int]uint64{0: 3, 1: 1, 5: 2, len(DelayBounds): 1}
	for i := range h.Buckets {
		if got := h.Buckets[i].Load(); got != want[i] {
			t.Errorf("bucket %d (≤ %v) = %d, want %d", i, boundOf(i), got, want[i])
		}
	}
	if got := h.SumNs.Load(); got != 20_000+20_001+999_999+1_000_000+10_000_001 {
		t.Errorf("sum %d ns", got)
	}
}

func boundOf(i int) any {
	if i < len(DelayBounds) {
		return DelayBounds[i]
	}
	return "+Inf"
}
