// Package udpio measures what receiving media datagrams costs with each
// candidate loop design, for the choice DESIGN.md §4 and issue 6 ask for:
//
//   - recvmmsg-locked: the dataplane/netio way. One goroutine, locked to its
//     thread as the media loops are, calls recvmmsg(2) through the socket's
//     syscall.RawConn; an empty socket parks it in Go's netpoller.
//   - recvmmsg: the same, not locked to a thread.
//   - epoll-recvmmsg: a locked goroutine blocks in its own epoll_wait(2) on
//     the socket and an eventfd, then drains the socket with recvmmsg. Go's
//     netpoller is not involved (gnet's model without gnet).
//   - gnet-recvmmsg: a gnet/v2 UDP event loop (locked). gnet reads one
//     datagram per readiness event with recvfrom(2) (it has no batch read
//     for UDP); OnTraffic then drains the socket with recvmmsg on Conn.Fd.
//   - gnet-recvfrom: gnet alone, one recvfrom and one OnTraffic per datagram.
//
// A child process (this test binary again) sends b.N datagrams of 1200
// bytes from 127.0.0.1 in sendmmsg bursts of 32 every 400 µs (80 kpps;
// flags -udpio.size, -udpio.burst, -udpio.interval), so this process's CPU
// time (getrusage RUSAGE_SELF, Go runtime and GC included) is the
// receiver's alone:
//
//	go test -run XXX -bench . -count 5 ./bench/udpio/
//
// BenchmarkUDPRecv/<receiver> reports ns/pkt (process CPU per datagram
// received; the figure to compare), thread-ns/pkt (the receiving thread
// alone, where it is locked: the rest is runtime work on other threads,
// such as netpoller hand-offs), pkts/wake, loss-% and sent-kpps (the rate
// the sender achieved). ns/op is wall time per datagram and only reflects
// the pacing. BenchmarkUDPRecvInterleaved runs the receivers in rotating
// chunks within one run and reports <receiver>-ns/pkt for each: on a shared
// machine whose load drifts, its medians are the fairer comparison.
//
// TestEveryDatagramArrives checks that every receiver gets every datagram
// of a small run, so the figures are not those of a receiver that drops.
package udpio
