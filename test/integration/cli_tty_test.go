package integration

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// tmuxTerm is a shell in a detached tmux session of fixed size, driven the way a person
// types: keys in, screen contents out. Its environment points berth and docker at d.
type tmuxTerm struct {
	t      *testing.T
	socket string // tmux -S socket path
	target string
}

// newTmux starts a tmux server of its own with one shell (prompt "$ ") of width x height.
func newTmux(t *testing.T, d *Daemon, width, height int) *tmuxTerm {
	t.Helper()
	if _, err := exec.LookPath("tmux"); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("tmux not installed (apt-get install -y tmux)")
		}
		t.Skip("tmux not installed")
	}
	dir := t.TempDir()
	conf := filepath.Join(dir, "tmux.conf")
	// No status line: the pane is the whole window. Long history for capture.
	os.WriteFile(conf, []byte("set -g status off\nset -g history-limit 5000\nset -g escape-time 0\n"), 0o644)
	dockerCfg := filepath.Join(dir, "docker")
	os.MkdirAll(dockerCfg, 0o700)
	tm := &tmuxTerm{t: t, socket: filepath.Join(dir, "tmux.sock"), target: "tt"}
	shell := fmt.Sprintf("env -i PATH=%s:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin HOME=%s TERM=xterm PS1='$ ' "+
		"BERTH_HOST=unix://%s BERTH_NO_AUTOSTART=1 DOCKER_HOST=unix://%s DOCKER_CONFIG=%s DOCKER_CLI_HINTS=false sh",
		binDir, dir, d.Sock, d.Sock, dockerCfg)
	tm.tmux("-f", conf, "new-session", "-d", "-s", tm.target, "-x", fmt.Sprint(width), "-y", fmt.Sprint(height), shell)
	t.Cleanup(func() { exec.Command("tmux", "-S", tm.socket, "kill-server").Run() })
	tm.wait(`(?m)^\$ ?$`, "the shell prompt")
	return tm
}

func (tm *tmuxTerm) tmux(args ...string) string {
	tm.t.Helper()
	out, err := exec.Command("tmux", append([]string{"-S", tm.socket}, args...)...).CombinedOutput()
	if err != nil {
		tm.t.Fatalf("tmux %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

// send types keys; each argument is one tmux key (a string, or a name like Enter or C-p).
func (tm *tmuxTerm) send(keys ...string) {
	tm.t.Helper()
	tm.tmux(append([]string{"send-keys", "-t", tm.target}, keys...)...)
}

// line types s and presses Enter.
func (tm *tmuxTerm) line(s string) {
	tm.t.Helper()
	tm.send("-l", s)
	tm.send("Enter")
}

// screen returns the pane's text including its scrollback, wrapped lines joined.
func (tm *tmuxTerm) screen() string {
	tm.t.Helper()
	return tm.tmux("capture-pane", "-p", "-J", "-S", "-", "-t", tm.target)
}

// fresh empties the pane and its scrollback (tmux's view only; nothing reaches the
// program), so that the next wait sees only what follows.
func (tm *tmuxTerm) fresh() {
	tm.t.Helper()
	tm.tmux("send-keys", "-R", "-t", tm.target)
	tm.tmux("clear-history", "-t", tm.target)
}

// step empties the screen, types s and Enter, and waits for pattern.
func (tm *tmuxTerm) step(s, pattern, what string) []string {
	tm.t.Helper()
	tm.fresh()
	tm.line(s)
	return tm.wait(pattern, what)
}

// wait polls the screen until pattern matches, and returns the match.
func (tm *tmuxTerm) wait(pattern, what string) []string {
	tm.t.Helper()
	re := regexp.MustCompile(pattern)
	deadline := time.Now().Add(20 * time.Second)
	for {
		s := tm.screen()
		if m := re.FindStringSubmatch(s); m != nil {
			return m
		}
		if time.Now().After(deadline) {
			tm.t.Fatalf("timed out waiting for %s (%s); screen:\n%s", what, pattern, s)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// paneSize returns the pane's "rows cols", the answer stty size must give inside it.
func (tm *tmuxTerm) paneSize() string {
	return strings.TrimSpace(tm.tmux("display-message", "-p", "-t", tm.target, "#{pane_height} #{pane_width}"))
}

func (tm *tmuxTerm) resize(width, height int) {
	tm.t.Helper()
	tm.tmux("resize-window", "-t", tm.target, "-x", fmt.Sprint(width), "-y", fmt.Sprint(height))
	if got, want := tm.paneSize(), fmt.Sprintf("%d %d", height, width); got != want {
		tm.t.Fatalf("pane is %s after resize, want %s", got, want)
	}
}

// shellCheck runs the busybox shell checks every TTY session gets: a command and its
// output, and stty size equal to the pane's size, before and after a resize.
func shellCheck(t *testing.T, tm *tmuxTerm, width, height int) {
	t.Helper()
	// (A prompt line may come first: start -a -i sends an Enter that can race the shell's own prompt.)
	tm.step("echo hi", `^(/ # ?\n)*(/ # )?echo hi\nhi\n/ # ?\n`, "echo hi and its output")
	size := tm.paneSize()
	tm.step("stty size", `^(/ # )?stty size\n`+regexp.QuoteMeta(size)+`\n/ # ?\n`, "stty size = pane size "+size)
	tm.resize(width, height)
	tm.step("stty size", fmt.Sprintf(`^(/ # )?stty size\n%d %d\n/ # ?\n`, height, width), "stty size after the resize")
}

// TestTTYRunDetachAttachExit is a person's session: run -it, type, resize, detach with
// ctrl-p ctrl-q, check the container still runs, attach again and exit with a status.
func TestTTYRunDetachAttachExit(t *testing.T) {
	d := StartDaemon(t)
	must(t, d.Berth("pull", "-q", "busybox"))
	tm := newTmux(t, d, 100, 30)

	tm.step("berth run -it --name tt busybox sh; echo rc=$?", `(?m)^/ # ?$`, "the container's prompt")
	shellCheck(t, tm, 120, 40)

	tm.fresh()
	tm.send("C-p", "C-q")
	tm.wait(`(?m)^rc=0\n\$ ?$`, "berth to return after ctrl-p ctrl-q")
	if st := strings.TrimSpace(must(t, d.Berth("ps", "--filter", "name=tt", "--format", "{{.Names}} {{.State}}")).Stdout); st != "tt running" {
		t.Fatalf("after detaching, ps shows %q; want tt running", st)
	}

	tm.fresh()
	tm.line("berth attach tt; echo rc=$?")
	tm.send("Enter")
	tm.wait(`(?m)^/ # ?$`, "a prompt after attaching")
	tm.step("stty size", `^(/ # )?stty size\n40 120\n/ # ?\n`, "the attached session to have the pane's size")
	tm.step("exit 3", `(?m)^rc=3\n\$ ?$`, "the shell's exit status 3 from berth attach")
	if st := must(t, d.Berth("inspect", "-f", "{{.State.Status}} {{.State.ExitCode}}", "tt")).Stdout; st != "exited 3\n" {
		t.Errorf("inspect after exit 3: %q", st)
	}
}

// TestTTYRunExitStatusAndStartAttach: the exit status of an -it shell is berth's own, and
// start -a -i gives a created TTY container the terminal.
func TestTTYRunExitStatusAndStartAttach(t *testing.T) {
	d := StartDaemon(t)
	must(t, d.Berth("pull", "-q", "busybox"))
	tm := newTmux(t, d, 90, 25)

	tm.step("berth run -it --rm busybox sh; echo rc=$?", `(?m)^/ # ?$`, "the container's prompt")
	tm.step("exit 3", `(?m)^rc=3\n\$ ?$`, "exit status 3")

	must(t, d.Berth("create", "-it", "--name", "st", "busybox", "sh"))
	tm.fresh()
	tm.line("berth start -a -i st; echo rc=$?")
	tm.send("Enter")
	tm.wait(`(?m)^/ # ?$`, "the prompt of the started container")
	shellCheck(t, tm, 110, 35)
	tm.step("exit 2", `(?m)^rc=2\n\$ ?$`, "exit status 2 from start -a -i")
}

// TestTTYExec runs an interactive shell in a running container with exec -it.
func TestTTYExec(t *testing.T) {
	d := StartDaemon(t)
	must(t, d.Berth("pull", "-q", "busybox"))
	must(t, d.Berth("run", "-d", "--name", "ex", "busybox", "sleep", "300"))
	tm := newTmux(t, d, 100, 30)

	tm.step("berth exec -it ex sh; echo rc=$?", `(?m)^/ # ?$`, "the exec's prompt")
	shellCheck(t, tm, 130, 45)
	tm.step("exit 5", `(?m)^rc=5\n\$ ?$`, "exec's exit status 5")
	if st := strings.TrimSpace(must(t, d.Berth("inspect", "-f", "{{.State.Status}}", "ex")).Stdout); st != "running" {
		t.Errorf("the container must keep running after the exec ends: %s", st)
	}
}

// TestTTYDockerCLI does the same through the real docker CLI, which resizes and detaches
// through the API (/containers/{id}/resize, /exec/{id}/resize, detachKeys).
func TestTTYDockerCLI(t *testing.T) {
	if _, err := exec.LookPath("docker"); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("docker CLI not installed")
		}
		t.Skip("docker CLI not installed")
	}
	d := StartDaemon(t)
	must(t, d.Berth("pull", "-q", "busybox"))
	tm := newTmux(t, d, 100, 30)

	tm.step("docker run -it --name dt busybox sh; echo rc=$?", `(?m)^/ # ?$`, "the container's prompt")
	shellCheck(t, tm, 120, 40)
	tm.fresh()
	tm.send("C-p", "C-q")
	tm.wait(`(?m)^rc=0\n\$ ?$`, "docker to return after ctrl-p ctrl-q")
	if st := strings.TrimSpace(must(t, d.Berth("ps", "--filter", "name=dt", "--format", "{{.State}}")).Stdout); st != "running" {
		t.Fatalf("after detaching, ps shows %q", st)
	}
	tm.fresh()
	tm.line("docker attach dt; echo rc=$?")
	tm.send("Enter")
	tm.wait(`(?m)^/ # ?$`, "a prompt after docker attach")
	tm.step("exit 4", `(?m)^rc=4\n\$ ?$`, "exit status 4 through docker attach")

	must(t, d.Berth("run", "-d", "--name", "dx", "busybox", "sleep", "300"))
	tm.step("docker exec -it dx sh; echo rc=$?", `(?m)^/ # ?$`, "docker exec's prompt")
	shellCheck(t, tm, 100, 30)
	tm.step("exit 6", `(?m)^rc=6\n\$ ?$`, "docker exec's exit status 6")
}

// TestTTYStatsLive watches berth stats redraw its table in place, pick up a container that
// starts later, and end with ctrl-c.
func TestTTYStatsLive(t *testing.T) {
	d := StartDaemon(t)
	must(t, d.Berth("run", "-d", "--name", "first", "busybox", "sleep", "300"))
	tm := newTmux(t, d, 150, 20)
	tm.fresh()
	tm.line("berth stats")
	row := `[0-9a-f]{12}\s+%s\s+\d+\.\d\d%%\s+\S+ / \S+\s+\d+\.\d\d%%\s+\S+ / \S+\s+\S+ / \S+\s+1\n`
	tm.wait(`^CONTAINER ID\s+NAME\s+CPU %\s+MEM USAGE / LIMIT\s+MEM %\s+NET I/O\s+BLOCK I/O\s+PIDS\n`+fmt.Sprintf(row, "first"), "the stats table")
	must(t, d.Berth("run", "-d", "--name", "second", "busybox", "sleep", "300"))
	// Redrawn in place: the header stays on the first line, both rows below it, once each.
	m := tm.wait(`^CONTAINER ID[^\n]*\n((?:[^\n]*\n){2})`, "two rows")
	for _, name := range []string{"first", "second"} {
		if !regexp.MustCompile(fmt.Sprintf(row, name)).MatchString(m[1]) {
			tm.wait(`^CONTAINER ID[^\n]*\n(?:[^\n]*\n)?`+fmt.Sprintf(row, name), "a row for "+name)
		}
	}
	if n := strings.Count(tm.screen(), "CONTAINER ID"); n != 1 {
		t.Errorf("the table must be redrawn in place, not appended (%d headers):\n%s", n, tm.screen())
	}
	must(t, d.Berth("stop", "-t", "0", "first"))
	tm.wait(`^CONTAINER ID[^\n]*\n[^\n]*second[^\n]*\n\n`, "the stopped container to leave the table")
	tm.send("C-c")
	tm.wait(`(?m)^\$ ?$`, "berth stats to end on ctrl-c")
	tm.step("echo rc=$?", `(?m)^rc=130$`, "the status of an interrupted berth stats")
}
