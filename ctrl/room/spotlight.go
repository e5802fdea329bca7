package room

import (
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/hayate-sfu/hayate/dataplane"
)

// Spotlight (signaling.md §6, §11; api.md §2.4).
//
// A spotlight channel keeps up to spotlight_number of its senders (created
// connections that publish) in focus. Every receiver gets a focused
// sender's video at its focus layer (spotlight_focus_rid, default r2) and
// its audio, an unfocused sender's video at its unfocus layer
// (spotlight_unfocus_rid, default r0; "none" stops it) and not its audio;
// senders publish simulcast. RequestSpotlightRID and ResetSpotlightRID
// change one receiver's layers for one sender or all (API and RPC).
//
// Choosing the focus (spotlight.choose, pure): senders that keep publishing
// stay in focus; senders fixed by FocusSpotlightFixed are always in; free
// places go to the loudest sender with recent voice activity, else to the
// earliest joined (a sender put out by UnfocusSpotlight only comes back by
// speaking); and, with hysteresis, a sender who speaks at least
// spotlightMargin louder than the quietest focused one (not fixed) for
// spotlightLeadPolls polls in a row takes its place. The levels come from
// the media plane (dataplane.Plane.AudioLevels: the ssrc-audio-level
// extension, smoothed) every SpotlightInterval, on one background
// goroutine per spotlight channel that ends when the channel's last
// connection leaves. A join, a leave and every API call choose again at
// once with the last levels.
//
// Every connection of the channel (created, and not of the sender's
// bundle unless it is the sender) gets spotlight.unfocused for each sender
// that left the focus, then spotlight.focused for each that entered it,
// then one spotlight.changed per sender that entered it; a newcomer first
// gets spotlight.focused for each sender in focus when it is created.
// spotlight.changed carries the sender's ids, spotlight_id (the sender's
// connection_id: Sora's meaning of it is unconfirmed), fixed, audio and
// video.

// Spotlight defaults.
const (
	// DefaultSpotlightNumber is the focus size when the connect that opens a
	// spotlight channel names none (Sora's default is unconfirmed).
	DefaultSpotlightNumber     = 1
	DefaultSpotlightFocusRID   = "r2"
	DefaultSpotlightUnfocusRID = "r0"
	DefaultSpotlightInterval   = 300 * time.Millisecond
	spotlightVoiceWindow       = time.Second // voice activity this recent counts as speaking
	spotlightMargin            = 6.0         // dB louder than the quietest focused sender
	spotlightLeadPolls         = 2           // polls in a row a challenger must lead
	EventSpotlightChanged      = "spotlight.changed"
	EventSpotlightFocused      = "spotlight.focused"
	EventSpotlightUnfocused    = "spotlight.unfocused"
)

// ErrUnknownChannel is returned for a channel without connections.
var ErrUnknownChannel = errors.New("room: no such channel")

// AudioLevelSource reports how loud each published audio track has been
// recently, by track id. *PlaneFactory implements it with
// dataplane.Plane.AudioLevels.
type AudioLevelSource interface {
	AudioLevels() (map[string]dataplane.AudioLevel, error)
}

// AudioLevels implements AudioLevelSource.
func (f *PlaneFactory) AudioLevels() (map[string]dataplane.AudioLevel, error) {
	return f.plane.AudioLevels()
}

var _ AudioLevelSource = (*PlaneFactory)(nil)

// spotlight is a spotlight channel's state, guarded by the channel's mutex.
type spotlight struct {
	number  int
	focused []string // connection ids in focus, in the order they entered
	fixed   map[string]bool
	out     map[string]bool // put out by UnfocusSpotlight: not refilled by join order
	lead    map[string]int  // challenger → polls in a row it led
	conns   map[string]*Connection
	levels  map[string]dataplane.AudioLevel // the last poll
	stop    chan struct{}                   // ends the poller; nil when none runs
}

func newSpotlight(req spotlightRequest) *spotlight {
	if !req.enabled {
		return nil
	}
	n := req.number
	if n <= 0 {
		n = DefaultSpotlightNumber
	}
	return &spotlight{number: n, fixed: map[string]bool{}, out: map[string]bool{}, lead: map[string]int{}, conns: map[string]*Connection{}}
}

func (s *spotlight) isFocused(id string) bool { return slices.Contains(s.focused, id) }

// speaker is one candidate sender's recent audio.
type speaker struct {
	id       string
	loudness float64 // 0 silence … 127 full scale
	voice    bool    // voice activity within spotlightVoiceWindow
}

// choose returns the next focus for the candidates (in join order). It
// updates the challengers' leads and nothing else.
func (s *spotlight) choose(cands []speaker) []string {
	by := make(map[string]speaker, len(cands))
	for _, c := range cands {
		by[c.id] = c
	}
	var next []string
	for _, id := range s.focused {
		if _, ok := by[id]; ok {
			next = append(next, id)
		}
	}
	for _, c := range cands {
		if s.fixed[c.id] && !slices.Contains(next, c.id) {
			next = append(next, c.id)
		}
	}
	// Too many (the number went down): the quietest unfixed go, latest first.
	for len(next) > s.number {
		drop := -1
		for i := len(next) - 1; i >= 0; i-- {
			if !s.fixed[next[i]] && (drop < 0 || by[next[i]].loudness < by[next[drop]].loudness) {
				drop = i
			}
		}
		if drop < 0 {
			break
		}
		next = slices.Delete(next, drop, drop+1)
	}
	// Free places: the loudest speaker, else the earliest joined.
	for len(next) < s.number {
		pick := ""
		for _, c := range cands {
			if slices.Contains(next, c.id) || !c.voice || s.out[c.id] {
				continue
			}
			if pick == "" || c.loudness > by[pick].loudness {
				pick = c.id
			}
		}
		if pick == "" {
			for _, c := range cands {
				if !slices.Contains(next, c.id) && !s.out[c.id] {
					pick = c.id
					break
				}
			}
		}
		if pick == "" {
			break
		}
		next = append(next, pick)
	}
	// A louder speaker takes the place of the quietest unfixed one.
	weakest, challenger := -1, ""
	for i, id := range next {
		if !s.fixed[id] && (weakest < 0 || by[id].loudness < by[next[weakest]].loudness) {
			weakest = i
		}
	}
	for _, c := range cands {
		if c.voice && !slices.Contains(next, c.id) && (challenger == "" || c.loudness > by[challenger].loudness) {
			challenger = c.id
		}
	}
	if weakest < 0 || challenger == "" || by[challenger].loudness < by[next[weakest]].loudness+spotlightMargin {
		clear(s.lead)
		return next
	}
	n := s.lead[challenger] + 1
	clear(s.lead)
	if n < spotlightLeadPolls {
		s.lead[challenger] = n
		return next
	}
	delete(s.out, challenger)
	next = append(slices.Delete(next, weakest, weakest+1), challenger)
	return next
}

// candidatesLocked are the channel's senders that may be in focus, in join
// order: created connections that publish a track.
func (ch *channel) spotCandidatesLocked() []*Connection {
	var out []*Connection
	for _, m := range ch.members {
		if m.created && !m.left && len(m.upstreams) > 0 {
			out = append(out, m)
		}
	}
	return out
}

// refocusLocked chooses the focus again with the last levels and applies
// the change.
func (r *Registry) refocusLocked(ch *channel) {
	if ch.spot == nil {
		return
	}
	r.setFocusLocked(ch, ch.spot.choose(r.speakersLocked(ch)))
}

// speakersLocked are the channel's candidates with their last levels.
func (r *Registry) speakersLocked(ch *channel) []speaker {
	s := ch.spot
	cands := ch.spotCandidatesLocked()
	out := make([]speaker, 0, len(cands))
	for _, m := range cands {
		s.conns[m.id] = m
		sp := speaker{id: m.id}
		for _, t := range m.upstreams {
			if l, ok := s.levels[t.id]; ok && t.kind == dataplane.KindAudio {
				sp.loudness = l.Loudness
				sp.voice = l.SinceVoice >= 0 && l.SinceVoice < spotlightVoiceWindow
				break
			}
		}
		out = append(out, sp)
	}
	return out
}

// setFocusLocked makes next the focus: every receiver's layers and audio
// pauses follow, and every connection is told (the package comment has the
// order).
func (r *Registry) setFocusLocked(ch *channel, next []string) {
	s := ch.spot
	prev := s.focused
	s.focused = next
	var lost, gained []*Connection
	for _, id := range prev {
		if !slices.Contains(next, id) && s.conns[id] != nil {
			lost = append(lost, s.conns[id])
		}
	}
	for _, id := range next {
		if !slices.Contains(prev, id) && s.conns[id] != nil {
			gained = append(gained, s.conns[id])
		}
	}
	// Forget connections that are neither members nor in focus.
	for id, m := range s.conns {
		if !slices.Contains(next, id) && (m.left || !slices.Contains(ch.members, m)) {
			delete(s.conns, id)
		}
	}
	if len(lost) == 0 && len(gained) == 0 {
		return
	}
	r.log.Info("room: spotlight focus", "channel_id", ch.id, "focused", next)
	changed := append(slices.Clone(lost), gained...)
	for _, m := range ch.members {
		if m.role.Receives() && !m.left {
			for _, sender := range changed {
				if sender != m {
					m.applySenderLocked(sender)
				}
			}
		}
	}
	if !r.cfg.Notify {
		return
	}
	for _, m := range ch.members {
		if !m.created || m.left {
			continue
		}
		for _, sender := range lost {
			m.spotlightNotifyLocked(EventSpotlightUnfocused, sender)
		}
		for _, sender := range gained {
			m.spotlightNotifyLocked(EventSpotlightFocused, sender)
		}
		for _, sender := range gained {
			m.spotlightNotifyLocked(EventSpotlightChanged, sender)
		}
	}
}

// spotlightMessage is a spotlight.* notify (signaling.md §6).
type spotlightMessage struct {
	Type         string `json:"type"`
	EventType    string `json:"event_type"`
	ClientID     string `json:"client_id"`
	ConnectionID string `json:"connection_id"`
	SpotlightID  string `json:"spotlight_id,omitempty"`
	Fixed        bool   `json:"fixed"`
	Audio        bool   `json:"audio"`
	Video        bool   `json:"video"`
}

// spotlightNotifyLocked sends c a spotlight.* notify about sender, unless
// c is another connection of the sender's bundle.
func (c *Connection) spotlightNotifyLocked(event string, sender *Connection) {
	if sender != c && sender.bundleID == c.bundleID {
		return
	}
	msg := spotlightMessage{Type: "notify", EventType: event, ClientID: sender.clientID, ConnectionID: sender.id,
		Fixed: c.ch.spot.fixed[sender.id], Audio: sender.audio.enabled, Video: sender.video.enabled}
	if event == EventSpotlightChanged {
		msg.SpotlightID = sender.id
	}
	c.send(msg)
	c.reg.metrics.notifies.WithLabelValues(event).Inc()
}

// spotlightCreatedLocked: a newcomer learns the current focus, the focus is
// chosen again (it may take a free place), and the channel's poller runs.
func (c *Connection) spotlightCreatedLocked() {
	s := c.ch.spot
	if s == nil {
		return
	}
	if c.reg.cfg.Notify {
		for _, id := range s.focused {
			if sender := s.conns[id]; sender != nil {
				c.spotlightNotifyLocked(EventSpotlightFocused, sender)
			}
		}
	}
	c.reg.refocusLocked(c.ch)
	c.reg.startSpotlightLocked(c.ch)
}

// spotlightLeftLocked: c has left the members; a place it held is given
// again, and the poller ends with the channel's last connection.
func (c *Connection) spotlightLeftLocked() {
	s := c.ch.spot
	if s == nil {
		return
	}
	c.reg.refocusLocked(c.ch)
	delete(s.fixed, c.id)
	delete(s.out, c.id)
	delete(s.lead, c.id)
	if len(c.ch.members) == 0 && s.stop != nil {
		close(s.stop)
		s.stop = nil
	}
}

// startSpotlightLocked starts the channel's poller of audio levels, when
// the transports report levels and polling is on.
func (r *Registry) startSpotlightLocked(ch *channel) {
	s := ch.spot
	if s.stop != nil || r.cfg.SpotlightInterval < 0 {
		return
	}
	src, ok := r.cfg.Transports.(AudioLevelSource)
	if !ok {
		return
	}
	interval := r.cfg.SpotlightInterval
	if interval == 0 {
		interval = DefaultSpotlightInterval
	}
	stop := make(chan struct{})
	s.stop = stop
	r.background(func() { r.pollSpotlight(ch, src, interval, stop) })
}

// pollSpotlight reads the audio levels every interval and chooses the
// focus again, until stop is closed or the plane is gone.
func (r *Registry) pollSpotlight(ch *channel, src AudioLevelSource, interval time.Duration, stop chan struct{}) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-stop:
			return
		case <-t.C:
		}
		levels, err := src.AudioLevels() // without the channel lock: it waits for the media loop
		if errors.Is(err, dataplane.ErrClosed) {
			return
		}
		if err != nil {
			r.log.Debug("room: reading audio levels", "channel_id", ch.id, "err", err)
			continue
		}
		ch.mu.Lock()
		if ch.spot.stop == stop {
			ch.spot.levels = levels
			r.refocusLocked(ch)
		}
		ch.mu.Unlock()
	}
}

// spotlightLocked returns c's channel's spotlight state or an error.
func (c *Connection) spotlightLocked() (*spotlight, error) {
	if c.left {
		return nil, ErrLeft
	}
	if c.ch.spot == nil {
		return nil, fmt.Errorf("%w: %q", ErrNotSpotlightChannel, c.channelID)
	}
	return c.ch.spot, nil
}

// FocusSpotlight puts c, a sender of a spotlight channel, in focus now (in
// place of the latest unfixed one when the focus is full); fixed keeps it
// there, whoever speaks, until UnfocusSpotlight (the API's FocusSpotlight
// and FocusSpotlightFixed). Without fixed a louder speaker may take its
// place later. Fixed senders may outnumber spotlight_number; an unfixed
// one cannot enter when every place is fixed.
func (c *Connection) FocusSpotlight(fixed bool) error {
	c.ch.mu.Lock()
	defer c.ch.mu.Unlock()
	s, err := c.spotlightLocked()
	if err != nil {
		return err
	}
	if !c.created || len(c.upstreams) == 0 {
		return fmt.Errorf("%w: connection %s publishes no media (yet) to put in focus", ErrInvalidRequest, c.id)
	}
	next := slices.Clone(s.focused)
	if !s.isFocused(c.id) && len(next) >= s.number {
		i := len(next) - 1
		for i >= 0 && s.fixed[next[i]] {
			i--
		}
		switch {
		case i >= 0:
			next = slices.Delete(next, i, i+1)
		case !fixed:
			return fmt.Errorf("%w: all %d places of the spotlight of %q are fixed", ErrInvalidRequest, s.number, c.channelID)
		}
	}
	delete(s.out, c.id)
	if !slices.Contains(next, c.id) {
		next = append(next, c.id)
	}
	wasFixed, wasFocused := s.fixed[c.id], s.isFocused(c.id)
	s.conns[c.id] = c
	clear(s.lead)
	if fixed {
		s.fixed[c.id] = true
	}
	c.reg.setFocusLocked(c.ch, next)
	if fixed && wasFocused && !wasFixed && c.reg.cfg.Notify {
		// Already in focus: everyone learns that it is fixed now.
		for _, m := range c.ch.members {
			if m.created && !m.left {
				m.spotlightNotifyLocked(EventSpotlightFocused, c)
			}
		}
	}
	return nil
}

// UnfocusSpotlight takes c out of the focus and unfixes it (the API's
// UnfocusSpotlight); its place goes to the loudest other sender (else the
// earliest joined), and c comes back only by FocusSpotlight or by speaking
// louder than a sender in focus.
func (c *Connection) UnfocusSpotlight() error {
	c.ch.mu.Lock()
	defer c.ch.mu.Unlock()
	s, err := c.spotlightLocked()
	if err != nil {
		return err
	}
	delete(s.fixed, c.id)
	s.out[c.id] = true
	if !s.isFocused(c.id) {
		return nil
	}
	prev := s.focused
	s.focused = slices.DeleteFunc(slices.Clone(prev), func(id string) bool { return id == c.id })
	next := s.choose(c.reg.speakersLocked(c.ch))
	s.focused = prev
	c.reg.setFocusLocked(c.ch, next)
	return nil
}

// ChangeSpotlightNumber sets how many senders of a spotlight channel are in
// focus (1-MaxSpotlightNumber) and chooses the focus again.
func (r *Registry) ChangeSpotlightNumber(channelID string, n int) error {
	if n < 1 || n > MaxSpotlightNumber {
		return fmt.Errorf("%w: spotlight_number %d (want 1-%d)", ErrInvalidRequest, n, MaxSpotlightNumber)
	}
	r.mu.Lock()
	ch := r.channels[channelID]
	r.mu.Unlock()
	if ch == nil {
		return fmt.Errorf("%w: %q", ErrUnknownChannel, channelID)
	}
	ch.mu.Lock()
	defer ch.mu.Unlock()
	if ch.spot == nil {
		return fmt.Errorf("%w: %q", ErrNotSpotlightChannel, channelID)
	}
	ch.spot.number = n
	r.refocusLocked(ch)
	return nil
}

// SpotlightFocus lists the connection ids in focus in a channel, in the
// order they entered it (nil for a channel that is not a spotlight
// channel).
func (r *Registry) SpotlightFocus(channelID string) []string {
	r.mu.Lock()
	ch := r.channels[channelID]
	r.mu.Unlock()
	if ch == nil {
		return nil
	}
	ch.mu.Lock()
	defer ch.mu.Unlock()
	if ch.spot == nil {
		return nil
	}
	return slices.Clone(ch.spot.focused)
}

// spotRIDsLocked are the layers c receives of a sender in a spotlight
// channel, and whether RequestSpotlightRID chose them.
func (c *Connection) spotRIDsLocked(senderID string) (spotRIDs, bool) {
	if r, ok := c.lay.spotBy[senderID]; ok {
		return r, true
	}
	if c.lay.spotAll != nil {
		return *c.lay.spotAll, true
	}
	return spotRIDs{c.lay.focusRID, c.lay.unfocus}, false
}

// RequestSpotlightRID sets the layers c receives of the sender senderID,
// or of every sender when senderID is empty, while it is in focus and
// while it is not ("none", "r0", "r1", "r2"); the API's
// RequestSpotlightRid and the RPC 2025.2.0/RequestSpotlightRid.
func (c *Connection) RequestSpotlightRID(senderID, focus, unfocus string) error {
	for _, f := range []struct{ name, v string }{{"spotlight_focus_rid", focus}, {"spotlight_unfocus_rid", unfocus}} {
		if !isRID(f.v) {
			return fmt.Errorf("%w: %s %q (want none, r0, r1 or r2)", ErrInvalidRequest, f.name, f.v)
		}
	}
	c.ch.mu.Lock()
	defer c.ch.mu.Unlock()
	if _, err := c.spotlightLocked(); err != nil {
		return err
	}
	if err := c.receiverLocked(); err != nil {
		return err
	}
	sender, err := c.senderLocked(senderID)
	if err != nil {
		return err
	}
	r := spotRIDs{focus, unfocus}
	if sender == nil {
		c.lay.spotAll = &r
		clear(c.lay.spotBy)
	} else {
		c.lay.spotBy[sender.id] = r
	}
	c.reg.log.Info("room: spotlight rids requested", "connection_id", c.id, "sender", senderID, "focus", focus, "unfocus", unfocus)
	c.applyAllLocked(sender)
	return nil
}

// ResetSpotlightRID drops what RequestSpotlightRID set for the sender
// senderID, or everything it set when senderID is empty: c receives its
// connect's spotlight layers again.
func (c *Connection) ResetSpotlightRID(senderID string) error {
	c.ch.mu.Lock()
	defer c.ch.mu.Unlock()
	if _, err := c.spotlightLocked(); err != nil {
		return err
	}
	if err := c.receiverLocked(); err != nil {
		return err
	}
	sender, err := c.senderLocked(senderID)
	if err != nil {
		return err
	}
	if sender == nil {
		c.lay.spotAll = nil
		clear(c.lay.spotBy)
	} else {
		delete(c.lay.spotBy, sender.id)
	}
	c.applyAllLocked(sender)
	return nil
}
