package feedback

import (
	"reflect"
	"testing"

	"github.com/pion/rtcp"
)

func TestNACKTrackerPolicy(t *testing.T) {
	tr := NewNACKTracker(512)
	tr.OnPacket(10, 0)
	tr.OnPacket(13, 0)
	if tr.Missing() != 2 {
		t.Fatalf("Missing = %d, want 2", tr.Missing())
	}
	steps := []struct {
		at   int64
		recv int // sequence number arriving just before, or -1
		want []uint16
	}{
		{0, -1, []uint16{11, 12}},
		{50 * ms, -1, nil}, // asked 50 ms ago
		{100 * ms, -1, []uint16{11, 12}},
		{120 * ms, 11, nil}, // 11 recovered
		{200 * ms, -1, []uint16{12}},
		{300 * ms, -1, []uint16{12}},
		{400 * ms, -1, []uint16{12}}, // fifth request
		{500 * ms, -1, nil},          // given up
	}
	for _, st := range steps {
		if st.recv >= 0 {
			tr.OnPacket(uint16(st.recv), st.at)
		}
		if got := tr.AppendMissing(nil, st.at); !reflect.DeepEqual(got, st.want) {
			t.Fatalf("at %d ms: AppendMissing = %v, want %v", st.at/ms, got, st.want)
		}
	}
	if tr.Recovered() != 1 || tr.GaveUp() != 1 || tr.Requested() != 7 || tr.Missing() != 0 {
		t.Fatalf("counters: recovered %d gaveUp %d requested %d missing %d",
			tr.Recovered(), tr.GaveUp(), tr.Requested(), tr.Missing())
	}
}

func TestNACKTrackerMaxAge(t *testing.T) {
	tr := NewNACKTracker(64)
	tr.OnPacket(1, 0)
	tr.OnPacket(3, 0)
	if got := tr.AppendMissing(nil, 1001*ms); got != nil {
		t.Fatalf("AppendMissing after 1.001 s = %v, want nothing", got)
	}
	if tr.GaveUp() != 1 || tr.Missing() != 0 {
		t.Fatalf("gaveUp %d missing %d", tr.GaveUp(), tr.Missing())
	}
}

func TestNACKTrackerWrap(t *testing.T) {
	tr := NewNACKTracker(512)
	tr.OnPacket(65533, 0)
	tr.OnPacket(65534, 0)
	tr.OnPacket(2, 0) // 65535, 0, 1 missing
	got := tr.AppendMissing(nil, 0)
	if want := []uint16{65535, 0, 1}; !reflect.DeepEqual(got, want) {
		t.Fatalf("AppendMissing = %v, want %v", got, want)
	}
	pkts, err := rtcp.Unmarshal(AppendNACK(nil, 1, 2, got))
	if err != nil {
		t.Fatal(err)
	}
	want := &rtcp.TransportLayerNack{SenderSSRC: 1, MediaSSRC: 2, Nacks: []rtcp.NackPair{{PacketID: 65535, LostPackets: 0b11}}}
	if !reflect.DeepEqual(pkts[0], want) {
		t.Fatalf("NACK = %+v, want %+v", pkts[0], want)
	}
	tr.OnPacket(0, ms) // late arrival across the wrap
	if got := tr.AppendMissing(nil, 200*ms); !reflect.DeepEqual(got, []uint16{65535, 1}) {
		t.Fatalf("after 0 arrived: %v", got)
	}
}

func TestNACKTrackerWindow(t *testing.T) {
	tr := NewNACKTracker(10) // rounds to 16
	if tr.Size() != 16 {
		t.Fatalf("Size = %d, want 16", tr.Size())
	}
	tr.OnPacket(0, 0)
	tr.OnPacket(2, 0) // 1 missing
	for s := uint16(3); s <= 17; s++ {
		tr.OnPacket(s, 0)
	}
	// 17 took the slot of 1: it can no longer be asked for.
	if tr.Missing() != 0 || tr.GaveUp() != 1 {
		t.Fatalf("missing %d gaveUp %d, want 0 and 1", tr.Missing(), tr.GaveUp())
	}
	tr.OnPacket(20, 0) // 18, 19 missing
	tr.OnPacket(40, 0) // jump of 20 ≥ 16: start over
	if tr.Missing() != 0 || tr.GaveUp() != 3 {
		t.Fatalf("after jump: missing %d gaveUp %d, want 0 and 3", tr.Missing(), tr.GaveUp())
	}
	tr.OnPacket(42, 0)
	if got := tr.AppendMissing(nil, 0); !reflect.DeepEqual(got, []uint16{41}) {
		t.Fatalf("after restart: %v", got)
	}
}

func TestNACKTrackerIgnoresStrayAndRestarts(t *testing.T) {
	tr := NewNACKTracker(64)
	tr.OnPacket(1000, 0)
	tr.OnPacket(50, 0) // far behind: ignored
	tr.OnPacket(1002, 0)
	if got := tr.AppendMissing(nil, 0); !reflect.DeepEqual(got, []uint16{1001}) {
		t.Fatalf("AppendMissing = %v, want [1001]", got)
	}
	tr.OnPacket(50, ms) // the sender restarted at 50…
	tr.OnPacket(51, ms) // …and goes on: follow it
	tr.OnPacket(53, ms)
	if got := tr.AppendMissing(nil, 2*ms); !reflect.DeepEqual(got, []uint16{52}) {
		t.Fatalf("after restart AppendMissing = %v, want [52]", got)
	}
	tr.OnPacket(53, 2*ms) // duplicate: no effect
	if tr.Missing() != 1 {
		t.Fatalf("Missing = %d, want 1", tr.Missing())
	}
}

func TestNACKTrackerZeroAlloc(t *testing.T) {
	tr := NewNACKTracker(512)
	dst := make([]uint16, 0, 512)
	var seq uint16
	var now int64
	if a := testing.AllocsPerRun(1000, func() {
		tr.OnPacket(seq, now)
		seq += 3 // two missing each time
		now += 5 * ms
		dst = tr.AppendMissing(dst[:0], now)
	}); a != 0 {
		t.Fatalf("allocates %v per run, want 0", a)
	}
}

func BenchmarkNACKTrackerOnPacket(b *testing.B) {
	tr := NewNACKTracker(512)
	var seq uint16
	for b.Loop() {
		tr.OnPacket(seq, 0)
		seq++
	}
}

// BenchmarkNACKTrackerAppendMissing scans a full window with some gaps, as a
// 20 ms timer would.
func BenchmarkNACKTrackerAppendMissing(b *testing.B) {
	tr := NewNACKTracker(512)
	for s := 0; s < 512; s++ {
		if s%50 != 0 {
			tr.OnPacket(uint16(s), 0)
		}
	}
	dst := make([]uint16, 0, 64)
	var now int64
	for b.Loop() {
		dst = tr.AppendMissing(dst[:0], now)
		now += 20 * ms
		if tr.Missing() == 0 {
			b.StopTimer()
			tr = NewNACKTracker(512)
			for s := 0; s < 512; s++ {
				if s%50 != 0 {
					tr.OnPacket(uint16(s), now)
				}
			}
			b.StartTimer()
		}
	}
}
