package room

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/hayate-sfu/hayate/dataplane"
)

// TestSpotlightChoose drives the pure focus choice through sequences of
// polls. Candidates are written "id" (silent) or "id:loudness" (speaking).
func TestSpotlightChoose(t *testing.T) {
	type step struct {
		cands string // space-separated
		want  string // the focus after this poll
	}
	cases := []struct {
		name   string
		number int
		fixed  []string
		out    []string
		steps  []step
	}{
		{"silent: join order", 1, nil, nil, []step{{"a b c", "a"}, {"a b c", "a"}}},
		{"two places", 2, nil, nil, []step{{"a b c", "a b"}}},
		{"fewer senders than places", 3, nil, nil, []step{{"a", "a"}, {"a b", "a b"}}},
		{"first speaker takes a free place", 1, nil, nil, []step{{"a b:90 c:80", "b"}}},
		{"a louder speaker needs two polls", 1, nil, nil, []step{
			{"a b c", "a"}, {"a:60 b:90 c", "a"}, {"a:60 b:90 c", "b"}, {"a:60 b:90 c", "b"}}},
		{"within the margin nothing changes", 1, nil, nil, []step{
			{"a:80", "a"}, {"a:80 b:85", "a"}, {"a:80 b:85", "a"}, {"a:80 b:85", "a"}}},
		{"a lead that stops starts again", 1, nil, nil, []step{
			{"a", "a"}, {"a b:90", "a"}, {"a b", "a"}, {"a b:90", "a"}, {"a b:90", "b"}}},
		{"the quietest of two is replaced", 2, nil, nil, []step{
			{"a b c", "a b"}, {"a:70 b:50 c:90", "a b"}, {"a:70 b:50 c:90", "a c"}}},
		{"fixed stays whoever speaks", 1, []string{"a"}, nil, []step{
			{"a b c", "a"}, {"a b:90 c", "a"}, {"a b:90 c", "a"}}},
		{"fixed beyond the number", 1, []string{"a", "c"}, nil, []step{{"a b c", "a c"}}},
		{"a sender that goes leaves its place", 1, nil, nil, []step{{"a b c", "a"}, {"b c", "b"}, {"c:70 b", "b"}, {"c:70 b", "c"}}},
		{"put out: not refilled by join order", 1, nil, []string{"a"}, []step{{"a b", "b"}}},
		{"put out: not refilled by voice", 2, nil, []string{"b"}, []step{{"a b:90 c", "a c"}}},
		{"put out: comes back by winning", 1, nil, []string{"b"}, []step{
			{"a b", "a"}, {"a b:90", "a"}, {"a b:90", "b"}}},
		{"nobody left to fill", 1, nil, []string{"a"}, []step{{"a", ""}}},
	}
	parse := func(s string) []speaker {
		var out []speaker
		for _, f := range strings.Fields(s) {
			id, l, ok := strings.Cut(f, ":")
			sp := speaker{id: id}
			if ok {
				fmt.Sscan(l, &sp.loudness)
				sp.voice = true
			}
			out = append(out, sp)
		}
		return out
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s := newSpotlight(spotlightRequest{enabled: true, number: tc.number})
			for _, id := range tc.fixed {
				s.fixed[id] = true
			}
			for _, id := range tc.out {
				s.out[id] = true
			}
			for i, st := range tc.steps {
				s.focused = s.choose(parse(st.cands))
				if got := strings.Join(s.focused, " "); got != st.want {
					t.Fatalf("poll %d (%s): focus %q, want %q", i, st.cands, got, st.want)
				}
			}
		})
	}
	if newSpotlight(spotlightRequest{}) != nil {
		t.Error("a spotlight without spotlight")
	}
	if s := newSpotlight(spotlightRequest{enabled: true}); s.number != DefaultSpotlightNumber {
		t.Errorf("default number %d", s.number)
	}
}

func spotReq(number int) JoinRequest {
	r := req(RoleSendRecv)
	r.ChannelID = "spot"
	r.Spotlight = true
	r.SpotlightNumber = number
	return r
}

// spotTick plays one poll of the audio levels: each member given speaks
// at its loudness (voice now); the others are silent.
func (e *env) spotTick(channel string, loud map[*member]float64) {
	e.reg.mu.Lock()
	ch := e.reg.channels[channel]
	e.reg.mu.Unlock()
	levels := map[string]dataplane.AudioLevel{}
	for m, l := range loud {
		levels[m.c.ID()+":0"] = dataplane.AudioLevel{Loudness: l, SinceVoice: 100 * time.Millisecond}
	}
	ch.mu.Lock()
	ch.spot.levels = levels
	e.reg.refocusLocked(ch)
	ch.mu.Unlock()
}

// spotMsgs summarises the spotlight notifies among msgs as
// "event:connection name".
func spotMsgs(msgs []map[string]any, names map[string]string) string {
	var out []string
	for _, m := range msgs {
		ev, _ := m["event_type"].(string)
		if !strings.HasPrefix(ev, "spotlight.") {
			continue
		}
		s := strings.TrimPrefix(ev, "spotlight.") + ":" + names[m["connection_id"].(string)]
		if m["fixed"] == true {
			s += "(fixed)"
		}
		out = append(out, s)
	}
	return strings.Join(out, " ")
}

// spotWorld: A, B, C sendrecv in the spotlight channel "spot" with one
// place, all connected and renegotiated; A is in focus (it came first).
func spotWorld(t *testing.T) (*env, []*member, map[string]string) {
	e, _ := newLayerEnv(t)
	var ms []*member
	names := map[string]string{}
	for _, n := range []string{"A", "B", "C"} {
		m := e.join(n, spotReq(1))
		m.connectSimulcast(t)
		names[m.c.ID()] = n
		ms = append(ms, m)
		for _, o := range ms[:len(ms)-1] {
			o.answer(t, o.p.take(t))
		}
	}
	return e, ms, names
}

// TestSpotlightTranscript records a spotlight channel through joins, a
// change of speaker, the API's focus operations and a leave: the notifies
// every connection gets and the layers and pauses the plane is asked for.
func TestSpotlightTranscript(t *testing.T) {
	e, ms, _ := spotWorld(t)
	a, b, c := ms[0], ms[1], ms[2]
	e.spotTick("spot", map[*member]float64{c: 90, a: 40})
	e.spotTick("spot", map[*member]float64{c: 90, a: 40})
	if err := b.c.FocusSpotlight(true); err != nil {
		t.Fatal(err)
	}
	if err := e.reg.ChangeSpotlightNumber("spot", 2); err != nil {
		t.Fatal(err)
	}
	if err := b.c.UnfocusSpotlight(); err != nil {
		t.Fatal(err)
	}
	if err := a.c.RequestSpotlightRID(c.c.ID(), "r1", "none"); err != nil {
		t.Fatal(err)
	}
	c.c.Leave()
	golden(t, "spotlight.txt", e.log.String())
}

func TestSpotlightJoin(t *testing.T) {
	e, _ := newLayerEnv(t)
	a := e.join("A", spotReq(1))
	msgs := a.connectSimulcast(t)
	if msgs[0]["spotlight"] != true || msgs[0]["simulcast"] != true || msgs[0]["encodings"] == nil {
		t.Errorf("a spotlight sender's offer: spotlight=%v simulcast=%v encodings=%v", msgs[0]["spotlight"], msgs[0]["simulcast"], msgs[0]["encodings"])
	}
	names := map[string]string{a.c.ID(): "A"}
	if got := spotMsgs(a.p.take(t), names); got != "focused:A changed:A" {
		t.Errorf("A alone: %s", got)
	}

	// A receiver joins a spotlight channel without asking for spotlight:
	// the channel decides. It learns the focus when it is created.
	r := e.join("R", JoinRequest{ChannelID: "spot", Role: RoleRecvOnly, Audio: Media{Enabled: true}, Video: Media{Enabled: true}})
	msgs = r.connect(t)
	if msgs[0]["spotlight"] != true {
		t.Errorf("receiver's offer spotlight=%v", msgs[0]["spotlight"])
	}
	if got := spotMsgs(r.p.take(t), names); got != "focused:A" {
		t.Errorf("R on creation: %s", got)
	}
	if d := r.tr.downstreams()[a.c.ID()+":1"]; d.RID != DefaultSpotlightFocusRID {
		t.Errorf("R gets focused A's video at %q", d.RID)
	}

	b := e.join("B", spotReq(3)) // not the first: its number does not count
	mark := logLen(e)
	b.connectSimulcast(t)
	names[b.c.ID()] = "B"
	if got := spotMsgs(b.p.take(t), names); got != "focused:A" {
		t.Errorf("B on creation: %s", got)
	}
	aMsgs := a.p.take(t)
	if got := spotMsgs(aMsgs, names); got != "" {
		t.Errorf("A when B came: %s", got)
	}
	// B receives focused A's video at r2 and its audio; R and A get B's
	// video at r0 and not its audio once they are forwarded it.
	checkLayerCalls(t, "B joins", layerCalls(e, mark))
	if d := b.tr.downstreams()[a.c.ID()+":1"]; d.RID != "r2" {
		t.Errorf("B gets A's video at %q", d.RID)
	}
	mark = logLen(e)
	a.answer(t, aMsgs)
	r.answer(t, r.p.take(t))
	checkLayerCalls(t, "A and R are forwarded B", layerCalls(e, mark),
		"T1 PauseDownstream "+b.c.ID()+":0 true",
		"T2 PauseDownstream "+b.c.ID()+":0 true")
	if d := r.tr.downstreams()[b.c.ID()+":1"]; d.RID != DefaultSpotlightUnfocusRID {
		t.Errorf("R gets unfocused B's video at %q", d.RID)
	}
	if got := e.reg.SpotlightFocus("spot"); !slices.Equal(got, []string{a.c.ID()}) {
		t.Errorf("focus %v", got)
	}
}

// TestSpotlightSpeaker: a louder speaker takes the focus after two polls;
// layers and audio follow for every receiver, and everyone is told.
func TestSpotlightSpeaker(t *testing.T) {
	e, ms, names := spotWorld(t)
	a, b, c := ms[0], ms[1], ms[2]
	for _, m := range ms {
		m.p.take(t)
	}
	e.spotTick("spot", map[*member]float64{b: 95, a: 50})
	if got := e.reg.SpotlightFocus("spot"); !slices.Equal(got, []string{a.c.ID()}) {
		t.Fatalf("focus after one poll %v", got)
	}
	mark := logLen(e)
	e.spotTick("spot", map[*member]float64{b: 95, a: 50})
	if got := e.reg.SpotlightFocus("spot"); !slices.Equal(got, []string{b.c.ID()}) {
		t.Fatalf("focus after two polls %v", got)
	}
	av, aa, bv, ba := a.c.ID()+":1", a.c.ID()+":0", b.c.ID()+":1", b.c.ID()+":0"
	checkLayerCalls(t, "B takes the focus", layerCalls(e, mark),
		"T1 PauseDownstream "+ba+" false", "T1 SetDownstreamLayer "+bv+` "r2"`,
		"T2 PauseDownstream "+aa+" true", "T2 SetDownstreamLayer "+av+` "r0"`,
		"T3 PauseDownstream "+aa+" true", "T3 SetDownstreamLayer "+av+` "r0"`,
		"T3 PauseDownstream "+ba+" false", "T3 SetDownstreamLayer "+bv+` "r2"`)
	for _, m := range []*member{a, b, c} {
		if got := spotMsgs(m.p.take(t), names); got != "unfocused:A focused:B changed:B" {
			t.Errorf("%s: %s", m.p.name, got)
		}
	}
	// The focused sender leaves: the next one takes its place.
	b.c.Leave()
	if got := e.reg.SpotlightFocus("spot"); !slices.Equal(got, []string{a.c.ID()}) {
		t.Errorf("focus after B left %v", got)
	}
	for _, m := range []*member{a, c} {
		msgs := m.p.take(t)
		if got := spotMsgs(msgs, names); got != "unfocused:B focused:A changed:A" {
			t.Errorf("%s after B left: %s (%s)", m.p.name, got, types(msgs))
		}
	}
}

func TestSpotlightAPI(t *testing.T) {
	e, ms, names := spotWorld(t)
	a, b, c := ms[0], ms[1], ms[2]
	for _, m := range ms {
		m.p.take(t)
	}
	focus := func() string {
		var out []string
		for _, id := range e.reg.SpotlightFocus("spot") {
			out = append(out, names[id])
		}
		return strings.Join(out, " ")
	}
	if err := c.c.FocusSpotlight(false); err != nil {
		t.Fatal(err)
	}
	if got := focus(); got != "C" {
		t.Errorf("after FocusSpotlight(C): %s", got)
	}
	if got := spotMsgs(b.p.take(t), names); got != "unfocused:A focused:C changed:C" {
		t.Errorf("B after FocusSpotlight(C): %s", got)
	}
	if err := a.c.FocusSpotlight(true); err != nil {
		t.Fatal(err)
	}
	if got := spotMsgs(b.p.take(t), names); got != "unfocused:C focused:A(fixed) changed:A(fixed)" {
		t.Errorf("B after FocusSpotlightFixed(A): %s", got)
	}
	// A fixed sender keeps its place however loud the others are.
	for range 3 {
		e.spotTick("spot", map[*member]float64{b: 100})
	}
	if got := focus(); got != "A" {
		t.Errorf("fixed A replaced: %s", got)
	}
	if err := b.c.FocusSpotlight(false); !errors.Is(err, ErrInvalidRequest) {
		t.Errorf("FocusSpotlight when every place is fixed: %v", err)
	}
	if err := e.reg.ChangeSpotlightNumber("spot", 2); err != nil {
		t.Fatal(err)
	}
	if got := focus(); got != "A B" {
		t.Errorf("two places: %s", got)
	}
	b.p.take(t)
	if err := a.c.UnfocusSpotlight(); err != nil {
		t.Fatal(err)
	}
	if got := focus(); got != "B C" {
		t.Errorf("after UnfocusSpotlight(A): %s", got)
	}
	if got := spotMsgs(b.p.take(t), names); got != "unfocused:A focused:C changed:C" {
		t.Errorf("B after UnfocusSpotlight(A): %s", got)
	}
	c.p.take(t)
	if err := b.c.FocusSpotlight(true); err != nil { // already in focus: now fixed
		t.Fatal(err)
	}
	if got := spotMsgs(c.p.take(t), names); got != "focused:B(fixed)" {
		t.Errorf("C after fixing B: %s", got)
	}

	for _, tc := range []struct {
		name string
		err  error
		want error
	}{
		{"number 0", e.reg.ChangeSpotlightNumber("spot", 0), ErrInvalidRequest},
		{"number unknown channel", e.reg.ChangeSpotlightNumber("nowhere", 1), ErrUnknownChannel},
		{"simulcast rid in spotlight", b.c.RequestSimulcastRID("r0", ""), ErrSpotlightChannel},
		{"reset simulcast rid in spotlight", b.c.ResetSimulcastRID(""), ErrSpotlightChannel},
		{"bad focus rid", b.c.RequestSpotlightRID("", "r5", "r0"), ErrInvalidRequest},
		{"bad unfocus rid", b.c.RequestSpotlightRID("", "r0", ""), ErrInvalidRequest},
		{"unknown sender", b.c.RequestSpotlightRID("NOBODY", "r0", "r0"), ErrUnknownConnection},
	} {
		if !errors.Is(tc.err, tc.want) {
			t.Errorf("%s: %v, want %v", tc.name, tc.err, tc.want)
		}
	}

	// Not a spotlight channel.
	p := e.join("P", req(RoleSendRecv))
	p.connect(t)
	for _, tc := range []struct {
		name string
		err  error
	}{
		{"focus", p.c.FocusSpotlight(false)},
		{"unfocus", p.c.UnfocusSpotlight()},
		{"request rid", p.c.RequestSpotlightRID("", "r0", "r0")},
		{"reset rid", p.c.ResetSpotlightRID("")},
		{"number", e.reg.ChangeSpotlightNumber("room-1", 1)},
	} {
		if !errors.Is(tc.err, ErrNotSpotlightChannel) {
			t.Errorf("%s outside spotlight: %v", tc.name, tc.err)
		}
	}
	if e.reg.SpotlightFocus("room-1") != nil || e.reg.SpotlightFocus("nowhere") != nil {
		t.Error("a focus outside spotlight")
	}
}

// TestSpotlightRIDs: a receiver's own layers for one sender or all, and
// their reset.
func TestSpotlightRIDs(t *testing.T) {
	e, ms, _ := spotWorld(t)
	a, b, c := ms[0], ms[1], ms[2]
	av, bv, cv := a.c.ID()+":1", b.c.ID()+":1", c.c.ID()+":1"
	mark := logLen(e)
	if err := c.c.RequestSpotlightRID(a.c.ID(), "r1", "none"); err != nil { // A is focused
		t.Fatal(err)
	}
	if err := c.c.RequestSpotlightRID("", "r0", "none"); err != nil {
		t.Fatal(err)
	}
	if err := c.c.ResetSpotlightRID(""); err != nil {
		t.Fatal(err)
	}
	checkLayerCalls(t, "C's spotlight rids", layerCalls(e, mark),
		"T3 SetDownstreamLayer "+av+` "r1"`,
		"T3 SetDownstreamLayer "+av+` "r0"`, "T3 SetDownstreamLayer "+bv+` "none"`,
		"T3 SetDownstreamLayer "+av+` "r2"`, "T3 SetDownstreamLayer "+bv+` "r0"`)
	// Connect's own spotlight layers.
	d := e.join("D", JoinRequest{ChannelID: "spot", Role: RoleRecvOnly, Audio: Media{Enabled: true}, Video: Media{Enabled: true},
		SpotlightFocusRID: "r1", SpotlightUnfocusRID: "none"})
	d.connect(t)
	downs := d.tr.downstreams()
	if downs[av].RID != "r1" || downs[bv].RID != "none" || downs[cv].RID != "none" {
		t.Errorf("D's layers A=%q B=%q C=%q", downs[av].RID, downs[bv].RID, downs[cv].RID)
	}
	if err := d.c.ResetSpotlightRID(b.c.ID()); err != nil {
		t.Fatal(err)
	}
}

// TestSpotlightPoller: with an AudioLevelSource the channel polls levels
// on its own and stops with its last connection.
func TestSpotlightPoller(t *testing.T) {
	e, lf := newLayerEnv(t, func(c *Config) { c.SpotlightInterval = 2 * time.Millisecond })
	a := e.join("A", spotReq(1))
	a.connectSimulcast(t)
	b := e.join("B", spotReq(1))
	b.connectSimulcast(t)
	lf.mu.Lock()
	lf.levels = map[string]dataplane.AudioLevel{b.c.ID() + ":0": {Loudness: 100, SinceVoice: 0}}
	lf.mu.Unlock()
	deadline := time.Now().Add(10 * time.Second)
	for !slices.Equal(e.reg.SpotlightFocus("spot"), []string{b.c.ID()}) {
		if time.Now().After(deadline) {
			t.Fatalf("the focus never went to the speaker: %v", e.reg.SpotlightFocus("spot"))
		}
		time.Sleep(5 * time.Millisecond)
	}
	a.c.Leave()
	b.c.Leave()
	done := make(chan struct{})
	go func() { e.reg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("the poller did not stop with the channel")
	}
	lf.mu.Lock()
	reads := lf.reads
	lf.mu.Unlock()
	if reads < 2 {
		t.Errorf("%d reads of the levels", reads)
	}
}

// TestSpotlightBundle: a sender's bundle mates are not told about it; the
// sender itself is.
func TestSpotlightBundle(t *testing.T) {
	e, _ := newLayerEnv(t)
	r := spotReq(1)
	r.BundleID = "same"
	a := e.join("A", r)
	a.connectSimulcast(t)
	b := e.join("B", r)
	b.connectSimulcast(t)
	names := map[string]string{a.c.ID(): "A", b.c.ID(): "B"}
	if got := spotMsgs(a.p.take(t), names); got != "focused:A changed:A" {
		t.Errorf("A: %s", got)
	}
	if got := spotMsgs(b.p.take(t), names); got != "" {
		t.Errorf("B (A's bundle): %s", got)
	}
}
