package room

import (
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"sync"

	"github.com/hayate-sfu/hayate/dataplane"
)

// What the HTTP API's media operations need from the room: pausing one
// sender's video for one receiver (PauseRtpStream), capping a publisher's
// video bitrate (ChangeUpstreamVideoBitRate) and sending a publisher's
// tracks as plain RTP to an external receiver (StartForwardingRtp). They
// reach the media plane through two optional interfaces, MediaControls on
// a Transport and RTPForwarder on the TransportFactory, which the plane's
// adapters (planeTransport, *PlaneFactory) implement.
//
// State: the pauses and the forwardings are kept per Registry in a
// mediaOps. A pause is remembered even while the receiver gets no video of
// the sender yet, and applies to every video track of the sender that the
// receiver is forwarded now; downstreamAddedLocked applies it to one added
// later. Entries of connections that have left are dropped by
// dropMediaOpsLocked, and in any case by the next media operation of the
// registry (prune), which also stops their forwardings in the plane.

// Errors of the media operations.
var (
	// ErrNoTrack is returned when a connection publishes no track of the
	// kind an operation needs (yet: tracks exist once the answer is applied).
	ErrNoTrack = errors.New("room: no such published track")
	// ErrMediaUnsupported is returned when the transport or the transport
	// factory lacks the media-plane feature (MediaControls, RTPForwarder).
	ErrMediaUnsupported = errors.New("room: the media plane cannot do this")
	// ErrAddressFamily is returned by StartRTPForwarding for a destination
	// the media socket cannot send to (an IPv6 address from an IPv4 socket).
	ErrAddressFamily = errors.New("room: the media socket cannot reach that address family")
	// ErrOtherChannel is returned when two connections of one operation are
	// in different channels.
	ErrOtherChannel = errors.New("room: the connections are in different channels")
)

// MediaControls is what the RTP-stream operations need from a Transport
// beyond the Transport interface. The plane's transports have it
// (*dataplane.Transport, through PlaneTransports). Both methods return
// quickly; the room calls them with a channel lock held.
type MediaControls interface {
	// PauseDownstream stops (true) or resumes (false) forwarding one track
	// to this transport; a resumed video track restarts from a keyframe.
	PauseDownstream(trackID string, paused bool) error
	// SetUpstreamBitrateCap caps what the client may send for one of its
	// tracks, in bits per second; 0 removes the cap.
	SetUpstreamBitrateCap(trackID string, bps uint64) error
}

// RTPForwarder is what StartRTPForwarding needs from a TransportFactory;
// *PlaneFactory has it. Both methods return quickly.
type RTPForwarder interface {
	// StartRTPForwarding sends a published track as plain RTP to to, with
	// ssrc and continuous sequence numbers and timestamps, starting at a
	// keyframe. It returns an id for StopRTPForwarding.
	StartRTPForwarding(trackID string, to netip.AddrPort, ssrc uint32) (uint64, error)
	// StopRTPForwarding ends one forwarding; an unknown id is ignored.
	StopRTPForwarding(id uint64)
}

// StartRTPForwarding implements RTPForwarder with the plane's forwarding
// of the best simulcast layer. The media socket's family decides which
// destinations it can reach.
func (f *PlaneFactory) StartRTPForwarding(trackID string, to netip.AddrPort, ssrc uint32) (uint64, error) {
	to = netip.AddrPortFrom(to.Addr().Unmap(), to.Port())
	if local := f.plane.LocalAddr().Addr(); local.Is4() && to.Addr().Is6() {
		return 0, fmt.Errorf("%w: %s from the IPv4 media socket %s", ErrAddressFamily, to.Addr(), local)
	}
	return f.plane.StartRTPForwarding(trackID, to, ssrc, "")
}

// StopRTPForwarding implements RTPForwarder.
func (f *PlaneFactory) StopRTPForwarding(id uint64) { f.plane.StopRTPForwarding(id) }

// mediaOps is a Registry's state of the media operations. Its mutex is
// taken last (after a channel's mutex and Registry.mu) and no other lock is
// taken while it is held; it calls nothing outside this file.
type mediaOps struct {
	mu       sync.Mutex
	paused   []pause                   // in the order they were made
	forwards map[string]*rtpForwarding // by the publishing connection id
}

// pause is one receiver not being sent one sender's video.
type pause struct {
	channelID, recv, send string
}

// rtpForwarding is one connection's tracks sent as plain RTP.
type rtpForwarding struct {
	channelID string
	tracks    []ForwardedTrack
	ids       []uint64 // the plane's forwarding ids, one per track
}

func (r *Registry) mediaOps() *mediaOps { return r.ops }

// prune drops the pauses and forwardings of connections that have left and
// stops those forwardings in the plane. It takes Registry.mu, so it must be
// called without a channel lock.
func (r *Registry) prune() {
	m := r.mediaOps()
	var stop []uint64
	r.mu.Lock()
	m.mu.Lock()
	m.paused = slices.DeleteFunc(m.paused, func(p pause) bool { return r.conns[p.recv] == nil || r.conns[p.send] == nil })
	for id, f := range m.forwards {
		if r.conns[id] == nil {
			stop = append(stop, f.ids...)
			delete(m.forwards, id)
		}
	}
	m.mu.Unlock()
	r.mu.Unlock()
	if fw, ok := r.cfg.Transports.(RTPForwarder); ok {
		for _, id := range stop {
			fw.StopRTPForwarding(id)
		}
	}
}

// --- RTP stream pause ---

// PausedRTPStream is one receiver not being sent one sender's video
// (ListPauseRtpStreams).
type PausedRTPStream struct {
	ChannelID, RecvConnectionID, SendConnectionID string
	// RecvRole is the receiving connection's role.
	RecvRole Role
}

// PauseRTPStream stops forwarding sender's video to c (PauseRtpStream):
// every video track of sender that c is forwarded now is paused in the
// plane, and the pause is remembered for c and sender (video that c gets
// from sender later is paused too, and PausedRTPStreams lists it) until
// ResumeRTPStream or until one of them leaves. Audio keeps flowing. It
// returns the number of tracks paused now; pausing again is harmless.
func (c *Connection) PauseRTPStream(sender *Connection) (int, error) {
	return c.setPaused(sender, true)
}

// ResumeRTPStream undoes PauseRTPStream: the paused video tracks of sender
// restart towards c from a keyframe (the plane asks sender for one). It
// returns the number of tracks resumed; resuming a stream that is not
// paused is harmless.
func (c *Connection) ResumeRTPStream(sender *Connection) (int, error) {
	return c.setPaused(sender, false)
}

func (c *Connection) setPaused(sender *Connection, paused bool) (int, error) {
	if sender.ch != c.ch {
		return 0, fmt.Errorf("%w: %s is in %q, %s in %q", ErrOtherChannel, c.id, c.channelID, sender.id, sender.channelID)
	}
	c.reg.prune()
	ch := c.ch
	ch.mu.Lock()
	defer ch.mu.Unlock()
	if c.left || sender.left {
		return 0, ErrLeft
	}
	m := c.reg.mediaOps()
	m.mu.Lock()
	i := slices.Index(m.paused, pause{c.channelID, c.id, sender.id})
	switch {
	case paused && i < 0:
		m.paused = append(m.paused, pause{c.channelID, c.id, sender.id})
	case !paused && i >= 0:
		m.paused = slices.Delete(m.paused, i, i+1)
	}
	m.mu.Unlock()
	tracks := c.videoFromLocked(sender)
	if len(tracks) == 0 {
		return 0, nil
	}
	mc, ok := c.tr.(MediaControls)
	if !ok {
		return 0, fmt.Errorf("%w: the transport cannot pause a track", ErrMediaUnsupported)
	}
	n := 0
	for _, id := range tracks {
		if err := mc.PauseDownstream(id, paused); err != nil {
			if errors.Is(err, dataplane.ErrUnknownTrack) {
				continue // withdrawn in the plane meanwhile
			}
			return n, fmt.Errorf("%w: pausing %s for %s: %w", ErrTransport, id, c.id, err)
		}
		n++
	}
	return n, nil
}

// videoFromLocked lists the video tracks of sender that c is forwarded.
func (c *Connection) videoFromLocked(sender *Connection) []string {
	var out []string
	for _, s := range c.sections {
		id := c.forwarding[s.Mid]
		if id == "" || !strings.HasPrefix(id, sender.id+":") {
			continue
		}
		for _, t := range sender.upstreams {
			if t.id == id && t.kind == dataplane.KindVideo {
				out = append(out, id)
			}
		}
	}
	return out
}

// PausedRTPStreams lists the pauses of a channel's connections in the order
// they were made.
func (r *Registry) PausedRTPStreams(channelID string) []PausedRTPStream {
	r.prune()
	m := r.mediaOps()
	m.mu.Lock()
	var ps []pause
	for _, p := range m.paused {
		if p.channelID == channelID {
			ps = append(ps, p)
		}
	}
	m.mu.Unlock()
	out := make([]PausedRTPStream, 0, len(ps))
	for _, p := range ps {
		recv, ok := r.Connection(p.recv)
		if !ok {
			continue // left since prune
		}
		out = append(out, PausedRTPStream{ChannelID: p.channelID, RecvConnectionID: p.recv, SendConnectionID: p.send, RecvRole: recv.role})
	}
	return out
}

// downstreamAddedLocked pauses a track just added to c's transport when c
// has paused its sender's video. Called with c.ch.mu held after a
// successful AddDownstream.
func (c *Connection) downstreamAddedLocked(trackID string) {
	sender, _, _ := strings.Cut(trackID, ":")
	m := c.reg.mediaOps()
	m.mu.Lock()
	paused := slices.Contains(m.paused, pause{c.channelID, c.id, sender})
	m.mu.Unlock()
	if !paused {
		return
	}
	for _, o := range c.ch.members {
		if o.id != sender {
			continue
		}
		for _, t := range o.upstreams {
			if t.id != trackID || t.kind != dataplane.KindVideo {
				continue
			}
			if mc, ok := c.tr.(MediaControls); ok {
				if err := mc.PauseDownstream(trackID, true); err != nil {
					c.reg.log.Warn("room: pausing a new downstream", "connection_id", c.id, "track", trackID, "err", err)
				}
			}
		}
	}
}

// dropMediaOpsLocked forgets c's pauses (as receiver and as sender) and
// stops its RTP forwarding. Called with c.ch.mu held when c leaves.
func (c *Connection) dropMediaOpsLocked() {
	m := c.reg.mediaOps()
	m.mu.Lock()
	m.paused = slices.DeleteFunc(m.paused, func(p pause) bool { return p.recv == c.id || p.send == c.id })
	f := m.forwards[c.id]
	delete(m.forwards, c.id)
	m.mu.Unlock()
	if f == nil {
		return
	}
	if fw, ok := c.reg.cfg.Transports.(RTPForwarder); ok {
		for _, id := range f.ids {
			fw.StopRTPForwarding(id)
		}
	}
}

// --- upstream bitrate cap ---

// SetVideoBitrateCap caps what the client sends for each of its video
// tracks at kbps (ChangeUpstreamVideoBitRate): the plane sends it a REMB
// with the cap every second, which browsers obey. It returns the number
// of tracks capped: 0 when the connection publishes no video (yet). kbps
// 0 removes the cap.
func (c *Connection) SetVideoBitrateCap(kbps int) (int, error) {
	if kbps < 0 {
		return 0, fmt.Errorf("%w: bitrate cap %d kbps", ErrInvalidRequest, kbps)
	}
	c.ch.mu.Lock()
	defer c.ch.mu.Unlock()
	if c.left {
		return 0, ErrLeft
	}
	var video []string
	for _, t := range c.upstreams {
		if t.kind == dataplane.KindVideo {
			video = append(video, t.id)
		}
	}
	if len(video) == 0 {
		return 0, nil
	}
	mc, ok := c.tr.(MediaControls)
	if !ok {
		return 0, fmt.Errorf("%w: the transport cannot cap a bitrate", ErrMediaUnsupported)
	}
	for i, id := range video {
		if err := mc.SetUpstreamBitrateCap(id, uint64(kbps)*1000); err != nil {
			return i, fmt.Errorf("%w: capping %s: %w", ErrTransport, id, err)
		}
	}
	return len(video), nil
}

// --- RTP forwarding ---

// ForwardedTrack is one track sent as plain RTP.
type ForwardedTrack struct {
	Kind  dataplane.Kind
	Codec dataplane.Codec // the payload type of the packets is Codec.PayloadType
	SSRC  uint32
	To    netip.AddrPort
}

// RTPForwarding describes a connection's tracks being sent as plain RTP.
type RTPForwarding struct {
	ChannelID, ConnectionID string
	// Tracks are audio first, then video; a kind the connection does not
	// publish is absent.
	Tracks []ForwardedTrack
}

// StartRTPForwarding sends the connection's audio track to audio and its
// video track to video as plain, unencrypted RTP (StartForwardingRtp): each
// with an SSRC of its own, its sequence numbers and timestamps continuous,
// the video starting at a keyframe. The caller vets the destinations. A
// forwarding already running for the connection is replaced. It fails
// with ErrNoTrack when the connection publishes neither audio nor video
// (yet), ErrAddressFamily for a destination the media socket cannot reach.
func (c *Connection) StartRTPForwarding(audio, video netip.AddrPort) (RTPForwarding, error) {
	fw, ok := c.reg.cfg.Transports.(RTPForwarder)
	if !ok {
		return RTPForwarding{}, fmt.Errorf("%w: the transports cannot forward plain RTP", ErrMediaUnsupported)
	}
	c.reg.prune()
	c.ch.mu.Lock()
	defer c.ch.mu.Unlock()
	if c.left {
		return RTPForwarding{}, ErrLeft
	}
	f := &rtpForwarding{channelID: c.channelID}
	for _, k := range []dataplane.Kind{dataplane.KindAudio, dataplane.KindVideo} {
		to := audio
		if k == dataplane.KindVideo {
			to = video
		}
		for _, t := range c.upstreams {
			if t.kind != k {
				continue
			}
			f.tracks = append(f.tracks, ForwardedTrack{Kind: k, Codec: t.codec, SSRC: c.reg.nonZeroUint32(), To: to})
			break // one track per kind: its m-section in the receiver's SDP
		}
	}
	if len(f.tracks) == 0 {
		return RTPForwarding{}, fmt.Errorf("%w: %s publishes no audio or video", ErrNoTrack, c.id)
	}
	// Replace the previous forwarding before the new one starts, so that a
	// destination that stays the same never gets two streams.
	m := c.reg.mediaOps()
	m.mu.Lock()
	old := m.forwards[c.id]
	delete(m.forwards, c.id)
	m.mu.Unlock()
	if old != nil {
		for _, id := range old.ids {
			fw.StopRTPForwarding(id)
		}
	}
	for _, t := range f.tracks {
		id, err := fw.StartRTPForwarding(c.trackOfKindLocked(t.Kind), t.To, t.SSRC)
		if err != nil {
			for _, id := range f.ids {
				fw.StopRTPForwarding(id)
			}
			if errors.Is(err, ErrAddressFamily) {
				return RTPForwarding{}, err
			}
			return RTPForwarding{}, fmt.Errorf("%w: forwarding %s to %s: %w", ErrTransport, c.trackOfKindLocked(t.Kind), t.To, err)
		}
		f.ids = append(f.ids, id)
	}
	m.mu.Lock()
	m.forwards[c.id] = f
	m.mu.Unlock()
	c.reg.log.Info("room: RTP forwarding started", "connection_id", c.id, "tracks", len(f.tracks), "audio", audio.String(), "video", video.String())
	return RTPForwarding{ChannelID: c.channelID, ConnectionID: c.id, Tracks: slices.Clone(f.tracks)}, nil
}

// trackOfKindLocked is the id of c's first upstream track of kind k.
func (c *Connection) trackOfKindLocked(k dataplane.Kind) string {
	for _, t := range c.upstreams {
		if t.kind == k {
			return t.id
		}
	}
	return ""
}

func (r *Registry) nonZeroUint32() uint32 {
	for {
		if v := r.uint32(); v != 0 {
			return v
		}
	}
}

// StopRTPForwarding ends the connection's RTP forwarding and reports
// whether it had one.
func (c *Connection) StopRTPForwarding() bool {
	m := c.reg.mediaOps()
	m.mu.Lock()
	f := m.forwards[c.id]
	delete(m.forwards, c.id)
	m.mu.Unlock()
	if f == nil {
		return false
	}
	if fw, ok := c.reg.cfg.Transports.(RTPForwarder); ok {
		for _, id := range f.ids {
			fw.StopRTPForwarding(id)
		}
	}
	c.reg.log.Info("room: RTP forwarding stopped", "connection_id", c.id)
	return true
}

// StopChannelRTPForwarding ends every RTP forwarding of a channel's
// connections and returns their connection ids, sorted.
func (r *Registry) StopChannelRTPForwarding(channelID string) []string {
	r.prune()
	m := r.mediaOps()
	var stop []uint64
	var ids []string
	m.mu.Lock()
	for id, f := range m.forwards {
		if f.channelID == channelID {
			stop = append(stop, f.ids...)
			ids = append(ids, id)
			delete(m.forwards, id)
		}
	}
	m.mu.Unlock()
	if fw, ok := r.cfg.Transports.(RTPForwarder); ok {
		for _, id := range stop {
			fw.StopRTPForwarding(id)
		}
	}
	slices.Sort(ids)
	if len(ids) > 0 {
		r.log.Info("room: RTP forwarding stopped", "channel_id", channelID, "connections", len(ids))
	}
	return ids
}

// RTPForwardings lists the RTP forwardings of a channel's connections, by
// connection id.
func (r *Registry) RTPForwardings(channelID string) []RTPForwarding {
	r.prune()
	m := r.mediaOps()
	m.mu.Lock()
	var out []RTPForwarding
	for id, f := range m.forwards {
		if f.channelID == channelID {
			out = append(out, RTPForwarding{ChannelID: f.channelID, ConnectionID: id, Tracks: slices.Clone(f.tracks)})
		}
	}
	m.mu.Unlock()
	slices.SortFunc(out, func(a, b RTPForwarding) int { return strings.Compare(a.ConnectionID, b.ConnectionID) })
	return out
}

// The plane's adapters have the optional media features.
var (
	_ MediaControls = planeTransport{}
	_ RTPForwarder  = (*PlaneFactory)(nil)
)

// ForwardAudio sends the connection's audio track as plain RTP with ssrc to
// to, beside (and independent of) StartRTPForwarding: audio streaming
// (ctrl/audiostream) reads it on a loopback socket. stop ends it and may be
// called more than once, also after the connection left. It fails with
// ErrNoTrack when the connection publishes no audio (yet).
func (c *Connection) ForwardAudio(to netip.AddrPort, ssrc uint32) (stop func(), err error) {
	fw, ok := c.reg.cfg.Transports.(RTPForwarder)
	if !ok {
		return nil, fmt.Errorf("%w: the transports cannot forward plain RTP", ErrMediaUnsupported)
	}
	c.ch.mu.Lock()
	left, id := c.left, c.trackOfKindLocked(dataplane.KindAudio)
	c.ch.mu.Unlock()
	switch {
	case left:
		return nil, ErrLeft
	case id == "":
		return nil, fmt.Errorf("%w: %s publishes no audio", ErrNoTrack, c.id)
	}
	fid, err := fw.StartRTPForwarding(id, to, ssrc)
	if err != nil {
		return nil, err
	}
	var once sync.Once
	return func() { once.Do(func() { fw.StopRTPForwarding(fid) }) }, nil
}
