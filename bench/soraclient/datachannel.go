package soraclient

import (
	"bytes"
	"compress/zlib"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pion/webrtc/v4"
)

// DataChannels (signaling.md §7–§9). The server opens every channel; the
// client takes them as pion reports them (OnDataChannel) and handles them
// as the JS SDK does:
//
//   - "signaling": re-offer is applied and answered with re-answer on the
//     same channel; close is recorded as an Event of Type "close" with Code,
//     Reason and Raw set (the WebSocket's close has Raw nil);
//   - "notify" and "push": recorded as the WebSocket's messages are (the own
//     connection.created included);
//   - "stats": req-stats is answered with the PeerConnection's stats;
//   - "rpc": responses go to the pending RPC call with their id;
//   - '#' labels: delivered on Messages().
//
// A label whose offer.data_channels entry has compress: true carries zlib
// streams both ways. Ask for DataChannels with Config.Extra, e.g.
// {"data_channel_signaling": true, "data_channels": [...]}; for a
// messaging-only connection set Audio and Video false and Role "sendonly",
// as the JS SDK's messaging() does. The client never closes the WebSocket
// on switched by itself: call CloseWebSocket, as the SDK does with
// ignore_disconnect_websocket.

// Message is one message received on a messaging ('#') label.
type Message struct {
	Label string
	// Data is the message as the server sent it, decompressed on a
	// compressed label.
	Data []byte
	// At is when the client received it.
	At time.Time
}

// RPCError is a JSON-RPC error object of a response.
type RPCError struct {
	Code    int             `json:"code"`
	Message string          `json:"message"`
	Data    json.RawMessage `json:"data,omitempty"`
}

func (e *RPCError) Error() string { return fmt.Sprintf("rpc error %d: %s", e.Code, e.Message) }

// ErrNoDataChannel is returned for a label the server did not open (yet).
var ErrNoDataChannel = errors.New("soraclient: no open DataChannel with that label")

// messageQueue bounds the messages waiting for a Messages() reader; past
// it messages are dropped and counted (MessagesDropped).
const messageQueue = 1 << 14

// dataChannels is a client's DataChannel state; zero is ready to use.
type dataChannels struct {
	once     sync.Once
	msgs     chan Message
	dropped  atomic.Uint64
	sig      chan []byte // signaling channel messages, in order, for the worker
	mu       sync.Mutex
	compress map[string]bool
	chans    map[string]*webrtc.DataChannel
	open     map[string]bool
	closed   map[string]bool
	received map[string]int
	signal   chan struct{} // closed and replaced on every state change
	rpcID    int
	rpcWait  map[int]chan rpcReply
}

type rpcReply struct {
	Result json.RawMessage `json:"result"`
	Error  *RPCError       `json:"error"`
}

func (d *dataChannels) init() {
	d.once.Do(func() {
		d.msgs = make(chan Message, messageQueue)
		d.sig = make(chan []byte, 64)
		d.compress = map[string]bool{}
		d.chans = map[string]*webrtc.DataChannel{}
		d.open = map[string]bool{}
		d.closed = map[string]bool{}
		d.received = map[string]int{}
		d.signal = make(chan struct{})
		d.rpcWait = map[int]chan rpcReply{}
	})
}

// changedLocked wakes the waiters. Called with d.mu held.
func (d *dataChannels) changedLocked() {
	close(d.signal)
	d.signal = make(chan struct{})
}

// watchDataChannels takes the channels the server opens on pc; offer is
// the offer message (its data_channels say which labels are compressed).
func (c *Client) watchDataChannels(pc *webrtc.PeerConnection, offer json.RawMessage) {
	d := &c.dc
	d.init()
	var o struct {
		DataChannels []struct {
			Label    string `json:"label"`
			Compress bool   `json:"compress"`
		} `json:"data_channels"`
	}
	if json.Unmarshal(offer, &o) == nil {
		d.mu.Lock()
		for _, e := range o.DataChannels {
			d.compress[e.Label] = e.Compress
		}
		d.mu.Unlock()
	}
	c.wg.Add(1)
	go c.signalingWorker(pc)
	pc.OnDataChannel(func(ch *webrtc.DataChannel) {
		label := ch.Label()
		d.mu.Lock()
		d.chans[label] = ch
		d.changedLocked()
		d.mu.Unlock()
		ch.OnOpen(func() {
			d.mu.Lock()
			d.open[label] = true
			d.changedLocked()
			d.mu.Unlock()
		})
		ch.OnClose(func() {
			d.mu.Lock()
			d.closed[label] = true
			d.changedLocked()
			d.mu.Unlock()
		})
		ch.OnMessage(func(m webrtc.DataChannelMessage) { c.onDataChannelMessage(label, m) })
	})
}

func (c *Client) onDataChannelMessage(label string, m webrtc.DataChannelMessage) {
	d := &c.dc
	d.mu.Lock()
	d.received[label]++
	compress := d.compress[label]
	d.changedLocked()
	d.mu.Unlock()
	data := m.Data
	if compress {
		out, err := inflate(data)
		if err != nil {
			c.log.Warn("soraclient: undecodable compressed message", "label", label, "err", err)
			return
		}
		data = out
	}
	switch {
	case strings.HasPrefix(label, "#"):
		select {
		case d.msgs <- Message{Label: label, Data: data, At: time.Now()}:
		default:
			d.dropped.Add(1)
		}
	case label == "signaling":
		select {
		case d.sig <- data:
		case <-c.life.Done():
		}
	case label == "notify", label == "push":
		if err := c.handle(data); err != nil {
			c.log.Warn("soraclient: bad message", "label", label, "err", err)
		}
	case label == "stats":
		var msg struct {
			Type string `json:"type"`
		}
		if json.Unmarshal(data, &msg) == nil && msg.Type == "req-stats" {
			reports := []any{}
			if pc := c.PeerConnection(); pc != nil {
				for _, s := range pc.GetStats() {
					reports = append(reports, s)
				}
			}
			if err := c.SendSignaling("stats", map[string]any{"type": "stats", "reports": reports}); err != nil {
				c.log.Debug("soraclient: stats reply", "err", err)
			}
		}
	case label == "rpc":
		var r struct {
			ID *int `json:"id"`
			rpcReply
		}
		if json.Unmarshal(data, &r) != nil || r.ID == nil {
			return
		}
		d.mu.Lock()
		w := d.rpcWait[*r.ID]
		delete(d.rpcWait, *r.ID)
		d.mu.Unlock()
		if w != nil {
			w <- r.rpcReply
		}
	}
}

// signalingWorker applies what arrives on the signaling channel, in order.
func (c *Client) signalingWorker(pc *webrtc.PeerConnection) {
	defer c.wg.Done()
	for {
		select {
		case <-c.life.Done():
			return
		case b := <-c.dc.sig:
			if err := c.handleSignalingChannel(pc, b); err != nil {
				c.setFatal(err)
			}
		}
	}
}

func (c *Client) handleSignalingChannel(pc *webrtc.PeerConnection, b []byte) error {
	var m struct {
		Type   string `json:"type"`
		SDP    string `json:"sdp"`
		Code   int    `json:"code"`
		Reason string `json:"reason"`
	}
	if err := json.Unmarshal(b, &m); err != nil {
		return fmt.Errorf("%w: undecodable message on the signaling DataChannel %.80q: %w", ErrProtocol, b, err)
	}
	raw := json.RawMessage(append([]byte(nil), b...))
	switch m.Type {
	case "re-offer":
		if err := pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeOffer, SDP: m.SDP}); err != nil {
			return fmt.Errorf("%w: applying a re-offer from the signaling DataChannel: %w", ErrProtocol, err)
		}
		ans, err := pc.CreateAnswer(nil)
		if err != nil {
			return fmt.Errorf("%w: creating the re-answer: %w", ErrProtocol, err)
		}
		if err := pc.SetLocalDescription(ans); err != nil {
			return fmt.Errorf("%w: applying the re-answer: %w", ErrProtocol, err)
		}
		if err := c.SendSignaling("signaling", map[string]any{"type": "re-answer", "sdp": ans.SDP}); err != nil {
			return err
		}
		c.addEvent(Event{Type: m.Type, SDP: m.SDP, Raw: raw})
	case "close":
		c.addEvent(Event{Type: m.Type, Code: m.Code, Reason: m.Reason, Raw: raw})
	default:
		c.addEvent(Event{Type: m.Type, Raw: raw})
	}
	return nil
}

// channel returns the open channel with label.
func (c *Client) channel(label string) (*webrtc.DataChannel, bool, error) {
	d := &c.dc
	d.init()
	d.mu.Lock()
	defer d.mu.Unlock()
	ch := d.chans[label]
	// ReadyState, not d.open: pion runs OnOpen on its own goroutine, which
	// may come after the first message.
	if ch == nil || ch.ReadyState() != webrtc.DataChannelStateOpen {
		return nil, false, fmt.Errorf("%w: %q", ErrNoDataChannel, label)
	}
	return ch, d.compress[label], nil
}

// SendMessage sends data on a messaging label as a binary message
// (compressed when the label is).
func (c *Client) SendMessage(label string, data []byte) error {
	ch, compress, err := c.channel(label)
	if err != nil {
		return err
	}
	if compress {
		data = deflate(data)
	}
	return ch.Send(data)
}

// SendSignaling sends v as JSON on a signaling label: a text message, or a
// zlib stream on a compressed label.
func (c *Client) SendSignaling(label string, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("soraclient: encoding %T: %w", v, err)
	}
	return c.SendSignalingRaw(label, b)
}

// SendSignalingRaw sends b as is on a signaling label (compressed when the
// label is); tests use it for malformed input.
func (c *Client) SendSignalingRaw(label string, b []byte) error {
	ch, compress, err := c.channel(label)
	if err != nil {
		return err
	}
	if compress {
		return ch.Send(deflate(b))
	}
	return ch.SendText(string(b))
}

// DataChannel returns the pion channel the server opened with label (nil
// before it arrived); tests use it to send what SendMessage would not.
func (c *Client) DataChannel(label string) *webrtc.DataChannel {
	d := &c.dc
	d.init()
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.chans[label]
}

// Messages delivers the messages of every messaging label, in arrival
// order per label. It holds up to 16384 messages; later ones are dropped
// and counted in MessagesDropped.
func (c *Client) Messages() <-chan Message {
	c.dc.init()
	return c.dc.msgs
}

// MessagesDropped counts messages lost because nobody read Messages().
func (c *Client) MessagesDropped() uint64 { return c.dc.dropped.Load() }

// DataChannelReceived counts the messages received on label.
func (c *Client) DataChannelReceived(label string) int {
	d := &c.dc
	d.init()
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.received[label]
}

// DataChannelLabels lists the labels of the channels the server opened,
// open or closed.
func (c *Client) DataChannelLabels() []string {
	d := &c.dc
	d.init()
	d.mu.Lock()
	defer d.mu.Unlock()
	out := make([]string, 0, len(d.chans))
	for l := range d.chans {
		out = append(out, l)
	}
	return out
}

// waitDataChannels waits until cond (called with d.mu held) holds.
func (c *Client) waitDataChannels(ctx context.Context, what string, cond func(d *dataChannels) bool) error {
	d := &c.dc
	d.init()
	for {
		d.mu.Lock()
		ok := cond(d)
		sig := d.signal
		d.mu.Unlock()
		if ok {
			return nil
		}
		select {
		case <-sig:
		case <-ctx.Done():
			return fmt.Errorf("soraclient: waiting for %s: %w", what, ctx.Err())
		}
	}
}

// WaitDataChannelsOpen waits until the channels with these labels are open.
func (c *Client) WaitDataChannelsOpen(ctx context.Context, labels ...string) error {
	return c.waitDataChannels(ctx, "DataChannels "+strings.Join(labels, ", ")+" to open", func(d *dataChannels) bool {
		for _, l := range labels {
			if !d.open[l] {
				return false
			}
		}
		return true
	})
}

// WaitDataChannelsClosed waits until every channel the server opened is
// closed.
func (c *Client) WaitDataChannelsClosed(ctx context.Context) error {
	return c.waitDataChannels(ctx, "every DataChannel to close", func(d *dataChannels) bool {
		for l := range d.chans {
			if !d.closed[l] {
				return false
			}
		}
		return len(d.chans) > 0
	})
}

// DisconnectDataChannel ends a switched connection as the JS SDK does:
// {"type":"disconnect","reason":"NO-ERROR"} on the signaling channel, then
// it waits until the server has closed every channel, which the SDK
// reports as a normal end. It returns an error when the message could not
// be sent or ctx ended first; the client stays open (call Close).
func (c *Client) DisconnectDataChannel(ctx context.Context) error {
	if err := c.SendSignaling("signaling", map[string]any{"type": "disconnect", "reason": "NO-ERROR"}); err != nil {
		return err
	}
	return c.WaitDataChannelsClosed(ctx)
}

// RPC calls method on the rpc channel and waits for its response: the
// result, or the server's JSON-RPC error as *RPCError.
func (c *Client) RPC(ctx context.Context, method string, params any) (json.RawMessage, error) {
	d := &c.dc
	d.init()
	d.mu.Lock()
	d.rpcID++
	id := d.rpcID
	w := make(chan rpcReply, 1)
	d.rpcWait[id] = w
	d.mu.Unlock()
	defer func() {
		d.mu.Lock()
		delete(d.rpcWait, id)
		d.mu.Unlock()
	}()
	req := map[string]any{"jsonrpc": "2.0", "id": id, "method": method}
	if params != nil {
		req["params"] = params
	}
	if err := c.SendSignaling("rpc", req); err != nil {
		return nil, err
	}
	select {
	case r := <-w:
		if r.Error != nil {
			return nil, r.Error
		}
		return r.Result, nil
	case <-ctx.Done():
		return nil, fmt.Errorf("soraclient: waiting for the %s response: %w", method, ctx.Err())
	}
}

// CloseWebSocket closes the signaling WebSocket (1000) and keeps the
// PeerConnection and its DataChannels, as the JS SDK does on switched with
// ignore_disconnect_websocket. Done() is closed once the reader ends.
func (c *Client) CloseWebSocket() {
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = c.ws.Close(1000, "")
	}()
	select {
	case <-done:
	case <-time.After(2 * time.Second):
		_ = c.ws.CloseNow()
		<-done
	}
}

func inflate(b []byte) ([]byte, error) {
	r, err := zlib.NewReader(bytes.NewReader(b))
	if err != nil {
		return nil, err
	}
	defer r.Close()
	return io.ReadAll(io.LimitReader(r, 64<<20))
}

func deflate(b []byte) []byte {
	var out bytes.Buffer
	w := zlib.NewWriter(&out)
	_, _ = w.Write(b)
	_ = w.Close()
	return out.Bytes()
}
