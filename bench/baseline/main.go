package baseline

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/netip"
	"os/signal"
	"syscall"
)

// Main runs the baseline as a program: it parses args (the flags below),
// serves until SIGINT or SIGTERM, then closes. It returns the exit status:
// 0 after a clean stop, 1 when the server cannot start, 2 for bad flags.
//
//	--listen IP            address of every listener (default 127.0.0.1)
//	--signaling-port N     TCP port of /signaling (default 5001; 0 = free port)
//	--media-port M         UDP port of the media (default 50001; 0 = free port)
//	--admin-port A         TCP port of /healthz, /metrics, /debug/pprof/ (default -1 = none)
//	--log-level L          debug, info, warn or error (default warn)
//
// The first line written to stdout names the three addresses.
func Main(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("baseline", flag.ContinueOnError)
	fs.SetOutput(stderr)
	listen := fs.String("listen", "127.0.0.1", "IP `address` every listener binds")
	sigPort := fs.Int("signaling-port", 5001, "TCP `port` of ws://…/signaling (0 picks a free port)")
	mediaPort := fs.Int("media-port", 50001, "UDP `port` shared by every PeerConnection (0 picks a free port)")
	adminPort := fs.Int("admin-port", -1, "TCP `port` of /healthz, /metrics and /debug/pprof/ (0 picks a free port, -1 none)")
	level := fs.String("log-level", "warn", "least severe log `level`: debug, info, warn or error")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "baseline: unexpected argument %q\n", fs.Arg(0))
		return 2
	}
	ip, err := netip.ParseAddr(*listen)
	if err != nil {
		fmt.Fprintf(stderr, "baseline: --listen %q is not an IP address\n", *listen)
		return 2
	}
	var lv slog.Level
	if err := lv.UnmarshalText([]byte(*level)); err != nil {
		fmt.Fprintf(stderr, "baseline: --log-level %q (want debug, info, warn or error)\n", *level)
		return 2
	}
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: lv}))

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	s, err := New(Config{ListenAddress: ip, SignalingPort: *sigPort, MediaPort: *mediaPort, AdminPort: *adminPort, Logger: log})
	if err != nil {
		fmt.Fprintf(stderr, "baseline: %v\n", err)
		if errors.Is(err, ErrBadConfig) {
			return 2
		}
		return 1
	}
	fmt.Fprintf(stdout, "baseline: signaling %s media udp %s admin %s\n", s.SignalingURL(), s.MediaAddr(), s.AdminURL())
	<-ctx.Done()
	stop() // a second signal kills the process the default way
	_ = s.Close()
	return 0
}
