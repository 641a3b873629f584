package integration

import (
	"archive/tar"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"
)

// cliPoll polls cond every 50 ms for up to timeout.
func cliPoll(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(timeout); ; time.Sleep(50 * time.Millisecond) {
		if cond() {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
	}
}

// TestCLIRunFlagsReachTheContainer checks that run's configuration flags land in inspect
// and take effect inside the container.
func TestCLIRunFlagsReachTheContainer(t *testing.T) {
	d := StartDaemon(t)
	dir := t.TempDir()
	envFile := filepath.Join(dir, "env")
	os.WriteFile(envFile, []byte("# env file\nFROM_FILE=yes\nOVERRIDE=file\nCLI_IT_PASSED\n"), 0o644)
	labelFile := filepath.Join(dir, "labels")
	os.WriteFile(labelFile, []byte("team=core\n"), 0o644)
	t.Setenv("CLI_IT_PASSED", "through")
	t.Setenv("CLI_IT_DASH_E", "from-env")

	r := must(t, d.Berth("run", "--name", "flags", "--env-file", envFile, "-e", "OVERRIDE=flag", "-e", "CLI_IT_DASH_E",
		"-w", "/tmp", "-u", "nobody", "-h", "boxy", "-l", "tier=web", "--label-file", labelFile,
		"--stop-signal", "SIGUSR2", "--stop-timeout", "7", "--entrypoint", "sh",
		"busybox", "-c", `echo "$FROM_FILE $OVERRIDE $CLI_IT_PASSED $CLI_IT_DASH_E"; pwd; id -un; hostname`))
	if r.Stdout != "yes flag through from-env\n/tmp\nnobody\nboxy\n" {
		t.Errorf("inside the container: %q", r.Stdout)
	}
	var c struct {
		Config struct {
			Env         []string
			Labels      map[string]string
			StopSignal  string
			StopTimeout *int
			Entrypoint  []string
			WorkingDir  string
			User        string
			Hostname    string
		}
	}
	if err := json.Unmarshal([]byte(must(t, d.Berth("inspect", "-f", "{{json .}}", "flags")).Stdout), &c); err != nil {
		t.Fatal(err)
	}
	// Like docker's daemon, a later value of the same variable replaces the earlier one.
	for _, e := range []string{"FROM_FILE=yes", "OVERRIDE=flag", "CLI_IT_PASSED=through", "CLI_IT_DASH_E=from-env"} {
		if !slices.Contains(c.Config.Env, e) {
			t.Errorf("env lacks %s: %q", e, c.Config.Env)
		}
	}
	if c.Config.Labels["tier"] != "web" || c.Config.Labels["team"] != "core" || c.Config.StopSignal != "SIGUSR2" ||
		c.Config.StopTimeout == nil || *c.Config.StopTimeout != 7 || !slices.Equal(c.Config.Entrypoint, []string{"sh"}) ||
		c.Config.WorkingDir != "/tmp" || c.Config.User != "nobody" || c.Config.Hostname != "boxy" {
		t.Errorf("config %+v", c.Config)
	}

	// Host configuration: what docker's CLI would send for the same flags.
	must(t, d.Berth("create", "--name", "hc", "-m", "64m", "--memory-swap", "128m", "--cpus", "0.5", "--cpu-shares", "256",
		"--pids-limit", "50", "--ulimit", "nofile=1024:2048", "--cap-add", "NET_ADMIN", "--cap-drop", "MKNOD",
		"--read-only", "--security-opt", "no-new-privileges", "--tmpfs", "/run:size=64m", "--shm-size", "32m",
		"--sysctl", "net.ipv4.ip_forward=1", "--group-add", "audio", "--oom-score-adj", "100", "--init",
		"--restart", "on-failure:3", "--log-opt", "max-size=1m", "busybox", "true"))
	var h struct {
		HostConfig struct {
			Memory, MemorySwap, NanoCpus, CpuShares, ShmSize int64
			PidsLimit                                        *int64
			Ulimits                                          []struct {
				Name       string
				Soft, Hard int64
			}
			CapAdd, CapDrop, SecurityOpt, GroupAdd []string
			ReadonlyRootfs                         bool
			Tmpfs, Sysctls                         map[string]string
			OomScoreAdj                            int
			Init                                   *bool
			RestartPolicy                          struct {
				Name              string
				MaximumRetryCount int
			}
			LogConfig struct {
				Type   string
				Config map[string]string
			}
		}
	}
	if err := json.Unmarshal([]byte(must(t, d.Berth("inspect", "-f", "{{json .}}", "hc")).Stdout), &h); err != nil {
		t.Fatal(err)
	}
	hc := h.HostConfig
	if hc.Memory != 64<<20 || hc.MemorySwap != 128<<20 || hc.NanoCpus != 5e8 || hc.CpuShares != 256 || hc.ShmSize != 32<<20 ||
		hc.PidsLimit == nil || *hc.PidsLimit != 50 || len(hc.Ulimits) != 1 || hc.Ulimits[0].Name != "nofile" ||
		hc.Ulimits[0].Soft != 1024 || hc.Ulimits[0].Hard != 2048 || len(hc.CapAdd) != 1 || strings.TrimPrefix(hc.CapAdd[0], "CAP_") != "NET_ADMIN" ||
		len(hc.CapDrop) != 1 || strings.TrimPrefix(hc.CapDrop[0], "CAP_") != "MKNOD" || !hc.ReadonlyRootfs || !slices.Equal(hc.SecurityOpt, []string{"no-new-privileges"}) ||
		hc.Tmpfs["/run"] != "size=64m" || hc.Sysctls["net.ipv4.ip_forward"] != "1" || !slices.Equal(hc.GroupAdd, []string{"audio"}) ||
		hc.OomScoreAdj != 100 || hc.Init == nil || !*hc.Init || hc.RestartPolicy.Name != "on-failure" ||
		hc.RestartPolicy.MaximumRetryCount != 3 || hc.LogConfig.Config["max-size"] != "1m" {
		t.Errorf("host config %+v", hc)
	}

	// Bad flags: a clear message, exit 125, nothing created.
	for _, bad := range [][]string{
		{"--memory", "1x"}, {"--cpus", "lots"}, {"--ulimit", "nofile"}, {"--sysctl", "kernel.hostname=x"},
		{"--security-opt", "seccomp=/nonexistent.json"}, {"--env-file", "/nonexistent.env"}, {"--restart", "on-failure:x"},
	} {
		r := d.Berth(append(append([]string{"run", "--name", "bad"}, bad...), "busybox", "true")...)
		if r.Code != 125 || r.Stderr == "" {
			t.Errorf("run %v: %s", bad, r)
		}
	}
	if r := d.Berth("inspect", "bad"); r.Code == 0 {
		t.Error("a refused run created a container")
	}
}

// TestCLICopy copies both ways, through archives on stdin and stdout, and with -L.
func TestCLICopy(t *testing.T) {
	d := StartDaemon(t)
	must(t, d.Berth("run", "-d", "--name", "cp", "busybox", "sh", "-c",
		"mkdir -p /data/sub && echo A > /data/a && echo B > /data/sub/b && ln -s /data/a /data/link && sleep 300"))
	cliPoll(t, 5*time.Second, "the container's files", func() bool {
		return d.Berth("exec", "cp", "test", "-L", "/data/link").Code == 0
	})
	local := t.TempDir()
	t.Chdir(local)

	must(t, d.Berth("cp", "cp:/data", "out"))
	for p, want := range map[string]string{"out/a": "A\n", "out/sub/b": "B\n"} {
		if b, err := os.ReadFile(p); err != nil || string(b) != want {
			t.Errorf("%s: %q %v", p, b, err)
		}
	}
	if l, err := os.Readlink("out/link"); err != nil || l != "/data/a" {
		t.Errorf("symlink copied as %q %v", l, err)
	}
	must(t, d.Berth("cp", "-L", "cp:/data/link", "followed"))
	if b, _ := os.ReadFile("followed"); string(b) != "A\n" {
		t.Errorf("-L copied %q", b)
	}
	os.Mkdir("into", 0o755)
	must(t, d.Berth("cp", "cp:/data/.", "into"))
	if b, _ := os.ReadFile("into/sub/b"); string(b) != "B\n" {
		t.Errorf("dir/. contents: %q", b)
	}

	os.WriteFile("up.txt", []byte("uploaded\n"), 0o640)
	must(t, d.Berth("cp", "up.txt", "cp:/data/"))
	must(t, d.Berth("cp", "up.txt", "cp:/renamed"))
	must(t, d.Berth("cp", "into", "cp:/newdir"))
	r := must(t, d.Berth("exec", "cp", "sh", "-c", "cat /data/up.txt /renamed /newdir/sub/b; stat -c %a /renamed"))
	if r.Stdout != "uploaded\nuploaded\nB\n640\n" {
		t.Errorf("after copying in: %q", r.Stdout)
	}

	// tar on stdout and stdin
	tarOut := must(t, d.Berth("cp", "cp:/data/sub", "-")).Stdout
	var names []string
	tr := tar.NewReader(strings.NewReader(tarOut))
	for {
		h, err := tr.Next()
		if err != nil {
			break
		}
		names = append(names, strings.TrimSuffix(h.Name, "/"))
	}
	if !slices.Equal(names, []string{"sub", "sub/b"}) {
		t.Errorf("tar entries %q", names)
	}
	must(t, d.BerthIn(tarOut, "cp", "-", "cp:/tmp"))
	if r := must(t, d.Berth("exec", "cp", "cat", "/tmp/sub/b")); r.Stdout != "B\n" {
		t.Errorf("tar from stdin: %q", r.Stdout)
	}

	// errors: missing source, file onto a missing directory, between containers
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"cp:/nope", "x"}, "Could not find the file /nope in container cp"},
		{[]string{"up.txt", "cp:/nodir/"}, "no such directory"},
		{[]string{"cp:/data", "cp:/x"}, "copying between containers is not supported"},
		{[]string{"ghost:/x", "x"}, "No such container: ghost"},
	} {
		if r := d.Berth(append([]string{"cp"}, c.args...)...); r.Code != 1 || !strings.Contains(r.Stderr, c.want) {
			t.Errorf("cp %q: %s", c.args, r)
		}
	}

	// The docker CLI does the same through the same endpoints.
	must(t, d.Docker("cp", "up.txt", "cp:/docker.txt"))
	if r := d.Docker("cp", "cp:/docker.txt", "back.txt"); r.Code != 0 {
		t.Fatalf("docker cp: %s", r)
	}
	if b, _ := os.ReadFile("back.txt"); string(b) != "uploaded\n" {
		t.Errorf("docker cp round trip: %q", b)
	}
}

// TestCLIDiffCommitExport: diff lists the changes, commit makes an image of them, export
// writes the filesystem.
func TestCLIDiffCommitExport(t *testing.T) {
	d := StartDaemon(t)
	must(t, d.Berth("run", "--name", "ch", "busybox", "sh", "-c", "echo hi > /hello && rm /bin/vi && mkdir -p /etc/x"))
	diff := must(t, d.Berth("diff", "ch")).Stdout
	for _, want := range []string{"A /hello\n", "D /bin/vi\n", "C /etc\n", "A /etc/x\n"} {
		if !strings.Contains(diff, want) {
			t.Errorf("diff lacks %q:\n%s", want, diff)
		}
	}
	if r := d.Docker("diff", "ch"); r.Code != 0 || !strings.Contains(r.Stdout, "A /hello") {
		t.Errorf("docker diff: %s", r)
	}

	id := strings.TrimSpace(must(t, d.Berth("commit", "-m", "added hello", "-a", "tester", "-c", "ENV GREETING=hi",
		"-c", `CMD ["cat", "/hello"]`, "ch", "hello:v1")).Stdout)
	if !regexp.MustCompile(`^sha256:[0-9a-f]{64}$`).MatchString(id) {
		t.Errorf("commit printed %q", id)
	}
	if r := must(t, d.Berth("run", "--rm", "hello:v1")); r.Stdout != "hi\n" {
		t.Errorf("run of the committed image: %s", r)
	}
	if r := must(t, d.Berth("run", "--rm", "hello:v1", "sh", "-c", "echo $GREETING; test -e /bin/vi || echo novi")); r.Stdout != "hi\nnovi\n" {
		t.Errorf("committed changes: %q", r.Stdout)
	}
	if got := strings.TrimSpace(must(t, d.Berth("image", "inspect", "-f", "{{.Comment}} {{.Author}}", "hello:v1")).Stdout); got != "added hello tester" {
		t.Errorf("image comment and author: %q", got)
	}

	out := filepath.Join(t.TempDir(), "fs.tar")
	must(t, d.Berth("export", "-o", out, "ch"))
	f, err := os.Open(out)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	seen := map[string]bool{}
	tr := tar.NewReader(f)
	for {
		h, err := tr.Next()
		if err != nil {
			if err != io.EOF {
				t.Fatal(err)
			}
			break
		}
		seen[strings.TrimPrefix(h.Name, "./")] = true
	}
	if !seen["hello"] || !seen["bin/busybox"] || seen["bin/vi"] {
		t.Errorf("export: hello %v busybox %v vi %v", seen["hello"], seen["bin/busybox"], seen["bin/vi"])
	}
	if r := d.Berth("export", "ghost"); r.Code != 1 || !strings.Contains(r.Stderr, "No such container: ghost") {
		t.Errorf("export of a missing container: %s", r)
	}
}

// TestCLIStatsWaitPort covers stats, wait and port.
func TestCLIStatsWaitPort(t *testing.T) {
	d := StartDaemon(t)
	must(t, d.Berth("run", "-d", "--name", "st", "-m", "64m", "busybox", "sh", "-c", "while true; do :; done"))
	must(t, d.Berth("run", "-d", "--name", "idle", "busybox", "sleep", "300"))

	r := must(t, d.Berth("stats", "--no-stream"))
	lines := strings.Split(strings.TrimSpace(r.Stdout), "\n")
	head := regexp.MustCompile(`^CONTAINER ID\s+NAME\s+CPU %\s+MEM USAGE / LIMIT\s+MEM %\s+NET I/O\s+BLOCK I/O\s+PIDS$`)
	if len(lines) != 3 || !head.MatchString(lines[0]) {
		t.Fatalf("stats:\n%s", r.Stdout)
	}
	row := regexp.MustCompile(`^[0-9a-f]{12}\s+st\s+(\d+\.\d\d)%\s+[\d.]+[KMG]?i?B / 64MiB\s+\d+\.\d\d%\s+\S+ / \S+\s+\S+ / \S+\s+(\d+)$`)
	var m []string
	for _, l := range lines[1:] {
		if mm := row.FindStringSubmatch(l); mm != nil {
			m = mm
		}
	}
	if m == nil {
		t.Fatalf("no row for st with a 64MiB limit:\n%s", r.Stdout)
	}
	if m[1] == "0.00" || m[2] == "0" {
		t.Errorf("a busy container shows %s%% CPU and %s PIDs", m[1], m[2])
	}
	r = must(t, d.Berth("stats", "--no-stream", "--format", "{{.Name}} {{.PIDs}}", "idle"))
	if r.Stdout != "idle 1\n" {
		t.Errorf("stats --format: %q", r.Stdout)
	}
	if r := d.Berth("stats", "--no-stream", "ghost"); r.Code != 1 || !strings.Contains(r.Stderr, "No such container: ghost") {
		t.Errorf("stats of a missing container: %s", r)
	}
	if r := d.Docker("stats", "--no-stream", "--format", "{{.Name}} {{.MemUsage}}", "st"); r.Code != 0 || !strings.Contains(r.Stdout, "/ 64MiB") {
		t.Errorf("docker stats: %s", r)
	}

	// port: no published ports here; a missing private port is an error
	if r := must(t, d.Berth("port", "idle")); r.Stdout != "" {
		t.Errorf("port: %q", r.Stdout)
	}
	if r := d.Berth("port", "idle", "80/tcp"); r.Code != 1 || r.Stderr != "Error: No public port '80/tcp' published for idle\n" {
		t.Errorf("port 80: %s", r)
	}

	// wait prints exit codes in order
	must(t, d.Berth("run", "-d", "--name", "w1", "busybox", "sh", "-c", "sleep 0.3; exit 3"))
	must(t, d.Berth("run", "-d", "--name", "w2", "busybox", "sh", "-c", "exit 4"))
	if r := must(t, d.Berth("wait", "w1", "w2")); r.Stdout != "3\n4\n" {
		t.Errorf("wait: %q", r.Stdout)
	}
	if r := d.Berth("wait", "ghost"); r.Code != 1 || !strings.Contains(r.Stderr, "No such container: ghost") {
		t.Errorf("wait for a missing container: %s", r)
	}
}

// TestCLIStartAttachAndPrunePrompt covers start -a, and container prune asking first.
func TestCLIStartAttachAndPrunePrompt(t *testing.T) {
	d := StartDaemon(t)
	must(t, d.Berth("create", "--name", "sa", "busybox", "sh", "-c", "echo started; exit 9"))
	if r := d.Berth("start", "-a", "sa"); r.Code != 9 || r.Stdout != "started\n" {
		t.Errorf("start -a: %s", r)
	}
	must(t, d.Berth("create", "-i", "--name", "si", "busybox", "cat"))
	if r := d.BerthIn("through stdin\n", "start", "-a", "-i", "si"); r.Code != 0 || r.Stdout != "through stdin\n" {
		t.Errorf("start -a -i: %s", r)
	}

	r := must(t, d.BerthIn("n\n", "container", "prune"))
	if r.Stdout != "WARNING! This will remove all stopped containers.\nAre you sure you want to continue? [y/N] " {
		t.Errorf("declined prune: %q", r.Stdout)
	}
	if n := len(strings.Fields(must(t, d.Berth("ps", "-aq")).Stdout)); n != 2 {
		t.Fatalf("a declined prune removed containers: %d left", n)
	}
	r = must(t, d.BerthIn("y\n", "container", "prune"))
	if !strings.Contains(r.Stdout, "Deleted Containers:\n") || !strings.Contains(r.Stdout, "Total reclaimed space:") {
		t.Errorf("prune: %q", r.Stdout)
	}
	if out := must(t, d.Berth("ps", "-aq")).Stdout; out != "" {
		t.Errorf("left after prune: %q", out)
	}
}

// TestCLIPsFormats checks ps's Go templates, table templates and untruncated output.
func TestCLIPsFormats(t *testing.T) {
	d := StartDaemon(t)
	id := strings.TrimSpace(must(t, d.Berth("run", "-d", "--name", "web", "busybox", "sh", "-c", "echo x > /f; sleep 300")).Stdout)
	must(t, d.Berth("run", "--name", "done", "busybox", "true"))

	r := must(t, d.Berth("ps", "-a", "--format", `{{.Names}}\t{{.Status}}`))
	if !regexp.MustCompile(`^done\tExited \(0\) [^\n]+ ago\nweb\tUp [^\n]+\n$`).MatchString(r.Stdout) {
		t.Errorf("names and status: %q", r.Stdout)
	}
	r = must(t, d.Berth("ps", "--format", `table {{.ID}}\t{{.Size}}`))
	if !regexp.MustCompile(`^CONTAINER ID\s+SIZE\n` + id[:12] + `\s+\d+(\.\d+)?[kM]?B \(virtual [\d.]+[kM]B\)\n$`).MatchString(r.Stdout) {
		t.Errorf("table with size: %q", r.Stdout)
	}
	r = must(t, d.Berth("ps", "--no-trunc", "--format", "{{.ID}} {{.Command}}"))
	if r.Stdout != id+` "sh -c 'echo x > /f; sleep 300'"`+"\n" {
		t.Errorf("--no-trunc: %q", r.Stdout)
	}
	r = must(t, d.Berth("ps", "-a", "--format", "json", "--filter", "name=done"))
	var row map[string]string
	if err := json.Unmarshal([]byte(r.Stdout), &row); err != nil || row["Names"] != "done" || row["State"] != "exited" {
		t.Errorf("json: %q %v", r.Stdout, err)
	}
	if r := d.Berth("ps", "--format", "{{.Nope}}"); r.Code != 1 || !strings.Contains(r.Stderr, "can't evaluate field Nope") {
		t.Errorf("bad template: %s", r)
	}
	if r := d.Docker("ps", "-a", "--format", `{{.Names}}\t{{.Status}}`); r.Code != 0 || !strings.Contains(r.Stdout, "done\tExited (0)") {
		t.Errorf("docker ps --format: %s", r)
	}
}

// TestCLIUpdate changes a running container's memory limit, which stats then reports.
func TestCLIUpdate(t *testing.T) {
	d := StartDaemon(t)
	must(t, d.Berth("run", "-d", "--name", "up", "-m", "64m", "busybox", "sleep", "300"))
	if r := must(t, d.Berth("update", "-m", "96m", "--memory-swap", "192m", "--restart", "always", "up")); r.Stdout != "up\n" {
		t.Errorf("update: %s", r)
	}
	if got := strings.TrimSpace(must(t, d.Berth("stats", "--no-stream", "--format", "{{.MemUsage}}", "up")).Stdout); !strings.HasSuffix(got, "/ 96MiB") {
		t.Errorf("after update, stats shows %q", got)
	}
	if got := strings.TrimSpace(must(t, d.Berth("inspect", "-f", "{{.HostConfig.Memory}} {{.HostConfig.RestartPolicy.Name}}", "up")).Stdout); got != "100663296 always" {
		t.Errorf("after update, inspect shows %q", got)
	}
	if r := d.Berth("update", "up"); r.Code != 1 || r.Stderr != "you must provide one or more flags when using this command\n" {
		t.Errorf("update without flags: %s", r)
	}
}

// TestCLIEventsText checks docker's text format of events and the until bound.
func TestCLIEventsText(t *testing.T) {
	d := StartDaemon(t)
	since := time.Now().Add(-time.Second).Format(time.RFC3339)
	must(t, d.Berth("run", "--name", "evt", "busybox", "true"))
	until := fmt.Sprint(time.Now().Add(time.Second).Unix())
	r := must(t, d.Berth("events", "--since", since, "--until", until, "--filter", "container=evt", "--filter", "event=start"))
	if !regexp.MustCompile(`^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}(Z|[+-]\d\d:\d\d) container start [0-9a-f]{64} \((.+, )?image=busybox, (.+, )?name=evt(, .+)?\)\n$`).MatchString(r.Stdout) {
		t.Errorf("events text: %q", r.Stdout)
	}
	if r := d.Berth("events", "--since", "yesterday-ish", "--until", "0s"); r.Code != 1 || !strings.Contains(r.Stderr, "yesterday-ish") {
		t.Errorf("bad --since: %s", r)
	}
	if r := d.Berth("events", "--format", "{{.Nope}}"); r.Code != 64 || !strings.HasPrefix(r.Stderr, "Error parsing format: ") {
		t.Errorf("bad --format: %s", r)
	}
}

// TestCLISeccompProfileFile: --security-opt seccomp=<file> sends the file's JSON, and the
// profile applies in the container.
func TestCLISeccompProfileFile(t *testing.T) {
	d := StartDaemon(t)
	profile := filepath.Join(t.TempDir(), "deny-mkdir.json")
	os.WriteFile(profile, []byte(`{
  "defaultAction": "SCMP_ACT_ALLOW",
  "syscalls": [{"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO"}]
}`), 0o644)
	r := d.Berth("run", "--name", "sc", "--security-opt", "seccomp="+profile, "busybox", "mkdir", "/x")
	if r.Code != 1 || !strings.Contains(r.Stderr, "Operation not permitted") {
		t.Errorf("mkdir under a profile denying it: %s", r)
	}
	opt := strings.TrimSpace(must(t, d.Berth("inspect", "-f", "{{json .HostConfig.SecurityOpt}}", "sc")).Stdout)
	if !strings.HasPrefix(opt, `["seccomp={\"defaultAction\":\"SCMP_ACT_ALLOW\",\"syscalls\":[{`) {
		t.Errorf("SecurityOpt holds %s; want the profile's compact JSON", opt)
	}
	if r := must(t, d.Berth("run", "--rm", "--security-opt", "seccomp="+profile, "busybox", "touch", "/y")); r.Code != 0 {
		t.Errorf("other calls stay allowed: %s", r)
	}
	if r := d.Docker("run", "--rm", "--security-opt", "seccomp="+profile, "busybox", "mkdir", "/x"); r.Code != 1 || !strings.Contains(r.Stderr, "Operation not permitted") {
		t.Errorf("docker run with the profile: %s", r)
	}
}
