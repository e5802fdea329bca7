package dataplane

import (
	"unsafe"

	"github.com/hayate-sfu/hayate/dataplane/secure"
)

// Fanning a packet out touches, per subscriber, its downTrack, its
// transport, the transport's Sealer and the AES-GCM state behind it: four
// objects in four places, cold again by the next video frame (33 ms later
// the kernel's and the clients' work has been through the caches). A perf
// profile of the server at 1→50 put a fifth of the user-space forwarding
// time on the first loads of each (d.paused, ls.connected, the sealer's
// salt, the GCM's nonce size). prefetchAhead walks the list ahead of the
// subscriber being served, one object further per step, so that each
// pointer it follows was itself fetched one subscriber earlier:
//
//	i+4: the downTrack    i+3: its transport's hot lines
//	i+2: the Sealer       i+1: the AES-GCM key schedule and GHASH table
const (
	maxPrefetch = 24
	lineSize    = 64
)

// prefetchAhead prefetches, for forwarding downs[i], what downs[i+1..i+4]
// will need.
func prefetchAhead(downs []*downTrack, i int) {
	var a [maxPrefetch]uintptr
	n := 0
	if j := i + 4; j < len(downs) {
		n = appendLines(&a, n, uintptr(unsafe.Pointer(downs[j])), unsafe.Sizeof(downTrack{}))
	}
	if j := i + 3; j < len(downs) {
		if t := downs[j].owner; t != nil {
			// packetsOut/bytesOut, then ls from selected to egTail.
			n = appendLines(&a, n, uintptr(unsafe.Pointer(&t.packetsOut)), unsafe.Sizeof(t.packetsOut)+unsafe.Sizeof(t.bytesOut))
			n = appendLines(&a, n, uintptr(unsafe.Pointer(&t.ls.selected)), unsafe.Offsetof(t.ls.twcc)-unsafe.Offsetof(t.ls.selected))
		}
	}
	if j := i + 2; j < len(downs) {
		if t := downs[j].owner; t != nil && t.ls.seal != nil {
			n = appendLines(&a, n, uintptr(unsafe.Pointer(t.ls.seal)), unsafe.Sizeof(secure.Sealer{}))
		}
	}
	if j := i + 1; j < len(downs) {
		if t := downs[j].owner; t != nil && t.ls.seal != nil {
			n = len(t.ls.seal.AppendKeyLines(a[:n]))
		}
	}
	prefetchLines(&a, n)
}

// appendLines adds one address per cache line of [base, base+size).
func appendLines(a *[maxPrefetch]uintptr, n int, base, size uintptr) int {
	for off := uintptr(0); off < size && n < maxPrefetch; off += lineSize {
		a[n] = base + off
		n++
	}
	if last := base + size - 1; n < maxPrefetch && last/lineSize != a[n-1]/lineSize {
		a[n] = last
		n++
	}
	return n
}
