package secure

import (
	"bytes"
	"crypto/aes"
	"encoding/hex"
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
	"unsafe"

	"github.com/pion/rtp"
	"github.com/pion/srtp/v3"
)

var gcmProfiles = []struct {
	name    string
	profile srtp.ProtectionProfile
}{
	{"AES128GCM", srtp.ProtectionProfileAeadAes128Gcm},
	{"AES256GCM", srtp.ProtectionProfileAeadAes256Gcm},
}

// masterKeys returns a deterministic master key and salt of the right sizes
// for profile.
func masterKeys(tb testing.TB, profile srtp.ProtectionProfile, seed uint64) (key, salt []byte) {
	tb.Helper()
	keyLen, err := profile.KeyLen()
	if err != nil {
		tb.Fatal(err)
	}
	saltLen, err := profile.SaltLen()
	if err != nil {
		tb.Fatal(err)
	}
	r := rand.New(rand.NewPCG(seed, 0x5eed))
	key, salt = make([]byte, keyLen), make([]byte, saltLen)
	for i := range key {
		key[i] = byte(r.Uint32())
	}
	for i := range salt {
		salt[i] = byte(r.Uint32())
	}
	return key, salt
}

// session is one SRTP session seen three ways: our Sealer, a pion sending
// context (the reference) and a pion receiving context (the subscriber).
type session struct {
	sealer *Sealer
	tx, rx *srtp.Context
}

func newSession(tb testing.TB, profile srtp.ProtectionProfile, seed uint64) *session {
	tb.Helper()
	key, salt := masterKeys(tb, profile, seed)
	s, err := NewSealer(profile, key, salt)
	if err != nil {
		tb.Fatalf("NewSealer(%s): %v", profile, err)
	}
	tx, err := srtp.CreateContext(key, salt, profile)
	if err != nil {
		tb.Fatal(err)
	}
	rx, err := srtp.CreateContext(key, salt, profile)
	if err != nil {
		tb.Fatal(err)
	}
	return &session{sealer: s, tx: tx, rx: rx}
}

// headerShape is a kind of RTP header the forwarder may write.
type headerShape struct {
	name    string
	csrcs   int
	ext     uint16 // 0: none, else the extension profile (0xBEDE one-byte, 0x1000 two-byte, other: raw)
	padding byte   // padding bytes at the end of the payload (P bit)
}

var headerShapes = []headerShape{
	{name: "plain"},
	{name: "csrcs", csrcs: 2},
	{name: "one-byte-ext", ext: rtp.ExtensionProfileOneByte},
	{name: "two-byte-ext", ext: rtp.ExtensionProfileTwoByte},
	{name: "raw-ext", ext: 0x1234},
	{name: "csrcs+ext+padding", csrcs: 3, ext: rtp.ExtensionProfileOneByte, padding: 7},
}

// packet marshals an RTP packet with the given shape, sequence number and
// payload, returning the bytes and the header length.
func packet(tb testing.TB, shape headerShape, ssrc uint32, seq uint16, payload []byte) ([]byte, int) {
	tb.Helper()
	h := rtp.Header{
		Version:        2,
		Marker:         seq%7 == 0,
		PayloadType:    96,
		SequenceNumber: seq,
		Timestamp:      uint32(seq) * 3000,
		SSRC:           ssrc,
	}
	for i := range shape.csrcs {
		h.CSRC = append(h.CSRC, 0xC0000000+uint32(i))
	}
	switch shape.ext {
	case 0:
	case rtp.ExtensionProfileOneByte, rtp.ExtensionProfileTwoByte:
		h.Extension, h.ExtensionProfile = true, shape.ext
		if err := h.SetExtension(3, []byte{byte(seq >> 8), byte(seq)}); err != nil { // TWCC-like
			tb.Fatal(err)
		}
		if err := h.SetExtension(1, []byte("mid")); err != nil {
			tb.Fatal(err)
		}
	default:
		h.Extension, h.ExtensionProfile = true, shape.ext
		if err := h.SetExtension(0, []byte{1, 2, 3, 4, 5, 6, 7, 8}); err != nil {
			tb.Fatal(err)
		}
	}
	body := payload
	if shape.padding > 0 {
		h.Padding = true
		body = append(bytes.Clone(payload), make([]byte, shape.padding)...)
		body[len(body)-1] = shape.padding
	}
	hdr, err := h.Marshal()
	if err != nil {
		tb.Fatal(err)
	}
	return append(hdr, body...), len(hdr)
}

func payloadBytes(n int, seed byte) []byte {
	p := make([]byte, n)
	for i := range p {
		p[i] = byte(i)*31 + seed
	}
	return p
}

// check seals raw (header raw[:hdrLen]) three ways (payload in another
// buffer, in place, header not inside dst) and compares each with pion's
// EncryptRTP of the same packet, then has pion's receiver decrypt ours.
// It returns the sealed bytes.
func (s *session) check(t *testing.T, raw []byte, hdrLen int, roc uint32) []byte {
	t.Helper()
	var h rtp.Header
	if _, err := h.Unmarshal(raw); err != nil {
		t.Fatal(err)
	}
	want, err := s.tx.EncryptRTP(nil, raw, nil)
	if err != nil {
		t.Fatalf("pion EncryptRTP: %v", err)
	}
	payload := raw[hdrLen:]
	payloadBefore := bytes.Clone(payload)

	// Separate payload: the loop's usual call.
	dst := make([]byte, hdrLen, len(raw)+TagLen+8)
	copy(dst, raw[:hdrLen])
	got := s.sealer.Seal(dst, dst[:hdrLen], payload, h.SSRC, h.SequenceNumber, roc)
	if !bytes.Equal(got, want) {
		t.Fatalf("seq %d roc %d separate payload:\n got %x\nwant %x", h.SequenceNumber, roc, got, want)
	}
	if &got[0] != &dst[0] {
		t.Errorf("seq %d: Seal did not write into dst although it had room", h.SequenceNumber)
	}
	if !bytes.Equal(payload, payloadBefore) {
		t.Fatalf("seq %d: Seal modified the separate payload buffer", h.SequenceNumber)
	}

	// In place: the whole packet was copied to dst.
	inPlace := make([]byte, len(raw), len(raw)+TagLen)
	copy(inPlace, raw)
	got2 := s.sealer.Seal(inPlace, inPlace[:hdrLen], inPlace[hdrLen:], h.SSRC, h.SequenceNumber, roc)
	if !bytes.Equal(got2, want) {
		t.Fatalf("seq %d roc %d in place:\n got %x\nwant %x", h.SequenceNumber, roc, got2, want)
	}

	// Header passed as a separate slice: copied into dst.
	dst3 := make([]byte, 0, len(raw)+TagLen)
	got3 := s.sealer.Seal(dst3, raw[:hdrLen], payload, h.SSRC, h.SequenceNumber, roc)
	if !bytes.Equal(got3, want) {
		t.Fatalf("seq %d roc %d separate header:\n got %x\nwant %x", h.SequenceNumber, roc, got3, want)
	}

	// The subscriber decrypts it back to the packet.
	dec, err := s.rx.DecryptRTP(nil, got, nil)
	if err != nil {
		t.Fatalf("seq %d roc %d: pion DecryptRTP of sealed packet: %v", h.SequenceNumber, roc, err)
	}
	if !bytes.Equal(dec, raw) {
		t.Fatalf("seq %d: decrypted packet differs:\n got %x\nwant %x", h.SequenceNumber, dec, raw)
	}
	return got
}

// TestSealMatchesPion seals packets of every header shape and several
// payload sizes across a sequence wrap, with a late packet from before the
// wrap, and checks each against pion's sender and receiver.
func TestSealMatchesPion(t *testing.T) {
	// 65533..65535, wrap, a late 65534 (ROC 0 again), then on with ROC 1.
	seqs := []uint16{65533, 65534, 65535, 0, 1, 65534, 2, 3}
	wantROC := []uint32{0, 0, 0, 1, 1, 0, 1, 1}
	for _, p := range gcmProfiles {
		for _, shape := range headerShapes {
			for _, size := range []int{0, 1, 15, 16, 17, 160, 1200} {
				t.Run(fmt.Sprintf("%s/%s/%d", p.name, shape.name, size), func(t *testing.T) {
					s := newSession(t, p.profile, uint64(size))
					var idx Index
					const ssrc = 0x11223344
					for i, seq := range seqs {
						roc := idx.Next(seq)
						if roc != wantROC[i] {
							t.Fatalf("packet %d seq %d: Index.Next = %d, want %d", i, seq, roc, wantROC[i])
						}
						raw, hdrLen := packet(t, shape, ssrc, seq, payloadBytes(size, byte(i)))
						s.check(t, raw, hdrLen, roc)
					}
				})
			}
		}
	}
}

// TestSealRandomStreams is the property test: for random forwarder streams
// (mostly +1, some late packets, some jumps, several wraps, a new random
// header shape and payload each packet) Index.Next returns the true ROC and
// the sealed bytes equal pion's and decrypt with pion.
func TestSealRandomStreams(t *testing.T) {
	for _, p := range gcmProfiles {
		t.Run(p.name, func(t *testing.T) {
			r := rand.New(rand.NewPCG(uint64(p.profile), 7))
			s := newSession(t, p.profile, 99)
			var idx Index
			const ssrc = 0xCAFEF00D
			high := uint64(60000 + r.IntN(5000)) // ROC 0, close to the first wrap
			wraps := 0
			for i := range 1500 {
				next := high
				switch v := r.IntN(100); {
				case i == 0:
				case v < 80:
					next = high + 1
				case v < 92:
					next = high - uint64(1+r.IntN(50)) // late
				default:
					next = high + uint64(1+r.IntN(4000)) // jump after a pause
				}
				if next > high {
					if next>>16 != high>>16 {
						wraps++
					}
					high = next
				}
				seq, trueROC := uint16(next), uint32(next>>16)
				roc := idx.Next(seq)
				if roc != trueROC {
					t.Fatalf("packet %d index %d: Index.Next(%d) = %d, want %d", i, next, seq, roc, trueROC)
				}
				shape := headerShapes[r.IntN(len(headerShapes))]
				raw, hdrLen := packet(t, shape, ssrc, seq, payloadBytes(r.IntN(1300), byte(i)))
				s.check(t, raw, hdrLen, roc)
			}
			if wraps < 2 {
				t.Fatalf("stream wrapped %d times; the test wants at least 2", wraps)
			}
		})
	}
}

// TestSealGrowsShortBuffer: a dst without room for the tag still gives the
// right packet (in a new buffer).
func TestSealGrowsShortBuffer(t *testing.T) {
	s := newSession(t, srtp.ProtectionProfileAeadAes128Gcm, 1)
	raw, hdrLen := packet(t, headerShapes[2], 1, 100, payloadBytes(300, 1))
	want, err := s.tx.EncryptRTP(nil, raw, nil)
	if err != nil {
		t.Fatal(err)
	}
	short := bytes.Clone(raw) // cap may be a little larger, never by TagLen here
	short = short[:len(raw):len(raw)]
	got := s.sealer.Seal(short, short[:hdrLen], short[hdrLen:], 1, 100, 0)
	if !bytes.Equal(got, want) {
		t.Fatalf("short buffer:\n got %x\nwant %x", got, want)
	}
	if !bytes.Equal(short, raw) {
		t.Fatal("Seal modified the caller's too-short buffer instead of sealing into a new one")
	}
}

// TestSealDistinctSSRCsAndSessions: the nonce uses the SSRC, and sessions
// with different keys give different bytes (a sealer that ignored its
// inputs would pass the other tests only by accident, never this one).
func TestSealDistinctSSRCsAndSessions(t *testing.T) {
	a := newSession(t, srtp.ProtectionProfileAeadAes128Gcm, 1)
	b := newSession(t, srtp.ProtectionProfileAeadAes128Gcm, 2)
	seal := func(s *Sealer, ssrc uint32, roc uint32) []byte {
		raw, hdrLen := packet(t, headerShapes[0], ssrc, 5, payloadBytes(40, 0))
		return bytes.Clone(s.Seal(nil, raw[:hdrLen], raw[hdrLen:], ssrc, 5, roc))
	}
	base := seal(a.sealer, 1, 0)
	for name, other := range map[string][]byte{
		"other session": seal(b.sealer, 1, 0),
		"other roc":     seal(a.sealer, 1, 1),
		"other ssrc":    seal(a.sealer, 2, 0),
	} {
		if bytes.Equal(base[12:], other[12:]) {
			t.Errorf("%s: ciphertext equal to the base packet's", name)
		}
	}
}

func TestNewSealerErrors(t *testing.T) {
	k16, k32, s12, s14 := make([]byte, 16), make([]byte, 32), make([]byte, 12), make([]byte, 14)
	for _, tc := range []struct {
		name      string
		profile   srtp.ProtectionProfile
		key, salt []byte
		want      error
		mention   string // the message names the bad input
	}{
		{"AES128CM_80", srtp.ProtectionProfileAes128CmHmacSha1_80, k16, s14, ErrProfileNotAEAD, "SRTP_AES128_CM_HMAC_SHA1_80"},
		{"AES128CM_32", srtp.ProtectionProfileAes128CmHmacSha1_32, k16, s14, ErrProfileNotAEAD, "SRTP_AES128_CM_HMAC_SHA1_32"},
		{"AES256CM_80", srtp.ProtectionProfileAes256CmHmacSha1_80, k32, s14, ErrProfileNotAEAD, "0x0003"},
		{"NULL", srtp.ProtectionProfileNullHmacSha1_80, k16, s14, ErrProfileNotAEAD, "0x0005"},
		{"unknown", srtp.ProtectionProfile(0x99), k16, s12, ErrProfileNotAEAD, "0x0099"},
		{"128 short key", srtp.ProtectionProfileAeadAes128Gcm, k16[:15], s12, ErrKeyLength, "got 15 bytes"},
		{"128 with 256 key", srtp.ProtectionProfileAeadAes128Gcm, k32, s12, ErrKeyLength, "got 32 bytes"},
		{"256 with 128 key", srtp.ProtectionProfileAeadAes256Gcm, k16, s12, ErrKeyLength, "got 16 bytes"},
		{"128 CM salt", srtp.ProtectionProfileAeadAes128Gcm, k16, s14, ErrSaltLength, "got 14 bytes"},
		{"256 no salt", srtp.ProtectionProfileAeadAes256Gcm, k32, nil, ErrSaltLength, "got 0 bytes"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, err := NewSealer(tc.profile, tc.key, tc.salt)
			if !errors.Is(err, tc.want) {
				t.Fatalf("NewSealer: err = %v, want %v", err, tc.want)
			}
			if s != nil {
				t.Error("NewSealer returned a Sealer with an error")
			}
			if !strings.Contains(err.Error(), tc.mention) {
				t.Errorf("error %q does not mention %q", err, tc.mention)
			}
		})
	}
}

// TestDeriveKeyRFC3711 checks the PRF against RFC 3711 Appendix B.3.
func TestDeriveKeyRFC3711(t *testing.T) {
	unhex := func(s string) []byte {
		b, err := hex.DecodeString(s)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	masterKey := unhex("E1F97A0D3E018BE0D64FA32C06DE4139")
	masterSalt := unhex("0EC675AD498AFEEBB6960B3AABE6")
	prf, err := aes.NewCipher(masterKey)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		label byte
		want  string
	}{
		{labelSRTPKey, "C61E7A93744F39EE10734AFE3FF7A087"},
		{labelSRTPSalt, "30CBBC08863D8C85D49DB34A9AE1"},
		{0x01, "CEBE321F6FF7716B6FD4AB49AF256A156D38BAA4"}, // auth key: two PRF blocks
	} {
		want := unhex(tc.want)
		got := make([]byte, len(want))
		deriveKey(prf, tc.label, masterSalt, got)
		if !bytes.Equal(got, want) {
			t.Errorf("label %#02x: got %X, want %X", tc.label, got, want)
		}
	}
}

func TestSealAllocs(t *testing.T) {
	for _, p := range gcmProfiles {
		s := newSession(t, p.profile, 3)
		raw, hdrLen := packet(t, headerShapes[5], 42, 1, payloadBytes(1200, 0))
		payload := raw[hdrLen:]
		dst := make([]byte, len(raw)+TagLen)
		var idx Index
		seq := uint16(65000)
		for _, tc := range []struct {
			name string
			seal func()
		}{
			{"separate", func() {
				seq++
				copy(dst, raw[:hdrLen])
				s.sealer.Seal(dst, dst[:hdrLen], payload, 42, seq, idx.Next(seq))
			}},
			{"in place", func() {
				seq++
				copy(dst, raw)
				s.sealer.Seal(dst, dst[:hdrLen], dst[hdrLen:len(raw)], 42, seq, idx.Next(seq))
			}},
			{"header copied", func() {
				seq++
				s.sealer.Seal(dst[:0], raw[:hdrLen], payload, 42, seq, idx.Next(seq))
			}},
		} {
			if n := testing.AllocsPerRun(1000, tc.seal); n != 0 {
				t.Errorf("%s %s: Seal allocates %.1f times per call, want 0", p.name, tc.name, n)
			}
		}
	}
}

// AppendKeyLines names lines of the AEAD's own state (its first address is
// the AEAD's), stays within dst's capacity and leaves a full dst as it is.
func TestAppendKeyLines(t *testing.T) {
	s, err := NewSealer(srtp.ProtectionProfileAeadAes128Gcm, make([]byte, 16), make([]byte, 12))
	if err != nil {
		t.Fatal(err)
	}
	var buf [16]uintptr
	got := s.AppendKeyLines(buf[:2])
	if len(got) != 2+len(gcmKeyLines) || &got[0] != &buf[0] {
		t.Fatalf("AppendKeyLines(len 2, cap 16) = len %d (same array %v), want %d in place", len(got), &got[0] == &buf[0], 2+len(gcmKeyLines))
	}
	if want := (*[2]uintptr)(unsafe.Pointer(&s.aead))[1]; got[2] != want {
		t.Fatalf("first key line %#x, want the AEAD's state at %#x", got[2], want)
	}
	if full := s.AppendKeyLines(buf[:12]); len(full) != 12 {
		t.Fatalf("AppendKeyLines with room for 4 = len %d, want 12 (unchanged)", len(full))
	}
}
