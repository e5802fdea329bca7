// Package load is Hayate's load generator: it starts a server under test as
// a child process, drives it with real WebRTC clients (bench/soraclient on
// pion: ICE, DTLS and SRTP over 127.0.0.1) and reports the server's CPU time
// per forwarded packet beside the pion baseline (bench/baseline) measured
// the same way in the same run.
//
// # Model
//
// A Run measures one scenario against each server in turn:
//
//  1. start the server with free ports on 127.0.0.1 (Hayate through
//     HAYATE_* variables, the baseline through flags) and wait for its
//     admin /healthz;
//  2. connect the scenario's clients, group by group (publishers first),
//     Options.Concurrency at a time; publishers start sending paced RTP at
//     once: video as 30 frames a second of 5 back-to-back 1200-byte VP8
//     packets (a keyframe every second and on PLI), Opus as 50 packets of
//     100 bytes;
//  3. wait until every receiver has a packet of every stream it expects,
//     then Warmup; pause the publishers for one signaling ping interval
//     (5 s) to read the server's idle CPU and allocations (every client
//     joined, no media: its floor; the CPU floor is shown beside the
//     result, never subtracted from it);
//  4. the window: publishers mark the packets they send (a flag in the
//     stamp every payload ends with, beside the stream id, the publisher's
//     sequence number and the send time in monotonic ns since the run's
//     epoch) and count them; receivers count the marked packets they read
//     and record their latency. After Duration the publishers pause and,
//     once the last packets have arrived, the server's CPU time is read
//     again: its process CPU clock (clock_getcpuclockid) is read before and
//     after, so joining and shutting down are not counted. Hayate's admin
//     /debug/allocs (else go_memstats_mallocs_total on /metrics) gives
//     allocations, and the server's heap and stacks after a forced GC give
//     memory per subscriber: read once the first fifth of the subscribers
//     (fanout, audio) receive their streams and again after the window,
//     the growth divided by the subscribers that joined in between;
//  5. stop the server (SIGTERM), close the clients.
//
// CPU per packet is the server's CPU time in the window over the packets
// the receivers got; loss compares those with what the publishers sent
// times each stream's receivers. The headline latency is socket to socket:
// every client's UDP socket is its own (sock.go) and records when each RTP
// datagram was handed to the kernel to send and when the kernel queued one
// it received (SO_TIMESTAMPNS), so it holds the server and two loopback
// hops but neither pion stack. The latency as decoded (publisher WriteRTP
// to subscriber Read) is printed beside it. The sockets take UDP_GRO (see
// Options.NoClientGRO), and the load generator's threads run in
// SCHED_BATCH while the server runs in the normal policy (sched.go,
// Options.NoClientBatch): a client woken by a datagram no longer preempts
// the server in the middle of a fan-out's send call, as a client on
// another machine would not. Both servers are measured on equal terms.
//
// The load runs in this process, beside the server, on the same cores:
// subscribers have no interceptors and read into one reused buffer per
// track; publishers answer NACKs and send sender reports. The clients share
// what a browser makes for each connection but the server never sees being
// made: one DTLS certificate, the throwaway offer sent as connect.sdp (one
// for publishers, one for subscribers) and the list of interfaces; each
// still runs its own ICE and DTLS handshake. The summary line
// on Options.Log gives the clients' own CPU in the window: close to the
// number of cores means the clients, not the server, set the pace (loss and
// latency then say more about the clients than about the server; CPU per
// packet stays the server's own).
//
// # Concurrency
//
// Run may be called from one goroutine at a time (the servers it starts
// would compete for the cores). Inside a run, each publisher has one
// goroutine, each received track one, and the counters they share are
// atomic.
package load
