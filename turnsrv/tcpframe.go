package turnsrv

import (
	"crypto/tls"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"sync/atomic"
	"time"
)

// ErrInvalidFrame is the read error of a TURN-over-TCP (or TLS) connection
// whose stream holds something that is neither a STUN nor a ChannelData
// message; the connection is then closed (there is no way to find the next
// frame) and counted in Stats.InvalidTCPFrames.
var ErrInvalidFrame = errors.New("turnsrv: invalid TURN-over-TCP frame")

// firstFrameTimeout bounds how long a new TCP or TLS connection may take
// (TLS handshake included) to send its first complete frame; a peer that
// connects and says nothing does not keep a goroutine forever.
const firstFrameTimeout = 10 * time.Second

// Framing of a TURN stream over TCP (RFC 8656 §12.5, RFC 6062): STUN
// messages (the first two bits 0, the magic cookie at bytes 4-8, a 20-byte
// header plus the length at bytes 2-4) and ChannelData messages (a channel
// number 0x4000-0x4FFF, the length at bytes 2-4, the data padded to a
// multiple of 4 bytes), back to back.
const (
	stunHeaderLen     = 20
	stunMagicCookie   = 0x2112A442
	channelHeaderLen  = 4
	minChannelNumber  = 0x4000
	maxChannelNumber  = 0x4FFF
	frameClassifyLen  = 8 // bytes that decide a frame's kind and length
	channelDataPadded = 4
)

// frameScanner follows the frame boundaries of a TURN-over-TCP stream as
// its bytes arrive, in pieces of any size, without buffering them. The zero
// value expects the first byte of a frame. Not safe for concurrent use.
type frameScanner struct {
	hdr    [frameClassifyLen]byte
	have   int // header bytes collected of the frame in progress
	skip   int // bytes of the frame in progress still to pass
	frames uint64
}

// scan consumes p and returns how many of its bytes belong to valid frames
// (complete or in progress). When n < len(p) the stream is invalid: p[n] is
// the byte that showed it (the first byte of a frame, or the eighth of one
// that starts like STUN but lacks the magic cookie), and nothing after it
// can be framed.
func (s *frameScanner) scan(p []byte) (n int) {
	for n < len(p) {
		if s.skip > 0 {
			k := min(s.skip, len(p)-n)
			s.skip -= k
			n += k
			if s.skip == 0 {
				s.frames++
			}
			continue
		}
		s.hdr[s.have] = p[n]
		s.have++
		switch b0 := s.hdr[0]; {
		case b0&0xC0 == 0: // STUN: decided by the magic cookie
			if s.have < frameClassifyLen {
				break
			}
			if binary.BigEndian.Uint32(s.hdr[4:8]) != stunMagicCookie {
				s.have = 0
				return n
			}
			s.skip = stunHeaderLen - frameClassifyLen + int(binary.BigEndian.Uint16(s.hdr[2:4]))
			s.have = 0
		case b0 >= minChannelNumber>>8 && b0 <= maxChannelNumber>>8: // ChannelData
			if s.have < channelHeaderLen {
				break
			}
			l := int(binary.BigEndian.Uint16(s.hdr[2:4]))
			s.skip = (l + channelDataPadded - 1) &^ (channelDataPadded - 1)
			s.have = 0
			if s.skip == 0 {
				s.frames++
			}
		default:
			s.have = 0
			return n
		}
		n++
	}
	return n
}

// framedListener hands pion/turn connections that watch their framing and
// (with tls) speak TLS.
type framedListener struct {
	net.Listener
	tls     *tls.Config // nil: plain TCP
	invalid *atomic.Uint64
	timeout time.Duration // to the first complete frame
}

func (l *framedListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	_ = c.SetReadDeadline(time.Now().Add(l.timeout))
	if l.tls != nil {
		c = tls.Server(c, l.tls)
	}
	return &framedConn{Conn: c, invalid: l.invalid}, nil
}

// framedConn passes a TURN stream through a frameScanner. At the first byte
// that cannot start a frame it counts the connection as invalid, hands over
// the valid bytes before it and then fails every Read with ErrInvalidFrame,
// which makes pion/turn close it. Once the first frame is complete the read
// deadline set at Accept is lifted. Read is called by pion/turn's one
// reader goroutine per connection.
type framedConn struct {
	net.Conn
	invalid *atomic.Uint64
	scan    frameScanner
	err     error // sticky, once the stream is invalid
	started bool  // the first frame is complete
}

func (c *framedConn) Read(p []byte) (int, error) {
	if c.err != nil {
		return 0, c.err
	}
	n, err := c.Conn.Read(p)
	if n > 0 {
		if good := c.scan.scan(p[:n]); good < n {
			c.invalid.Add(1)
			c.err = fmt.Errorf("%w from %v (byte 0x%02x)", ErrInvalidFrame, c.RemoteAddr(), p[good])
			if good == 0 {
				return 0, c.err
			}
			return good, nil
		}
		if !c.started && c.scan.frames > 0 {
			c.started = true
			_ = c.Conn.SetReadDeadline(time.Time{})
		}
	}
	return n, err
}

// Close closes the connection. A TLS connection whose peer has gone cannot
// send its close_notify alert; tls.Conn.Close closes the TCP connection
// anyway, so that is not an error worth pion/turn's error log.
func (c *framedConn) Close() error {
	err := c.Conn.Close()
	if _, isTLS := c.Conn.(*tls.Conn); isTLS {
		return nil
	}
	return err
}
