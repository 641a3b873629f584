package integration

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestResourceLimits(t *testing.T) {
	d := StartDaemon(t)
	must(t, d.Berth("pull", "-q", "busybox"))
	must(t, d.Berth("run", "-d", "--name", "lim", "--memory", "64m", "--cpus", "0.5", "--pids-limit", "20", "busybox", "sleep", "300"))
	if got := inspectF(t, d, "{{.HostConfig.Memory}} {{.HostConfig.NanoCpus}} {{.HostConfig.PidsLimit}}", "lim"); got != "67108864 500000000 20" {
		t.Errorf("inspect limits: %s", got)
	}
	id := inspectF(t, d, "{{.Id}}", "lim")
	// The limits are in the container's cgroup (v1 here, v2 elsewhere).
	cpuDir := "/sys/fs/cgroup/cpu,cpuacct"
	if _, err := os.Stat(cpuDir); err != nil {
		cpuDir = "/sys/fs/cgroup/cpu" // mounted on its own on some hosts (this one)
	}
	v1 := map[string]string{
		"/sys/fs/cgroup/memory/berth/" + id + "/memory.limit_in_bytes": "67108864",
		cpuDir + "/berth/" + id + "/cpu.cfs_quota_us":                  "50000",
		"/sys/fs/cgroup/pids/berth/" + id + "/pids.max":                "20",
	}
	v2 := map[string]string{
		"/sys/fs/cgroup/berth/" + id + "/memory.max": "67108864",
		"/sys/fs/cgroup/berth/" + id + "/cpu.max":    "50000 100000",
		"/sys/fs/cgroup/berth/" + id + "/pids.max":   "20",
	}
	files := v1
	if _, err := os.Stat("/sys/fs/cgroup/cgroup.controllers"); err == nil {
		files = v2
	}
	for f, want := range files {
		got, err := os.ReadFile(f)
		if err != nil {
			matches, _ := filepath.Glob(filepath.Join(filepath.Dir(filepath.Dir(f)), "*"))
			t.Errorf("%s: %v (%v)", f, err, matches)
			continue
		}
		if strings.TrimSpace(string(got)) != want {
			t.Errorf("%s = %q, want %q", f, got, want)
		}
	}
	// pids limit refuses forks
	r := d.Berth("exec", "lim", "sh", "-c", "for i in $(seq 40); do sleep 5 & done; wait")
	if r.Code == 0 || !strings.Contains(r.Stderr, "fork") && !strings.Contains(r.Stderr, "Resource temporarily unavailable") {
		t.Errorf("pids limit not enforced: %s", r)
	}
	// stats sees the memory limit
	st := must(t, d.Berth("stats", "--no-stream", "--format", "{{.Name}} {{.MemUsage}}", "lim")).Stdout
	if !strings.Contains(st, "lim") || !strings.Contains(st, "/ 64MiB") {
		t.Errorf("stats: %q", st)
	}
}

func TestOOMKilled(t *testing.T) {
	d := StartDaemon(t)
	r := d.Berth("run", "--name", "oom", "--memory", "32m", "--memory-swap", "32m", "busybox", "sh", "-c", "x=a; while true; do x=$x$x; done")
	if r.Code != 137 {
		t.Fatalf("want exit 137: %s", r)
	}
	if got := inspectF(t, d, "{{.State.OOMKilled}} {{.State.ExitCode}}", "oom"); got != "true 137" {
		t.Errorf("inspect after OOM: %s", got)
	}
}

func TestSecurityOptions(t *testing.T) {
	d := StartDaemon(t)
	cases := []struct {
		name string
		args []string
		code int
		out  string
	}{
		{"read-only rootfs", []string{"--read-only", "busybox", "sh", "-c", "touch /x"}, 1, "Read-only file system"},
		{"tmpfs writable on read-only", []string{"--read-only", "--tmpfs", "/run:size=1m", "busybox", "sh", "-c", "echo ok > /run/x && cat /run/x"}, 0, "ok"},
		{"tmpfs size enforced", []string{"--tmpfs", "/run:size=1m", "busybox", "sh", "-c", "dd if=/dev/zero of=/run/big bs=1k count=2048"}, 1, "No space left on device"},
		{"cap-drop CHOWN", []string{"--cap-drop", "CHOWN", "busybox", "chown", "nobody", "/tmp"}, 1, "Operation not permitted"},
		{"default caps allow chown", []string{"busybox", "chown", "nobody", "/tmp"}, 0, ""},
		{"no-new-privileges", []string{"--security-opt", "no-new-privileges", "busybox", "grep", "NoNewPrivs", "/proc/self/status"}, 0, "1"},
		{"ulimit nofile", []string{"--ulimit", "nofile=1024:2048", "busybox", "sh", "-c", "ulimit -n"}, 0, "1024"},
		{"privileged sees devices", []string{"--privileged", "busybox", "sh", "-c", "ls /dev | wc -l"}, 0, ""},
		{"default seccomp blocks unshare", []string{"busybox", "unshare", "-U", "true"}, 1, "Operation not permitted"},
		{"hostname and user", []string{"--hostname", "box", "-u", "nobody", "busybox", "sh", "-c", "hostname; id -u"}, 0, "box\n65534"},
		{"env file and workdir", []string{"-e", "A=1", "-w", "/tmp", "busybox", "sh", "-c", "echo $A; pwd"}, 0, "1\n/tmp"},
		{"entrypoint override", []string{"--entrypoint", "echo", "busybox", "hi"}, 0, "hi"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := d.Berth(append([]string{"run", "--rm"}, c.args...)...)
			if r.Code != c.code || !strings.Contains(r.Stdout+r.Stderr, c.out) {
				t.Fatalf("want exit %d and %q: %s", c.code, c.out, r)
			}
		})
	}
	r := d.Berth("run", "--rm", "--security-opt", "seccomp=unconfined", "busybox", "grep", "Seccomp:", "/proc/self/status")
	if r.Code != 0 || !strings.Contains(r.Stdout, "0") {
		t.Errorf("seccomp=unconfined: %s", r)
	}
	r = d.Berth("run", "--rm", "busybox", "grep", "Seccomp:", "/proc/self/status")
	if r.Code != 0 || !strings.Contains(r.Stdout, "2") {
		t.Errorf("default seccomp filter mode: %s", r)
	}
}

func TestInitReapsAndForwards(t *testing.T) {
	d := StartDaemon(t)
	must(t, d.Berth("run", "-d", "--init", "--name", "in", "busybox", "sh", "-c", "sleep 300"))
	time.Sleep(300 * time.Millisecond)
	top := must(t, d.Berth("exec", "in", "ps", "-o", "pid,comm")).Stdout
	if !strings.Contains(top, "docker-init") && !strings.Contains(top, "tini") {
		t.Errorf("pid 1 is not the init: %s", top)
	}
	// Without an init, sh as pid 1 ignores TERM and is killed after the timeout (137);
	// the init forwards TERM, so sh dies of it (143).
	must(t, d.Berth("stop", "-t", "10", "in"))
	if code := inspectF(t, d, "{{.State.ExitCode}}", "in"); code != "143" {
		t.Errorf("exit code after forwarded TERM: %s", code)
	}
}
