package load

import (
	"errors"
	"slices"
	"testing"
	"time"
)

func TestNormalize(t *testing.T) {
	ok := Options{Scenario: ScenarioFanout, HayateBin: "/bin/true"}
	got, err := ok.normalize()
	if err != nil {
		t.Fatalf("normalize(%+v): %v", ok, err)
	}
	if got.Subs != 50 || got.Duration != 10*time.Second || got.VideoPPS != 150 || got.AudioPPS != 50 ||
		got.VideoSize != 1200 || got.AudioSize != 100 || got.Concurrency != 16 || got.Speakers != 10 || got.Log == nil {
		t.Errorf("defaults not filled: %+v", got)
	}
	for _, tc := range []struct {
		name string
		o    Options
	}{
		{"unknown scenario", Options{Scenario: "storm", HayateBin: "x"}},
		{"no server", Options{Scenario: ScenarioFanout}},
		{"negative subs", Options{Scenario: ScenarioFanout, HayateBin: "x", Subs: -1}},
		{"too many subs", Options{Scenario: ScenarioFanout, HayateBin: "x", Subs: 5000}},
		{"mesh of one", Options{Scenario: ScenarioMesh, HayateBin: "x", Subs: 1}},
		{"more speakers than participants", Options{Scenario: ScenarioAudio, HayateBin: "x", Subs: 5, Speakers: 6}},
		{"tiny window", Options{Scenario: ScenarioFanout, HayateBin: "x", Duration: time.Millisecond}},
		{"jumbo video", Options{Scenario: ScenarioFanout, HayateBin: "x", VideoSize: 9000}},
		{"payload without room for the stamp", Options{Scenario: ScenarioFanout, HayateBin: "x", AudioSize: 8}},
		{"bad gso", Options{Scenario: ScenarioFanout, HayateBin: "x", GSO: 7}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := tc.o.normalize(); !errors.Is(err, ErrBadOptions) {
				t.Errorf("normalize(%+v) = %v, want ErrBadOptions", tc.o, err)
			}
		})
	}
}

func TestParseGSO(t *testing.T) {
	for in, want := range map[string]GSO{"off": GSOOff, "on": GSOOn, "both": GSOBoth, "true": GSOOn} {
		if got, err := ParseGSO(in); err != nil || got != want {
			t.Errorf("ParseGSO(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	if _, err := ParseGSO("sometimes"); !errors.Is(err, ErrBadOptions) {
		t.Errorf("ParseGSO(sometimes) = %v, want ErrBadOptions", err)
	}
}

// The plan decides the expected packet counts, so loss is only as right as it.
func TestPlan(t *testing.T) {
	for _, tc := range []struct {
		o          Options
		members    int
		streams    int // publisher streams
		deliveries int // sum over streams of their receivers = sum of expects
	}{
		{Options{Scenario: ScenarioFanout, Subs: 50}, 51, 2, 100},
		{Options{Scenario: ScenarioMesh, Subs: 10}, 10, 20, 180},
		{Options{Scenario: ScenarioAudio, Subs: 100, Speakers: 10}, 100, 10, 10*9 + 90*10},
		{Options{Scenario: ScenarioJoin, Subs: 20}, 20, 0, 0},
	} {
		_, groups := plan(tc.o)
		var members, streams, fans, expects int
		for _, g := range groups {
			for _, m := range g {
				members++
				if m.sends() {
					if m.audio {
						streams++
					}
					if m.video {
						streams++
					}
				}
				fans += m.audioFans + m.videoFans
				expects += m.expect
			}
		}
		if tc.o.Scenario == ScenarioJoin {
			streams = 0 // join clients publish nothing
		}
		if members != tc.members || streams != tc.streams || fans != tc.deliveries || expects != tc.deliveries {
			t.Errorf("%s subs=%d: %d members, %d streams, %d fans, %d expects; want %d, %d, %d, %d",
				tc.o.Scenario, tc.o.Subs, members, streams, fans, expects, tc.members, tc.streams, tc.deliveries, tc.deliveries)
		}
	}
	// Publishers join before their subscribers.
	if _, g := plan(Options{Scenario: ScenarioFanout, Subs: 3}); len(g) != 2 || g[0][0].role != "sendonly" {
		t.Errorf("fanout groups %+v: want the publisher alone first", g)
	}
	// The subscribers join in two groups, a fifth first, so that memory is
	// read between them; mesh members all publish and join together.
	for _, tc := range []struct {
		o     Options
		sizes []int
	}{
		{Options{Scenario: ScenarioFanout, Subs: 50}, []int{1, 10, 40}},
		{Options{Scenario: ScenarioFanout, Subs: 4}, []int{1, 4}},
		{Options{Scenario: ScenarioAudio, Subs: 100, Speakers: 10}, []int{10, 18, 72}},
		{Options{Scenario: ScenarioMesh, Subs: 10}, []int{10}},
	} {
		_, g := plan(tc.o)
		var sizes []int
		for _, grp := range g {
			sizes = append(sizes, len(grp))
		}
		if !slices.Equal(sizes, tc.sizes) {
			t.Errorf("%s subs=%d: join groups of %v, want %v", tc.o.Scenario, tc.o.Subs, sizes, tc.sizes)
		}
	}
}
