package dataplane

import (
	"bytes"
	"testing"

	"github.com/pion/rtp"
	"github.com/pion/srtp/v3"
)

// benchSRTPPair returns a sender and a receiver context with the same keys.
func benchSRTPPair(tb testing.TB, profile srtp.ProtectionProfile) (tx, rx *srtp.Context) {
	tb.Helper()
	keyLen, err := profile.KeyLen()
	if err != nil {
		tb.Fatal(err)
	}
	saltLen, err := profile.SaltLen()
	if err != nil {
		tb.Fatal(err)
	}
	key, salt := bytes.Repeat([]byte{7}, keyLen), bytes.Repeat([]byte{9}, saltLen)
	if tx, err = srtp.CreateContext(key, salt, profile); err != nil {
		tb.Fatal(err)
	}
	if rx, err = srtp.CreateContext(key, salt, profile); err != nil {
		tb.Fatal(err)
	}
	return tx, rx
}

// plainRTP is a 1200-byte-payload RTP packet in a buffer with room for the
// SRTP tag, as the loop's pooled buffers have.
func plainRTP(seq uint16) []byte {
	h := rtp.Header{Version: 2, PayloadType: 96, SequenceNumber: seq, Timestamp: 3000, SSRC: 0x1234}
	b, _ := h.Marshal()
	b = append(b, bytes.Repeat([]byte{0xab}, 1200)...)
	out := make([]byte, len(b), len(b)+64)
	copy(out, b)
	return out
}

// BenchmarkSRTPInPlace prices what the loop does to every packet's bytes:
// decrypt an incoming packet in place, then encrypt it in place again (the
// per-subscriber half of forwarding). One op is four SRTP operations (the
// publisher's encrypt, the loop's decrypt and re-encrypt, the subscriber's
// decrypt), so a quarter of ns/op is one operation on a 1.2 kB packet.
func BenchmarkSRTPInPlace(b *testing.B) {
	for _, p := range []struct {
		name    string
		profile srtp.ProtectionProfile
	}{
		{"AES128GCM", srtp.ProtectionProfileAeadAes128Gcm},
		{"AES128CM_SHA1_80", srtp.ProtectionProfileAes128CmHmacSha1_80},
	} {
		b.Run(p.name, func(b *testing.B) {
			tx, rx := benchSRTPPair(b, p.profile)
			fwd, sub := benchSRTPPair(b, p.profile)
			buf := plainRTP(0)
			var hdr rtp.Header
			b.SetBytes(1200)
			b.ReportAllocs()
			seq := uint16(0)
			for b.Loop() {
				seq++
				buf = buf[:12+1200]
				buf[2], buf[3] = byte(seq>>8), byte(seq)
				enc, err := tx.EncryptRTP(buf, buf, &hdr) // the publisher's side
				if err != nil {
					b.Fatal(err)
				}
				dec, err := rx.DecryptRTP(enc, enc, &hdr) // the loop: in place
				if err != nil {
					b.Fatal(err)
				}
				out, err := fwd.EncryptRTP(dec, dec, &hdr) // the loop, per subscriber
				if err != nil {
					b.Fatal(err)
				}
				if _, err := sub.DecryptRTP(out, out, &hdr); err != nil { // the subscriber
					b.Fatal(err)
				}
				buf = out
			}
		})
	}
}

// TestSRTPInPlaceZeroAlloc: decrypting and re-encrypting in place in a
// buffer with room for the tag allocates nothing (the loop's contract).
func TestSRTPInPlaceZeroAlloc(t *testing.T) {
	tx, rx := benchSRTPPair(t, srtp.ProtectionProfileAeadAes128Gcm)
	buf := plainRTP(1)
	var hdr rtp.Header
	seq := uint16(1)
	allocs := testing.AllocsPerRun(200, func() {
		seq++
		buf = buf[:12+1200]
		buf[2], buf[3] = byte(seq>>8), byte(seq)
		enc, err := tx.EncryptRTP(buf, buf, &hdr)
		if err != nil {
			t.Fatal(err)
		}
		if &enc[0] != &buf[0] {
			t.Fatal("EncryptRTP did not encrypt in place")
		}
		dec, err := rx.DecryptRTP(enc, enc, &hdr)
		if err != nil {
			t.Fatal(err)
		}
		buf = dec
	})
	if allocs != 0 {
		t.Fatalf("%.1f allocations per in-place encrypt + decrypt, want 0", allocs)
	}
}
