package udpio

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"time"

	"golang.org/x/sys/unix"
)

// Pacing is how a sender spaces its datagrams: bursts of Burst datagrams of
// Size bytes (one sendmmsg each), one burst every Interval, N in all. Each
// datagram starts with its big-endian uint32 sequence number.
type Pacing struct {
	N, Size, Burst int
	Interval       time.Duration
}

// PPS is the nominal rate.
func (p Pacing) PPS() float64 { return float64(p.Burst) / p.Interval.Seconds() }

// Send sends p's datagrams from 127.0.0.1 to dst on a connected socket. A
// burst that falls behind schedule is sent at once; it returns the time the
// whole run took.
func Send(dst netip.AddrPort, p Pacing) (time.Duration, error) {
	if p.N < 0 || p.Size < 4 || p.Size > BufSize || p.Burst < 1 || p.Interval < 0 {
		return 0, fmt.Errorf("udpio: bad pacing %+v", p)
	}
	uc, err := net.DialUDP("udp4", nil, net.UDPAddrFromAddrPort(dst))
	if err != nil {
		return 0, fmt.Errorf("udpio: %w", err)
	}
	defer uc.Close()
	_ = uc.SetWriteBuffer(rcvBuf)
	rc, err := uc.SyscallConn()
	if err != nil {
		return 0, fmt.Errorf("udpio: %w", err)
	}
	b := newBatch(p.Burst)
	b.setLen(p.Size)
	start := time.Now()
	for sent, bursts := 0, 1; sent < p.N; bursts++ {
		k := min(p.Burst, p.N-sent)
		for i := range k {
			binary.BigEndian.PutUint32(b.bufs[i], uint32(sent+i))
		}
		done := 0
		var serr error
		werr := rc.Write(func(fd uintptr) bool {
			for done < k {
				m, errno := b.sendOnce(int(fd), done, k)
				switch errno {
				case 0:
					done += m
				case unix.EINTR:
				case unix.EAGAIN, unix.ENOBUFS:
					return false // wait until writable
				default:
					serr = errno
					return true
				}
			}
			return true
		})
		if werr != nil || serr != nil {
			return time.Since(start), fmt.Errorf("udpio: sendmmsg after %d datagrams: %w", sent, errors.Join(werr, serr))
		}
		sent += k
		if d := time.Until(start.Add(time.Duration(bursts) * p.Interval)); d > 0 && sent < p.N {
			time.Sleep(d)
		}
	}
	return time.Since(start), nil
}
