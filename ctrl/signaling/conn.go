package signaling

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/coder/websocket"
	"github.com/hayate-sfu/hayate/ctrl/offer"
	"github.com/hayate-sfu/hayate/ctrl/room"
	"github.com/hayate-sfu/hayate/ctrl/uastats"
	"github.com/hayate-sfu/hayate/dataplane"
)

var (
	pingStats   = []byte(`{"type":"ping","stats":true}`)
	pingNoStats = []byte(`{"type":"ping","stats":false}`)
	reqStats    = []byte(`{"type":"req-stats"}`)
)

// conn is one signaling connection: its WebSocket and, once switched, its
// signaling DataChannels.
//
// Goroutines: serve (a goroutine of its own, not the HTTP handler's) runs
// the owner loop, which alone decodes client messages, drives the
// room.Connection and runs the pong timeout and the periodic duties the
// server's clock hands it (clock.go); a reader goroutine hands it one
// frame at a time. The owner also writes: Send queues a message and wakes
// it (writeC), and at the end it flushes the bounded send queue and closes
// the WebSocket. No goroutine is started per message: a join in a channel
// of N tells each of the N members, and a writer goroutine started for
// each of those bursts used to leave its grown stack behind in the stack
// spans of the long-lived goroutines. The room's DataChannel readers hand
// the owner the messages of the signaling channels (ReceiveDataChannel).
// Send, Close, Switched and ReceiveDataChannel (the room.DataChannelPeer
// side) may be called from any goroutine; only ReceiveDataChannel waits,
// and only until the owner takes the message or the connection is closing.
// A close begun while the owner is busy (an auth webhook in flight, a
// write to a slow client) reaches the WebSocket once the owner returns.
//
// When signaling switched with ignore_disconnect_websocket, the end of the
// WebSocket does not end the connection: the owner loop goes on with the
// DataChannels alone until the client disconnects, the transport ends or
// the server closes it.
type conn struct {
	s       *Server
	baseLog *slog.Logger // set before the goroutines start; for all of them
	ws      *websocket.Conn
	// redirected: a redirect was sent (owner loop only); the client closes
	// this WebSocket and connects to the location.
	redirected bool

	mu sync.Mutex
	// queue holds the messages for the owner to write, in order, at most
	// sendQueueLen (it grows with a burst and is let go once drained).
	queue [][]byte
	// serving: serve has the WebSocket and the owner loop writes.
	serving bool
	closing bool
	abrupt  bool // close without flushing the queue
	code    int
	reason  string
	done    chan struct{} // closed when closing starts
	// writeC wakes the owner loop to write the queue; wakes merge.
	writeC chan struct{}

	// dcIn carries the messages of the signaling DataChannels. It is
	// made by the owner just before it joins with data_channel_signaling
	// (the room opens signaling channels for no other connection, and
	// only after the join), so a WebSocket-only connection has none: a
	// nil channel in the owner's select is never ready.
	dcIn       chan dcFrame
	wsOptional atomic.Bool // switched with ignore_disconnect_websocket
	switched   atomic.Bool // signaling runs on DataChannels
	wsGone     atomic.Bool // the WebSocket ended; the connection goes on

	// Owned by the owner loop.
	writeTimer *time.Timer  // bounds each write (write); made at the first
	log        *slog.Logger // baseLog plus the connection's ids once joined
	room       *room.Connection
	lastStats  time.Time
}

// dcFrame is one message of a signaling DataChannel.
type dcFrame struct {
	label string
	data  []byte
}

// dcQueueLen bounds the DataChannel messages waiting for the owner loop;
// past it the channel's reader waits (SCTP then holds the client back).
const dcQueueLen = 64

func newConn(s *Server) *conn {
	return &conn{s: s, baseLog: s.log, log: s.log, done: make(chan struct{}), writeC: make(chan struct{}, 1)}
}

// Switched implements room.DataChannelPeer.
func (c *conn) Switched(ignoreDisconnectWebSocket bool) {
	c.wsOptional.Store(ignoreDisconnectWebSocket)
	c.switched.Store(true)
}

// ReceiveDataChannel implements room.DataChannelPeer: the message is copied
// and handed to the owner loop. The room calls it only for a connection
// that joined with data_channel_signaling, whose dcIn the owner made before
// the join (which orders that write before this read).
func (c *conn) ReceiveDataChannel(label string, msg []byte) {
	in := c.dcIn
	if in == nil {
		// Not expected (see dcIn); sending on a nil channel would hold
		// the DataChannel's reader until the connection closes.
		c.s.metrics.received.WithLabelValues("invalid").Inc()
		c.baseLog.Warn("signaling: DataChannel message for a connection without DataChannel signaling", "label", label)
		return
	}
	f := dcFrame{label: label, data: bytes.Clone(msg)}
	select {
	case in <- f:
	case <-c.done:
	}
}

// Send implements room.Peer: it queues one text frame. A full queue closes
// the connection (CloseSendQueueFull).
func (c *conn) Send(b []byte) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closing {
		return
	}
	if len(c.queue) >= sendQueueLen {
		c.s.metrics.sendDrops.Inc()
		c.closeLocked(CloseSendQueueFull, "SEND-QUEUE-FULL: "+strconv.Itoa(sendQueueLen)+" messages unread", true)
		return
	}
	c.queue = append(c.queue, b)
	c.wakeWriterLocked()
}

// wakeWriterLocked wakes the owner loop to write the queue. Before serve
// has the WebSocket, messages wait in the queue.
func (c *conn) wakeWriterLocked() {
	if !c.serving || len(c.queue) == 0 {
		return
	}
	select {
	case c.writeC <- struct{}{}:
	default: // a wake is pending
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
	close(c.done) // the owner loop ends; finish flushes and closes
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

// serve runs the connection on its WebSocket until both end. It keeps a
// small frame, as it stays on the owner's stack (see ownerLoop).
func (c *conn) serve(ws *websocket.Conn, remote string) {
	r := c.startReader(ws, remote)
	c.ownerLoop(r.in)
	c.finish(r)
}

// reader is the handle on a connection's reader goroutine.
type reader struct {
	in     chan frame
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

//go:noinline
func (c *conn) startReader(ws *websocket.Conn, remote string) *reader {
	c.ws = ws
	c.baseLog = c.s.log.With("remote", remote)
	c.log = c.baseLog
	ctx, cancel := context.WithCancel(context.Background())
	r := &reader{in: make(chan frame), cancel: cancel}
	r.wg.Go(func() { c.readLoop(ctx, r.in) })
	c.mu.Lock()
	c.serving = true
	c.wakeWriterLocked()
	c.mu.Unlock()
	return r
}

// finish takes the connection out of the room, flushes the queue and
// closes the WebSocket, waits for the reader's end, and counts the close.
//
//go:noinline
func (c *conn) finish(r *reader) {
	if c.room != nil {
		c.leave()
	}
	c.closeWebSocket()
	r.cancel()
	r.wg.Wait()

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

// leave takes the connection out of the room. A close the client caused
// (its disconnect, its WebSocket or DataChannel gone) just leaves; a close
// the server decided (shutdown, bad input, timeout) is also told to a
// switched client on its signaling DataChannel.
func (c *conn) leave() {
	defer c.recovered("leave")
	c.mu.Lock()
	code, reason := c.code, c.reason
	c.mu.Unlock()
	if reason == "TYPE-DISCONNECT" || strings.HasPrefix(reason, "CLIENT-CLOSED") {
		c.room.Leave()
		return
	}
	c.room.Close(code, reason)
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
		// No deadline and no cancellation for the read itself: the close
		// of the WebSocket (finish) ends it. A cancellable context would
		// cost the library a registration per frame.
		typ, r, err := c.ws.Reader(context.Background())
		if err != nil {
			deliver(frame{gone: err})
			return
		}
		if typ != websocket.MessageText {
			deliver(frame{err: closeErr(CloseInvalidJSON, "INVALID-JSON", "binary frame (want a JSON text frame)")})
			return
		}
		b, err := readFrame(r, limit)
		if err != nil {
			deliver(frame{gone: err})
			return
		}
		if b == nil {
			deliver(frame{err: closeErr(CloseMessageTooLarge, "MESSAGE-TOO-LARGE", "limit is "+strconv.FormatInt(limit, 10)+" bytes")})
			return
		}
		if !deliver(frame{data: b}) {
			return
		}
	}
}

// readBufs holds the buffers frames are read into (*[]byte), shared by
// every connection's reader: a frame is read whole into one, then copied
// out at its size, so reading a 10 kB pong allocates 10 kB rather than the
// 30 kB that growing a buffer from nothing leaves behind.
var readBufs = sync.Pool{New: func() any { b := make([]byte, 0, readBufSize); return &b }}

const (
	// readBufSize is a pooled buffer's initial size: a pong with a
	// client's RTC stats, or a connect.
	readBufSize = 16 << 10
	// maxPooledReadBuf: a buffer grown past this by a large frame is let go.
	maxPooledReadBuf = 256 << 10
)

// readFrame reads the rest of a frame, at most limit bytes; it returns nil
// (and no error) when the frame is longer. An empty frame is an empty,
// non-nil slice.
func readFrame(r io.Reader, limit int64) ([]byte, error) {
	bp := readBufs.Get().(*[]byte)
	buf := (*bp)[:0]
	defer func() {
		if cap(buf) <= maxPooledReadBuf {
			*bp = buf[:0]
			readBufs.Put(bp)
		}
	}()
	for {
		if len(buf) == cap(buf) {
			buf = append(buf, 0)[:len(buf)]
		}
		// Read no further than one byte past the limit.
		end := cap(buf)
		if left := limit + 1 - int64(len(buf)); int64(end-len(buf)) > left {
			end = len(buf) + int(left)
		}
		n, err := r.Read(buf[len(buf):end])
		buf = buf[:len(buf)+n]
		if int64(len(buf)) > limit {
			return nil, nil
		}
		if err == io.EOF {
			return append(make([]byte, 0, len(buf)), buf...), nil
		}
		if err != nil {
			return nil, err
		}
	}
}

// writeQueued writes the queued messages in order until the queue is
// empty or the connection is closing (finish flushes the rest). A failed
// write closes the connection, unless signaling goes on over DataChannels.
//
//go:noinline
func (c *conn) writeQueued() {
	for {
		c.mu.Lock()
		if c.closing || len(c.queue) == 0 {
			if len(c.queue) == 0 {
				c.queue = nil // a burst's backing array goes with it
			}
			c.mu.Unlock()
			return
		}
		b := c.popLocked()
		c.mu.Unlock()
		if c.wsGone.Load() {
			continue // the connection lives on DataChannels
		}
		if err := c.write(b); err != nil {
			if c.wsOptional.Load() {
				c.wsGone.Store(true)
				continue
			}
			c.mu.Lock()
			c.closeLocked(1001, "CLIENT-CLOSED: write: "+err.Error(), true)
			c.mu.Unlock()
			return
		}
	}
}

// closeWebSocket runs once the connection is closing: it writes what is
// queued (unless the close is abrupt) and closes the WebSocket with the
// close's code and reason.
func (c *conn) closeWebSocket() {
	defer c.recovered("close")
	c.mu.Lock()
	code, reason, abrupt := c.code, c.reason, c.abrupt
	c.mu.Unlock()
	if !abrupt && !c.wsGone.Load() {
		for {
			b, ok := c.pop()
			if !ok || c.write(b) != nil {
				break
			}
		}
	}
	_ = c.ws.Close(websocket.StatusCode(code), reason)
}

func (c *conn) popLocked() []byte {
	b := c.queue[0]
	c.queue[0] = nil
	c.queue = c.queue[1:]
	return b
}

func (c *conn) pop() ([]byte, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.queue) == 0 {
		return nil, false
	}
	return c.popLocked(), true
}

// write writes one text frame (owner only). A write that takes longer than
// writeTimeout ends the WebSocket: the connection's one write timer closes
// it, and the write returns an error. A context with a deadline per write
// would allocate a timer and a context for every message, and the library
// one more registration per call (notifies to a channel of N are N² writes
// over N joins).
func (c *conn) write(b []byte) error {
	if c.writeTimer == nil {
		c.writeTimer = time.AfterFunc(c.s.cfg.writeTimeout, c.writeTimedOut)
	} else {
		c.writeTimer.Reset(c.s.cfg.writeTimeout)
	}
	err := c.ws.Write(context.Background(), websocket.MessageText, b)
	c.writeTimer.Stop()
	return err
}

// writeTimedOut runs on the write timer's goroutine: the client has not
// taken a frame for writeTimeout.
func (c *conn) writeTimedOut() {
	c.s.metrics.writeTimeouts.Inc()
	_ = c.ws.CloseNow()
}

// redirectGrace is how long a redirected client has to close its
// WebSocket before the server closes it (1000 REDIRECT). The SDKs close it
// themselves on the redirect message; closing first could reach them
// before they have read it.
const redirectGrace = 5 * time.Second

// awaitRedirectClose waits for a redirected client to close its WebSocket,
// ignoring anything else it sends, for at most redirectGrace.
func (c *conn) awaitRedirectClose(in <-chan frame) {
	t := time.NewTimer(redirectGrace)
	defer t.Stop()
	for {
		select {
		case f := <-in:
			if f.gone == nil && f.err == nil {
				continue
			}
			c.mu.Lock()
			c.closeLocked(CloseNormal, "REDIRECT", true)
			c.mu.Unlock()
			return
		case <-c.writeC:
			c.writeQueued()
		case <-t.C:
			c.fail(closeErr(CloseNormal, "REDIRECT", ""))
			return
		case <-c.done:
			return
		}
	}
}

// owner is the owner loop's state: the channels its select waits on and
// the timer behind one of them. It lives on the heap and the loop's events
// are handled by methods, so that the goroutine, blocked in the select
// with only small frames on its stack, can keep a small stack (it shrinks
// at a GC once it uses less than a quarter of it; see ownerLoop).
//
// The silence timer (the pong timeout) is the connection's own: resetting
// it on every frame wakes nobody. The periodic duties (ping, update,
// dcStats) are the server's clock's (clock.go): once joined, the
// connection is registered there, and the clock pokes dutyC when some are
// due.
type owner struct {
	c        *conn
	in       <-chan frame
	silence  *time.Timer
	silenceC <-chan time.Time
	duties   duties          // registered on the server's clock once joined
	dutyC    <-chan struct{} // duties.poke once registered; nil before
}

// ownerLoop runs the connection until it closes. Decoding a message, a
// join or a stats report needs deep stacks; they run in the on* methods,
// below this frame, so that what stays on the stack while the loop waits
// is ownerLoop, serve and the select: less than 2 KiB with the runtime's
// guard, which lets a GC shrink the stack to 4 KiB.
func (c *conn) ownerLoop(in <-chan frame) {
	defer c.recovered("owner")
	o := &owner{c: c, in: in, silence: time.NewTimer(c.s.cfg.PongTimeout)}
	o.silenceC = o.silence.C
	defer o.stop()
	for {
		var stop bool
		select {
		case f := <-o.in:
			stop = o.onFrame(f)
		case f := <-c.dcIn:
			stop = o.onDataChannel(f)
		case <-o.dutyC:
			o.onDuties()
		case <-c.writeC:
			c.writeQueued()
		case <-o.silenceC:
			o.onSilence()
			return
		case <-c.done:
			return
		}
		if stop {
			return
		}
	}
}

//go:noinline
func (o *owner) stop() {
	o.silence.Stop()
	o.c.s.clock.unregister(&o.duties)
}

// onFrame handles what the reader delivered; true ends the loop.
//
//go:noinline
func (o *owner) onFrame(f frame) bool {
	c, cfg := o.c, &o.c.s.cfg
	if f.gone != nil {
		if c.room != nil && c.wsOptional.Load() {
			// ignore_disconnect_websocket: signaling goes on over
			// the DataChannels; pings and the pong timeout end.
			c.wsGone.Store(true)
			c.s.metrics.wsGone.Inc()
			c.log.Info("signaling: WebSocket closed; the connection goes on over DataChannels", "err", f.gone)
			o.in, o.silenceC = nil, nil
			o.silence.Stop()
			c.s.clock.clear(&o.duties, dutyPing)
			return false
		}
		c.mu.Lock()
		c.closeLocked(1001, "CLIENT-CLOSED", true)
		c.mu.Unlock()
		return true
	}
	if f.err != nil {
		c.s.metrics.received.WithLabelValues("invalid").Inc()
		c.fail(f.err)
		return true
	}
	o.silence.Reset(cfg.PongTimeout)
	if e := c.handle(f.data); e != nil {
		if e.code != CloseNormal {
			c.log.Info("signaling: closing on bad input", "code", e.code, "reason", e.reason)
		}
		c.fail(e)
		return true
	}
	if c.redirected {
		c.writeQueued() // the redirect
		c.awaitRedirectClose(o.in)
		return true
	}
	if c.room != nil && o.dutyC == nil {
		o.register()
	}
	return false
}

// register puts the joined connection on the server's clock. Only a
// connection that joined with data_channel_signaling (it has dcIn) can
// switch, so only it gets req-stats.
//
//go:noinline
func (o *owner) register() {
	set := dutyPing | dutyUpdate
	if o.c.dcIn != nil {
		set |= dutyDCStats
	}
	o.duties.poke = make(chan struct{}, 1)
	o.dutyC = o.duties.poke
	o.c.s.clock.register(&o.duties, set)
}

// onDuties runs the duties the clock found due.
//
//go:noinline
func (o *owner) onDuties() {
	due := duty(o.duties.pending.Swap(0))
	if due&dutyPing != 0 {
		o.onPing(o.c.s.clock.tickTime())
	}
	if due&dutyUpdate != 0 {
		o.onUpdate()
	}
	if due&dutyDCStats != 0 {
		o.onDataChannelStats()
	}
}

// onDataChannel handles a signaling DataChannel's message; true ends the
// loop.
//
//go:noinline
func (o *owner) onDataChannel(f dcFrame) bool {
	c := o.c
	if o.silenceC != nil {
		o.silence.Reset(c.s.cfg.PongTimeout)
	}
	if e := c.handleDataChannel(f); e != nil {
		if e.code != CloseNormal {
			c.log.Info("signaling: closing on bad DataChannel input", "label", f.label, "code", e.code, "reason", e.reason)
		}
		c.fail(e)
		return true
	}
	return false
}

//go:noinline
func (o *owner) onDataChannelStats() {
	if c := o.c; c.switched.Load() {
		_ = c.room.SendDataChannel(room.LabelStats, reqStats)
	}
}

//go:noinline
func (o *owner) onPing(now time.Time) {
	c := o.c
	if c.wsGone.Load() {
		return
	}
	stats := c.lastStats.IsZero() || now.Sub(c.lastStats) >= statsInterval
	if stats {
		c.lastStats = now
		c.Send(pingStats)
	} else {
		c.Send(pingNoStats)
	}
	c.s.metrics.pings.Inc()
}

//go:noinline
func (o *owner) onUpdate() { o.c.room.NotifyUpdated() }

//go:noinline
func (o *owner) onSilence() {
	pt := o.c.s.cfg.PongTimeout
	o.c.fail(closeErr(ClosePongTimeout, "PONG-TIMEOUT", "nothing received for "+pt.String()))
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
		if place := c.s.cfg.Place; place != nil {
			// Cluster: the channel's owner takes the connect. Before any
			// auth, as Sora does; the client reconnects to location.
			url, err := place(m.Connect.ChannelID)
			if err != nil {
				return closeErr(CloseClusterUnavailable, "CLUSTER-UNAVAILABLE", err.Error())
			}
			if url != "" {
				msg, _ := json.Marshal(struct {
					Type     string `json:"type"`
					Location string `json:"location"`
				}{"redirect", url})
				c.Send(msg)
				c.s.metrics.redirects.Inc()
				c.redirected = true // the owner loop waits for the client to go
				return nil
			}
		}
		var lifetime time.Duration
		if c.s.cfg.AuthWebhook != nil && c.s.cfg.AuthWebhook.Enabled() {
			// The wait for the webhook ends early when the connection
			// is closed by the server (Shutdown); otherwise it lasts at
			// most the webhook timeout.
			ctx, cancel := context.WithCancel(context.Background())
			go func() {
				select {
				case <-c.done:
					cancel()
				case <-ctx.Done():
				}
			}()
			req, life, e := c.s.authorize(ctx, b)
			cancel()
			if e != nil {
				return e
			}
			m.Connect, lifetime = req, life
		} else if e := c.s.checkToken(m.Connect); e != nil {
			return e
		}
		if m.Connect.DataChannelSignaling && c.dcIn == nil {
			c.dcIn = make(chan dcFrame, dcQueueLen) // before the room can use it
		}
		rc, err := c.s.rooms.Join(*m.Connect, c)
		if err != nil {
			if errors.Is(err, room.ErrInvalidRequest) {
				return closeErr(CloseInvalidField, "INVALID-FIELD", strings.TrimPrefix(err.Error(), room.ErrInvalidRequest.Error()+": "))
			}
			if errors.Is(err, room.ErrBlocked) || errors.Is(err, room.ErrTooManyConnections) {
				// Refused by the API's ChangeMode or a connection limit: not
				// a fault. The room has counted and logged it and closed this
				// connection (CloseModeBlocked "MODE-BLOCKED: <mode>",
				// CloseTooManyConnections "TOO-MANY-CONNECTIONS: <limit>");
				// the owner loop ends on c.done.
				return nil
			}
			c.log.Error("signaling: join failed", "channel_id", m.Connect.ChannelID, "err", err)
			return closeErr(CloseInternalError, "INTERNAL-ERROR", "cannot admit the connection")
		}
		c.room = rc
		c.log = c.log.With("connection_id", rc.ID(), "channel_id", rc.ChannelID())
		if ext := m.Connect.NotifyMetadataExt; len(ext) > 0 {
			// The auth webhook's signaling_notify_metadata_ext: the value
			// the metadata API operations start from.
			_, _, _ = c.s.rooms.UpdateMetadataExt(rc.ID(), func(map[string]json.RawMessage) map[string]json.RawMessage { return ext })
		}
		if lifetime > 0 {
			// connection_lifetime from the auth webhook: a normal close.
			t := time.NewTimer(lifetime)
			go func() {
				defer t.Stop()
				select {
				case <-t.C:
					rc.Close(CloseNormal, "LIFETIME-EXPIRED")
				case <-c.done:
				}
			}()
		}
	case typeAnswer:
		return c.answerResult(c.room.Answer(m.SDP))
	case typeReAnswer:
		return c.answerResult(c.room.ReAnswer(m.SDP))
	case typeUpdate:
		return closeErr(CloseUnexpectedMessage, "UNEXPECTED-MESSAGE", "update (this server sends re-offer, never update)")
	case typeDisconnect:
		return &closeError{code: CloseNormal, reason: "TYPE-DISCONNECT"}
	case typePong, typeStats:
		c.recordStats(m.Stats)
	case typeCandidate:
		// ICE-lite: the server learns the client's addresses from its
		// checks.
	}
	return nil
}

// recordStats keeps a client's stats report for the user-agent stats API;
// a report the store refuses is the client's problem, logged and dropped.
func (c *conn) recordStats(report json.RawMessage) {
	st := c.s.cfg.UAStats
	if st == nil || c.room == nil || len(report) == 0 {
		return
	}
	info := c.room.Info()
	if err := st.Record(uastats.ConnInfo{ChannelID: info.ChannelID, SessionID: info.SessionID,
		ClientID: info.ClientID, ConnectionID: info.ConnectionID}, report, time.Now()); err != nil {
		c.log.Debug("signaling: stats report dropped", "err", err)
	}
}

// handleDataChannel runs one message of a signaling DataChannel; a non-nil
// result ends the connection. Only the signaling label's messages can do
// that: a bad stats report is counted and dropped, and notify and push carry
// nothing from the client.
func (c *conn) handleDataChannel(f dcFrame) *closeError {
	c.s.metrics.dcIn.WithLabelValues(f.label).Inc()
	switch f.label {
	case room.LabelSignaling:
		m, e := decodeSignalingChannel(f.data)
		if e != nil {
			c.s.metrics.received.WithLabelValues("invalid").Inc()
			return e
		}
		c.s.metrics.received.WithLabelValues(m.Type).Inc()
		switch m.Type {
		case typeReAnswer:
			return c.answerResult(c.room.ReAnswer(m.SDP))
		case typeDisconnect:
			return &closeError{code: CloseNormal, reason: "TYPE-DISCONNECT"}
		}
	case room.LabelRPC:
		c.handleRPC(f.data)
	case room.LabelStats:
		if m, e := decode(f.data); e != nil || m.Type != typeStats {
			c.s.metrics.received.WithLabelValues("invalid").Inc()
		} else {
			c.s.metrics.received.WithLabelValues(typeStats).Inc()
			c.recordStats(m.Stats)
		}
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
