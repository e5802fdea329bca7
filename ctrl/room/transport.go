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
	Close()
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
	t, err := f.plane.NewTransport(dataplane.TransportConfig{ID: id, Events: asyncEvents{f, id, events}})
	if err != nil {
		return nil, err
	}
	return t, nil
}

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
