package udpio

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"sync/atomic"
	"time"

	"github.com/panjf2000/gnet/v2"
	"golang.org/x/sys/unix"
)

// gnetRx receives on a gnet/v2 UDP event loop. gnet's own UDP read is one
// recvfrom(2) per readiness event into the loop's buffer, then OnTraffic
// with that one datagram (it has no batch read for UDP). With drain set,
// OnTraffic then empties the socket with recvmmsg on the listener's fd
// (Conn.Fd) before returning to epoll_wait.
type gnetRx struct {
	gnet.BuiltinEventEngine
	drain bool
	b     *batch
	t     tally

	eng     gnet.Engine
	el      atomic.Value // gnet.EventLoop, stored at the first datagram
	addr    netip.AddrPort
	booted  chan struct{}
	runDone chan struct{}
	runErr  error
}

// drainCalls bounds the recvmmsg calls of one OnTraffic; epoll is
// level-triggered for UDP in gnet, so what is left brings the loop back.
const drainCalls = 64

// newGnet starts a one-loop gnet UDP engine (loop locked to its thread)
// expecting want datagrams.
func newGnet(want int, drain bool) (*gnetRx, error) {
	r := &gnetRx{drain: drain, b: newBatch(batchSize), t: newTally(want, true),
		booted: make(chan struct{}), runDone: make(chan struct{})}
	go func() {
		defer close(r.runDone)
		r.runErr = gnet.Run(r, "udp4://127.0.0.1:0",
			gnet.WithNumEventLoop(1),
			gnet.WithLockOSThread(true),
			gnet.WithSocketRecvBuffer(rcvBuf),
			gnet.WithReadBufferCap(BufSize),
			gnet.WithLogger(quiet{}),
		)
	}()
	t := time.NewTimer(5 * time.Second)
	defer t.Stop()
	select {
	case <-r.booted:
	case <-r.runDone:
		return nil, fmt.Errorf("udpio: gnet: %w", errors.Join(r.runErr, errors.New("engine stopped at start")))
	case <-t.C:
		return nil, errors.New("udpio: gnet engine not up after 5s")
	}
	if !r.addr.IsValid() {
		r.Close()
		return nil, errors.New("udpio: gnet: no listener address")
	}
	return r, nil
}

func (r *gnetRx) OnBoot(eng gnet.Engine) gnet.Action {
	r.eng = eng
	defer close(r.booted)
	fd, err := eng.Dup()
	if err != nil {
		return gnet.None
	}
	defer unix.Close(fd)
	_ = setRcvBuf(fd) // the same socket: force the size as the plain receiver does
	if sa, err := unix.Getsockname(fd); err == nil {
		if sa4, ok := sa.(*unix.SockaddrInet4); ok {
			r.addr = netip.AddrPortFrom(netip.AddrFrom4(sa4.Addr), uint16(sa4.Port))
		}
	}
	return gnet.None
}

func (r *gnetRx) OnTraffic(c gnet.Conn) gnet.Action {
	p, _ := c.Next(-1) // the datagram gnet read
	if r.t.res.Packets == 0 {
		r.el.Store(c.EventLoop())
	}
	r.t.add(p)
	if r.drain {
		fd := c.Fd()
		for range drainCalls {
			n, errno := r.b.recv(fd)
			if errno != 0 {
				break
			}
			r.t.addBatch(r.b, n)
		}
	}
	r.t.res.Wakes++
	r.t.check()
	return gnet.None
}

func (r *gnetRx) Addr() netip.AddrPort  { return r.addr }
func (r *gnetRx) Done() <-chan struct{} { return r.t.done }
func (r *gnetRx) Result() Result        { return r.t.res }

func (r *gnetRx) Close() error {
	// Take the loop thread's CPU on the loop, then stop.
	if el, _ := r.el.Load().(gnet.EventLoop); el != nil {
		measured := make(chan struct{})
		err := el.Execute(context.Background(), gnet.RunnableFunc(func(context.Context) error {
			r.t.stop()
			close(measured)
			return nil
		}))
		if err == nil {
			select {
			case <-measured:
			case <-time.After(5 * time.Second):
			}
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel() // Stop starts the shutdown and returns; runDone says when it is over
	_ = r.eng.Stop(ctx)
	t := time.NewTimer(10 * time.Second)
	defer t.Stop()
	select {
	case <-r.runDone:
		return r.runErr
	case <-t.C:
		return errors.New("udpio: gnet engine did not stop within 10s")
	}
}

// quiet discards gnet's logging.
type quiet struct{}

func (quiet) Debugf(string, ...any) {}
func (quiet) Infof(string, ...any)  {}
func (quiet) Warnf(string, ...any)  {}
func (quiet) Errorf(string, ...any) {}
func (quiet) Fatalf(string, ...any) {}
