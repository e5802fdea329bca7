//go:build linux

package udpio

import (
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// BufSize is the capacity of each receive buffer (as dataplane/netio).
const BufSize = 2048

// batch holds the recvmmsg(2)/sendmmsg(2) state for up to len(hdrs)
// datagrams, allocated once. It is owned by one goroutine.
type batch struct {
	hdrs []unix.Mmsghdr
	iovs []unix.Iovec
	bufs [][]byte
}

func newBatch(n int) *batch {
	b := &batch{hdrs: make([]unix.Mmsghdr, n), iovs: make([]unix.Iovec, n), bufs: make([][]byte, n)}
	block := make([]byte, n*BufSize)
	for i := range b.hdrs {
		b.bufs[i] = block[i*BufSize : (i+1)*BufSize : (i+1)*BufSize]
		b.iovs[i].Base = &b.bufs[i][0]
		b.iovs[i].SetLen(BufSize)
		b.hdrs[i].Hdr.Iov = &b.iovs[i]
		b.hdrs[i].Hdr.SetIovlen(1)
	}
	return b
}

// recv does one non-blocking recvmmsg on fd into every buffer (no source
// addresses: the receivers here only count). It returns the number of
// datagrams, or an errno (EAGAIN when the socket is empty).
func (b *batch) recv(fd int) (int, unix.Errno) {
	for {
		n, _, errno := unix.Syscall6(unix.SYS_RECVMMSG, uintptr(fd), uintptr(unsafe.Pointer(&b.hdrs[0])),
			uintptr(len(b.hdrs)), unix.MSG_DONTWAIT, 0, 0)
		if errno == unix.EINTR {
			continue
		}
		if errno != 0 {
			return 0, errno
		}
		return int(n), 0
	}
}

// data returns datagram i of the last recv.
func (b *batch) data(i int) []byte { return b.bufs[i][:b.hdrs[i].Len] }

// sendOnce does one sendmmsg of buffers [from, n) on the connected socket
// fd. It returns how many the kernel took, or an errno.
func (b *batch) sendOnce(fd, from, n int) (int, unix.Errno) {
	k, _, errno := unix.Syscall6(unix.SYS_SENDMMSG, uintptr(fd), uintptr(unsafe.Pointer(&b.hdrs[from])),
		uintptr(n-from), 0, 0, 0)
	if errno != 0 {
		return 0, errno
	}
	return int(k), 0
}

// setLen sets the length of every iovec (for sending size-byte datagrams).
func (b *batch) setLen(size int) {
	for i := range b.iovs {
		b.iovs[i].SetLen(size)
	}
}

// setRcvBuf sets fd's receive buffer to rcvBuf bytes, past
// net.core.rmem_max when the process may (SO_RCVBUFFORCE needs
// CAP_NET_ADMIN), so that a receiver descheduled for a few ms on a busy
// machine does not lose datagrams.
func setRcvBuf(fd int) error {
	if unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RCVBUFFORCE, rcvBuf) == nil {
		return nil
	}
	return unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RCVBUF, rcvBuf)
}

// threadCPU is the calling thread's user+system CPU time.
func threadCPU() time.Duration { return rusage(unix.RUSAGE_THREAD) }

// processCPU is this process's user+system CPU time.
func processCPU() time.Duration { return rusage(unix.RUSAGE_SELF) }

func rusage(who int) time.Duration {
	var ru unix.Rusage
	if err := unix.Getrusage(who, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
