package integration

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"
)

func TestRunHelloWorldPullsFromMirror(t *testing.T) {
	d := StartDaemon(t)
	r := d.Berth("run", "busybox", "echo", "hello", "world")
	if r.Code != 0 || r.Stdout != "hello world\n" {
		t.Fatalf("want hello world: %s", r)
	}
	if !strings.Contains(r.Stderr, "Unable to find image 'busybox:latest' locally") {
		t.Errorf("first run should say it pulls: %s", r)
	}
	// Second run: image present, no pull output.
	r = must(t, d.Berth("run", "--rm", "busybox", "echo", "again"))
	if r.Stdout != "again\n" || strings.Contains(r.Stderr, "Unable to find") {
		t.Errorf("second run: %s", r)
	}
}

func TestExitCodeAndStreams(t *testing.T) {
	d := StartDaemon(t)
	must(t, d.Berth("pull", "-q", "busybox"))
	r := d.Berth("run", "--rm", "busybox", "sh", "-c", "exit 3")
	if r.Code != 3 {
		t.Fatalf("want exit 3: %s", r)
	}
	r = d.Berth("run", "--rm", "busybox", "sh", "-c", "echo out; echo err >&2")
	if r.Code != 0 || r.Stdout != "out\n" || !strings.Contains(r.Stderr, "err\n") || strings.Contains(r.Stderr, "out") {
		t.Fatalf("stdout and stderr must stay separate: %s", r)
	}
	r = d.BerthIn("piped\n", "run", "--rm", "-i", "busybox", "cat")
	if r.Code != 0 || r.Stdout != "piped\n" {
		t.Fatalf("stdin: %s", r)
	}
	// --rm removed them all.
	if out := must(t, d.Berth("ps", "-aq")).Stdout; out != "" {
		t.Errorf("--rm left containers: %q", out)
	}
}

func TestDetachedPsLogsStopRm(t *testing.T) {
	d := StartDaemon(t)
	r := must(t, d.Berth("run", "-d", "--name", "clock", "busybox", "sh", "-c", "while true; do date; sleep 1; done"))
	id := strings.TrimSpace(r.Stdout)
	if !regexp.MustCompile(`^[0-9a-f]{64}$`).MatchString(id) {
		t.Fatalf("run -d must print the full ID: %q", r.Stdout)
	}
	ps := must(t, d.Berth("ps")).Stdout
	lines := strings.Split(strings.TrimSpace(ps), "\n")
	header := regexp.MustCompile(`^CONTAINER ID\s+IMAGE\s+COMMAND\s+CREATED\s+STATUS\s+PORTS\s+NAMES$`)
	if len(lines) != 2 || !header.MatchString(lines[0]) {
		t.Fatalf("ps output:\n%s", ps)
	}
	if !strings.HasPrefix(lines[1], id[:12]+" ") || !strings.Contains(lines[1], "busybox") ||
		!strings.Contains(lines[1], "Up ") || !strings.HasSuffix(lines[1], "clock") || !strings.Contains(lines[1], `"sh -c 'while true;`) {
		t.Fatalf("ps line: %q", lines[1])
	}
	time.Sleep(2500 * time.Millisecond)
	logs := must(t, d.Berth("logs", "clock")).Stdout
	if n := strings.Count(logs, "\n"); n < 2 {
		t.Fatalf("want ≥2 log lines, got %q", logs)
	}
	tail := must(t, d.Berth("logs", "--tail", "2", "clock")).Stdout
	if n := strings.Count(tail, "\n"); n != 2 {
		t.Fatalf("logs --tail 2 gave %d lines: %q", n, tail)
	}
	if !strings.Contains(logs, strings.Split(tail, "\n")[0]) {
		t.Errorf("tail lines must come from the log: %q vs %q", tail, logs)
	}
	r = d.Berth("rm", "clock")
	if r.Code == 0 || !strings.Contains(r.Stderr, "container is running") {
		t.Fatalf("rm of running container must be refused (409): %s", r)
	}
	if r := must(t, d.Berth("stop", "-t", "1", "clock")); strings.TrimSpace(r.Stdout) != "clock" {
		t.Errorf("stop prints the name: %s", r)
	}
	psa := must(t, d.Berth("ps", "-a")).Stdout
	if !regexp.MustCompile(`Exited \(137\) (Less than a second|\d+ seconds?) ago\s+clock`).MatchString(psa) {
		t.Errorf("ps -a after stop (sh as pid 1 ignores TERM, so KILL → 137):\n%s", psa)
	}
	if ps := must(t, d.Berth("ps", "-q")).Stdout; ps != "" {
		t.Errorf("ps must not list the stopped container: %q", ps)
	}
	must(t, d.Berth("rm", "clock"))
	if psa := must(t, d.Berth("ps", "-aq")).Stdout; psa != "" {
		t.Errorf("rm left %q", psa)
	}
	if _, err := os.Stat(filepath.Join(d.DataRoot, "containers", id)); !os.IsNotExist(err) {
		t.Errorf("container dir left behind: %v", err)
	}
}

func TestPullImagesVersionInfo(t *testing.T) {
	d := StartDaemon(t)
	r := must(t, d.Berth("pull", "debian:bookworm"))
	if !strings.Contains(r.Stdout, "Pull complete") || !strings.Contains(r.Stdout, "Digest: sha256:") ||
		!strings.Contains(r.Stdout, "docker.io/library/debian:bookworm") {
		t.Fatalf("pull output: %s", r)
	}
	r = must(t, d.Berth("pull", "debian:bookworm"))
	if !strings.Contains(r.Stdout, "Image is up to date for debian:bookworm") {
		t.Errorf("second pull: %s", r)
	}
	must(t, d.Berth("pull", "busybox"))
	imgs := must(t, d.Berth("images")).Stdout
	if !regexp.MustCompile(`(?m)^REPOSITORY\s+TAG\s+IMAGE ID\s+CREATED\s+SIZE$`).MatchString(imgs) ||
		!regexp.MustCompile(`(?m)^debian\s+bookworm\s+[0-9a-f]{12}\s+.+\s+\d+(\.\d+)?MB$`).MatchString(imgs) ||
		!regexp.MustCompile(`(?m)^busybox\s+latest\s+[0-9a-f]{12}\s+`).MatchString(imgs) {
		t.Fatalf("images:\n%s", imgs)
	}
	v := must(t, d.Berth("version")).Stdout
	if !strings.Contains(v, "Client:") || !strings.Contains(v, "Server:") || !strings.Contains(v, "1.47") {
		t.Errorf("version:\n%s", v)
	}
	info := must(t, d.Berth("info")).Stdout
	if !strings.Contains(info, "Images: 2") || !strings.Contains(info, d.DataRoot) {
		t.Errorf("info:\n%s", info)
	}
	// debian runs too.
	r = must(t, d.Berth("run", "--rm", "debian:bookworm", "cat", "/etc/debian_version"))
	if !strings.HasPrefix(r.Stdout, "12.") {
		t.Errorf("debian_version: %s", r)
	}
}

func TestDockerCLI(t *testing.T) {
	d := StartDaemon(t)
	r := d.Docker("run", "--rm", "busybox", "echo", "hello", "world")
	if r.Code != 0 || r.Stdout != "hello world\n" {
		t.Fatalf("docker run: %s", r)
	}
	if r := d.Docker("run", "--name", "kept", "busybox", "sh", "-c", "exit 4"); r.Code != 4 {
		t.Fatalf("docker run exit code: %s", r)
	}
	psa := d.Docker("ps", "-a")
	if psa.Code != 0 || !regexp.MustCompile(`Exited \(4\).*kept`).MatchString(psa.Stdout) {
		t.Fatalf("docker ps -a: %s", psa)
	}
	r = d.Docker("run", "-d", "--name", "bg", "busybox", "sh", "-c", "echo started; sleep 100")
	if r.Code != 0 {
		t.Fatalf("docker run -d: %s", r)
	}
	time.Sleep(300 * time.Millisecond)
	if l := d.Docker("logs", "bg"); l.Stdout != "started\n" {
		t.Errorf("docker logs: %s", l)
	}
	if ps := d.Docker("ps"); !strings.Contains(ps.Stdout, "bg") || strings.Contains(ps.Stdout, "kept") {
		t.Errorf("docker ps: %s", ps)
	}
	if r := d.Docker("rm", "bg"); r.Code == 0 || !strings.Contains(r.Stderr, "container is running") {
		t.Errorf("docker rm of a running container must be refused: %s", r)
	}
	must(t, d.Docker("stop", "-t", "1", "bg"))
	if st := d.Docker("inspect", "-f", "{{.State.Status}} {{.State.ExitCode}}", "bg"); strings.TrimSpace(st.Stdout) != "exited 137" {
		t.Errorf("after docker stop: %s", st)
	}
	must(t, d.Docker("start", "bg"))
	must(t, d.Docker("kill", "bg"))
	must(t, d.Docker("rm", "bg", "kept"))
	if r := d.Docker("pull", "debian:bookworm"); r.Code != 0 || !strings.Contains(r.Stdout, "Status: Downloaded newer image for debian:bookworm") {
		t.Errorf("docker pull: %s", r)
	}
	if r := d.Docker("logs", "nosuch"); r.Code == 0 || !strings.Contains(r.Stderr, "No such container: nosuch") {
		t.Errorf("docker logs of unknown container: %s", r)
	}
	must(t, d.Docker("version"))
	must(t, d.Docker("info"))
	must(t, d.Docker("images"))
	if r := d.Docker("inspect", "--format", "{{.Config.Cmd}}", "busybox"); r.Code != 0 || !strings.Contains(r.Stdout, "sh") {
		t.Errorf("docker image inspect: %s", r)
	}
}

func TestBadInput(t *testing.T) {
	d := StartDaemon(t)
	must(t, d.Berth("pull", "-q", "busybox"))
	cases := []struct {
		name string
		args []string
		code int
		msg  string
	}{
		{"unknown image", []string{"run", "nosuchimage"}, 125, "nosuchimage"},
		{"malformed reference", []string{"run", "Bad:Ref:x"}, 125, "invalid reference format"},
		{"unknown flag", []string{"run", "--foo", "busybox"}, 125, "unknown flag: --foo"},
		{"logs of unknown container", []string{"logs", "nosuchcontainer"}, 1, "No such container: nosuchcontainer"},
		{"stop unknown", []string{"stop", "nosuchcontainer"}, 1, "No such container: nosuchcontainer"},
		{"command not found", []string{"run", "busybox", "nosuchcmd"}, 127, "executable file not found"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := d.Berth(c.args...)
			if r.Code != c.code || !strings.Contains(r.Stderr, c.msg) {
				t.Fatalf("want exit %d and %q: %s", c.code, c.msg, r)
			}
		})
	}
	// Nothing left behind by the failed runs except the one created container that
	// failed to start (docker keeps it too, in state Created).
	all := strings.Fields(must(t, d.Berth("ps", "-aq")).Stdout)
	if len(all) != 1 {
		t.Errorf("want only the failed-start container, got %v", all)
	}
	must(t, d.Berth("rm", all[0]))
	assertNoLeftovers(t, d)

	// Duplicate name: 409, and the first container is untouched.
	must(t, d.Berth("create", "--name", "dup", "busybox", "true"))
	r := d.Berth("run", "--name", "dup", "busybox", "true")
	if r.Code != 125 || !strings.Contains(r.Stderr, `The container name "/dup" is already in use`) {
		t.Fatalf("duplicate name: %s", r)
	}
	if n := len(strings.Fields(must(t, d.Berth("ps", "-aq")).Stdout)); n != 1 {
		t.Errorf("duplicate create left %d containers", n)
	}
	must(t, d.Berth("rm", "dup"))

	// Daemon not running, autostart off.
	r = d.run(nil, filepath.Join(binDir, "berth"), []string{"ps"}, "BERTH_HOST=unix:///run/berth-nosuch/berth.sock", "BERTH_NO_AUTOSTART=1")
	if r.Code != 1 || !strings.Contains(r.Stderr, "Cannot connect to the Berth daemon") {
		t.Fatalf("no daemon: %s", r)
	}
}

func assertNoLeftovers(t *testing.T, d *Daemon) {
	t.Helper()
	entries, _ := os.ReadDir(filepath.Join(d.DataRoot, "containers"))
	if len(entries) != 0 {
		t.Errorf("container dirs left: %v", entries)
	}
	shims, _ := os.ReadDir(filepath.Join(d.ExecRoot, "shims"))
	if len(shims) != 0 {
		t.Errorf("shim state left: %v", shims)
	}
}

func TestLiveRestore(t *testing.T) {
	d := StartDaemon(t)
	must(t, d.Berth("run", "-d", "--name", "clock", "busybox", "sh", "-c", "i=0; while true; do i=$((i+1)); echo line$i; sleep 0.2; done"))
	must(t, d.Berth("run", "-d", "--name", "short", "busybox", "sh", "-c", "sleep 1; exit 7"))
	pid := strings.TrimSpace(must(t, d.Berth("inspect", "-f", "{{.State.Pid}}", "clock")).Stdout)

	d.Kill() // kill -9 berthd
	time.Sleep(1500 * time.Millisecond)
	if err := syscall.Kill(atoi(t, pid), 0); err != nil {
		t.Fatalf("container process %s died with berthd: %v", pid, err)
	}
	d.Start()
	ps := must(t, d.Berth("ps")).Stdout
	if !strings.Contains(ps, "clock") || !strings.Contains(ps, "Up ") {
		t.Fatalf("after restart ps:\n%s", ps)
	}
	if code := strings.TrimSpace(must(t, d.Berth("inspect", "-f", "{{.State.Status}} {{.State.ExitCode}}", "short")).Stdout); code != "exited 7" {
		t.Errorf("container that exited while berthd was down: %q", code)
	}
	// Logs kept flowing while berthd was gone: line numbers are contiguous.
	logs := strings.Fields(must(t, d.Berth("logs", "clock")).Stdout)
	for i, l := range logs {
		if l != "line"+itoa(i+1) {
			t.Fatalf("log line %d is %q: lines lost across the restart", i+1, l)
		}
	}
	if len(logs) < 8 {
		t.Errorf("want ≥8 lines over ~2s, got %d", len(logs))
	}
	// SIGTERM restart too, then stop works through the new daemon.
	d.Stop()
	d.Start()
	must(t, d.Berth("stop", "-t", "1", "clock"))
	if err := syscall.Kill(atoi(t, pid), 0); err == nil {
		t.Errorf("container still alive after stop")
	}
}
