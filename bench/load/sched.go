package load

import (
	"fmt"
	"os"
	"runtime"
	"strconv"

	"golang.org/x/sys/unix"
)

// batchThreads puts every thread of this process in SCHED_BATCH; threads
// created later inherit it. A SCHED_BATCH thread that wakes up does not
// preempt the thread running on its CPU (the kernel's wakeup preemption
// skips batch tasks): a load client woken by a datagram waits for the
// server's send call to finish, or for the next scheduler tick, instead of
// interrupting it, as a client on another machine would. Unprivileged
// processes may switch to and from SCHED_BATCH.
func batchThreads() error {
	return setPolicyAll(unix.SCHED_BATCH)
}

// setPolicyAll sets the scheduling policy of every thread of this process.
func setPolicyAll(policy uint32) error {
	ents, err := os.ReadDir("/proc/self/task")
	if err != nil {
		return fmt.Errorf("load: listing threads: %w", err)
	}
	for _, e := range ents {
		tid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		err = unix.SchedSetAttr(tid, &unix.SchedAttr{Size: unix.SizeofSchedAttr, Policy: policy}, 0)
		if err != nil && err != unix.ESRCH { // ESRCH: the thread has exited meanwhile
			return fmt.Errorf("load: scheduling policy of thread %d: %w", tid, err)
		}
	}
	return nil
}

// startNormal runs start (which forks the server under test) on a thread
// of the normal policy, so that the server does not inherit the load
// clients' SCHED_BATCH.
func startNormal(start func() error) error {
	errc := make(chan error, 1)
	go func() {
		// Never unlocked: the thread exits with this goroutine instead of
		// going back to the pool in the normal policy.
		runtime.LockOSThread()
		if err := unix.SchedSetAttr(0, &unix.SchedAttr{Size: unix.SizeofSchedAttr, Policy: unix.SCHED_NORMAL}, 0); err != nil {
			errc <- fmt.Errorf("load: normal scheduling policy for the server: %w", err)
			return
		}
		errc <- start()
	}()
	return <-errc
}
