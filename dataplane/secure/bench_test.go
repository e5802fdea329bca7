package secure

import (
	"encoding/binary"
	"fmt"
	"runtime"
	"testing"
	"unsafe"

	"github.com/pion/rtcp"
	"github.com/pion/rtp"
	"github.com/pion/srtp/v3"
	"golang.org/x/sys/unix"
)

// benchPacket is what the loop forwards: a 1200-byte payload behind a
// header with a one-byte extension (TWCC), 20 header bytes in all.
func benchPacket(tb testing.TB) (raw []byte, hdrLen int) {
	tb.Helper()
	h := rtp.Header{
		Version: 2, PayloadType: 96, SequenceNumber: 1, Timestamp: 3000, SSRC: 0x1234,
		Extension: true, ExtensionProfile: rtp.ExtensionProfileOneByte,
	}
	if err := h.SetExtension(3, []byte{0, 1}); err != nil {
		tb.Fatal(err)
	}
	hdr, err := h.Marshal()
	if err != nil {
		tb.Fatal(err)
	}
	return append(hdr, payloadBytes(1200, 1)...), len(hdr)
}

// BenchmarkSeal prices the per-subscriber sealing step of forwarding one
// 1.2 kB packet, ours against pion's:
//
//   - ours-separate: write the header into the egress buffer, Index.Next,
//     Seal from the publisher's buffer (the loop's usual path);
//   - ours-in-place: copy the whole packet to the egress buffer, Index.Next,
//     Seal in place (the path for payload-rewriting forwarding);
//   - pion: copy the whole packet to the egress buffer and EncryptRTP it in
//     place with a reused rtp.Header, as the loop does today;
//   - gcm-only: cipher.AEAD.Seal of the payload alone into a buffer, the
//     floor under all three.
//
// subs=1 seals to one subscriber over and over (everything stays in cache);
// subs=50 is one fan-out: the same publisher packet to 50 subscribers, each
// with its own keys, Index or Context (with two SSRCs in its map, audio and
// video) and egress buffer. ns/pkt is per sealed packet in both; the ratio
// pion/ours of ns/pkt is the saving per forwarded packet.
func BenchmarkSeal(b *testing.B) {
	raw, hdrLen := benchPacket(b)
	payload := raw[hdrLen:]
	const ssrc = 0x1234
	for _, p := range gcmProfiles {
		for _, subs := range []int{1, 50} {
			sessions, indexes, slots := benchSessions(b, p.profile, subs, raw, ssrc)
			run := func(name string, sealOne func(i int, seq uint16)) {
				b.Run(fmt.Sprintf("%s/subs=%d/%s", p.name, subs, name), func(b *testing.B) {
					seq := uint16(0)
					b.SetBytes(int64(len(payload) * subs))
					b.ReportAllocs()
					for b.Loop() {
						seq++
						for i := range subs {
							sealOne(i, seq)
						}
					}
					b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*subs), "ns/pkt")
				})
			}
			run("ours-separate", func(i int, seq uint16) {
				out := append(slots[i][:0], raw[:hdrLen]...)
				binary.BigEndian.PutUint16(out[2:], seq)
				sessions[i].sealer.Seal(out, out, payload, ssrc, seq, indexes[i].Next(seq))
			})
			run("ours-in-place", func(i int, seq uint16) {
				out := append(slots[i][:0], raw...)
				binary.BigEndian.PutUint16(out[2:], seq)
				sessions[i].sealer.Seal(out, out[:hdrLen], out[hdrLen:], ssrc, seq, indexes[i].Next(seq))
			})
			var hdr rtp.Header
			run("pion", func(i int, seq uint16) {
				out := append(slots[i][:0], raw...)
				binary.BigEndian.PutUint16(out[2:], seq)
				if _, err := sessions[i].tx.EncryptRTP(out, out, &hdr); err != nil {
					b.Fatal(err)
				}
			})
			run("gcm-only", func(i int, seq uint16) {
				s := sessions[i].sealer
				s.aead.Seal(slots[i][:0], s.nonce[:], payload, nil)
			})
		}
	}
}

// BenchmarkSealVsPion is the same fan-out as BenchmarkSeal/subs=50 with
// the three contenders (ours-separate, pion, gcm-only) interleaved inside
// each op and timed with the thread's CPU clock, so that the figures come
// from the same moments of the same run and time the goroutine spends
// descheduled on a busy machine is not counted. One op is one packet fanned
// out to 50 subscribers by each of the three; the metrics are ns of CPU per
// sealed packet and speedup = pion/ours.
func BenchmarkSealVsPion(b *testing.B) {
	raw, hdrLen := benchPacket(b)
	payload := raw[hdrLen:]
	const ssrc, subs = 0x1234, 50
	for _, p := range gcmProfiles {
		b.Run(p.name, func(b *testing.B) {
			sessions, indexes, slots := benchSessions(b, p.profile, subs, raw, ssrc)
			var hdr rtp.Header
			contenders := [3]func(seq uint16){
				func(seq uint16) { // ours-separate
					for i := range subs {
						out := append(slots[i][:0], raw[:hdrLen]...)
						binary.BigEndian.PutUint16(out[2:], seq)
						sessions[i].sealer.Seal(out, out, payload, ssrc, seq, indexes[i].Next(seq))
					}
				},
				func(seq uint16) { // pion
					for i := range subs {
						out := append(slots[i][:0], raw...)
						binary.BigEndian.PutUint16(out[2:], seq)
						if _, err := sessions[i].tx.EncryptRTP(out, out, &hdr); err != nil {
							b.Fatal(err)
						}
					}
				},
				func(uint16) { // gcm-only
					for i := range subs {
						s := sessions[i].sealer
						s.aead.Seal(slots[i][:0], s.nonce[:], payload, nil)
					}
				},
			}
			runtime.LockOSThread()
			defer runtime.UnlockOSThread()
			var spent [3]int64
			seq, round := uint16(0), 0
			b.ReportAllocs()
			for b.Loop() {
				seq++
				round++
				for k := range contenders {
					c := (k + round) % len(contenders) // rotate who goes first
					t0 := threadCPU(b)
					contenders[c](seq)
					spent[c] += threadCPU(b) - t0
				}
			}
			pkts := float64(b.N * subs)
			ours, pion, floor := float64(spent[0])/pkts, float64(spent[1])/pkts, float64(spent[2])/pkts
			b.ReportMetric(ours, "ours-ns/pkt")
			b.ReportMetric(pion, "pion-ns/pkt")
			b.ReportMetric(floor, "gcm-ns/pkt")
			b.ReportMetric(pion/ours, "speedup")
		})
	}
}

// threadCPU returns the CPU time the calling thread has used, in ns.
func threadCPU(tb testing.TB) int64 {
	var ts unix.Timespec
	if err := unix.ClockGettime(unix.CLOCK_THREAD_CPUTIME_ID, &ts); err != nil {
		tb.Fatal(err)
	}
	return ts.Nano()
}

// retained returns the heap bytes still held by n objects made by mk, per
// object, and the bytes allocated while making them (garbage included).
func retained(n int, mk func() any) (held, made uint64) {
	keep := make([]any, n)
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	for i := range keep {
		keep[i] = mk()
	}
	runtime.GC()
	runtime.ReadMemStats(&after)
	runtime.KeepAlive(keep)
	return (after.HeapAlloc - before.HeapAlloc) / uint64(n), (after.TotalAlloc - before.TotalAlloc) / uint64(n)
}

// TestSealerMemory measures what one transport's sealing state costs on
// the heap, ours (SRTP and SRTCP keys, one Sealer) against the pion sending
// Context it replaces, and checks ours stays the smaller and under 2 KiB of
// the 64 KiB-per-subscriber budget. The pion Context is measured as the
// transports used it: having sealed RTP on two SSRCs (audio, video) and
// RTCP from three sender SSRCs (the transport's own, for feedback and
// receiver reports, and the two media SSRCs, for sender reports).
func TestSealerMemory(t *testing.T) {
	const n = 1000
	for _, p := range gcmProfiles {
		key, salt := masterKeys(t, p.profile, 1)
		oursHeld, oursMade := retained(n, func() any {
			s, err := NewSealer(p.profile, key, salt)
			if err != nil {
				t.Fatal(err)
			}
			return s
		})
		oursAllocs := testing.AllocsPerRun(20, func() { _, _ = NewSealer(p.profile, key, salt) })
		raw, _ := benchPacket(t)
		out := make([]byte, 0, len(raw)+TagLen)
		var hdr rtp.Header
		sr := marshalRTCP(t, rtcpShapes(0)[0].pkts)
		rtcpOut := make([]byte, 0, len(sr)+RTCPOverhead)
		pionContext := func() any {
			c, err := srtp.CreateContext(key, salt, p.profile)
			if err != nil {
				t.Fatal(err)
			}
			for _, ssrc := range []uint32{1, 2} {
				binary.BigEndian.PutUint32(raw[8:], ssrc)
				if _, err := c.EncryptRTP(out, raw, &hdr); err != nil {
					t.Fatal(err)
				}
			}
			for _, ssrc := range []uint32{1, 2, 3} {
				binary.BigEndian.PutUint32(sr[4:], ssrc)
				if _, err := c.EncryptRTCP(rtcpOut, sr, nil); err != nil {
					t.Fatal(err)
				}
			}
			return c
		}
		pionHeld, pionMade := retained(n, pionContext)
		pionAllocs := testing.AllocsPerRun(20, func() { pionContext() })
		t.Logf("%s: Sealer (%d B struct) %d B held (+%d B per Index, %d B per RTCPIndex), "+
			"NewSealer allocates %d B in %.0f allocs; pion Context with 2 RTP and 3 RTCP SSRCs: %d B held, "+
			"CreateContext+2 EncryptRTP+3 EncryptRTCP allocate %d B in %.0f allocs",
			p.name, unsafe.Sizeof(Sealer{}), oursHeld, unsafe.Sizeof(Index{}), unsafe.Sizeof(RTCPIndex{}),
			oursMade, oursAllocs, pionHeld, pionMade, pionAllocs)
		if oursHeld >= pionHeld {
			t.Errorf("%s: Sealer holds %d B, not less than pion's Context (%d B)", p.name, oursHeld, pionHeld)
		}
		if oursHeld > 2048 {
			t.Errorf("%s: Sealer holds %d B, more than 2 KiB", p.name, oursHeld)
		}
	}
}

// BenchmarkSealRTCPVsPion prices sealing the RTCP a transport sends, ours
// against pion's EncryptRTCP, both in place in an egress buffer, for the
// shapes the loop sends most (a sender report, an SR+SDES compound, NACK
// and TWCC feedback). As in BenchmarkSealVsPion the two are interleaved
// within each op across 50 transports and timed with the thread's CPU
// clock; one op is one packet of the shape sealed for each of the 50 by
// both. Metrics: ns of CPU per sealed packet and speedup = pion/ours.
func BenchmarkSealRTCPVsPion(b *testing.B) {
	const transports = 50
	shapes := rtcpShapes(0x1000)
	for _, p := range gcmProfiles {
		for _, k := range []int{0, 4, 7, 9} { // SR, SR+SDES, NACK, TWCC
			plain := marshalRTCP(b, shapes[k].pkts)
			b.Run(fmt.Sprintf("%s/%s/%dB", p.name, shapes[k].name, len(plain)), func(b *testing.B) {
				sessions := make([]*session, transports)
				indexes := make([]RTCPIndex, transports)
				slots := make([][]byte, transports)
				for i := range sessions {
					sessions[i] = newSession(b, p.profile, uint64(i))
					slots[i] = make([]byte, 0, 1500)
				}
				var hdr rtcp.Header
				contenders := [2]func(){
					func() { // ours
						for i := range transports {
							out := append(slots[i][:0], plain...)
							index, _ := indexes[i].Next()
							sessions[i].sealer.SealRTCP(out, out, index)
						}
					},
					func() { // pion
						for i := range transports {
							out := append(slots[i][:0], plain...)
							if _, err := sessions[i].tx.EncryptRTCP(out, out, &hdr); err != nil {
								b.Fatal(err)
							}
						}
					},
				}
				runtime.LockOSThread()
				defer runtime.UnlockOSThread()
				var spent [2]int64
				round := 0
				b.ReportAllocs()
				for b.Loop() {
					round++
					for k := range contenders {
						c := (k + round) % len(contenders)
						t0 := threadCPU(b)
						contenders[c]()
						spent[c] += threadCPU(b) - t0
					}
				}
				pkts := float64(b.N * transports)
				ours, pion := float64(spent[0])/pkts, float64(spent[1])/pkts
				b.ReportMetric(ours, "ours-ns/pkt")
				b.ReportMetric(pion, "pion-ns/pkt")
				b.ReportMetric(pion/ours, "speedup")
			})
		}
	}
}

// benchSessions returns subs sessions of profile, each with pion's sending
// context already holding state for another SSRC (so its map lookup is not
// of a lone entry), an Index each and an egress-sized slot each.
func benchSessions(b *testing.B, profile srtp.ProtectionProfile, subs int, raw []byte, ssrc uint32) ([]*session, []Index, [][]byte) {
	b.Helper()
	sessions := make([]*session, subs)
	indexes := make([]Index, subs)
	slots := make([][]byte, subs)
	for i := range sessions {
		sessions[i] = newSession(b, profile, uint64(i))
		other := append([]byte(nil), raw...)
		binary.BigEndian.PutUint32(other[8:], ssrc+1)
		if _, err := sessions[i].tx.EncryptRTP(nil, other, nil); err != nil {
			b.Fatal(err)
		}
		slots[i] = make([]byte, 0, 1500)
	}
	return sessions, indexes, slots
}
