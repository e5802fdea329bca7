//go:build linux

package netio

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"syscall"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// maxGSOSegments is the kernel's UDP_MAX_SEGMENTS.
const maxGSOSegments = 64

// Conn batches I/O on one UDP socket. See the package doc for ownership.
type Conn struct {
	// f is a duplicate of the wrapped socket's descriptor as an *os.File,
	// which the batch I/O goes through: its raw reads return the poller's own error value
	// when a read deadline passes, where net's wrap it in a new *OpError,
	// one allocation per tick, wake or held flush of the loop.
	f   *os.File
	rc  syscall.RawConn
	fd  int // f's descriptor, valid until Close
	gso bool

	// recvmmsg state, reused on every call.
	rhdrs  []unix.Mmsghdr
	riovs  []unix.Iovec
	rnames []unix.RawSockaddrInet4
	rmsgs  []Message
	rn     int
	rerr   error
	readFn func(fd uintptr) bool

	// sendmmsg state.
	shdrs   []unix.Mmsghdr
	siovs   []unix.Iovec
	snames  []unix.RawSockaddrInet4
	scmsg   []byte // one UDP_SEGMENT control message per header
	sn      int    // headers prepared
	sdone   int
	serr    error
	writeFn func(fd uintptr) bool

	Stats Stats
}

// New wraps uc (an IPv4 UDP socket). batch bounds the messages per syscall.
// gso asks for UDP GSO; it is switched off by itself if the kernel refuses it.
func New(uc *net.UDPConn, batch int, gso bool) (*Conn, error) {
	urc, err := uc.SyscallConn()
	if err != nil {
		return nil, fmt.Errorf("netio: %w", err)
	}
	dup := -1
	var derr error
	if err := urc.Control(func(fd uintptr) { dup, derr = unix.FcntlInt(fd, unix.F_DUPFD_CLOEXEC, 0) }); err != nil || derr != nil {
		return nil, fmt.Errorf("netio: dup: %w", errors.Join(err, derr))
	}
	// The duplicate shares the socket's non-blocking flag, so the os
	// package registers it with the netpoller.
	f := os.NewFile(uintptr(dup), "media-socket")
	rc, err := f.SyscallConn()
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("netio: %w", err)
	}
	c := &Conn{
		f: f, rc: rc, gso: gso && gsoSupported(rc),
		rhdrs: make([]unix.Mmsghdr, batch), riovs: make([]unix.Iovec, batch), rnames: make([]unix.RawSockaddrInet4, batch),
		shdrs: make([]unix.Mmsghdr, batch), siovs: make([]unix.Iovec, batch*maxGSOSegments),
		snames: make([]unix.RawSockaddrInet4, batch), scmsg: make([]byte, batch*unix.CmsgSpace(2)),
	}
	c.readFn = c.doRead
	c.writeFn = c.doWrite
	if err := rc.Control(func(fd uintptr) { c.fd = int(fd) }); err != nil {
		return nil, fmt.Errorf("netio: %w", err)
	}
	return c, nil
}

// GSO reports whether UDP GSO is in use.
func (c *Conn) GSO() bool { return c.gso }

// SetReadDeadline bounds the wait of ReadBatch (the past makes a waiting
// ReadBatch return at once, with os.ErrDeadlineExceeded).
func (c *Conn) SetReadDeadline(t time.Time) error { return c.f.SetReadDeadline(t) }

// Close closes the Conn's duplicate descriptor (not the wrapped socket).
func (c *Conn) Close() error { return c.f.Close() }

func gsoSupported(rc syscall.RawConn) bool {
	ok := false
	_ = rc.Control(func(fd uintptr) {
		_, err := unix.GetsockoptInt(int(fd), unix.IPPROTO_UDP, unix.UDP_SEGMENT)
		ok = err == nil
	})
	return ok
}

// ReadBatch blocks until at least one datagram arrives (or the socket's read
// deadline passes) and fills ms[:n]. Each ms[i].Buf must have capacity.
func (c *Conn) ReadBatch(ms []Message) (int, error) {
	if len(ms) > len(c.rhdrs) {
		ms = ms[:len(c.rhdrs)]
	}
	for i := range ms {
		b := ms[i].Buf[:cap(ms[i].Buf)]
		c.riovs[i].Base = &b[0]
		c.riovs[i].SetLen(len(b))
		h := &c.rhdrs[i].Hdr
		h.Name = (*byte)(unsafe.Pointer(&c.rnames[i]))
		h.Namelen = unix.SizeofSockaddrInet4
		h.Iov = &c.riovs[i]
		h.SetIovlen(1)
		h.Control = nil
		h.SetControllen(0)
		h.Flags = 0
	}
	c.rmsgs = ms
	c.rn, c.rerr = 0, nil
	if err := c.rc.Read(c.readFn); err != nil {
		return 0, err
	}
	if c.rerr != nil {
		return 0, c.rerr
	}
	for i := 0; i < c.rn; i++ {
		ms[i].N = int(c.rhdrs[i].Len)
		sa := &c.rnames[i]
		port := binary.BigEndian.Uint16((*[2]byte)(unsafe.Pointer(&sa.Port))[:])
		ms[i].Addr = netip.AddrPortFrom(netip.AddrFrom4(sa.Addr), port)
	}
	c.Stats.RecvCalls++
	c.Stats.RecvPackets += uint64(c.rn)
	return c.rn, nil
}

// doRead and doWrite use raw syscalls: the socket is non-blocking, so they
// return at once (EAGAIN when nothing is ready), and entering the runtime's
// syscall state would only let sysmon hand the loop's P to another thread
// during a long sendmmsg, a thread wakeup per flush.
func (c *Conn) doRead(fd uintptr) bool {
	n, _, errno := unix.RawSyscall6(unix.SYS_RECVMMSG, fd, uintptr(unsafe.Pointer(&c.rhdrs[0])), uintptr(len(c.rmsgs)), unix.MSG_DONTWAIT, 0, 0)
	if errno == unix.EAGAIN || errno == unix.EINTR {
		return false
	}
	if errno != 0 {
		c.rerr = fmt.Errorf("netio: recvmmsg: %w", errno)
		return true
	}
	c.rn = int(n)
	return true
}

// WriteBatch sends ms[i].Buf[:ms[i].N] to ms[i].Addr for every message, with
// as few syscalls as it can: runs of consecutive messages to the same address
// whose sizes are equal (the last may be shorter) become one GSO send. It
// returns the number of messages the kernel accepted; errors for single
// destinations (e.g. ICMP unreachable) skip that datagram and are counted.
func (c *Conn) WriteBatch(ms []Message) (int, error) {
	sent := 0
	for sent < len(ms) {
		// Build up to len(shdrs) headers.
		c.sn = 0
		iov := 0
		for i := sent; i < len(ms) && c.sn < len(c.shdrs); {
			run := 1
			if c.gso {
				size := ms[i].N
				for i+run < len(ms) && run < maxGSOSegments && ms[i+run].Addr == ms[i].Addr &&
					ms[i+run].N <= size && ms[i+run-1].N == size && (run+1)*size <= 65000 {
					run++
				}
				if iov+run > len(c.siovs) {
					break
				}
			}
			h := &c.shdrs[c.sn].Hdr
			putSockaddr(&c.snames[c.sn], ms[i].Addr)
			h.Name = (*byte)(unsafe.Pointer(&c.snames[c.sn]))
			h.Namelen = unix.SizeofSockaddrInet4
			for k := 0; k < run; k++ {
				m := &ms[i+k]
				c.siovs[iov+k].Base = &m.Buf[:1][0]
				c.siovs[iov+k].SetLen(m.N)
			}
			h.Iov = &c.siovs[iov]
			h.SetIovlen(run)
			h.Flags = 0
			if run > 1 {
				cm := c.scmsg[c.sn*unix.CmsgSpace(2) : (c.sn+1)*unix.CmsgSpace(2)]
				hdr := (*unix.Cmsghdr)(unsafe.Pointer(&cm[0]))
				hdr.Level = unix.IPPROTO_UDP
				hdr.Type = unix.UDP_SEGMENT
				hdr.SetLen(unix.CmsgLen(2))
				binary.NativeEndian.PutUint16(cm[unix.CmsgLen(0):], uint16(ms[i].N))
				h.Control = &cm[0]
				h.SetControllen(unix.CmsgSpace(2))
				c.Stats.GSOSends++
			} else {
				h.Control = nil
				h.SetControllen(0)
			}
			iov += run
			i += run
			c.sn++
		}
		c.sdone, c.serr = 0, nil
		if err := c.rc.Write(c.writeFn); err != nil {
			return sent, err
		}
		c.Stats.SendCalls++
		if c.serr != nil {
			if errors.Is(c.serr, unix.EIO) && c.gso {
				// The device cannot segment (no checksum offload): plain sends from now on.
				c.gso = false
				sent += c.messagesIn(c.sdone)
				continue
			}
			// Skip the datagram(s) the kernel refused and go on with the rest.
			c.Stats.SendErrors++
			c.sdone++
		}
		n := c.messagesIn(c.sdone)
		sent += n
		c.Stats.SendPackets += uint64(n)
		if n == 0 {
			break
		}
	}
	return sent, nil
}

// messagesIn counts the messages carried by the first k prepared headers.
func (c *Conn) messagesIn(k int) int {
	n := 0
	for i := 0; i < k && i < c.sn; i++ {
		n += int(c.shdrs[i].Hdr.Iovlen)
	}
	return n
}

func (c *Conn) doWrite(fd uintptr) bool {
	for c.sdone < c.sn {
		n, _, errno := unix.RawSyscall6(unix.SYS_SENDMMSG, fd, uintptr(unsafe.Pointer(&c.shdrs[c.sdone])), uintptr(c.sn-c.sdone), 0, 0, 0)
		if errno == unix.EAGAIN {
			return false
		}
		if errno == unix.EINTR {
			continue
		}
		if errno != 0 {
			c.serr = errno
			return true
		}
		c.sdone += int(n)
	}
	return true
}

// KernelDrops returns the socket's receive drop count: datagrams the kernel
// discarded because the receive buffer was full (sk_drops, the counter
// SO_RXQ_OVFL reports per message), read with getsockopt SO_MEMINFO.
func (c *Conn) KernelDrops() (uint64, error) {
	var info [unix.SK_MEMINFO_VARS]uint32
	l := uint32(unsafe.Sizeof(info))
	_, _, errno := unix.RawSyscall6(unix.SYS_GETSOCKOPT, uintptr(c.fd), unix.SOL_SOCKET, unix.SO_MEMINFO,
		uintptr(unsafe.Pointer(&info[0])), uintptr(unsafe.Pointer(&l)), 0)
	if errno != 0 {
		return 0, fmt.Errorf("netio: getsockopt SO_MEMINFO: %w", errno)
	}
	return uint64(info[unix.SK_MEMINFO_DROPS]), nil
}

func putSockaddr(sa *unix.RawSockaddrInet4, a netip.AddrPort) {
	sa.Family = unix.AF_INET
	p := (*[2]byte)(unsafe.Pointer(&sa.Port))
	binary.BigEndian.PutUint16(p[:], a.Port())
	sa.Addr = a.Addr().Unmap().As4()
}
