// Command baseline runs the pion/webrtc forwarder that Hayate is measured
// against (package bench/baseline):
//
//	go run ./bench/baseline/cmd/baseline --signaling-port 5001 --media-port 50001 [--admin-port 6061]
//
// It serves until SIGINT or SIGTERM.
package main

import (
	"os"

	"github.com/hayate-sfu/hayate/bench/baseline"
)

func main() { os.Exit(baseline.Main(os.Args[1:], os.Stdout, os.Stderr)) }
