//go:build (!amd64 && !arm64) || go1.28 || !go1.17 || (arm64 && !go1.20)

package signaling

// jsonImpl mirrors the build constraint of sonic's fallback, which wraps
// encoding/json (compat.go in github.com/bytedance/sonic v1.15.5).
const jsonImpl = "sonic-compat(encoding/json)"
