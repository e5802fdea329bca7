//go:build linux

package udpio

import (
	"encoding/binary"
	"fmt"
	"net/netip"
	"runtime"

	"golang.org/x/sys/unix"
)

// epollRx is what gnet's loop does minus gnet: a goroutine locked to its
// thread blocks in epoll_wait(2) on the socket and an eventfd (the wake,
// here only for stopping), then drains the socket with recvmmsg. Go's
// netpoller is not involved.
type epollRx struct {
	fd, epfd, efd int
	addr          netip.AddrPort
	b             *batch
	t             tally
	exited        chan struct{}
}

func newEpoll(want int) (rx *epollRx, err error) {
	r := &epollRx{fd: -1, epfd: -1, efd: -1, b: newBatch(batchSize), t: newTally(want, true), exited: make(chan struct{})}
	defer func() {
		if err != nil {
			r.closeFDs()
			err = fmt.Errorf("udpio: epoll receiver: %w", err)
		}
	}()
	if r.fd, err = unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0); err != nil {
		return nil, err
	}
	if err = setRcvBuf(r.fd); err != nil {
		return nil, err
	}
	if err = unix.Bind(r.fd, &unix.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}}); err != nil {
		return nil, err
	}
	sa, err := unix.Getsockname(r.fd)
	if err != nil {
		return nil, err
	}
	sa4, _ := sa.(*unix.SockaddrInet4)
	if sa4 == nil {
		return nil, fmt.Errorf("getsockname: %T", sa)
	}
	r.addr = netip.AddrPortFrom(netip.AddrFrom4(sa4.Addr), uint16(sa4.Port))
	if r.epfd, err = unix.EpollCreate1(unix.EPOLL_CLOEXEC); err != nil {
		return nil, err
	}
	if r.efd, err = unix.Eventfd(0, unix.EFD_NONBLOCK|unix.EFD_CLOEXEC); err != nil {
		return nil, err
	}
	for _, fd := range []int{r.fd, r.efd} {
		if err = unix.EpollCtl(r.epfd, unix.EPOLL_CTL_ADD, fd, &unix.EpollEvent{Events: unix.EPOLLIN, Fd: int32(fd)}); err != nil {
			return nil, err
		}
	}
	go r.loop()
	return r, nil
}

func (r *epollRx) loop() {
	defer close(r.exited)
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	defer r.t.stop()
	var events [2]unix.EpollEvent
	for {
		n, err := unix.EpollWait(r.epfd, events[:], -1)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			r.t.res.Err = fmt.Errorf("epoll_wait: %w", err)
			return
		}
		for i := range n {
			if int(events[i].Fd) == r.efd {
				return
			}
		}
		for range drainCalls { // level-triggered: what is left wakes us again
			k, errno := r.b.recv(r.fd)
			if errno == unix.EAGAIN {
				r.t.res.Wakes++
				break
			}
			if errno != 0 {
				r.t.res.Err = fmt.Errorf("recvmmsg: %w", errno)
				return
			}
			r.t.addBatch(r.b, k)
		}
		r.t.check()
	}
}

func (r *epollRx) Addr() netip.AddrPort  { return r.addr }
func (r *epollRx) Done() <-chan struct{} { return r.t.done }
func (r *epollRx) Result() Result        { return r.t.res }

func (r *epollRx) Close() error {
	var one [8]byte
	binary.NativeEndian.PutUint64(one[:], 1)
	if _, err := unix.Write(r.efd, one[:]); err != nil {
		return fmt.Errorf("udpio: eventfd: %w", err)
	}
	<-r.exited
	r.closeFDs()
	return nil
}

func (r *epollRx) closeFDs() {
	for _, fd := range []*int{&r.fd, &r.epfd, &r.efd} {
		if *fd >= 0 {
			unix.Close(*fd)
			*fd = -1
		}
	}
}
