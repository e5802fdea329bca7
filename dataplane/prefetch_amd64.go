package dataplane

// prefetchLines asks the CPU to bring the cache lines holding a[:n] into
// its caches without waiting for them (PREFETCHT0). A prefetch never
// faults: a stale address costs nothing but the hint.
//
//go:noescape
func prefetchLines(a *[maxPrefetch]uintptr, n int)
