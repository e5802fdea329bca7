package dataplane

import (
	"testing"

	"github.com/hayate-sfu/hayate/dataplane/icelite"
	"github.com/pion/stun/v4"
)

// stunLoop returns a test loop whose publisher transport has fresh ICE
// credentials, and a client's Binding request to it as Chrome sends it
// (USERNAME, PRIORITY, ICE-CONTROLLING, USE-CANDIDATE, MESSAGE-INTEGRITY,
// FINGERPRINT), built by pion/stun.
func stunLoop(t testing.TB) (*loopState, *fakeWire, *transport, []byte, string) {
	t.Helper()
	l, w, _, from, _ := newTestLoop(t, 1)
	tr := l.byAddr[from]
	ufrag, pwd := icelite.NewCredentials()
	tr.local = LocalParams{Ufrag: ufrag, Pwd: pwd}
	tr.integrity = newIntegrity(pwd)
	tr.ls.remoteUfrag = "chrome"
	l.byUfrag[ufrag] = tr
	tie := make([]byte, 8)
	m, err := stun.Build(stun.TransactionID, stun.BindingRequest, stun.NewUsername(ufrag+":chrome"),
		stun.RawAttribute{Type: stun.AttrPriority, Value: []byte{0x6e, 0x7f, 0x1e, 0xff}},
		stun.RawAttribute{Type: stun.AttrICEControlling, Value: tie},
		stun.RawAttribute{Type: stun.AttrUseCandidate},
		stun.NewShortTermIntegrity(pwd), stun.Fingerprint)
	if err != nil {
		t.Fatal(err)
	}
	return l, w, tr, m.Raw, pwd
}

func TestHandleSTUNAnswers(t *testing.T) {
	l, w, tr, req, pwd := stunLoop(t)
	from := tr.ls.selected
	w.keep = true
	l.handleDatagram(req, from, 1)
	l.flush()
	if n := l.p.counters.DropSTUN.Load(); n != 0 {
		t.Fatalf("check dropped (%d)", n)
	}
	if len(w.got) != 1 {
		t.Fatalf("sent %d datagrams, want 1 response", len(w.got))
	}
	var res, q stun.Message
	res.Raw, q.Raw = w.got[0], req
	if err := res.Decode(); err != nil {
		t.Fatal(err)
	}
	_ = q.Decode()
	if res.Type != stun.BindingSuccess || res.TransactionID != q.TransactionID {
		t.Fatalf("response %v, transaction ID echoed %v", res.Type, res.TransactionID == q.TransactionID)
	}
	if err := stun.NewShortTermIntegrity(pwd).Check(&res); err != nil {
		t.Fatalf("response MESSAGE-INTEGRITY: %v", err)
	}
	var xor stun.XORMappedAddress
	if err := xor.GetFrom(&res); err != nil || xor.Port != int(from.Port()) {
		t.Fatalf("XOR-MAPPED-ADDRESS %v:%d, %v", xor.IP, xor.Port, err)
	}
	// A check for another remote ufrag than the signalled one is dropped.
	bad, err := stun.Build(stun.TransactionID, stun.BindingRequest, stun.NewUsername(tr.local.Ufrag+":other"),
		stun.NewShortTermIntegrity(pwd), stun.Fingerprint)
	if err != nil {
		t.Fatal(err)
	}
	l.handleDatagram(bad.Raw, from, 2)
	l.flush()
	if n := l.p.counters.DropSTUN.Load(); n != 1 || len(w.got) != 1 {
		t.Fatalf("check with a wrong remote ufrag: %d drops, %d datagrams sent", n, len(w.got))
	}
}

// Answering a consent check on the loop — the same path as a datagram read
// from the socket: demux, parse, verify, build the response into the egress
// slot, flush — allocates nothing.
func TestHandleSTUNZeroAlloc(t *testing.T) {
	l, w, tr, req, _ := stunLoop(t)
	from := tr.ls.selected
	buf := make([]byte, 2048)
	calls := 0
	handle := func() {
		calls++
		n := copy(buf, req)
		l.handleDatagram(buf[:n], from, 1)
		l.flush()
	}
	handle() // first use sizes the Responder's buffers
	if n := testing.AllocsPerRun(200, handle); n != 0 {
		t.Fatalf("answering a STUN check allocates %.1f times, want 0", n)
	}
	if d := l.p.counters.DropSTUN.Load(); d != 0 || w.sent != calls {
		t.Fatalf("%d drops, %d responses sent, want 0 and %d", d, w.sent, calls)
	}
}

func BenchmarkHandleSTUN(b *testing.B) {
	l, _, tr, req, _ := stunLoop(b)
	from := tr.ls.selected
	buf := make([]byte, 2048)
	b.ReportAllocs()
	for b.Loop() {
		n := copy(buf, req)
		l.handleDatagram(buf[:n], from, 1)
		l.flush()
	}
}
