package load

import (
	"cmp"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/pion/interceptor"
	"github.com/pion/interceptor/pkg/nack"
	"github.com/pion/interceptor/pkg/report"
	"github.com/pion/rtcp"
	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"

	"github.com/hayate-sfu/hayate/bench/soraclient"
)

const (
	// connectTimeout bounds one client's Connect.
	connectTimeout = 30 * time.Second
	// grace is the wait after the window for its last packets to arrive.
	grace = 300 * time.Millisecond
	// memSettle is how long the first clients' media flows before memory
	// is read for the subscribers that join next. Read at once, their
	// transports still hold their DTLS state (released at a client's first
	// SRTCP, or after 3 s for one that sends none, as the load clients),
	// and a publisher's packet history is still growing (Hayate keeps 2 s
	// of each video layer): the one missing, the other charged to the
	// subscribers that join next.
	memSettle = 3 * time.Second
	// idleWindow is how long the server's CPU and allocations are read with
	// the media paused: one signaling ping interval (Hayate's default 5 s), so
	// each client's ping, pong and stats report falls in it once, as in the
	// window.
	idleWindow = 5 * time.Second
	// closeConcurrency bounds the clients closed at once.
	closeConcurrency = 32
	// drainTimeout bounds the wait for the client goroutines at teardown.
	drainTimeout = 15 * time.Second
	// mtu is the receive buffer of one packet.
	mtu = 1600
)

// Publisher phases.
const (
	phaseWarm     int32 = iota // send, not counted
	phaseMeasured              // send and count (the window)
	phasePaused                // send nothing (after the window)
)

// member is one planned client.
type member struct {
	role         string // sendrecv, sendonly or recvonly
	audio, video bool
	expect       int // streams it should receive
	// audioFans and videoFans are how many members receive its audio and
	// video stream.
	audioFans, videoFans int
	// channel, when set, is the member's own channel (join scenario with
	// JoinChannelSize); empty means the session's.
	channel string
}

func (m member) sends() bool    { return m.role != "recvonly" }
func (m member) receives() bool { return m.role != "sendonly" }

// plan returns the scenario's clients in join groups: a group joins after
// the previous one has connected.
func plan(o Options) (channel string, groups [][]member) {
	rep := func(n int, m member) []member {
		out := make([]member, n)
		for i := range out {
			out[i] = m
		}
		return out
	}
	switch o.Scenario {
	case ScenarioMesh:
		channel = "load-mesh"
		groups = [][]member{rep(o.Subs, member{role: "sendrecv", audio: true, video: true})}
	case ScenarioAudio:
		channel = "load-audio"
		groups = [][]member{
			rep(o.Speakers, member{role: "sendrecv", audio: true}),
			rep(o.Subs-o.Speakers, member{role: "recvonly", audio: true}),
		}
	case ScenarioJoin:
		channel = "load-join"
		g := rep(o.Subs, member{role: "recvonly", audio: true, video: true})
		if o.JoinChannelSize > 0 {
			for i := range g {
				g[i].channel = fmt.Sprintf("%s-%d", channel, i/o.JoinChannelSize)
			}
		}
		groups = [][]member{g}
	default:
		channel = "load-fanout"
		groups = [][]member{
			{{role: "sendonly", audio: true, video: true}},
			rep(o.Subs, member{role: "recvonly", audio: true, video: true}),
		}
	}
	if o.Scenario == ScenarioJoin {
		return channel, groups
	}
	// Every stream goes to every other member that receives its kind.
	var all []*member
	for g := range groups {
		for i := range groups[g] {
			all = append(all, &groups[g][i])
		}
	}
	for _, r := range all {
		for _, p := range all {
			if p == r || !p.sends() || !r.receives() {
				continue
			}
			if p.audio && r.audio {
				r.expect++
				p.audioFans++
			}
			if p.video && r.video {
				r.expect++
				p.videoFans++
			}
		}
	}
	return channel, splitLast(groups)
}

// splitLast splits a last group of receive-only clients (fanout's
// subscribers, audio's listeners) into its first fifth and the rest, so
// that memory is read with media flowing to some subscribers and again with
// all of them: the difference is what one more subscriber costs, without the
// server's one-time growth (JIT-compiled codecs, pools, buffers) that the
// first clients bring.
func splitLast(groups [][]member) [][]member {
	n := len(groups)
	if n == 0 || len(groups[n-1]) < 5 {
		return groups
	}
	last := groups[n-1]
	for _, m := range last {
		if m.sends() {
			return groups // mesh: early members would wait for streams of later ones
		}
	}
	k := len(last) / 5
	return append(groups[:n-1:n-1], last[:k], last[k:])
}

// stream is one publisher track. The publisher goroutine owns the packet
// fields; the counters are atomic.
type stream struct {
	id        uint16
	kind      webrtc.RTPCodecType
	track     *webrtc.TrackLocalStaticRTP
	receivers int // how many members receive it

	pkt rtp.Packet
	buf []byte
	seq uint16
	ts  uint32
	n   int // frames (video) or packets (audio) written

	keyReq atomic.Bool  // a PLI or FIR arrived
	sent   atomic.Int64 // packets written inside the window

	// tx is when the publisher's socket sent each of its RTP datagrams
	// (by SSRC and the stamp's sequence number); ssrc is this stream's.
	tx   *pktTimes
	ssrc uint32
}

// receiver is one client's receiving side.
type receiver struct {
	client *soraclient.Client
	expect int
	seen   atomic.Int32 // tracks that delivered a load packet
	got    atomic.Int64 // packets sent inside the window and received
	hist   histogram    // send → the reader has the decrypted packet
	// rx is when the client's socket received each packet (kernel time);
	// sockHist is from the publisher's socket (the datagram handed to the
	// kernel) to that time: what the server and two loopback hops added.
	rx       *pktTimes
	sockHist histogram
}

// session is one server under load: its clients, streams and counters.
type session struct {
	o       Options
	c       *child
	channel string
	epoch   time.Time
	phase   atomic.Int32
	log     *slog.Logger

	stop     chan struct{} // ends the publishers and the track acceptors
	stopOnce sync.Once
	wg       sync.WaitGroup

	mu        sync.Mutex
	clients   []*soraclient.Client
	streams   []*stream
	receivers []*receiver
}

func newSession(o Options, c *child, channel string) *session {
	return &session{
		o:       o,
		c:       c,
		channel: channel,
		epoch:   time.Now(),
		log:     slog.New(slog.NewTextHandler(o.Log, &slog.HandlerOptions{Level: slog.LevelWarn})).With("side", "load client", "server", c.spec.kind.String()),
		stop:    make(chan struct{}),
	}
}

// now is monotonic ns since the session's epoch, the clock of every stamp.
func (s *session) now() int64 { return time.Since(s.epoch).Nanoseconds() }

// What every load client shares, made once per process: a browser makes a
// DTLS certificate and a throwaway offer (connect.sdp) for each connection,
// which the server never sees being made; on this machine the clients' CPU
// is taken from the server's, most of all while hundreds join at once. The
// handshake itself (ECDHE, the certificate's signature checked by the
// server) is still each client's own. The two offers differ in the
// rtcp-fb lines of their interceptors.
var (
	sharedCert = sync.OnceValues(func() ([]webrtc.Certificate, error) {
		key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			return nil, err
		}
		cert, err := webrtc.GenerateCertificate(key)
		if err != nil {
			return nil, err
		}
		return []webrtc.Certificate{*cert}, nil
	})
	publisherHint  = sync.OnceValues(func() (string, error) { return throwawayOffer(publisherInterceptors) })
	subscriberHint = sync.OnceValues(func() (string, error) { return throwawayOffer(subscriberInterceptors) })
)

func throwawayOffer(ic func(*webrtc.MediaEngine, *interceptor.Registry) error) (string, error) {
	certs, err := sharedCert()
	if err != nil {
		return "", err
	}
	return soraclient.ThrowawayOffer(soraclient.Config{Interceptors: ic, Certificates: certs})
}

// publisherInterceptors answer the server's NACKs and send sender reports;
// nothing runs on received packets.
func publisherInterceptors(m *webrtc.MediaEngine, r *interceptor.Registry) error {
	resp, err := nack.NewResponderInterceptor()
	if err != nil {
		return err
	}
	m.RegisterFeedback(webrtc.RTCPFeedback{Type: "nack"}, webrtc.RTPCodecTypeVideo)
	m.RegisterFeedback(webrtc.RTCPFeedback{Type: "nack", Parameter: "pli"}, webrtc.RTPCodecTypeVideo)
	r.Add(resp)
	sr, err := report.NewSenderInterceptor()
	if err != nil {
		return err
	}
	r.Add(sr)
	return nil
}

// subscriberInterceptors is no interceptor at all: a subscriber only counts
// what arrives, and asks for nothing again.
func subscriberInterceptors(*webrtc.MediaEngine, *interceptor.Registry) error { return nil }

// joinAll connects ms, at most o.Concurrency at once. took, when not nil,
// receives each connect's duration (in no order).
func (s *session) joinAll(ctx context.Context, ms []member, took *[]time.Duration) error {
	sem := make(chan struct{}, s.o.Concurrency)
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		first error
		durs  []time.Duration
	)
	for _, m := range ms {
		mu.Lock()
		failed := first != nil
		mu.Unlock()
		if failed || ctx.Err() != nil {
			break
		}
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			start := time.Now()
			err := s.join(ctx, m)
			d := time.Since(start)
			mu.Lock()
			defer mu.Unlock()
			if err != nil && first == nil {
				first = err
			}
			if err == nil {
				durs = append(durs, d)
			}
		})
	}
	wg.Wait()
	if took != nil {
		*took = append(*took, durs...)
	}
	if first == nil {
		first = ctx.Err()
	}
	return first
}

// join connects one member and starts its publisher and receiver.
func (s *session) join(ctx context.Context, m member) error {
	var vs, as *stream
	s.mu.Lock()
	if m.sends() {
		if m.video {
			vs = &stream{kind: webrtc.RTPCodecTypeVideo, buf: make([]byte, s.o.VideoSize), receivers: m.videoFans}
		}
		if m.audio {
			as = &stream{kind: webrtc.RTPCodecTypeAudio, buf: make([]byte, s.o.AudioSize), receivers: m.audioFans}
		}
		for _, st := range []*stream{as, vs} {
			if st != nil {
				st.id = uint16(len(s.streams))
				st.pkt.Header.Version = 2
				s.streams = append(s.streams, st)
			}
		}
	}
	s.mu.Unlock()

	rx, tx := newPktTimes(s.epoch), newPktTimes(s.epoch)
	cn, err := newClientNet(rx, tx, !s.o.NoClientGRO)
	if err != nil {
		return fmt.Errorf("%w: client sockets: %w", ErrClients, err)
	}
	se := soraclient.LoopbackSettingEngine()
	se.SetNet(cn)
	certs, err := sharedCert()
	if err != nil {
		return fmt.Errorf("%w: client certificate: %w", ErrClients, err)
	}
	hint := subscriberHint
	if m.sends() {
		hint = publisherHint
	}
	connectSDP, err := hint()
	if err != nil {
		return fmt.Errorf("%w: connect offer: %w", ErrClients, err)
	}
	cfg := soraclient.Config{
		Certificates:  certs,
		ConnectSDP:    connectSDP,
		SettingEngine: se,
		SignalingURL:  s.c.signaling,
		ChannelID:     cmp.Or(m.channel, s.channel),
		Role:          m.role,
		Audio:         m.audio,
		Video:         m.video,
		Interceptors:  subscriberInterceptors,
		Logger:        s.log,
	}
	if m.video {
		cfg.VideoCodec = "VP8"
	}
	if m.sends() {
		cfg.Interceptors = publisherInterceptors
		if vs != nil {
			cfg.OnSenderRTCP = func(kind webrtc.RTPCodecType, pkts []rtcp.Packet) {
				if kind != webrtc.RTPCodecTypeVideo {
					return
				}
				for _, p := range pkts {
					switch p.(type) {
					case *rtcp.PictureLossIndication, *rtcp.FullIntraRequest:
						vs.keyReq.Store(true)
					}
				}
			}
		}
	}
	cctx, cancel := context.WithTimeout(ctx, connectTimeout)
	defer cancel()
	cl, err := soraclient.Connect(cctx, cfg)
	if err != nil {
		if aerr := s.c.alive(); aerr != nil {
			return aerr
		}
		return fmt.Errorf("%w: %s client: %w", ErrClients, m.role, err)
	}
	s.mu.Lock()
	s.clients = append(s.clients, cl)
	s.mu.Unlock()

	if m.receives() && s.o.Scenario != ScenarioJoin {
		r := &receiver{client: cl, expect: m.expect, rx: rx}
		s.mu.Lock()
		s.receivers = append(s.receivers, r)
		s.mu.Unlock()
		s.wg.Add(1)
		go s.accept(r)
	}
	if m.sends() && s.o.Scenario != ScenarioJoin {
		for _, st := range []*stream{as, vs} {
			if st != nil {
				st.track = cl.LocalTrack(st.kind)
				if st.track == nil {
					return fmt.Errorf("%w: the %s client has no local %s track", ErrClients, m.role, st.kind)
				}
				if snd := cl.Sender(st.kind); snd != nil {
					if enc := snd.GetParameters().Encodings; len(enc) > 0 {
						s.mu.Lock()
						st.tx, st.ssrc = tx, uint32(enc[0].SSRC)
						s.mu.Unlock()
					}
				}
			}
		}
		s.wg.Add(1)
		go s.publish(vs, as)
	}
	return nil
}

// accept starts a reader for every remote track of r.
func (s *session) accept(r *receiver) {
	defer s.wg.Done()
	for {
		select {
		case tr := <-r.client.Tracks():
			s.wg.Add(1)
			go s.read(r, tr)
		case <-s.stop:
			return
		}
	}
}

// read counts one remote track's load packets until the client closes.
func (s *session) read(r *receiver, tr *webrtc.TrackRemote) {
	defer s.wg.Done()
	buf := make([]byte, mtu)
	first := true
	for {
		n, _, err := tr.Read(buf)
		if err != nil {
			return
		}
		st, ok := ReadStamp(buf[:n])
		if !ok {
			continue
		}
		if first {
			first = false
			r.seen.Add(1)
		}
		if st.Measured {
			r.got.Add(1)
			r.hist.record(s.now() - st.SentNs)
			// The header is as the server sent it (SRTP leaves it in the
			// clear); the stamp names the publisher's stream and sequence.
			if at, ok := r.rx.lookup(binary.BigEndian.Uint32(buf[8:12]), binary.BigEndian.Uint16(buf[2:4])); ok {
				if sentAt, ok := s.sentAt(st); ok {
					r.sockHist.record(max(0, at-sentAt))
				}
			}
		}
	}
}

// sentAt is when the publisher's socket sent the packet stamped st.
func (s *session) sentAt(st Stamp) (int64, bool) {
	s.mu.Lock()
	if int(st.Stream) >= len(s.streams) {
		s.mu.Unlock()
		return 0, false
	}
	str := s.streams[st.Stream]
	tx, ssrc := str.tx, str.ssrc
	s.mu.Unlock()
	if tx == nil {
		return 0, false
	}
	return tx.lookup(ssrc, st.Seq)
}

// publish writes paced RTP on a member's streams until the session stops:
// video as frames of packetsPerFrame back-to-back packets (a keyframe every
// second and after every PLI), audio one packet per tick.
func (s *session) publish(vs, as *stream) {
	defer s.wg.Done()
	ppf := min(packetsPerFrame, s.o.VideoPPS)
	fps := max(1, s.o.VideoPPS/ppf)
	var videoTick, audioTick <-chan time.Time
	if vs != nil {
		t := time.NewTicker(time.Second / time.Duration(fps))
		defer t.Stop()
		videoTick = t.C
	}
	if as != nil {
		t := time.NewTicker(time.Second / time.Duration(s.o.AudioPPS))
		defer t.Stop()
		audioTick = t.C
	}
	for {
		select {
		case <-s.stop:
			return
		case <-videoTick:
			ph := s.phase.Load()
			if ph == phasePaused {
				continue
			}
			key := vs.n%fps == 0 || vs.keyReq.Swap(false)
			vs.n++
			vs.ts += uint32(90000 / fps)
			for i := range ppf {
				head := vp8Continuation
				if i == 0 {
					head = vp8InterframeStart
					if key {
						head = vp8KeyframeStart
					}
				}
				s.write(vs, head, i == ppf-1, ph == phaseMeasured)
			}
		case <-audioTick:
			ph := s.phase.Load()
			if ph == phasePaused {
				continue
			}
			as.n++
			as.ts += uint32(48000 / s.o.AudioPPS)
			s.write(as, opusStart, true, ph == phaseMeasured)
		}
	}
}

// write sends one packet of st.
func (s *session) write(st *stream, head []byte, marker, measured bool) {
	fillPayload(st.buf, head)
	putStamp(st.buf, Stamp{Stream: st.id, Seq: st.seq, Measured: measured, SentNs: s.now()})
	st.pkt.Header.SequenceNumber = st.seq
	st.pkt.Header.Timestamp = st.ts
	st.pkt.Header.Marker = marker
	st.pkt.Payload = st.buf
	st.seq++
	if err := st.track.WriteRTP(&st.pkt); err == nil && measured {
		st.sent.Add(1)
	}
}

// waitReady waits until every receiver got a load packet on every stream
// it expects, or until deadline; it returns how many are incomplete.
func (s *session) waitReady(ctx context.Context, deadline time.Time) (int, error) {
	for {
		incomplete := 0
		s.mu.Lock()
		for _, r := range s.receivers {
			if int(r.seen.Load()) < r.expect {
				incomplete++
			}
		}
		s.mu.Unlock()
		if incomplete == 0 || time.Now().After(deadline) {
			return incomplete, nil
		}
		if err := s.c.alive(); err != nil {
			return incomplete, err
		}
		select {
		case <-ctx.Done():
			return incomplete, ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// sleep waits d or until ctx ends.
func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// window runs the measured window and fills m's packet, CPU, latency and
// allocation figures.
func (s *session) window(ctx context.Context, m *Measurement) error {
	// What the server burns with every client joined and no media: its
	// floor, which dominates the per-packet figure at low rates.
	s.phase.Store(phasePaused)
	if err := sleep(ctx, grace); err != nil {
		return err
	}
	ia, errIA := s.c.mallocs(ctx)
	ib, errIB := s.c.mallocs(ctx)
	idle0, err := s.c.cpu()
	if err != nil {
		return err
	}
	if err := sleep(ctx, idleWindow); err != nil {
		return err
	}
	idle1, err := s.c.cpu()
	if err != nil {
		return err
	}
	ic, errIC := s.c.mallocs(ctx)
	m.IdleCPU = time.Duration(float64(idle1-idle0) * float64(time.Second) / float64(idleWindow))
	m.IdleMallocs = -1
	if errIA == nil && errIB == nil && errIC == nil {
		m.IdleMallocs = max(0, (ic-ib)-(ib-ia)) / idleWindow.Seconds()
	}
	s.phase.Store(phaseWarm)
	name := s.c.spec.kind.String()
	if s.o.ProfileDir != "" {
		// The window's allocation profile is the difference of two taken
		// here and after the window (this one the base of go tool pprof
		// -base).
		if err := s.fetchAllocs(ctx, name+"-allocs-base.pprof"); err != nil {
			fmt.Fprintf(s.o.Log, "# profile: %v\n", err) // as for the other profiles: the run goes on
		}
	}
	if err := sleep(ctx, grace); err != nil {
		return err
	}

	fd0, fdErr := s.c.forwardDelay(ctx)
	// Two reads back to back price one read, whose allocations the later
	// delta then leaves out; nothing else asks the server anything between
	// b and c (the /metrics scrapes are outside).
	a, errA := s.c.mallocs(ctx)
	b, errB := s.c.mallocs(ctx)
	cpu0, err := s.c.cpu()
	if err != nil {
		return err
	}
	u0, k0, usErr := s.c.userSys()
	var prof chan error
	if s.o.ProfileDir != "" {
		// The CPU profile covers the window's whole seconds, up to a minute.
		secs := max(1, min(60, int(s.o.Duration/time.Second)))
		prof = make(chan error, 1)
		go func() {
			prof <- s.fetchProfile(ctx, fmt.Sprintf("/debug/pprof/profile?seconds=%d", secs), name+"-cpu.pprof")
		}()
	}
	self0 := selfCPU()
	s.phase.Store(phaseMeasured)
	t0 := time.Now()
	werr := sleep(ctx, s.o.Duration)
	s.phase.Store(phasePaused)
	m.Window = time.Since(t0)
	if werr == nil {
		werr = sleep(ctx, grace)
	}
	cpu1, err := s.c.cpu()
	if err != nil {
		return err
	}
	c, errC := s.c.mallocs(ctx)
	m.ServerDelayP99 = -1
	if fd1, err := s.c.forwardDelay(ctx); err == nil && fdErr == nil && fd1 != nil {
		m.ServerDelayP99 = quantileBound(fd0, fd1, 0.99)
	}
	m.KernelShare = -1
	if u1, k1, err := s.c.userSys(); err == nil && usErr == nil && (u1-u0)+(k1-k0) > 0 {
		m.KernelShare = float64(k1-k0) / float64((u1-u0)+(k1-k0))
	}
	m.ClientCPU = selfCPU() - self0
	if werr != nil {
		return werr
	}
	m.CPU = cpu1 - cpu0
	m.Mallocs = -1
	if errA == nil && errB == nil && errC == nil {
		m.Mallocs = max(0, (c-b)-(b-a))
	}
	if prof != nil {
		if err := <-prof; err != nil {
			fmt.Fprintf(s.o.Log, "# profile: %v\n", err)
		}
		if err := s.fetchAllocs(ctx, name+"-allocs.pprof"); err != nil {
			fmt.Fprintf(s.o.Log, "# profile: %v\n", err)
		}
	}

	var lat, sock latencies
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, st := range s.streams {
		m.Expected += st.sent.Load() * int64(st.receivers)
	}
	for _, r := range s.receivers {
		m.Forwarded += r.got.Load()
		lat.add(&r.hist)
		sock.add(&r.sockHist)
	}
	m.P50, m.P99 = lat.quantile(0.50), lat.quantile(0.99)
	m.SocketP50, m.SocketP99 = sock.quantile(0.50), sock.quantile(0.99)
	m.SocketTimed = sock.n
	return nil
}

// teardown stops the publishers, the server and the clients, and waits for
// the session's goroutines. It returns the server's whole CPU time.
func (s *session) teardown() (time.Duration, error) {
	s.stopOnce.Do(func() { close(s.stop) })
	total, err := s.c.stop()
	s.mu.Lock()
	clients := slices.Clone(s.clients)
	s.mu.Unlock()
	sem := make(chan struct{}, closeConcurrency)
	var wg sync.WaitGroup
	for _, cl := range clients {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			cl.Close()
		})
	}
	wg.Wait()
	done := make(chan struct{})
	go func() {
		s.wg.Wait()
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(drainTimeout):
		err = errors.Join(err, fmt.Errorf("%w: client goroutines still running %v after teardown", ErrClients, drainTimeout))
	}
	return total, err
}

// selfCPU is this process's CPU time (the load clients), 0 if unknown.
func selfCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
