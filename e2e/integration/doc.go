// Package integration holds the Go integration tests: the real Hayate server
// (ctrl/server) runs in-process on 127.0.0.1 with free ports, and pion/webrtc
// v4 clients (bench/soraclient) connect to it over the Sora signaling protocol
// and exchange real RTP/RTCP through its media plane.
//
// The package has no code outside its _test.go files. Each test starts its
// own server, bounds itself with a hard timeout, prints the server's recent
// log when it fails, and checks at the end that no goroutine it started is
// left. Tests run one at a time (no t.Parallel): the machine has two cores
// and the assertions count packets.
package integration
