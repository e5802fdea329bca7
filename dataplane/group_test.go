package dataplane

import (
	"bytes"
	"fmt"
	"net/netip"
	"testing"
	"time"

	"github.com/hayate-sfu/hayate/dataplane/netio"
	"github.com/pion/rtcp"
	"github.com/pion/rtp"
)

// With GSO a flush is grouped by subscriber: each subscriber's packets of a
// frame are adjacent (one super-packet), in the order they were forwarded,
// and nothing is lost — also with a message for an address outside any
// transport (a STUN answer, an RTP forwarding sink) queued in between.
func TestFlushGroupsBySubscriber(t *testing.T) {
	const subs, frame = 4, 5
	l, _, enc, from, subDecs := newTestLoop(t, subs)
	l.groupByDestination = true
	var got []netio.Message
	l.wire = func(ms []netio.Message) {
		for _, m := range ms {
			got = append(got, netio.Message{Buf: append([]byte(nil), m.Buf[:m.N]...), N: m.N, Addr: m.Addr})
		}
	}
	stray := netip.MustParseAddrPort("127.0.0.1:40000")
	for round := range 2 { // the second round checks the chains start afresh after a flush
		got = got[:0]
		for i := range frame {
			seq := uint16(100 + round*frame + i)
			l.handleDatagram(encryptRTP(t, enc, seq, bytes.Repeat([]byte{byte(i)}, 50)), from, int64(seq))
			if i == 2 {
				l.commit([]byte("stray"), stray)
			}
		}
		l.flush()
		if len(got) != subs*frame+1 {
			t.Fatalf("round %d: flushed %d messages, want %d", round, len(got), subs*frame+1)
		}
		// Expected: each subscriber's five packets in turn, then the stray
		// message, whose group started after every subscriber's.
		k := 0
		for s := range subs {
			want := netip.AddrPortFrom(netip.MustParseAddr("127.0.0.1"), uint16(20000+s))
			for i := range frame {
				m := got[k]
				k++
				if m.Addr != want {
					t.Fatalf("round %d message %d goes to %v, want %v (subscriber %d, packet %d)", round, k-1, m.Addr, want, s, i)
				}
				plain, err := subDecs[s].DecryptRTP(nil, m.Buf, nil)
				if err != nil {
					t.Fatalf("round %d subscriber %d packet %d: %v", round, s, i, err)
				}
				var p rtp.Packet
				if err := p.Unmarshal(plain); err != nil {
					t.Fatal(err)
				}
				if wantSeq := uint16(100 + round*frame + i); p.SequenceNumber != wantSeq {
					t.Fatalf("round %d subscriber %d packet %d has seq %d, want %d (order kept)", round, s, i, p.SequenceNumber, wantSeq)
				}
			}
		}
		if m := got[k]; m.Addr != stray || string(m.Buf) != "stray" {
			t.Fatalf("round %d: last message %q to %v, want the stray one", round, m.Buf, m.Addr)
		}
	}
}

// A subscriber never sees the publisher's MID or RID; one that negotiated
// transport-cc gets its own transport-wide sequence in every packet, one
// that did not gets none. The publisher's packet in the history keeps its
// payload for retransmissions.
func TestForwardRewritesExtensions(t *testing.T) {
	l, w, enc, from, subDecs := newTestLoop(t, 2)
	var withCC *transport
	for tr := range l.transports {
		if tr.ls.selected.Port() == 20000 {
			tr.ls.transportCC = true
			tr.ls.twccSeq = 7
			withCC = tr
		}
	}
	if withCC == nil {
		t.Fatal("no subscriber on port 20000")
	}
	w.keep = true
	payload := []byte{0x10, 0x00, 0x00, 0x9d, 0x01, 0x2a, 9, 9}
	for k := range 3 {
		h := rtp.Header{Version: 2, PayloadType: 96, SequenceNumber: uint16(300 + k), Timestamp: 1000, SSRC: 1111, Marker: true}
		for _, e := range []struct {
			id uint8
			v  []byte
		}{{ExtMid, []byte("1")}, {ExtRID, []byte("r0")}, {ExtTransportCC, []byte{0xee, 0xee}}} {
			if err := h.SetExtension(e.id, e.v); err != nil {
				t.Fatal(err)
			}
		}
		raw, err := (&rtp.Packet{Header: h, Payload: payload}).Marshal()
		if err != nil {
			t.Fatal(err)
		}
		in, err := enc.EncryptRTP(nil, raw, nil)
		if err != nil {
			t.Fatal(err)
		}
		l.handleDatagram(in, from, int64(k+1))
		l.flush()
		if len(w.got) != 2 {
			t.Fatalf("packet %d: sent %d, want 2", k, len(w.got))
		}
		for i, b := range w.got {
			plain, err := subDecs[i].DecryptRTP(nil, b, nil)
			if err != nil {
				t.Fatalf("subscriber %d: %v", i, err)
			}
			var p rtp.Packet
			if err := p.Unmarshal(plain); err != nil {
				t.Fatal(err)
			}
			if p.GetExtension(ExtMid) != nil || p.GetExtension(ExtRID) != nil {
				t.Fatalf("subscriber %d got MID %q RID %q, want none", i, p.GetExtension(ExtMid), p.GetExtension(ExtRID))
			}
			cc := p.GetExtension(ExtTransportCC)
			if i == 0 {
				if want := []byte{0, byte(7 + k)}; !bytes.Equal(cc, want) {
					t.Fatalf("packet %d: subscriber with transport-cc got %x, want %x", k, cc, want)
				}
			} else if cc != nil {
				t.Fatalf("packet %d: subscriber without transport-cc got %x, want none", k, cc)
			}
			if !bytes.Equal(p.Payload, payload) {
				t.Fatalf("subscriber %d payload %x, want %x", i, p.Payload, payload)
			}
		}
		w.got = nil
	}
}

// The RTCP a subscriber gets (sender reports here) decrypts with its
// SRTCP context, sealed by the loop's own sealer or by pion's context.
func TestSubscriberRTCPDecrypts(t *testing.T) {
	for _, sealer := range []bool{true, false} {
		t.Run(map[bool]string{true: "sealer", false: "pion"}[sealer], func(t *testing.T) {
			l, _, enc, from, subDecs := newTestLoop(t, 2)
			if !sealer {
				usePion(t, l)
			}
			got := map[netip.AddrPort][][]byte{}
			l.wire = func(ms []netio.Message) {
				for _, m := range ms {
					got[m.Addr] = append(got[m.Addr], append([]byte(nil), m.Buf[:m.N]...))
				}
			}
			for k := range 3 {
				l.handleDatagram(encryptRTP(t, enc, uint16(50+k), []byte{0x10, 0, 0, 0x9d, 1, 2}), from, int64(k+1))
			}
			l.flush()
			clear(got)
			for round := range 2 { // two reports each: the SRTCP index moves on
				l.reportsAndRetries(int64(2+round) * int64(time.Second))
				l.flush()
			}
			for i, dec := range subDecs {
				addr := netip.AddrPortFrom(netip.MustParseAddr("127.0.0.1"), uint16(20000+i))
				if len(got[addr]) != 2 {
					t.Fatalf("subscriber %d got %d RTCP packets, want 2 sender reports", i, len(got[addr]))
				}
				for _, b := range got[addr] {
					plain, err := dec.DecryptRTCP(nil, b, nil)
					if err != nil {
						t.Fatalf("subscriber %d cannot decrypt its RTCP: %v", i, err)
					}
					pkts, err := rtcp.Unmarshal(plain)
					if err != nil {
						t.Fatal(err)
					}
					sr, ok := pkts[0].(*rtcp.SenderReport)
					if !ok || sr.SSRC != uint32(5000+i) || sr.PacketCount != 3 {
						t.Fatalf("subscriber %d got %T %+v, want a sender report of SSRC %d with 3 packets", i, pkts[0], pkts[0], 5000+i)
					}
				}
			}
		})
	}
}

// The sender reports of one subscriber's tracks go out together, as
// compound packets that stay under 1280 bytes on the wire: 60 tracks, two
// datagrams a round (42 reports and 18), every track reported once.
func TestSenderReportsCompound(t *testing.T) {
	l, _, enc, from, subDecs := newTestLoop(t, 1)
	subAddr := netip.AddrPortFrom(netip.MustParseAddr("127.0.0.1"), 20000)
	pub, sub := l.byAddr[from], l.byAddr[subAddr]
	const extra = 59
	want := map[uint32]bool{5000: true}
	for k := range extra {
		id := fmt.Sprintf("pub:a%d", k)
		l.addUpstream(pub, Upstream{TrackID: id, Kind: KindAudio, Mid: fmt.Sprint(10 + k), SSRC: uint32(3000 + k), PayloadType: 111, ClockRate: 48000})
		if err := l.addDownstream(sub, Downstream{TrackID: id, Mid: fmt.Sprint(100 + k), SSRC: uint32(7000 + k)}); err != nil {
			t.Fatal(err)
		}
		want[uint32(7000+k)] = true
	}
	got := map[netip.AddrPort][][]byte{}
	l.wire = func(ms []netio.Message) {
		for _, m := range ms {
			got[m.Addr] = append(got[m.Addr], append([]byte(nil), m.Buf[:m.N]...))
		}
	}
	l.handleDatagram(encryptRTP(t, enc, 50, []byte{0x10, 0, 0, 0x9d, 1, 2}), from, 1)
	for k := range extra {
		h := rtp.Header{Version: 2, PayloadType: 111, SequenceNumber: 7, Timestamp: 960, SSRC: uint32(3000 + k)}
		l.handleDatagram(encryptRTPHeader(t, enc, h, []byte{0xfc, 1, 2, 3}), from, int64(2+k))
	}
	l.flush()
	if n := len(got[subAddr]); n != 1+extra {
		t.Fatalf("the subscriber got %d RTP packets, want %d (one per track)", n, 1+extra)
	}
	clear(got)
	l.reportsAndRetries(2 * int64(time.Second))
	l.flush()
	dgrams := got[subAddr]
	if len(dgrams) != 2 {
		t.Fatalf("the subscriber got %d RTCP datagrams for 60 tracks, want 2 compound packets", len(dgrams))
	}
	seen := map[uint32]int{}
	for i, b := range dgrams {
		if len(b) > 1280-28 {
			t.Errorf("datagram %d is %d bytes, over 1280 with IP and UDP headers", i, len(b))
		}
		plain, err := subDecs[0].DecryptRTCP(nil, b, nil)
		if err != nil {
			t.Fatalf("datagram %d does not decrypt: %v", i, err)
		}
		pkts, err := rtcp.Unmarshal(plain)
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range pkts {
			sr, ok := p.(*rtcp.SenderReport)
			if !ok {
				t.Fatalf("datagram %d carries %T, want only sender reports", i, p)
			}
			if sr.PacketCount != 1 {
				t.Errorf("SR of SSRC %d counts %d packets, want 1", sr.SSRC, sr.PacketCount)
			}
			seen[sr.SSRC]++
		}
		if i == 0 && len(pkts) != 42 {
			t.Errorf("the first compound packet holds %d reports, want 42 (as many as fit in %d bytes)", len(pkts), maxCompoundRTCP)
		}
	}
	if len(seen) != len(want) {
		t.Errorf("reports for %d tracks, want %d", len(seen), len(want))
	}
	for ssrc, n := range seen {
		if !want[ssrc] || n != 1 {
			t.Errorf("SSRC %d reported %d times (one of ours: %v)", ssrc, n, want[ssrc])
		}
	}
	if n := len(got[from]); n != 1 {
		t.Errorf("the publisher got %d RTCP datagrams, want 1 receiver report", n)
	}
}
