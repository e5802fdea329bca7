//go:build !amd64

package dataplane

// prefetchLines does nothing where the package has no assembly for it.
func prefetchLines(a *[maxPrefetch]uintptr, n int) {}
