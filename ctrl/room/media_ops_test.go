package room

import (
	"errors"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/hayate-sfu/hayate/dataplane"
)

// The fakes' side of the media operations: a factory and transports that
// wrap the package's fakes (so that the fakes themselves may grow methods
// of their own) and write every call to the transcript, so a test reads
// what the plane was asked to do.

type mediaFactory struct{ *fakeFactory }

func (f mediaFactory) NewTransport(id string, ev dataplane.TransportEvents) (Transport, error) {
	t, err := f.fakeFactory.NewTransport(id, ev)
	if err != nil {
		return nil, err
	}
	return mediaTransport{t.(*fakeTransport)}, nil
}

// StartRTPForwarding returns the SSRC as the forwarding id: the room draws
// SSRCs without repeats, so ids are unique and the transcript can name them.
func (f mediaFactory) StartRTPForwarding(trackID string, to netip.AddrPort, ssrc uint32) (uint64, error) {
	if strings.HasPrefix(to.Addr().String(), "192.0.2.") { // TEST-NET-1: the fake plane refuses it
		return 0, errors.New("fake: unreachable")
	}
	f.log.add("StartRTPForwarding %s to %s ssrc=%d", trackID, to, ssrc)
	return uint64(ssrc), nil
}

func (f mediaFactory) StopRTPForwarding(id uint64) { f.log.add("StopRTPForwarding %d", id) }

type mediaTransport struct{ *fakeTransport }

func (t mediaTransport) PauseDownstream(trackID string, paused bool) error {
	t.log.add("%s PauseDownstream %s %v", t.name, trackID, paused)
	return nil
}

func (t mediaTransport) SetUpstreamBitrateCap(trackID string, bps uint64) error {
	t.log.add("%s SetUpstreamBitrateCap %s %d", t.name, trackID, bps)
	return nil
}

// newMediaEnv is newEnv with the media fakes.
func newMediaEnv(t *testing.T) *env {
	return newEnv(t, func(c *Config) { c.Transports = mediaFactory{c.Transports.(*fakeFactory)} })
}

// mark is a position in the transcript; calls returns the lines after it
// that name one of the media operations' plane calls.
func (e *env) mark() int {
	e.log.mu.Lock()
	defer e.log.mu.Unlock()
	return len(e.log.lines)
}

func (e *env) calls(since int) []string {
	e.log.mu.Lock()
	defer e.log.mu.Unlock()
	var out []string
	for _, l := range e.log.lines[since:] {
		for _, op := range []string{"PauseDownstream", "SetUpstreamBitrateCap", "StartRTPForwarding", "StopRTPForwarding"} {
			if strings.Contains(l, " "+op+" ") || strings.HasPrefix(l, op+" ") {
				out = append(out, l)
			}
		}
	}
	return out
}

// mediaWorld: A sendrecv and B recvonly in room-1, both connected; B is
// forwarded A's audio (mid 0) and video (mid 1).
func mediaWorld(t *testing.T) (*env, *member, *member) {
	e := newMediaEnv(t)
	a := e.join("A", req(RoleSendRecv))
	a.connect(t)
	b := e.join("B", req(RoleRecvOnly))
	b.connect(t)
	if d := b.tr.downstreams(); len(d) != 2 {
		t.Fatalf("B is forwarded %v, want A's two tracks", d)
	}
	return e, a, b
}

func checkCalls(t *testing.T, what string, got []string, want ...string) {
	t.Helper()
	if !slices.Equal(got, want) {
		t.Errorf("%s: the plane was asked\n  %s\nwant\n  %s", what, strings.Join(got, "\n  "), strings.Join(want, "\n  "))
	}
}

// TestPauseRTPStream: a pause stops only the sender's video towards the
// receiver, is listed until resumed, and resuming twice or pausing twice
// changes nothing more.
func TestPauseRTPStream(t *testing.T) {
	e, a, b := mediaWorld(t)
	video := a.c.ID() + ":1"

	m := e.mark()
	n, err := b.c.PauseRTPStream(a.c)
	if err != nil || n != 1 {
		t.Fatalf("PauseRTPStream = %d, %v; want 1 track", n, err)
	}
	checkCalls(t, "pause", e.calls(m), "T2 PauseDownstream "+video+" true")
	want := []PausedRTPStream{{ChannelID: "room-1", RecvConnectionID: b.c.ID(), SendConnectionID: a.c.ID(), RecvRole: RoleRecvOnly}}
	if got := e.reg.PausedRTPStreams("room-1"); !slices.Equal(got, want) {
		t.Errorf("PausedRTPStreams = %+v, want %+v", got, want)
	}
	if got := e.reg.PausedRTPStreams("room-2"); len(got) != 0 {
		t.Errorf("another channel lists %+v", got)
	}
	if _, err := b.c.PauseRTPStream(a.c); err != nil {
		t.Fatal(err)
	}
	if got := e.reg.PausedRTPStreams("room-1"); len(got) != 1 {
		t.Errorf("pausing twice lists %d pauses", len(got))
	}

	m = e.mark()
	n, err = b.c.ResumeRTPStream(a.c)
	if err != nil || n != 1 {
		t.Fatalf("ResumeRTPStream = %d, %v; want 1 track", n, err)
	}
	checkCalls(t, "resume", e.calls(m), "T2 PauseDownstream "+video+" false")
	if got := e.reg.PausedRTPStreams("room-1"); len(got) != 0 {
		t.Errorf("after resume: %+v", got)
	}
	// A receives nothing from B (recvonly): the pause is kept, nothing to
	// do in the plane.
	m = e.mark()
	if n, err := a.c.PauseRTPStream(b.c); err != nil || n != 0 {
		t.Errorf("A pausing B = %d, %v; want 0 tracks", n, err)
	}
	checkCalls(t, "pause of nothing forwarded", e.calls(m))
}

// TestPauseAppliesToLaterDownstream: a pause made before the receiver gets
// the sender's video applies once the downstream is added; it is dropped
// when the sender leaves.
func TestPauseAppliesToLaterDownstream(t *testing.T) {
	e := newMediaEnv(t)
	a := e.join("A", req(RoleSendRecv))
	b := e.join("B", req(RoleRecvOnly))
	b.connect(t)
	if n, err := b.c.PauseRTPStream(a.c); err != nil || n != 0 {
		t.Fatalf("PauseRTPStream before A publishes = %d, %v", n, err)
	}
	a.connect(t) // A is created: B gets a re-offer with A's tracks
	b.answer(t, b.p.take(t))
	m := e.mark()
	// What syncDownstreamLocked does after each AddDownstream once wired.
	b.c.ch.mu.Lock()
	for _, id := range b.c.forwarding {
		b.c.downstreamAddedLocked(id)
	}
	b.c.ch.mu.Unlock()
	checkCalls(t, "downstream added", e.calls(m), "T2 PauseDownstream "+a.c.ID()+":1 true")

	a.c.Leave()
	if got := e.reg.PausedRTPStreams("room-1"); len(got) != 0 {
		t.Errorf("the sender left, its pause is still listed: %+v", got)
	}
	if _, err := b.c.PauseRTPStream(a.c); !errors.Is(err, ErrLeft) {
		t.Errorf("pausing a sender that left = %v, want ErrLeft", err)
	}
}

func TestPauseOtherChannel(t *testing.T) {
	e := newMediaEnv(t)
	a := e.join("A", req(RoleSendRecv))
	r := req(RoleRecvOnly)
	r.ChannelID = "room-2"
	b := e.join("B", r)
	if _, err := b.c.PauseRTPStream(a.c); !errors.Is(err, ErrOtherChannel) {
		t.Errorf("PauseRTPStream across channels = %v, want ErrOtherChannel", err)
	}
}

// TestDropMediaOps: what leaveLocked does once wired: the pauses of the
// connection go and its forwarding stops.
func TestDropMediaOps(t *testing.T) {
	e, a, b := mediaWorld(t)
	if _, err := b.c.PauseRTPStream(a.c); err != nil {
		t.Fatal(err)
	}
	f, err := a.c.StartRTPForwarding(netip.MustParseAddrPort("127.0.0.1:60001"), netip.MustParseAddrPort("127.0.0.1:60003"))
	if err != nil {
		t.Fatal(err)
	}
	m := e.mark()
	a.c.ch.mu.Lock()
	a.c.dropMediaOpsLocked()
	a.c.ch.mu.Unlock()
	checkCalls(t, "drop", e.calls(m), "StopRTPForwarding "+itoa(f.Tracks[0].SSRC), "StopRTPForwarding "+itoa(f.Tracks[1].SSRC))
	if got := e.reg.PausedRTPStreams("room-1"); len(got) != 0 {
		t.Errorf("after the drop: %+v", got)
	}
}

// TestVideoBitrateCap: the cap goes to the publisher's video track in bps;
// a connection without video upstream caps nothing.
func TestVideoBitrateCap(t *testing.T) {
	e, a, b := mediaWorld(t)
	m := e.mark()
	if n, err := a.c.SetVideoBitrateCap(300); err != nil || n != 1 {
		t.Fatalf("SetVideoBitrateCap = %d, %v; want 1 track", n, err)
	}
	checkCalls(t, "cap", e.calls(m), "T1 SetUpstreamBitrateCap "+a.c.ID()+":1 300000")
	if n, err := b.c.SetVideoBitrateCap(300); err != nil || n != 0 {
		t.Errorf("SetVideoBitrateCap on a recvonly connection = %d, %v; want 0", n, err)
	}
	if _, err := a.c.SetVideoBitrateCap(-1); !errors.Is(err, ErrInvalidRequest) {
		t.Errorf("a negative cap = %v", err)
	}
	a.c.Leave()
	if _, err := a.c.SetVideoBitrateCap(300); !errors.Is(err, ErrLeft) {
		t.Errorf("capping a connection that left = %v, want ErrLeft", err)
	}
}

func itoa(v uint32) string { return strconv.FormatUint(uint64(v), 10) }

// TestRTPForwarding: start sends each published track to its port with an
// SSRC of its own; a second start replaces the first; stop, stop by
// channel and the publisher leaving each end it in the plane.
func TestRTPForwarding(t *testing.T) {
	e, a, b := mediaWorld(t)
	audio, video := netip.MustParseAddrPort("127.0.0.1:60001"), netip.MustParseAddrPort("127.0.0.1:60003")

	m := e.mark()
	f, err := a.c.StartRTPForwarding(audio, video)
	if err != nil {
		t.Fatal(err)
	}
	if f.ConnectionID != a.c.ID() || f.ChannelID != "room-1" || len(f.Tracks) != 2 {
		t.Fatalf("forwarding %+v", f)
	}
	at, vt := f.Tracks[0], f.Tracks[1]
	if at.Kind != dataplane.KindAudio || at.Codec.Name != "OPUS" || at.To != audio ||
		vt.Kind != dataplane.KindVideo || vt.Codec.Name != "VP8" || vt.To != video || at.SSRC == 0 || vt.SSRC == 0 || at.SSRC == vt.SSRC {
		t.Errorf("tracks %+v", f.Tracks)
	}
	checkCalls(t, "start", e.calls(m),
		"StartRTPForwarding "+a.c.ID()+":0 to 127.0.0.1:60001 ssrc="+itoa(at.SSRC),
		"StartRTPForwarding "+a.c.ID()+":1 to 127.0.0.1:60003 ssrc="+itoa(vt.SSRC))
	if got := e.reg.RTPForwardings("room-1"); len(got) != 1 || got[0].ConnectionID != a.c.ID() {
		t.Errorf("RTPForwardings = %+v", got)
	}

	m = e.mark()
	f2, err := a.c.StartRTPForwarding(audio, netip.MustParseAddrPort("127.0.0.1:60005"))
	if err != nil {
		t.Fatal(err)
	}
	got := e.calls(m)
	if len(got) != 4 || got[0] != "StopRTPForwarding "+itoa(at.SSRC) || got[1] != "StopRTPForwarding "+itoa(vt.SSRC) ||
		!strings.Contains(got[3], ":1 to 127.0.0.1:60005") {
		t.Errorf("restart: the plane was asked %q", got)
	}

	m = e.mark()
	if !a.c.StopRTPForwarding() || a.c.StopRTPForwarding() {
		t.Error("StopRTPForwarding: want true, then false")
	}
	checkCalls(t, "stop", e.calls(m), "StopRTPForwarding "+itoa(f2.Tracks[0].SSRC), "StopRTPForwarding "+itoa(f2.Tracks[1].SSRC))

	// Stop by channel.
	f3, err := a.c.StartRTPForwarding(audio, video)
	if err != nil {
		t.Fatal(err)
	}
	if ids := e.reg.StopChannelRTPForwarding("room-2"); len(ids) != 0 {
		t.Errorf("stopping another channel stopped %v", ids)
	}
	m = e.mark()
	if ids := e.reg.StopChannelRTPForwarding("room-1"); !slices.Equal(ids, []string{a.c.ID()}) {
		t.Errorf("StopChannelRTPForwarding = %v", ids)
	}
	if got := e.calls(m); len(got) != 2 || !slices.Contains(got, "StopRTPForwarding "+itoa(f3.Tracks[1].SSRC)) {
		t.Errorf("stop by channel: the plane was asked %q", got)
	}

	// The publisher leaves: its forwarding stops with it.
	f4, err := a.c.StartRTPForwarding(audio, video)
	if err != nil {
		t.Fatal(err)
	}
	m = e.mark()
	a.c.Leave()
	if got := e.reg.RTPForwardings("room-1"); len(got) != 0 {
		t.Errorf("forwardings after the publisher left: %+v", got)
	}
	if got := e.calls(m); len(got) != 2 || got[0] != "StopRTPForwarding "+itoa(f4.Tracks[0].SSRC) {
		t.Errorf("after the leave: the plane was asked %q", got)
	}

	// Nothing published, a connection that left, an unreachable destination.
	if _, err := b.c.StartRTPForwarding(audio, video); !errors.Is(err, ErrNoTrack) {
		t.Errorf("forwarding a recvonly connection = %v, want ErrNoTrack", err)
	}
	if _, err := a.c.StartRTPForwarding(audio, video); !errors.Is(err, ErrLeft) {
		t.Errorf("forwarding a connection that left = %v, want ErrLeft", err)
	}
}

// TestRTPForwardingFailure: when the plane refuses the second track the
// first one is stopped and nothing is kept.
func TestRTPForwardingFailure(t *testing.T) {
	e, a, _ := mediaWorld(t)
	m := e.mark()
	_, err := a.c.StartRTPForwarding(netip.MustParseAddrPort("127.0.0.1:60001"), netip.MustParseAddrPort("192.0.2.1:60003"))
	if !errors.Is(err, ErrTransport) || !strings.Contains(err.Error(), "192.0.2.1:60003") {
		t.Errorf("StartRTPForwarding = %v, want ErrTransport naming the destination", err)
	}
	got := e.calls(m)
	if len(got) != 2 || !strings.HasPrefix(got[0], "StartRTPForwarding ") || !strings.HasPrefix(got[1], "StopRTPForwarding ") {
		t.Errorf("the plane was asked %q, want a start undone", got)
	}
	if f := e.reg.RTPForwardings("room-1"); len(f) != 0 {
		t.Errorf("a failed start is kept: %+v", f)
	}
}

// TestPlaneFactoryForwarding: the real plane's adapter refuses an IPv6
// destination from its IPv4 socket and an unknown track.
func TestPlaneFactoryForwarding(t *testing.T) {
	p, err := dataplane.New(dataplane.Config{ListenAddress: "127.0.0.1"})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	f := PlaneTransports(p, nil)
	if _, err := f.StartRTPForwarding("x:1", netip.MustParseAddrPort("[::1]:5004"), 1); !errors.Is(err, ErrAddressFamily) {
		t.Errorf("IPv6 from an IPv4 socket = %v, want ErrAddressFamily", err)
	}
	if _, err := f.StartRTPForwarding("x:1", netip.MustParseAddrPort("[::ffff:127.0.0.1]:5004"), 1); !errors.Is(err, dataplane.ErrUnknownTrack) {
		t.Errorf("a mapped IPv4 destination for an unknown track = %v, want dataplane.ErrUnknownTrack", err)
	}
	f.StopRTPForwarding(12345) // unknown: ignored
}
