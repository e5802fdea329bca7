package load

import (
	"errors"
	"fmt"
	"io"
	"time"
)

// Errors returned by Run.
var (
	// ErrBadOptions is returned when an Options field is out of range.
	ErrBadOptions = errors.New("load: bad options")
	// ErrServer is returned (wrapped) when a server under test failed: it
	// exited, did not become ready, or answered its admin port wrongly.
	ErrServer = errors.New("load: server under test failed")
	// ErrClients is returned (wrapped) when the load clients could not all
	// connect.
	ErrClients = errors.New("load: clients failed")
)

// Scenarios.
const (
	// ScenarioFanout is 1 publisher (audio + video) → Subs recvonly subscribers.
	ScenarioFanout = "fanout"
	// ScenarioMesh is Subs sendrecv participants (audio + video), each
	// receiving all the others.
	ScenarioMesh = "mesh"
	// ScenarioAudio is Subs audio-only participants of whom Speakers are
	// sendrecv and speak; the rest are recvonly.
	ScenarioAudio = "audio"
	// ScenarioJoin connects Subs recvonly clients to one channel as fast as
	// Concurrency allows and measures connections per second.
	ScenarioJoin = "join"
)

// GSO selects the HAYATE_MEDIA_GSO runs.
type GSO int

// GSO modes. A mode with "on" falls back to off with a note when the Hayate
// binary has no media_gso key.
const (
	GSOOff GSO = iota
	GSOOn
	GSOBoth // one Hayate run with GSO off and one with it on, one baseline run
)

func (g GSO) String() string {
	switch g {
	case GSOOn:
		return "on"
	case GSOBoth:
		return "both"
	default:
		return "off"
	}
}

// ParseGSO reads "off", "on" or "both".
func ParseGSO(s string) (GSO, error) {
	switch s {
	case "off", "false":
		return GSOOff, nil
	case "on", "true":
		return GSOOn, nil
	case "both":
		return GSOBoth, nil
	}
	return GSOOff, fmt.Errorf("%w: gso %q (want off, on or both)", ErrBadOptions, s)
}

// Options configure one Run. Zero values mean the documented defaults.
type Options struct {
	// Scenario is ScenarioFanout, ScenarioMesh, ScenarioAudio or ScenarioJoin.
	Scenario string
	// Subs is the number of subscribers (fanout), participants (mesh,
	// audio) or clients (join). 0 means 50, 10, 100 and 20 respectively.
	Subs int
	// Speakers is the number of speaking participants of ScenarioAudio; 0 means 10.
	Speakers int
	// Duration is the measured window, which starts once every client has
	// joined and received every stream it expects, plus Warmup. 0 means 10 s.
	Duration time.Duration
	// Warmup is the time between "all joined" and the window; 0 means 1 s.
	Warmup time.Duration
	// GSO selects the runs with HAYATE_MEDIA_GSO.
	GSO GSO
	// JoinChannelSize, when > 0, spreads the join scenario's clients over
	// channels of that many (small meetings); 0 puts them all in one
	// channel, where every join is notified to every member before it.
	JoinChannelSize int
	// NoClientGRO turns UDP_GRO off on the load clients' sockets (sock.go):
	// then on loopback the server is also charged for the kernel splitting
	// each GSO super-packet it sends and delivering every segment, work a
	// remote receiver does on its own CPU. Packets sent one by one (GSO off,
	// the baseline) are delivered one by one either way.
	NoClientGRO bool
	// NoClientBatch keeps the load generator's threads in the normal
	// scheduling policy instead of SCHED_BATCH (sched.go): then a client
	// woken by a datagram preempts the server in the middle of its send
	// call, which a client on another machine would not do. The server
	// under test always runs in the normal policy.
	NoClientBatch bool
	// MediaLoops, when > 0, runs Hayate with HAYATE_MEDIA_LOOPS set to it;
	// 0 leaves the server's default (one loop per CPU).
	MediaLoops int

	// HayateBin is the Hayate server binary; empty measures the baseline
	// alone (BaselineCmd is then required).
	HayateBin string
	// BaselineCmd starts the pion baseline (for example the baseline
	// binary, or a hayate binary followed by "load", "--serve-baseline");
	// Run appends --listen, --signaling-port, --media-port, --admin-port and
	// --log-level. Nil runs Hayate alone.
	BaselineCmd []string

	// VideoPPS and AudioPPS are packets per second per publisher stream; 0
	// means 150 (30 frames of 5 packets) and 50. VideoSize and AudioSize are
	// RTP payload bytes; 0 means 1200 and 100.
	VideoPPS, AudioPPS   int
	VideoSize, AudioSize int
	// Concurrency is how many clients connect at once; 0 means 16.
	Concurrency int
	// ReadyTimeout bounds the joining (connects, and every receiver's first
	// packet of each stream); 0 means 60 s.
	ReadyTimeout time.Duration

	// ProfileDir, when set, receives each server's CPU and allocation
	// profiles of the window: hayate-cpu.pprof (/debug/pprof/profile over
	// the window's whole seconds, a minute at most), and hayate-allocs.pprof
	// with hayate-allocs-base.pprof, /debug/pprof/allocs after a forced GC
	// at the window's end and at its start (read the window's allocations
	// with go tool pprof -base); the same for baseline-*.
	ProfileDir string
	// Log receives progress and notes; nil discards them.
	Log io.Writer
}

// Defaults of Options.
const (
	defaultDuration    = 10 * time.Second
	defaultWarmup      = time.Second
	defaultVideoPPS    = 150
	defaultAudioPPS    = 50
	defaultVideoSize   = 1200
	defaultAudioSize   = 100
	defaultConcurrency = 16
	defaultSpeakers    = 10
	defaultReady       = 60 * time.Second
	// maxClients bounds every count of clients (2 cores; file descriptors).
	maxClients = 1000
	// packetsPerFrame is the video frame size in packets (a burst, the
	// shape GSO coalesces).
	packetsPerFrame = 5
)

// DefaultSubs is Options.Subs when it is 0.
func DefaultSubs(scenario string) int {
	switch scenario {
	case ScenarioMesh:
		return 10
	case ScenarioAudio:
		return 100
	case ScenarioJoin:
		return 20
	default:
		return 50
	}
}

// normalize fills the defaults and checks the ranges.
func (o Options) normalize() (Options, error) {
	switch o.Scenario {
	case ScenarioFanout, ScenarioMesh, ScenarioAudio, ScenarioJoin:
	default:
		return o, fmt.Errorf("%w: scenario %q (want fanout, mesh, audio or join)", ErrBadOptions, o.Scenario)
	}
	if o.Subs == 0 {
		o.Subs = DefaultSubs(o.Scenario)
	}
	if o.Speakers == 0 {
		o.Speakers = defaultSpeakers
	}
	if o.Duration == 0 {
		o.Duration = defaultDuration
	}
	if o.Warmup == 0 {
		o.Warmup = defaultWarmup
	}
	if o.VideoPPS == 0 {
		o.VideoPPS = defaultVideoPPS
	}
	if o.AudioPPS == 0 {
		o.AudioPPS = defaultAudioPPS
	}
	if o.VideoSize == 0 {
		o.VideoSize = defaultVideoSize
	}
	if o.AudioSize == 0 {
		o.AudioSize = defaultAudioSize
	}
	if o.Concurrency == 0 {
		o.Concurrency = defaultConcurrency
	}
	if o.ReadyTimeout == 0 {
		o.ReadyTimeout = defaultReady
	}
	if o.Log == nil {
		o.Log = io.Discard
	}
	minSubs := 1
	if o.Scenario == ScenarioMesh {
		minSubs = 2
	}
	checks := []struct {
		ok   bool
		what string
	}{
		{o.Subs >= minSubs && o.Subs <= maxClients, fmt.Sprintf("subs %d (want %d-%d)", o.Subs, minSubs, maxClients)},
		{o.Scenario != ScenarioAudio || (o.Speakers >= 1 && o.Speakers <= o.Subs), fmt.Sprintf("speakers %d (want 1-%d, the participants)", o.Speakers, o.Subs)},
		{o.Duration >= 100*time.Millisecond && o.Duration <= time.Hour, fmt.Sprintf("duration %v (want 100ms-1h)", o.Duration)},
		{o.Warmup > 0 && o.Warmup <= time.Minute, fmt.Sprintf("warmup %v (want up to 1m)", o.Warmup)},
		{o.VideoPPS >= 1 && o.VideoPPS <= 10000, fmt.Sprintf("video pps %d (want 1-10000)", o.VideoPPS)},
		{o.AudioPPS >= 1 && o.AudioPPS <= 1000, fmt.Sprintf("audio pps %d (want 1-1000)", o.AudioPPS)},
		{o.VideoSize >= 32 && o.VideoSize <= 1400, fmt.Sprintf("video size %d (want 32-1400 bytes)", o.VideoSize)},
		{o.AudioSize >= 32 && o.AudioSize <= 1400, fmt.Sprintf("audio size %d (want 32-1400 bytes)", o.AudioSize)},
		{o.Concurrency >= 1 && o.Concurrency <= 256, fmt.Sprintf("concurrency %d (want 1-256)", o.Concurrency)},
		{o.ReadyTimeout >= time.Second, fmt.Sprintf("ready timeout %v (want 1s or more)", o.ReadyTimeout)},
		{o.HayateBin != "" || o.BaselineCmd != nil, "neither a Hayate binary nor a baseline command"},
		{o.GSO >= GSOOff && o.GSO <= GSOBoth, fmt.Sprintf("gso mode %d", int(o.GSO))},
	}
	for _, c := range checks {
		if !c.ok {
			return o, fmt.Errorf("%w: %s", ErrBadOptions, c.what)
		}
	}
	return o, nil
}
