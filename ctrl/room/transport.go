package room

import (
	"log/slog"
	"sync"

	"github.com/hayate-sfu/hayate/dataplane"
)

// Transport is what the room needs from a connection's media transport.
// *dataplane.Transport satisfies it through PlaneTransports; tests use a fake.
// Every method must return quickly: the room calls them with a channel lock
// held.
type Transport interface {
	Local() dataplane.LocalParams
	SetRemote(dataplane.RemoteParams) error
	AddUpstream(dataplane.Upstream) error
	RemoveUpstream(trackID string)
	AddDownstream(dataplane.Downstream) error
	RemoveDownstream(trackID string)
	// OpenDataChannel opens a server-initiated DataChannel on the
	// transport's SCTP association (after OnConnected, and only when
	// SetRemote had DataChannels). It queues the DCEP open and returns.
	OpenDataChannel(dataplane.DataChannelConfig, DataChannelHandler) (DataChannel, error)
	// Close ends the transport. Channels still open are closed first.
	Close()
}

// DataChannel is a channel the server opened on a Transport
// (*dataplane.DataChannel through PlaneTransports). Both methods may be
// called from any goroutine and never block for long.
type DataChannel interface {
	// Send queues one message; it fails with
	// dataplane.ErrDataChannelMessageTooLarge above the client's
	// max-message-size and with dataplane.ErrDataChannelBufferFull when the
	// channel's unsent bytes are over the plane's limit.
	Send(msg []byte, isString bool) error
	// Close resets the channel's stream; the handler's OnClose follows once
	// the client has closed its side too (or the association ends).
	Close() error
}

// DataChannelHandler receives one DataChannel's events, from that
// channel's reader goroutine, one at a time, with no room lock held.
type DataChannelHandler interface {
	// OnMessage is called for every message; data is valid only during the call.
	OnMessage(data []byte, isString bool)
	// OnClose is called once when the channel is gone.
	OnClose()
}

// TransportFactory creates transports and knows the parameters every offer
// shares.
//
// NewTransport must not call the events synchronously: the room may hold a
// lock while it calls a Transport, and the events take the same lock. Events
// may arrive from any goroutine, in any interleaving with other transports'.
type TransportFactory interface {
	NewTransport(id string, events dataplane.TransportEvents) (Transport, error)
	// Fingerprint is the sha-256 fingerprint of the DTLS certificate.
	Fingerprint() string
	// Candidates are the server's ICE candidates.
	Candidates() []dataplane.Candidate
}

// ShardedTransportFactory is a TransportFactory that can place the
// transports of one channel together (dataplane.TransportConfig.Shard: one
// media loop per channel). The registry uses it when the factory has it.
type ShardedTransportFactory interface {
	NewShardedTransport(id, shard string, events dataplane.TransportEvents) (Transport, error)
}

// PlaneTransports adapts a dataplane.Plane to a TransportFactory. The plane
// delivers transport events from its own goroutine and asks that they be
// handed off; the adapter runs each one on a new goroutine (there are two
// per transport in its life). Wait waits for those goroutines.
func PlaneTransports(p *dataplane.Plane, logger *slog.Logger) *PlaneFactory {
	if logger == nil {
		logger = slog.Default()
	}
	f := &PlaneFactory{plane: p, logger: logger}
	f.idle = sync.NewCond(&f.mu)
	return f
}

// PlaneFactory is the TransportFactory over a *dataplane.Plane.
type PlaneFactory struct {
	plane  *dataplane.Plane
	logger *slog.Logger

	mu      sync.Mutex
	idle    *sync.Cond // signalled when running drops to 0
	running int
}

// NewTransport implements TransportFactory.
func (f *PlaneFactory) NewTransport(id string, events dataplane.TransportEvents) (Transport, error) {
	return f.NewShardedTransport(id, "", events)
}

// NewShardedTransport implements ShardedTransportFactory.
func (f *PlaneFactory) NewShardedTransport(id, shard string, events dataplane.TransportEvents) (Transport, error) {
	t, err := f.plane.NewTransport(dataplane.TransportConfig{ID: id, Shard: shard, Events: asyncEvents{f, id, events}})
	if err != nil {
		return nil, err
	}
	return planeTransport{t}, nil
}

// planeTransport is a *dataplane.Transport seen through the room's
// DataChannel interfaces.
type planeTransport struct{ *dataplane.Transport }

func (t planeTransport) OpenDataChannel(cfg dataplane.DataChannelConfig, h DataChannelHandler) (DataChannel, error) {
	ch, err := t.Transport.OpenDataChannel(cfg, planeHandler{h})
	if err != nil {
		return nil, err
	}
	return ch, nil
}

// planeHandler adapts a DataChannelHandler to dataplane's, which names the
// channel in every call.
type planeHandler struct{ h DataChannelHandler }

func (p planeHandler) OnMessage(_ *dataplane.DataChannel, data []byte, isString bool) {
	p.h.OnMessage(data, isString)
}
func (p planeHandler) OnClose(*dataplane.DataChannel) { p.h.OnClose() }

// Fingerprint implements TransportFactory.
func (f *PlaneFactory) Fingerprint() string { return f.plane.Fingerprint() }

// Candidates implements TransportFactory.
func (f *PlaneFactory) Candidates() []dataplane.Candidate { return f.plane.Candidates() }

// Wait blocks until no event goroutine is running. Events may still start
// later (a transport closing after Wait returned).
func (f *PlaneFactory) Wait() {
	f.mu.Lock()
	defer f.mu.Unlock()
	for f.running > 0 {
		f.idle.Wait()
	}
}

type asyncEvents struct {
	f      *PlaneFactory
	id     string
	events dataplane.TransportEvents
}

func (a asyncEvents) run(name string, fn func()) {
	f := a.f
	f.mu.Lock()
	f.running++
	f.mu.Unlock()
	go func() {
		defer func() {
			if r := recover(); r != nil {
				f.logger.Error("room: panic in transport event", "event", name, "connection_id", a.id, "panic", r)
			}
			f.mu.Lock()
			f.running--
			if f.running == 0 {
				f.idle.Broadcast()
			}
			f.mu.Unlock()
		}()
		fn()
	}()
}

func (a asyncEvents) OnConnected()       { a.run("connected", a.events.OnConnected) }
func (a asyncEvents) OnClosed(err error) { a.run("closed", func() { a.events.OnClosed(err) }) }

// OnLayerSwitched implements dataplane.LayerEvents for the room's events
// that implement it (simulcast.switched).
func (a asyncEvents) OnLayerSwitched(trackID, rid, previousRID string) {
	if le, ok := a.events.(dataplane.LayerEvents); ok {
		a.run("layer switched", func() { le.OnLayerSwitched(trackID, rid, previousRID) })
	}
}
