package dataplane

import (
	"bytes"
	"net/netip"
	"testing"

	"github.com/hayate-sfu/hayate/dataplane/netio"
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
