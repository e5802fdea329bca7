package load

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"time"

	"golang.org/x/sys/unix"
)

// Run measures o.Scenario against Hayate and, when o.BaselineCmd is set,
// against the baseline, one server after the other, and returns one Result
// per Hayate GSO mode (two for GSOBoth; both share the baseline figures).
// A server that fails leaves its Measurement nil and sets Result.Err; Run
// itself fails only for bad options or a cancelled ctx.
func Run(ctx context.Context, o Options) ([]Result, error) {
	o, err := o.normalize()
	if err != nil {
		return nil, err
	}
	if !o.NoClientBatch {
		if err := batchThreads(); err != nil {
			return nil, err
		}
		defer func() { _ = setPolicyAll(unix.SCHED_NORMAL) }()
	}
	gsoKnown := false
	if o.HayateBin != "" {
		if gsoKnown, err = SupportsGSO(ctx, o.HayateBin); err != nil {
			return nil, err
		}
	}
	modes := []bool{false}
	switch {
	case o.GSO == GSOOff || o.HayateBin == "":
	case !gsoKnown:
		fmt.Fprintf(o.Log, "# note: %s has no media_gso key; gso=on runs skipped, Hayate runs with its default\n", o.HayateBin)
	case o.GSO == GSOOn:
		modes = []bool{true}
	case o.GSO == GSOBoth:
		modes = []bool{false, true}
	}

	results := make([]Result, len(modes))
	var errs []error
	for i, gso := range modes {
		results[i] = Result{Scenario: o.Scenario, Subs: o.Subs, GSO: gso}
		if o.HayateBin == "" {
			continue
		}
		m, err := measure(ctx, o, serverSpec{kind: kindHayate, argv: []string{o.HayateBin}, gso: gso, gsoKnown: gsoKnown, loops: o.MediaLoops})
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("hayate gso=%s: %w", onOff(gso), err))
		}
		results[i].Hayate = m
	}
	if o.BaselineCmd != nil {
		m, err := measure(ctx, o, serverSpec{kind: kindBaseline, argv: o.BaselineCmd})
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("baseline: %w", err))
		}
		for i := range results {
			results[i].Baseline = m
		}
	}
	if len(errs) > 0 {
		for i := range results {
			results[i].Err = errors.Join(errs...)
		}
	}
	return results, nil
}

// measure runs the scenario against one server. It returns nil and the
// error when the server or the clients failed.
func measure(ctx context.Context, o Options, spec serverSpec) (*Measurement, error) {
	dir, err := os.MkdirTemp("", "hayate-load-*")
	if err != nil {
		return nil, fmt.Errorf("load: working directory for the server: %w", err)
	}
	defer os.RemoveAll(dir)
	c, err := startChild(ctx, spec, dir)
	if err != nil {
		return nil, err
	}
	channel, groups := plan(o)
	s := newSession(o, c, channel)
	m := &Measurement{Server: spec.kind.String(), GSO: spec.gso, Mallocs: -1, IdleMallocs: -1, MemPerClient: -1, LivePerClient: -1}
	runErr := run(ctx, s, groups, m)
	total, stopErr := s.teardown()
	m.TotalCPU = total
	if runErr != nil {
		return nil, runErr
	}
	if stopErr != nil {
		fmt.Fprintf(o.Log, "# %s: %v\n", spec.kind, stopErr)
	}
	fmt.Fprintf(o.Log, "# %s\n", m.Summary())
	return m, nil
}

// run joins the clients and measures; teardown is the caller's.
func run(ctx context.Context, s *session, groups [][]member, m *Measurement) error {
	o := s.o
	start := time.Now()
	if o.Scenario == ScenarioJoin {
		cpu0, err := s.c.cpu()
		if err != nil {
			return err
		}
		var took []time.Duration
		for _, g := range groups {
			if err := s.joinAll(ctx, g, &took); err != nil {
				return err
			}
		}
		m.JoinTime = time.Since(start)
		cpu1, err := s.c.cpu()
		if err != nil {
			return err
		}
		m.JoinCPU = cpu1 - cpu0
		m.Joined = len(took)
		slices.Sort(took)
		if len(took) > 0 {
			m.ConnectP50 = took[len(took)/2]
			m.ConnectP90 = took[min(len(took)-1, len(took)*9/10)]
		}
		return nil
	}

	// Memory is read before the last group joins (once the clients before
	// it receive what they expect) and after the window; the growth is
	// divided by the last group's size. With splitLast that is the cost of
	// one more subscriber in steady state.
	var mem0, live0 float64
	var settled time.Duration
	memErr := errors.New("not read")
	jctx, cancel := context.WithTimeout(ctx, o.ReadyTimeout)
	defer cancel()
	for i, g := range groups {
		if i == len(groups)-1 {
			if i > 0 {
				if _, err := s.waitReady(ctx, time.Now().Add(o.ReadyTimeout)); err != nil {
					return err
				}
				if err := sleep(ctx, memSettle); err != nil {
					return err
				}
				settled = memSettle
			}
			mem0, live0, memErr = s.c.memory(ctx)
		}
		if err := s.joinAll(jctx, g, nil); err != nil {
			return err
		}
	}
	incomplete, err := s.waitReady(ctx, start.Add(o.ReadyTimeout))
	if err != nil {
		return err
	}
	m.JoinTime = time.Since(start) - settled
	m.Incomplete = incomplete
	s.mu.Lock()
	m.Joined = len(s.clients)
	s.mu.Unlock()
	if incomplete > 0 {
		fmt.Fprintf(o.Log, "# %s: %d receivers still lack a stream after %v; measuring anyway\n", s.c.spec.kind, incomplete, o.ReadyTimeout)
	}
	if err := sleep(ctx, o.Warmup); err != nil {
		return err
	}
	if err := s.window(ctx, m); err != nil {
		return err
	}
	// After the window: every client joined, media flowing for seconds
	// (the server lets a media-only transport's DTLS state go once its
	// client has sent media or kept quiet for a while).
	m.MemPerClient, m.LivePerClient = -1, -1
	last := len(groups[len(groups)-1])
	if mem1, live1, err := s.c.memory(ctx); memErr == nil && err == nil && last > 0 && m.Incomplete == 0 {
		m.MemPerClient = (mem1 - mem0) / float64(last)
		m.LivePerClient = (live1 - live0) / float64(last)
	}
	return nil
}

// fetchAllocs saves the allocation profile as name in o.ProfileDir, after
// two forced GCs: a profile counts the allocations up to the GC before the
// last one, so one GC would leave out those since the last but one (among
// the joins, for the profile at the window's start).
func (s *session) fetchAllocs(ctx context.Context, name string) error {
	if _, err := s.c.get(ctx, "/debug/pprof/heap?gc=1&debug=1"); err != nil {
		return err
	}
	return s.fetchProfile(ctx, "/debug/pprof/allocs?gc=1", name)
}

// fetchProfile saves an admin pprof path as name in o.ProfileDir.
func (s *session) fetchProfile(ctx context.Context, path, name string) error {
	b, err := s.c.get(ctx, path)
	if err != nil {
		return err
	}
	dst := filepath.Join(s.o.ProfileDir, name)
	if err := os.WriteFile(dst, b, 0o644); err != nil {
		return fmt.Errorf("load: saving %s: %w", name, err)
	}
	fmt.Fprintf(s.o.Log, "# profile: %s\n", dst)
	return nil
}

// Case is one run of the standard set.
type Case struct {
	Scenario string
	Subs     int
}

// StandardSet is what `make bench-compare` and BenchmarkLoad run: fanout to
// 10, 50 and 200 subscribers, a 10-party mesh, 100 audio participants with
// 10 speakers, and 20 joins.
func StandardSet() []Case {
	return []Case{
		{ScenarioFanout, 10},
		{ScenarioFanout, 50},
		{ScenarioFanout, 200},
		{ScenarioMesh, 10},
		{ScenarioAudio, 100},
		{ScenarioJoin, 20},
	}
}
