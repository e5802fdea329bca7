// Package tcpmux is the TCP side of the media port: an ICE-TCP passive
// listener (RFC 6544, tcptype passive) whose streams carry STUN, DTLS, SRTP
// and SRTCP packets, each behind a 2-byte big-endian length prefix
// (RFC 4571 §2). It is built on gnet/v2 event loops.
//
// # Model
//
// A Server accepts connections and turns each byte stream into packets,
// handing every complete frame to Config.OnPacket with the connection's
// remote address. Outbound, Write frames a packet and queues it to the
// connection of a remote: while the client keeps up, Write itself does one
// non-blocking write(2) (no allocation, no hand-off to another thread); the
// frames the kernel does not take are queued and the connection's event
// loop writes them as the socket drains, after which Write goes direct
// again. Frames are never split between the two paths out of order. The
// Server does
// not authenticate anything: the first frame must only be shaped like a STUN
// Binding request (RFC 6544 §10.1 requires the check to come first). The
// plane checks its credentials and, on failure, calls CloseConn.
//
// The remote key is the peer's TCP address. It is a separate address space
// from the UDP side of the media port: the same ip:port may be a UDP 5-tuple
// and a TCP connection at once, and they are not the same client. A plane
// that keys transports by address must keep the transport's protocol too.
//
// Limits, each with a counter (see Counters):
//   - a zero or oversize length prefix (MaxFrame) closes the connection: the
//     stream cannot be resynchronised;
//   - a first frame that is not a Binding request closes it;
//   - no first frame within HandshakeTimeout, or no frame for IdleTimeout,
//     closes it;
//   - beyond MaxConns, new connections are closed at accept;
//   - each connection holds at most MaxOutbound bytes queued by Write plus
//     MaxOutbound bytes flushed but not taken by the kernel; packets beyond
//     that are dropped whole (never a partial frame), so a client that does
//     not read costs bounded memory.
//
// # Concurrency contract
//
//   - OnPacket and OnClose run on gnet's event-loop goroutines (Config.Loops
//     of them); calls for one connection are never concurrent with each
//     other. pkt is borrowed for the duration of the call. They must not
//     block; they may call Write, WriteBatch and CloseConn, but not Close.
//   - Write, WriteBatch, CloseConn, Counters and Addr are safe from any
//     goroutine and do not block on the network (Write may make one
//     non-blocking system call on the caller's thread). Write does not
//     retain the packet; frames written by successive Write calls from one
//     goroutine to one remote are sent in order.
//   - Close stops the listener, closes every connection (OnClose runs for
//     each before Close returns) and waits for every goroutine the Server
//     started (gnet's accept loop, event loops and ticker).
//
// Deframer and AppendFrame are the pure framing code; they do no I/O.
package tcpmux
