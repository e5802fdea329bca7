//go:build linux

package netio

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"sync"
	"syscall"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// maxGSOSegments is the kernel's UDP_MAX_SEGMENTS.
const maxGSOSegments = 64

// maxSendWait bounds how long WriteBatch waits for room in a full send
// buffer before it drops the rest of the batch (WriteBatch then reports fewer
// messages sent; the plane counts the rest as send errors).
const maxSendWait = 5 * time.Millisecond

// ErrWoken is what ReadBatch returns without datagrams when the Conn's timer
// expired (ArmTimer) or another goroutine called Wake.
var ErrWoken = errors.New("netio: woken")

// ErrClosed is returned by the Conn's methods once it is closed.
var ErrClosed = errors.New("netio: closed")

// Conn batches I/O on one UDP socket. See the package doc for ownership.
type Conn struct {
	sock int // the socket (a duplicate of the wrapped one), non-blocking
	tfd  int // timerfd behind ArmTimer
	efd  int // eventfd behind Wake
	// ep is the private epoll set of sock (EPOLLIN only), tfd and efd. The
	// runtime's netpoller sees only ep, through epf: a loop parks in
	// ReadBatch until a datagram, its timer or a Wake.
	ep  *os.File
	rc  syscall.RawConn
	gso bool

	// mu orders WriteTo, which any goroutine may call, against Close: the
	// socket's descriptor number must not be written to once it may
	// belong to another file. closed is set under mu.
	mu     sync.RWMutex
	closed bool

	// recvmmsg state, reused on every call.
	rhdrs  []unix.Mmsghdr
	riovs  []unix.Iovec
	rnames []unix.RawSockaddrInet4
	rmsgs  []Message
	rn     int
	rerr   error
	woken  bool
	events [4]unix.EpollEvent
	drain  [8]byte
	readFn func(fd uintptr) bool

	// sendmmsg state.
	shdrs  []unix.Mmsghdr
	siovs  []unix.Iovec
	snames []unix.RawSockaddrInet4
	scmsg  []byte // one UDP_SEGMENT control message per header
	sn     int    // headers prepared
	sdone  int
	serr   error

	timer unix.ItimerSpec
	one   [8]byte // the eventfd increment

	Stats Stats
}

// New takes over uc (an IPv4 UDP socket): it keeps a duplicate of the
// socket's descriptor outside the runtime's poller and closes uc. batch
// bounds the messages per syscall. gso asks for UDP GSO; it is switched off
// by itself if the kernel refuses it.
//
// The socket is registered with EPOLLIN only, in an epoll set of the Conn's
// own: the runtime's netpoller registers its descriptors for EPOLLOUT too,
// and a UDP socket reports write space after every datagram it sends, one
// spurious netpoller wakeup per flush.
func New(uc *net.UDPConn, batch int, gso bool) (*Conn, error) {
	urc, err := uc.SyscallConn()
	if err != nil {
		return nil, fmt.Errorf("netio: %w", err)
	}
	sock := -1
	var derr error
	if err := urc.Control(func(fd uintptr) { sock, derr = unix.FcntlInt(fd, unix.F_DUPFD_CLOEXEC, 0) }); err != nil || derr != nil {
		return nil, fmt.Errorf("netio: dup: %w", errors.Join(err, derr))
	}
	c := &Conn{
		sock: sock, tfd: -1, efd: -1,
		rhdrs: make([]unix.Mmsghdr, batch), riovs: make([]unix.Iovec, batch), rnames: make([]unix.RawSockaddrInet4, batch),
		shdrs: make([]unix.Mmsghdr, batch), siovs: make([]unix.Iovec, batch*maxGSOSegments),
		snames: make([]unix.RawSockaddrInet4, batch), scmsg: make([]byte, batch*unix.CmsgSpace(2)),
	}
	binary.NativeEndian.PutUint64(c.one[:], 1)
	if err := c.setUp(); err != nil {
		c.closeFDs()
		return nil, err
	}
	// The duplicate keeps the socket; uc's descriptor leaves the poller.
	_ = uc.Close()
	c.gso = gso && gsoSupported(sock)
	c.readFn = c.doRead
	return c, nil
}

func (c *Conn) setUp() error {
	var err error
	if err = unix.SetNonblock(c.sock, true); err != nil {
		return fmt.Errorf("netio: %w", err)
	}
	if c.tfd, err = unix.TimerfdCreate(unix.CLOCK_MONOTONIC, unix.TFD_NONBLOCK|unix.TFD_CLOEXEC); err != nil {
		return fmt.Errorf("netio: timerfd_create: %w", err)
	}
	if c.efd, err = unix.Eventfd(0, unix.EFD_NONBLOCK|unix.EFD_CLOEXEC); err != nil {
		return fmt.Errorf("netio: eventfd: %w", err)
	}
	ep, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
	if err != nil {
		return fmt.Errorf("netio: epoll_create1: %w", err)
	}
	for _, fd := range []int{c.sock, c.tfd, c.efd} {
		ev := unix.EpollEvent{Events: unix.EPOLLIN, Fd: int32(fd)}
		if err := unix.EpollCtl(ep, unix.EPOLL_CTL_ADD, fd, &ev); err != nil {
			unix.Close(ep)
			return fmt.Errorf("netio: epoll_ctl: %w", err)
		}
	}
	if err := unix.SetNonblock(ep, true); err != nil {
		unix.Close(ep)
		return fmt.Errorf("netio: %w", err)
	}
	// Non-blocking, so the os package registers it with the netpoller.
	c.ep = os.NewFile(uintptr(ep), "media-epoll")
	if c.rc, err = c.ep.SyscallConn(); err != nil {
		return fmt.Errorf("netio: %w", err)
	}
	return nil
}

// GSO reports whether UDP GSO is in use.
func (c *Conn) GSO() bool { return c.gso }

// ArmTimer makes a ReadBatch waiting d from now return ErrWoken (d ≤ 0: at
// once). It replaces the previous arming; the loop owning the Conn calls it.
func (c *Conn) ArmTimer(d time.Duration) {
	if d <= 0 {
		d = 1 // 1 ns: a zero it_value would disarm the timer
	}
	c.timer.Value = unix.NsecToTimespec(int64(d))
	_, _, _ = unix.RawSyscall6(unix.SYS_TIMERFD_SETTIME, uintptr(c.tfd), 0, uintptr(unsafe.Pointer(&c.timer)), 0, 0, 0)
}

// Wake makes the next or current ReadBatch return (ErrWoken when no datagram
// is waiting). Any goroutine may call it; wakes before that ReadBatch merge
// into one.
func (c *Conn) Wake() {
	_, _, _ = unix.RawSyscall(unix.SYS_WRITE, uintptr(c.efd), uintptr(unsafe.Pointer(&c.one[0])), 8)
}

// Close releases the Conn's descriptors, the socket included. ReadBatch and
// WriteBatch must have returned.
func (c *Conn) Close() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return nil
	}
	c.closed = true
	return c.closeFDs()
}

func (c *Conn) closeFDs() error {
	var err error
	if c.ep != nil {
		err = c.ep.Close()
	}
	for _, fd := range []int{c.tfd, c.efd, c.sock} {
		if fd >= 0 {
			_ = unix.Close(fd)
		}
	}
	return err
}

func gsoSupported(sock int) bool {
	_, err := unix.GetsockoptInt(sock, unix.IPPROTO_UDP, unix.UDP_SEGMENT)
	return err == nil
}

// WriteTo sends one datagram from any goroutine (DTLS flights). It never
// blocks: with the send buffer full the datagram is dropped (EAGAIN).
// After Close it returns ErrClosed.
func (c *Conn) WriteTo(b []byte, to netip.AddrPort) error {
	c.mu.RLock()
	defer c.mu.RUnlock()
	if c.closed {
		return ErrClosed
	}
	var sa unix.RawSockaddrInet4
	putSockaddr(&sa, to)
	var p unsafe.Pointer
	if len(b) > 0 {
		p = unsafe.Pointer(&b[0])
	}
	_, _, errno := unix.Syscall6(unix.SYS_SENDTO, uintptr(c.sock), uintptr(p), uintptr(len(b)), 0,
		uintptr(unsafe.Pointer(&sa)), unix.SizeofSockaddrInet4)
	if errno != 0 {
		return fmt.Errorf("netio: sendto %v: %w", to, errno)
	}
	return nil
}

// ReadBatch blocks until at least one datagram arrives, the timer expires or
// Wake is called, and fills ms[:n]; with no datagram it returns 0, ErrWoken.
// Each ms[i].Buf must have capacity.
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
	c.rn, c.rerr, c.woken = 0, nil, false
	if err := c.rc.Read(c.readFn); err != nil {
		if errors.Is(err, os.ErrClosed) {
			return 0, ErrClosed
		}
		return 0, err
	}
	if c.rerr != nil {
		return 0, c.rerr
	}
	if c.woken {
		return 0, ErrWoken
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
//
// doRead is called with ep's descriptor: with no datagram it looks at the
// private set without waiting, to tell a timer or a Wake from nothing.
func (c *Conn) doRead(ep uintptr) bool {
	for range 2 {
		n, _, errno := unix.RawSyscall6(unix.SYS_RECVMMSG, uintptr(c.sock), uintptr(unsafe.Pointer(&c.rhdrs[0])), uintptr(len(c.rmsgs)), unix.MSG_DONTWAIT, 0, 0)
		if errno == 0 {
			c.rn = int(n)
			return true
		}
		if errno != unix.EAGAIN && errno != unix.EINTR {
			c.rerr = fmt.Errorf("netio: recvmmsg: %w", errno)
			return true
		}
		k, _, errno := unix.RawSyscall6(unix.SYS_EPOLL_WAIT, ep, uintptr(unsafe.Pointer(&c.events[0])), uintptr(len(c.events)), 0, 0, 0)
		if errno == unix.EINTR {
			continue // cannot happen with a zero timeout; retry rather than miss a wake
		}
		if errno != 0 {
			return false
		}
		data := false
		for i := 0; i < int(k); i++ {
			switch int(c.events[i].Fd) {
			case c.tfd:
				_, _, _ = unix.RawSyscall(unix.SYS_READ, uintptr(c.tfd), uintptr(unsafe.Pointer(&c.drain[0])), 8)
				c.woken = true
			case c.efd:
				_, _, _ = unix.RawSyscall(unix.SYS_READ, uintptr(c.efd), uintptr(unsafe.Pointer(&c.drain[0])), 8)
				c.woken = true
			case c.sock:
				data = true // arrived since the recvmmsg above
			}
		}
		if c.woken {
			return true
		}
		if !data {
			return false
		}
	}
	return false
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
		c.doWrite()
		c.Stats.SendCalls++
		if c.serr != nil {
			if c.serr == unix.EAGAIN {
				// The send buffer stayed full for maxSendWait: drop the rest.
				n := c.messagesIn(c.sdone)
				sent += n
				c.Stats.SendPackets += uint64(n)
				return sent, nil
			}
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

// doWrite sends the prepared headers. A full send buffer (EAGAIN) is
// waited out with poll(2) for at most maxSendWait; then the rest is dropped.
func (c *Conn) doWrite() {
	var waited time.Duration
	for c.sdone < c.sn {
		n, _, errno := unix.RawSyscall6(unix.SYS_SENDMMSG, uintptr(c.sock), uintptr(unsafe.Pointer(&c.shdrs[c.sdone])), uintptr(c.sn-c.sdone), 0, 0, 0)
		switch errno {
		case 0:
			c.sdone += int(n)
			continue
		case unix.EINTR:
			continue
		case unix.EAGAIN:
			if waited < maxSendWait {
				start := time.Now()
				fds := [1]unix.PollFd{{Fd: int32(c.sock), Events: unix.POLLOUT}}
				_, _ = unix.Poll(fds[:], int((maxSendWait-waited+time.Millisecond-1)/time.Millisecond))
				waited += time.Since(start)
				continue
			}
			c.serr = errno
			return
		default:
			c.serr = errno
			return
		}
	}
}

// KernelDrops returns the socket's receive drop count: datagrams the kernel
// discarded because the receive buffer was full (sk_drops, the counter
// SO_RXQ_OVFL reports per message), read with getsockopt SO_MEMINFO.
func (c *Conn) KernelDrops() (uint64, error) {
	var info [unix.SK_MEMINFO_VARS]uint32
	l := uint32(unsafe.Sizeof(info))
	_, _, errno := unix.RawSyscall6(unix.SYS_GETSOCKOPT, uintptr(c.sock), unix.SOL_SOCKET, unix.SO_MEMINFO,
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
