package runtime

import (
	"bufio"
	"io"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/berth-dev/berth/errdefs"
	"github.com/berth-dev/berth/runtime/cgroups"
)

func TestPauseResumePids(t *testing.T) {
	e := newEnv(t)
	ctx := t0ctx(t)
	id := newID(t)
	s, _ := e.spawn(SpecOptions{ID: id, Args: []string{"sh", "-c", "sleep 100 & while true; do echo tick; sleep 0.02; done"}})
	pr, pw := io.Pipe()
	done, err := s.Attach(ctx, nil, pw, nil)
	if err != nil {
		t.Fatal(err)
	}
	pid, err := s.Start(ctx)
	if err != nil {
		t.Fatal(err)
	}
	ticks := make(chan struct{}, 1000)
	go func() {
		sc := bufio.NewScanner(pr)
		for sc.Scan() {
			ticks <- struct{}{}
		}
	}()
	<-ticks

	pids, err := e.m.Pids(ctx, id)
	if err != nil || !slices.Contains(pids, pid) || len(pids) < 2 {
		t.Fatalf("pids %v (init %d), %v", pids, pid, err)
	}
	if err := e.m.Pause(ctx, id); err != nil {
		t.Fatal(err)
	}
	if paused, err := e.m.Paused(ctx, id); err != nil || !paused {
		t.Fatalf("paused %v, %v", paused, err)
	}
	err = e.m.Pause(ctx, id)
	if !errdefs.IsConflict(err) || err.Error() != "Container "+id+" is already paused" {
		t.Fatalf("second pause: %v", err)
	}
	// Nothing runs while paused.
	time.Sleep(50 * time.Millisecond)
	for len(ticks) > 0 {
		<-ticks
	}
	time.Sleep(200 * time.Millisecond)
	if n := len(ticks); n > 0 {
		t.Fatalf("%d ticks while paused", n)
	}
	if p2, err := e.m.Pids(ctx, id); err != nil || !slices.Contains(p2, pid) {
		t.Fatalf("pids while paused %v, %v", p2, err)
	}
	if err := e.m.Resume(ctx, id); err != nil {
		t.Fatal(err)
	}
	select {
	case <-ticks:
	case <-time.After(5 * time.Second):
		t.Fatal("no output after resume")
	}
	if err := e.m.Resume(ctx, id); !errdefs.IsConflict(err) || !strings.Contains(err.Error(), "is not paused") {
		t.Fatalf("resume of a running container: %v", err)
	}
	// SIGKILL takes a paused container down (the shim thaws it).
	if err := e.m.Pause(ctx, id); err != nil {
		t.Fatal(err)
	}
	if err := s.Kill(ctx, syscall.SIGKILL, false); err != nil {
		t.Fatal(err)
	}
	if st, err := s.Wait(ctx); err != nil || st.Code != 137 {
		t.Fatalf("%+v %v", st, err)
	}
	<-done
	pw.Close()
	if err := e.m.Pause(ctx, id); !errdefs.IsNotFound(err) && !errdefs.IsConflict(err) {
		t.Fatalf("pause of an exited container: %v", err)
	}
	if _, err := e.m.Pids(ctx, "nosuch"); !errdefs.IsNotFound(err) {
		t.Fatalf("pids of an unknown container: %v", err)
	}
}

func TestCgroupStats(t *testing.T) {
	e := newEnv(t)
	ctx := t0ctx(t)
	id := newID(t)
	// Hold ≈ 8 MB in a tmpfs (charged to the container) and burn a little CPU.
	s, _ := e.spawn(SpecOptions{ID: id, Memory: 64 << 20, PidsLimit: i64(20), Tmpfs: map[string]string{"/w": ""},
		Args: []string{"sh", "-c", "head -c 8m /dev/zero > /w/f; i=0; while [ $i -lt 20000 ]; do i=$((i+1)); done; echo ready; sleep 100"}})
	pr, pw := io.Pipe()
	done, err := s.Attach(ctx, nil, pw, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Start(ctx); err != nil {
		t.Fatal(err)
	}
	if line, _ := bufio.NewReader(pr).ReadString('\n'); line != "ready\n" {
		t.Fatalf("got %q", line)
	}
	go io.Copy(io.Discard, pr)
	st, err := cgroups.Stats(CgroupsPath(id))
	if err != nil {
		t.Fatal(err)
	}
	m := st.MemoryStats
	if m.Limit != 64<<20 || m.Usage < 8<<20 || m.Usage > 64<<20 || m.MaxUsage < m.Usage && m.MaxUsage != 0 || len(m.Stats) == 0 {
		t.Fatalf("memory %+v", m)
	}
	c := st.CPUStats
	if c.CPUUsage.TotalUsage == 0 || c.SystemUsage == 0 || c.OnlineCPUs == 0 {
		t.Fatalf("cpu %+v", c)
	}
	if !cgroup2Unified() && len(c.CPUUsage.PercpuUsage) == 0 {
		t.Fatalf("no per-cpu usage on v1: %+v", c)
	}
	if st.PidsStats.Current < 1 || st.PidsStats.Limit != 20 || st.OOMKills != 0 {
		t.Fatalf("pids %+v oom %d", st.PidsStats, st.OOMKills)
	}
	// A second sample advances the system CPU clock.
	time.Sleep(20 * time.Millisecond)
	st2, err := cgroups.Stats(CgroupsPath(id))
	if err != nil || st2.CPUStats.SystemUsage <= c.SystemUsage {
		t.Fatalf("second sample %+v, %v", st2, err)
	}
	s.Kill(ctx, syscall.SIGKILL, false)
	s.Wait(ctx)
	<-done
	pw.Close()
}
