package baseline

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/coder/websocket"
	"github.com/pion/rtcp"
	"github.com/pion/webrtc/v4"
)

const (
	// connectTimeout bounds the wait for the connect message.
	connectTimeout = 10 * time.Second
	// writeTimeout bounds one WebSocket write.
	writeTimeout = 5 * time.Second
	// reanswerTimeout bounds the wait for a re-answer.
	reanswerTimeout = 15 * time.Second
	// gatherTimeout bounds the wait for the ICE-lite candidates of an offer.
	gatherTimeout = 5 * time.Second
	// readLimit bounds one signaling message.
	readLimit = 1 << 20
	// mtu is the largest RTP packet a forwarder reads.
	mtu = 1500
)

// statusInvalidConnect is the WebSocket close code of a refused connect.
const statusInvalidConnect websocket.StatusCode = 4400

// conn is one client connection: its WebSocket, its PeerConnection and the
// goroutines serving them. The handler goroutine owns the WebSocket reads.
type conn struct {
	s    *Server
	log  *slog.Logger
	id   string
	ws   *websocket.Conn
	room *room

	// Set from connect before the connection joins its room; read-only after.
	role         string
	clientID     string
	audio, video bool

	life   context.Context // ends when the connection ends
	cancel context.CancelFunc

	kick      chan struct{} // a re-offer is needed (capacity 1: kicks coalesce)
	reanswers chan string   // re-answer SDPs for the negotiator
	answered  chan struct{} // closed when the first answer is applied
	wg        sync.WaitGroup

	pcMu    sync.Mutex // serializes every change to pc and guards the fields below
	pc      *webrtc.PeerConnection
	senders map[*published]*webrtc.RTPSender
	ended   bool // pc is closed or closing: add nothing more

	createdOnce sync.Once
}

// connectMsg is the part of connect the baseline reads.
type connectMsg struct {
	Type      string          `json:"type"`
	Role      string          `json:"role"`
	ChannelID string          `json:"channel_id"`
	ClientID  string          `json:"client_id"`
	Audio     json.RawMessage `json:"audio"`
	Video     json.RawMessage `json:"video"`
}

// clientMsg is the part of any later client message the baseline reads.
type clientMsg struct {
	Type      string `json:"type"`
	SDP       string `json:"sdp"`
	Candidate string `json:"candidate"`
}

// wanted reports whether connect.audio or connect.video asks for media: a
// missing field or anything but false means yes, as in Sora.
func wanted(raw json.RawMessage) bool {
	return len(raw) == 0 || string(raw) != "false"
}

func (s *Server) serveSignaling(w http.ResponseWriter, r *http.Request) {
	ws, err := websocket.Accept(w, r, nil)
	if err != nil {
		return // Accept has answered the request
	}
	ws.SetReadLimit(readLimit)
	c := &conn{
		s:         s,
		id:        newID(),
		ws:        ws,
		kick:      make(chan struct{}, 1),
		reanswers: make(chan string, 1),
		answered:  make(chan struct{}),
		senders:   map[*published]*webrtc.RTPSender{},
	}
	c.log = s.log.With("connection_id", c.id)
	c.life, c.cancel = context.WithCancel(context.Background())
	defer c.cancel()
	if err := s.register(c); err != nil {
		_ = ws.Close(websocket.StatusGoingAway, "SHUTDOWN")
		return
	}
	defer s.unregister(c)
	c.run()
}

// run serves the connection until its WebSocket ends, then cleans up.
func (c *conn) run() {
	ctx, cancel := context.WithTimeout(c.life, connectTimeout)
	_, b, err := c.ws.Read(ctx)
	cancel()
	if err != nil {
		_ = c.ws.CloseNow()
		return
	}
	var m connectMsg
	if err := json.Unmarshal(b, &m); err != nil || m.Type != "connect" {
		_ = c.ws.Close(statusInvalidConnect, "INVALID-CONNECT-MESSAGE")
		return
	}
	switch m.Role {
	case "sendrecv", "sendonly", "recvonly":
	default:
		_ = c.ws.Close(statusInvalidConnect, "INVALID-ROLE")
		return
	}
	if m.ChannelID == "" || len(m.ChannelID) > 255 {
		_ = c.ws.Close(statusInvalidConnect, "INVALID-CHANNEL-ID")
		return
	}
	c.role, c.clientID, c.audio, c.video = m.Role, m.ClientID, wanted(m.Audio), wanted(m.Video)
	if c.clientID == "" {
		c.clientID = c.id
	}

	if err := c.start(m.ChannelID); err != nil {
		c.log.Warn("baseline: connection refused", "err", err)
		_ = c.ws.Close(websocket.StatusInternalError, "INTERNAL-ERROR")
		c.end()
		return
	}
	c.readLoop()
	c.end()
}

// start builds the PeerConnection, joins the room and sends the offer.
func (c *conn) start(channel string) error {
	pc, err := c.s.api.NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		return fmt.Errorf("new PeerConnection: %w", err)
	}
	c.pcMu.Lock()
	c.pc = pc
	c.pcMu.Unlock()

	mids := map[string]string{}
	var upstream []*webrtc.RTPTransceiver
	if c.role != "recvonly" {
		for _, k := range []webrtc.RTPCodecType{webrtc.RTPCodecTypeAudio, webrtc.RTPCodecTypeVideo} {
			if (k == webrtc.RTPCodecTypeAudio && !c.audio) || (k == webrtc.RTPCodecTypeVideo && !c.video) {
				continue
			}
			tr, err := pc.AddTransceiverFromKind(k, webrtc.RTPTransceiverInit{Direction: webrtc.RTPTransceiverDirectionRecvonly})
			if err != nil {
				return fmt.Errorf("upstream %s transceiver: %w", k, err)
			}
			upstream = append(upstream, tr)
		}
	}
	pc.OnTrack(c.onTrack)
	pc.OnConnectionStateChange(func(st webrtc.PeerConnectionState) {
		switch st {
		case webrtc.PeerConnectionStateConnected:
			c.createdOnce.Do(func() { c.notifyCreated() })
		case webrtc.PeerConnectionStateFailed:
			c.log.Info("baseline: PeerConnection failed")
			go c.abort(websocket.StatusNormalClosure, "CONNECTION-STATE-FAILED")
		}
	})

	c.room = c.s.room(channel)
	for _, p := range c.room.join(c) {
		c.addTrack(p)
	}
	if len(pc.GetTransceivers()) == 0 {
		// A receiver with nothing to receive yet still needs a transport:
		// one placeholder section per kind (pion offers no inactive ones),
		// as Hayate offers inactive sections.
		for _, k := range []webrtc.RTPCodecType{webrtc.RTPCodecTypeAudio, webrtc.RTPCodecTypeVideo} {
			if !c.wants(k) && (k == webrtc.RTPCodecTypeVideo || c.video) {
				continue // audio stays when nothing at all is wanted
			}
			if _, err := pc.AddTransceiverFromKind(k, webrtc.RTPTransceiverInit{Direction: webrtc.RTPTransceiverDirectionRecvonly}); err != nil {
				return fmt.Errorf("placeholder %s transceiver: %w", k, err)
			}
		}
	}
	sdp, err := c.offer(true)
	if err != nil {
		return err
	}
	for _, tr := range upstream {
		mids[tr.Kind().String()] = tr.Mid()
	}
	c.wg.Add(1)
	go c.negotiate()
	return c.send(map[string]any{
		"type":          "offer",
		"sdp":           sdp,
		"connection_id": c.id,
		"client_id":     c.clientID,
		"bundle_id":     c.id,
		"session_id":    c.room.sessionID,
		"channel_id":    channel,
		"mid":           mids,
		"simulcast":     false,
		"spotlight":     false,
		"config":        map[string]any{"iceServers": []any{}},
		"audio":         c.audio,
		"video":         c.video,
		"version":       "baseline",
	})
}

// offer creates and applies an offer and returns it with the candidates in.
func (c *conn) offer(first bool) (string, error) {
	c.pcMu.Lock()
	defer c.pcMu.Unlock()
	off, err := c.pc.CreateOffer(nil)
	if err != nil {
		return "", fmt.Errorf("creating an offer: %w", err)
	}
	gathered := webrtc.GatheringCompletePromise(c.pc)
	if err := c.pc.SetLocalDescription(off); err != nil {
		return "", fmt.Errorf("applying the local offer: %w", err)
	}
	if first {
		select {
		case <-gathered:
		case <-time.After(gatherTimeout):
			return "", errors.New("gathering the ICE-lite candidates timed out")
		}
	}
	return c.pc.LocalDescription().SDP, nil
}

// readLoop handles client messages until the WebSocket ends.
func (c *conn) readLoop() {
	for {
		_, b, err := c.ws.Read(c.life)
		if err != nil {
			return
		}
		var m clientMsg
		if err := json.Unmarshal(b, &m); err != nil {
			c.log.Debug("baseline: undecodable message", "msg", string(b), "err", err)
			continue
		}
		switch m.Type {
		case "answer":
			if err := c.applyAnswer(m.SDP); err != nil {
				c.log.Warn("baseline: answer", "err", err)
				_ = c.ws.Close(statusInvalidConnect, "INVALID-ANSWER")
				return
			}
			select {
			case <-c.answered:
			default:
				close(c.answered)
			}
		case "re-answer":
			select {
			case c.reanswers <- m.SDP:
			default:
				c.log.Debug("baseline: unexpected re-answer")
			}
		case "candidate":
			c.pcMu.Lock()
			err := c.pc.AddICECandidate(webrtc.ICECandidateInit{Candidate: m.Candidate})
			c.pcMu.Unlock()
			if err != nil {
				c.log.Debug("baseline: candidate", "candidate", m.Candidate, "err", err)
			}
		case "disconnect":
			_ = c.ws.Close(websocket.StatusNormalClosure, "TYPE-DISCONNECT")
			return
		}
	}
}

func (c *conn) applyAnswer(sdp string) error {
	c.pcMu.Lock()
	defer c.pcMu.Unlock()
	return c.pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeAnswer, SDP: sdp})
}

// negotiate sends one re-offer per batch of kicks, each after the previous
// re-answer, from the first answer until the connection ends.
func (c *conn) negotiate() {
	defer c.wg.Done()
	select {
	case <-c.answered:
	case <-c.life.Done():
		return
	}
	for {
		select {
		case <-c.kick:
		case <-c.life.Done():
			return
		}
		sdp, err := c.offer(false)
		if err != nil {
			c.log.Warn("baseline: re-offer", "err", err)
			go c.abort(websocket.StatusInternalError, "INTERNAL-ERROR")
			return
		}
		if err := c.send(map[string]any{"type": "re-offer", "sdp": sdp}); err != nil {
			return
		}
		select {
		case ans := <-c.reanswers:
			if err := c.applyAnswer(ans); err != nil {
				c.log.Warn("baseline: re-answer", "err", err)
				go c.abort(statusInvalidConnect, "INVALID-RE-ANSWER")
				return
			}
		case <-time.After(reanswerTimeout):
			c.log.Warn("baseline: no re-answer", "timeout", reanswerTimeout)
			go c.abort(websocket.StatusNormalClosure, "RE-ANSWER-TIMEOUT")
			return
		case <-c.life.Done():
			return
		}
	}
}

// requestOffer asks the negotiator for a re-offer.
func (c *conn) requestOffer() {
	select {
	case c.kick <- struct{}{}:
	default:
	}
}

// wants reports whether the connection receives tracks of kind.
func (c *conn) wants(kind webrtc.RTPCodecType) bool {
	if c.role == "sendonly" {
		return false
	}
	if kind == webrtc.RTPCodecTypeAudio {
		return c.audio
	}
	return c.video
}

// addTrack adds a sendonly section carrying p (when the connection wants
// its kind) and starts reading the sender's RTCP. The caller requests the
// re-offer.
func (c *conn) addTrack(p *published) bool {
	if !c.wants(p.kind) {
		return false
	}
	c.pcMu.Lock()
	if c.ended {
		c.pcMu.Unlock()
		return false
	}
	tr, err := c.pc.AddTransceiverFromTrack(p.local, webrtc.RTPTransceiverInit{Direction: webrtc.RTPTransceiverDirectionSendonly})
	if err != nil {
		c.pcMu.Unlock()
		c.log.Warn("baseline: adding a track", "publisher", p.owner.id, "kind", p.kind, "err", err)
		return false
	}
	sender := tr.Sender()
	c.senders[p] = sender
	c.wg.Add(1)
	c.pcMu.Unlock()
	go c.readSenderRTCP(p, sender)
	p.requestKeyframe()
	return true
}

// removeTrack takes p off the connection. The caller requests the re-offer.
func (c *conn) removeTrack(p *published) bool {
	c.pcMu.Lock()
	defer c.pcMu.Unlock()
	sender := c.senders[p]
	if sender == nil || c.ended {
		return false
	}
	delete(c.senders, p)
	if err := c.pc.RemoveTrack(sender); err != nil {
		c.log.Debug("baseline: removing a track", "err", err)
	}
	return true
}

// readSenderRTCP drains one sender's RTCP (the interceptors see only what is
// read) and relays PLI and FIR to the publisher.
func (c *conn) readSenderRTCP(p *published, s *webrtc.RTPSender) {
	defer c.wg.Done()
	for {
		pkts, _, err := s.ReadRTCP()
		if err != nil {
			return
		}
		for _, pkt := range pkts {
			switch pkt.(type) {
			case *rtcp.PictureLossIndication, *rtcp.FullIntraRequest:
				p.requestKeyframe()
			}
		}
	}
}

// onTrack publishes a track of the client's upstream and forwards it until
// the PeerConnection closes. It runs on a goroutine pion starts.
func (c *conn) onTrack(remote *webrtc.TrackRemote, _ *webrtc.RTPReceiver) {
	c.pcMu.Lock()
	if c.ended {
		c.pcMu.Unlock()
		return
	}
	c.wg.Add(1)
	c.pcMu.Unlock()
	defer c.wg.Done()

	local, err := webrtc.NewTrackLocalStaticRTP(remote.Codec().RTPCodecCapability, remote.Kind().String(), c.id)
	if err != nil {
		c.log.Warn("baseline: local track", "err", err)
		return
	}
	p := &published{owner: c, kind: remote.Kind(), local: local, ssrc: uint32(remote.SSRC())}
	for _, o := range c.room.publish(p) {
		if o.addTrack(p) {
			o.requestOffer()
		}
	}
	buf := make([]byte, mtu)
	for {
		n, _, err := remote.Read(buf)
		if err != nil {
			return
		}
		// Write fails only for bindings that are gone; the others got it.
		_, _ = local.Write(buf[:n])
	}
}

// notifyCreated sends connection.created about c to every connection of
// the channel, c included (the SDKs wait for their own).
func (c *conn) notifyCreated() {
	all, n := c.room.members()
	msg, err := json.Marshal(map[string]any{
		"type":                         "notify",
		"event_type":                   "connection.created",
		"role":                         c.role,
		"connection_id":                c.id,
		"client_id":                    c.clientID,
		"bundle_id":                    c.id,
		"session_id":                   c.room.sessionID,
		"channel_id":                   c.room.channel,
		"audio":                        c.audio,
		"video":                        c.video,
		"minutes":                      0,
		"timestamp":                    time.Now().UTC().Format(time.RFC3339Nano),
		"channel_connections":          n.all,
		"channel_sendrecv_connections": n.sendrecv,
		"channel_sendonly_connections": n.sendonly,
		"channel_recvonly_connections": n.recvonly,
		"turn_transport_type":          "udp",
	})
	if err != nil {
		return
	}
	for _, o := range all {
		if err := o.sendRaw(msg); err != nil {
			o.log.Debug("baseline: notify", "err", err)
		}
	}
}

// notifyDestroyed tells the connections in rest that c left.
func (c *conn) notifyDestroyed(rest []*conn) {
	msg, err := json.Marshal(map[string]any{
		"type":          "notify",
		"event_type":    "connection.destroyed",
		"role":          c.role,
		"connection_id": c.id,
		"client_id":     c.clientID,
		"channel_id":    c.room.channel,
	})
	if err != nil {
		return
	}
	for _, o := range rest {
		_ = o.sendRaw(msg)
	}
}

func (c *conn) send(v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("encoding %T: %w", v, err)
	}
	return c.sendRaw(b)
}

// sendRaw writes one text message; coder/websocket serializes writers.
func (c *conn) sendRaw(b []byte) error {
	ctx, cancel := context.WithTimeout(c.life, writeTimeout)
	defer cancel()
	return c.ws.Write(ctx, websocket.MessageText, b)
}

// abort closes the WebSocket with code and reason; run then cleans up.
func (c *conn) abort(code websocket.StatusCode, reason string) {
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = c.ws.Close(code, reason)
	}()
	select {
	case <-done:
	case <-time.After(2 * time.Second):
		_ = c.ws.CloseNow()
		<-done
	}
	c.cancel()
}

// end leaves the room, takes the connection's tracks off the others, closes
// the PeerConnection and waits for the connection's goroutines.
func (c *conn) end() {
	c.cancel()
	_ = c.ws.CloseNow()
	if c.room != nil {
		rest, gone := c.room.leave(c)
		for _, o := range rest {
			changed := false
			for _, p := range gone {
				changed = o.removeTrack(p) || changed
			}
			if changed {
				o.requestOffer()
			}
		}
		c.notifyDestroyed(rest)
		c.s.dropRoomIfEmpty(c.room)
	}
	c.pcMu.Lock()
	c.ended = true
	pc := c.pc
	c.pcMu.Unlock()
	if pc != nil {
		if err := pc.Close(); err != nil {
			c.log.Debug("baseline: closing the PeerConnection", "err", err)
		}
	}
	c.wg.Wait()
}
