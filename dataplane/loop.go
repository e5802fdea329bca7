package dataplane

import (
	"encoding/binary"
	"net/netip"
	"slices"
	"time"

	"github.com/hayate-sfu/hayate/dataplane/feedback"
	"github.com/hayate-sfu/hayate/dataplane/icelite"
	"github.com/hayate-sfu/hayate/dataplane/media"
	"github.com/hayate-sfu/hayate/dataplane/netio"
	"github.com/hayate-sfu/hayate/ringbuf"
	"github.com/pion/rtcp"
	"github.com/pion/rtp"
	"github.com/pion/srtp/v3"
)

// History of sent video per upstream track, for NACK answers: 1024 packets
// is about 3 s of 2.5 Mb/s video.
const (
	historySlots   = 1024
	maxPacketBytes = 1500
	// egressBatch bounds the datagrams queued before a sendmmsg flush.
	egressBatch = 256
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
	if len(b) == 0 {
		return
	}
	if l.en == len(l.egress) {
		l.flush()
	}
	m := &l.egress[l.en]
	if &b[0] != &m.Buf[:1][0] {
		if len(b) > cap(m.Buf) {
			l.p.counters.SendErrors.Add(1)
			return
		}
		copy(m.Buf[:len(b)], b)
	}
	m.N = len(b)
	m.Addr = to
	l.en++
}

// flush hands the queued egress to the wire. With GSO the messages are
// first grouped by destination (stable: each subscriber's order is kept), so a
// fan-out of several packets becomes one super-packet per subscriber.
func (l *loopState) flush() {
	if l.en == 0 {
		return
	}
	ms := l.egress[:l.en]
	if l.groupByDestination && len(ms) > 1 {
		slices.SortStableFunc(ms, func(a, b netio.Message) int { return a.Addr.Compare(b.Addr) })
	}
	l.wire(ms)
	l.en = 0
}

// loopState is everything the media loop owns. Only the loop goroutine (and
// commands, which run on it) touches it; no locks.
type loopState struct {
	p *plane
	// wire sends a batch of egress messages (netio.Conn.WriteBatch; a fake in tests).
	wire   func(ms []netio.Message)
	egress []netio.Message
	// groupByDestination sorts each flush by address (worth it with GSO).
	groupByDestination bool
	en                 int // egress messages filled
	stun               icelite.Responder
	byUfrag            map[string]*transport
	byAddr             map[netip.AddrPort]*transport
	transports         map[*transport]struct{}
	tracks             map[string]*upTrack // every published track by TrackID

	// Scratch, reused for every packet.
	hdr     rtp.Header
	rtcpHdr rtcp.Header
	seqs    []uint16
	ssrcs   []uint32
	reports []rtcp.ReceptionReport

	lastTWCC, lastReport int64
}

func newLoopState(p *plane) *loopState {
	return &loopState{
		p:          p,
		byUfrag:    map[string]*transport{},
		byAddr:     map[netip.AddrPort]*transport{},
		transports: map[*transport]struct{}{},
		tracks:     map[string]*upTrack{},
		egress:     netio.NewMessages(egressBatch),
		seqs:       make([]uint16, 0, 256),
		ssrcs:      make([]uint32, 0, 16),
		reports:    make([]rtcp.ReceptionReport, 0, 31),
	}
}

// upTrack is a published track (one upstream m-section).
type upTrack struct {
	id        string
	owner     *transport
	kind      Kind
	mid       string
	ssrc      uint32
	rtxSSRC   uint32
	pt, rtxPT uint8
	clockRate uint32
	codec     media.Codec
	downs     []*downTrack
	history   *ringbuf.History
	rstats    *feedback.ReceiverStats
	nack      *feedback.NACKTracker
	lastPLI   int64
	// Sender report of the publisher, for SR translation to subscribers.
	srNTP  uint64
	srRTP  uint32
	srTime int64
	haveSR bool
}

// downTrack is one subscriber's copy of an upTrack.
type downTrack struct {
	srcID      string
	src        *upTrack // nil while the source is gone
	owner      *transport
	mid        string
	ssrc       uint32
	rtxSSRC    uint32
	rtxSeq     uint16
	sstats     feedback.SenderStats
	needKey    bool
	pliRetries int
	sentAny    bool
}

func (l *loopState) installSRTP(t *transport, rx, tx *srtp.Context) {
	if t.ls.gone {
		return
	}
	t.ls.rx, t.ls.tx = rx, tx
	t.ls.connected = true
	now := l.p.now()
	for _, d := range t.ls.downsByID {
		if d.src != nil && d.needKey {
			l.requestKeyframe(d.src, now, false)
		}
	}
}

func (l *loopState) addUpstream(t *transport, u Upstream) {
	if t.ls.gone {
		return
	}
	if old := t.ls.upsByID[u.TrackID]; old != nil {
		l.removeUpstream(t, u.TrackID)
	}
	c, _ := CodecByPayloadType(u.PayloadType)
	up := &upTrack{
		id: u.TrackID, owner: t, kind: u.Kind, mid: u.Mid, ssrc: u.SSRC, rtxSSRC: u.RTXSSRC,
		pt: u.PayloadType, rtxPT: c.RTXPayloadType, clockRate: u.ClockRate, codec: media.ParseCodec(c.Name),
	}
	if up.clockRate == 0 {
		up.clockRate = c.ClockRate
	}
	if u.SSRC != 0 {
		up.rstats = feedback.NewReceiverStats(u.SSRC, up.clockRate)
	}
	if u.Kind == KindVideo {
		up.history = ringbuf.NewHistory(historySlots, maxPacketBytes)
		up.nack = feedback.NewNACKTracker(512)
	}
	t.ls.upsByID[u.TrackID] = up
	if u.Mid != "" {
		t.ls.upsByMid[u.Mid] = up
	}
	if u.SSRC != 0 {
		t.ls.ups[u.SSRC] = up
	}
	if u.RTXSSRC != 0 {
		t.ls.ups[u.RTXSSRC] = up
	}
	l.tracks[u.TrackID] = up
	// Subscribers that asked for this track before it was published.
	for other := range l.transports {
		for _, d := range other.ls.downsByID {
			if d.srcID == u.TrackID && d.src == nil {
				d.src = up
				d.needKey = true
				up.downs = append(up.downs, d)
			}
		}
	}
}

func (l *loopState) removeUpstream(t *transport, id string) {
	up := t.ls.upsByID[id]
	if up == nil {
		return
	}
	delete(t.ls.upsByID, id)
	if t.ls.upsByMid[up.mid] == up {
		delete(t.ls.upsByMid, up.mid)
	}
	for k, v := range t.ls.ups {
		if v == up {
			delete(t.ls.ups, k)
		}
	}
	if l.tracks[id] == up {
		delete(l.tracks, id)
	}
	for _, d := range up.downs {
		d.src = nil
	}
	up.downs = nil
}

func (l *loopState) addDownstream(t *transport, d Downstream) error {
	if t.ls.gone {
		return ErrClosed
	}
	if old := t.ls.downsByID[d.TrackID]; old != nil {
		l.removeDownstream(t, d.TrackID)
	}
	dt := &downTrack{srcID: d.TrackID, owner: t, mid: d.Mid, ssrc: d.SSRC, rtxSSRC: d.RTXSSRC, needKey: true}
	t.ls.downsByID[d.TrackID] = dt
	t.ls.downs[d.SSRC] = dt
	if d.RTXSSRC != 0 {
		t.ls.downs[d.RTXSSRC] = dt
	}
	if up := l.tracks[d.TrackID]; up != nil {
		dt.src = up
		up.downs = append(up.downs, dt)
		if t.ls.connected {
			l.requestKeyframe(up, l.p.now(), false)
		}
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
	for id := range t.ls.upsByID {
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
	ls.lastSeen = now
	t.packetsIn.Add(1)
	t.bytesIn.Add(uint64(len(b)))
	if from != ls.selected && ls.selected.IsValid() {
		// Media on an authenticated but unselected pair: fine, keep the selection.
		_ = from
	}
	ssrc := media.SSRC(pkt)
	up := ls.ups[ssrc]
	if up == nil {
		up = l.bindBySDES(t, pkt)
		if up == nil {
			l.p.counters.UnknownSSRC.Add(1)
			return
		}
	}
	if ls.transportCC {
		if off, n, ok := media.FindExtension(pkt, ExtTransportCC); ok && n == 2 {
			ls.twcc.OnPacket(ssrc, binary.BigEndian.Uint16(pkt[off:]), now)
		}
	}
	if ssrc == up.rtxSSRC && up.rtxSSRC != 0 {
		orig, ok := media.UnwrapRTX(pkt, up.ssrc, up.pt)
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
		up.rstats = feedback.NewReceiverStats(up.ssrc, up.clockRate)
	}
	seq := media.Seq(pkt)
	up.rstats.OnPacket(seq, media.Timestamp(pkt), now)
	if up.nack != nil {
		up.nack.OnPacket(seq, now)
	}
	if up.history != nil {
		up.history.Put(seq, pkt)
	}
	keyframe := false
	if up.kind == KindVideo && len(up.downs) > 0 {
		if payload, ok := media.Payload(pkt); ok {
			keyframe = media.IsKeyframe(up.codec, payload)
		}
	}
	for _, d := range up.downs {
		l.forward(d, pkt, keyframe, now)
	}
}

// bindBySDES learns an upstream SSRC from the MID extension of its first packet.
func (l *loopState) bindBySDES(t *transport, pkt []byte) *upTrack {
	off, n, ok := media.FindExtension(pkt, ExtMid)
	if !ok {
		return nil
	}
	up := t.ls.upsByMid[string(pkt[off:off+n])]
	if up == nil {
		return nil
	}
	ssrc := media.SSRC(pkt)
	if up.rtxPT != 0 && media.PayloadType(pkt) == up.rtxPT {
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

// forward sends one decrypted upstream packet to one subscriber: copy into
// the loop's scratch buffer, rewrite SSRC and transport-wide sequence, strip
// MID (the subscriber demuxes by the signalled a=ssrc), encrypt in place.
func (l *loopState) forward(d *downTrack, pkt []byte, keyframe bool, now int64) {
	dst := d.owner
	if !dst.ls.connected || !dst.ls.selected.IsValid() {
		return
	}
	if d.needKey && !keyframe && d.src.kind == KindVideo && !d.sentAny {
		// Nothing decodable before the first keyframe; waiting saves bandwidth.
		if now-d.src.lastPLI > int64(pliInterval) {
			l.requestKeyframe(d.src, now, false)
		}
		return
	}
	if keyframe {
		d.needKey = false
	}
	out := append(l.slot(), pkt...)
	media.SetSSRC(out, d.ssrc)
	l.prepareHeader(dst, out)
	d.sentAny = true
	d.sstats.OnSent(media.Timestamp(out), len(out), now)
	l.encryptAndSend(dst, out)
}

// prepareHeader stamps the subscriber transport's TWCC sequence and removes MID.
func (l *loopState) prepareHeader(dst *transport, out []byte) {
	media.ClearExtension(out, ExtMid)
	if off, n, ok := media.FindExtension(out, ExtTransportCC); ok && n == 2 {
		if dst.ls.transportCC {
			binary.BigEndian.PutUint16(out[off:], dst.ls.twccSeq)
			dst.ls.twccSeq++
		} else {
			media.ClearExtension(out, ExtTransportCC)
		}
	}
}

func (l *loopState) encryptAndSend(dst *transport, out []byte) {
	enc, err := dst.ls.tx.EncryptRTP(out, out, &l.hdr)
	if err != nil {
		return
	}
	dst.packetsOut.Add(1)
	dst.bytesOut.Add(uint64(len(enc)))
	l.commit(enc, dst.ls.selected)
}

func (l *loopState) sendRTCP(t *transport, plain []byte) {
	if t.ls.tx == nil || !t.ls.selected.IsValid() || len(plain) == 0 {
		return
	}
	enc, err := t.ls.tx.EncryptRTCP(plain, plain, &l.rtcpHdr)
	if err != nil {
		return
	}
	t.packetsOut.Add(1)
	t.bytesOut.Add(uint64(len(enc)))
	l.commit(enc, t.ls.selected)
}

// requestKeyframe sends a PLI to the publisher of up, at most one per
// pliInterval unless forced (API).
func (l *loopState) requestKeyframe(up *upTrack, now int64, force bool) {
	if up.ssrc == 0 || up.kind != KindVideo {
		return
	}
	if !force && up.lastPLI != 0 && now-up.lastPLI < int64(pliInterval) {
		return
	}
	up.lastPLI = now
	l.sendRTCP(up.owner, feedback.AppendPLI(l.slot(), up.owner.rtcpSSRC, up.ssrc))
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
	ls.lastSeen = now
	t.packetsIn.Add(1)
	t.bytesIn.Add(uint64(len(b)))
	it := feedback.NewIter(pkt)
	for it.Next() {
		switch it.Type() {
		case rtcpTypePSFB:
			switch it.Format() {
			case 1: // PLI
				t.plisIn.Add(1)
				if d := ls.downs[it.MediaSSRC()]; d != nil && d.src != nil {
					l.requestKeyframe(d.src, now, false)
				}
			case 4: // FIR: the media SSRCs are in the FCI entries
				l.ssrcs = it.AppendFIRSSRCs(l.ssrcs[:0])
				for _, s := range l.ssrcs {
					if d := ls.downs[s]; d != nil && d.src != nil {
						t.plisIn.Add(1)
						l.requestKeyframe(d.src, now, false)
					}
				}
			}
		case rtcpTypeRTPFB:
			if it.Format() == 1 { // generic NACK
				t.nacksIn.Add(1)
				d := ls.downs[it.MediaSSRC()]
				if d == nil || d.src == nil || d.src.history == nil {
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

// retransmit answers a NACK from the history: RTX when negotiated (RFC 4588),
// never the primary SSRC, whose (SSRC, index) would repeat a GCM nonce with
// different bytes (RFC 7714 §8.1).
func (l *loopState) retransmit(d *downTrack, seq uint16) {
	if d.rtxSSRC == 0 || d.src.rtxPT == 0 {
		return
	}
	orig, ok := d.src.history.Get(seq)
	if !ok {
		return
	}
	out, ok := media.AppendRTX(l.slot(), orig, d.rtxSSRC, d.rtxSeq, d.src.rtxPT)
	if !ok {
		return
	}
	d.rtxSeq++
	l.prepareHeader(d.owner, out)
	d.owner.retransmits.Add(1)
	l.encryptAndSend(d.owner, out)
}

// tick runs the periodic duties: NACKs every tick, TWCC feedback every
// twccInterval, reports and liveness every reportInterval.
func (l *loopState) tick(now int64) {
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
		for _, up := range ls.upsByID {
			if up.nack == nil || up.ssrc == 0 {
				continue
			}
			l.seqs = up.nack.AppendMissing(l.seqs[:0], now)
			if len(l.seqs) > 0 {
				l.sendRTCP(t, feedback.AppendNACK(l.slot(), t.rtcpSSRC, up.ssrc, l.seqs))
			}
		}
	}
	if now-l.lastTWCC >= int64(twccInterval) {
		l.lastTWCC = now
		for t := range l.transports {
			if t.ls.connected && t.ls.transportCC && len(t.ls.upsByID) > 0 {
				l.sendRTCP(t, t.ls.twcc.AppendFeedback(l.slot()))
			}
		}
	}
	if now-l.lastReport >= int64(reportInterval) {
		l.lastReport = now
		l.reportsAndRetries(now)
	}
}

func (l *loopState) reportsAndRetries(now int64) {
	wall := feedback.NTP(time.Now())
	for t := range l.transports {
		if !t.ls.connected {
			continue
		}
		l.reports = l.reports[:0]
		for _, up := range t.ls.upsByID {
			if up.rstats != nil && up.rstats.Received() > 0 && len(l.reports) < 31 {
				l.reports = append(l.reports, up.rstats.Report(now))
			}
		}
		if len(l.reports) > 0 {
			l.sendRTCP(t, feedback.AppendReceiverReport(l.slot(), t.rtcpSSRC, l.reports))
		}
		for _, d := range t.ls.downsByID {
			if d.src == nil {
				continue
			}
			if d.sentAny {
				if d.src.haveSR {
					d.sstats.SetReference(d.src.srNTP, d.src.srRTP, d.src.srTime)
				}
				l.sendRTCP(t, d.sstats.AppendSenderReport(l.slot(), d.ssrc, now, wall, d.src.clockRate))
			}
			if d.needKey && d.src.kind == KindVideo && d.pliRetries < maxPLIRetries {
				d.pliRetries++
				l.requestKeyframe(d.src, now, false)
			}
		}
	}
}
