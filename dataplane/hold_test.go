package dataplane

import (
	"testing"
	"time"

	"github.com/pion/rtp"
)

// holdPair connects a publisher and a subscriber of its video track on a
// plane with GSO and the given frame hold.
func holdPair(t *testing.T, hold time.Duration) (*Plane, *wireClient, *wireClient) {
	t.Helper()
	old := frameHold
	frameHold = hold
	t.Cleanup(func() { frameHold = old })
	p, pub, sub := mediaPair(t, Config{ListenAddress: "127.0.0.1", Loops: 1, GSO: true}, DTLSServer)
	if !p.impl.gso {
		t.Fatal("the kernel refused UDP_SEGMENT on loopback: nothing to hold a frame for")
	}
	return p, pub, sub
}

// sendFramePacket sends one packet of the publisher's video: a VP8 payload
// of 200 bytes (a keyframe's start when key), marker set on a frame's last.
func sendFramePacket(t *testing.T, pub *wireClient, seq uint16, key, marker bool) {
	t.Helper()
	payload := make([]byte, 200)
	copy(payload, deltaPayload)
	if key {
		copy(payload, keyPayload)
	}
	pkt := rtp.Packet{Header: rtp.Header{Version: 2, PayloadType: 96, SequenceNumber: seq, Timestamp: uint32(seq/3) * 3000,
		SSRC: releasePubSSRC, Marker: marker}, Payload: payload}
	raw, err := pkt.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	out, err := pub.tx.EncryptRTP(nil, raw, nil)
	if err != nil {
		t.Fatal(err)
	}
	pub.send(out)
}

// With GSO, the packets of a video frame that arrive apart (within the
// hold) reach the subscriber as one UDP_SEGMENT send per frame, in order.
func TestFrameHeldForOneGSOSend(t *testing.T) {
	p, pub, sub := holdPair(t, 50*time.Millisecond)
	const frames, perFrame = 5, 3
	before := p.Counters().GSOSends.Load()
	seq := uint16(100)
	for f := range frames {
		for i := range perFrame {
			sendFramePacket(t, pub, seq, f == 0 && i == 0, i == perFrame-1)
			seq++
			if i < perFrame-1 {
				time.Sleep(2 * time.Millisecond) // the loop reads each packet alone
			}
		}
		for i := range perFrame {
			h := sub.awaitRTP(releaseSubSSRC)
			if !h.Marker != (i < perFrame-1) {
				t.Fatalf("frame %d packet %d: marker %v", f, i, h.Marker)
			}
		}
	}
	// A tick between a frame's packets may split it in two flushes, one of
	// them still a GSO send; sent as read, none would be. The loop counts a
	// send when sendmmsg returns, and loopback delivers inside the call: the
	// last frame may be read here before it is counted.
	got := p.Counters().GSOSends.Load() - before
	for deadline := time.Now().Add(time.Second); got < frames && time.Now().Before(deadline); {
		time.Sleep(time.Millisecond)
		got = p.Counters().GSOSends.Load() - before
	}
	if got < frames {
		t.Fatalf("%d frames of %d packets, 2 ms apart, left in %d GSO sends, want at least one each", frames, perFrame, got)
	}
}

// A frame whose last packet never comes is not kept: what arrived of it
// leaves when the hold ends.
func TestIncompleteFrameNotKept(t *testing.T) {
	_, pub, sub := holdPair(t, 20*time.Millisecond)
	start := time.Now()
	sendFramePacket(t, pub, 100, true, false)
	sendFramePacket(t, pub, 101, false, false)
	for range 2 {
		if h := sub.awaitRTP(releaseSubSSRC); h.Marker {
			t.Fatal("a packet without marker arrived with one")
		}
	}
	if d := time.Since(start); d > 20*time.Millisecond+500*time.Millisecond {
		t.Fatalf("an incomplete frame waited %v for a hold of 20ms", d)
	}
}
