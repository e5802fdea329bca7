// Command hayate runs the Hayate SFU.
//
//	hayate                     run with the built-in defaults
//	hayate --config FILE       run with FILE (sora.conf style) over the defaults
//	hayate --version | --help
//	hayate load …              the load generator (hayate load --help)
//	hayate ctl …               call the HTTP API (hayate ctl --help)
//
// Every key can also be set with HAYATE_<KEY_IN_UPPER_CASE>, which wins over
// the file. Exit status: 0 after a clean shutdown on SIGTERM/SIGINT (a second
// signal exits at once), 1 when the server fails or does not shut down
// cleanly, 2 for a usage or configuration error.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime"
	"strings"
	"syscall"

	"github.com/hayate-sfu/hayate/ctrl/config"
	"github.com/hayate-sfu/hayate/ctrl/obs"
	"github.com/hayate-sfu/hayate/ctrl/server"
)

func main() {
	os.Exit(run(os.Args[1:], os.Environ(), os.Stdout, os.Stderr))
}

// Exit statuses.
const (
	exitOK    = 0
	exitFail  = 1
	exitUsage = 2
)

func run(args, environ []string, stdout, stderr io.Writer) int {
	if len(args) > 0 && args[0] == "load" {
		return runLoad(args[1:], stdout, stderr)
	}
	if len(args) > 0 && args[0] == "ctl" {
		return runCtl(args[1:], stdout, stderr)
	}
	fs := flag.NewFlagSet("hayate", flag.ContinueOnError)
	fs.SetOutput(stderr)
	configPath := fs.String("config", "", "read settings from `FILE` (sora.conf style: key = value)")
	version := fs.Bool("version", false, "print the version and exit")
	fs.Usage = func() {} // --help prints to stdout below; errors get a hint
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			usage(fs, stdout)
			return exitOK
		}
		// The flag package has printed the problem.
		fmt.Fprintln(stderr, "Usage: hayate [--config FILE] (hayate --help for more)")
		return exitUsage
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "hayate: unknown subcommand %q (see hayate --help)\n", fs.Arg(0))
		return exitUsage
	}
	if *version {
		fmt.Fprintf(stdout, "hayate %s (%s)\n", server.Version, runtime.Version())
		return exitOK
	}

	cfg, err := config.Load(*configPath, environ)
	if err != nil {
		// One line per rejected setting (Load joins them).
		for _, line := range strings.Split(err.Error(), "\n") {
			fmt.Fprintf(stderr, "hayate: %s\n", line)
		}
		return exitUsage
	}
	log := obs.NewLogger(cfg.LogLevel, cfg.LogFormat, stderr)
	log.Info("starting", "version", server.Version, "config_file", *configPath, "config", cfg)

	// Signals are watched before the listeners open, so a SIGTERM during
	// start still shuts down cleanly.
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()

	srv, err := server.New(cfg, log)
	if err != nil {
		log.Error("cannot start", "err", err)
		return exitFail
	}
	log.Info("listening", "what", "signaling", "url", srv.SignalingURL())
	log.Info("listening", "what", "try-it page", "url", srv.HTTPURL())
	log.Info("listening", "what", "api", "url", srv.APIURL())
	log.Info("listening", "what", "admin", "url", srv.AdminURL())
	var candidates []string
	for _, c := range srv.Plane().Candidates() {
		candidates = append(candidates, c.Protocol+" "+c.Addr.String())
	}
	log.Info("listening", "what", "media", "udp", srv.Plane().LocalAddr().String(), "candidates", candidates)

	<-ctx.Done()
	stop() // a second signal kills the process the default way
	log.Info("signal received, shutting down", "timeout", cfg.ShutdownTimeout)
	sctx, cancel := context.WithTimeout(context.Background(), cfg.ShutdownTimeout)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		log.Error("shutdown", "err", err)
		return exitFail
	}
	return exitOK
}

func usage(fs *flag.FlagSet, w io.Writer) {
	fmt.Fprintf(w, "Usage: hayate [--config FILE]\n\nHayate %s, a Sora-compatible WebRTC SFU.\n\nFlags:\n", server.Version)
	fs.SetOutput(w)
	fs.PrintDefaults()
	fmt.Fprintf(w, "\nSettings (file: key = value; environment: %s<KEY>, which wins over the file):\n", config.EnvPrefix)
	for _, k := range config.Keys() {
		fmt.Fprintf(w, "  %-28s default %s\n  %28s %s\n", k.Name, k.Default, "", k.Doc)
	}
}
