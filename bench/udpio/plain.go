package udpio

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"runtime"
	"syscall"

	"golang.org/x/sys/unix"
)

// plainRx is the dataplane/netio way: one goroutine calls recvmmsg through
// the socket's syscall.RawConn, so an empty socket parks the goroutine in
// Go's netpoller until it is readable again.
type plainRx struct {
	uc     *net.UDPConn
	rc     syscall.RawConn
	b      *batch
	t      tally
	locked bool
	exited chan struct{}
}

// newPlain starts a plain receiver expecting want datagrams. locked locks
// its goroutine to an OS thread, as the media loops do.
func newPlain(want int, locked bool) (*plainRx, error) {
	uc, err := net.ListenUDP("udp4", net.UDPAddrFromAddrPort(netip.MustParseAddrPort("127.0.0.1:0")))
	if err != nil {
		return nil, fmt.Errorf("udpio: %w", err)
	}
	rc, err := uc.SyscallConn()
	if err != nil {
		uc.Close()
		return nil, fmt.Errorf("udpio: %w", err)
	}
	var serr error
	if err := rc.Control(func(fd uintptr) { serr = setRcvBuf(int(fd)) }); err != nil || serr != nil {
		uc.Close()
		return nil, fmt.Errorf("udpio: SO_RCVBUF: %w", errors.Join(err, serr))
	}
	r := &plainRx{uc: uc, rc: rc, b: newBatch(batchSize), t: newTally(want, locked), locked: locked, exited: make(chan struct{})}
	go r.loop()
	return r, nil
}

func (r *plainRx) loop() {
	defer close(r.exited)
	if r.locked {
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
	}
	defer r.t.stop()
	var n int
	var errno unix.Errno
	read := func(fd uintptr) bool {
		n, errno = r.b.recv(int(fd))
		if errno == unix.EAGAIN {
			r.t.res.Wakes++
			return false // park until readable
		}
		return true
	}
	for {
		if err := r.rc.Read(read); err != nil {
			return // closed
		}
		if errno != 0 {
			r.t.res.Err = fmt.Errorf("recvmmsg: %w", errno)
			return
		}
		r.t.addBatch(r.b, n)
		r.t.check()
	}
}

func (r *plainRx) Addr() netip.AddrPort  { return r.uc.LocalAddr().(*net.UDPAddr).AddrPort() }
func (r *plainRx) Done() <-chan struct{} { return r.t.done }
func (r *plainRx) Result() Result        { return r.t.res }

func (r *plainRx) Close() error {
	err := r.uc.Close()
	<-r.exited
	return err
}
