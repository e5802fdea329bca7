// Package netio moves datagrams between the media socket and a loop in
// batches: recvmmsg(2) fills many pooled buffers per syscall, sendmmsg(2)
// flushes a loop's egress queue in one, and runs of same-size packets to one
// destination go out as one UDP GSO super-packet (UDP_SEGMENT, Linux ≥ 4.18)
// when the kernel allows it, falling back to plain datagrams at run time.
//
// A Conn is owned by one loop: ReadBatch and WriteBatch must not be called
// concurrently with themselves. Its batch I/O and read deadline go through a
// duplicate of the socket's descriptor (closed by Conn.Close), so that
// neither allocates, a deadline included. Other goroutines may still write single
// datagrams through the underlying *net.UDPConn (DTLS flights do).
package netio
