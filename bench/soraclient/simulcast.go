package soraclient

import (
	"fmt"
	"strconv"
	"strings"
	"sync"

	"github.com/pion/rtp"
	"github.com/pion/sdp/v3"
	"github.com/pion/webrtc/v4"
)

// Simulcast publishing (Config.SimulcastRIDs). The server offers the video
// section with a=rid:… recv and a=simulcast:recv; the client binds one
// encoding per rid to the video sender (pion: the first track on the
// transceiver, the others with RTPSender.AddEncoding before anything is
// sent), so its answer says a=rid:… send and a=simulcast:send. pion does
// not stamp the MID and RID header extensions on what a TrackLocalStaticRTP
// sends, and the server learns each rid's SSRC from them, so
// WriteSimulcastRTP adds both, with the ids the answer negotiated. RTCP of
// every encoding is read (the first one's by the sender's reader, the
// others' with ReadSimulcastRTCP) and handed to Config.OnSenderRTCP as
// video.

// simulcast is the client's simulcast video; guarded by mu.
type simulcast struct {
	mu             sync.Mutex
	tracks         map[string]*webrtc.TrackLocalStaticRTP // by rid
	sender         *webrtc.RTPSender
	mid            string
	midExt, ridExt uint8 // the answer's extension ids; 0 until read
}

// addSimulcastEncodings gives the video sender one encoding per further
// rid of Config.SimulcastRIDs (base carries the first) and starts reading
// their RTCP. It does nothing without simulcast.
func (c *Client) addSimulcastEncodings(sender *webrtc.RTPSender, base *webrtc.TrackLocalStaticRTP, mid string) error {
	rids := c.cfg.SimulcastRIDs
	if len(rids) == 0 {
		return nil
	}
	c.sc.mu.Lock()
	defer c.sc.mu.Unlock()
	c.sc.tracks = map[string]*webrtc.TrackLocalStaticRTP{rids[0]: base}
	c.sc.sender, c.sc.mid = sender, mid
	for _, rid := range rids[1:] {
		t, err := webrtc.NewTrackLocalStaticRTP(base.Codec(), base.ID(), base.StreamID(), webrtc.WithRTPStreamID(rid))
		if err != nil {
			return fmt.Errorf("soraclient: simulcast track %s: %w", rid, err)
		}
		if err := sender.AddEncoding(t); err != nil {
			return fmt.Errorf("soraclient: simulcast encoding %s: %w", rid, err)
		}
		c.sc.tracks[rid] = t
		c.wg.Add(1)
		go c.readSimulcastRTCP(rid, sender)
	}
	return nil
}

// readSimulcastRTCP drains one further encoding's RTCP until the sender stops.
func (c *Client) readSimulcastRTCP(rid string, s *webrtc.RTPSender) {
	defer c.wg.Done()
	for {
		pkts, _, err := s.ReadSimulcastRTCP(rid)
		if err != nil {
			return
		}
		if c.cfg.OnSenderRTCP != nil {
			c.cfg.OnSenderRTCP(webrtc.RTPCodecTypeVideo, pkts)
		}
	}
}

// SimulcastTrack is the local track of one rid of the simulcast video; nil
// before the offer arrived or for a rid not in Config.SimulcastRIDs.
func (c *Client) SimulcastTrack(rid string) *webrtc.TrackLocalStaticRTP {
	c.sc.mu.Lock()
	defer c.sc.mu.Unlock()
	return c.sc.tracks[rid]
}

// SimulcastSSRC is the SSRC pion sends rid with (0 before the answer or for
// an unknown rid). RTCP feedback about a rid (PLI, NACK) names it.
func (c *Client) SimulcastSSRC(rid string) uint32 {
	c.sc.mu.Lock()
	s := c.sc.sender
	c.sc.mu.Unlock()
	if s == nil {
		return 0
	}
	for _, e := range s.GetParameters().Encodings {
		if e.RID == rid {
			return uint32(e.SSRC)
		}
	}
	return 0
}

// WriteSimulcastRTP sends one packet of rid: it sets the MID and RID header
// extensions with the ids of the client's answer (p is modified) and writes
// it to that rid's track, which sets SSRC and payload type. Packets written
// before the connection is up are dropped.
func (c *Client) WriteSimulcastRTP(rid string, p *rtp.Packet) error {
	c.sc.mu.Lock()
	t := c.sc.tracks[rid]
	if t == nil {
		c.sc.mu.Unlock()
		return fmt.Errorf("%w: no simulcast track for rid %q (have %v)", ErrBadConfig, rid, c.cfg.SimulcastRIDs)
	}
	if c.sc.midExt == 0 || c.sc.ridExt == 0 {
		pc := c.PeerConnection()
		if pc == nil || pc.LocalDescription() == nil {
			c.sc.mu.Unlock()
			return fmt.Errorf("%w: no local description yet", ErrProtocol)
		}
		midExt, ridExt, err := extensionIDs(pc.LocalDescription().SDP, c.sc.mid)
		if err != nil {
			c.sc.mu.Unlock()
			return err
		}
		c.sc.midExt, c.sc.ridExt = midExt, ridExt
	}
	midExt, ridExt, mid := c.sc.midExt, c.sc.ridExt, c.sc.mid
	c.sc.mu.Unlock()
	if err := p.Header.SetExtension(midExt, []byte(mid)); err != nil {
		return fmt.Errorf("soraclient: mid extension: %w", err)
	}
	if err := p.Header.SetExtension(ridExt, []byte(rid)); err != nil {
		return fmt.Errorf("soraclient: rid extension: %w", err)
	}
	return t.WriteRTP(p)
}

// extensionIDs finds the ids of the mid and rtp-stream-id extensions in the
// m-section mid of an SDP.
func extensionIDs(text, mid string) (midExt, ridExt uint8, err error) {
	var sd sdp.SessionDescription
	if err := sd.UnmarshalString(text); err != nil {
		return 0, 0, fmt.Errorf("%w: local description: %w", ErrProtocol, err)
	}
	for _, md := range sd.MediaDescriptions {
		if m, _ := md.Attribute("mid"); m != mid {
			continue
		}
		for _, a := range md.Attributes {
			if a.Key != "extmap" {
				continue
			}
			f := strings.Fields(a.Value)
			if len(f) < 2 {
				continue
			}
			idText, _, _ := strings.Cut(f[0], "/")
			id, perr := strconv.ParseUint(idText, 10, 8)
			if perr != nil {
				continue
			}
			switch f[1] {
			case sdp.SDESMidURI:
				midExt = uint8(id)
			case sdp.SDESRTPStreamIDURI:
				ridExt = uint8(id)
			}
		}
	}
	if midExt == 0 || ridExt == 0 {
		return 0, 0, fmt.Errorf("%w: the answer's m-section %q lacks the mid or rtp-stream-id extension", ErrProtocol, mid)
	}
	return midExt, ridExt, nil
}
