package load

import (
	"net"
	"strconv"
	"testing"
)

// The media port must be free for TCP too (Hayate's ICE-TCP listener): a
// UDP port whose number a TCP socket holds is passed over.
func TestFreePortsMediaFreeForTCP(t *testing.T) {
	// A UDP port whose number is taken for TCP, offered first.
	busy, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	taken := busy.Addr().(*net.TCPAddr).Port
	calls := 0
	orig := listenUDP
	defer func() { listenUDP = orig }()
	listenUDP = func() (net.PacketConn, error) {
		calls++
		if calls == 1 {
			return net.ListenPacket("udp4", "127.0.0.1:"+strconv.Itoa(taken))
		}
		return orig()
	}
	tcp, media, err := freePorts(3)
	if err != nil {
		t.Fatal(err)
	}
	if media == taken {
		t.Fatalf("media port %d is held by a TCP listener", media)
	}
	if calls < 2 || len(tcp) != 3 {
		t.Fatalf("%d UDP candidates, %d TCP ports; want the busy one passed over and 3 TCP ports", calls, len(tcp))
	}
	// Both bind now that freePorts let go of them.
	ln, err := net.Listen("tcp4", "127.0.0.1:"+strconv.Itoa(media))
	if err != nil {
		t.Fatalf("media port %d not free for TCP: %v", media, err)
	}
	ln.Close()
	pc, err := net.ListenPacket("udp4", "127.0.0.1:"+strconv.Itoa(media))
	if err != nil {
		t.Fatalf("media port %d not free for UDP: %v", media, err)
	}
	pc.Close()
}
