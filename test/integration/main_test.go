// Package integration drives the real berth, berthd and berth-shim binaries against
// real runc, overlayfs and the local registry of test/fixtures.
package integration

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/berth-dev/berth/test/fixtures"
)

var (
	binDir   string // built berth, berthd, berth-shim
	repoRoot string
)

func TestMain(m *testing.M) {
	_, file, _, _ := runtime.Caller(0)
	repoRoot = filepath.Join(filepath.Dir(file), "..", "..")
	if os.Geteuid() != 0 && os.Getenv("CI") != "true" {
		fmt.Println("integration tests need root; skipping")
		os.Exit(0)
	}
	dir, err := os.MkdirTemp("", "berth-it-bin")
	if err != nil {
		panic(err)
	}
	binDir = dir
	for _, b := range []string{"berth", "berthd", "berth-shim"} {
		cmd := exec.Command("go", "build", "-o", filepath.Join(binDir, b), "./cmd/"+b)
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
		if b == "berthd" && os.Getenv("BERTHD_RACE") != "" {
			// BERTHD_RACE=1 runs berthd under the race detector; GORACE=log_path=… keeps
			// its reports (berthd's own log is shown only when a test fails).
			cmd = exec.Command("go", "build", "-race", "-o", filepath.Join(binDir, b), "./cmd/"+b)
			cmd.Env = append(os.Environ(), "CGO_ENABLED=1")
		}
		cmd.Dir = repoRoot
		if out, err := cmd.CombinedOutput(); err != nil {
			fmt.Fprintf(os.Stderr, "build %s: %v\n%s", b, err, out)
			os.Exit(1)
		}
	}
	unlock, err := fixtures.LockHostNetwork()
	if err != nil {
		panic(err)
	}
	before := netState()
	code := m.Run()
	if leaks := netLeaks(before, netState()); len(leaks) > 0 {
		fmt.Fprintf(os.Stderr, "network state leaked by the integration tests:\n  %s\n", strings.Join(leaks, "\n  "))
		code = 1
	}
	unlock()
	os.RemoveAll(binDir)
	os.Exit(code)
}

// Daemon is one berthd under test with its own data root, exec root and socket.
type Daemon struct {
	t        testing.TB
	DataRoot string
	ExecRoot string
	Sock     string
	Config   string
	Bridge   string // the default network's bridge, private to this daemon
	NetNS    string // network namespace berthd runs in ("" for the host's)
	cmd      *exec.Cmd
	log      *os.File
}

// StartDaemon starts berthd with the fixtures registry as docker.io mirror.
func StartDaemon(t testing.TB) *Daemon { return startDaemon(t, "") }

// startDaemon starts berthd, inside the network namespace at netns when not empty.
func startDaemon(t testing.TB, netns string) *Daemon {
	t.Helper()
	reg := fixtures.Ensure(t)
	// Under /var/lib, not /tmp: file creation is much cheaper there on these machines.
	os.MkdirAll("/var/lib/berth-test", 0o711)
	root, err := os.MkdirTemp("/var/lib/berth-test", "it-")
	if err != nil {
		t.Fatal(err)
	}
	d := &Daemon{t: t, DataRoot: root, NetNS: netns}
	d.ExecRoot = fmt.Sprintf("/run/bt-%d", time.Now().UnixNano()%1e9) // short: see berthd's exec-root limit
	d.Sock = filepath.Join(d.ExecRoot, "berth.sock")
	d.Config = filepath.Join(d.DataRoot, "daemon.json")
	d.Bridge = fmt.Sprintf("bi%d", time.Now().UnixNano()%1e8)
	cfg := fmt.Sprintf(`{"registry-mirrors": ["http://%s"], "insecure-registries": ["%s"], "bridge": "%s"}`, reg, reg, d.Bridge)
	if err := os.WriteFile(d.Config, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	d.Start()
	t.Cleanup(d.Cleanup)
	return d
}

// Start launches berthd and waits for /_ping.
func (d *Daemon) Start() {
	d.t.Helper()
	log, err := os.OpenFile(filepath.Join(d.DataRoot, "berthd.log"), os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		d.t.Fatal(err)
	}
	d.log = log
	args := []string{filepath.Join(binDir, "berthd"), "--debug",
		"--data-root", d.DataRoot, "--exec-root", d.ExecRoot, "--config-file", d.Config, "--no-docker-hub"}
	if d.NetNS != "" {
		args = append([]string{"nsenter", "--net=" + d.NetNS}, args...)
	}
	d.cmd = exec.Command(args[0], args[1:]...)
	d.cmd.Stdout, d.cmd.Stderr = log, log
	d.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := d.cmd.Start(); err != nil {
		d.t.Fatal(err)
	}
	deadline := time.Now().Add(15 * time.Second)
	for time.Now().Before(deadline) {
		if d.ping() {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	d.t.Fatalf("berthd did not come up; log:\n%s", d.Log())
}

func (d *Daemon) ping() bool { return d.status("GET", "/_ping") == 200 }

// status sends a bodiless request to berthd and returns the status code (0 when it fails).
func (d *Daemon) status(method, path string) int {
	c := http.Client{Transport: &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
		return (&net.Dialer{}).DialContext(ctx, "unix", d.Sock)
	}}, Timeout: 10 * time.Second}
	req, err := http.NewRequest(method, "http://berth"+path, nil)
	if err != nil {
		return 0
	}
	resp, err := c.Do(req)
	if err != nil {
		return 0
	}
	resp.Body.Close()
	return resp.StatusCode
}

// Stop ends berthd with SIGTERM and waits for it.
func (d *Daemon) Stop() {
	if d.cmd == nil || d.cmd.Process == nil {
		return
	}
	d.cmd.Process.Signal(syscall.SIGTERM)
	d.cmd.Wait()
	d.cmd = nil
	d.log.Close()
}

// Kill ends berthd with SIGKILL.
func (d *Daemon) Kill() {
	if d.cmd == nil || d.cmd.Process == nil {
		return
	}
	d.cmd.Process.Kill()
	d.cmd.Wait()
	d.cmd = nil
	d.log.Close()
}

// Log returns berthd's log so far.
func (d *Daemon) Log() string {
	b, _ := os.ReadFile(filepath.Join(d.DataRoot, "berthd.log"))
	return string(b)
}

// Cleanup removes every container, stops berthd and checks nothing is left mounted.
func (d *Daemon) Cleanup() {
	if d.cmd != nil {
		if ids := strings.Fields(d.Berth("ps", "-aq", "--no-trunc").Stdout); len(ids) > 0 {
			d.Berth(append([]string{"rm", "-f"}, ids...)...)
		}
		d.status("POST", "/networks/prune")
	}
	d.Stop()
	if d.NetNS == "" {
		d.removeDefaultBridge()
	}
	if d.t.Failed() {
		d.t.Logf("berthd log:\n%s", d.Log())
	}
	mounts, _ := os.ReadFile("/proc/self/mountinfo")
	for _, line := range strings.Split(string(mounts), "\n") {
		if strings.Contains(line, d.DataRoot) || strings.Contains(line, d.ExecRoot+"/") {
			d.t.Errorf("mount left behind: %s", line)
			f := strings.Fields(line)
			if len(f) > 4 {
				syscall.Unmount(f[4], syscall.MNT_DETACH)
			}
		}
	}
	os.RemoveAll(d.ExecRoot)
	if !d.t.Failed() {
		os.RemoveAll(d.DataRoot)
	}
}

// Result is one command's outcome.
type Result struct {
	Stdout, Stderr string
	Code           int
}

func (r Result) String() string {
	return fmt.Sprintf("exit %d\nstdout:\n%s\nstderr:\n%s", r.Code, r.Stdout, r.Stderr)
}

// Berth runs the berth CLI against this daemon.
func (d *Daemon) Berth(args ...string) Result {
	return d.run(nil, filepath.Join(binDir, "berth"), args, "BERTH_HOST=unix://"+d.Sock, "BERTH_NO_AUTOSTART=1")
}

// BerthIn runs the berth CLI with stdin.
func (d *Daemon) BerthIn(stdin string, args ...string) Result {
	return d.run(strings.NewReader(stdin), filepath.Join(binDir, "berth"), args, "BERTH_HOST=unix://"+d.Sock, "BERTH_NO_AUTOSTART=1")
}

var dockerOnce sync.Once

// Docker runs the real docker CLI against this daemon.
func (d *Daemon) Docker(args ...string) Result {
	d.t.Helper()
	docker, err := exec.LookPath("docker")
	if err != nil {
		if os.Getenv("CI") == "true" {
			d.t.Fatal("docker CLI not found (expected at /usr/local/bin/docker)")
		}
		d.t.Skip("docker CLI not installed")
	}
	cfg := filepath.Join(d.DataRoot, "docker-config")
	os.MkdirAll(cfg, 0o700)
	return d.run(nil, docker, args, "DOCKER_HOST=unix://"+d.Sock, "DOCKER_CONFIG="+cfg, "DOCKER_CLI_HINTS=false")
}

func (d *Daemon) run(stdin *strings.Reader, bin string, args []string, env ...string) Result {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Env = append(os.Environ(), env...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if stdin != nil {
		cmd.Stdin = stdin
	}
	err := cmd.Run()
	r := Result{Stdout: out.String(), Stderr: errb.String()}
	if ee, ok := err.(*exec.ExitError); ok {
		r.Code = ee.ExitCode()
	} else if err != nil {
		r.Code = -1
		r.Stderr += err.Error()
	}
	return r
}

// must fails the test unless the command exited 0.
func must(t testing.TB, r Result) Result {
	t.Helper()
	if r.Code != 0 {
		t.Fatalf("command failed: %s", r)
	}
	return r
}
