package datachan

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"sync/atomic"

	"github.com/pion/datachannel"
	"github.com/pion/logging"
	"github.com/pion/sctp"
)

// Errors of the package.
var (
	// ErrTooLarge is returned by Send for a message above the peer's max-message-size.
	ErrTooLarge = errors.New("datachan: message larger than the peer's max-message-size")
	// ErrBufferFull is returned by Send when the channel's unsent bytes exceed the limit.
	ErrBufferFull = errors.New("datachan: send buffer full")
	// ErrClosed is returned on a closed association or channel.
	ErrClosed = errors.New("datachan: closed")
)

// sctpMTU fits an SCTP packet in a DTLS record in a 1200-byte-safe UDP datagram (as pion does).
const sctpMTU = 1191

// DefaultMaxMessageSize applies when the answer has no a=max-message-size (RFC 8841 §6).
const DefaultMaxMessageSize = 65536

// Options configure an association.
type Options struct {
	// DTLSClient: we are the DTLS client (even stream ids); false: server (odd).
	DTLSClient bool
	// MaxMessageSize is the peer's a=max-message-size; 0 means DefaultMaxMessageSize.
	MaxMessageSize uint32
	// MaxBufferedBytes bounds each channel's unsent bytes; 0 means 1 MiB.
	MaxBufferedBytes uint64
	Logger           logging.LoggerFactory
}

// ChannelConfig describes one channel the server opens.
type ChannelConfig struct {
	Label    string
	Protocol string
	// Ordered delivery (the default in Sora and browsers).
	Ordered bool
	// MaxRetransmits and MaxPacketLifeTime (ms) make the channel partially
	// reliable; negative means unset. At most one may be set.
	MaxRetransmits    int
	MaxPacketLifeTime int
}

// Handler receives a channel's events.
type Handler interface {
	// OnMessage is called for every message; data is valid only during the call.
	OnMessage(ch *Channel, data []byte, isString bool)
	// OnClose is called once when the channel is gone.
	OnClose(ch *Channel)
}

// OpenHandler is implemented by Handlers that want to know when the peer
// acknowledged the channel (DATA_CHANNEL_ACK, RFC 8832 §5.2): from then on
// the browser has fired ondatachannel. Called on its own goroutine.
type OpenHandler interface {
	OnOpen(ch *Channel)
}

// Association is one SCTP association over DTLS.
type Association struct {
	a      *sctp.Association
	opts   Options
	mu     sync.Mutex
	nextID uint16
	chans  map[uint16]*Channel
	closed bool
	wg     sync.WaitGroup
	done   chan struct{}

	oversized atomic.Uint64
}

// maxReassembled bounds a message SCTP can hand us: its receive window
// (pion's default maximum receive buffer).
const maxReassembled = 1 << 20

// Oversized counts messages from the peer above our max-message-size,
// dropped unread.
func (as *Association) Oversized() uint64 { return as.oversized.Load() }

// Start establishes the association over conn (a *dtls.Conn). It blocks until
// the SCTP handshake is done or ctx ends.
func Start(ctx context.Context, conn net.Conn, opts Options) (*Association, error) {
	if opts.MaxMessageSize == 0 {
		opts.MaxMessageSize = DefaultMaxMessageSize
	}
	if opts.MaxBufferedBytes == 0 {
		opts.MaxBufferedBytes = 1 << 20
	}
	if opts.Logger == nil {
		lf := logging.NewDefaultLoggerFactory()
		lf.DefaultLogLevel = logging.LogLevelError
		opts.Logger = lf
	}
	a, err := sctp.ClientContext(ctx,
		sctp.WithNetConn(conn),
		sctp.WithMTU(sctpMTU),
		sctp.WithMaxMessageSize(opts.MaxMessageSize),
		sctp.WithLoggerFactory(opts.Logger),
	)
	if err != nil {
		return nil, fmt.Errorf("datachan: sctp: %w", err)
	}
	as := &Association{a: a, opts: opts, chans: map[uint16]*Channel{}, done: make(chan struct{})}
	if opts.DTLSClient {
		as.nextID = 0
	} else {
		as.nextID = 1
	}
	as.wg.Add(1)
	go as.acceptLoop()
	return as, nil
}

// Done is closed when the association ends (peer close, error or Close).
func (as *Association) Done() <-chan struct{} { return as.done }

// acceptLoop refuses channels opened by the peer (Sora clients open none) and
// notices the end of the association.
func (as *Association) acceptLoop() {
	defer as.wg.Done()
	defer close(as.done)
	for {
		s, err := as.a.AcceptStream()
		if err != nil {
			return
		}
		_ = s.Close()
	}
}

// Open creates a channel with DCEP (DATA_CHANNEL_OPEN); messages may be sent
// at once (the peer queues them behind the open in the ordered stream).
func (as *Association) Open(cfg ChannelConfig, h Handler) (*Channel, error) {
	if cfg.MaxRetransmits >= 0 && cfg.MaxPacketLifeTime >= 0 {
		return nil, fmt.Errorf("datachan: %q: max_retransmits and max_packet_life_time are exclusive", cfg.Label)
	}
	dcfg := &datachannel.Config{Label: cfg.Label, Protocol: cfg.Protocol, LoggerFactory: as.opts.Logger}
	switch {
	case cfg.MaxRetransmits >= 0:
		dcfg.ChannelType = datachannel.ChannelTypePartialReliableRexmit
		dcfg.ReliabilityParameter = uint32(cfg.MaxRetransmits)
	case cfg.MaxPacketLifeTime >= 0:
		dcfg.ChannelType = datachannel.ChannelTypePartialReliableTimed
		dcfg.ReliabilityParameter = uint32(cfg.MaxPacketLifeTime)
	default:
		dcfg.ChannelType = datachannel.ChannelTypeReliable
	}
	if !cfg.Ordered {
		dcfg.ChannelType |= 0x80
	}
	as.mu.Lock()
	if as.closed {
		as.mu.Unlock()
		return nil, ErrClosed
	}
	id := as.nextID
	as.nextID += 2
	as.mu.Unlock()
	dc, err := datachannel.Dial(as.a, id, dcfg)
	if err != nil {
		return nil, fmt.Errorf("datachan: open %q: %w", cfg.Label, err)
	}
	ch := &Channel{as: as, dc: dc, label: cfg.Label, h: h}
	if oh, ok := h.(OpenHandler); ok {
		dc.OnOpen(func() { oh.OnOpen(ch) })
	}
	as.mu.Lock()
	as.chans[id] = ch
	as.mu.Unlock()
	as.wg.Add(1)
	go ch.readLoop()
	return ch, nil
}

// Close closes every channel, then the association. It waits for the readers.
func (as *Association) Close() error {
	as.mu.Lock()
	if as.closed {
		as.mu.Unlock()
		return nil
	}
	as.closed = true
	chans := make([]*Channel, 0, len(as.chans))
	for _, c := range as.chans {
		chans = append(chans, c)
	}
	as.mu.Unlock()
	for _, c := range chans {
		_ = c.Close()
	}
	err := as.a.Close()
	as.wg.Wait()
	return err
}

// Channel is one open DataChannel.
type Channel struct {
	as        *Association
	dc        *datachannel.DataChannel
	label     string
	h         Handler
	closeOnce sync.Once
	closeErr  error
}

// Label is the channel's label.
func (c *Channel) Label() string { return c.label }

// Send writes one message. It refuses messages above the peer's
// max-message-size and stops when the channel's buffer is above the limit,
// never blocking for long.
func (c *Channel) Send(b []byte, isString bool) error {
	if uint32(len(b)) > c.as.opts.MaxMessageSize {
		return fmt.Errorf("%w (%d > %d bytes)", ErrTooLarge, len(b), c.as.opts.MaxMessageSize)
	}
	if c.dc.BufferedAmount() > c.as.opts.MaxBufferedBytes {
		return ErrBufferFull
	}
	if _, err := c.dc.WriteDataChannel(b, isString); err != nil {
		return fmt.Errorf("datachan: send on %q: %w", c.label, err)
	}
	return nil
}

// Close resets the channel's stream (RFC 8831 §6.7).
func (c *Channel) Close() error {
	c.closeOnce.Do(func() { c.closeErr = c.dc.Close() })
	return c.closeErr
}

func (c *Channel) readLoop() {
	defer c.as.wg.Done()
	buf := make([]byte, c.as.opts.MaxMessageSize+1)
	if len(buf) < 65536 {
		buf = make([]byte, 65536)
	}
	defer func() {
		c.as.mu.Lock()
		delete(c.as.chans, c.dc.StreamIdentifier())
		c.as.mu.Unlock()
		if c.h != nil {
			c.h.OnClose(c)
		}
	}()
	for {
		n, isString, err := c.dc.ReadDataChannel(buf)
		if errors.Is(err, io.ErrShortBuffer) {
			// The peer ignored our a=max-message-size. The message stays at
			// the head of the stream until read whole (its size is not
			// reported): read it into a one-off buffer as large as SCTP
			// can reassemble, and drop it, counted.
			_, _, err = c.dc.ReadDataChannel(make([]byte, maxReassembled))
			c.as.oversized.Add(1)
			if err != nil {
				return
			}
			continue
		}
		if err != nil {
			return
		}
		if c.h != nil {
			c.h.OnMessage(c, buf[:n], isString)
		}
	}
}
