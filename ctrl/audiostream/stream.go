package audiostream

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/netip"
	"strconv"
	"sync"
	"time"
)

// stream is one connection's audio on its way to the gateway: a loopback
// UDP socket the media plane sends the connection's audio to as plain RTP,
// a packetQueue, and one POST whose body is the queue and whose answer is
// read line by line.
//
// Goroutines: the sync goroutine makes it (begin) and stops it (stop;
// Close and fail stop it too); readUDP owns the socket's reads, the
// extender and the queue's put side; post owns the request and the answer.
// The ids never change; failed is guarded by Streams.mu; ssrc is set before
// the goroutines start.
type stream struct {
	s                                *Streams
	channelID, sessionID             string
	connectionID, clientID, language string
	failed                           bool // guarded by Streams.mu

	ssrc     uint32
	stopping chan struct{} // closed by stop
	stopOnce sync.Once

	// Set by begin, released by release; the goroutines start after both
	// are set and read them without the mutex.
	mu          sync.Mutex
	released    bool
	sock        *net.UDPConn
	q           *packetQueue
	stopForward func()

	seq seqExtender // readUDP's
}

// begin opens the stream's socket, has the rooms forward the connection's
// audio to it and starts the POST. Called on the sync goroutine without
// Streams.mu. A stop that comes meanwhile (Close, the connection left) is
// honoured: whatever begin made is released.
func (s *Streams) begin(st *stream) {
	sock, err := net.ListenUDP("udp4", net.UDPAddrFromAddrPort(netip.AddrPortFrom(netip.AddrFrom4([4]byte{127, 0, 0, 1}), 0)))
	if err != nil {
		s.fail(st, fmt.Sprintf("opening a loopback socket for its audio: %v", err))
		return
	}
	st.ssrc = rand.Uint32() | 1 // never 0
	q := newPacketQueue(s.cfg.QueuePackets, func(n int) {
		s.c.packetsSent.Add(1)
		s.c.bytesSent.Add(uint64(n))
	})
	if !st.set(func() { st.sock, st.q = sock, q }) {
		sock.Close()
		return
	}
	stop, err := s.cfg.Rooms.ForwardAudio(st.connectionID, sock.LocalAddr().(*net.UDPAddr).AddrPort(), st.ssrc)
	if errors.Is(err, ErrNoAudio) {
		// Not published yet: the next sync tries again.
		st.release()
		s.drop(st)
		s.log.Debug("audiostream: no audio track yet", "connection_id", st.connectionID)
		return
	}
	if err != nil {
		s.fail(st, fmt.Sprintf("forwarding its audio: %v", err))
		return
	}
	if !st.set(func() { st.stopForward = stop }) {
		stop()
		return
	}
	s.c.started.Add(1)
	s.log.Info("audiostream: stream started", "channel_id", st.channelID, "connection_id", st.connectionID,
		"language_code", st.language)
	s.wg.Add(2)
	go st.readUDP()
	go st.post()
}

// set runs f under the stream's mutex unless the stream was released; it
// reports whether f ran.
func (st *stream) set(f func()) bool {
	st.mu.Lock()
	defer st.mu.Unlock()
	if st.released {
		return false
	}
	f()
	return true
}

// stop ends the stream cleanly: no more audio, the body ends after the
// queued packets, and post gives the gateway Config.StopTimeout to end its
// answer. It does not block; calling it again does nothing.
func (st *stream) stop() {
	st.stopOnce.Do(func() { close(st.stopping) })
	st.release()
}

func (st *stream) isStopping() bool {
	select {
	case <-st.stopping:
		return true
	default:
		return false
	}
}

// release stops the forwarding and the socket and ends the body; what
// begin makes after it is released at once.
func (st *stream) release() {
	st.mu.Lock()
	defer st.mu.Unlock()
	if st.released {
		return
	}
	st.released = true
	if st.stopForward != nil {
		st.stopForward()
	}
	if st.sock != nil {
		st.sock.Close()
	}
	if st.q != nil {
		st.q.close()
	}
}

// fail ends a stream that did not stop on request: counted, logged, and
// told to the channel's subscribers. The stream stays in Streams.streams,
// so that it is not started again before the channel's streaming is
// stopped and started, or the connection comes back.
func (s *Streams) fail(st *stream, reason string) {
	st.release()
	s.c.failed.Add(1)
	s.mu.Lock()
	st.failed = true
	s.mu.Unlock()
	s.log.Warn("audiostream: stream failed", "channel_id", st.channelID, "connection_id", st.connectionID, "reason", reason)
	s.notify(st.channelID, failureData(st.connectionID, "AUDIO-STREAMING-FAILED: "+reason))
}

// notify pushes data to each subscriber of the channel.
func (s *Streams) notify(channelID string, data []byte) {
	for _, id := range s.subscribers(channelID) {
		if err := s.cfg.Rooms.Push(id, data); err != nil {
			s.log.Debug("audiostream: push skipped", "connection_id", id, "err", err)
		}
	}
}

// readUDP moves the forwarded RTP from the socket to the queue until the
// socket is closed.
func (st *stream) readUDP() {
	defer st.s.wg.Done()
	buf := make([]byte, 2048)
	for {
		n, err := st.sock.Read(buf)
		if err != nil {
			return
		}
		st.handle(buf[:n])
	}
}

// handle queues the Opus payload of one datagram, or drops and counts it.
// It does not allocate.
func (st *stream) handle(b []byte) {
	p, err := parseRTP(b)
	if err != nil || p.ssrc != st.ssrc || len(p.payload) == 0 || len(p.payload) > maxPayload {
		st.s.c.packetsDrop.Add(1)
		return
	}
	seq := st.seq.extend(p.seq)
	var at uint64
	if st.s.cfg.Header {
		at = uint64(st.s.cfg.Now().UnixMicro())
	}
	if !st.q.put(st.s.cfg.Header, at, seq, p.payload) {
		st.s.c.packetsDrop.Add(1)
	}
}

// post runs the POST and reads the answer until the stream stops or fails.
func (st *stream) post() {
	s := st.s
	defer s.wg.Done()
	defer st.release()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	// After stop, the gateway has StopTimeout to end its answer.
	watch := make(chan struct{})
	defer close(watch)
	go func() {
		select {
		case <-st.stopping:
		case <-watch:
			return
		}
		t := time.NewTimer(s.cfg.StopTimeout)
		defer t.Stop()
		select {
		case <-watch:
			return
		case <-t.C:
		}
		cancel()
	}()

	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.cfg.URL, st.q)
	if err != nil {
		s.fail(st, fmt.Sprintf("making the request: %v", err))
		return
	}
	h := req.Header
	h.Set("content-type", "application/octet-stream")
	h.Set("sora-channel-id", st.channelID)
	h.Set("sora-session-id", st.sessionID)
	h.Set("sora-connection-id", st.connectionID)
	h.Set("sora-client-id", st.clientID)
	h.Set("sora-audio-streaming-language-code", st.language)
	h.Set("sora-audio-codec-type", "OPUS")
	h.Set("sora-audio-sample-rate", "48000")
	h.Set("sora-audio-streaming-header", strconv.FormatBool(s.cfg.Header))
	resp, err := s.client.Do(req)
	if err != nil {
		if st.isStopping() {
			s.log.Debug("audiostream: stopped before the gateway answered", "connection_id", st.connectionID, "err", err)
			return
		}
		s.fail(st, fmt.Sprintf("posting to the gateway: %v", err))
		return
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		s.fail(st, fmt.Sprintf("the gateway answered %s", resp.Status))
		return
	}
	s.c.successful.Add(1)
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 0, min(4096, s.cfg.MaxResultLine)), s.cfg.MaxResultLine)
	for sc.Scan() {
		st.result(sc.Bytes())
	}
	err = sc.Err()
	switch {
	case st.isStopping():
		if err != nil {
			s.log.Debug("audiostream: the gateway did not end its answer in time", "connection_id", st.connectionID, "err", err)
		}
		s.log.Info("audiostream: stream ended", "channel_id", st.channelID, "connection_id", st.connectionID)
	case errors.Is(err, bufio.ErrTooLong):
		s.fail(st, fmt.Sprintf("a result line is longer than %d bytes", s.cfg.MaxResultLine))
	case err != nil:
		s.fail(st, fmt.Sprintf("reading the gateway's answer: %v", err))
	default:
		s.fail(st, "the gateway ended the stream")
	}
}

// result pushes one line of the answer to the subscribers.
func (st *stream) result(line []byte) {
	s := st.s
	if len(trimSpace(line)) == 0 {
		return
	}
	data, err := resultData(line, st.connectionID)
	if err != nil {
		s.c.invalidResults.Add(1)
		s.log.Debug("audiostream: result dropped", "connection_id", st.connectionID, "err", err)
		return
	}
	s.c.results.Add(1)
	s.notify(st.channelID, data)
}

func trimSpace(b []byte) []byte {
	for len(b) > 0 && (b[0] == ' ' || b[0] == '\t' || b[0] == '\r' || b[0] == '\n') {
		b = b[1:]
	}
	for len(b) > 0 && (b[len(b)-1] == ' ' || b[len(b)-1] == '\t' || b[len(b)-1] == '\r' || b[len(b)-1] == '\n') {
		b = b[:len(b)-1]
	}
	return b
}

var _ io.ReadCloser = (*packetQueue)(nil)
