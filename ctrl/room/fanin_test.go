package room

import (
	"slices"
	"testing"
)

// TestReceiverJoinLeavesOtherReceiversAlone: in a channel of one publisher
// and many receivers, a receiver that joins tells the others
// connection.created and nothing more. Checking that their offers still
// hold costs them no allocation, and every one of them reads the same
// notify.
func TestReceiverJoinLeavesOtherReceiversAlone(t *testing.T) {
	e := newEnv(t)
	pub := e.join("P", req(RoleSendOnly))
	pub.connect(t)
	var rs []*member
	for _, name := range []string{"R1", "R2", "R3"} {
		r := e.join(name, req(RoleRecvOnly))
		r.connect(t)
		rs = append(rs, r)
	}
	for _, r := range rs {
		r.p.take(t)
	}
	pub.p.take(t)

	r4 := e.join("R4", req(RoleRecvOnly))
	r4.connect(t)
	var raw [][]byte
	for _, r := range rs {
		r.p.mu.Lock()
		got := slices.Clone(r.p.msgs)
		r.p.mu.Unlock()
		msgs := r.p.take(t)
		if types(msgs) != "notify:connection.created" || msgs[0]["connection_id"] != r4.c.ID() || msgs[0]["channel_connections"] != 5.0 {
			t.Fatalf("%s after R4 joined: %v", r.p.name, msgs)
		}
		raw = append(raw, got[0])
	}
	for _, b := range raw[1:] {
		if string(b) != string(raw[0]) {
			t.Errorf("receivers read different notifies:\n%s\n%s", raw[0], b)
		}
	}

	ch := rs[0].c.ch
	ch.mu.Lock()
	defer ch.mu.Unlock()
	for _, r := range rs {
		if !r.c.wantsUnchangedLocked() {
			t.Errorf("%s: wantsUnchangedLocked false, though its plan %v equals its sections", r.p.name, r.c.planLocked(r.c.desiredLocked()))
		}
	}
	if raceEnabled {
		return
	}
	if n := testing.AllocsPerRun(100, func() { rs[0].c.renegotiateLocked() }); n != 0 {
		t.Errorf("renegotiating an unchanged receiver allocates %.0f times", n)
	}
}

// TestWantsUnchangedFollowsThePlan: the allocation-free check agrees with
// the plan when a publisher joins and when one leaves while the receiver
// is between offer and answer, where its sections lag behind the channel,
// also when the sections forward as many tracks as it should receive but
// not the same ones.
func TestWantsUnchangedFollowsThePlan(t *testing.T) {
	e := newEnv(t)
	r := e.join("R", req(RoleRecvOnly))
	r.connect(t)
	r.p.take(t)
	check := func(when string, want bool) {
		t.Helper()
		ch := r.c.ch
		ch.mu.Lock()
		defer ch.mu.Unlock()
		plan := slices.Equal(r.c.planLocked(r.c.desiredLocked()), r.c.sections)
		if got := r.c.wantsUnchangedLocked(); got != want || plan != want {
			t.Errorf("%s: wantsUnchangedLocked %v, plan unchanged %v; want %v", when, got, plan, want)
		}
	}
	check("alone", true)

	s1 := e.join("S1", req(RoleSendOnly))
	s1.connect(t)
	check("S1 published, its re-offer sent", true)
	// S2 publishes while R has not answered: R's sections lack S2's tracks.
	s2 := e.join("S2", req(RoleSendOnly))
	s2.connect(t)
	check("S2 published while R answers S1", false)
	r.answer(t, r.p.take(t))
	r.answer(t, r.p.take(t)) // the re-offer that adds S2
	check("both answered", true)

	// S1 leaves: R is re-offered at once. S2 leaves before R answers, so
	// R's sections still forward S2's tracks.
	s1.c.Leave()
	msgs := r.p.take(t)
	s2.c.Leave()
	check("S2 gone while R answers S1's departure", false)
	r.answer(t, msgs)
	r.answer(t, r.p.take(t))
	check("both departures answered", true)

	s3 := e.join("S3", req(RoleSendOnly))
	s3.connect(t)
	r.answer(t, r.p.take(t))
	check("S3 answered", true)
	s4 := e.join("S4", req(RoleSendOnly))
	s4.connect(t)
	msgs = r.p.take(t)
	s3.c.Leave()
	r.answer(t, msgs)
	r.answer(t, r.p.take(t))
	check("S3 and S4 answered", true)
	// R is re-offered S5 at once (sections for S4 and S5); before it
	// answers, S4 leaves and S6 publishes: R should receive S5 and S6, as
	// many tracks as its sections forward, but not the same ones.
	s5 := e.join("S5", req(RoleSendOnly))
	s5.connect(t)
	msgs = r.p.take(t)
	s4.c.Leave()
	s6 := e.join("S6", req(RoleSendOnly))
	s6.connect(t)
	check("S4 swapped for S6 while R answers S5", false)
	r.answer(t, msgs)
	r.answer(t, r.p.take(t))
	check("S5 and S6 answered", true)
}
