package room

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/hayate-sfu/hayate/ctrl/offer"
	"github.com/hayate-sfu/hayate/dataplane"
)

// DataChannels (signaling.md §7–§9). The server opens every channel of a
// connection once its transport is up: the signaling labels when the
// connection asked for DataChannel signaling, then its messaging labels.
// Each channel is an endpoint; the endpoints of a channel_id that may
// receive messages are published per label in a copy-on-write table, so a
// message is fanned out without taking the channel lock.

// Labels of the DataChannel signaling channels.
const (
	LabelSignaling = "signaling"
	LabelNotify    = "notify"
	LabelPush      = "push"
	LabelStats     = "stats"
	LabelRPC       = "rpc"
)

// RPC methods the server implements on the rpc channel (signaling.md §9).
const (
	RPCPutSignalingNotifyMetadata     = "2025.2.0/PutSignalingNotifyMetadata"
	RPCPutSignalingNotifyMetadataItem = "2025.2.0/PutSignalingNotifyMetadataItem"
)

// DefaultRPCMethods are granted to a connection with DataChannel signaling
// when its JoinRequest names none.
var DefaultRPCMethods = []string{RPCPutSignalingNotifyMetadata, RPCPutSignalingNotifyMetadataItem}

// Limits of DataChannels.
const (
	// MaxDataChannels is the most messaging labels one connection may ask for.
	MaxDataChannels = 32
	// MaxDataChannelLabelBytes bounds a messaging label.
	MaxDataChannelLabelBytes = 255
	// DefaultDataChannelMaxMessageSize is Config.DataChannelMaxMessageSize's default.
	DefaultDataChannelMaxMessageSize = 262144
	// closeWait bounds how long a leaving connection waits for the client to
	// close its side of each DataChannel before the transport is closed.
	closeWait = 2 * time.Second
)

// DataChannelDirection is a messaging label's direction from the client's
// point of view (signaling.md §8).
type DataChannelDirection string

// Directions.
const (
	DataChannelSendRecv DataChannelDirection = "sendrecv"
	DataChannelSendOnly DataChannelDirection = "sendonly"
	DataChannelRecvOnly DataChannelDirection = "recvonly"
)

// Valid reports whether d is one of the three directions.
func (d DataChannelDirection) Valid() bool {
	return d == DataChannelSendRecv || d == DataChannelSendOnly || d == DataChannelRecvOnly
}

// Sends reports whether the client may send on the label.
func (d DataChannelDirection) Sends() bool {
	return d == DataChannelSendRecv || d == DataChannelSendOnly
}

// Receives reports whether the client receives the label's messages.
func (d DataChannelDirection) Receives() bool {
	return d == DataChannelSendRecv || d == DataChannelRecvOnly
}

// DataChannelRequest is one entry of connect's data_channels: a messaging
// label the server opens for the connection.
type DataChannelRequest struct {
	// Label starts with '#'.
	Label     string
	Direction DataChannelDirection
	// Ordered delivery; connect's default is true.
	Ordered bool
	// MaxPacketLifeTime (ms) and MaxRetransmits make the channel partially
	// reliable; -1 means not set. At most one may be set.
	MaxPacketLifeTime, MaxRetransmits int
	// Protocol is the channel's sub-protocol name.
	Protocol string
	// Compress: every message on the label is a zlib stream (RFC 1950),
	// both ways.
	Compress bool
	// Header is connect's header list as sent; it is echoed in
	// offer.data_channels. SenderConnectionID is true when it asks for the
	// sender's connection id in front of every message delivered to this
	// connection.
	Header             json.RawMessage
	SenderConnectionID bool
}

// DataChannelPeer is a Peer that also serves DataChannel signaling. The
// room checks for it with a type assertion; without it, messages from the
// signaling channels are dropped and counted.
type DataChannelPeer interface {
	Peer
	// Switched is called once, with the channel lock held, just before the
	// room queues {"type":"switched"} with Send: from now on re-offer,
	// notify and push go on DataChannels, and when ignoreDisconnectWebSocket
	// the end of the WebSocket must not end the connection.
	Switched(ignoreDisconnectWebSocket bool)
	// ReceiveDataChannel hands over one message the client sent on a
	// signaling channel (signaling, notify, push, stats, rpc), decompressed.
	// It is called from that channel's reader goroutine without room locks;
	// it may wait for the peer to take the message (that holds back only
	// this channel) but must return once the peer is closing. msg is valid
	// only during the call.
	ReceiveDataChannel(label string, msg []byte)
}

var (
	errNoDataChannel = errors.New("room: no open DataChannel with that label")
	errCorrupt       = errors.New("room: not a zlib stream")
	errTooLarge      = errors.New("room: message larger than the DataChannel limit")
)

// endpoint is one DataChannel the server opens for a connection. The fields
// above ch are fixed at Join; ch is set under the channel lock once the
// channel is open and never changes after (the handler may see messages
// before that; it does not use ch).
type endpoint struct {
	c         *Connection
	label     string
	messaging bool // a '#' label
	dir       DataChannelDirection
	compress  bool
	header    bool // prefix delivered messages with the sender's connection id
	cfg       dataplane.DataChannelConfig
	offered   offerDataChannel

	ch            DataChannel
	closing       atomic.Bool   // the server closes it (leave): OnClose is expected
	pendingSwitch atomic.Bool   // stats: its first message switches signaling
	closed        chan struct{} // closed by OnClose
}

// labelTable maps a messaging label to the endpoints of a channel that
// receive it. A published table is never modified.
type labelTable map[string][]*endpoint

// buildEndpoints lists the channels the server will open for a validated
// join: the signaling labels (and rpc) first, then the messaging labels in
// request order.
func (c *Connection) buildEndpoints(req *JoinRequest) {
	add := func(ep *endpoint) {
		ep.c = c
		ep.closed = make(chan struct{})
		ep.offered = offerDataChannel{Label: ep.label, Direction: string(ep.dir), Compress: ep.compress}
		c.dcs = append(c.dcs, ep)
	}
	reliable := func(label string) dataplane.DataChannelConfig {
		return dataplane.DataChannelConfig{Label: label, Ordered: true, MaxRetransmits: -1, MaxPacketLifeTime: -1}
	}
	if c.dcSignaling {
		labels := []string{LabelSignaling, LabelNotify, LabelPush, LabelStats}
		if len(c.rpcMethods) > 0 {
			labels = append(labels, LabelRPC)
		}
		for _, l := range labels {
			ep := &endpoint{label: l, dir: DataChannelSendRecv, cfg: reliable(l)}
			ep.pendingSwitch.Store(l == LabelStats)
			add(ep)
		}
	}
	for _, d := range req.DataChannels {
		ep := &endpoint{
			label: d.Label, messaging: true, dir: d.Direction, compress: d.Compress, header: d.SenderConnectionID,
			cfg: dataplane.DataChannelConfig{Label: d.Label, Protocol: d.Protocol, Ordered: d.Ordered,
				MaxRetransmits: d.MaxRetransmits, MaxPacketLifeTime: d.MaxPacketLifeTime},
		}
		add(ep)
		ep.offered.Header = d.Header
	}
}

// usesDataChannels reports whether the connection's offer has an
// application section.
func (c *Connection) usesDataChannels() bool { return len(c.dcs) > 0 }

// applicationSection is the m=application section of the first offer.
func (c *Connection) applicationSection() section {
	c.appMid = c.newMid()
	return section{Section: offer.Section{Mid: c.appMid, Application: true,
		MaxMessageSize: uint32(c.reg.cfg.DataChannelMaxMessageSize)}}
}

// acceptApplicationLocked checks the answer's application section and
// fills the DataChannel part of the transport's remote parameters.
func (c *Connection) acceptApplicationLocked(a *offer.Answer, rp *dataplane.RemoteParams) error {
	if c.appMid == "" {
		return nil
	}
	as, _ := a.Section(c.appMid)
	if as.Kind != "application" {
		return fmt.Errorf("%w: mid %s is %q in the answer, want the application section", offer.ErrInvalidAnswer, c.appMid, as.Kind)
	}
	if as.Rejected {
		return fmt.Errorf("%w: mid %s: the application section was rejected (the connection uses DataChannels)", offer.ErrInvalidAnswer, c.appMid)
	}
	limit := uint32(c.reg.cfg.DataChannelMaxMessageSize)
	mms := as.PeerMaxMessageSize()
	if mms == 0 || mms > limit { // 0: no limit on the client's side
		mms = limit
	}
	rp.DataChannels, rp.MaxMessageSize = true, mms
	rp.DataChannelMaxBufferedBytes = uint64(c.reg.cfg.DataChannelMaxBufferedBytes)
	c.dcAccepted = true
	return nil
}

// openDataChannels opens every channel of the connection once its
// transport is up. Called from onConnected without the channel lock:
// opening queues SCTP messages and is kept out of the lock.
//
// With DataChannel signaling, switched must not reach the client before its
// DataChannels do, or the SDK neither uses nor reports them (its datachannel
// callback lists only the channels it already has). The plane does not
// report the client's DCEP acknowledgements, so the room proves the
// channels arrived with a round trip: "stats" is opened last and carries a
// req-stats at once; the first message the client sends on it (its stats
// answer) switches. Clients that do not answer are switched after
// switchFallback.
func (c *Connection) openDataChannels(tr Transport) {
	order := make([]*endpoint, 0, len(c.dcs))
	var stats *endpoint
	for _, ep := range c.dcs {
		if ep.label == LabelStats && !ep.messaging {
			stats = ep
			continue
		}
		order = append(order, ep)
	}
	if stats != nil {
		order = append(order, stats)
	}
	opened := make(map[*endpoint]DataChannel, len(order))
	var failed error
	for _, ep := range order {
		ch, err := tr.OpenDataChannel(ep.cfg, ep)
		if err != nil {
			failed = fmt.Errorf("opening DataChannel %q: %w", ep.label, err)
			break
		}
		opened[ep] = ch
	}
	c.ch.mu.Lock()
	defer c.ch.mu.Unlock()
	if c.left {
		for _, ch := range opened {
			_ = ch.Close()
		}
		return
	}
	for ep, ch := range opened {
		ep.ch = ch
	}
	c.dcOpened = true
	c.reg.metrics.dcOpened.Add(float64(len(opened)))
	if failed != nil {
		c.reg.log.Warn("room: DataChannels", "connection_id", c.id, "err", failed)
		c.abortLocked(4500, "INTERNAL-ERROR: "+failed.Error())
		return
	}
	c.ch.rebuildLabelsLocked()
	if !c.dcSignaling {
		return
	}
	c.switchPending = true
	if err := stats.ch.Send(reqStats, true); err != nil {
		c.reg.log.Debug("room: req-stats before the switch", "connection_id", c.id, "err", err)
	}
	c.switchTimer = time.AfterFunc(switchFallback, func() { c.switchSignaling("no answer on stats") })
}

// reqStats asks the client for its stats on the stats channel.
var reqStats = []byte(`{"type":"req-stats"}`)

// switchFallback bounds the wait for the client's first answer on the stats
// channel before signaling switches anyway (a variable for tests). The SDKs
// answer within a round trip; the bound only matters for clients that never
// answer, and is generous so that a loaded machine does not fall back.
var switchFallback = 3 * time.Second

// switchSignaling moves signaling to the DataChannels: the peer is told,
// then switched goes on the WebSocket (signaling.md §7). It runs once, on
// the client's first message on stats or at switchFallback.
func (c *Connection) switchSignaling(why string) {
	c.ch.mu.Lock()
	defer c.ch.mu.Unlock()
	if c.left || !c.switchPending {
		return
	}
	c.switchPending = false
	c.switchTimer.Stop()
	if p, ok := c.peer.(DataChannelPeer); ok {
		p.Switched(c.ignoreWS)
	}
	c.switched = true
	c.reg.metrics.switched.Inc()
	c.reg.log.Info("room: signaling switched to DataChannels", "connection_id", c.id,
		"ignore_disconnect_websocket", c.ignoreWS, "after", why)
	b, err := encode(switchedMessage{Type: "switched", IgnoreDisconnectWebSocket: c.ignoreWS})
	if err == nil {
		c.peer.Send(b) // always on the WebSocket
	}
}

// rebuildLabelsLocked publishes a new table of the endpoints that receive
// each messaging label.
func (ch *channel) rebuildLabelsLocked() {
	t := labelTable{}
	for _, m := range ch.members {
		if m.left {
			continue
		}
		for _, ep := range m.dcs {
			if ep.messaging && ep.ch != nil && !ep.closing.Load() && ep.dir.Receives() {
				t[ep.label] = append(t[ep.label], ep)
			}
		}
	}
	ch.labels.Store(&t)
}

// takeDataChannelsLocked marks every opened channel as being closed by the
// server and returns them; the fan-out stops using them at once.
func (c *Connection) takeDataChannelsLocked() []*endpoint {
	var eps []*endpoint
	for _, ep := range c.dcs {
		if ep.ch != nil && !ep.closing.Swap(true) {
			eps = append(eps, ep)
		}
	}
	if len(eps) > 0 {
		c.ch.rebuildLabelsLocked()
	}
	return eps
}

// closeTransport closes the channels, waits (at most closeWait) until the
// client has closed its side of each, then closes the transport: the SDKs
// report an abnormal end when the transport goes first (DESIGN §6). Any
// message queued on a channel before (the close message) is delivered
// before the channel's reset.
func (r *Registry) closeTransport(tr Transport, eps []*endpoint) {
	r.background(func() {
		for _, ep := range eps {
			_ = ep.ch.Close()
		}
		timer := time.NewTimer(closeWait)
		defer timer.Stop()
	wait:
		for _, ep := range eps {
			select {
			case <-ep.closed:
			case <-timer.C:
				break wait
			}
		}
		tr.Close()
	})
}

// background runs fn on a goroutine that Wait waits for.
func (r *Registry) background(fn func()) {
	r.bgMu.Lock()
	r.bgRunning++
	r.bgMu.Unlock()
	go func() {
		defer func() {
			r.bgMu.Lock()
			r.bgRunning--
			if r.bgRunning == 0 {
				r.bgIdle.Broadcast()
			}
			r.bgMu.Unlock()
		}()
		fn()
	}()
}

// Wait blocks until the registry's background work is done: transports of
// connections that left are closed (after their DataChannels), deferred
// closes have run. Work may start again when connections leave later.
func (r *Registry) Wait() {
	r.bgMu.Lock()
	defer r.bgMu.Unlock()
	for r.bgRunning > 0 {
		r.bgIdle.Wait()
	}
}

// sendDataChannelLocked sends one JSON message on a signaling label.
func (c *Connection) sendDataChannelLocked(label string, b []byte) error {
	var ep *endpoint
	for _, e := range c.dcs {
		if e.label == label {
			ep = e
			break
		}
	}
	if ep == nil || ep.ch == nil || ep.closing.Load() {
		return fmt.Errorf("%w: %q", errNoDataChannel, label)
	}
	if !ep.compress {
		return ep.ch.Send(b, true)
	}
	buf := getBuf()
	defer putBuf(buf)
	*buf = deflate((*buf)[:0], b)
	return ep.ch.Send(*buf, false)
}

// sendBytesLocked sends an encoded message: on its label's DataChannel once
// signaling has switched (label "" always goes on the WebSocket), else
// through the Peer.
func (c *Connection) sendBytesLocked(label string, b []byte) {
	if label == "" || !c.switched {
		c.peer.Send(b)
		return
	}
	if err := c.sendDataChannelLocked(label, b); err != nil {
		c.dataChannelSendFailedLocked(label, err)
	}
}

// dataChannelSendFailedLocked counts a signaling message that could not be
// queued and ends the connection when the client cannot keep up: a full
// buffer closes it with 4409, a message over the client's max-message-size
// with 4413. The end runs on its own goroutine: the caller may be iterating
// the channel's members.
func (c *Connection) dataChannelSendFailedLocked(label string, err error) {
	m := c.reg.metrics
	code, reason := 0, ""
	switch {
	case errors.Is(err, dataplane.ErrDataChannelBufferFull):
		m.dcDropBufferFull.Inc()
		code, reason = 4409, "SEND-QUEUE-FULL: DataChannel "+strconv.Quote(label)+" buffer full"
	case errors.Is(err, dataplane.ErrDataChannelMessageTooLarge):
		m.dcDropTooLarge.Inc()
		code, reason = 4413, "MESSAGE-TOO-LARGE: over the client's max-message-size on "+strconv.Quote(label)
	default:
		m.dcDropSendError.Inc()
		c.reg.log.Debug("room: DataChannel send", "connection_id", c.id, "label", label, "err", err)
		return
	}
	c.reg.log.Info("room: closing a connection that cannot take its DataChannel signaling", "connection_id", c.id, "reason", reason)
	c.reg.background(func() { c.abort(code, reason) })
}

// SendDataChannel sends one message on a signaling label (rpc responses,
// req-stats). It fails with ErrLeft after the connection left, and when the
// label has no open channel; a full buffer also ends the connection (4409).
func (c *Connection) SendDataChannel(label string, msg []byte) error {
	c.ch.mu.Lock()
	defer c.ch.mu.Unlock()
	if c.left {
		return ErrLeft
	}
	err := c.sendDataChannelLocked(label, msg)
	if err != nil && !errors.Is(err, errNoDataChannel) {
		c.dataChannelSendFailedLocked(label, err)
	}
	return err
}

// RPCMethods lists the JSON-RPC methods granted on the rpc channel
// (offer.rpc_methods); nil without DataChannel signaling.
func (c *Connection) RPCMethods() []string { return slices.Clone(c.rpcMethods) }

// abort ends the connection from the server side (see abortLocked).
func (c *Connection) abort(code int, reason string) {
	c.ch.mu.Lock()
	defer c.ch.mu.Unlock()
	if !c.left {
		c.abortLocked(code, reason)
	}
}

// sendCloseLocked tells a switched client why the server ends the
// connection: {"type":"close","code","reason"} on the signaling channel
// (signaling.md §7, §10), queued before the channels close.
func (c *Connection) sendCloseLocked(code int, reason string) {
	if !c.switched {
		return
	}
	b, err := encode(closeMessage{Type: "close", Code: code, Reason: reason})
	if err != nil {
		return
	}
	if err := c.sendDataChannelLocked(LabelSignaling, b); err != nil {
		c.reg.log.Debug("room: close message not sent", "connection_id", c.id, "err", err)
	}
}

// --- DataChannelHandler ---

// OnMessage implements DataChannelHandler.
func (ep *endpoint) OnMessage(data []byte, isString bool) {
	c := ep.c
	m := c.reg.metrics
	if ep.messaging {
		c.fanOut(ep, data, isString)
		return
	}
	m.dcSignalingIn.Inc()
	if ep.label == LabelStats && ep.pendingSwitch.CompareAndSwap(true, false) {
		// The client's answer to the req-stats sent with the channels:
		// they have all reached it.
		c.switchSignaling("the client answered on stats")
	}
	p, ok := c.peer.(DataChannelPeer)
	if !ok {
		m.dcDropUnhandled.Inc()
		return
	}
	limit := c.reg.cfg.DataChannelMaxMessageSize
	if !ep.compress {
		if len(data) > limit {
			m.dcDropTooLarge.Inc()
			return
		}
		p.ReceiveDataChannel(ep.label, data)
		return
	}
	buf := getBuf()
	defer putBuf(buf)
	out, err := inflate((*buf)[:0], data, limit)
	*buf = out
	if err != nil {
		m.dropInflate(err)
		return
	}
	p.ReceiveDataChannel(ep.label, out)
}

// OnClose implements DataChannelHandler. A channel the client closes ends
// the connection, as the SDKs do (a DataChannel's onclose disconnects). The
// end runs on its own goroutine: the plane may deliver OnClose while a
// caller holding the channel lock waits for the transport to close.
func (ep *endpoint) OnClose() {
	close(ep.closed)
	if ep.closing.Load() {
		return
	}
	c := ep.c
	c.reg.background(func() {
		c.ch.mu.Lock()
		defer c.ch.mu.Unlock()
		if c.left || ep.closing.Load() {
			return
		}
		reason := "CLIENT-CLOSED: DataChannel " + strconv.Quote(ep.label) + " closed"
		c.reg.log.Info("room: DataChannel closed by the client", "connection_id", c.id, "label", ep.label)
		c.peer.Close(1001, truncateReason(reason))
		c.leaveLocked()
	})
}

// truncateReason keeps a close reason within what a WebSocket close frame
// carries (123 bytes), on a UTF-8 boundary.
func truncateReason(s string) string {
	const n = 123
	if len(s) <= n {
		return s
	}
	i := n
	for i > 0 && s[i]&0xC0 == 0x80 {
		i--
	}
	return s[:i]
}

// --- messaging ---

// fanOut delivers a message received on a messaging label to every other
// connection of the channel that has the label and receives it, except
// connections of the sender's bundle. Each receiver gets the form it asked
// for: with the sender's connection id in front (header), zlib-compressed
// (compress). Nothing blocks: a receiver whose buffer is full loses the
// message (counted). It does not allocate for receivers without compress.
func (c *Connection) fanOut(src *endpoint, data []byte, isString bool) {
	m := c.reg.metrics
	m.msgIn.Inc()
	if !src.dir.Sends() {
		m.dcDropDirection.Inc()
		return
	}
	limit := c.reg.cfg.DataChannelMaxMessageSize
	payload := data
	if src.compress {
		buf := getBuf()
		defer putBuf(buf)
		out, err := inflate((*buf)[:0], data, limit)
		*buf = out
		if err != nil {
			m.dropInflate(err)
			return
		}
		payload = out
	} else if len(data) > limit {
		m.dcDropTooLarge.Inc()
		return
	}
	t := c.ch.labels.Load()
	if t == nil {
		return
	}
	f := forms{id: c.id, payload: payload}
	defer f.release()
	for _, ep := range (*t)[src.label] {
		if ep.c == c || ep.c.bundleID == c.bundleID || ep.closing.Load() {
			continue
		}
		err := ep.ch.Send(f.get(ep.header, ep.compress), isString && !ep.compress)
		switch {
		case err == nil:
			m.delivered.Inc()
		case errors.Is(err, dataplane.ErrDataChannelBufferFull):
			m.dcDropBufferFull.Inc()
		case errors.Is(err, dataplane.ErrDataChannelMessageTooLarge):
			m.dcDropTooLarge.Inc()
		default:
			m.dcDropSendError.Inc()
		}
	}
}

// forms builds, once each and when first needed, the four forms of one
// message: [header][compress]. Buffers come from the pool and go back on
// release (Send copies what it queues).
type forms struct {
	id      string
	payload []byte
	built   [2][2]bool
	out     [2][2][]byte
	bufs    [2][2]*[]byte
}

func (f *forms) get(header, compress bool) []byte {
	h, z := b2i(header), b2i(compress)
	if f.built[h][z] {
		return f.out[h][z]
	}
	var out []byte
	switch {
	case !header && !compress:
		out = f.payload
	case header && !compress:
		b := getBuf()
		out = append(append((*b)[:0], f.id...), f.payload...)
		*b, f.bufs[h][z] = out, b
	default:
		plain := f.get(header, false)
		b := getBuf()
		out = deflate((*b)[:0], plain)
		*b, f.bufs[h][z] = out, b
	}
	f.built[h][z], f.out[h][z] = true, out
	return out
}

func (f *forms) release() {
	for h := range f.bufs {
		for z, b := range f.bufs[h] {
			if b != nil {
				putBuf(b)
				f.bufs[h][z] = nil
			}
		}
	}
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}

// validateDataChannels checks the DataChannel part of a join request.
func validateDataChannels(req *JoinRequest) error {
	if len(req.DataChannels) > MaxDataChannels {
		return fmt.Errorf("%w: data_channels has %d entries (want at most %d)", ErrInvalidRequest, len(req.DataChannels), MaxDataChannels)
	}
	seen := make(map[string]bool, len(req.DataChannels))
	for i, d := range req.DataChannels {
		f := "data_channels[" + strconv.Itoa(i) + "]"
		switch {
		case len(d.Label) < 2 || d.Label[0] != '#' || len(d.Label) > MaxDataChannelLabelBytes:
			return fmt.Errorf("%w: %s.label %q (want '#' and 1-%d more bytes)", ErrInvalidRequest, f, truncateReason(d.Label), MaxDataChannelLabelBytes-1)
		case seen[d.Label]:
			return fmt.Errorf("%w: %s.label %q appears twice", ErrInvalidRequest, f, d.Label)
		case !d.Direction.Valid():
			return fmt.Errorf("%w: %s.direction %q (want sendrecv, sendonly or recvonly)", ErrInvalidRequest, f, d.Direction)
		case d.MaxPacketLifeTime >= 0 && d.MaxRetransmits >= 0:
			return fmt.Errorf("%w: %s: max_packet_life_time and max_retransmits are exclusive", ErrInvalidRequest, f)
		case d.MaxPacketLifeTime > 65535 || d.MaxRetransmits > 65535:
			return fmt.Errorf("%w: %s: max_packet_life_time or max_retransmits over 65535", ErrInvalidRequest, f)
		}
		seen[d.Label] = true
	}
	return nil
}
