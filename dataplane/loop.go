package dataplane

import (
	"context"
	"encoding/binary"
	"fmt"
	"log/slog"
	"net/netip"
	"time"

	"github.com/hayate-sfu/hayate/dataplane/feedback"
	"github.com/hayate-sfu/hayate/dataplane/forward"
	"github.com/hayate-sfu/hayate/dataplane/icelite"
	"github.com/hayate-sfu/hayate/dataplane/media"
	"github.com/hayate-sfu/hayate/dataplane/netio"
	"github.com/hayate-sfu/hayate/dataplane/secure"
	"github.com/hayate-sfu/hayate/ringbuf"
	"github.com/pion/rtcp"
	"github.com/pion/rtp"
	"github.com/pion/srtp/v3"
)

// History of received video per upstream track, for NACK answers: at most
// 1024 packets, and what arrived in the last historyRetain (libwebrtc keeps
// a sent packet for max(1 s, 3 RTT)). 2 s of 2.5 Mb/s video is 625 kB.
const (
	historySlots   = 1024
	historyRetain  = 2 * time.Second
	maxPacketBytes = 1500
	// egressBatch bounds the datagrams queued before a sendmmsg flush.
	egressBatch = 1024
	// srtpOverhead is what SRTP (GCM tag) and UDP/IP add to a packet on the wire.
	srtpOverhead = 16 + 28
	// Bandwidth estimate of a subscriber's transport: where it starts and its bounds.
	initialEstimate = 3_000_000
	minEstimate     = 100_000
	maxEstimate     = 50_000_000
)

// slot returns the next egress buffer (len 0, cap netio.BufSize) to build a
// packet in; commit queues it. Nothing may call slot between the two.
func (l *loopState) slot() []byte {
	if l.en == len(l.egress) {
		l.flush()
	}
	return l.egress[l.en].Buf[:0]
}

// commit queues b for to. b is normally the slot's buffer, built in place;
// anything else is copied (and dropped if it does not fit).
func (l *loopState) commit(b []byte, to netip.AddrPort) {
	if i := l.queue(b, to); i >= 0 && l.groupByDestination {
		l.egNext[i] = -1
		l.egHeads = append(l.egHeads, int32(i))
	}
}

// commitTo queues b for transport t's selected address. With GSO it links
// the message behind t's earlier ones of this flush, so that flush can
// group them without sorting.
func (l *loopState) commitTo(b []byte, t *transport) {
	i := l.queue(b, t.ls.selected)
	if i < 0 || !l.groupByDestination {
		return
	}
	l.egNext[i] = -1
	if t.ls.egEpoch == l.egEpoch {
		l.egNext[t.ls.egTail] = int32(i)
	} else {
		t.ls.egEpoch = l.egEpoch
		l.egHeads = append(l.egHeads, int32(i))
	}
	t.ls.egTail = int32(i)
}

// queue fills the next egress message and returns its index, or -1 when
// nothing was queued (empty, sent over TCP, too large).
func (l *loopState) queue(b []byte, to netip.AddrPort) int {
	if len(b) == 0 {
		return -1
	}
	if isTCP(to) {
		l.p.sendTCP(to, b) // copied: the slot is free again
		return -1
	}
	if l.en == len(l.egress) {
		l.flush()
	}
	m := &l.egress[l.en]
	if &b[0] != &m.Buf[:1][0] {
		if len(b) > cap(m.Buf) {
			l.p.counters.SendErrors.Add(1)
			return -1
		}
		copy(m.Buf[:len(b)], b)
	}
	m.N = len(b)
	m.Addr = to
	l.en++
	return l.en - 1
}

// flush hands the queued egress to the wire. With GSO the messages are
// first grouped by destination transport (each transport's order kept), so
// a fan-out of several packets becomes one super-packet per subscriber.
// commitTo chained each transport's messages as they were queued; grouping
// is one pass over the chains plus an in-place permutation, O(n).
func (l *loopState) flush() {
	if l.en == 0 {
		return
	}
	ms := l.egress[:l.en]
	if l.groupByDestination {
		if len(l.egHeads) < len(ms) {
			l.group(ms)
		}
		l.egHeads = l.egHeads[:0]
		l.egEpoch++
	}
	l.wire(ms)
	l.en = 0
}

// group reorders ms so that each chain of egNext (heads in egHeads order)
// is contiguous. perm[k] is the index whose message goes to position k;
// the permutation is applied cycle by cycle, marking done positions -1.
func (l *loopState) group(ms []netio.Message) {
	perm := l.egPerm[:0]
	for _, h := range l.egHeads {
		for i := h; i >= 0; i = l.egNext[i] {
			perm = append(perm, i)
		}
	}
	l.egPerm = perm
	if len(perm) != len(ms) {
		// Only if a message were queued past commit and commitTo: send
		// it ungrouped rather than lose any.
		return
	}
	for k := range perm {
		if perm[k] < 0 || int(perm[k]) == k {
			continue
		}
		tmp := ms[k]
		j := k
		for {
			src := int(perm[j])
			perm[j] = -1
			if src == k {
				ms[j] = tmp
				break
			}
			ms[j] = ms[src]
			j = src
		}
	}
}

// loopState is everything the media loop owns. Only the loop goroutine (and
// commands, which run on it) touches it; no locks.
type loopState struct {
	p  *plane
	lp *mediaLoop // nil in tests that drive the loop without sockets
	// routes are addresses whose datagrams belong to another loop's
	// transport (learnt from a STUN check handed to it).
	routes map[netip.AddrPort]*mediaLoop
	// hops is how often the datagram being handled was handed between
	// loops already (0 for one read from this loop's socket).
	hops uint8
	// wire sends a batch of egress messages (netio.Conn.WriteBatch; a fake in tests).
	wire   func(ms []netio.Message)
	egress []netio.Message
	// groupByDestination groups each flush by destination transport
	// (worth it with GSO): egNext chains a transport's messages of this
	// flush, egHeads lists the chains' first messages in order, egEpoch
	// names the flush (transportLoopState.egEpoch/egTail), egPerm is
	// scratch for the reordering.
	groupByDestination bool
	egNext             []int32
	egHeads            []int32
	egPerm             []int32
	egEpoch            uint64
	// nackDue: a publisher's packet is missing (a NACK or a retry is due):
	// the loop ticks every tickInterval until none is (engine.go).
	nackDue bool
	// receiving: RTP arrived from a publisher since the last tick; the
	// loop ticks every slowTickInterval while it does (TWCC feedback),
	// every reportInterval while no media arrives (engine.go).
	receiving bool
	// frameOpen: the last video packet forwarded did not end its frame
	// (no marker); with groupByDestination the loop holds the flush for
	// up to frameHold waiting for the rest (engine.go).
	frameOpen   bool
	en          int // egress messages filled
	stun        icelite.Responder
	byUfrag     map[string]*transport
	byAddr      map[netip.AddrPort]*transport
	transports  map[*transport]struct{}
	tracks      map[string]*source    // every published track by TrackID
	forwards    map[uint64]*downTrack // RTP forwarding sinks
	nextForward uint64

	// Scratch, reused for every packet.
	hdr     rtp.Header
	rtcpHdr rtcp.Header
	seqs    []uint16
	scratch []byte // a munged copy for RTX
	ssrcs   []uint32
	reports []rtcp.ReceptionReport

	lastTWCC, lastReport, lastMeasure int64
	now                               int64 // time of the datagram being handled

	// Allocation scratch.
	alloc      []forward.Stream
	allocDowns []*downTrack
	rates      []float64
	layers     []int
}

func newLoopState(p *plane) *loopState {
	return &loopState{
		p:          p,
		byUfrag:    map[string]*transport{},
		byAddr:     map[netip.AddrPort]*transport{},
		routes:     map[netip.AddrPort]*mediaLoop{},
		transports: map[*transport]struct{}{},
		tracks:     map[string]*source{},
		forwards:   map[uint64]*downTrack{},
		egress:     netio.NewMessages(egressBatch),
		egNext:     make([]int32, egressBatch),
		egHeads:    make([]int32, 0, egressBatch),
		egPerm:     make([]int32, 0, egressBatch),
		egEpoch:    1,
		scratch:    make([]byte, 0, netio.BufSize),
		seqs:       make([]uint16, 0, 256),
		ssrcs:      make([]uint32, 0, 16),
		reports:    make([]rtcp.ReceptionReport, 0, 31),
	}
}

// source is a published track: one upstream m-section. Without simulcast it
// has one layer; with simulcast one layer per rid, in ascending quality.
type source struct {
	id        string
	owner     *transport
	kind      Kind
	mid       string
	pt, rtxPT uint8
	clockRate uint32
	codec     media.Codec
	layers    []*upTrack
	downs     []*downTrack
	// loudness is the smoothed audio level (127 − the RFC 6464 level in
	// −dBov: higher is louder) of an audio source; lastVoice the last packet
	// whose voice-activity flag was set.
	loudness  float64
	lastVoice int64
	// capBps caps the publisher's send rate for this track (REMB, which
	// Chrome honours as a ceiling even with transport-cc); 0: no cap.
	capBps uint64
}

// upTrack is one layer of a source: one upstream SSRC (plus its RTX SSRC).
type upTrack struct {
	src     *source
	index   int
	rid     string
	ssrc    uint32
	rtxSSRC uint32
	history *ringbuf.History
	bytes   uint64  // received since the last report tick
	rate    float64 // smoothed bit rate of this layer
	rstats  *feedback.ReceiverStats
	nack    *feedback.NACKTracker
	lastPLI int64
	// Sender report of the publisher, for SR translation to subscribers.
	srNTP  uint64
	srRTP  uint32
	srTime int64
	haveSR bool
}

// downTrack is one subscriber's copy of a source: one continuous stream
// (its own SSRC, sequence and timestamp space) whatever layer feeds it.
type downTrack struct {
	srcID      string
	src        *source // nil while the source is gone
	owner      *transport
	mid        string
	ssrc       uint32
	rtxSSRC    uint32
	rtxSeq     uint16
	sstats     feedback.SenderStats
	pliRetries int
	// index, rtxIndex: the SRTP rollover counters of ssrc and rtxSSRC
	// (the transport's sealer; unused with pion's context).
	index, rtxIndex secure.Index

	// Layer selection: target is what was asked for, current what is sent
	// (-1: none). A switch happens only on a keyframe of the target layer.
	target, current int
	requestedRID    string
	// requested is the layer asked for (API, RPC, connect); target may be
	// lower when the subscriber's bandwidth estimate cannot carry it.
	requested int
	// Munging from the current layer's space to the subscriber's.
	started    bool
	seqOffset  uint16
	tsOffset   uint32
	pidOffset  uint16
	tl0Offset  uint8
	lastSeq    uint16
	lastTS     uint32
	lastPID    uint16
	lastTL0    uint8
	lastSentAt int64
	switches   uint64
	// paused: nothing is forwarded until resumed (then from a keyframe).
	paused bool
	// plainTo is set for an RTP forwarding sink: unencrypted RTP to an
	// external address, with no transport (owner is nil).
	plainTo netip.AddrPort
}

func (l *loopState) installSRTP(t *transport, rx, tx *srtp.Context, seal *secure.Sealer) {
	if t.ls.gone {
		return
	}
	t.ls.rx, t.ls.tx, t.ls.seal = rx, tx, seal
	t.ls.connected = true
	if t.ls.transportCC {
		t.ls.bwe = forward.NewEstimator(initialEstimate, minEstimate, maxEstimate)
	}
	now := l.p.now()
	for _, d := range t.ls.downsByID {
		if d.src != nil && d.current != d.target && d.target >= 0 {
			l.requestKeyframe(d.src.layers[d.target], now, false)
		}
	}
}

func (l *loopState) addUpstream(t *transport, u Upstream) {
	if t.ls.gone {
		return
	}
	if old := t.ls.sources[u.TrackID]; old != nil {
		l.removeUpstream(t, u.TrackID)
	}
	c, _ := CodecByPayloadType(u.PayloadType)
	src := &source{
		id: u.TrackID, owner: t, kind: u.Kind, mid: u.Mid,
		pt: u.PayloadType, rtxPT: c.RTXPayloadType, clockRate: u.ClockRate, codec: media.ParseCodec(c.Name),
	}
	if src.clockRate == 0 {
		src.clockRate = c.ClockRate
	}
	rids := u.RIDs
	if len(rids) == 0 {
		rids = []string{""}
	}
	for i, rid := range rids {
		up := &upTrack{src: src, index: i, rid: rid}
		if u.Kind == KindVideo {
			up.history = ringbuf.NewHistory(historySlots, maxPacketBytes, historyRetain)
			up.nack = feedback.NewNACKTracker(512)
		}
		src.layers = append(src.layers, up)
	}
	if len(u.RIDs) == 0 {
		up := src.layers[0]
		up.ssrc, up.rtxSSRC = u.SSRC, u.RTXSSRC
		if u.SSRC != 0 {
			up.rstats = feedback.NewReceiverStats(u.SSRC, src.clockRate)
			t.ls.ups[u.SSRC] = up
		}
		if u.RTXSSRC != 0 {
			t.ls.ups[u.RTXSSRC] = up
		}
	}
	t.ls.sources[u.TrackID] = src
	if u.Mid != "" {
		t.ls.sourcesByMid[u.Mid] = src
	}
	l.tracks[u.TrackID] = src
	// Subscribers that asked for this track before it was published.
	for other := range l.transports {
		for _, d := range other.ls.downsByID {
			if d.srcID == u.TrackID && d.src == nil {
				l.attach(d, src, d.requestedRID)
			}
		}
	}
}

func (l *loopState) removeUpstream(t *transport, id string) {
	src := t.ls.sources[id]
	if src == nil {
		return
	}
	delete(t.ls.sources, id)
	if t.ls.sourcesByMid[src.mid] == src {
		delete(t.ls.sourcesByMid, src.mid)
	}
	for k, v := range t.ls.ups {
		if v.src == src {
			delete(t.ls.ups, k)
		}
	}
	if l.tracks[id] == src {
		delete(l.tracks, id)
	}
	for _, d := range src.downs {
		d.src = nil
		d.current = -1
	}
	src.downs = nil
}

// layerIndex maps a rid to a layer: "" means the best layer, "none" none.
func (src *source) layerIndex(rid string) (int, bool) {
	switch rid {
	case "":
		return len(src.layers) - 1, true
	case "none":
		return -1, true
	}
	for i, up := range src.layers {
		if up.rid == rid {
			return i, true
		}
	}
	if len(src.layers) == 1 {
		return 0, true // not simulcast: any request means the one layer
	}
	return 0, false
}

func (l *loopState) attach(d *downTrack, src *source, rid string) {
	d.src = src
	d.current = -1
	d.target, _ = src.layerIndex(rid)
	d.requested = d.target
	src.downs = append(src.downs, d)
	if (d.owner == nil || d.owner.ls.connected) && d.target >= 0 {
		l.requestKeyframe(src.layers[d.target], l.p.now(), false)
	}
}

func (l *loopState) addDownstream(t *transport, d Downstream) error {
	if t.ls.gone {
		return ErrClosed
	}
	if old := t.ls.downsByID[d.TrackID]; old != nil {
		l.removeDownstream(t, d.TrackID)
	}
	dt := &downTrack{srcID: d.TrackID, owner: t, mid: d.Mid, ssrc: d.SSRC, rtxSSRC: d.RTXSSRC, current: -1, target: -1, requestedRID: d.RID}
	t.ls.downsByID[d.TrackID] = dt
	t.ls.downs[d.SSRC] = dt
	if d.RTXSSRC != 0 {
		t.ls.downs[d.RTXSSRC] = dt
	}
	if src := l.tracks[d.TrackID]; src != nil {
		if _, ok := src.layerIndex(d.RID); !ok {
			return fmt.Errorf("dataplane: %s has no layer %q", d.TrackID, d.RID)
		}
		l.attach(dt, src, d.RID)
	}
	return nil
}

// setLayer changes the layer a subscriber asks for; the switch itself waits
// for a keyframe of that layer (requested at once).
func (l *loopState) setLayer(t *transport, trackID, rid string) error {
	d := t.ls.downsByID[trackID]
	if d == nil {
		return ErrUnknownTrack
	}
	d.requestedRID = rid
	if d.src == nil {
		return nil
	}
	idx, ok := d.src.layerIndex(rid)
	if !ok {
		return fmt.Errorf("dataplane: %s has no layer %q", trackID, rid)
	}
	d.target, d.requested = idx, idx
	d.pliRetries = 0
	if idx < 0 {
		if prev := d.current; prev >= 0 {
			d.current = -1
			l.switched(d, prev)
		}
		return nil
	}
	if idx != d.current {
		l.requestKeyframe(d.src.layers[idx], l.p.now(), true)
	}
	return nil
}

func (l *loopState) removeDownstream(t *transport, id string) {
	d := t.ls.downsByID[id]
	if d == nil {
		return
	}
	delete(t.ls.downsByID, id)
	delete(t.ls.downs, d.ssrc)
	if d.rtxSSRC != 0 {
		delete(t.ls.downs, d.rtxSSRC)
	}
	if d.src != nil {
		d.src.downs = removeDown(d.src.downs, d)
		d.src = nil
	}
}

func removeDown(s []*downTrack, d *downTrack) []*downTrack {
	for i, x := range s {
		if x == d {
			copy(s[i:], s[i+1:])
			s[len(s)-1] = nil
			return s[:len(s)-1]
		}
	}
	return s
}

func (l *loopState) removeTransport(t *transport) {
	if t.ls.gone {
		return
	}
	for id := range t.ls.sources {
		l.removeUpstream(t, id)
	}
	for id := range t.ls.downsByID {
		l.removeDownstream(t, id)
	}
	for _, a := range t.ls.addrs {
		if l.byAddr[a] == t {
			delete(l.byAddr, a)
		}
	}
	if l.byUfrag[t.local.Ufrag] == t {
		delete(l.byUfrag, t.local.Ufrag)
	}
	delete(l.transports, t)
	t.ls.gone = true
	t.ls.connected = false
}

// authenticated records an SRTP/SRTCP packet that decrypted: it proves the
// client is alive (ICE consent) and counts it. The first one also proves
// that the client finished its DTLS side: a transport without DataChannels
// where we are the DTLS server lets its association go (releaseDTLS, off
// the loop).
func (l *loopState) authenticated(t *transport, n int, now int64) {
	t.ls.lastSeen = now
	t.packetsIn.Add(1)
	t.bytesIn.Add(uint64(n))
	if t.ls.holdsDTLS {
		t.ls.holdsDTLS = false
		go t.releaseDTLS("media")
	}
}

func (l *loopState) closeAll() {
	for t := range l.transports {
		l.removeTransport(t)
	}
}

// handleRTP decrypts in place and forwards to every subscriber of the track.
func (l *loopState) handleRTP(t *transport, b []byte, from netip.AddrPort, now int64) {
	ls := &t.ls
	if ls.rx == nil {
		l.p.counters.DropNotReady.Add(1)
		return
	}
	pkt, err := ls.rx.DecryptRTP(b, b, &l.hdr)
	if err != nil {
		l.p.counters.DropDecrypt.Add(1)
		return
	}
	l.authenticated(t, len(b), now)
	ssrc := media.SSRC(pkt)
	up := ls.ups[ssrc]
	if up == nil {
		up = l.bindBySDES(t, pkt)
		if up == nil {
			l.p.counters.UnknownSSRC.Add(1)
			return
		}
	}
	src := up.src
	l.receiving = true
	if ls.transportCC {
		if off, n, ok := media.FindExtension(pkt, ExtTransportCC); ok && n == 2 {
			ls.twcc.OnPacket(ssrc, binary.BigEndian.Uint16(pkt[off:]), now)
		}
	}
	if ssrc == up.rtxSSRC && up.rtxSSRC != 0 {
		orig, ok := media.UnwrapRTX(pkt, up.ssrc, src.pt)
		if !ok {
			return // padding probe
		}
		pkt = orig
		if up.history != nil {
			if _, seen := up.history.Get(media.Seq(pkt)); seen {
				return // duplicate of a packet already forwarded
			}
		}
	}
	if up.rstats == nil {
		up.rstats = feedback.NewReceiverStats(up.ssrc, src.clockRate)
	}
	seq := media.Seq(pkt)
	up.bytes += uint64(len(pkt))
	up.rstats.OnPacket(seq, media.Timestamp(pkt), now)
	if up.nack != nil {
		up.nack.OnPacket(seq, now)
		if up.nack.Missing() > 0 {
			l.nackDue = true
		}
	}
	if up.history != nil {
		up.history.Put(seq, pkt, now)
	}
	if src.kind == KindAudio {
		if off, n, ok := media.FindExtension(pkt, ExtAudioLevel); ok && n >= 1 {
			src.loudness = 0.9*src.loudness + 0.1*float64(127-pkt[off]&0x7f)
			if pkt[off]&0x80 != 0 {
				src.lastVoice = now
			}
		}
	}
	keyframe := true // any audio packet is a switching point
	if src.kind == KindVideo && len(src.downs) > 0 {
		keyframe = false
		if payload, ok := media.Payload(pkt); ok {
			keyframe = media.IsKeyframe(src.codec, payload)
		}
	}
	if src.kind == KindVideo && len(src.downs) > 0 {
		// Until the frame's last packet (marker) the loop may hold its
		// flush, so that each subscriber's share leaves as one GSO send.
		l.frameOpen = pkt[1]&0x80 == 0
	}
	if len(src.downs) == 0 {
		return
	}
	// No subscriber gets the publisher's MID and RIDs: clear them once
	// here rather than in every copy, and find the transport-wide sequence
	// each copy gets its own value in.
	media.ClearExtension(pkt, ExtMid)
	media.ClearExtension(pkt, ExtRID)
	media.ClearExtension(pkt, ExtRepairedRID)
	twcc := -1
	if off, n, ok := media.FindExtension(pkt, ExtTransportCC); ok && n == 2 {
		twcc = off
	}
	for i, d := range src.downs {
		prefetchAhead(src.downs, i)
		l.forward(d, up, pkt, keyframe, twcc, now)
	}
}

// bindBySDES learns an upstream SSRC from the MID (and RID / repaired RID)
// extensions of its first packets (RFC 9143, RFC 8852): simulcast answers
// carry no a=ssrc.
func (l *loopState) bindBySDES(t *transport, pkt []byte) *upTrack {
	off, n, ok := media.FindExtension(pkt, ExtMid)
	if !ok {
		return nil
	}
	src := t.ls.sourcesByMid[string(pkt[off:off+n])]
	if src == nil {
		return nil
	}
	ssrc := media.SSRC(pkt)
	rtx := src.rtxPT != 0 && media.PayloadType(pkt) == src.rtxPT
	up := src.layers[0]
	if len(src.layers) > 1 {
		id := uint8(ExtRID)
		if rtx {
			id = ExtRepairedRID
		}
		off, n, ok := media.FindExtension(pkt, id)
		if !ok {
			return nil
		}
		up = nil
		for _, layer := range src.layers {
			if layer.rid == string(pkt[off:off+n]) {
				up = layer
				break
			}
		}
		if up == nil {
			return nil
		}
	}
	if rtx {
		if up.rtxSSRC == 0 {
			up.rtxSSRC = ssrc
			t.ls.ups[ssrc] = up
			return up
		}
		return nil
	}
	if up.ssrc != 0 && up.ssrc != ssrc {
		return nil
	}
	up.ssrc = ssrc
	t.ls.ups[ssrc] = up
	return up
}

// forward sends one decrypted upstream packet of layer up to one subscriber:
// copy into an egress buffer, move it into the subscriber's sequence and
// timestamp space (switching layers on a keyframe), rewrite SSRC and the
// transport-wide sequence (at offset twcc, -1 without), encrypt. The caller
// has cleared MID and RIDs in pkt.
func (l *loopState) forward(d *downTrack, up *upTrack, pkt []byte, keyframe bool, twcc int, now int64) {
	if d.paused {
		return
	}
	dst := d.owner
	if dst == nil {
		l.forwardPlain(d, up, pkt, keyframe, now)
		return
	}
	if !dst.ls.connected || !dst.ls.selected.IsValid() || !l.onLayer(d, up, pkt, keyframe, now) {
		return
	}
	if dst.ls.seal != nil && !payloadMunged(d) {
		// Copy and rewrite only the header; the payload is sealed straight
		// from the publisher's decrypted packet into the egress buffer.
		hl, ok := media.RTPHeaderLen(pkt)
		if !ok {
			return
		}
		out := append(l.slot(), pkt[:hl]...)
		l.munge(d, out)
		media.SetSSRC(out, d.ssrc)
		l.stampTWCC(dst, out, twcc, len(pkt))
		d.lastSeq, d.lastTS, d.lastSentAt = media.Seq(out), media.Timestamp(out), now
		d.sstats.OnSent(d.lastTS, len(pkt), now)
		l.seal(dst, out, pkt[hl:], &d.index)
		return
	}
	out := append(l.slot(), pkt...)
	l.munge(d, out)
	media.SetSSRC(out, d.ssrc)
	l.stampTWCC(dst, out, twcc, len(out))
	d.lastSeq, d.lastTS, d.lastSentAt = media.Seq(out), media.Timestamp(out), now
	d.sstats.OnSent(d.lastTS, len(out), now)
	l.encryptAndSend(dst, out, &d.index)
}

// payloadMunged reports whether forwarding to d rewrites payload bytes
// (VP8 picture ids across simulcast layers), so the packet must be copied
// whole before it is sealed in place.
func payloadMunged(d *downTrack) bool {
	return d.src.codec == media.CodecVP8 && len(d.src.layers) > 1
}

// forwardPlain sends a packet to an RTP forwarding sink: munged like a
// subscriber's stream, unencrypted, header extensions cleared.
func (l *loopState) forwardPlain(d *downTrack, up *upTrack, pkt []byte, keyframe bool, now int64) {
	if !l.onLayer(d, up, pkt, keyframe, now) {
		return
	}
	out := append(l.slot(), pkt...)
	l.munge(d, out)
	media.SetSSRC(out, d.ssrc)
	media.ClearExtension(out, ExtMid)
	media.ClearExtension(out, ExtRID)
	media.ClearExtension(out, ExtRepairedRID)
	media.ClearExtension(out, ExtTransportCC)
	d.lastSeq, d.lastTS, d.lastSentAt = media.Seq(out), media.Timestamp(out), now
	l.commit(out, d.plainTo)
}

// onLayer reports whether a packet of layer up goes to d: it does when up is
// d's current layer, or when it is the target layer and pkt a keyframe
// (then the switch happens here). While waiting for that keyframe it asks
// the publisher for one.
func (l *loopState) onLayer(d *downTrack, up *upTrack, pkt []byte, keyframe bool, now int64) bool {
	if d.current == up.index {
		return true
	}
	if d.target != up.index {
		return false
	}
	if !keyframe {
		// Nothing decodable before a keyframe of the target layer.
		if now-up.lastPLI > int64(pliInterval) {
			l.requestKeyframe(up, now, false)
		}
		return false
	}
	l.switchTo(d, up, pkt, now)
	return true
}

// switchTo makes up the current layer of d, starting with pkt (a keyframe):
// offsets are chosen so that the subscriber's sequence numbers continue by
// one, its timestamps advance by the wall-clock time since the last packet,
// and VP8 picture ids / TL0PICIDX continue.
func (l *loopState) switchTo(d *downTrack, up *upTrack, pkt []byte, now int64) {
	inSeq, inTS := media.Seq(pkt), media.Timestamp(pkt)
	if !d.started {
		d.started = true
		d.seqOffset, d.tsOffset = 0, 0
	} else {
		d.seqOffset = d.lastSeq + 1 - inSeq
		gap := uint32((now - d.lastSentAt) * int64(d.src.clockRate) / int64(time.Second))
		if gap == 0 {
			gap = 1
		}
		d.tsOffset = d.lastTS + gap - inTS
	}
	if d.src.codec == media.CodecVP8 && len(d.src.layers) > 1 {
		if payload, ok := media.Payload(pkt); ok {
			var vd media.VP8Descriptor
			if media.ParseVP8(payload, &vd) {
				if d.switches == 0 {
					d.pidOffset, d.tl0Offset = 0, 0
				} else {
					d.pidOffset = d.lastPID + 1 - vd.PictureID
					d.tl0Offset = d.lastTL0 + 1 - vd.TL0PICIDX
				}
			}
		}
	}
	prev := d.current
	d.current = up.index
	d.pliRetries = 0
	l.switched(d, prev)
}

// switched reports a layer change to ctrl (simulcast.switched), off the loop.
func (l *loopState) switched(d *downTrack, prev int) {
	d.switches++
	if prev == -1 && d.current == -1 {
		return
	}
	if d.owner == nil {
		return
	}
	ev, ok := d.owner.events.(LayerEvents)
	if !ok || len(d.src.layers) < 2 {
		return
	}
	rid := func(i int) string {
		if i < 0 {
			return "none"
		}
		return d.src.layers[i].rid
	}
	id, cur, old := d.srcID, rid(d.current), rid(prev)
	go ev.OnLayerSwitched(id, cur, old)
}

// munge moves a packet of the current layer into the subscriber's spaces.
func (l *loopState) munge(d *downTrack, out []byte) {
	if d.seqOffset != 0 {
		media.SetSeq(out, media.Seq(out)+d.seqOffset)
	}
	if d.tsOffset != 0 {
		media.SetTimestamp(out, media.Timestamp(out)+d.tsOffset)
	}
	if d.src.codec != media.CodecVP8 || len(d.src.layers) < 2 {
		return
	}
	hl, ok := media.RTPHeaderLen(out)
	if !ok {
		return
	}
	payload, ok := media.Payload(out)
	if !ok {
		return
	}
	var vd media.VP8Descriptor
	if !media.ParseVP8(payload, &vd) {
		return
	}
	_ = hl
	if vd.PictureIDLen == 2 {
		pid := (vd.PictureID + d.pidOffset) & 0x7fff
		payload[vd.PictureIDOffset] = 0x80 | byte(pid>>8)
		payload[vd.PictureIDOffset+1] = byte(pid)
		d.lastPID = pid
	} else if vd.PictureIDLen == 1 {
		pid := (vd.PictureID + d.pidOffset) & 0x7f
		payload[vd.PictureIDOffset] = byte(pid)
		d.lastPID = pid
	}
	if vd.HasTL0PICIDX {
		tl0 := vd.TL0PICIDX + d.tl0Offset
		payload[vd.TL0PICIDXOffset] = tl0
		d.lastTL0 = tl0
	}
}

// prepareHeader removes MID and RIDs from a packet built whole (a
// retransmission) and stamps the subscriber transport's TWCC sequence.
func (l *loopState) prepareHeader(dst *transport, out []byte) {
	media.ClearExtension(out, ExtMid)
	media.ClearExtension(out, ExtRID)
	media.ClearExtension(out, ExtRepairedRID)
	twcc := -1
	if off, n, ok := media.FindExtension(out, ExtTransportCC); ok && n == 2 {
		twcc = off
	}
	l.stampTWCC(dst, out, twcc, len(out))
}

// stampTWCC writes the subscriber transport's next transport-wide sequence
// at offset off of out's header (-1: the packet has no such extension), or
// clears the extension when the subscriber did not negotiate it. size is
// the whole packet's (out may hold only its header).
func (l *loopState) stampTWCC(dst *transport, out []byte, off, size int) {
	if off < 0 {
		return
	}
	if !dst.ls.transportCC {
		media.ClearExtension(out, ExtTransportCC)
		return
	}
	binary.BigEndian.PutUint16(out[off:], dst.ls.twccSeq)
	if dst.ls.bwe != nil {
		dst.ls.bwe.OnSent(dst.ls.twccSeq, size+srtpOverhead, l.now)
	}
	dst.ls.twccSeq++
}

// encryptAndSend encrypts the RTP packet out (built whole in the egress
// slot) in place and queues it; x is the rollover counter of its SSRC.
func (l *loopState) encryptAndSend(dst *transport, out []byte, x *secure.Index) {
	if dst.ls.seal != nil {
		hl, ok := media.RTPHeaderLen(out)
		if !ok {
			return
		}
		l.seal(dst, out[:hl], out[hl:], x)
		return
	}
	enc, err := dst.ls.tx.EncryptRTP(out, out, &l.hdr)
	if err != nil {
		return
	}
	dst.packetsOut.Add(1)
	dst.bytesOut.Add(uint64(len(enc)))
	l.commitTo(enc, dst)
}

// seal encrypts with the transport's own AES-GCM sealer and queues: hdr is
// the rewritten header at the start of the egress slot, payload the
// plaintext right behind it or in the publisher's packet. Every RTP packet
// of a subscriber's SSRC goes through here (or every one through pion):
// x follows that SSRC's rollover counter.
func (l *loopState) seal(dst *transport, hdr, payload []byte, x *secure.Index) {
	seq := media.Seq(hdr)
	enc := dst.ls.seal.Seal(hdr[:0:cap(hdr)], hdr, payload, media.SSRC(hdr), seq, x.Next(seq))
	dst.packetsOut.Add(1)
	dst.bytesOut.Add(uint64(len(enc)))
	l.commitTo(enc, dst)
}

func (l *loopState) sendRTCP(t *transport, plain []byte) {
	if (t.ls.tx == nil && t.ls.seal == nil) || !t.ls.selected.IsValid() || len(plain) == 0 {
		return
	}
	if t.ls.seal != nil {
		index, ok := t.ls.rtcpIndex.Next()
		if !ok {
			// 2^31 SRTCP packets under one key: no more RTCP (RFC 3711 §9.2).
			l.p.counters.SendErrors.Add(1)
			return
		}
		enc := t.ls.seal.SealRTCP(plain, plain, index)
		if enc == nil {
			return // shorter than an RTCP header: nothing this loop builds
		}
		t.packetsOut.Add(1)
		t.bytesOut.Add(uint64(len(enc)))
		l.commitTo(enc, t)
		return
	}
	enc, err := t.ls.tx.EncryptRTCP(plain, plain, &l.rtcpHdr)
	if err != nil {
		return
	}
	t.packetsOut.Add(1)
	t.bytesOut.Add(uint64(len(enc)))
	l.commitTo(enc, t)
}

// requestKeyframe sends a PLI for one layer to its publisher, at most one per
// pliInterval unless forced (API, layer switch).
func (l *loopState) requestKeyframe(up *upTrack, now int64, force bool) {
	if up.ssrc == 0 || up.src.kind != KindVideo {
		return
	}
	if !force && up.lastPLI != 0 && now-up.lastPLI < int64(pliInterval) {
		return
	}
	up.lastPLI = now
	owner := up.src.owner
	l.sendRTCP(owner, feedback.AppendPLI(l.slot(), owner.rtcpSSRC, up.ssrc))
}

func (l *loopState) handleRTCP(t *transport, b []byte, _ netip.AddrPort, now int64) {
	ls := &t.ls
	if ls.rx == nil {
		l.p.counters.DropNotReady.Add(1)
		return
	}
	pkt, err := ls.rx.DecryptRTCP(b, b, &l.rtcpHdr)
	if err != nil {
		l.p.counters.DropDecrypt.Add(1)
		return
	}
	l.authenticated(t, len(b), now)
	it := feedback.NewIter(pkt)
	for it.Next() {
		switch it.Type() {
		case rtcpTypePSFB:
			switch it.Format() {
			case 1: // PLI
				t.plisIn.Add(1)
				l.relayKeyframeRequest(ls.downs[it.MediaSSRC()], now)
			case 4: // FIR: the media SSRCs are in the FCI entries
				l.ssrcs = it.AppendFIRSSRCs(l.ssrcs[:0])
				for _, s := range l.ssrcs {
					t.plisIn.Add(1)
					l.relayKeyframeRequest(ls.downs[s], now)
				}
			}
		case rtcpTypeRTPFB:
			if it.Format() == feedback.FormatTWCC && ls.bwe != nil {
				if r, ok := it.TWCC(); ok {
					ls.bwe.OnFeedback(&r, now)
				}
				continue
			}
			if it.Format() == 1 { // generic NACK
				t.nacksIn.Add(1)
				d := ls.downs[it.MediaSSRC()]
				if d == nil || d.src == nil || d.current < 0 || d.src.layers[d.current].history == nil {
					continue
				}
				l.seqs = it.AppendNACKs(l.seqs[:0])
				for _, seq := range l.seqs {
					l.retransmit(d, seq)
				}
			}
		case rtcpTypeSR:
			if ssrc, ntp, rtpTS, ok := it.SenderReport(); ok {
				if up := ls.ups[ssrc]; up != nil && ssrc == up.ssrc {
					if up.rstats != nil {
						up.rstats.OnSenderReport(ntp, now)
					}
					up.srNTP, up.srRTP, up.srTime, up.haveSR = ntp, rtpTS, now, true
				}
			}
		}
	}
}

// RTCP packet types (RFC 3550, RFC 4585).
const (
	rtcpTypeSR    = 200
	rtcpTypeRR    = 201
	rtcpTypeRTPFB = 205
	rtcpTypePSFB  = 206
)

// pauseDownstream stops or resumes one track of a subscriber; a resumed
// track restarts from a keyframe in the same sequence space.
func (l *loopState) pauseDownstream(t *transport, id string, paused bool) error {
	d := t.ls.downsByID[id]
	if d == nil {
		return ErrUnknownTrack
	}
	if d.paused == paused {
		return nil
	}
	d.paused = paused
	if !paused && d.src != nil {
		d.current = -1
		d.pliRetries = 0
		if d.target >= 0 {
			l.requestKeyframe(d.src.layers[d.target], l.p.now(), true)
		}
	}
	return nil
}

// setCap sets (0: removes) the REMB cap of a published track.
func (l *loopState) setCap(t *transport, id string, bps uint64) error {
	src := t.ls.sources[id]
	if src == nil {
		return ErrUnknownTrack
	}
	src.capBps = bps
	if bps > 0 {
		l.sendCap(src)
	}
	return nil
}

// sendCap tells the publisher the most it may send for src (REMB,
// draft-alvestrand-rmcat-remb-03) over the SSRCs of its layers.
func (l *loopState) sendCap(src *source) {
	l.ssrcs = l.ssrcs[:0]
	for _, up := range src.layers {
		if up.ssrc != 0 {
			l.ssrcs = append(l.ssrcs, up.ssrc)
		}
	}
	if len(l.ssrcs) == 0 {
		return
	}
	l.sendRTCP(src.owner, feedback.AppendREMB(l.slot(), src.owner.rtcpSSRC, src.capBps, l.ssrcs))
}

// relayKeyframeRequest passes a subscriber's PLI/FIR to the publisher of the
// layer it receives (or waits for).
func (l *loopState) relayKeyframeRequest(d *downTrack, now int64) {
	if d == nil || d.src == nil {
		return
	}
	i := d.current
	if i < 0 {
		i = d.target
	}
	if i >= 0 {
		l.requestKeyframe(d.src.layers[i], now, false)
	}
}

// retransmit answers a NACK from the history: RTX when negotiated (RFC 4588),
// never the primary SSRC, whose (SSRC, index) would repeat a GCM nonce with
// different bytes (RFC 7714 §8.1). seq is in the subscriber's space; the
// packet is munged again as it was when first sent.
func (l *loopState) retransmit(d *downTrack, seq uint16) {
	if d.rtxSSRC == 0 || d.src.rtxPT == 0 {
		return
	}
	orig, ok := d.src.layers[d.current].history.Get(seq - d.seqOffset)
	if !ok {
		return
	}
	l.scratch = append(l.scratch[:0], orig...)
	l.munge(d, l.scratch)
	out, ok := media.AppendRTX(l.slot(), l.scratch, d.rtxSSRC, d.rtxSeq, d.src.rtxPT)
	if !ok {
		return
	}
	d.rtxSeq++
	l.prepareHeader(d.owner, out)
	d.owner.retransmits.Add(1)
	l.encryptAndSend(d.owner, out, &d.rtxIndex)
}

// tick runs the periodic duties: NACKs every tick, TWCC feedback every
// twccInterval, reports and liveness every reportInterval.
func (l *loopState) tick(now int64) {
	l.now = now
	nackDue := false
	defer func() { l.nackDue, l.receiving = nackDue, false }()
	for t := range l.transports {
		ls := &t.ls
		if !ls.connected {
			if now-ls.created > int64(connectTimeout) {
				ls.connected = false
				go t.close(ErrConnectTimeout)
				l.removeTransport(t)
			}
			continue
		}
		if now-ls.lastSeen > int64(iceTimeout) {
			go t.close(ErrICETimeout)
			l.removeTransport(t)
			continue
		}
		for _, src := range ls.sources {
			for _, up := range src.layers {
				if up.nack == nil || up.ssrc == 0 {
					continue
				}
				l.seqs = up.nack.AppendMissing(l.seqs[:0], now)
				if len(l.seqs) > 0 {
					l.sendRTCP(t, feedback.AppendNACK(l.slot(), t.rtcpSSRC, up.ssrc, l.seqs))
				}
				if up.nack.Missing() > 0 {
					nackDue = true
				}
			}
		}
	}
	if now-l.lastTWCC >= int64(twccInterval) {
		l.lastTWCC = now
		for t := range l.transports {
			if t.ls.connected && t.ls.transportCC && len(t.ls.sources) > 0 {
				l.sendRTCP(t, t.ls.twcc.AppendFeedback(l.slot()))
			}
		}
	}
	if now-l.lastReport >= int64(reportInterval) {
		l.lastReport = now
		l.reportsAndRetries(now)
	}
}

// measureLayers turns each layer's byte count since the last report tick
// into a smoothed bit rate, the allocator's price list.
func (l *loopState) measureLayers(dt float64) {
	for t := range l.transports {
		for _, src := range t.ls.sources {
			for _, up := range src.layers {
				r := float64(up.bytes*8) / dt
				up.bytes = 0
				if up.rate == 0 {
					up.rate = r
				} else {
					up.rate = 0.6*up.rate + 0.4*r
				}
			}
		}
	}
}

// allocate fits the simulcast layers a transport receives into its
// bandwidth estimate: targets go down when the estimate cannot carry them
// and back up (never above what was requested) when it can.
func (l *loopState) allocate(t *transport, now int64) {
	if t.ls.bwe == nil || t.ls.bwe.Reports == 0 {
		return
	}
	budget := t.ls.bwe.Estimate()
	l.alloc = l.alloc[:0]
	l.allocDowns = l.allocDowns[:0]
	l.rates = l.rates[:0]
	for _, d := range t.ls.downsByID {
		if d.src == nil {
			continue
		}
		if len(d.src.layers) < 2 {
			if d.current >= 0 {
				budget -= d.src.layers[0].rate
			}
			continue
		}
		for _, up := range d.src.layers {
			l.rates = append(l.rates, up.rate)
		}
		l.alloc = append(l.alloc, forward.Stream{Rates: l.rates[len(l.rates)-len(d.src.layers):], Requested: d.requested, Current: d.current})
		l.allocDowns = append(l.allocDowns, d)
	}
	if len(l.alloc) == 0 {
		return
	}
	l.layers = forward.Allocate(l.alloc, budget, 1.2, l.layers)
	for i, d := range l.allocDowns {
		if want := l.layers[i]; want != d.target && want >= 0 {
			if log := l.p.log; want < d.requested && want < d.target && log != nil && log.Enabled(context.Background(), slog.LevelDebug) {
				// Why a layer that was asked for was taken away: the
				// estimate and what the estimator saw.
				log.Debug("layer lowered by the bandwidth estimate", "transport", t.id, "from", d.target, "to", want,
					"requested", d.requested, "estimate_bps", int64(t.ls.bwe.Estimate()), "budget_bps", int64(budget),
					"delivered_bps", int64(t.ls.bwe.Delivered()), "loss", t.ls.bwe.Loss(), "layer_bps", fmt.Sprint(l.alloc[i].Rates))
			}
			d.target = want
			d.pliRetries = 0
			if want != d.current {
				l.requestKeyframe(d.src.layers[want], now, true)
			}
		}
	}
}

// maxCompoundRTCP bounds the plain RTCP of one compound packet of sender
// reports (SRTCP adds its index and tag; the datagram stays under 1280
// bytes); srSize is one sender report without report blocks.
const (
	maxCompoundRTCP = 1200
	srSize          = 28
)

func (l *loopState) reportsAndRetries(now int64) {
	wall := feedback.NTP(time.Now())
	dt := float64(now-l.lastMeasure) / 1e9
	if l.lastMeasure == 0 || dt <= 0 {
		dt = reportInterval.Seconds()
	}
	l.lastMeasure = now
	l.measureLayers(dt)
	for t := range l.transports {
		if !t.ls.connected {
			continue
		}
		l.reports = l.reports[:0]
		for _, src := range t.ls.sources {
			for _, up := range src.layers {
				if up.rstats != nil && up.rstats.Received() > 0 && len(l.reports) < 31 {
					l.reports = append(l.reports, up.rstats.Report(now))
				}
			}
		}
		if len(l.reports) > 0 {
			l.sendRTCP(t, feedback.AppendReceiverReport(l.slot(), t.rtcpSSRC, l.reports))
		}
		for _, src := range t.ls.sources {
			if src.capBps > 0 {
				l.sendCap(src)
			}
		}
		l.allocate(t, now)
		// The sender reports of all the transport's tracks go out together,
		// as compound packets of up to maxCompoundRTCP bytes: one datagram
		// and one SRTCP seal a second for a subscriber of many tracks. The
		// slot is built in place, so nothing else may take a slot before it
		// is sent (the keyframe retries below do).
		var sr []byte
		for _, d := range t.ls.downsByID {
			if d.src == nil || !d.started || d.current < 0 {
				continue
			}
			if up := d.src.layers[d.current]; up.haveSR {
				d.sstats.SetReference(up.srNTP, up.srRTP+d.tsOffset, up.srTime)
			}
			if sr == nil {
				sr = l.slot()
			}
			sr = d.sstats.AppendSenderReport(sr, d.ssrc, now, wall, d.src.clockRate)
			if len(sr) > maxCompoundRTCP-srSize {
				l.sendRTCP(t, sr)
				sr = nil
			}
		}
		if len(sr) > 0 {
			l.sendRTCP(t, sr)
		}
		for _, d := range t.ls.downsByID {
			if d.src == nil {
				continue
			}
			if d.target >= 0 && d.current != d.target && d.src.kind == KindVideo && d.pliRetries < maxPLIRetries {
				d.pliRetries++
				l.requestKeyframe(d.src.layers[d.target], now, false)
			}
		}
	}
}
