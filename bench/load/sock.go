package load

import (
	"encoding/binary"
	"errors"
	"net"
	"sync"
	"time"
	"unsafe"

	"github.com/pion/transport/v5"
	"github.com/pion/transport/v5/stdnet"
	"golang.org/x/sys/unix"
)

// A load client's UDP sockets are its own (clientNet), for two reasons:
//
//   - The kernel's receive time of every datagram (SO_TIMESTAMPNS) is kept
//     per RTP SSRC and sequence number, and so is the time each RTP datagram
//     is handed to the kernel to send (pktTimes), so the added latency is
//     read from the publisher's socket to the subscriber's: the server's
//     forwarding, not the time fifty pion clients sharing two cores with it
//     take to encrypt, decrypt and hand a packet over.
//   - With gro, the socket takes UDP_GRO: a GSO super-packet the server sent
//     to this client is queued whole, and split here, as a remote host's
//     NIC and stack would do on their own CPUs. On loopback the kernel runs
//     the receiver's side in the sender's system call, so without it the
//     server is charged for segmenting each super-packet again and
//     delivering every segment. Packets sent one by one (GSO off, the pion
//     baseline) are delivered one by one either way.

// timeSlots is how many recent packets of one SSRC keep their time
// (indexed by sequence number).
const timeSlots = 1024

// pktTimes maps (SSRC, sequence number) of RTP packets a socket received
// (or sent) to the time, in ns since the session epoch.
type pktTimes struct {
	epochUnixNs int64 // the session epoch on CLOCK_REALTIME

	mu    sync.Mutex
	ssrcs map[uint32]*pktRing
}

type pktRing struct {
	seq [timeSlots]uint16
	ns  [timeSlots]int64
}

func newPktTimes(epoch time.Time) *pktTimes {
	return &pktTimes{epochUnixNs: epoch.UnixNano(), ssrcs: map[uint32]*pktRing{}}
}

// note records the time of datagram b if it is an RTP packet (SRTP leaves
// the header in the clear). RTCP (payload types 64–95 after the
// marker bit, RFC 5761) is ignored.
func (r *pktTimes) note(b []byte, unixNs int64) {
	if len(b) < 12 || b[0]>>6 != 2 {
		return
	}
	if pt := b[1] & 0x7f; pt >= 64 && pt <= 95 {
		return
	}
	seq := binary.BigEndian.Uint16(b[2:4])
	ssrc := binary.BigEndian.Uint32(b[8:12])
	r.mu.Lock()
	ring := r.ssrcs[ssrc]
	if ring == nil {
		ring = &pktRing{}
		r.ssrcs[ssrc] = ring
	}
	i := seq % timeSlots
	ring.seq[i] = seq
	ring.ns[i] = unixNs - r.epochUnixNs
	r.mu.Unlock()
}

// lookup returns the receive time of (ssrc, seq), if still kept.
func (r *pktTimes) lookup(ssrc uint32, seq uint16) (int64, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	ring := r.ssrcs[ssrc]
	if ring == nil {
		return 0, false
	}
	i := seq % timeSlots
	if ring.seq[i] != seq || ring.ns[i] == 0 {
		return 0, false
	}
	return ring.ns[i], true
}

// clientNet is a pion transport.Net whose UDP sockets are timestampConns.
type clientNet struct {
	*stdnet.Net
	rx, tx *pktTimes
	gro    bool
}

// newClientNet returns a Net whose sockets record in rx when each RTP
// datagram arrived (kernel time) and in tx when each was sent. The list of
// interfaces is read once per process (sharedNet).
func newClientNet(rx, tx *pktTimes, gro bool) (*clientNet, error) {
	n, err := sharedNet()
	if err != nil {
		return nil, err
	}
	return &clientNet{Net: n, rx: rx, tx: tx, gro: gro}, nil
}

// sharedNet reads the machine's interfaces for every client: pion's
// stdnet.NewNet lists them and their addresses on each call, and nothing
// changes them during a run. The Net is only read afterwards.
var sharedNet = sync.OnceValues(stdnet.NewNet)

func (n *clientNet) ListenUDP(network string, laddr *net.UDPAddr) (transport.UDPConn, error) {
	c, err := net.ListenUDP(network, laddr)
	if err != nil {
		return nil, err
	}
	return newTimestampConn(c, n.rx, n.tx, n.gro)
}

func (n *clientNet) ListenPacket(network, address string) (net.PacketConn, error) {
	a, err := net.ResolveUDPAddr(network, address)
	if err != nil {
		return nil, err
	}
	return n.ListenUDP(network, a)
}

// timestampConn is a UDP socket that records each datagram's kernel receive
// time and, with GRO, splits coalesced reads into their datagrams. One
// goroutine reads it (pion's ICE candidate loop); writes pass through.
type timestampConn struct {
	*net.UDPConn
	rx, tx *pktTimes

	mu      sync.Mutex
	buf     []byte // the last read; with GRO several datagrams
	oob     []byte
	next    int // offset of the next datagram still to hand out
	end     int
	segSize int
	from    *net.UDPAddr
	reads   int // datagrams read from the kernel (coalesced ones count once)
}

// groBuf holds the largest coalesced read (64 KiB of UDP payload).
const groBuf = 1 << 16

func newTimestampConn(c *net.UDPConn, rx, tx *pktTimes, gro bool) (*timestampConn, error) {
	rc, err := c.SyscallConn()
	if err != nil {
		_ = c.Close()
		return nil, err
	}
	var serr error
	if err := rc.Control(func(fd uintptr) {
		serr = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_TIMESTAMPNS, 1)
		if serr == nil && gro {
			serr = unix.SetsockoptInt(int(fd), unix.IPPROTO_UDP, unix.UDP_GRO, 1)
		}
	}); err != nil || serr != nil {
		_ = c.Close()
		return nil, errors.Join(err, serr)
	}
	return &timestampConn{UDPConn: c, rx: rx, tx: tx, buf: make([]byte, groBuf), oob: make([]byte, 128)}, nil
}

// WriteTo notes when an RTP datagram is handed to the kernel, then sends it.
func (c *timestampConn) WriteTo(p []byte, addr net.Addr) (int, error) {
	c.tx.note(p, time.Now().UnixNano())
	return c.UDPConn.WriteTo(p, addr)
}

// ReadFrom returns one datagram: the next of the last coalesced read, or a
// new read's first.
func (c *timestampConn) ReadFrom(p []byte) (int, net.Addr, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.next >= c.end {
		n, oobn, _, from, err := c.UDPConn.ReadMsgUDP(c.buf, c.oob)
		if err != nil {
			return 0, nil, err
		}
		c.reads++
		c.next, c.end, c.from, c.segSize = 0, n, from, n
		rx := time.Now().UnixNano()
		if ts, seg, ok := parseCmsgs(c.oob[:oobn]); ok {
			if ts != 0 {
				rx = ts
			}
			if seg > 0 {
				c.segSize = seg
			}
		}
		for off := 0; off < n; off += c.segSize {
			c.rx.note(c.buf[off:min(n, off+c.segSize)], rx)
		}
	}
	seg := c.buf[c.next:min(c.end, c.next+c.segSize)]
	c.next += len(seg)
	return copy(p, seg), c.from, nil
}

// parseCmsgs reads SCM_TIMESTAMPNS (ns since the Unix epoch) and UDP_GRO
// (the segment size of a coalesced read) from a control message buffer.
func parseCmsgs(oob []byte) (ts int64, seg int, ok bool) {
	msgs, err := unix.ParseSocketControlMessage(oob)
	if err != nil {
		return 0, 0, false
	}
	for _, m := range msgs {
		switch {
		case m.Header.Level == unix.SOL_SOCKET && m.Header.Type == unix.SCM_TIMESTAMPNS && len(m.Data) >= int(unsafe.Sizeof(unix.Timespec{})):
			t := (*unix.Timespec)(unsafe.Pointer(&m.Data[0]))
			ts = t.Nano()
		case m.Header.Level == unix.IPPROTO_UDP && m.Header.Type == unix.UDP_GRO && len(m.Data) >= 2:
			// The kernel writes an int; only its low 16 bits can be set.
			seg = int(binary.NativeEndian.Uint16(m.Data[:2]))
			if len(m.Data) >= 4 {
				seg = int(binary.NativeEndian.Uint32(m.Data[:4]))
			}
		}
	}
	return ts, seg, true
}
