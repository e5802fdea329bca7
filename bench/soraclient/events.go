package soraclient

import (
	"context"
	"encoding/json"
	"time"
)

// EventClose is the Type of the Event recorded when the WebSocket closes.
const EventClose = "close"

// Event is one thing the server did: a message (offer, re-offer, notify,
// push, switched, redirect…) or the WebSocket close (Type EventClose).
// Offer and re-offer are recorded once the client has sent its answer or
// re-answer to them.
type Event struct {
	// Type is the message's "type", or EventClose.
	Type string
	// EventType is notify's "event_type".
	EventType string
	// ConnectionID is the message's "connection_id" (notify, offer).
	ConnectionID string
	// SDP is the SDP of offer and re-offer.
	SDP string
	// Code and Reason are the WebSocket close code and reason (EventClose;
	// Code -1 when the connection ended without a close frame).
	Code   int
	Reason string
	// Raw is the message as received (nil for EventClose).
	Raw json.RawMessage
	// At is when the client recorded it.
	At time.Time
}

func (c *Client) addEvent(e Event) {
	e.At = time.Now()
	c.mu.Lock()
	c.events = append(c.events, e)
	close(c.eventsSignal)
	c.eventsSignal = make(chan struct{})
	c.mu.Unlock()
}

// Events returns a copy of every event so far, oldest first.
func (c *Client) Events() []Event {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]Event(nil), c.events...)
}

// WaitEvent returns the first event, past or future, for which match is
// true, or ctx's error. match is called without the client's lock held.
func (c *Client) WaitEvent(ctx context.Context, match func(Event) bool) (Event, error) {
	next := 0
	for {
		c.mu.Lock()
		evs := c.events[next:len(c.events):len(c.events)]
		signal := c.eventsSignal
		c.mu.Unlock()
		for _, e := range evs {
			if match(e) {
				return e, nil
			}
		}
		next += len(evs)
		select {
		case <-signal:
		case <-ctx.Done():
			return Event{}, ctx.Err()
		}
	}
}
