package integration

import (
	"encoding/json"
	"fmt"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"
)

// waitFor polls cond every 50 ms up to timeout.
func waitFor(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(timeout); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		if cond() {
			return
		}
	}
	t.Fatalf("timed out waiting for %s", what)
}

func inspectF(t *testing.T, d *Daemon, format, name string) string {
	t.Helper()
	return strings.TrimSpace(must(t, d.Berth("inspect", "-f", format, name)).Stdout)
}

func TestRestartPolicies(t *testing.T) {
	d := StartDaemon(t)
	must(t, d.Berth("pull", "-q", "busybox"))
	must(t, d.Berth("run", "-d", "--name", "always", "--restart", "always", "busybox", "sleep", "300"))
	must(t, d.Berth("run", "-d", "--name", "unless", "--restart", "unless-stopped", "busybox", "sleep", "300"))
	must(t, d.Berth("run", "-d", "--name", "onfail", "--restart", "on-failure:2", "busybox", "sh", "-c", "sleep 0.2; exit 3"))
	must(t, d.Berth("run", "-d", "--name", "never", "busybox", "sleep", "300"))

	// Killing the process from the host restarts "always", not "no".
	for _, name := range []string{"always", "never"} {
		pid := atoi(t, inspectF(t, d, "{{.State.Pid}}", name))
		syscall.Kill(pid, syscall.SIGKILL)
	}
	waitFor(t, 5*time.Second, "always to restart", func() bool {
		return inspectF(t, d, "{{.State.Status}} {{.RestartCount}}", "always") == "running 1"
	})
	waitFor(t, 5*time.Second, "never to exit", func() bool {
		return inspectF(t, d, "{{.State.Status}} {{.State.ExitCode}}", "never") == "exited 137"
	})
	// on-failure:2 — the first run plus two restarts, then it stays exited.
	waitFor(t, 10*time.Second, "on-failure to give up", func() bool {
		return inspectF(t, d, "{{.State.Status}} {{.RestartCount}} {{.State.ExitCode}}", "onfail") == "exited 2 3"
	})
	time.Sleep(time.Second)
	if got := inspectF(t, d, "{{.RestartCount}}", "onfail"); got != "2" {
		t.Errorf("on-failure:2 restarted %s times", got)
	}

	// stop ends "always" for good (until berthd restarts); "unless-stopped" stays stopped.
	must(t, d.Berth("stop", "-t", "1", "unless"))
	must(t, d.Berth("stop", "-t", "1", "always"))
	time.Sleep(500 * time.Millisecond)
	if st := inspectF(t, d, "{{.State.Status}}", "always"); st != "exited" {
		t.Fatalf("stop must end restarting: %s", st)
	}
	// berthd restart: "always" comes back, manually stopped "unless-stopped" does not.
	d.Stop()
	d.Start()
	waitFor(t, 5*time.Second, "always to start on boot", func() bool {
		return inspectF(t, d, "{{.State.Status}}", "always") == "running"
	})
	if st := inspectF(t, d, "{{.State.Status}}", "unless"); st != "exited" {
		t.Errorf("manually stopped unless-stopped container started on boot: %s", st)
	}
	if st := inspectF(t, d, "{{.State.Status}}", "never"); st != "exited" {
		t.Errorf("restart=no container started on boot: %s", st)
	}
}

func TestRestartBackoffAndStopWhileRestarting(t *testing.T) {
	d := StartDaemon(t)
	must(t, d.Berth("run", "-d", "--name", "crash", "--restart", "always", "busybox", "false"))
	// 100 ms, 200, 400, 800 …: after ~2 s there have been a handful of restarts, not dozens.
	time.Sleep(2 * time.Second)
	n := atoi(t, inspectF(t, d, "{{.RestartCount}}", "crash"))
	if n < 3 || n > 8 {
		t.Errorf("restart count after 2 s with doubling back-off from 100 ms: %d", n)
	}
	waitFor(t, 5*time.Second, "restarting state", func() bool {
		return inspectF(t, d, "{{.State.Status}}", "crash") == "restarting"
	})
	if ps := must(t, d.Berth("ps", "-a", "--filter", "name=crash")).Stdout; !strings.Contains(ps, "Restarting (1)") {
		t.Errorf("ps shows restarting: %s", ps)
	}
	must(t, d.Berth("stop", "crash"))
	c1 := inspectF(t, d, "{{.State.Status}} {{.RestartCount}}", "crash")
	time.Sleep(3 * time.Second)
	if c2 := inspectF(t, d, "{{.State.Status}} {{.RestartCount}}", "crash"); c2 != c1 || !strings.HasPrefix(c2, "exited") {
		t.Errorf("stop must end the restarting: %q then %q", c1, c2)
	}
}

func TestPauseRenameTopPrune(t *testing.T) {
	d := StartDaemon(t)
	must(t, d.Berth("run", "-d", "--name", "pz", "busybox", "sh", "-c", "while true; do echo tick; sleep 0.1; done"))
	must(t, d.Berth("pause", "pz"))
	if st := inspectF(t, d, "{{.State.Status}} {{.State.Paused}} {{.State.Running}}", "pz"); st != "paused true true" {
		t.Errorf("paused state: %s", st)
	}
	if ps := must(t, d.Berth("ps")).Stdout; !strings.Contains(ps, "(Paused)") {
		t.Errorf("ps of paused: %s", ps)
	}
	r := d.Berth("pause", "pz")
	if r.Code == 0 || !strings.Contains(r.Stderr, "is already paused") {
		t.Errorf("pause of a paused container: %s", r)
	}
	n1 := strings.Count(must(t, d.Berth("logs", "pz")).Stdout, "tick")
	time.Sleep(500 * time.Millisecond)
	if n2 := strings.Count(must(t, d.Berth("logs", "pz")).Stdout, "tick"); n2 != n1 {
		t.Errorf("paused container kept running: %d -> %d lines", n1, n2)
	}
	must(t, d.Berth("unpause", "pz"))
	time.Sleep(400 * time.Millisecond)
	if n3 := strings.Count(must(t, d.Berth("logs", "pz")).Stdout, "tick"); n3 <= n1 {
		t.Errorf("unpaused container did not resume")
	}

	must(t, d.Berth("rename", "pz", "qz"))
	if r := d.Berth("rename", "qz", "x"); r.Code == 0 || !strings.Contains(r.Stderr, "Invalid container name") {
		t.Errorf("one-letter names are invalid, as in docker: %s", r)
	}
	if r := d.Berth("inspect", "pz"); r.Code == 0 {
		t.Error("old name still resolves")
	}
	top := must(t, d.Berth("top", "qz")).Stdout
	if !strings.Contains(top, "PID") || !strings.Contains(top, "while true") {
		t.Errorf("top:\n%s", top)
	}
	must(t, d.Berth("run", "--name", "done1", "busybox", "true"))
	must(t, d.Berth("create", "--name", "fresh", "busybox", "true"))
	pr := must(t, d.Berth("container", "prune", "-f")).Stdout
	if !strings.Contains(pr, "Total reclaimed space") {
		t.Errorf("prune output: %s", pr)
	}
	left := must(t, d.Berth("ps", "-a", "--format", "{{.Names}}")).Stdout
	if strings.TrimSpace(left) != "qz" {
		t.Errorf("prune must remove only stopped containers; left: %q", left)
	}
}

func TestExec(t *testing.T) {
	d := StartDaemon(t)
	must(t, d.Berth("run", "-d", "--name", "ex", "-e", "IMG=1", "busybox", "sleep", "300"))
	r := must(t, d.Berth("exec", "ex", "sh", "-c", "echo out; echo err >&2"))
	if r.Stdout != "out\n" || !strings.Contains(r.Stderr, "err") {
		t.Errorf("exec streams: %s", r)
	}
	if r := d.Berth("exec", "ex", "sh", "-c", "exit 5"); r.Code != 5 {
		t.Errorf("exec exit code: %s", r)
	}
	r = must(t, d.Berth("exec", "-u", "nobody", "-w", "/tmp", "-e", "FOO=bar", "ex", "sh", "-c", "id -u; pwd; echo $FOO $IMG"))
	if r.Stdout != "65534\n/tmp\nbar 1\n" {
		t.Errorf("exec -u -w -e: %q", r.Stdout)
	}
	if r := d.BerthIn("hello\n", "exec", "-i", "ex", "cat"); r.Stdout != "hello\n" {
		t.Errorf("exec -i: %s", r)
	}
	must(t, d.Berth("exec", "-d", "ex", "sh", "-c", "echo detached > /tmp/d"))
	time.Sleep(300 * time.Millisecond)
	if r := must(t, d.Berth("exec", "ex", "cat", "/tmp/d")); r.Stdout != "detached\n" {
		t.Errorf("exec -d: %s", r)
	}
	if r := d.Berth("exec", "ex", "nosuchcmd"); r.Code != 127 {
		t.Errorf("exec of a missing command: %s", r)
	}
	if r := d.Docker("exec", "ex", "sh", "-c", "echo via docker; exit 6"); r.Code != 6 || r.Stdout != "via docker\n" {
		t.Errorf("docker exec: %s", r)
	}
	must(t, d.Berth("stop", "-t", "0", "ex"))
	r = d.Berth("exec", "ex", "true")
	if r.Code == 0 || !strings.Contains(r.Stderr, "is not running") {
		t.Errorf("exec in a stopped container must be a 409: %s", r)
	}
	// exec output is not in the container's log
	if l := must(t, d.Berth("logs", "ex")).Stdout; strings.Contains(l, "out") {
		t.Errorf("exec output leaked into logs: %q", l)
	}
}

func TestEvents(t *testing.T) {
	d := StartDaemon(t)
	since := fmt.Sprint(time.Now().Unix())
	must(t, d.Berth("run", "--name", "ev", "busybox", "true"))
	must(t, d.Berth("rm", "ev"))
	until := fmt.Sprint(time.Now().Add(time.Second).Unix())
	r := must(t, d.Berth("events", "--since", since, "--until", until, "--filter", "container=ev", "--format", "{{json .}}"))
	var actions []string
	for _, line := range strings.Split(strings.TrimSpace(r.Stdout), "\n") {
		var m struct{ Action string }
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Fatalf("event line %q: %v", line, err)
		}
		actions = append(actions, m.Action)
	}
	if got := strings.Join(actions, ","); got != "create,attach,start,die,destroy" && got != "create,start,die,destroy" {
		t.Errorf("events: %s", got)
	}
	r = must(t, d.Docker("events", "--since", since, "--until", until, "--filter", "event=die"))
	if !regexp.MustCompile(`container die [0-9a-f]{64} \(.*exitCode=0.*name=ev`).MatchString(r.Stdout) {
		t.Errorf("docker events: %s", r.Stdout)
	}
	if r := d.Berth("events", "--filter", "nosuchkey=1", "--until", until); r.Code == 0 {
		t.Errorf("unknown filter key accepted: %s", r)
	}
}

func TestPsFiltersAndFormat(t *testing.T) {
	d := StartDaemon(t)
	must(t, d.Berth("run", "-d", "--name", "web1", "-l", "tier=web", "busybox", "sleep", "300"))
	must(t, d.Berth("run", "-d", "--name", "web2", "-l", "tier=web", "busybox", "sleep", "300"))
	if r := d.Berth("run", "--name", "job", "-l", "tier=batch", "busybox", "sh", "-c", "exit 2"); r.Code != 2 {
		t.Fatalf("job: %s", r)
	}
	names := func(args ...string) string {
		out := must(t, d.Berth(append([]string{"ps", "--format", "{{.Names}}"}, args...)...)).Stdout
		f := strings.Fields(out)
		return strings.Join(f, ",")
	}
	cases := []struct {
		args []string
		want string
	}{
		{[]string{"--filter", "name=web"}, "web2,web1"},
		{[]string{"--filter", "name=web1"}, "web1"},
		{[]string{"-a", "--filter", "exited=2"}, "job"},
		{[]string{"-a", "--filter", "label=tier"}, "job,web2,web1"},
		{[]string{"--filter", "label=tier=web", "--filter", "status=running"}, "web2,web1"},
		{[]string{"-a", "--filter", "status=exited", "--filter", "status=running"}, "job,web2,web1"},
		{[]string{"-a", "--filter", "since=web1"}, "job,web2"},
		{[]string{"-a", "--filter", "before=job"}, "web2,web1"},
		{[]string{"-a", "--filter", "ancestor=busybox", "--filter", "label=tier=batch"}, "job"},
		{[]string{"-n", "1"}, "job"},
		{[]string{"-l"}, "job"},
	}
	for _, c := range cases {
		if got := names(c.args...); got != c.want {
			t.Errorf("ps %v: got %q want %q", c.args, got, c.want)
		}
	}
	// the course's idiom
	ids := strings.Fields(must(t, d.Berth("ps", "-q", "--filter", "name=web")).Stdout)
	if len(ids) != 2 {
		t.Fatalf("ps -q: %v", ids)
	}
	must(t, d.Berth(append([]string{"stop", "-t", "0"}, ids...)...))
	if out := must(t, d.Berth("ps", "-q")).Stdout; out != "" {
		t.Errorf("still running: %q", out)
	}
	if r := d.Berth("ps", "--filter", "nosuch=1"); r.Code == 0 || !strings.Contains(r.Stderr, "invalid filter") {
		t.Errorf("unknown filter key: %s", r)
	}
	sz := must(t, d.Berth("ps", "-a", "-s", "--filter", "name=job")).Stdout
	if !regexp.MustCompile(`SIZE`).MatchString(sz) || !regexp.MustCompile(`\(virtual [0-9.]+[kMG]?B\)`).MatchString(sz) {
		t.Errorf("ps -s:\n%s", sz)
	}
}

func TestLogsOptions(t *testing.T) {
	d := StartDaemon(t)
	must(t, d.Berth("run", "-d", "--name", "lg", "busybox", "sh", "-c", "echo one; sleep 3; echo two; sleep 0.1; echo err >&2; sleep 300"))
	time.Sleep(3500 * time.Millisecond)
	all := must(t, d.Berth("logs", "-t", "lg")).Stdout
	if !regexp.MustCompile(`(?m)^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d+Z one$`).MatchString(all) {
		t.Errorf("logs -t: %q", all)
	}
	if r := must(t, d.Berth("logs", "--since", "2s", "lg")); strings.Contains(r.Stdout, "one") || !strings.Contains(r.Stdout, "two") {
		t.Errorf("logs --since 2s: %s", r)
	}
	if r := must(t, d.Berth("logs", "--until", "2s", "lg")); !strings.Contains(r.Stdout, "one") || strings.Contains(r.Stdout, "two") {
		t.Errorf("logs --until 2s: %s", r)
	}
	if r := must(t, d.Berth("logs", "--tail", "1", "lg")); strings.TrimSpace(r.Stdout+r.Stderr) != "err" {
		t.Errorf("logs --tail 1: %s", r)
	}
	for _, bad := range [][]string{{"--tail", "-5"}, {"--since", "yesterday-ish"}} {
		if r := d.Berth(append([]string{"logs"}, append(bad, "lg")...)...); r.Code == 0 {
			t.Errorf("logs %v accepted: %s", bad, r)
		}
	}
	// follow ends when the container exits
	cmd := exec.Command(filepath.Join(binDir, "berth"), "logs", "-f", "--tail", "0", "lg")
	cmd.Env = append(cmd.Environ(), "BERTH_HOST=unix://"+d.Sock, "BERTH_NO_AUTOSTART=1")
	var out strings.Builder
	cmd.Stdout = &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	time.Sleep(300 * time.Millisecond)
	must(t, d.Berth("exec", "lg", "sh", "-c", "echo late > /proc/1/fd/1"))
	must(t, d.Berth("stop", "-t", "0", "lg"))
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		cmd.Process.Kill()
		t.Fatal("logs -f did not end when the container stopped")
	}
	if !strings.Contains(out.String(), "late") {
		t.Errorf("logs -f missed a line: %q", out.String())
	}
}

func TestKillSignals(t *testing.T) {
	d := StartDaemon(t)
	must(t, d.Berth("run", "-d", "--name", "trap", "busybox", "sh", "-c", "trap 'exit 42' USR1; while true; do sleep 0.1; done"))
	time.Sleep(300 * time.Millisecond)
	must(t, d.Berth("kill", "-s", "USR1", "trap"))
	waitFor(t, 3*time.Second, "trap exit", func() bool {
		return inspectF(t, d, "{{.State.Status}} {{.State.ExitCode}}", "trap") == "exited 42"
	})
	must(t, d.Berth("start", "trap"))
	time.Sleep(300 * time.Millisecond)
	must(t, d.Berth("kill", "-s", "10", "trap"))
	waitFor(t, 3*time.Second, "trap exit by number", func() bool {
		return inspectF(t, d, "{{.State.ExitCode}}", "trap") == "42"
	})
	must(t, d.Berth("start", "trap"))
	if r := d.Berth("kill", "-s", "NOPE", "trap"); r.Code == 0 || !strings.Contains(r.Stderr, "Invalid signal: NOPE") {
		t.Errorf("invalid signal: %s", r)
	}
	if st := inspectF(t, d, "{{.State.Status}}", "trap"); st != "running" {
		t.Errorf("an invalid signal changed the container: %s", st)
	}
	if r := d.Berth("run", "--restart", "sometimes", "busybox", "true"); r.Code != 125 || !strings.Contains(r.Stderr, "restart policy") {
		t.Errorf("bad restart policy: %s", r)
	}
	if r := d.Berth("run", "--memory", "1x", "busybox", "true"); r.Code != 125 || !strings.Contains(r.Stderr, "1x") {
		t.Errorf("--memory 1x: %s", r)
	}
}
