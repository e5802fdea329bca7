//go:build (amd64 && go1.17 && !go1.28) || (arm64 && go1.20 && !go1.28)

package signaling

// jsonImpl mirrors the build constraint of sonic's JIT implementation
// (sonic.go in github.com/bytedance/sonic v1.15.5).
const jsonImpl = "sonic-native"
