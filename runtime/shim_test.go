package runtime

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/berth-dev/berth/errdefs"
)

func t0ctx(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// syncBuffer is a bytes.Buffer safe for a writer and a reader.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

type logLine struct {
	Log    string `json:"log"`
	Stream string `json:"stream"`
	Time   string `json:"time"`
}

func readLog(t testing.TB, path string) []logLine {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var out []logLine
	for _, l := range strings.Split(strings.TrimSuffix(string(b), "\n"), "\n") {
		if l == "" {
			continue
		}
		var e logLine
		if err := json.Unmarshal([]byte(l), &e); err != nil {
			t.Fatalf("bad log line %q: %v", l, err)
		}
		if _, err := time.Parse(time.RFC3339Nano, e.Time); err != nil || !strings.HasSuffix(e.Time, "Z") {
			t.Fatalf("bad time in %q", l)
		}
		out = append(out, e)
	}
	return out
}

// run attaches stdout/stderr, starts and waits.
func run(t *testing.T, e *env, o SpecOptions) (stdout, stderr string, st ExitStatus, logPath string) {
	t.Helper()
	ctx := t0ctx(t)
	s, logPath := e.spawn(o)
	var out, errb syncBuffer
	done, err := s.Attach(ctx, nil, &out, &errb)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Start(ctx); err != nil {
		t.Fatal(err)
	}
	st, err = s.Wait(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	return out.String(), errb.String(), st, logPath
}

func TestEchoHello(t *testing.T) {
	e := newEnv(t)
	out, errOut, st, logPath := run(t, e, SpecOptions{Args: []string{"echo", "hello"}})
	if out != "hello\n" || errOut != "" || st.Code != 0 {
		t.Fatalf("stdout %q stderr %q code %d", out, errOut, st.Code)
	}
	if st.ExitedAt.IsZero() || time.Since(st.ExitedAt) > time.Minute {
		t.Fatalf("ExitedAt %v", st.ExitedAt)
	}
	lines := readLog(t, logPath)
	if len(lines) != 1 || lines[0].Log != "hello\n" || lines[0].Stream != "stdout" {
		t.Fatalf("log %+v", lines)
	}
	raw, _ := os.ReadFile(logPath)
	if !strings.HasPrefix(string(raw), `{"log":"hello\n","stream":"stdout","time":"`) {
		t.Fatalf("log is not in Docker's format: %s", raw)
	}
}

func TestStdoutStderrSeparate(t *testing.T) {
	e := newEnv(t)
	out, errOut, st, logPath := run(t, e, SpecOptions{Args: []string{"sh", "-c", "echo out; echo err >&2; echo out2"}})
	if out != "out\nout2\n" || errOut != "err\n" || st.Code != 0 {
		t.Fatalf("stdout %q stderr %q code %d", out, errOut, st.Code)
	}
	got := map[string]string{}
	for _, l := range readLog(t, logPath) {
		got[l.Stream] += l.Log
	}
	if got["stdout"] != "out\nout2\n" || got["stderr"] != "err\n" {
		t.Fatalf("log %v", got)
	}
}

func TestExitCode(t *testing.T) {
	e := newEnv(t)
	o := SpecOptions{ID: newID(t), Args: []string{"sh", "-c", "exit 3"}}
	_, _, st, _ := run(t, e, o)
	if st.Code != 3 || st.OOMKilled || st.Error != "" {
		t.Fatalf("status %+v", st)
	}
	rec, err := e.m.ReadExit(o.ID)
	if err != nil || rec.Code != 3 || !rec.ExitedAt.Equal(st.ExitedAt) {
		t.Fatalf("exit.json %+v, %v", rec, err)
	}
	// Wait and Attach after the exit answer at once, from the shim or from exit.json.
	ctx := t0ctx(t)
	s := &Shim{m: e.m, id: o.ID, sock: filepath.Join(e.m.StateDir(o.ID), "shim.sock")}
	if st2, err := s.Wait(ctx); err != nil || st2.Code != 3 {
		t.Fatalf("second wait %+v, %v", st2, err)
	}
	if done, err := s.Attach(ctx, nil, io.Discard, nil); err == nil {
		select {
		case err := <-done:
			if err != nil {
				t.Fatal(err)
			}
		case <-time.After(5 * time.Second):
			t.Fatal("attach after exit did not end")
		}
	} else if !errdefs.IsNotFound(err) {
		t.Fatal(err)
	}
}

func TestConflicts(t *testing.T) {
	e := newEnv(t)
	ctx := t0ctx(t)
	s, _ := e.spawn(SpecOptions{Args: []string{"sleep", "100"}})
	if err := s.Kill(ctx, syscall.SIGTERM, false); !errdefs.IsConflict(err) {
		t.Fatalf("kill before start: %v", err)
	}
	if _, status, err := s.State(ctx); err != nil || status != "created" {
		t.Fatalf("state %q %v", status, err)
	}
	if _, err := s.Start(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Start(ctx); !errdefs.IsConflict(err) {
		t.Fatalf("second start: %v", err)
	}
	if err := s.Resize(ctx, 80, 24); !errdefs.IsConflict(err) {
		t.Fatalf("resize without tty: %v", err)
	}
	if _, err := e.m.Spawn(ctx, ShimOptions{ID: s.ID(), Bundle: "/nonexistent", LogPath: "/dev/null"}); !errdefs.IsConflict(err) {
		t.Fatalf("second spawn: %v", err)
	}
	if err := s.Kill(ctx, syscall.SIGKILL, false); err != nil {
		t.Fatal(err)
	}
	if st, err := s.Wait(ctx); err != nil || st.Code != 137 {
		t.Fatalf("%+v %v", st, err)
	}
}

func TestKill(t *testing.T) {
	for _, tc := range []struct {
		name string
		args []string
		sig  syscall.Signal
		all  bool
		code int
	}{
		{"sigkill", []string{"sleep", "100"}, syscall.SIGKILL, false, 137},
		{"sigkill all", []string{"sleep", "100"}, syscall.SIGKILL, true, 137},
		{"sigterm trapped", []string{"sh", "-c", `trap "exit 7" TERM; echo ready; while true; do sleep 0.05; done`}, syscall.SIGTERM, false, 7},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t)
			ctx := t0ctx(t)
			s, _ := e.spawn(SpecOptions{Args: tc.args})
			pr, pw := io.Pipe()
			done, err := s.Attach(ctx, nil, pw, nil)
			if err != nil {
				t.Fatal(err)
			}
			pid, err := s.Start(ctx)
			if err != nil || pid <= 0 || s.Pid() != pid {
				t.Fatalf("start: pid %d, %v", pid, err)
			}
			if tc.code == 7 {
				line, _ := bufio.NewReader(pr).ReadString('\n')
				if line != "ready\n" {
					t.Fatalf("got %q", line)
				}
			}
			go io.Copy(io.Discard, pr)
			if _, status, err := s.State(ctx); err != nil || status != "running" {
				t.Fatalf("state %q, %v", status, err)
			}
			if err := s.Kill(ctx, tc.sig, tc.all); err != nil {
				t.Fatal(err)
			}
			st, err := s.Wait(ctx)
			if err != nil || st.Code != tc.code {
				t.Fatalf("status %+v, %v", st, err)
			}
			<-done
			// Killing a stopped container is a conflict, as in Docker.
			if err := s.Kill(ctx, syscall.SIGKILL, false); err != nil && !errdefs.IsConflict(err) && !errdefs.IsNotFound(err) {
				t.Fatalf("kill after exit: %v", err)
			}
		})
	}
}

func TestStdin(t *testing.T) {
	e := newEnv(t)
	ctx := t0ctx(t)
	s, logPath := e.spawnStdin(SpecOptions{Args: []string{"cat"}}, true)
	var out syncBuffer
	// Input is sent before start: it must wait for the container, not be lost.
	done, err := s.Attach(ctx, strings.NewReader("one\ntwo\n"), &out, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Start(ctx); err != nil {
		t.Fatal(err)
	}
	st, err := s.Wait(ctx) // returns only if EOF reached cat
	if err != nil || st.Code != 0 {
		t.Fatalf("status %+v, %v", st, err)
	}
	<-done
	if out.String() != "one\ntwo\n" {
		t.Fatalf("stdout %q", out.String())
	}
	if l := readLog(t, logPath); len(l) != 2 || l[1].Log != "two\n" {
		t.Fatalf("log %+v", l)
	}
}

func TestAttachBeforeStartLosesNothing(t *testing.T) {
	e := newEnv(t)
	const n = 3000
	out, _, st, logPath := run(t, e, SpecOptions{Args: []string{"seq", "1", fmt.Sprint(n)}})
	var want strings.Builder
	for i := 1; i <= n; i++ {
		fmt.Fprintf(&want, "%d\n", i)
	}
	if st.Code != 0 || out != want.String() {
		t.Fatalf("code %d, got %d bytes want %d", st.Code, len(out), want.Len())
	}
	var logged strings.Builder
	for _, l := range readLog(t, logPath) {
		logged.WriteString(l.Log)
	}
	if logged.String() != want.String() {
		t.Fatalf("log has %d bytes, want %d", logged.Len(), want.Len())
	}
}

func TestMultipleAttach(t *testing.T) {
	e := newEnv(t)
	ctx := t0ctx(t)
	s, _ := e.spawn(SpecOptions{Args: []string{"sh", "-c", "echo a; echo b >&2"}})
	var o1, o2, e2 syncBuffer
	d1, err := s.Attach(ctx, nil, &o1, nil)
	if err != nil {
		t.Fatal(err)
	}
	d2, err := s.Attach(ctx, nil, &o2, &e2)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Start(ctx); err != nil {
		t.Fatal(err)
	}
	if err := <-d1; err != nil {
		t.Fatal(err)
	}
	if err := <-d2; err != nil {
		t.Fatal(err)
	}
	if o1.String() != "a\n" || o2.String() != "a\n" || e2.String() != "b\n" {
		t.Fatalf("%q %q %q", o1.String(), o2.String(), e2.String())
	}
	if st, err := s.Wait(ctx); err != nil || st.Code != 0 {
		t.Fatalf("%+v %v", st, err)
	}
}

func TestTTY(t *testing.T) {
	e := newEnv(t)
	ctx := t0ctx(t)
	s, logPath := e.spawn(SpecOptions{Args: []string{"sh", "-c", "tty; sleep 0.3; stty size"}, Tty: true})
	var out syncBuffer
	done, err := s.Attach(ctx, nil, &out, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Start(ctx); err != nil {
		t.Fatal(err)
	}
	if err := s.Resize(ctx, 100, 40); err != nil {
		t.Fatal(err)
	}
	st, err := s.Wait(ctx)
	if err != nil || st.Code != 0 {
		t.Fatalf("%+v %v", st, err)
	}
	<-done
	if out.String() != "/dev/pts/0\r\n40 100\r\n" {
		t.Fatalf("tty output %q", out.String())
	}
	l := readLog(t, logPath)
	if len(l) != 2 || l[0].Log != "/dev/pts/0\r\n" || l[0].Stream != "stdout" {
		t.Fatalf("log %+v", l)
	}
}

func TestTTYStdin(t *testing.T) {
	e := newEnv(t)
	ctx := t0ctx(t)
	s, _ := e.spawnStdin(SpecOptions{Args: []string{"sh", "-c", "read x; echo got:$x"}, Tty: true}, true)
	var out syncBuffer
	pr, pw := io.Pipe()
	done, err := s.Attach(ctx, pr, &out, nil)
	if err != nil {
		t.Fatal(err)
	}
	pw.Write([]byte("early\r"))
	if _, err := s.Start(ctx); err != nil {
		t.Fatal(err)
	}
	st, err := s.Wait(ctx)
	if err != nil || st.Code != 0 {
		t.Fatalf("%+v %v", st, err)
	}
	<-done
	pw.Close()
	if !strings.Contains(out.String(), "got:early") {
		t.Fatalf("output %q", out.String())
	}
}

func TestBadCommand(t *testing.T) {
	e := newEnv(t)
	ctx := t0ctx(t)
	id := newID(t)
	s, logPath := e.spawn(SpecOptions{ID: id, Args: []string{"nosuchcmd"}})
	done, err := s.Attach(ctx, nil, io.Discard, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	_, err = s.Start(ctx)
	if err == nil || !strings.Contains(err.Error(), `exec: "nosuchcmd": executable file not found in $PATH`) {
		t.Fatalf("start error %v", err)
	}
	<-done
	// The shim goes away by itself and leaves nothing behind.
	deadline := time.Now().Add(5 * time.Second)
	for {
		_, err := e.m.Connect(ctx, id)
		if errdefs.IsNotFound(err) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("shim still there: %v", err)
		}
		time.Sleep(10 * time.Millisecond)
	}
	if _, err := os.Stat(e.m.StateDir(id)); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("state dir left: %v", err)
	}
	if _, err := os.Stat(filepath.Join(e.m.RuntimeRoot(), id)); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("runc state left: %v", err)
	}
	if _, err := os.Stat(logPath); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("empty log file left: %v", err)
	}
	for _, c := range []string{"pids", "memory", "cpu", "devices", "freezer", "unified"} {
		if _, err := os.Stat(filepath.Join("/sys/fs/cgroup", c, "berth", id)); !errors.Is(err, os.ErrNotExist) {
			t.Fatalf("cgroup %s left: %v", c, err)
		}
	}
	if p := waitNoProcesses(e.root); len(p) > 0 {
		t.Fatalf("processes left: %v", p)
	}
	if _, err := e.m.ReadExit(id); !errdefs.IsNotFound(err) {
		t.Fatalf("ReadExit: %v", err)
	}
}

func TestExitWhileDisconnected(t *testing.T) {
	e := newEnv(t)
	ctx := t0ctx(t)
	id := newID(t)
	s, _ := e.spawn(SpecOptions{ID: id, Args: []string{"sh", "-c", "echo bye; exit 5"}})
	if _, err := s.Start(ctx); err != nil {
		t.Fatal(err)
	}
	// Nobody waits: the shim records the exit and goes away.
	deadline := time.Now().Add(10 * time.Second)
	for {
		if _, err := e.m.Connect(ctx, id); errdefs.IsNotFound(err) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("shim did not exit")
		}
		time.Sleep(20 * time.Millisecond)
	}
	st, err := e.m.ReadExit(id)
	if err != nil || st.Code != 5 {
		t.Fatalf("%+v %v", st, err)
	}
	// Wait on a client whose shim is gone falls back to exit.json.
	if st, err := s.Wait(ctx); err != nil || st.Code != 5 {
		t.Fatalf("wait after shim exit: %+v %v", st, err)
	}
	if _, err := os.Stat(filepath.Join(e.m.RuntimeRoot(), id)); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("runc state left: %v", err)
	}
	if err := e.m.Cleanup(ctx, id); err != nil {
		t.Fatal(err)
	}
	if err := e.m.Cleanup(ctx, id); err != nil {
		t.Fatalf("second cleanup: %v", err)
	}
	if _, err := e.m.ReadExit(id); !errdefs.IsNotFound(err) {
		t.Fatalf("ReadExit after cleanup: %v", err)
	}
}

func TestConnectMissing(t *testing.T) {
	e := newEnv(t)
	if _, err := e.m.Connect(t0ctx(t), "nosuch"); !errdefs.IsNotFound(err) {
		t.Fatalf("got %v", err)
	}
	if _, err := e.m.Connect(t0ctx(t), "../x"); !errdefs.IsInvalidParameter(err) {
		t.Fatalf("got %v", err)
	}
}

func TestCleanupRunning(t *testing.T) {
	e := newEnv(t)
	ctx := t0ctx(t)
	id := newID(t)
	s, _ := e.spawn(SpecOptions{ID: id, Args: []string{"sleep", "100"}})
	if _, err := s.Start(ctx); err != nil {
		t.Fatal(err)
	}
	if err := e.m.Cleanup(ctx, id); err != nil {
		t.Fatal(err)
	}
	if p := waitNoProcesses(e.root); len(p) > 0 {
		t.Fatalf("processes left: %v", p)
	}
	if _, err := os.Stat(e.m.StateDir(id)); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("state dir left: %v", err)
	}
}

const spawnerEnv = "BERTH_TEST_SPAWNER"

type spawnerConfig struct {
	ExecRoot, Shim, ID, Bundle, Log string
}

// spawnerMain runs in a child test process: it spawns and starts a container,
// reports it on stdout and waits to be killed.
func spawnerMain() {
	var c spawnerConfig
	if err := json.Unmarshal([]byte(os.Getenv(spawnerEnv)), &c); err != nil {
		fmt.Println("error:", err)
		os.Exit(1)
	}
	m := NewManager(c.ExecRoot, c.Shim, runcPath)
	ctx := context.Background()
	s, err := m.Spawn(ctx, ShimOptions{ID: c.ID, Bundle: c.Bundle, LogPath: c.Log})
	if err == nil {
		_, err = s.Start(ctx)
	}
	if err != nil {
		fmt.Println("error:", err)
		os.Exit(1)
	}
	fmt.Println("started")
	select {}
}

func TestShimSurvivesParent(t *testing.T) {
	e := newEnv(t)
	ctx := t0ctx(t)
	id := newID(t)
	dir, logPath := e.bundle(SpecOptions{ID: id, Args: []string{"sh", "-c", `trap "exit 7" TERM; while true; do echo tick; sleep 0.05; done`}})
	cfg, _ := json.Marshal(spawnerConfig{ExecRoot: filepath.Join(e.root, "exec"), Shim: shimBinary, ID: id, Bundle: dir, Log: logPath})
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), spawnerEnv+"="+string(cfg))
	stdout, _ := cmd.StdoutPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	line, _ := bufio.NewReader(stdout).ReadString('\n')
	if line != "started\n" {
		cmd.Process.Kill()
		cmd.Wait()
		t.Fatalf("spawner: %q", line)
	}
	cmd.Process.Kill()
	cmd.Wait()

	size := func() int64 {
		fi, err := os.Stat(logPath)
		if err != nil {
			return 0
		}
		return fi.Size()
	}
	before := size()
	time.Sleep(300 * time.Millisecond)
	if after := size(); after <= before {
		t.Fatalf("container stopped logging after its spawner died (%d -> %d bytes)", before, after)
	}
	s, err := e.m.Connect(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	if s.Pid() <= 0 {
		t.Fatalf("pid %d", s.Pid())
	}
	var out syncBuffer
	done, err := s.Attach(ctx, nil, &out, nil)
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(150 * time.Millisecond)
	if err := s.Kill(ctx, syscall.SIGTERM, false); err != nil {
		t.Fatal(err)
	}
	st, err := s.Wait(ctx)
	if err != nil || st.Code != 7 {
		t.Fatalf("%+v %v", st, err)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "tick\n") {
		t.Fatalf("re-attached output %q", out.String())
	}
}

// TestNoLeftoverShims checks the whole package run left no shim behind.
func TestNoLeftoverShims(t *testing.T) {
	requireRuntime(t)
	out, _ := exec.Command("ps", "-eo", "pid,args").Output()
	var left []string
	for _, l := range strings.Split(string(out), "\n") {
		if strings.Contains(l, shimBinary) {
			left = append(left, l)
		}
	}
	sort.Strings(left)
	if len(left) > 0 {
		t.Fatalf("shims left: %v", left)
	}
}
