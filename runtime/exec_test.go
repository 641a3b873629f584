package runtime

import (
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/berth-dev/berth/errdefs"
	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// execEnv is a running container to exec into.
type execEnv struct {
	*env
	t       *testing.T
	s       *Shim
	spec    *specs.Spec
	logPath string
}

func newExecEnv(t *testing.T, o SpecOptions) *execEnv {
	e := newEnv(t)
	if o.ID == "" {
		o.ID = newID(t)
	}
	if o.Args == nil {
		o.Args = []string{"sleep", "100"}
	}
	s, logPath := e.spawn(o)
	if _, err := s.Start(t0ctx(t)); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join(e.root, "bundles", o.ID, "config.json"))
	if err != nil {
		t.Fatal(err)
	}
	var spec specs.Spec
	if err := json.Unmarshal(b, &spec); err != nil {
		t.Fatal(err)
	}
	return &execEnv{env: e, t: t, s: s, spec: &spec, logPath: logPath}
}

// exec registers, attaches, starts and waits for one exec and returns its output.
func (x *execEnv) exec(id string, o ExecProcessOptions, stdin io.Reader) (stdout, stderr string, st ExitStatus) {
	x.t.Helper()
	ctx := t0ctx(x.t)
	p, err := ExecProcess(x.spec, o)
	if err != nil {
		x.t.Fatal(err)
	}
	if err := x.s.Exec(ctx, ExecOptions{ID: id, Process: p, Tty: o.Tty, Stdin: stdin != nil}); err != nil {
		x.t.Fatal(err)
	}
	var out, errb syncBuffer
	var errw io.Writer = &errb
	if o.Tty {
		errw = nil
	}
	done, err := x.s.ExecAttach(ctx, id, stdin, &out, errw)
	if err != nil {
		x.t.Fatal(err)
	}
	pid, err := x.s.ExecStart(ctx, id)
	if err != nil || pid <= 0 {
		x.t.Fatalf("exec start: pid %d, %v", pid, err)
	}
	if st, err = x.s.ExecWait(ctx, id); err != nil {
		x.t.Fatal(err)
	}
	if err := <-done; err != nil {
		x.t.Fatal(err)
	}
	return out.String(), errb.String(), st
}

func (x *execEnv) stop() {
	ctx := t0ctx(x.t)
	x.s.Kill(ctx, syscall.SIGKILL, false)
	if _, err := x.s.Wait(ctx); err != nil {
		x.t.Fatal(err)
	}
}

func TestExec(t *testing.T) {
	x := newExecEnv(t, SpecOptions{Env: []string{"FROM_IMAGE=1"}, NoNewPrivileges: true, CapDrop: []string{"CHOWN"},
		Ulimits: []Ulimit{{Name: "nofile", Soft: 512, Hard: 512}}})
	defer x.stop()

	out, errOut, st := x.exec("e1", ExecProcessOptions{Args: []string{"sh", "-c", "echo hello; echo oops >&2"}}, nil)
	if out != "hello\n" || errOut != "oops\n" || st.Code != 0 {
		t.Fatalf("stdout %q stderr %q status %+v", out, errOut, st)
	}
	_, _, st = x.exec("e2", ExecProcessOptions{Args: []string{"sh", "-c", "exit 5"}}, nil)
	if st.Code != 5 {
		t.Fatalf("status %+v", st)
	}
	out, _, _ = x.exec("e3", ExecProcessOptions{Args: []string{"id", "-u"}, User: "nobody"}, nil)
	if out != "65534\n" {
		t.Fatalf("user: %q", out)
	}
	out, _, _ = x.exec("e4", ExecProcessOptions{Args: []string{"pwd"}, Cwd: "/tmp"}, nil)
	if out != "/tmp\n" {
		t.Fatalf("cwd: %q", out)
	}
	out, _, _ = x.exec("e5", ExecProcessOptions{Args: []string{"sh", "-c", "echo $FOO $FROM_IMAGE"}, Env: []string{"FOO=bar"}}, nil)
	if out != "bar 1\n" {
		t.Fatalf("env: %q", out)
	}
	out, _, st = x.exec("e6", ExecProcessOptions{Args: []string{"cat"}}, strings.NewReader("piped\ninput\n"))
	if out != "piped\ninput\n" || st.Code != 0 {
		t.Fatalf("stdin: %q %+v", out, st)
	}
	// The exec runs with the container's confinement.
	out, _, _ = x.exec("e7", ExecProcessOptions{Args: []string{"sh", "-c", "grep -E '^(NoNewPrivs|CapEff|Seccomp):' /proc/self/status; ulimit -Hn"}}, nil)
	for _, want := range []string{"NoNewPrivs:\t1", "CapEff:\t00000000a80425fa", "Seccomp:\t2", "512"} {
		if !strings.Contains(out, want) {
			t.Fatalf("exec confinement lacks %q:\n%s", want, out)
		}
	}
	out, _, _ = x.exec("e8", ExecProcessOptions{Args: []string{"grep", "CapEff", "/proc/self/status"}, Privileged: true}, nil)
	if !strings.Contains(out, selfStatus(t, "CapPrm")) {
		t.Fatalf("privileged exec: %q", out)
	}
	// Exec output is not logged.
	if b, _ := os.ReadFile(x.logPath); strings.Contains(string(b), "hello") || strings.Contains(string(b), "piped") {
		t.Fatalf("exec output in the container log: %s", b)
	}
	ctx := t0ctx(t)
	if pid, status, exit, err := x.s.ExecState(ctx, "e2"); err != nil || status != "stopped" || exit == nil || exit.Code != 5 || pid <= 0 {
		t.Fatalf("exec state %d %q %+v %v", pid, status, exit, err)
	}
}

func TestExecTTY(t *testing.T) {
	x := newExecEnv(t, SpecOptions{})
	defer x.stop()
	ctx := t0ctx(t)
	p, err := ExecProcess(x.spec, ExecProcessOptions{Args: []string{"sh", "-c", "read a; read b; tty; stty size; echo got:$a:$b"}, Tty: true})
	if err != nil {
		t.Fatal(err)
	}
	if err := x.s.Exec(ctx, ExecOptions{ID: "tty", Process: p, Tty: true, Stdin: true}); err != nil {
		t.Fatal(err)
	}
	pr, pw := io.Pipe()
	var out syncBuffer
	done, err := x.s.ExecAttach(ctx, "tty", pr, &out, nil)
	if err != nil {
		t.Fatal(err)
	}
	pw.Write([]byte("early\r")) // before the pty exists: kept for it
	if _, err := x.s.ExecStart(ctx, "tty"); err != nil {
		t.Fatal(err)
	}
	if err := x.s.ExecResize(ctx, "tty", 90, 30); err != nil {
		t.Fatal(err)
	}
	pw.Write([]byte("late\r"))
	st, err := x.s.ExecWait(ctx, "tty")
	if err != nil || st.Code != 0 {
		t.Fatalf("%+v %v", st, err)
	}
	<-done
	pw.Close()
	if o := out.String(); !strings.Contains(o, "\r\n/dev/pts/") || !strings.Contains(o, "got:early:late") || !strings.Contains(o, "30 90\r\n") {
		t.Fatalf("tty exec output %q", o)
	}
	if err := x.s.ExecResize(ctx, "nosuch", 1, 1); !errdefs.IsNotFound(err) {
		t.Fatalf("resize of unknown exec: %v", err)
	}
}

func TestExecErrors(t *testing.T) {
	x := newExecEnv(t, SpecOptions{})
	ctx := t0ctx(t)
	p, _ := ExecProcess(x.spec, ExecProcessOptions{Args: []string{"sleep", "100"}})
	if err := x.s.Exec(ctx, ExecOptions{ID: "a", Process: p}); err != nil {
		t.Fatal(err)
	}
	if err := x.s.Exec(ctx, ExecOptions{ID: "a", Process: p}); !errdefs.IsConflict(err) {
		t.Fatalf("duplicate exec id: %v", err)
	}
	if _, err := x.s.ExecStart(ctx, "nosuch"); !errdefs.IsNotFound(err) || !strings.Contains(err.Error(), "No such exec instance: nosuch") {
		t.Fatalf("unknown exec: %v", err)
	}
	// A missing command fails the start; the exit says why.
	bad, _ := ExecProcess(x.spec, ExecProcessOptions{Args: []string{"nosuchcmd"}})
	if err := x.s.Exec(ctx, ExecOptions{ID: "bad", Process: bad}); err != nil {
		t.Fatal(err)
	}
	if _, err := x.s.ExecStart(ctx, "bad"); err == nil || !strings.Contains(err.Error(), "executable file not found") {
		t.Fatalf("start of a missing command: %v", err)
	}
	if st, err := x.s.ExecWait(ctx, "bad"); err != nil || st.Code != 127 || st.Error == "" {
		t.Fatalf("%+v %v", st, err)
	}
	// Killing an exec reports 128+signal.
	if _, err := x.s.ExecStart(ctx, "a"); err != nil {
		t.Fatal(err)
	}
	if _, err := x.s.ExecStart(ctx, "a"); !errdefs.IsConflict(err) {
		t.Fatalf("second start: %v", err)
	}
	if err := x.s.ExecKill(ctx, "a", syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if st, err := x.s.ExecWait(ctx, "a"); err != nil || st.Code != 143 {
		t.Fatalf("%+v %v", st, err)
	}

	// When the container exits, waiters of started and unstarted execs are released.
	if err := x.s.Exec(ctx, ExecOptions{ID: "pending", Process: p}); err != nil {
		t.Fatal(err)
	}
	if err := x.s.Exec(ctx, ExecOptions{ID: "running", Process: p}); err != nil {
		t.Fatal(err)
	}
	if _, err := x.s.ExecStart(ctx, "running"); err != nil {
		t.Fatal(err)
	}
	type result struct {
		st  ExitStatus
		err error
	}
	pending, running := make(chan result, 1), make(chan result, 1)
	go func() { st, err := x.s.ExecWait(ctx, "pending"); pending <- result{st, err} }()
	go func() { st, err := x.s.ExecWait(ctx, "running"); running <- result{st, err} }()
	time.Sleep(50 * time.Millisecond)
	x.stop()
	for name, ch := range map[string]chan result{"pending": pending, "running": running} {
		select {
		case r := <-ch:
			if name == "pending" && !errdefs.IsConflict(r.err) {
				t.Fatalf("unstarted exec waiter: %+v %v", r.st, r.err)
			}
			if name == "running" && (r.err != nil || r.st.Code != 137) {
				t.Fatalf("running exec waiter: %+v %v", r.st, r.err)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("%s exec waiter not released", name)
		}
	}
	// Exec into a stopped container is a conflict.
	if err := x.s.Exec(ctx, ExecOptions{ID: "late", Process: p}); !errdefs.IsConflict(err) {
		t.Fatalf("exec after exit: %v", err)
	}
	if _, err := x.s.ExecStart(ctx, "pending"); !errdefs.IsConflict(err) && !errdefs.IsNotFound(err) {
		t.Fatalf("start after exit: %v", err)
	}
}

func TestExecBeforeStart(t *testing.T) {
	e := newEnv(t)
	ctx := t0ctx(t)
	s, _ := e.spawn(SpecOptions{Args: []string{"sleep", "100"}})
	err := s.Exec(ctx, ExecOptions{ID: "x", Process: specs.Process{Args: []string{"true"}, Cwd: "/"}})
	if !errdefs.IsConflict(err) {
		t.Fatalf("exec into a created container: %v", err)
	}
}
