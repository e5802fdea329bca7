package integration

import (
	"bytes"
	"context"
	"fmt"
	"sort"
	"sync"
	"time"

	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"

	"github.com/hayate-sfu/hayate/bench/soraclient"
)

// Payloads. Every packet carries its publisher's tag and its index in the
// last four bytes, so a receiver identifies it whatever sequence number the
// server rewrote, and the whole payload is regenerated for a byte compare.

const trailerMagic = 0xA5

// payload is packet i of the stream (kind, tag): for video a one-packet VP8
// frame (payload descriptor with S=1, a keyframe every 10th frame with the
// start code and 640x480, otherwise an interframe), for audio an Opus-like
// packet. Sizes vary with i so that no two packets are alike by length alone.
func payload(kind webrtc.RTPCodecType, tag byte, i int) []byte {
	var b []byte
	if kind == webrtc.RTPCodecTypeVideo {
		b = append(b, 0x10) // VP8 descriptor: S=1, PID 0
		if i%10 == 0 {
			// frame tag: keyframe (P=0), show_frame, first partition 10 bytes; start code; 640x480
			b = append(b, 0x50, 0x01, 0x00, 0x9d, 0x01, 0x2a, 0x80, 0x02, 0xe0, 0x01)
		} else {
			b = append(b, 0x51, 0x01, 0x00) // interframe (P=1)
		}
		for k := range 400 + i%200 {
			b = append(b, byte(int(tag)*31+i*7+k))
		}
	} else {
		b = append(b, 0xfc) // Opus TOC: CELT FB 20 ms, one frame
		for k := range 60 + i%40 {
			b = append(b, byte(int(tag)*17+i*5+k))
		}
	}
	return append(b, tag, trailerMagic, byte(i>>8), byte(i))
}

// decode returns the tag and index in a payload's trailer.
func decode(p []byte) (tag byte, i int, ok bool) {
	if len(p) < 4 || p[len(p)-3] != trailerMagic {
		return 0, 0, false
	}
	n := len(p)
	return p[n-4], int(p[n-2])<<8 | int(p[n-1]), true
}

// publisher writes packets 0, 1, 2… of a client's audio and video tracks,
// one of each per interval, until stopped or n packets are written.
type publisher struct {
	tag     byte
	written chan struct{} // closed when the last packet is written
	stop    chan struct{}
	done    chan struct{}
	mu      sync.Mutex
	count   int
	err     error
}

// publish starts a publisher on c (its local tracks of the given kinds).
// waitWritten waits until every publisher has written all its packets.
func (e *env) waitWritten(ps ...*publisher) {
	e.t.Helper()
	for _, p := range ps {
		select {
		case <-p.written:
		case <-e.ctx.Done():
			e.t.Fatal("publishing did not finish")
		}
	}
}

// n <= 0 means until stopped. The test must call stopWait (Cleanup does).
func publish(e *env, c *soraclient.Client, tag byte, n int, interval time.Duration, kinds ...webrtc.RTPCodecType) *publisher {
	p := &publisher{tag: tag, written: make(chan struct{}), stop: make(chan struct{}), done: make(chan struct{})}
	type out struct {
		kind  webrtc.RTPCodecType
		track *webrtc.TrackLocalStaticRTP
		step  uint32
	}
	var outs []out
	for _, k := range kinds {
		tr := c.LocalTrack(k)
		if tr == nil {
			e.t.Fatalf("client %s has no local %s track", c.ConnectionID(), k)
		}
		step := uint32(3000)
		if k == webrtc.RTPCodecTypeAudio {
			step = 480
		}
		outs = append(outs, out{k, tr, step})
	}
	go func() {
		defer close(p.done)
		tick := time.NewTicker(interval)
		defer tick.Stop()
		for i := 0; n <= 0 || i < n; i++ {
			for _, o := range outs {
				pkt := &rtp.Packet{
					Header:  rtp.Header{Version: 2, Marker: true, SequenceNumber: uint16(1000 + i), Timestamp: uint32(i) * o.step},
					Payload: payload(o.kind, tag, i),
				}
				if err := o.track.WriteRTP(pkt); err != nil {
					p.mu.Lock()
					p.err = err
					p.mu.Unlock()
				}
			}
			p.mu.Lock()
			p.count = i + 1
			p.mu.Unlock()
			select {
			case <-p.stop:
				return
			case <-e.ctx.Done():
				return
			case <-tick.C:
			}
		}
		close(p.written)
	}()
	e.t.Cleanup(p.stopWait)
	return p
}

func (p *publisher) stopWait() {
	select {
	case <-p.stop:
	default:
		close(p.stop)
	}
	<-p.done
}

// sent is how many packets per kind have been written.
func (p *publisher) sent() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.count
}

// recording is what one remote track delivered to the application.
type recording struct {
	track *webrtc.TrackRemote
	mu    sync.Mutex
	pkts  []received
	ended error // ReadRTP's final error, nil while it runs
	done  chan struct{}
	grew  chan struct{} // closed and replaced on every packet
}

type received struct {
	seq     uint16
	payload []byte
	at      time.Time
}

// record reads t until ReadRTP fails (the track ended or the client closed).
func record(t *webrtc.TrackRemote) *recording {
	r := &recording{track: t, done: make(chan struct{}), grew: make(chan struct{})}
	go func() {
		defer close(r.done)
		for {
			p, _, err := t.ReadRTP()
			r.mu.Lock()
			if err != nil {
				r.ended = err
				close(r.grew)
				r.grew = make(chan struct{})
				r.mu.Unlock()
				return
			}
			r.pkts = append(r.pkts, received{p.SequenceNumber, append([]byte(nil), p.Payload...), time.Now()})
			close(r.grew)
			r.grew = make(chan struct{})
			r.mu.Unlock()
		}
	}()
	return r
}

func (r *recording) snapshot() []received {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]received(nil), r.pkts...)
}

// waitFor waits until cond holds on the packets so far, or ctx ends.
func (r *recording) waitFor(ctx context.Context, cond func([]received) bool) bool {
	for {
		r.mu.Lock()
		ok := cond(r.pkts)
		grew := r.grew
		r.mu.Unlock()
		if ok {
			return true
		}
		select {
		case <-grew:
		case <-ctx.Done():
			return false
		}
	}
}

// hasIndex is a waitFor condition: packet index i of tag arrived.
func hasIndex(tag byte, i int) func([]received) bool {
	return func(ps []received) bool {
		for _, p := range ps {
			if tg, j, ok := decode(p.payload); ok && tg == tag && j == i {
				return true
			}
		}
		return false
	}
}

// atLeast is a waitFor condition: n packets arrived.
func atLeast(n int) func([]received) bool { return func(ps []received) bool { return len(ps) >= n } }

// remote collects every remote track of a client by (stream id, kind).
type remote struct {
	c       *soraclient.Client
	mu      sync.Mutex
	tracks  map[string]*recording
	changed chan struct{}
	stop    chan struct{}
	done    chan struct{}
}

func key(stream string, kind webrtc.RTPCodecType) string { return stream + "/" + kind.String() }

// collect starts recording every track c receives; Cleanup stops it after
// the client is closed (Cleanup order), which ends every recording.
func collect(e *env, c *soraclient.Client) *remote {
	r := &remote{c: c, tracks: map[string]*recording{}, changed: make(chan struct{}), stop: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(r.done)
		for {
			select {
			case t := <-c.Tracks():
				rec := record(t)
				r.mu.Lock()
				// A later track for the same stream and kind replaces the earlier one.
				r.tracks[key(t.StreamID(), t.Kind())] = rec
				close(r.changed)
				r.changed = make(chan struct{})
				r.mu.Unlock()
			case <-r.stop:
				return
			}
		}
	}()
	e.t.Cleanup(func() {
		close(r.stop)
		<-r.done
		c.Close() // ends the recordings
		r.mu.Lock()
		defer r.mu.Unlock()
		for _, rec := range r.tracks {
			<-rec.done
		}
	})
	return r
}

// track waits for the remote track of (stream, kind).
func (r *remote) track(ctx context.Context, stream string, kind webrtc.RTPCodecType) (*recording, error) {
	for {
		r.mu.Lock()
		rec := r.tracks[key(stream, kind)]
		ch := r.changed
		var have []string
		for k := range r.tracks {
			have = append(have, k)
		}
		r.mu.Unlock()
		if rec != nil {
			return rec, nil
		}
		select {
		case <-ch:
		case <-ctx.Done():
			sort.Strings(have)
			return nil, fmt.Errorf("no remote %s track with stream id %s at %s (tracks: %v): %w", kind, stream, r.c.ConnectionID(), have, ctx.Err())
		}
	}
}

// verdict summarizes a recording against what the publisher sent.
type verdict struct {
	got, mismatched, foreign, dups int
	first, last                    int   // lowest and highest index received
	missing                        []int // indices in [first, last] that never came
	badExample                     string
}

// judge compares every received payload with the payload its trailer names.
func judge(ps []received, kind webrtc.RTPCodecType, tag byte) verdict {
	v := verdict{first: -1, last: -1}
	seen := map[int]bool{}
	for _, p := range ps {
		tg, i, ok := decode(p.payload)
		if !ok || tg != tag {
			v.foreign++
			if v.badExample == "" {
				v.badExample = fmt.Sprintf("foreign payload (%d bytes) %x…", len(p.payload), head(p.payload))
			}
			continue
		}
		if want := payload(kind, tag, i); !bytes.Equal(p.payload, want) {
			v.mismatched++
			if v.badExample == "" {
				v.badExample = fmt.Sprintf("index %d: got %d bytes %x…, want %d bytes %x…", i, len(p.payload), head(p.payload), len(want), head(want))
			}
			continue
		}
		if seen[i] {
			v.dups++
			continue
		}
		seen[i] = true
		v.got++
		if v.first < 0 || i < v.first {
			v.first = i
		}
		if i > v.last {
			v.last = i
		}
	}
	for i := v.first; i >= 0 && i <= v.last; i++ {
		if !seen[i] {
			v.missing = append(v.missing, i)
		}
	}
	return v
}

func (v verdict) String() string {
	s := fmt.Sprintf("%d distinct packets (indices %d..%d), %d missing in between %v, %d payload mismatches, %d foreign, %d duplicates",
		v.got, v.first, v.last, len(v.missing), first(v.missing, 10), v.mismatched, v.foreign, v.dups)
	if v.badExample != "" {
		s += "; e.g. " + v.badExample
	}
	return s
}

func head(b []byte) []byte {
	if len(b) > 16 {
		return b[:16]
	}
	return b
}

func first(s []int, n int) []int {
	if len(s) > n {
		return s[:n]
	}
	return s
}
