package signaling

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/coder/websocket"
	"github.com/hayate-sfu/hayate/ctrl/offer"
	"github.com/hayate-sfu/hayate/ctrl/room"
	"github.com/hayate-sfu/hayate/dataplane"
)

var (
	pingStats   = []byte(`{"type":"ping","stats":true}`)
	pingNoStats = []byte(`{"type":"ping","stats":false}`)
)

// conn is one signaling WebSocket.
//
// Goroutines: serve runs the owner loop, which alone decodes client
// messages, drives the room.Connection and keeps the timers; a reader
// goroutine hands it one frame at a time; a writer goroutine drains the
// bounded send queue and finally closes the WebSocket. Send and Close (the
// room.Peer side) may be called from any goroutine and never block.
type conn struct {
	s       *Server
	baseLog *slog.Logger // set before the goroutines start; for all of them
	ws      *websocket.Conn

	mu      sync.Mutex
	queue   chan []byte
	closing bool
	abrupt  bool // close without flushing the queue
	code    int
	reason  string
	done    chan struct{} // closed when closing starts

	// Owned by the owner loop.
	log       *slog.Logger // baseLog plus the connection's ids once joined
	room      *room.Connection
	lastStats time.Time
}

func newConn(s *Server) *conn {
	return &conn{s: s, baseLog: s.log, log: s.log, queue: make(chan []byte, sendQueueLen), done: make(chan struct{})}
}

// Send implements room.Peer: it queues one text frame. A full queue closes
// the connection (CloseSendQueueFull).
func (c *conn) Send(b []byte) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closing {
		return
	}
	select {
	case c.queue <- b:
	default:
		c.s.metrics.sendDrops.Inc()
		c.closeLocked(CloseSendQueueFull, "SEND-QUEUE-FULL: "+strconv.Itoa(sendQueueLen)+" messages unread", true)
	}
}

// Close implements room.Peer: the queued messages are written, then the
// WebSocket is closed with code and reason.
func (c *conn) Close(code int, reason string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.closeLocked(code, truncate(reason, maxCloseReason), false)
}

func (c *conn) closeLocked(code int, reason string, abrupt bool) {
	if c.closing {
		return
	}
	c.closing, c.code, c.reason, c.abrupt = true, code, reason, abrupt
	close(c.done)
}

func (c *conn) fail(e *closeError) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.closeLocked(e.code, e.reason, false)
}

// frame is what the reader hands to the owner loop: a message, a reason to
// close, or the end of the WebSocket.
type frame struct {
	data []byte
	err  *closeError
	gone error
}

func (c *conn) serve(ws *websocket.Conn, remote string) {
	c.ws = ws
	c.baseLog = c.s.log.With("remote", remote)
	c.log = c.baseLog
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()

	in := make(chan frame)
	var wg sync.WaitGroup
	wg.Go(func() { c.readLoop(ctx, in) })
	writerDone := make(chan struct{})
	wg.Go(func() {
		defer close(writerDone)
		c.writeLoop()
	})

	c.ownerLoop(in)
	if c.room != nil {
		c.leave()
	}
	<-writerDone
	cancel()
	wg.Wait()

	c.mu.Lock()
	code, reason := c.code, c.reason
	c.mu.Unlock()
	c.s.metrics.closes.WithLabelValues(strconv.Itoa(code), reasonKeyword(reason)).Inc()
	c.log.Info("signaling: closed", "code", code, "reason", reason)
}

// recovered turns a panic into a logged, counted internal error.
func (c *conn) recovered(where string) {
	if r := recover(); r != nil {
		c.s.metrics.panics.Inc()
		c.baseLog.Error("signaling: panic", "in", where, "panic", r, "stack", string(debug.Stack()))
		c.fail(closeErr(CloseInternalError, "INTERNAL-ERROR", ""))
	}
}

func (c *conn) leave() {
	defer c.recovered("leave")
	c.room.Leave()
}

func (c *conn) readLoop(ctx context.Context, in chan<- frame) {
	defer c.recovered("reader")
	deliver := func(f frame) bool {
		select {
		case in <- f:
			return true
		case <-ctx.Done():
			return false
		}
	}
	limit := c.s.cfg.MaxMessageBytes
	for {
		typ, r, err := c.ws.Reader(ctx)
		if err != nil {
			deliver(frame{gone: err})
			return
		}
		if typ != websocket.MessageText {
			deliver(frame{err: closeErr(CloseInvalidJSON, "INVALID-JSON", "binary frame (want a JSON text frame)")})
			return
		}
		b, err := io.ReadAll(io.LimitReader(r, limit+1))
		if err != nil {
			deliver(frame{gone: err})
			return
		}
		if int64(len(b)) > limit {
			deliver(frame{err: closeErr(CloseMessageTooLarge, "MESSAGE-TOO-LARGE", "limit is "+strconv.FormatInt(limit, 10)+" bytes")})
			return
		}
		if !deliver(frame{data: b}) {
			return
		}
	}
}

func (c *conn) writeLoop() {
	defer c.recovered("writer")
	for {
		select {
		case b := <-c.queue:
			if err := c.write(b); err != nil {
				c.mu.Lock()
				c.closeLocked(1001, "CLIENT-CLOSED: write: "+err.Error(), true)
				c.mu.Unlock()
			}
		case <-c.done:
			c.mu.Lock()
			code, reason, abrupt := c.code, c.reason, c.abrupt
			c.mu.Unlock()
			if !abrupt {
			flush:
				for {
					select {
					case b := <-c.queue:
						if c.write(b) != nil {
							break flush
						}
					default:
						break flush
					}
				}
			}
			_ = c.ws.Close(websocket.StatusCode(code), reason)
			return
		}
	}
}

func (c *conn) write(b []byte) error {
	ctx, cancel := context.WithTimeout(context.Background(), writeTimeout)
	defer cancel()
	return c.ws.Write(ctx, websocket.MessageText, b)
}

func (c *conn) ownerLoop(in <-chan frame) {
	defer c.recovered("owner")
	cfg := &c.s.cfg
	silence := time.NewTimer(cfg.PongTimeout)
	defer silence.Stop()
	var ping, update *time.Ticker
	var pingC, updateC <-chan time.Time
	defer func() {
		if ping != nil {
			ping.Stop()
			update.Stop()
		}
	}()
	for {
		select {
		case f := <-in:
			if f.gone != nil {
				c.mu.Lock()
				c.closeLocked(1001, "CLIENT-CLOSED", true)
				c.mu.Unlock()
				return
			}
			if f.err != nil {
				c.s.metrics.received.WithLabelValues("invalid").Inc()
				c.fail(f.err)
				return
			}
			silence.Reset(cfg.PongTimeout)
			if e := c.handle(f.data); e != nil {
				if e.code != CloseNormal {
					c.log.Info("signaling: closing on bad input", "code", e.code, "reason", e.reason)
				}
				c.fail(e)
				return
			}
			if c.room != nil && ping == nil {
				ping = time.NewTicker(cfg.PingInterval)
				update = time.NewTicker(updateInterval)
				pingC, updateC = ping.C, update.C
			}
		case now := <-pingC:
			stats := c.lastStats.IsZero() || now.Sub(c.lastStats) >= statsInterval
			if stats {
				c.lastStats = now
				c.Send(pingStats)
			} else {
				c.Send(pingNoStats)
			}
			c.s.metrics.pings.Inc()
		case <-updateC:
			c.room.NotifyUpdated()
		case <-silence.C:
			c.fail(closeErr(ClosePongTimeout, "PONG-TIMEOUT", "nothing received for "+cfg.PongTimeout.String()))
			return
		case <-c.done:
			return
		}
	}
}

// handle runs one client message; a non-nil result closes the WebSocket.
func (c *conn) handle(b []byte) *closeError {
	m, e := decode(b)
	if e != nil {
		label := "invalid"
		if knownTypes[m.Type] {
			label = m.Type
		}
		c.s.metrics.received.WithLabelValues(label).Inc()
		return e
	}
	c.s.metrics.received.WithLabelValues(m.Type).Inc()
	if c.room == nil && m.Type != typeConnect {
		return closeErr(CloseUnexpectedMessage, "UNEXPECTED-MESSAGE", m.Type+" before connect")
	}
	switch m.Type {
	case typeConnect:
		if c.room != nil {
			return closeErr(CloseUnexpectedMessage, "UNEXPECTED-MESSAGE", "second connect")
		}
		rc, err := c.s.rooms.Join(*m.Connect, c)
		if err != nil {
			if errors.Is(err, room.ErrInvalidRequest) {
				return closeErr(CloseInvalidField, "INVALID-FIELD", strings.TrimPrefix(err.Error(), room.ErrInvalidRequest.Error()+": "))
			}
			c.log.Error("signaling: join failed", "channel_id", m.Connect.ChannelID, "err", err)
			return closeErr(CloseInternalError, "INTERNAL-ERROR", "cannot admit the connection")
		}
		c.room = rc
		c.log = c.log.With("connection_id", rc.ID(), "channel_id", rc.ChannelID())
	case typeAnswer:
		return c.answerResult(c.room.Answer(m.SDP))
	case typeReAnswer:
		return c.answerResult(c.room.ReAnswer(m.SDP))
	case typeUpdate:
		return closeErr(CloseUnexpectedMessage, "UNEXPECTED-MESSAGE", "update (this server sends re-offer, never update)")
	case typeDisconnect:
		return &closeError{code: CloseNormal, reason: "TYPE-DISCONNECT"}
	case typeCandidate, typePong, typeStats:
		// ICE-lite: the server learns the client's addresses from its
		// checks. Stats in pong/stats are not used yet.
	}
	return nil
}

func (c *conn) answerResult(err error) *closeError {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, room.ErrLeft):
		return nil // the room closed this connection already
	case errors.Is(err, offer.ErrInvalidAnswer):
		return closeErr(CloseInvalidAnswer, "INVALID-ANSWER", strings.TrimPrefix(err.Error(), offer.ErrInvalidAnswer.Error()+": "))
	case errors.Is(err, dataplane.ErrBadRemote):
		return closeErr(CloseInvalidAnswer, "INVALID-ANSWER", err.Error())
	case errors.Is(err, room.ErrUnexpectedAnswer):
		return closeErr(CloseUnexpectedMessage, "UNEXPECTED-MESSAGE", strings.TrimPrefix(err.Error(), room.ErrUnexpectedAnswer.Error()+": "))
	}
	c.log.Error("signaling: applying an answer", "err", err)
	return closeErr(CloseInternalError, "INTERNAL-ERROR", fmt.Sprintf("applying the answer: %v", err))
}
