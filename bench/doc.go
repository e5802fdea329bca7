// Package bench holds Hayate's benchmarks that span the whole server:
// BenchmarkLoad runs the standard load set of package bench/load (fanout to
// 10, 50 and 200 subscribers, a 10-party mesh, 100 audio participants, 20
// joins) against Hayate and the pion baseline, each in a child process,
// and reports server CPU µs per forwarded packet beside the baseline's:
//
//	go test -run XXX -bench Load ./bench/...
//	go test -run XXX -bench Load/fanout-50 ./bench/ -load.duration 10s
//
// The subpackages are the parts: bench/load (the load generator),
// bench/baseline (the pion forwarder), bench/soraclient (the Sora client).
// Nothing here runs without -bench: each case takes seconds and both cores.
package bench
