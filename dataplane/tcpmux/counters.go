package tcpmux

import "sync/atomic"

// Counters is a snapshot of a Server's counters, each monotonic from New.
// Bytes are payload bytes, without the 2-byte length prefix.
type Counters struct {
	Accepted uint64 // connections accepted and tracked
	Rejected uint64 // connections refused at accept: MaxConns reached, or a duplicate remote
	Closed   uint64 // tracked connections that ended, for any reason

	FramesIn, BytesIn   uint64 // complete frames handed to OnPacket
	FramesOut, BytesOut uint64 // frames handed to the socket (kernel or gnet's outbound buffer)

	// Connections closed by the Server, by reason.
	ClosedBadLength        uint64 // a zero or oversize length prefix
	ClosedNotSTUN          uint64 // first frame was not a STUN Binding request
	ClosedHandshakeTimeout uint64 // no first frame within HandshakeTimeout
	ClosedIdle             uint64 // no frame within IdleTimeout

	// Outbound packets dropped, by reason.
	DropOutboundFull uint64 // MaxOutbound bytes already queued: the client does not read
	DropNoConn       uint64 // Write to a remote with no connection, or one that closed before its flush
}

type counters struct {
	accepted, rejected, closed                 atomic.Uint64
	framesIn, bytesIn, framesOut, bytesOut     atomic.Uint64
	badLength, notSTUN, handshakeTimeout, idle atomic.Uint64
	dropOutboundFull, dropNoConn               atomic.Uint64
}

func (c *counters) snapshot() Counters {
	return Counters{
		Accepted: c.accepted.Load(), Rejected: c.rejected.Load(), Closed: c.closed.Load(),
		FramesIn: c.framesIn.Load(), BytesIn: c.bytesIn.Load(),
		FramesOut: c.framesOut.Load(), BytesOut: c.bytesOut.Load(),
		ClosedBadLength: c.badLength.Load(), ClosedNotSTUN: c.notSTUN.Load(),
		ClosedHandshakeTimeout: c.handshakeTimeout.Load(), ClosedIdle: c.idle.Load(),
		DropOutboundFull: c.dropOutboundFull.Load(), DropNoConn: c.dropNoConn.Load(),
	}
}
