package baseline

import (
	"crypto/rand"
	"encoding/base32"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pion/rtcp"
	"github.com/pion/webrtc/v4"
)

// pliInterval is the least time between two keyframe requests sent to the
// publisher of one track.
const pliInterval = 500 * time.Millisecond

// room is one channel: its connections and the tracks they publish.
type room struct {
	channel   string
	sessionID string

	mu     sync.Mutex
	conns  map[string]*conn // by connection id, in no order
	tracks []*published
}

// published is one publisher track and the local track that fans it out.
type published struct {
	owner *conn
	kind  webrtc.RTPCodecType
	local *webrtc.TrackLocalStaticRTP
	ssrc  uint32

	lastPLI atomic.Int64 // unix ns of the last PLI sent to the owner
}

// requestKeyframe sends the publisher a PLI for a video track, at most one
// per pliInterval.
func (p *published) requestKeyframe() {
	if p.kind != webrtc.RTPCodecTypeVideo {
		return
	}
	now := time.Now().UnixNano()
	last := p.lastPLI.Load()
	if now-last < int64(pliInterval) || !p.lastPLI.CompareAndSwap(last, now) {
		return
	}
	_ = p.owner.pc.WriteRTCP([]rtcp.Packet{&rtcp.PictureLossIndication{MediaSSRC: p.ssrc}})
}

// join adds c and returns the tracks the others already publish. A track
// published later is handed to c by publish: both run under r.mu, so every
// track reaches c exactly once.
func (r *room) join(c *conn) []*published {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.conns[c.id] = c
	return append([]*published(nil), r.tracks...)
}

// publish records p and returns the connections that must receive it.
func (r *room) publish(p *published) []*conn {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.conns[p.owner.id] != p.owner {
		return nil // the owner left meanwhile
	}
	r.tracks = append(r.tracks, p)
	out := make([]*conn, 0, len(r.conns))
	for _, c := range r.conns {
		if c != p.owner {
			out = append(out, c)
		}
	}
	return out
}

// leave removes c and its tracks; it returns the connections that remain
// and the tracks that went.
func (r *room) leave(c *conn) (rest []*conn, gone []*published) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.conns[c.id] != c {
		return nil, nil
	}
	delete(r.conns, c.id)
	kept := r.tracks[:0]
	for _, p := range r.tracks {
		if p.owner == c {
			gone = append(gone, p)
		} else {
			kept = append(kept, p)
		}
	}
	clear(r.tracks[len(kept):])
	r.tracks = kept
	for _, o := range r.conns {
		rest = append(rest, o)
	}
	return rest, gone
}

// counts is the channel's connection counters for notify.
type counts struct{ all, sendrecv, sendonly, recvonly int }

// members returns every connection of the channel and the counters.
func (r *room) members() ([]*conn, counts) {
	r.mu.Lock()
	defer r.mu.Unlock()
	var n counts
	out := make([]*conn, 0, len(r.conns))
	for _, c := range r.conns {
		out = append(out, c)
		n.all++
		switch c.role {
		case "sendrecv":
			n.sendrecv++
		case "sendonly":
			n.sendonly++
		case "recvonly":
			n.recvonly++
		}
	}
	return out, n
}

// idEncoding is Crockford's Base32 (digits and upper-case letters without
// I, L, O, U), unpadded: 16 bytes become the 26 characters of a Sora id.
var idEncoding = base32.NewEncoding("0123456789ABCDEFGHJKMNPQRSTVWXYZ").WithPadding(base32.NoPadding)

// newID returns a Sora-style id: a random UUIDv4 in Crockford Base32.
func newID() string {
	var u [16]byte
	_, _ = rand.Read(u[:]) // never fails since Go 1.24
	u[6] = u[6]&0x0f | 0x40
	u[8] = u[8]&0x3f | 0x80
	return idEncoding.EncodeToString(u[:])
}
