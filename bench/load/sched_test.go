package load

import (
	"os/exec"
	"testing"

	"golang.org/x/sys/unix"
)

// The load generator's threads go to SCHED_BATCH, but the server it starts
// runs in the normal policy.
func TestServerStartsInNormalPolicy(t *testing.T) {
	if err := batchThreads(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		if err := setPolicyAll(unix.SCHED_NORMAL); err != nil {
			t.Error(err)
		}
	}()
	self, err := unix.SchedGetAttr(0, 0)
	if err != nil {
		t.Fatal(err)
	}
	if self.Policy != unix.SCHED_BATCH {
		t.Fatalf("load generator thread policy %d, want SCHED_BATCH (%d)", self.Policy, unix.SCHED_BATCH)
	}
	cmd := exec.Command("sleep", "5")
	if err := startNormal(cmd.Start); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }()
	child, err := unix.SchedGetAttr(cmd.Process.Pid, 0)
	if err != nil {
		t.Fatal(err)
	}
	if child.Policy != unix.SCHED_NORMAL {
		t.Fatalf("server policy %d, want SCHED_NORMAL (%d)", child.Policy, unix.SCHED_NORMAL)
	}
	// A child forked the plain way inherits SCHED_BATCH: the check above
	// can tell the two apart.
	plain := exec.Command("sleep", "5")
	if err := plain.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = plain.Process.Kill(); _ = plain.Wait() }()
	if a, err := unix.SchedGetAttr(plain.Process.Pid, 0); err != nil || a.Policy != unix.SCHED_BATCH {
		t.Fatalf("a child forked from a batch thread has policy %d (%v), want SCHED_BATCH", a.Policy, err)
	}
}
