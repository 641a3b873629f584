package runtime

import (
	"bytes"
	"debug/elf"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

const runcPath = "/usr/sbin/runc"

var (
	shimBinary string // built in TestMain
	busyboxFS  string // shared busybox rootfs, built in TestMain
	idSeq      atomic.Int64
	setupErr   error
)

func TestMain(m *testing.M) {
	if os.Getenv(spawnerEnv) != "" {
		spawnerMain()
		return
	}
	tmp, err := os.MkdirTemp("", "berth-runtime-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	if os.Geteuid() == 0 {
		setupErr = setup(tmp)
	}
	code := m.Run()
	os.RemoveAll(tmp)
	os.Exit(code)
}

func setup(tmp string) error {
	shimBinary = filepath.Join(tmp, "berth-shim")
	if prebuilt := os.Getenv("BERTH_TEST_SHIM"); prebuilt != "" {
		// Compare another build (an older one, say) under the same tests.
		data, err := os.ReadFile(prebuilt)
		if err != nil {
			return err
		}
		if err := os.WriteFile(shimBinary, data, 0o755); err != nil {
			return err
		}
		busyboxFS = filepath.Join(tmp, "busybox")
		return makeBusyboxRootfs(busyboxFS)
	}
	// As the Makefile builds it.
	args := []string{"build", "-trimpath", "-ldflags=-s -w", "-o", shimBinary}
	if os.Getenv("BERTH_SHIM_RACE") != "" {
		args = append(args, "-race")
		os.Setenv("GORACE", "atexit_sleep_ms=0")
	}
	cmd := exec.Command("go", append(args, "github.com/berth-dev/berth/cmd/berth-shim")...)
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if os.Getenv("BERTH_SHIM_RACE") != "" {
		cmd.Env = append(cmd.Env, "CGO_ENABLED=1")
	}
	out, err := cmd.CombinedOutput()
	if err != nil {
		return fmt.Errorf("build berth-shim: %v: %s", err, out)
	}
	busyboxFS = filepath.Join(tmp, "busybox")
	return makeBusyboxRootfs(busyboxFS)
}

// makeBusyboxRootfs builds a small rootfs from Debian's busybox-static.
func makeBusyboxRootfs(dir string) error {
	bb := "/bin/busybox"
	if !isStatic(bb) {
		if out, err := exec.Command("apt-get", "install", "-y", "busybox-static").CombinedOutput(); err != nil {
			return fmt.Errorf("install busybox-static: %v: %s", err, out)
		}
		if !isStatic(bb) {
			return fmt.Errorf("%s is not a static busybox", bb)
		}
	}
	for _, d := range []string{"bin", "etc", "proc", "sys", "dev", "tmp", "root"} {
		if err := os.MkdirAll(filepath.Join(dir, d), 0o755); err != nil {
			return err
		}
	}
	data, err := os.ReadFile(bb)
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, "bin/busybox"), data, 0o755); err != nil {
		return err
	}
	for _, l := range []string{"sh", "echo", "sleep", "cat", "true", "tty", "stty", "id", "env", "ls", "seq", "yes", "head", "kill",
		"chown", "touch", "dd", "grep", "base64", "ps", "mkdir", "rm", "wc", "tr", "pwd", "mount", "unshare",
		"df", "stat", "tail", "printf", "test", "cut", "awk", "readlink", "timeout", "tee", "xargs", "usleep"} {
		if err := os.Symlink("busybox", filepath.Join(dir, "bin", l)); err != nil {
			return err
		}
	}
	files := map[string]string{
		"etc/passwd": "root:x:0:0:root:/root:/bin/sh\ndaemon:x:1:1:daemon:/usr/sbin:/bin/false\nnobody:x:65534:65534:nobody:/home:/bin/false\n",
		"etc/group":  "root:x:0:\ndaemon:x:1:\nwheel:x:10:root\nnogroup:x:65534:\n",
	}
	for name, content := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
			return err
		}
	}
	return nil
}

// isStatic reports whether path is a statically linked ELF executable.
func isStatic(path string) bool {
	f, err := elf.Open(path)
	if err != nil {
		return false
	}
	defer f.Close()
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			return false
		}
	}
	return true
}

// requireRuntime skips a test that needs root and runc, or fails it when CI=true.
func requireRuntime(t testing.TB) {
	t.Helper()
	var why string
	switch {
	case os.Geteuid() != 0:
		why = "needs root"
	case setupErr != nil:
		why = setupErr.Error()
	default:
		if _, err := os.Stat(runcPath); err != nil {
			why = "needs runc: " + err.Error()
		}
	}
	if why == "" {
		return
	}
	if os.Getenv("CI") == "true" {
		t.Fatal(why)
	}
	t.Skip(why)
}

// env is one test's exec root, manager and bundles.
type env struct {
	t    testing.TB
	root string
	m    *Manager
}

func newEnv(t testing.TB) *env {
	requireRuntime(t)
	root := t.TempDir()
	e := &env{t: t, root: root, m: NewManager(filepath.Join(root, "exec"), shimBinary, runcPath)}
	t.Cleanup(e.checkClean)
	return e
}

func newID(t testing.TB) string {
	return fmt.Sprintf("bt%d-%d", os.Getpid(), idSeq.Add(1))
}

// bundle writes an OCI bundle for args and returns its dir, the id and the log path.
func (e *env) bundle(o SpecOptions) (dir, logPath string) {
	e.t.Helper()
	if o.ID == "" {
		o.ID = newID(e.t)
	}
	o.Rootfs = busyboxFS
	s, err := Spec(o)
	if err != nil {
		e.t.Fatal(err)
	}
	dir = filepath.Join(e.root, "bundles", o.ID)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		e.t.Fatal(err)
	}
	b, _ := json.Marshal(s)
	if err := os.WriteFile(filepath.Join(dir, "config.json"), b, 0o600); err != nil {
		e.t.Fatal(err)
	}
	return dir, filepath.Join(dir, o.ID+"-json.log")
}

// spawn writes a bundle and spawns its shim.
func (e *env) spawn(o SpecOptions) (*Shim, string) {
	e.t.Helper()
	return e.spawnStdin(o, false)
}

// spawnStdin is spawn with the container's stdin kept open.
func (e *env) spawnStdin(o SpecOptions, stdin bool) (*Shim, string) {
	e.t.Helper()
	if o.ID == "" {
		o.ID = newID(e.t)
	}
	dir, logPath := e.bundle(o)
	s, err := e.m.Spawn(t0ctx(e.t), ShimOptions{ID: o.ID, Bundle: dir, LogPath: logPath, Tty: o.Tty, Stdin: stdin})
	if err != nil {
		e.t.Fatal(err)
	}
	return s, logPath
}

// checkClean cleans up and fails if a shim, container or runc state is left.
func (e *env) checkClean() {
	t := e.t
	ctx := t0ctx(t)
	entries, _ := os.ReadDir(filepath.Join(e.root, "exec", "shims"))
	for _, d := range entries {
		if b, _ := os.ReadFile(filepath.Join(e.m.StateDir(d.Name()), "shim.log")); bytes.Contains(b, []byte("DATA RACE")) || bytes.Contains(b, []byte("panic")) {
			t.Errorf("shim %s log:\n%s", d.Name(), b)
		}
		if err := e.m.Cleanup(ctx, d.Name()); err != nil {
			t.Errorf("cleanup %s: %v", d.Name(), err)
		}
	}
	out, err := exec.Command(runcPath, "--root", e.m.RuntimeRoot(), "list", "-q").CombinedOutput()
	if err != nil && !strings.Contains(string(out), "no such file") {
		t.Errorf("runc list: %v: %s", err, out)
	}
	if s := strings.TrimSpace(string(out)); s != "" && !strings.Contains(s, "no such file") {
		t.Errorf("runc state left: %s", s)
	}
	if left := waitNoProcesses(e.root); len(left) > 0 {
		t.Errorf("processes left: %v", left)
	}
}

// waitNoProcesses waits a little for processes under dir to finish exiting and
// returns those still there.
func waitNoProcesses(dir string) []string {
	deadline := time.Now().Add(3 * time.Second)
	for {
		left := processesUnder(dir)
		if len(left) == 0 || time.Now().After(deadline) {
			return left
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// processesUnder lists shims whose command line mentions dir and container
// processes in a cgroup of this test binary.
func processesUnder(dir string) []string {
	var left []string
	cg := fmt.Sprintf("/berth/bt%d-", os.Getpid())
	procs, _ := os.ReadDir("/proc")
	for _, p := range procs {
		if p.Name()[0] < '0' || p.Name()[0] > '9' {
			continue
		}
		cmd, _ := os.ReadFile("/proc/" + p.Name() + "/cmdline")
		c := strings.ReplaceAll(string(cmd), "\x00", " ")
		cgroups, _ := os.ReadFile("/proc/" + p.Name() + "/cgroup")
		if strings.Contains(c, dir) || strings.Contains(string(cgroups), cg) {
			left = append(left, p.Name()+": "+c)
		}
	}
	return left
}
