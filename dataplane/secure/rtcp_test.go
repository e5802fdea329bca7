package secure

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"encoding/binary"
	"encoding/hex"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/pion/rtcp"
	"github.com/pion/srtp/v3"
)

// rtcpShape is one kind of (compound) RTCP packet a transport sends.
type rtcpShape struct {
	name string
	pkts []rtcp.Packet
}

// rtcpShapes returns the RTCP the server sends: sender and receiver reports
// (with and without report blocks), SR+SDES compounds, and the feedback
// messages PLI, NACK, REMB and transport-wide CC. Each shape has its own
// sender SSRC; ssrcBase shifts them all.
func rtcpShapes(ssrcBase uint32) []rtcpShape {
	report := func(ssrc uint32) rtcp.ReceptionReport {
		return rtcp.ReceptionReport{
			SSRC: ssrc, FractionLost: 12, TotalLost: 345, LastSequenceNumber: 0x0001_2345,
			Jitter: 678, LastSenderReport: 0x9abc_def0, Delay: 0x1_0000,
		}
	}
	sr := func(ssrc uint32, reports ...rtcp.ReceptionReport) *rtcp.SenderReport {
		return &rtcp.SenderReport{
			SSRC: ssrc, NTPTime: 0xe9a1_b2c3_d4e5_f607, RTPTime: 0x1234_5678,
			PacketCount: 9876, OctetCount: 8_765_432, Reports: reports,
		}
	}
	sdes := func(ssrc uint32) *rtcp.SourceDescription {
		return &rtcp.SourceDescription{Chunks: []rtcp.SourceDescriptionChunk{{
			Source: ssrc, Items: []rtcp.SourceDescriptionItem{{Type: rtcp.SDESCNAME, Text: "hayate-sfu"}},
		}}}
	}
	s := ssrcBase
	return []rtcpShape{
		{"SR", []rtcp.Packet{sr(s + 1)}},
		{"SR+reports", []rtcp.Packet{sr(s+2, report(0xAAAA0001), report(0xAAAA0002))}},
		{"RR-empty", []rtcp.Packet{&rtcp.ReceiverReport{SSRC: s + 3}}},
		{"RR+reports", []rtcp.Packet{&rtcp.ReceiverReport{SSRC: s + 4, Reports: []rtcp.ReceptionReport{
			report(0xBBBB0001), report(0xBBBB0002), report(0xBBBB0003),
		}}}},
		{"SR+SDES", []rtcp.Packet{sr(s + 5), sdes(s + 5)}},
		{"RR+SDES", []rtcp.Packet{&rtcp.ReceiverReport{SSRC: s + 6}, sdes(s + 6)}},
		{"PLI", []rtcp.Packet{&rtcp.PictureLossIndication{SenderSSRC: s + 7, MediaSSRC: 0xCCCC0001}}},
		{"NACK", []rtcp.Packet{&rtcp.TransportLayerNack{SenderSSRC: s + 8, MediaSSRC: 0xCCCC0002, Nacks: []rtcp.NackPair{
			{PacketID: 65530, LostPackets: 0b1010_0000_0000_0101}, {PacketID: 3, LostPackets: 0},
		}}}},
		{"REMB", []rtcp.Packet{&rtcp.ReceiverEstimatedMaximumBitrate{
			SenderSSRC: s + 9, Bitrate: 2_500_000, SSRCs: []uint32{0xCCCC0003, 0xCCCC0004},
		}}},
		{"TWCC", []rtcp.Packet{&rtcp.TransportLayerCC{
			SenderSSRC: s + 10, MediaSSRC: 0xCCCC0005, BaseSequenceNumber: 100, PacketStatusCount: 5,
			ReferenceTime: 0x123456, FbPktCount: 7,
			PacketChunks: []rtcp.PacketStatusChunk{&rtcp.RunLengthChunk{
				PacketStatusSymbol: rtcp.TypeTCCPacketReceivedSmallDelta, RunLength: 5,
			}},
			RecvDeltas: []*rtcp.RecvDelta{
				{Type: rtcp.TypeTCCPacketReceivedSmallDelta, Delta: 250},
				{Type: rtcp.TypeTCCPacketReceivedSmallDelta, Delta: 500},
				{Type: rtcp.TypeTCCPacketReceivedSmallDelta, Delta: 0},
				{Type: rtcp.TypeTCCPacketReceivedSmallDelta, Delta: 63750},
				{Type: rtcp.TypeTCCPacketReceivedSmallDelta, Delta: 1000},
			},
		}}},
		{"RR+REMB", []rtcp.Packet{&rtcp.ReceiverReport{SSRC: s + 11}, &rtcp.ReceiverEstimatedMaximumBitrate{
			SenderSSRC: s + 11, Bitrate: 300_000, SSRCs: []uint32{0xCCCC0006},
		}}},
	}
}

func marshalRTCP(tb testing.TB, pkts []rtcp.Packet) []byte {
	tb.Helper()
	b, err := rtcp.Marshal(pkts)
	if err != nil {
		tb.Fatalf("rtcp.Marshal: %v", err)
	}
	return b
}

// newRTCPSession is newSession with the receiving context's SRTCP replay
// protection on, as the transports create it.
func newRTCPSession(tb testing.TB, profile srtp.ProtectionProfile, seed uint64) *session {
	tb.Helper()
	s := newSession(tb, profile, seed)
	key, salt := masterKeys(tb, profile, seed)
	rx, err := srtp.CreateContext(key, salt, profile, srtp.SRTCPReplayProtection(128))
	if err != nil {
		tb.Fatal(err)
	}
	s.rx = rx
	return s
}

// checkRTCP seals plain with index three ways (separate buffer, in place,
// too-short dst) and compares each with want, pion's EncryptRTCP of the
// same packet, then has pion's receiver decrypt ours. It returns the sealed
// bytes.
func (s *session) checkRTCP(t *testing.T, plain []byte, index uint32, want []byte) []byte {
	t.Helper()
	before := bytes.Clone(plain)

	dst := make([]byte, 0, len(plain)+RTCPOverhead+5)
	got := s.sealer.SealRTCP(dst, plain, index)
	if !bytes.Equal(got, want) {
		t.Fatalf("index %d separate buffer:\n got %x\nwant %x", index, got, want)
	}
	if &got[0] != &dst[:1][0] {
		t.Errorf("index %d: SealRTCP did not write into dst although it had room", index)
	}
	if !bytes.Equal(plain, before) {
		t.Fatalf("index %d: SealRTCP modified the separate input buffer", index)
	}
	if word := binary.BigEndian.Uint32(got[len(got)-4:]); word != 1<<31|index {
		t.Fatalf("index %d: trailer word %#08x, want E flag and the index (%#08x)", index, word, 1<<31|index)
	}
	if !bytes.Equal(got[:8], plain[:8]) {
		t.Fatalf("index %d: first 8 bytes %x not in clear (%x)", index, got[:8], plain[:8])
	}

	inPlace := make([]byte, len(plain), len(plain)+RTCPOverhead)
	copy(inPlace, plain)
	got2 := s.sealer.SealRTCP(inPlace, inPlace, index)
	if !bytes.Equal(got2, want) {
		t.Fatalf("index %d in place:\n got %x\nwant %x", index, got2, want)
	}

	short := bytes.Clone(plain)[:len(plain):len(plain)]
	got3 := s.sealer.SealRTCP(short, short, index)
	if !bytes.Equal(got3, want) {
		t.Fatalf("index %d short dst:\n got %x\nwant %x", index, got3, want)
	}
	if !bytes.Equal(short, plain) {
		t.Fatalf("index %d: SealRTCP modified the too-short buffer instead of sealing into a new one", index)
	}

	dec, err := s.rx.DecryptRTCP(nil, got, nil)
	if err != nil {
		t.Fatalf("index %d: pion DecryptRTCP of sealed packet: %v", index, err)
	}
	if !bytes.Equal(dec, plain) {
		t.Fatalf("index %d: decrypted packet differs:\n got %x\nwant %x", index, dec, plain)
	}
	return got
}

// TestSealRTCPMatchesPion seals five packets in a row of every RTCP shape,
// numbered by an RTCPIndex, and checks each against pion's sending context
// (which numbers them itself) and receiving context; after each packet
// pion's own counter for the sender SSRC must equal the index we used.
func TestSealRTCPMatchesPion(t *testing.T) {
	for _, p := range gcmProfiles {
		for i, shape := range rtcpShapes(0x5000_0000) {
			t.Run(p.name+"/"+shape.name, func(t *testing.T) {
				s := newRTCPSession(t, p.profile, uint64(i))
				plain := marshalRTCP(t, shape.pkts)
				ssrc := binary.BigEndian.Uint32(plain[4:])
				var x RTCPIndex
				for n := range 5 {
					index, ok := x.Next()
					if !ok || index != uint32(n+1) {
						t.Fatalf("packet %d: RTCPIndex.Next = %d, %v; want %d, true", n, index, ok, n+1)
					}
					want, err := s.tx.EncryptRTCP(nil, plain, nil)
					if err != nil {
						t.Fatalf("pion EncryptRTCP: %v", err)
					}
					if pionIndex, _ := s.tx.Index(ssrc); pionIndex != index {
						t.Fatalf("packet %d: pion sealed with SRTCP index %d, RTCPIndex gave %d", n, pionIndex, index)
					}
					s.checkRTCP(t, plain, index, want)
				}
			})
		}
	}
}

// TestSealRTCPSessionMatchesPion is the transport's view: one session, a
// random mix of all shapes (so several sender SSRCs), each SSRC numbered by
// its own RTCPIndex as pion numbers it; every packet is identical to
// pion's and decrypts with pion.
func TestSealRTCPSessionMatchesPion(t *testing.T) {
	for _, p := range gcmProfiles {
		t.Run(p.name, func(t *testing.T) {
			s := newRTCPSession(t, p.profile, 42)
			shapes := rtcpShapes(0x6000_0000)
			indexes := map[uint32]*RTCPIndex{}
			r := rand.New(rand.NewPCG(uint64(p.profile), 1))
			for range 200 {
				plain := marshalRTCP(t, shapes[r.IntN(len(shapes))].pkts)
				ssrc := binary.BigEndian.Uint32(plain[4:])
				if indexes[ssrc] == nil {
					indexes[ssrc] = new(RTCPIndex)
				}
				index, _ := indexes[ssrc].Next()
				want, err := s.tx.EncryptRTCP(nil, plain, nil)
				if err != nil {
					t.Fatal(err)
				}
				s.checkRTCP(t, plain, index, want)
			}
			if len(indexes) != len(shapes) {
				t.Fatalf("the mix used %d sender SSRCs, want all %d", len(indexes), len(shapes))
			}
		})
	}
}

// TestSealRTCPSharedIndex: one RTCPIndex for every sender SSRC of the
// transport (the simpler use) gives each SSRC increasing indexes with gaps,
// which pion's receiver, replay protection on, accepts; the same packet
// again is rejected as a replay (so the check is live).
func TestSealRTCPSharedIndex(t *testing.T) {
	for _, p := range gcmProfiles {
		t.Run(p.name, func(t *testing.T) {
			s := newRTCPSession(t, p.profile, 7)
			shapes := rtcpShapes(0x7000_0000)
			var x RTCPIndex
			var last []byte
			for n := range 100 {
				plain := marshalRTCP(t, shapes[n%3].pkts) // three sender SSRCs taking turns
				index, _ := x.Next()
				sealed := s.sealer.SealRTCP(nil, plain, index)
				dec, err := s.rx.DecryptRTCP(nil, sealed, nil)
				if err != nil {
					t.Fatalf("packet %d index %d: pion DecryptRTCP: %v", n, index, err)
				}
				if !bytes.Equal(dec, plain) {
					t.Fatalf("packet %d: decrypted packet differs", n)
				}
				last = sealed
			}
			if _, err := s.rx.DecryptRTCP(nil, last, nil); err == nil {
				t.Fatal("pion accepted the last packet twice; replay protection is not on")
			}
		})
	}
}

// TestSealRTCPRFC7714 checks SealRTCP against the SRTCP test vectors of RFC
// 7714 §17 (AES-128-GCM and AES-256-GCM, SRTCP index 0x5d4), which give
// the session key and salt directly.
func TestSealRTCPRFC7714(t *testing.T) {
	unhex := func(s string) []byte {
		b, err := hex.DecodeString(strings.Join(strings.Fields(s), ""))
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	plain := unhex(`81c8000d 4d617273 4e545031 4e545032 52545020 0000042a 0000e930 4c756e61
		deadbeef deadbeef deadbeef deadbeef deadbeef`)
	salt := unhex(`517569642070726f2071756f`) // "Quid pro quo"
	for _, tc := range []struct {
		name, key, want string
	}{
		{"AES128GCM", "000102030405060708090a0b0c0d0e0f",
			`81c8000d 4d617273 63e94885 dcdab67c a727d766 2f6b7e99 7ff5c0f7 6c06f32d
			c676a5f1 730d6fda 4ce09b46 86303ded 0bb9275b c84aa458 96cf4d2f c5abf872 45d9eade 800005d4`},
		{"AES256GCM", "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f",
			`81c8000d 4d617273 d50ae4d1 f5ce5d30 4ba297e4 7d470c28 2c3ece5d bffe0a50
			a2eaa5c1 110555be 8415f658 c61de047 6f1b6fad 1d1eb30c 4446839f 57ff6f6c b26ac3be 800005d4`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			block, err := aes.NewCipher(unhex(tc.key))
			if err != nil {
				t.Fatal(err)
			}
			aead, err := cipher.NewGCM(block)
			if err != nil {
				t.Fatal(err)
			}
			s := &Sealer{rtcpAEAD: aead}
			copy(s.rtcpSalt[:], salt)
			s.fixNonces()
			want := unhex(tc.want)
			if got := s.SealRTCP(nil, plain, 0x5d4); !bytes.Equal(got, want) {
				t.Fatalf("RFC 7714 §17 vector:\n got %x\nwant %x", got, want)
			}
		})
	}
}

// TestSealRTCPLastIndexes: the highest indexes are sealed as pion seals
// them, RTCPIndex stops after MaxRTCPIndex where pion's EncryptRTCP starts
// failing, and SealRTCP refuses an index beyond 31 bits.
func TestSealRTCPLastIndexes(t *testing.T) {
	for _, p := range gcmProfiles {
		t.Run(p.name, func(t *testing.T) {
			s := newRTCPSession(t, p.profile, 11)
			plain := marshalRTCP(t, rtcpShapes(0)[0].pkts)
			ssrc := binary.BigEndian.Uint32(plain[4:])
			s.tx.SetIndex(ssrc, MaxRTCPIndex-2)
			x := RTCPIndex{last: MaxRTCPIndex - 2}
			for range 2 {
				index, ok := x.Next()
				if !ok {
					t.Fatalf("RTCPIndex.Next refused index %d", index)
				}
				want, err := s.tx.EncryptRTCP(nil, plain, nil)
				if err != nil {
					t.Fatalf("pion EncryptRTCP at index %d: %v", index, err)
				}
				s.checkRTCP(t, plain, index, want)
			}
			if _, err := s.tx.EncryptRTCP(nil, plain, nil); err == nil {
				t.Error("pion sealed a packet after index MaxRTCPIndex; the bound here may be wrong")
			}
			for range 2 {
				if index, ok := x.Next(); ok || index != 0 {
					t.Fatalf("RTCPIndex.Next after MaxRTCPIndex = %d, %v; want 0, false", index, ok)
				}
			}
			for _, index := range []uint32{MaxRTCPIndex + 1, 1<<32 - 1} {
				dst := make([]byte, 0, 100)
				if got := s.sealer.SealRTCP(dst, plain, index); got != nil {
					t.Errorf("SealRTCP with index %#x = %x, want nil", index, got)
				}
				if !bytes.Equal(dst[:cap(dst)], make([]byte, cap(dst))) {
					t.Errorf("SealRTCP with index %#x wrote into dst", index)
				}
			}
		})
	}
}

// TestSealRTCPShortPacket: a packet without the 8 clear bytes gives nil,
// no panic and no write; exactly 8 bytes (an empty RR's header) is sealed.
func TestSealRTCPShortPacket(t *testing.T) {
	s := newRTCPSession(t, srtp.ProtectionProfileAeadAes128Gcm, 1)
	empty := marshalRTCP(t, []rtcp.Packet{&rtcp.ReceiverReport{SSRC: 0x01020304}})
	if len(empty) != 8 {
		t.Fatalf("empty RR is %d bytes, the test wants 8", len(empty))
	}
	for n := range 8 {
		dst := make([]byte, 0, 64)
		if got := s.sealer.SealRTCP(dst, empty[:n], 1); got != nil {
			t.Errorf("SealRTCP of %d bytes = %x, want nil", n, got)
		}
		if got := s.sealer.SealRTCP(empty[:n:n], empty[:n], 1); got != nil {
			t.Errorf("SealRTCP of %d bytes in place = %x, want nil", n, got)
		}
		if !bytes.Equal(dst[:cap(dst)], make([]byte, cap(dst))) {
			t.Errorf("SealRTCP of %d bytes wrote into dst", n)
		}
	}
	want, err := s.tx.EncryptRTCP(nil, empty, nil)
	if err != nil {
		t.Fatal(err)
	}
	s.checkRTCP(t, empty, 1, want)
}

// TestSealRTCPDistinct: the sealed bytes depend on the session, the sender
// SSRC and the index, and the SRTCP key is not the SRTP key.
func TestSealRTCPDistinct(t *testing.T) {
	a := newRTCPSession(t, srtp.ProtectionProfileAeadAes128Gcm, 1)
	b := newRTCPSession(t, srtp.ProtectionProfileAeadAes128Gcm, 2)
	plain := marshalRTCP(t, rtcpShapes(0)[1].pkts)
	otherSSRC := bytes.Clone(plain)
	otherSSRC[7] ^= 1
	seal := func(s *Sealer, pkt []byte, index uint32) []byte {
		return bytes.Clone(s.SealRTCP(nil, pkt, index))
	}
	base := seal(a.sealer, plain, 1)
	// RTP with ROC 0 and SEQ 1 has the same nonce input as RTCP index 1
	// (zeros, SSRC, zeros, 1): its keystream equals the RTCP one only if
	// the session key and salt are shared.
	rtpLike := a.sealer.Seal(nil, nil, plain[8:], binary.BigEndian.Uint32(plain[4:]), 1, 0)
	for name, other := range map[string][]byte{
		"other session": seal(b.sealer, plain, 1),
		"other index":   seal(a.sealer, plain, 2),
		"other ssrc":    seal(a.sealer, otherSSRC, 1),
		"SRTP key":      append(bytes.Clone(plain[:8]), rtpLike...),
	} {
		if bytes.Equal(base[8:len(plain)], other[8:len(plain)]) {
			t.Errorf("%s: ciphertext equal to the base packet's", name)
		}
	}
}

func TestSealRTCPAllocs(t *testing.T) {
	for _, p := range gcmProfiles {
		s := newRTCPSession(t, p.profile, 3)
		plain := marshalRTCP(t, rtcpShapes(0)[4].pkts)
		dst := make([]byte, len(plain)+RTCPOverhead)
		var x RTCPIndex
		for _, tc := range []struct {
			name string
			seal func()
		}{
			{"separate", func() {
				index, _ := x.Next()
				s.sealer.SealRTCP(dst[:0], plain, index)
			}},
			{"in place", func() {
				index, _ := x.Next()
				copy(dst, plain)
				s.sealer.SealRTCP(dst, dst[:len(plain)], index)
			}},
		} {
			if n := testing.AllocsPerRun(1000, tc.seal); n != 0 {
				t.Errorf("%s %s: SealRTCP allocates %.1f times per call, want 0", p.name, tc.name, n)
			}
		}
	}
}

// FuzzSealRTCP: for any bytes and index SealRTCP does not panic, returns
// nil exactly for the inputs it documents, and otherwise seals what pion
// seals for the same packet and index, which pion's receiver opens.
func FuzzSealRTCP(f *testing.F) {
	for i, shape := range rtcpShapes(0x100) {
		f.Add(marshalRTCP(f, shape.pkts), uint32(i+1))
	}
	f.Add([]byte{0x80, 0xc9, 0, 1, 1, 2, 3}, uint32(1))
	f.Add([]byte{}, uint32(MaxRTCPIndex))
	f.Add(bytes.Repeat([]byte{0xff}, 40), uint32(1<<31))
	key, salt := masterKeys(f, srtp.ProtectionProfileAeadAes128Gcm, 5)
	sealer, err := NewSealer(srtp.ProtectionProfileAeadAes128Gcm, key, salt)
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, plain []byte, index uint32) {
		got := sealer.SealRTCP(nil, plain, index)
		if len(plain) < 8 || index > MaxRTCPIndex {
			if got != nil {
				t.Fatalf("SealRTCP(%d bytes, index %#x) = %x, want nil", len(plain), index, got)
			}
			return
		}
		if len(got) != len(plain)+RTCPOverhead {
			t.Fatalf("SealRTCP returned %d bytes for %d", len(got), len(plain))
		}
		if index == 0 {
			return // pion never seals index 0
		}
		var h rtcp.Header
		if h.Unmarshal(plain) != nil {
			return // pion refuses what does not parse as an RTCP header
		}
		tx, err := srtp.CreateContext(key, salt, srtp.ProtectionProfileAeadAes128Gcm)
		if err != nil {
			t.Fatal(err)
		}
		tx.SetIndex(binary.BigEndian.Uint32(plain[4:]), index-1)
		want, err := tx.EncryptRTCP(nil, plain, nil)
		if err != nil {
			t.Fatalf("pion EncryptRTCP: %v", err)
		}
		if !bytes.Equal(got, want) {
			t.Fatalf("index %d:\n got %x\nwant %x", index, got, want)
		}
		rx, err := srtp.CreateContext(key, salt, srtp.ProtectionProfileAeadAes128Gcm)
		if err != nil {
			t.Fatal(err)
		}
		dec, err := rx.DecryptRTCP(nil, got, nil)
		if err != nil {
			t.Fatalf("pion DecryptRTCP: %v", err)
		}
		if !bytes.Equal(dec, plain) {
			t.Fatalf("decrypted packet differs:\n got %x\nwant %x", dec, plain)
		}
	})
}
