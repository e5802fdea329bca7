package dataplane

import (
	"testing"
)

// FuzzHandleDatagram feeds arbitrary datagrams to a loop with a publisher and
// subscribers: whatever arrives on the media port is dropped and counted or
// handled, and never panics. Inputs are tried both raw and as the payload of
// a validly encrypted SRTP packet, so the code after decryption is reached.
func FuzzHandleDatagram(f *testing.F) {
	f.Add([]byte{0x80, 96, 0, 1, 0, 0, 0, 0, 0, 0, 0x04, 0x57, 1, 2, 3})
	f.Add([]byte{0x00, 0x01, 0x00, 0x00, 0x21, 0x12, 0xa4, 0x42, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12})
	f.Add([]byte{0x81, 206, 0, 2, 0, 0, 0, 1, 0, 0, 0x13, 0x88})
	f.Add([]byte{0x90, 0xe0, 0x10, 0x00, 0x9d, 0x01, 0x2a})
	f.Add([]byte{22, 0xfe, 0xfd, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0})
	l, _, enc, from, _ := newTestLoop(f, 3)
	seq := uint16(0)
	f.Fuzz(func(t *testing.T, b []byte) {
		buf := append(make([]byte, 0, 2048), b...)
		l.handleDatagram(buf, from, int64(seq)*1_000_000)
		seq++
		pkt := encryptRTP(t, enc, seq, b)
		l.handleDatagram(pkt, from, int64(seq)*1_000_000)
		// Subscribers in this harness send nothing: keep them alive, since a
		// consent timeout would close them through a real plane.
		for tr := range l.transports {
			tr.ls.lastSeen = int64(seq) * 1_000_000
		}
		l.tick(int64(seq) * 1_000_000)
		l.flush()
	})
}
