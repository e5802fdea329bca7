#!/usr/bin/env bash
# Browser tests: the real sora-js-sdk (npm, pinned in e2e/package-lock.json)
# in headless Chromium (Debian package) against a freshly built Hayate.
# Run from the repository root:  scripts/e2e.sh [test files...]
# Environment: HAYATE_E2E_CODECS (default VP8,VP9,AV1,H264), HAYATE_E2E_ONLY
# (subset of a,b,c,d), HAYATE_CHROMIUM (default /usr/bin/chromium).
set -euo pipefail

if [[ ! -f go.mod || ! -d e2e || ! -d cmd/hayate ]]; then
  echo "e2e.sh: run me from the repository root (the folder with go.mod, e2e/ and cmd/hayate/)" >&2
  exit 2
fi

chromium="${HAYATE_CHROMIUM:-/usr/bin/chromium}"
if [[ ! -x "$chromium" ]]; then
  echo "e2e.sh: $chromium not found; install Chromium with: apt-get install -y chromium" >&2
  exit 2
fi
if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
  echo "e2e.sh: node and npm are needed (Node 20 or later)" >&2
  exit 2
fi

# npm ci only when node_modules is missing or older than the lockfile.
stamp=e2e/node_modules/.package-lock.json
if [[ ! -f "$stamp" || e2e/package-lock.json -nt "$stamp" || ! -f e2e/node_modules/sora-js-sdk/dist/sora.js ]]; then
  (cd e2e && npm ci --no-audit --no-fund --loglevel=error)
fi

# Build once for all test files.
bindir="$(mktemp -d)"
trap 'rm -rf "$bindir"' EXIT
echo "e2e.sh: go build ./cmd/hayate"
go build -o "$bindir/hayate" ./cmd/hayate
export HAYATE_BIN="$bindir/hayate"

if [[ $# -gt 0 ]]; then
  files=("$@")
else
  files=(e2e/*.test.mjs)
fi
node --test --test-concurrency=1 --test-reporter=spec "${files[@]}"
