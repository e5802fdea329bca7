package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime/pprof"
	"slices"
	"syscall"
	"time"

	"github.com/hayate-sfu/hayate/bench/baseline"
	"github.com/hayate-sfu/hayate/bench/load"
)

// scenarioStandard runs load.StandardSet.
const scenarioStandard = "standard"

// runLoad is `hayate load`: the load generator (package bench/load), or with
// --serve-baseline the pion baseline server (package bench/baseline).
//
//	hayate load --scenario fanout --subs 50 --duration 10s [--baseline=false] [--server-bin PATH]
//	hayate load --scenario standard --duration 5s
//	hayate load --serve-baseline --signaling-port N --media-port M [--admin-port A]
//
// Each run prints one line on stdout (load.Result.Line); progress and notes
// go to stderr. Exit status: 0, 1 when a server or the clients failed, 2
// for bad flags.
func runLoad(args []string, stdout, stderr io.Writer) int {
	if i := slices.IndexFunc(args, func(a string) bool { return a == "--serve-baseline" || a == "-serve-baseline" }); i >= 0 {
		return baseline.Main(slices.Delete(slices.Clone(args), i, i+1), stdout, stderr)
	}
	fs := flag.NewFlagSet("hayate load", flag.ContinueOnError)
	fs.SetOutput(stderr)
	scenario := fs.String("scenario", load.ScenarioFanout, "`name`: fanout, mesh, audio, join, or standard (fanout 10/50/200, mesh 10, audio 100, join 20)")
	subs := fs.Int("subs", 0, "subscribers (fanout), participants (mesh, audio) or clients (join); 0 = 50, 10, 100, 20")
	speakers := fs.Int("speakers", 0, "speaking participants of the audio scenario; 0 = 10")
	duration := fs.Duration("duration", 10*time.Second, "measured window, after every client joined")
	warmup := fs.Duration("warmup", time.Second, "wait between all joined and the window")
	gso := fs.String("gso", "off", "HAYATE_MEDIA_GSO runs: off, on or both (on needs the media_gso key; otherwise a note and off)")
	joinChannelSize := fs.Int("join-channel-size", 10, "join scenario: clients per channel (0: all in one channel)")
	clientGRO := fs.Bool("client-gro", true, "UDP_GRO on the load clients' sockets: a GSO super-packet reaches a client whole, as from a NIC (--client-gro=false: loopback splits it in the server's send call)")
	clientBatch := fs.Bool("client-batch", true, "load clients' threads in SCHED_BATCH: a client woken by a datagram does not preempt the server mid-send, as a client on another machine would not (--client-batch=false: normal policy)")
	mediaLoops := fs.Int("media-loops", 0, "HAYATE_MEDIA_LOOPS of the Hayate server; 0 = its default (one per CPU)")
	withBaseline := fs.Bool("baseline", true, "also measure the pion baseline in the same run (--baseline=false: Hayate alone)")
	withHayate := fs.Bool("hayate", true, "measure Hayate (--hayate=false: the baseline alone)")
	serverBin := fs.String("server-bin", "", "Hayate binary under test (default: this executable)")
	baselineBin := fs.String("baseline-bin", "", "baseline binary (default: this executable's `load --serve-baseline`)")
	videoPPS := fs.Int("video-pps", 0, "video packets per second per publisher (frames of 5); 0 = 150")
	audioPPS := fs.Int("audio-pps", 0, "audio packets per second per publisher; 0 = 50")
	videoSize := fs.Int("video-size", 0, "video RTP payload bytes; 0 = 1200")
	audioSize := fs.Int("audio-size", 0, "audio RTP payload bytes; 0 = 100")
	concurrency := fs.Int("concurrency", 0, "clients connecting at once; 0 = 16")
	profileDir := fs.String("profile-dir", "", "save each server's CPU and allocation profiles of the window in `DIR`")
	quiet := fs.Bool("quiet", false, "print only the result lines")
	selfProfile := fs.String("self-profile", "", "write the load generator's own CPU profile to `FILE` (is the client side the bottleneck?)")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return exitOK
		}
		return exitUsage
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "hayate load: unexpected argument %q\n", fs.Arg(0))
		return exitUsage
	}
	mode, err := load.ParseGSO(*gso)
	if err != nil {
		fmt.Fprintf(stderr, "hayate load: %v\n", err)
		return exitUsage
	}
	self, err := os.Executable()
	if err != nil {
		fmt.Fprintf(stderr, "hayate load: finding this executable: %v\n", err)
		return exitFail
	}
	if *serverBin == "" {
		*serverBin = self
	}
	hayateBin := *serverBin
	if !*withHayate {
		hayateBin = ""
	}
	var baselineCmd []string
	switch {
	case !*withBaseline:
	case *baselineBin != "":
		baselineCmd = []string{*baselineBin}
	default:
		baselineCmd = []string{self, "load", "--serve-baseline"}
	}
	progress := stderr
	if *quiet {
		progress = io.Discard
	}

	if *selfProfile != "" {
		f, err := os.Create(*selfProfile)
		if err != nil {
			fmt.Fprintf(stderr, "hayate load: %v\n", err)
			return exitFail
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			fmt.Fprintf(stderr, "hayate load: %v\n", err)
			return exitFail
		}
		defer pprof.StopCPUProfile()
	}

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	if mode != load.GSOOff && hayateBin != "" {
		ok, err := load.SupportsGSO(ctx, *serverBin)
		if err != nil {
			fmt.Fprintf(stderr, "hayate load: %v\n", err)
			return exitFail
		}
		if !ok {
			fmt.Fprintf(progress, "# note: %s has no media_gso key yet: gso=on runs skipped, every line is gso=off\n", *serverBin)
			mode = load.GSOOff
		}
	}

	base := load.Options{
		Scenario: *scenario, Subs: *subs, Speakers: *speakers, Duration: *duration, Warmup: *warmup, GSO: mode, MediaLoops: *mediaLoops, NoClientGRO: !*clientGRO, NoClientBatch: !*clientBatch, JoinChannelSize: *joinChannelSize,
		HayateBin: hayateBin, BaselineCmd: baselineCmd,
		VideoPPS: *videoPPS, AudioPPS: *audioPPS, VideoSize: *videoSize, AudioSize: *audioSize,
		Concurrency: *concurrency, ProfileDir: *profileDir, Log: progress,
	}
	cases := []load.Case{{Scenario: *scenario, Subs: *subs}}
	if *scenario == scenarioStandard {
		cases = load.StandardSet()
	}
	status := exitOK
	for _, c := range cases {
		o := base
		o.Scenario, o.Subs = c.Scenario, c.Subs
		if c.Scenario == load.ScenarioJoin {
			o.GSO = load.GSOOff
		}
		if o.Subs == 0 {
			o.Subs = load.DefaultSubs(o.Scenario)
		}
		fmt.Fprintf(progress, "# running %s subs=%d duration=%v\n", o.Scenario, o.Subs, o.Duration)
		results, err := load.Run(ctx, o)
		if err != nil {
			fmt.Fprintf(stderr, "hayate load: %v\n", err)
			if errors.Is(err, load.ErrBadOptions) {
				return exitUsage
			}
			return exitFail
		}
		for _, r := range results {
			if r.Err != nil {
				fmt.Fprintf(stderr, "hayate load: %s subs=%d: %v\n", r.Scenario, r.Subs, r.Err)
				status = exitFail
			}
			fmt.Fprintln(stdout, r.Line())
		}
	}
	return status
}
