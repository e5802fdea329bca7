package soraclient

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"runtime"
	"strings"
	"sync"
	"time"

	"github.com/coder/websocket"
	"github.com/pion/webrtc/v4"
)

// Errors returned by the client.
var (
	// ErrBadConfig is returned by Connect when a required Config field is missing or wrong.
	ErrBadConfig = errors.New("soraclient: bad config")
	// ErrClosedBeforeConnected is returned by Connect when the WebSocket
	// closed before the connection was up; the error text carries the close
	// code and reason (also available from CloseStatus).
	ErrClosedBeforeConnected = errors.New("soraclient: websocket closed before the connection was up")
	// ErrProtocol is returned when the server sent something the client cannot apply.
	ErrProtocol = errors.New("soraclient: protocol error")
	// ErrClosed is returned by methods called after Close.
	ErrClosed = errors.New("soraclient: closed")
)

const (
	// readLimit bounds one signaling message (offers grow with participants).
	readLimit = 8 << 20
	// writeTimeout bounds one WebSocket write.
	writeTimeout = 5 * time.Second
	// trackQueue is how many remote tracks may wait for Tracks() readers.
	trackQueue = 256
)

// Client is one Sora connection. See the package doc for the concurrency contract.
type Client struct {
	cfg Config
	log *slog.Logger
	api *webrtc.API
	ws  *websocket.Conn

	// life ends when Close starts; it bounds every blocking operation of the
	// client's own goroutines.
	life   context.Context
	cancel context.CancelFunc

	local  map[webrtc.RTPCodecType]*webrtc.TrackLocalStaticRTP
	tracks chan *webrtc.TrackRemote

	readerDone chan struct{} // closed when the WebSocket reader returns
	connected  chan struct{} // closed when the PeerConnection reached connected
	created    chan struct{} // closed when our own connection.created arrived
	wg         sync.WaitGroup

	mu           sync.Mutex
	pc           *webrtc.PeerConnection
	offer        json.RawMessage
	connectionID string
	senders      map[webrtc.RTPCodecType]*webrtc.RTPSender
	answered     bool     // the answer is sent: candidates go out directly
	pending      []string // candidates gathered before the answer, JSON-encoded
	events       []Event
	eventsSignal chan struct{} // closed and replaced on every new event
	closeCode    int
	closeReason  string
	fatal        error
	closeOnce    sync.Once
	connOnce     sync.Once
	createdOnce  sync.Once

	dc dataChannels // the channels the server opens (datachannel.go)
	sc simulcast    // simulcast encodings of the video (simulcast.go)
}

// Connect opens the WebSocket, runs the offer/answer exchange and returns once
// the PeerConnection is connected and the connection's own notify
// connection.created arrived. On any failure everything is torn down.
func Connect(ctx context.Context, cfg Config) (*Client, error) {
	switch cfg.Role {
	case "sendrecv", "sendonly", "recvonly":
	default:
		return nil, fmt.Errorf("%w: role %q (want sendrecv, sendonly or recvonly)", ErrBadConfig, cfg.Role)
	}
	if cfg.SignalingURL == "" || cfg.ChannelID == "" {
		return nil, fmt.Errorf("%w: SignalingURL %q and ChannelID %q are required", ErrBadConfig, cfg.SignalingURL, cfg.ChannelID)
	}
	api, err := newAPI(&cfg)
	if err != nil {
		return nil, fmt.Errorf("soraclient: building the pion API: %w", err)
	}
	c := &Client{
		cfg:          cfg,
		log:          cfg.logger(),
		api:          api,
		local:        map[webrtc.RTPCodecType]*webrtc.TrackLocalStaticRTP{},
		senders:      map[webrtc.RTPCodecType]*webrtc.RTPSender{},
		tracks:       make(chan *webrtc.TrackRemote, trackQueue),
		readerDone:   make(chan struct{}),
		connected:    make(chan struct{}),
		created:      make(chan struct{}),
		eventsSignal: make(chan struct{}),
	}
	if cfg.sends() {
		for _, kind := range []webrtc.RTPCodecType{webrtc.RTPCodecTypeAudio, webrtc.RTPCodecTypeVideo} {
			if (kind == webrtc.RTPCodecTypeAudio && !cfg.Audio) || (kind == webrtc.RTPCodecTypeVideo && !cfg.Video) {
				continue
			}
			var opts []func(*webrtc.TrackLocalStaticRTP)
			if kind == webrtc.RTPCodecTypeVideo && len(cfg.SimulcastRIDs) > 0 {
				opts = append(opts, webrtc.WithRTPStreamID(cfg.SimulcastRIDs[0]))
			}
			t, err := webrtc.NewTrackLocalStaticRTP(codecCapability(kind, cfg.videoCodec()), kind.String(), "soraclient", opts...)
			if err != nil {
				return nil, fmt.Errorf("soraclient: local %s track: %w", kind, err)
			}
			c.local[kind] = t
		}
	}

	hint := cfg.ConnectSDP
	if hint == "" {
		if hint, err = throwawayOffer(api, cfg.Certificates); err != nil {
			return nil, err
		}
	}
	c.life, c.cancel = context.WithCancel(context.Background())
	ws, _, err := websocket.Dial(ctx, cfg.SignalingURL, nil) //nolint:bodyclose // coder/websocket owns the body
	if err != nil {
		c.cancel()
		return nil, fmt.Errorf("soraclient: dialing %s: %w", cfg.SignalingURL, err)
	}
	ws.SetReadLimit(readLimit)
	c.ws = ws
	if err := c.send(ctx, c.connectMessage(hint)); err != nil {
		c.Close()
		return nil, err
	}
	c.wg.Add(1)
	go c.readLoop()

	fail := func(err error) (*Client, error) {
		c.Close()
		return nil, err
	}
	for _, ch := range []chan struct{}{c.connected, c.created} {
		select {
		case <-ch:
		case <-c.readerDone:
			code, reason := c.CloseStatus()
			if f := c.fatalErr(); f != nil {
				return fail(f)
			}
			return fail(fmt.Errorf("%w: code %d reason %q", ErrClosedBeforeConnected, code, reason))
		case <-ctx.Done():
			if f := c.fatalErr(); f != nil {
				return fail(fmt.Errorf("%w (then %w)", f, ctx.Err()))
			}
			return fail(fmt.Errorf("soraclient: waiting for connected and own connection.created: %w", ctx.Err()))
		}
	}
	return c, nil
}

// connectMessage is the connect message: Config fields, then Extra.
func (c *Client) connectMessage(sdp string) map[string]any {
	m := map[string]any{
		"type":        "connect",
		"role":        c.cfg.Role,
		"channel_id":  c.cfg.ChannelID,
		"sdp":         sdp,
		"audio":       c.cfg.Audio,
		"video":       c.cfg.Video,
		"sora_client": "Hayate soraclient",
		"environment": runtime.Version() + " " + runtime.GOOS + "/" + runtime.GOARCH,
	}
	if c.cfg.Video && c.cfg.VideoCodec != "" {
		m["video"] = map[string]any{"codec_type": c.cfg.videoCodec()}
	}
	if len(c.cfg.SimulcastRIDs) > 0 {
		m["simulcast"] = true
	}
	if c.cfg.Metadata != nil {
		m["metadata"] = c.cfg.Metadata
	}
	if c.cfg.ClientID != "" {
		m["client_id"] = c.cfg.ClientID
	}
	for k, v := range c.cfg.Extra {
		m[k] = v
	}
	return m
}

// ThrowawayOffer returns what Connect sends as connect.sdp when
// cfg.ConnectSDP is empty: the offer of a PeerConnection with one recvonly
// audio and one recvonly video transceiver, like the SDKs send. Clients that
// share a Config may share it.
func ThrowawayOffer(cfg Config) (string, error) {
	api, err := newAPI(&cfg)
	if err != nil {
		return "", fmt.Errorf("soraclient: building the pion API: %w", err)
	}
	return throwawayOffer(api, cfg.Certificates)
}

func throwawayOffer(api *webrtc.API, certs []webrtc.Certificate) (string, error) {
	pc, err := api.NewPeerConnection(webrtc.Configuration{Certificates: certs})
	if err != nil {
		return "", fmt.Errorf("soraclient: throwaway PeerConnection: %w", err)
	}
	defer pc.Close() //nolint:errcheck // a throwaway
	for _, kind := range []webrtc.RTPCodecType{webrtc.RTPCodecTypeAudio, webrtc.RTPCodecTypeVideo} {
		if _, err := pc.AddTransceiverFromKind(kind, webrtc.RTPTransceiverInit{Direction: webrtc.RTPTransceiverDirectionRecvonly}); err != nil {
			return "", fmt.Errorf("soraclient: throwaway transceiver: %w", err)
		}
	}
	offer, err := pc.CreateOffer(nil)
	if err != nil {
		return "", fmt.Errorf("soraclient: throwaway offer: %w", err)
	}
	return offer.SDP, nil
}

// send writes one JSON message on the WebSocket.
func (c *Client) send(ctx context.Context, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("soraclient: encoding %T: %w", v, err)
	}
	return c.sendRaw(ctx, b)
}

func (c *Client) sendRaw(ctx context.Context, b []byte) error {
	ctx, cancel := context.WithTimeout(ctx, writeTimeout)
	defer cancel()
	if err := c.ws.Write(ctx, websocket.MessageText, b); err != nil {
		return fmt.Errorf("soraclient: writing %.40q…: %w", b, err)
	}
	return nil
}

// setFatal records the first error that ends the connection and closes the
// WebSocket so Connect and Disconnect stop waiting.
func (c *Client) setFatal(err error) {
	c.mu.Lock()
	if c.fatal == nil {
		c.fatal = err
	}
	c.mu.Unlock()
	c.log.Warn("soraclient: giving up", "err", err)
	_ = c.ws.Close(websocket.StatusNormalClosure, "client error")
}

func (c *Client) fatalErr() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.fatal
}

// ConnectionID is offer.connection_id.
func (c *Client) ConnectionID() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.connectionID
}

// Offer is the raw offer message as received.
func (c *Client) Offer() json.RawMessage {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.offer
}

// PeerConnection is the client's PeerConnection (nil before the offer).
func (c *Client) PeerConnection() *webrtc.PeerConnection {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.pc
}

// LocalTrack is the local upstream track of kind (nil when the role or
// Config.Audio/Video give none). Write RTP to it with WriteRTP: pion sets
// SSRC and payload type to the negotiated values, but the header's Version
// must be 2 (pion sends it as given). Packets written before the connection
// is up are dropped.
func (c *Client) LocalTrack(kind webrtc.RTPCodecType) *webrtc.TrackLocalStaticRTP {
	return c.local[kind]
}

// Sender is the RTPSender of the local track of kind, bound to the offer's
// mid (nil when there is none). Its RTCP is read by the client; use
// Config.OnSenderRTCP to see it.
func (c *Client) Sender(kind webrtc.RTPCodecType) *webrtc.RTPSender {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.senders[kind]
}

// Tracks delivers every remote track as pion reports it; its StreamID is the
// sender's connection_id. The channel is never closed; it holds up to 256
// tracks nobody has taken yet (later ones wait until the client is closed).
func (c *Client) Tracks() <-chan *webrtc.TrackRemote { return c.tracks }

// CloseStatus is the WebSocket close code and reason as received from the
// server (0, "" while open; -1 when it ended without a close frame).
func (c *Client) CloseStatus() (code int, reason string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.closeCode, c.closeReason
}

// Done is closed when the WebSocket has closed.
func (c *Client) Done() <-chan struct{} { return c.readerDone }

// Disconnect sends {"type":"disconnect","reason":"NO-ERROR"}, waits for the
// server to close the WebSocket (see CloseStatus for its code and reason),
// then closes the PeerConnection. It returns an error when the message could
// not be sent or ctx ended first; the client is closed in every case.
func (c *Client) Disconnect(ctx context.Context) error {
	defer c.Close()
	select {
	case <-c.readerDone:
		return fmt.Errorf("%w: websocket already closed before disconnect", ErrClosed)
	default:
	}
	if err := c.send(ctx, map[string]any{"type": "disconnect", "reason": "NO-ERROR"}); err != nil {
		return err
	}
	select {
	case <-c.readerDone:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("soraclient: waiting for the server to close the websocket after disconnect: %w", ctx.Err())
	}
}

// Close tears the connection down without a disconnect message: it closes the
// WebSocket (1000 "") and the PeerConnection and waits for the client's
// goroutines. Safe to call more than once.
func (c *Client) Close() {
	c.closeOnce.Do(func() {
		c.cancel()
		if c.ws != nil {
			// A short close handshake; CloseNow if the server does not answer.
			done := make(chan struct{})
			go func() {
				defer close(done)
				_ = c.ws.Close(websocket.StatusNormalClosure, "")
			}()
			select {
			case <-done:
			case <-time.After(2 * time.Second):
				_ = c.ws.CloseNow()
				<-done
			}
		}
		if pc := c.PeerConnection(); pc != nil {
			if err := pc.Close(); err != nil {
				c.log.Debug("soraclient: closing PeerConnection", "err", err)
			}
		}
		c.wg.Wait()
	})
}

// readLoop reads the WebSocket until it closes and handles every message.
func (c *Client) readLoop() {
	defer c.wg.Done()
	defer close(c.readerDone)
	for {
		_, b, err := c.ws.Read(c.life)
		if err != nil {
			code, reason := -1, err.Error()
			var ce websocket.CloseError
			if errors.As(err, &ce) {
				code, reason = int(ce.Code), ce.Reason
			}
			c.mu.Lock()
			if c.closeCode == 0 {
				c.closeCode, c.closeReason = code, reason
			}
			c.mu.Unlock()
			c.addEvent(Event{Type: EventClose, Code: code, Reason: reason})
			return
		}
		if err := c.handle(b); err != nil {
			c.setFatal(err)
		}
	}
}

// message is the part of every server message the client dispatches on.
type message struct {
	Type         string          `json:"type"`
	SDP          string          `json:"sdp"`
	ConnectionID string          `json:"connection_id"`
	EventType    string          `json:"event_type"`
	Stats        bool            `json:"stats"`
	Mid          map[string]any  `json:"mid"`
	Config       json.RawMessage `json:"config"`
}

func (c *Client) handle(b []byte) error {
	var m message
	if err := json.Unmarshal(b, &m); err != nil {
		return fmt.Errorf("%w: undecodable message %.80q: %w", ErrProtocol, b, err)
	}
	raw := json.RawMessage(append([]byte(nil), b...))
	switch m.Type {
	case "offer":
		return c.handleOffer(m, raw)
	case "re-offer":
		// Recorded after the re-answer is sent, so a waiter knows it went out.
		err := c.handleReOffer(m)
		c.addEvent(Event{Type: m.Type, Raw: raw, SDP: m.SDP})
		return err
	case "ping":
		return c.handlePing(m)
	case "notify":
		c.addEvent(Event{Type: m.Type, EventType: m.EventType, ConnectionID: m.ConnectionID, Raw: raw})
		if m.EventType == "connection.created" && m.ConnectionID != "" && m.ConnectionID == c.ConnectionID() {
			c.createdOnce.Do(func() { close(c.created) })
		}
		return nil
	default: // push, switched, redirect, anything newer
		c.addEvent(Event{Type: m.Type, Raw: raw})
		return nil
	}
}

// handleOffer builds the PeerConnection from the offer and answers it.
func (c *Client) handleOffer(m message, raw json.RawMessage) error {
	if c.PeerConnection() != nil {
		return fmt.Errorf("%w: a second offer", ErrProtocol)
	}
	if m.ConnectionID == "" || m.SDP == "" {
		return fmt.Errorf("%w: offer without connection_id or sdp: %.200s", ErrProtocol, raw)
	}
	var conf webrtc.Configuration
	if c.cfg.UseOfferICEServers && len(m.Config) > 0 {
		if err := json.Unmarshal(m.Config, &conf); err != nil {
			return fmt.Errorf("%w: offer.config %s: %w", ErrProtocol, m.Config, err)
		}
	}
	if len(c.cfg.Certificates) > 0 {
		conf.Certificates = c.cfg.Certificates
	}
	if c.cfg.ICEConfig != nil {
		c.cfg.ICEConfig(&conf)
	}
	pc, err := c.api.NewPeerConnection(conf)
	if err != nil {
		return fmt.Errorf("soraclient: new PeerConnection: %w", err)
	}
	c.mu.Lock()
	c.pc, c.offer, c.connectionID = pc, raw, m.ConnectionID
	c.mu.Unlock()

	pc.OnICECandidate(c.onCandidate)
	pc.OnConnectionStateChange(func(s webrtc.PeerConnectionState) {
		c.log.Debug("soraclient: connection state", "connection_id", m.ConnectionID, "state", s)
		if s == webrtc.PeerConnectionStateConnected {
			c.connOnce.Do(func() { close(c.connected) })
		}
	})
	pc.OnTrack(func(t *webrtc.TrackRemote, _ *webrtc.RTPReceiver) {
		select {
		case c.tracks <- t:
		case <-c.life.Done():
		}
	})
	c.watchDataChannels(pc, raw)
	if err := pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeOffer, SDP: m.SDP}); err != nil {
		return fmt.Errorf("%w: applying the offer: %w", ErrProtocol, err)
	}
	if err := c.bindLocalTracks(pc, m.Mid); err != nil {
		return err
	}
	if err := c.answer(pc, "answer"); err != nil {
		return err
	}
	c.addEvent(Event{Type: "offer", ConnectionID: m.ConnectionID, SDP: m.SDP, Raw: raw})
	// Trickle what was gathered while the answer was being made.
	c.mu.Lock()
	pending := c.pending
	c.pending, c.answered = nil, true
	c.mu.Unlock()
	for _, cand := range pending {
		if err := c.sendRaw(c.life, []byte(cand)); err != nil {
			return err
		}
	}
	return nil
}

// bindLocalTracks puts each local track on the transceiver the offer's mid
// names for its kind. The server offers those sections recvonly, so pion
// created them sendonly without a sender, and the server puts them first:
// PeerConnection.AddTrack takes the first such transceiver of the kind
// (checked against offer.mid). AddTrack, unlike a sender made from the
// client's API, sends through the PeerConnection's interceptors (NACK
// responder, RTCP reports, transport-cc sequence numbers when configured).
func (c *Client) bindLocalTracks(pc *webrtc.PeerConnection, mids map[string]any) error {
	for _, kind := range []webrtc.RTPCodecType{webrtc.RTPCodecTypeAudio, webrtc.RTPCodecTypeVideo} {
		track := c.local[kind]
		if track == nil {
			continue
		}
		mid, _ := mids[kind.String()].(string)
		if mid == "" {
			return fmt.Errorf("%w: offer.mid has no %s entry (got %v) for a %s client", ErrProtocol, kind, mids, c.cfg.Role)
		}
		var tr *webrtc.RTPTransceiver
		for _, t := range pc.GetTransceivers() {
			if t.Mid() == mid {
				tr = t
				break
			}
		}
		if tr == nil || tr.Kind() != kind {
			return fmt.Errorf("%w: offer.mid.%s = %q names no %s m-section", ErrProtocol, kind, mid, kind)
		}
		sender, err := pc.AddTrack(track)
		if err != nil {
			return fmt.Errorf("soraclient: binding %s track to mid %s (direction %s): %w", kind, mid, tr.Direction(), err)
		}
		if tr.Sender() != sender {
			return fmt.Errorf("%w: pion put the %s track on another m-section than offer.mid.%s = %q (the client's own sections must come first)", ErrProtocol, kind, kind, mid)
		}
		if kind == webrtc.RTPCodecTypeVideo {
			if err := c.addSimulcastEncodings(sender, track, mid); err != nil {
				return err
			}
		}
		c.mu.Lock()
		c.senders[kind] = sender
		c.mu.Unlock()
		c.wg.Add(1)
		go c.readSenderRTCP(kind, sender)
	}
	return nil
}

// readSenderRTCP drains a sender's RTCP (the NACK responder and the report
// interceptors only see what is read) until the sender stops.
func (c *Client) readSenderRTCP(kind webrtc.RTPCodecType, s *webrtc.RTPSender) {
	defer c.wg.Done()
	for {
		pkts, _, err := s.ReadRTCP()
		if err != nil {
			return
		}
		if c.cfg.OnSenderRTCP != nil {
			c.cfg.OnSenderRTCP(kind, pkts)
		}
	}
}

// answer creates and applies the local answer and sends it as typ.
func (c *Client) answer(pc *webrtc.PeerConnection, typ string) error {
	ans, err := pc.CreateAnswer(nil)
	if err != nil {
		return fmt.Errorf("%w: creating the %s: %w", ErrProtocol, typ, err)
	}
	if err := pc.SetLocalDescription(ans); err != nil {
		return fmt.Errorf("%w: applying the local %s: %w", ErrProtocol, typ, err)
	}
	c.log.Debug("soraclient: sending", "type", typ)
	return c.send(c.life, map[string]any{"type": typ, "sdp": ans.SDP})
}

func (c *Client) handleReOffer(m message) error {
	pc := c.PeerConnection()
	if pc == nil {
		return fmt.Errorf("%w: re-offer before offer", ErrProtocol)
	}
	if err := pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeOffer, SDP: m.SDP}); err != nil {
		return fmt.Errorf("%w: applying a re-offer: %w", ErrProtocol, err)
	}
	return c.answer(pc, "re-answer")
}

func (c *Client) handlePing(m message) error {
	pong := map[string]any{"type": "pong"}
	if m.Stats {
		stats := []any{}
		if pc := c.PeerConnection(); pc != nil {
			for _, s := range pc.GetStats() {
				stats = append(stats, s)
			}
		}
		pong["stats"] = stats
	}
	return c.send(c.life, pong)
}

// onCandidate trickles a local candidate, or queues it until the answer is out.
func (c *Client) onCandidate(cand *webrtc.ICECandidate) {
	if cand == nil {
		return // end of gathering is not signaled in Sora
	}
	init := cand.ToJSON()
	msg := map[string]any{"type": "candidate", "candidate": init.Candidate, "sdpMid": init.SDPMid, "sdpMLineIndex": init.SDPMLineIndex}
	if pc := c.PeerConnection(); pc != nil {
		if ld := pc.LocalDescription(); ld != nil {
			if uf := iceUfrag(ld.SDP); uf != "" {
				msg["usernameFragment"] = uf
			}
		}
	}
	b, err := json.Marshal(msg)
	if err != nil {
		return
	}
	c.mu.Lock()
	if !c.answered {
		c.pending = append(c.pending, string(b))
		c.mu.Unlock()
		return
	}
	c.mu.Unlock()
	if err := c.sendRaw(c.life, b); err != nil {
		c.log.Debug("soraclient: sending a candidate", "err", err)
	}
}

func iceUfrag(sdp string) string {
	const key = "a=ice-ufrag:"
	i := strings.Index(sdp, key)
	if i < 0 {
		return ""
	}
	rest := sdp[i+len(key):]
	if j := strings.IndexAny(rest, "\r\n"); j >= 0 {
		rest = rest[:j]
	}
	return rest
}
