package turnsrv

import (
	"bytes"
	"encoding/binary"
	"io"
	"net"
	"net/netip"
	"strconv"
	"testing"
	"time"
)

// bindingRequest is a STUN Binding request without attributes.
func bindingRequest() []byte {
	return stunMessage(0x0001, nil)
}

func stunMessage(typ uint16, body []byte) []byte {
	b := make([]byte, stunHeaderLen, stunHeaderLen+len(body))
	binary.BigEndian.PutUint16(b[0:2], typ)
	binary.BigEndian.PutUint16(b[2:4], uint16(len(body)))
	binary.BigEndian.PutUint32(b[4:8], stunMagicCookie)
	copy(b[8:20], "transaction!")
	return append(b, body...)
}

// channelData is a ChannelData message padded to 4 bytes, as over TCP.
func channelData(ch uint16, data []byte) []byte {
	b := make([]byte, channelHeaderLen, channelHeaderLen+len(data)+3)
	binary.BigEndian.PutUint16(b[0:2], ch)
	binary.BigEndian.PutUint16(b[2:4], uint16(len(data)))
	b = append(b, data...)
	for len(b)%4 != 0 {
		b = append(b, 0)
	}
	return b
}

func concat(parts ...[]byte) []byte { return bytes.Join(parts, nil) }

func TestFrameScanner(t *testing.T) {
	valid := concat(bindingRequest(), channelData(0x4000, []byte("abcde")), stunMessage(0x0003, make([]byte, 8)),
		channelData(0x4FFF, nil), channelData(0x4001, []byte("1234")))
	for _, tc := range []struct {
		name   string
		stream []byte
		good   int // bytes accepted; len(stream) when valid
		frames uint64
	}{
		{"valid frames", valid, len(valid), 5},
		{"partial STUN header", bindingRequest()[:7], 7, 0},
		{"partial ChannelData", channelData(0x4000, []byte("abcde"))[:6], 6, 0},
		// "GET " reads as ChannelData on channel 0x4745: the stream is
		// invalid only where that frame ends. "POST" is refused at once.
		{"HTTP POST", []byte("POST / HTTP/1.1\r\n"), 0, 0},
		{"HTTP GET", []byte("GET / HTTP/1.1\r\n"), 16, 0},
		// A TLS record header starts like STUN; the missing cookie shows at
		// byte 8.
		{"TLS ClientHello", []byte{0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00, 0x01, 0xFC, 0x03}, 7, 0},
		{"channel number 0x5000", channelData(0x5000, []byte("x")), 0, 0},
		{"STUN without the magic cookie", concat(bindingRequest(), []byte{0, 1, 0, 0, 1, 2, 3, 4, 9, 9}), stunHeaderLen + 7, 1},
		{"garbage after valid frames", concat(valid, []byte{0xFF}), len(valid), 5},
		{"unpadded ChannelData shifts the stream", concat([]byte{0x40, 0x00, 0x00, 0x01, 'x'}, bindingRequest()), 15, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			// Fed whole and fed one byte at a time: the same verdict.
			var whole frameScanner
			if n := whole.scan(tc.stream); n != tc.good || whole.frames != tc.frames {
				t.Errorf("whole: accepted %d bytes, %d frames; want %d, %d", n, whole.frames, tc.good, tc.frames)
			}
			var bytewise frameScanner
			n := 0
			for i := range tc.stream {
				if bytewise.scan(tc.stream[i:i+1]) == 0 {
					break
				}
				n++
			}
			if n != tc.good || bytewise.frames != tc.frames {
				t.Errorf("byte by byte: accepted %d bytes, %d frames; want %d, %d", n, bytewise.frames, tc.good, tc.frames)
			}
		})
	}
}

func TestFrameScannerAllocs(t *testing.T) {
	stream := concat(bindingRequest(), channelData(0x4000, make([]byte, 1200)))
	var s frameScanner
	if n := testing.AllocsPerRun(100, func() { s.scan(stream) }); n != 0 {
		t.Fatalf("scan allocates %v times per call", n)
	}
}

// FuzzFrameScanner: how a stream is cut into reads never changes what the
// scanner accepts, and it never accepts past the first bad byte.
func FuzzFrameScanner(f *testing.F) {
	f.Add(concat(bindingRequest(), channelData(0x4000, []byte("abc"))), uint16(3))
	f.Add([]byte("GET / HTTP/1.1\r\n"), uint16(1))
	f.Add(concat(channelData(0x4FFF, make([]byte, 13)), []byte{0x00, 0x01, 0xFF, 0xFF, 0x21, 0x12}), uint16(17))
	f.Fuzz(func(t *testing.T, stream []byte, cut uint16) {
		var whole frameScanner
		n := whole.scan(stream)
		if n > len(stream) {
			t.Fatalf("accepted %d of %d bytes", n, len(stream))
		}
		c := int(cut) % (len(stream) + 1)
		var split frameScanner
		m := split.scan(stream[:c])
		if m == c {
			m += split.scan(stream[c:])
		}
		if m != n || split.frames != whole.frames {
			t.Fatalf("cut at %d: accepted %d bytes, %d frames; whole: %d, %d", c, m, split.frames, n, whole.frames)
		}
	})
}

// TestInvalidTCPStream: a TCP client that sends something other than TURN
// frames is disconnected and counted; one that sends nothing is
// disconnected after the first-frame timeout.
func TestInvalidTCPStream(t *testing.T) {
	const timeout = 200 * time.Millisecond
	s, err := New(Config{ListenAddress: "127.0.0.1", RelayIP: netip.MustParseAddr("127.0.0.1"), firstFrameTimeout: timeout})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	addr := "127.0.0.1:" + strconv.Itoa(s.Port())

	ok, err := net.Dial("tcp4", addr) // a valid client is answered
	if err != nil {
		t.Fatal(err)
	}
	defer ok.Close()
	if _, err := ok.Write(bindingRequest()); err != nil {
		t.Fatal(err)
	}
	_ = ok.SetReadDeadline(time.Now().Add(5 * time.Second))
	resp := make([]byte, 512)
	if n, err := ok.Read(resp); err != nil || n < stunHeaderLen || binary.BigEndian.Uint16(resp[0:2]) != 0x0101 {
		t.Fatalf("binding request over TCP: %x, %v", resp[:n], err)
	}

	bad, err := net.Dial("tcp4", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer bad.Close()
	if _, err := bad.Write(concat(bindingRequest(), []byte("POST / HTTP/1.1\r\n\r\n"))); err != nil {
		t.Fatal(err)
	}
	_ = bad.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.ReadAll(bad); err != nil {
		t.Fatalf("the server did not close a connection that sent HTTP: %v", err)
	}
	if got := s.Counters()["total_received_invalid_turn_tcp_packet"]; got != 1 {
		t.Fatalf("invalid TCP streams counted %d, want 1", got)
	}

	silent, err := net.Dial("tcp4", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer silent.Close()
	_ = silent.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.ReadAll(silent); err != nil {
		t.Fatalf("a silent connection was not closed: %v", err)
	}
	// The valid client, past its first frame, has no deadline any more.
	time.Sleep(2 * timeout)
	if _, err := ok.Write(bindingRequest()); err != nil {
		t.Fatal(err)
	}
	if n, err := ok.Read(resp); err != nil || n < stunHeaderLen {
		t.Fatalf("the valid client was cut off: %v", err)
	}
	if s.Stats().InvalidTCPFrames != 1 {
		t.Fatalf("a silent connection counted as invalid")
	}
	var none *Server
	if got := none.Counters(); len(got) != 3 || got["total_turn_udp_connections"] != 0 {
		t.Fatalf("Counters of a nil server %v", got)
	}
}
