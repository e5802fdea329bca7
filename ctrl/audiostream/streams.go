package audiostream

import (
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net"
	"net/http"
	"net/url"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Errors of Streams' operations.
var (
	// ErrConfig: an unusable Config.
	ErrConfig = errors.New("audiostream: bad config")
	// ErrNoURL: Start without Config.URL (audio_streaming_url).
	ErrNoURL = errors.New("audiostream: audio_streaming_url is not set")
	// ErrNoChannel: the channel has no connection (no session).
	ErrNoChannel = errors.New("audiostream: the channel has no session")
	// ErrStarted: Start on a channel whose session streams already.
	ErrStarted = errors.New("audiostream: audio streaming already started")
	// ErrNotStarted: Stop on a channel that does not stream.
	ErrNotStarted = errors.New("audiostream: audio streaming not started")
	// ErrClosed: the Streams was closed.
	ErrClosed = errors.New("audiostream: closed")
)

// Defaults of Config's zero values.
const (
	DefaultQueuePackets  = 256 // 5 s of 20 ms Opus packets
	DefaultStopTimeout   = 5 * time.Second
	DefaultSyncInterval  = 2 * time.Second
	DefaultDialTimeout   = 5 * time.Second
	DefaultMaxResultLine = 64 << 10
)

// Config configures Streams. The zero value of each optional field is
// documented.
type Config struct {
	// URL is audio_streaming_url: http://host:port/path (HTTP/2 without
	// TLS, prior knowledge) or https:// (HTTP/2 over TLS). Empty: Start
	// fails with ErrNoURL.
	URL string
	// Header prefixes each Opus packet with the HeaderSize-byte header
	// (sora.conf audio_streaming_header); false sends bare packets, one
	// per DATA frame.
	Header bool
	// DefaultLanguageCode is sent for a connection that gave no
	// audio_streaming_language_code. Empty: such connections are not
	// streamed (as Sora does).
	DefaultLanguageCode string
	// Rooms; required.
	Rooms Rooms
	// Logger; nil means slog.Default().
	Logger *slog.Logger
	// Registerer receives the hayate_audio_streaming_* series; nil
	// registers nothing.
	Registerer prometheus.Registerer
	// Client posts the streams; nil means an HTTP/2-only client (h2c for
	// http://) that dials within DefaultDialTimeout.
	Client *http.Client
	// Now is the clock of the packet headers; nil means time.Now.
	Now func() time.Time
	// QueuePackets bounds the packets waiting for the gateway per stream
	// (more are dropped and counted); 0 means DefaultQueuePackets.
	QueuePackets int
	// StopTimeout is how long a stopped stream waits for the gateway to end
	// its answer after the request body ended, before resetting the
	// stream; 0 means DefaultStopTimeout.
	StopTimeout time.Duration
	// SyncInterval is how often the streaming channels are compared with
	// the rooms when Changed is not called; 0 means DefaultSyncInterval.
	SyncInterval time.Duration
	// MaxResultLine bounds one line of the gateway's answer; a longer line
	// fails the stream. 0 means DefaultMaxResultLine.
	MaxResultLine int
}

// Counters are the totals since New (GetStatsReport, /metrics).
type Counters struct {
	Started        uint64 // POSTs begun
	Successful     uint64 // POSTs the gateway answered with 200
	Failed         uint64 // streams that failed: see the package doc
	PacketsSent    uint64 // Opus packets handed to the gateway
	BytesSent      uint64 // their bytes, headers included
	PacketsDropped uint64 // RTP datagrams dropped: queue full, other SSRC, malformed
	Results        uint64 // result lines pushed to subscribers
	InvalidResults uint64 // result lines that were not JSON objects (dropped)
}

type counters struct {
	started, successful, failed         atomic.Uint64
	packetsSent, bytesSent, packetsDrop atomic.Uint64
	results, invalidResults             atomic.Uint64
}

// Streams runs the audio streams of the channels that stream; see the
// package doc.
type Streams struct {
	cfg    Config
	log    *slog.Logger
	client *http.Client
	c      counters

	mu       sync.Mutex
	channels map[string]string  // streaming channel id → its session id
	streams  map[string]*stream // by connection id: running, or failed and kept so it is not restarted
	subs     map[string]string  // subscribed connection id → its channel id
	closed   bool

	poke chan struct{}
	quit chan struct{}
	wg   sync.WaitGroup // the sync goroutine and every stream's goroutines
}

// New makes Streams and starts its sync goroutine; Close stops it.
func New(cfg Config) (*Streams, error) {
	if cfg.Rooms == nil {
		return nil, fmt.Errorf("%w: Rooms is nil", ErrConfig)
	}
	if cfg.URL != "" {
		u, err := url.Parse(cfg.URL)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return nil, fmt.Errorf("%w: URL %q is not an http:// or https:// URL", ErrConfig, cfg.URL)
		}
	}
	if cfg.QueuePackets < 0 || cfg.StopTimeout < 0 || cfg.SyncInterval < 0 || cfg.MaxResultLine < 0 {
		return nil, fmt.Errorf("%w: negative QueuePackets, StopTimeout, SyncInterval or MaxResultLine", ErrConfig)
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.QueuePackets == 0 {
		cfg.QueuePackets = DefaultQueuePackets
	}
	if cfg.StopTimeout == 0 {
		cfg.StopTimeout = DefaultStopTimeout
	}
	if cfg.SyncInterval == 0 {
		cfg.SyncInterval = DefaultSyncInterval
	}
	if cfg.MaxResultLine == 0 {
		cfg.MaxResultLine = DefaultMaxResultLine
	}
	s := &Streams{cfg: cfg, log: cfg.Logger, client: cfg.Client,
		channels: map[string]string{}, streams: map[string]*stream{}, subs: map[string]string{},
		poke: make(chan struct{}, 1), quit: make(chan struct{})}
	if s.client == nil {
		s.client = newClient()
	}
	if cfg.Registerer != nil {
		if err := s.register(cfg.Registerer); err != nil {
			return nil, fmt.Errorf("%w: %w", ErrConfig, err)
		}
	}
	s.wg.Add(1)
	go s.run()
	return s, nil
}

// newClient is an HTTP/2-only client: prior-knowledge h2c for http://,
// h2 over TLS for https://.
func newClient() *http.Client {
	p := new(http.Protocols)
	p.SetUnencryptedHTTP2(true)
	p.SetHTTP2(true)
	return &http.Client{Transport: &http.Transport{
		Protocols:           p,
		DialContext:         (&net.Dialer{Timeout: DefaultDialTimeout}).DialContext,
		TLSHandshakeTimeout: DefaultDialTimeout,
	}}
}

func (s *Streams) register(reg prometheus.Registerer) error {
	counter := func(name, help string, v *atomic.Uint64) prometheus.Collector {
		return prometheus.NewCounterFunc(prometheus.CounterOpts{Name: name, Help: help}, func() float64 { return float64(v.Load()) })
	}
	for _, c := range []prometheus.Collector{
		counter("hayate_audio_streaming_started_total", "Audio streaming POSTs begun (one per streamed connection).", &s.c.started),
		counter("hayate_audio_streaming_successful_total", "Audio streaming POSTs the gateway answered with 200.", &s.c.successful),
		counter("hayate_audio_streaming_failed_total", "Audio streams that failed (no connection, non-200, stream ended or broken by the gateway).", &s.c.failed),
		counter("hayate_audio_streaming_packets_sent_total", "Opus packets sent to the audio streaming gateway.", &s.c.packetsSent),
		counter("hayate_audio_streaming_bytes_sent_total", "Bytes of Opus packets (and their headers) sent to the audio streaming gateway.", &s.c.bytesSent),
		counter("hayate_audio_streaming_packets_dropped_total", "RTP packets not streamed: queue full (the gateway is slow), foreign SSRC or malformed.", &s.c.packetsDrop),
		counter("hayate_audio_streaming_results_total", "Result lines from the gateway pushed to subscribers.", &s.c.results),
		counter("hayate_audio_streaming_invalid_results_total", "Result lines from the gateway that were not JSON objects (dropped).", &s.c.invalidResults),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "hayate_audio_streaming_streams",
			Help: "Audio streams running."}, func() float64 { return float64(s.running()) }),
	} {
		if err := reg.Register(c); err != nil {
			return err
		}
	}
	return nil
}

// Counters returns the totals since New.
func (s *Streams) Counters() Counters {
	return Counters{
		Started: s.c.started.Load(), Successful: s.c.successful.Load(), Failed: s.c.failed.Load(),
		PacketsSent: s.c.packetsSent.Load(), BytesSent: s.c.bytesSent.Load(), PacketsDropped: s.c.packetsDrop.Load(),
		Results: s.c.results.Load(), InvalidResults: s.c.invalidResults.Load(),
	}
}

func (s *Streams) running() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, st := range s.streams {
		if !st.failed {
			n++
		}
	}
	return n
}

// Start makes the channel's session stream (StartAudioStreaming): each of
// its connections that publishes audio with a language code, now or
// later, gets a stream to the gateway, until Stop or the end of the
// session. It returns the session id. It fails with ErrNoURL, ErrNoChannel,
// ErrStarted or ErrClosed. The streams begin on the sync goroutine, so
// Start returns at once.
func (s *Streams) Start(channelID string) (sessionID string, err error) {
	if s.cfg.URL == "" {
		return "", ErrNoURL
	}
	sid, _, ok := s.cfg.Rooms.Channel(channelID)
	if !ok {
		return "", fmt.Errorf("%w: %q", ErrNoChannel, channelID)
	}
	s.mu.Lock()
	switch cur, streaming := s.channels[channelID]; {
	case s.closed:
		s.mu.Unlock()
		return "", ErrClosed
	case streaming && cur == sid:
		s.mu.Unlock()
		return "", fmt.Errorf("%w: channel %q (session %s)", ErrStarted, channelID, sid)
	}
	s.channels[channelID] = sid
	s.mu.Unlock()
	s.log.Info("audiostream: started", "channel_id", channelID, "session_id", sid)
	s.Changed()
	return sid, nil
}

// Stop ends the channel's streaming (StopAudioStreaming) and returns its
// session id. Each stream ends its request body and gives the gateway
// Config.StopTimeout to end its answer; Stop does not wait for that. It
// fails with ErrNotStarted.
func (s *Streams) Stop(channelID string) (sessionID string, err error) {
	s.mu.Lock()
	sid, ok := s.channels[channelID]
	delete(s.channels, channelID)
	s.mu.Unlock()
	if !ok {
		return "", fmt.Errorf("%w: channel %q", ErrNotStarted, channelID)
	}
	s.log.Info("audiostream: stopped", "channel_id", channelID, "session_id", sid)
	s.Changed()
	return sid, nil
}

// Streaming reports whether the channel streams, and for which session.
func (s *Streams) Streaming(channelID string) (sessionID string, ok bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	sid, ok := s.channels[channelID]
	return sid, ok
}

// Subscribe makes the connection receive the results of its channel's
// streams as pushes (SubscribeAudioStreamingResultPush), until
// Unsubscribe, Forget or it leaves. The caller checks that the connection
// is in the channel. Subscribing twice is harmless.
func (s *Streams) Subscribe(channelID, connectionID string) {
	s.mu.Lock()
	s.subs[connectionID] = channelID
	s.mu.Unlock()
}

// Unsubscribe undoes Subscribe; unsubscribing a connection that is not
// subscribed is harmless.
func (s *Streams) Unsubscribe(connectionID string) {
	s.mu.Lock()
	delete(s.subs, connectionID)
	s.mu.Unlock()
}

// Subscribed reports whether the connection receives result pushes.
func (s *Streams) Subscribed(connectionID string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	_, ok := s.subs[connectionID]
	return ok
}

// Changed tells Streams that connections came or went (connection.created,
// connection.destroyed): the next sync, at once on the sync goroutine,
// starts and stops streams to match. It never blocks and takes no lock, so
// it may be called with room locks held.
func (s *Streams) Changed() {
	select {
	case s.poke <- struct{}{}:
	default:
	}
}

// Forget drops what Streams keeps about a connection that left (its
// subscription) and syncs, which ends its stream. It takes Streams' mutex
// only briefly and never calls Rooms, so it may be called with room locks
// held.
func (s *Streams) Forget(connectionID string) {
	s.Unsubscribe(connectionID)
	s.Changed()
}

// Close ends every stream as Stop does and waits for them (at most about
// Config.StopTimeout). Operations after Close fail with ErrClosed or do
// nothing.
func (s *Streams) Close() {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return
	}
	s.closed = true
	all := slices.Collect(maps.Values(s.streams))
	clear(s.streams)
	clear(s.channels)
	clear(s.subs)
	s.mu.Unlock()
	close(s.quit)
	for _, st := range all {
		st.stop()
	}
	s.wg.Wait()
	s.client.CloseIdleConnections()
}

// run is the sync goroutine: the only one that starts and stops streams.
func (s *Streams) run() {
	defer s.wg.Done()
	t := time.NewTicker(s.cfg.SyncInterval)
	defer t.Stop()
	for {
		select {
		case <-s.quit:
			return
		case <-s.poke:
		case <-t.C:
		}
		s.sync()
	}
}

// sync compares every channel that matters (streaming, with streams or
// with subscribers) with the rooms.
func (s *Streams) sync() {
	s.mu.Lock()
	chans := map[string]bool{}
	for ch := range s.channels {
		chans[ch] = true
	}
	for _, st := range s.streams {
		chans[st.channelID] = true
	}
	for _, ch := range s.subs {
		chans[ch] = true
	}
	s.mu.Unlock()
	for _, ch := range slices.Sorted(maps.Keys(chans)) {
		s.syncChannel(ch)
	}
}

// eligible reports whether a connection is streamed.
func (s *Streams) eligible(c Conn) bool {
	return c.Audio && (c.LanguageCode != "" || s.cfg.DefaultLanguageCode != "")
}

func (s *Streams) syncChannel(channelID string) {
	sid, conns, ok := s.cfg.Rooms.Channel(channelID)
	present := make(map[string]Conn, len(conns))
	for _, c := range conns {
		present[c.ConnectionID] = c
	}
	var stop, start []*stream
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return
	}
	want, streaming := s.channels[channelID]
	if streaming && (!ok || want != sid) {
		// The session ended (and maybe another began): its streaming
		// ended with it.
		delete(s.channels, channelID)
		streaming = false
		s.log.Info("audiostream: the session ended", "channel_id", channelID, "session_id", want)
	}
	for id, st := range s.streams {
		if st.channelID != channelID {
			continue
		}
		if c, here := present[id]; !streaming || !here || !s.eligible(c) {
			delete(s.streams, id)
			stop = append(stop, st)
		}
	}
	for id, ch := range s.subs {
		if _, here := present[id]; ch == channelID && !here {
			delete(s.subs, id)
		}
	}
	if streaming {
		for _, c := range conns {
			if _, running := s.streams[c.ConnectionID]; running || !s.eligible(c) {
				continue
			}
			lang := c.LanguageCode
			if lang == "" {
				lang = s.cfg.DefaultLanguageCode
			}
			st := &stream{s: s, channelID: channelID, sessionID: sid, connectionID: c.ConnectionID,
				clientID: c.ClientID, language: lang, stopping: make(chan struct{})}
			s.streams[c.ConnectionID] = st
			start = append(start, st)
		}
	}
	s.mu.Unlock()
	for _, st := range stop {
		st.stop()
	}
	for _, st := range start {
		s.begin(st)
	}
}

// drop forgets st unless another stream of its connection replaced it.
func (s *Streams) drop(st *stream) {
	s.mu.Lock()
	if s.streams[st.connectionID] == st {
		delete(s.streams, st.connectionID)
	}
	s.mu.Unlock()
}

// subscribers lists the connections subscribed to a channel's results.
func (s *Streams) subscribers(channelID string) []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []string
	for id, ch := range s.subs {
		if ch == channelID {
			out = append(out, id)
		}
	}
	slices.Sort(out)
	return out
}
