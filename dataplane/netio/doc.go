// Package netio moves datagrams between the media socket and a loop in
// batches: recvmmsg(2) fills many pooled buffers per syscall, sendmmsg(2)
// flushes a loop's egress queue in one, and runs of same-size packets to one
// destination go out as one UDP GSO super-packet (UDP_SEGMENT, Linux ≥ 4.18)
// when the kernel allows it, falling back to plain datagrams at run time.
//
// A Conn is owned by one loop: ReadBatch, WriteBatch and ArmTimer must not be
// called concurrently with themselves. New takes over the socket: the
// runtime's netpoller no longer watches it (it would watch it for EPOLLOUT
// too, and a UDP socket reports write space after every datagram sent).
// The socket (EPOLLIN only), a timerfd and an eventfd share an epoll set of
// the Conn's own, and the netpoller watches that set: a loop parked in
// ReadBatch wakes for a datagram, for the timer it armed, or for Wake from
// any goroutine, and for nothing else. Other goroutines may send single
// datagrams with WriteTo (DTLS flights do).
package netio
