package load

import (
	"context"
	"fmt"
	"os/exec"
	"path/filepath"
	"strings"
)

// Binaries are the two servers under test, built.
type Binaries struct {
	Hayate   string // the hayate binary (cmd/hayate)
	Baseline string // the baseline binary (bench/baseline/cmd/baseline)
}

// Build compiles cmd/hayate and bench/baseline/cmd/baseline of the module
// holding the working directory into dir, with the go command on PATH. Tests
// and benchmarks use it; the build cache makes a repeat cheap.
func Build(ctx context.Context, dir string) (Binaries, error) {
	goCmd, err := exec.LookPath("go")
	if err != nil {
		return Binaries{}, fmt.Errorf("load: no go command on PATH: %w", err)
	}
	out, err := exec.CommandContext(ctx, goCmd, "env", "GOMOD").Output()
	gomod := strings.TrimSpace(string(out))
	if err != nil || gomod == "" || gomod == "/dev/null" {
		return Binaries{}, fmt.Errorf("load: the working directory is not in a module (go env GOMOD = %q, %v)", gomod, err)
	}
	root := filepath.Dir(gomod)
	b := Binaries{Hayate: filepath.Join(dir, "hayate"), Baseline: filepath.Join(dir, "baseline")}
	for _, t := range []struct{ out, pkg string }{{b.Hayate, "./cmd/hayate"}, {b.Baseline, "./bench/baseline/cmd/baseline"}} {
		cmd := exec.CommandContext(ctx, goCmd, "build", "-o", t.out, t.pkg)
		cmd.Dir = root
		if out, err := cmd.CombinedOutput(); err != nil {
			return Binaries{}, fmt.Errorf("load: go build %s: %w\n%s", t.pkg, err, out)
		}
	}
	return b, nil
}
