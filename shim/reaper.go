package shim

import (
	"os"
	"os/signal"
	"sync"

	"golang.org/x/sys/unix"
)

// reaper reaps every child of the shim (a subreaper) on SIGCHLD and hands exit
// statuses to whoever waits for a pid. All children must be waited through it.
type reaper struct {
	mu      sync.Mutex
	waiters map[int]chan unix.WaitStatus
	exited  map[int]unix.WaitStatus // reaped before anyone asked
	gone    map[int]bool            // reaped pids that had a waiter
}

const maxUnclaimed = 1024

func newReaper() *reaper {
	r := &reaper{
		waiters: map[int]chan unix.WaitStatus{},
		exited:  map[int]unix.WaitStatus{},
		gone:    map[int]bool{},
	}
	sigc := make(chan os.Signal, 32)
	signal.Notify(sigc, unix.SIGCHLD)
	go func() {
		for range sigc {
			r.reap()
		}
	}()
	return r
}

func (r *reaper) reap() {
	r.mu.Lock()
	defer r.mu.Unlock()
	for {
		var ws unix.WaitStatus
		pid, err := unix.Wait4(-1, &ws, unix.WNOHANG, nil)
		if err == unix.EINTR {
			continue
		}
		if pid <= 0 || err != nil {
			return
		}
		if ch, ok := r.waiters[pid]; ok {
			delete(r.waiters, pid)
			r.gone[pid] = true
			ch <- ws
			continue
		}
		if len(r.exited) >= maxUnclaimed {
			for k := range r.exited {
				delete(r.exited, k)
				break
			}
		}
		r.exited[pid] = ws
	}
}

// wait returns a channel that yields pid's exit status once it is reaped.
func (r *reaper) wait(pid int) <-chan unix.WaitStatus {
	ch := make(chan unix.WaitStatus, 1)
	r.mu.Lock()
	defer r.mu.Unlock()
	if ws, ok := r.exited[pid]; ok {
		delete(r.exited, pid)
		r.gone[pid] = true
		ch <- ws
		return ch
	}
	r.waiters[pid] = ch
	return ch
}

// kill signals pid unless it was already reaped, so a recycled pid is never hit.
func (r *reaper) kill(pid int, sig unix.Signal) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if _, ok := r.exited[pid]; ok || r.gone[pid] {
		return unix.ESRCH
	}
	return unix.Kill(pid, sig)
}
