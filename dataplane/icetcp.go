package dataplane

import (
	"fmt"
	"net/netip"

	"github.com/hayate-sfu/hayate/dataplane/demux"
	"github.com/hayate-sfu/hayate/dataplane/icelite"
	"github.com/hayate-sfu/hayate/dataplane/tcpmux"
)

// ICE-TCP (RFC 6544, passive only). The media port's TCP side is a tcpmux
// server: its framed packets enter the same per-loop handling as UDP
// datagrams, keyed by the peer's TCP address written as an IPv4-mapped IPv6
// address (tcpKey). A UDP datagram's address is always a plain IPv4 one,
// so the two address spaces never meet in byAddr, and commit sends to a
// mapped address over TCP instead of the UDP socket.

// tcpPacket is one framed packet from an ICE-TCP connection, copied off
// gnet's buffer, on its way to the owning loop.
type tcpPacket struct {
	b    []byte
	from netip.AddrPort // tcpKey form
}

// tcpKey is the loop's key for a TCP peer.
func tcpKey(remote netip.AddrPort) netip.AddrPort {
	return netip.AddrPortFrom(netip.AddrFrom16(remote.Addr().Unmap().As16()), remote.Port())
}

// isTCP reports whether a loop address is a TCP peer (tcpKey form).
func isTCP(a netip.AddrPort) bool { return a.Addr().Is4In6() }

// tcpRemote turns a tcpKey back into the peer's TCP address.
func tcpRemote(a netip.AddrPort) netip.AddrPort {
	return netip.AddrPortFrom(a.Addr().Unmap(), a.Port())
}

// startICETCP listens for ICE-TCP on the media port's number.
func (p *plane) startICETCP(addr netip.AddrPort) error {
	s, err := tcpmux.New(tcpmux.Config{
		Addr:     addr,
		OnPacket: p.onTCPPacket,
		OnClose:  p.onTCPClose,
		Loops:    1,
		Logf:     func(format string, args ...any) { p.log.Debug(fmt.Sprintf("ice-tcp: "+format, args...)) },
	})
	if err != nil {
		return fmt.Errorf("dataplane: ICE-TCP listener: %w", err)
	}
	p.tcp = s
	return nil
}

// onTCPPacket runs on a tcpmux goroutine: it finds the loop of the
// connection's transport (from the ufrag of its first check) and passes the
// packet on.
func (p *plane) onTCPPacket(remote netip.AddrPort, pkt []byte) {
	if !p.ready.Load() {
		p.counters.DropNotReady.Add(1)
		return
	}
	key := tcpKey(remote)
	var lp *mediaLoop
	if v, ok := p.tcpRoutes.Load(key); ok {
		lp = v.(*mediaLoop)
	} else if demux.Classify(pkt) == demux.STUN {
		var r icelite.Responder
		ufrag, err := r.Parse(pkt)
		v, ok := p.ufrags.Load(ufrag)
		if err != nil || !ok {
			p.counters.DropSTUN.Add(1)
			_ = p.tcp.CloseConn(remote)
			return
		}
		lp = v.(*transport).lp.Load()
		p.tcpRoutes.Store(key, lp)
	} else {
		p.counters.DropUnknown.Add(1)
		return
	}
	p.counters.PacketsIn.Add(1)
	p.counters.BytesIn.Add(uint64(len(pkt)))
	if !lp.tcpIn.Push(tcpPacket{b: append([]byte(nil), pkt...), from: key}) {
		p.counters.DropHandoffFull.Add(1)
		return
	}
	lp.wake()
}

// onTCPClose forgets a TCP peer: its loop unbinds the address from its
// transport (which then lives on other pairs or times out).
func (p *plane) onTCPClose(remote netip.AddrPort) {
	key := tcpKey(remote)
	v, ok := p.tcpRoutes.LoadAndDelete(key)
	if !ok {
		return
	}
	_ = v.(*mediaLoop).do(func(l *loopState) {
		t := l.byAddr[key]
		if t == nil {
			return
		}
		delete(l.byAddr, key)
		t.ls.unbind(key)
		if t.ls.selected == key {
			t.ls.selected = netip.AddrPort{}
		}
	})
}

// drainTCP handles the packets tcpmux passed to this loop.
func (lp *mediaLoop) drainTCP(now int64) {
	for {
		pk, ok := lp.tcpIn.Pop()
		if !ok {
			return
		}
		lp.st.handleDatagram(pk.b, pk.from, now)
	}
}

// sendTCP writes one packet to a TCP peer (tcpmux copies it).
func (p *plane) sendTCP(to netip.AddrPort, b []byte) {
	if p.tcp == nil {
		p.counters.SendErrors.Add(1)
		return
	}
	if err := p.tcp.Write(tcpRemote(to), b); err != nil {
		p.counters.SendErrors.Add(1)
		return
	}
	p.counters.PacketsOut.Add(1)
	p.counters.BytesOut.Add(uint64(len(b)))
}
