package netio

import "net/netip"

// BufSize is the capacity of every receive and egress buffer.
const BufSize = 2048

// Message is one datagram: Buf[:N] is its data, Addr its peer.
type Message struct {
	Buf  []byte
	N    int
	Addr netip.AddrPort
}

// NewMessages allocates n messages with BufSize buffers, all in one block.
func NewMessages(n int) []Message {
	block := make([]byte, n*BufSize)
	ms := make([]Message, n)
	for i := range ms {
		ms[i].Buf = block[i*BufSize : (i+1)*BufSize : (i+1)*BufSize]
	}
	return ms
}

// Stats are a Conn's counters, owned by its loop.
type Stats struct {
	RecvCalls, RecvPackets uint64
	SendCalls, SendPackets uint64
	GSOSends               uint64 // super-packets sent with UDP_SEGMENT
	SendErrors             uint64
}
