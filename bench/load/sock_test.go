package load

import (
	"encoding/binary"
	"net"
	"testing"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// rtpDatagram is a 12-byte RTP header (as SRTP leaves it) plus size-12
// bytes of body.
func rtpDatagram(size int, ssrc uint32, seq uint16) []byte {
	b := make([]byte, size)
	b[0] = 0x80
	b[1] = 96
	binary.BigEndian.PutUint16(b[2:4], seq)
	binary.BigEndian.PutUint32(b[8:12], ssrc)
	return b
}

// sendGSO sends segs as one UDP GSO super-packet (all but the last of one size).
func sendGSO(t *testing.T, from *net.UDPConn, to *net.UDPAddr, segs [][]byte) {
	t.Helper()
	var payload []byte
	for _, s := range segs {
		payload = append(payload, s...)
	}
	oob := make([]byte, unix.CmsgSpace(2))
	h := (*unix.Cmsghdr)(unsafePointer(oob))
	h.Level = unix.IPPROTO_UDP
	h.Type = unix.UDP_SEGMENT
	h.SetLen(unix.CmsgLen(2))
	binary.NativeEndian.PutUint16(oob[unix.CmsgLen(0):], uint16(len(segs[0])))
	if _, _, err := from.WriteMsgUDP(payload, oob, to); err != nil {
		t.Skipf("this kernel refuses UDP GSO on loopback: %v", err)
	}
}

func TestTimestampConnSplitsGROAndTimesEachPacket(t *testing.T) {
	epoch := time.Now()
	times := newPktTimes(epoch)
	sent := newPktTimes(epoch)
	n, err := newClientNet(times, sent, true)
	if err != nil {
		t.Fatal(err)
	}
	c, err := n.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	sender, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer sender.Close()
	to := c.LocalAddr().(*net.UDPAddr)

	// Five video packets of one frame in one super-packet (the last shorter),
	// then one plain datagram and one RTCP packet.
	var segs [][]byte
	for i := range 5 {
		size := 1200
		if i == 4 {
			size = 700
		}
		segs = append(segs, rtpDatagram(size, 0xabcd, uint16(100+i)))
	}
	before := time.Since(epoch).Nanoseconds()
	sendGSO(t, sender, to, segs)
	plain := rtpDatagram(300, 0x1234, 7)
	if _, err := sender.WriteToUDP(plain, to); err != nil {
		t.Fatal(err)
	}
	rtcp := []byte{0x81, 200, 0, 1, 0, 0, 0x12, 0x34}
	if _, err := sender.WriteToUDP(rtcp, to); err != nil {
		t.Fatal(err)
	}

	_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
	want := append(append(segs, plain), rtcp)
	buf := make([]byte, 1600)
	for i, w := range want {
		got, from, err := c.ReadFrom(buf)
		if err != nil {
			t.Fatalf("read %d: %v", i, err)
		}
		if got != len(w) || string(buf[:got]) != string(w) {
			t.Fatalf("read %d: %d bytes, want the %d-byte datagram %d as sent", i, got, len(w), i)
		}
		if from.String() != sender.LocalAddr().String() {
			t.Errorf("read %d from %v, want %v", i, from, sender.LocalAddr())
		}
	}
	after := time.Since(epoch).Nanoseconds()
	if r := c.(*timestampConn).reads; r != 3 {
		t.Errorf("%d reads from the kernel for 7 datagrams, want 3: the super-packet whole (UDP_GRO), then two", r)
	}

	var first int64
	for i := range 5 {
		at, ok := times.lookup(0xabcd, uint16(100+i))
		if !ok {
			t.Fatalf("no receive time for seq %d", 100+i)
		}
		if at < before || at > after {
			t.Errorf("seq %d received at %d ns, outside [%d, %d]", 100+i, at, before, after)
		}
		if i == 0 {
			first = at
		} else if at != first {
			t.Errorf("seq %d has time %d, want %d: one super-packet arrives at once", 100+i, at, first)
		}
	}
	if _, ok := times.lookup(0x1234, 7); !ok {
		t.Error("no receive time for the plain datagram")
	}
	if _, ok := times.lookup(0xabcd, 99); ok {
		t.Error("a receive time for a sequence number never sent")
	}
	if len(times.ssrcs) != 2 {
		t.Errorf("times kept for %d SSRCs, want 2 (RTCP is not RTP)", len(times.ssrcs))
	}

	// What the client sends through the socket is timed too.
	beforeSend := time.Since(epoch).Nanoseconds()
	if _, err := c.WriteTo(rtpDatagram(200, 0x5555, 9), sender.LocalAddr()); err != nil {
		t.Fatal(err)
	}
	if at, ok := sent.lookup(0x5555, 9); !ok || at < beforeSend || at > time.Since(epoch).Nanoseconds() {
		t.Errorf("send time of the written datagram = %d, %v; want one within the write", at, ok)
	}
	if _, ok := times.lookup(0x5555, 9); ok {
		t.Error("a sent datagram was timed as received")
	}
}

func TestRxTimesForgetsOverwrittenSlots(t *testing.T) {
	times := newPktTimes(time.Unix(0, 0))
	times.note(rtpDatagram(20, 1, 5), 1000)
	times.note(rtpDatagram(20, 1, 5+timeSlots), 2000) // same slot
	if _, ok := times.lookup(1, 5); ok {
		t.Error("seq 5 still found after its slot was reused")
	}
	if at, ok := times.lookup(1, 5+timeSlots); !ok || at != 2000 {
		t.Errorf("lookup(5+timeSlots) = %d, %v; want 2000, true", at, ok)
	}
	times.note([]byte{0x80, 96, 0}, 3000) // too short: ignored
	if len(times.ssrcs) != 1 {
		t.Errorf("%d SSRCs after a runt datagram, want 1", len(times.ssrcs))
	}
}

func unsafePointer(b []byte) unsafe.Pointer { return unsafe.Pointer(&b[0]) }
