package runtime

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// selfStatus returns a field of this process's /proc/self/status.
func selfStatus(t *testing.T, key string) string {
	t.Helper()
	b, _ := os.ReadFile("/proc/self/status")
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, key+":"); ok {
			return strings.TrimSpace(v)
		}
	}
	t.Fatalf("no %s in /proc/self/status", key)
	return ""
}

func TestMemoryLimitOOMKilled(t *testing.T) {
	e := newEnv(t)
	// The shell doubles a string until the kernel kills it at 32 MB.
	_, _, st, _ := run(t, e, SpecOptions{Memory: 32 << 20,
		Args: []string{"sh", "-c", "x=0123456789abcdef; while true; do x=$x$x; done"}})
	if st.Code != 137 || !st.OOMKilled {
		t.Fatalf("status %+v, want 137 and OOMKilled", st)
	}
	// A child killed by the OOM killer (the likeliest victim, by its score)
	// marks the container too, as in Docker.
	out, _, st, _ := run(t, e, SpecOptions{Memory: 16 << 20,
		Args: []string{"sh", "-c", "head -c 64m /dev/zero | sh -c 'echo 1000 >/proc/self/oom_score_adj; exec tail' >/dev/null; echo rc=$?"}})
	// The kernel usually picks the child; under memory pressure from elsewhere it may
	// take the shell too. Either way the container must be marked OOMKilled.
	childKilled := st.Code == 0 && strings.Contains(out, "rc=137")
	if !st.OOMKilled || !childKilled && st.Code != 137 {
		t.Fatalf("status %+v, output %q", st, out)
	}
	// Within the limit nothing is killed.
	out, _, st, _ = run(t, e, SpecOptions{Memory: 32 << 20, Args: []string{"sh", "-c", "head -c 4m /dev/zero | tail -c 1 | wc -c"}})
	if st.Code != 0 || st.OOMKilled || strings.TrimSpace(out) != "1" {
		t.Fatalf("status %+v, output %q", st, out)
	}
}

// cgroupFile is a cgroup v1 file of the container seen from inside, or the v2 one.
func cgroupFile(v1, v2 string) string {
	return fmt.Sprintf("cat /sys/fs/cgroup/%s 2>/dev/null || cat /sys/fs/cgroup/%s", v1, v2)
}

func TestCgroupLimitsVisible(t *testing.T) {
	e := newEnv(t)
	script := strings.Join([]string{
		cgroupFile("cpu/cpu.cfs_quota_us", "cpu.max"),
		cgroupFile("cpu/cpu.shares", "cpu.weight"),
		cgroupFile("cpuset/cpuset.cpus", "cpuset.cpus"),
		cgroupFile("memory/memory.limit_in_bytes", "memory.max"),
		cgroupFile("memory/memory.soft_limit_in_bytes", "memory.low"),
		cgroupFile("pids/pids.max", "pids.max"),
	}, "; ")
	out, errOut, st, _ := run(t, e, SpecOptions{NanoCPUs: 5e8, CPUShares: 512, CpusetCpus: "0", Memory: 64 << 20,
		MemoryReservation: 32 << 20, PidsLimit: i64(50), Args: []string{"sh", "-c", script}})
	if st.Code != 0 {
		t.Fatalf("status %+v: %s", st, errOut)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	want := []string{"50000", "512", "0", strconv.Itoa(64 << 20), strconv.Itoa(32 << 20), "50"}
	if cgroup2Unified() {
		want = []string{"50000 100000", "20", "0", strconv.Itoa(64 << 20), strconv.Itoa(32 << 20), "50"}
	}
	if strings.Join(lines, "|") != strings.Join(want, "|") {
		t.Fatalf("cgroup values %q, want %q", lines, want)
	}
}

func TestPidsLimit(t *testing.T) {
	e := newEnv(t)
	_, errOut, _, _ := run(t, e, SpecOptions{PidsLimit: i64(4),
		Args: []string{"sh", "-c", "for i in 1 2 3 4 5 6 7 8; do sleep 1 & done; wait"}})
	if !strings.Contains(errOut, "can't fork") {
		t.Fatalf("forks beyond the limit succeeded: stderr %q", errOut)
	}
	_, errOut, st, _ := run(t, e, SpecOptions{Args: []string{"sh", "-c", "for i in 1 2 3 4 5 6 7 8; do sleep 0.1 & done; wait"}})
	if st.Code != 0 || errOut != "" {
		t.Fatalf("without a limit: %+v %q", st, errOut)
	}
}

func TestUlimitNofile(t *testing.T) {
	e := newEnv(t)
	out, _, st, _ := run(t, e, SpecOptions{Ulimits: []Ulimit{{Name: "nofile", Soft: 1024, Hard: 2048}, {Name: "core", Soft: 0, Hard: 0}},
		Args: []string{"sh", "-c", "ulimit -n; ulimit -Hn; ulimit -c"}})
	if st.Code != 0 || out != "1024\n2048\n0\n" {
		t.Fatalf("status %+v, output %q", st, out)
	}
}

func TestReadonlyRootfsAndTmpfs(t *testing.T) {
	e := newEnv(t)
	script := `touch /newfile 2>&1; echo rc=$?
dd if=/dev/zero of=/scratch/f bs=1024 count=512 2>/dev/null; echo small=$?
dd if=/dev/zero of=/scratch/g bs=1024 count=2048 2>&1 | grep -o "No space left on device"
grep " /scratch " /proc/mounts
grep " /run " /proc/mounts`
	out, _, st, _ := run(t, e, SpecOptions{Readonly: true, Tmpfs: map[string]string{"/scratch": "size=1m,mode=700", "/run": ""},
		Args: []string{"sh", "-c", script}})
	if st.Code != 0 {
		t.Fatalf("status %+v: %s", st, out)
	}
	for _, want := range []string{"Read-only file system", "rc=1", "small=0", "No space left on device", "/scratch tmpfs rw,nosuid,nodev,noexec,relatime,size=1024k,mode=700",
		"/run tmpfs rw,nosuid,nodev,noexec,relatime"} {
		if !strings.Contains(out, want) {
			t.Fatalf("output lacks %q:\n%s", want, out)
		}
	}
	if _, err := os.Stat(busyboxFS + "/newfile"); err == nil {
		t.Fatal("the read-only rootfs was written")
	}
}

func TestCapDropChown(t *testing.T) {
	e := newEnv(t)
	script := "touch /w/f && chown 1 /w/f && echo chowned"
	out, errOut, st, _ := run(t, e, SpecOptions{Tmpfs: map[string]string{"/w": ""}, Args: []string{"sh", "-c", script}})
	if st.Code != 0 || out != "chowned\n" {
		t.Fatalf("with CAP_CHOWN: %+v %q %q", st, out, errOut)
	}
	out, errOut, st, _ = run(t, e, SpecOptions{Tmpfs: map[string]string{"/w": ""}, CapDrop: []string{"CHOWN"}, Args: []string{"sh", "-c", script}})
	if st.Code == 0 || out != "" || !strings.Contains(errOut, "Operation not permitted") {
		t.Fatalf("without CAP_CHOWN: %+v %q %q", st, out, errOut)
	}
}

func TestNoNewPrivilegesAndSecurity(t *testing.T) {
	e := newEnv(t)
	script := "grep -E '^(NoNewPrivs|Seccomp|CapEff):' /proc/self/status"
	out, _, _, _ := run(t, e, SpecOptions{NoNewPrivileges: true, Args: []string{"sh", "-c", script}})
	if !strings.Contains(out, "NoNewPrivs:\t1") || !strings.Contains(out, "Seccomp:\t2") || !strings.Contains(out, "CapEff:\t00000000a80425fb") {
		t.Fatalf("status:\n%s", out)
	}
	out, _, _, _ = run(t, e, SpecOptions{Args: []string{"sh", "-c", script}})
	if !strings.Contains(out, "NoNewPrivs:\t0") {
		t.Fatalf("status:\n%s", out)
	}
	// Privileged: every capability the runtime holds, no seccomp, host devices, writable /sys.
	out, _, _, _ = run(t, e, SpecOptions{Privileged: true, Args: []string{"sh", "-c", script + "; ls /dev; grep ' /sys ' /proc/mounts"}})
	capPrm := selfStatus(t, "CapPrm")
	if !strings.Contains(out, "CapEff:\t"+capPrm) || !strings.Contains(out, "Seccomp:\t0") || !strings.Contains(out, "sysfs rw") {
		t.Fatalf("privileged (runtime CapPrm %s):\n%s", capPrm, out)
	}
	if _, err := os.Stat("/dev/loop-control"); err == nil && !strings.Contains(out, "loop-control") {
		t.Fatalf("privileged container lacks host devices:\n%s", out)
	}
}

func TestSeccompProfiles(t *testing.T) {
	e := newEnv(t)
	// Creating a user namespace needs no capability, but Docker's profile refuses it.
	script := "unshare -U true && echo created"
	out, errOut, st, _ := run(t, e, SpecOptions{Args: []string{"sh", "-c", script}})
	if st.Code == 0 || !strings.Contains(errOut, "Operation not permitted") {
		t.Fatalf("default profile: %+v %q %q", st, out, errOut)
	}
	out, errOut, st, _ = run(t, e, SpecOptions{Seccomp: SeccompUnconfined, Args: []string{"sh", "-c", script}})
	if st.Code != 0 || out != "created\n" {
		t.Fatalf("unconfined: %+v %q %q", st, out, errOut)
	}
	custom := `{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":["mkdir","mkdirat"],"action":"SCMP_ACT_ERRNO"}]}`
	_, errOut, st, _ = run(t, e, SpecOptions{Seccomp: custom, Tmpfs: map[string]string{"/w": ""}, Args: []string{"mkdir", "/w/d"}})
	if st.Code == 0 || !strings.Contains(errOut, "Operation not permitted") {
		t.Fatalf("custom profile: %+v %q", st, errOut)
	}
}

func TestMiscSettings(t *testing.T) {
	e := newEnv(t)
	adj := 500
	script := "cat /proc/sys/net/ipv4/ip_forward /proc/sys/kernel/shmmni /proc/self/oom_score_adj; id; grep ' /dev/shm ' /proc/mounts"
	out, errOut, st, _ := run(t, e, SpecOptions{Sysctls: map[string]string{"net.ipv4.ip_forward": "1", "kernel.shmmni": "2048"},
		OomScoreAdj: &adj, GroupAdd: []string{"wheel", "4242"}, ShmSize: 2 << 20, Args: []string{"sh", "-c", script}})
	if st.Code != 0 {
		t.Fatalf("%+v %q", st, errOut)
	}
	for _, want := range []string{"1\n2048\n500\n", "groups=0(root),10(wheel),4242", "size=2048k"} {
		if !strings.Contains(out, want) {
			t.Fatalf("output lacks %q:\n%s", want, out)
		}
	}
}

func TestInitForwardsSignalsAndReaps(t *testing.T) {
	initPath, err := FindInit()
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal(err)
		}
		t.Skip(err)
	}
	// An orphan exits after its parent: pid 1 must reap it. sleep as pid 1 never
	// does; the init does.
	script := "sh -c 'sleep 0.1 & exit 0'; exec sleep 100"
	zombies := func(x *execEnv, id string) string {
		time.Sleep(500 * time.Millisecond)
		out, _, _ := x.exec(id, ExecProcessOptions{Args: []string{"sh", "-c", `grep -l "^State:.*Z" /proc/[0-9]*/status | wc -l; tr '\0' ' ' </proc/1/cmdline`}}, nil)
		return out
	}
	x := newExecEnv(t, SpecOptions{Args: []string{"sh", "-c", script}})
	if out := zombies(x, "z"); !strings.HasPrefix(out, "1\nsleep 100") {
		t.Fatalf("without init: %q", out)
	}
	x.stop()
	x = newExecEnv(t, SpecOptions{Init: true, InitPath: initPath, Args: []string{"sh", "-c", script}})
	if out := zombies(x, "z"); out != "0\n"+InitDestination+" -- sh -c "+script+" " {
		t.Fatalf("with init: %q", out)
	}
	// sh as pid 1 ignores SIGTERM; behind the init it dies of it.
	ctx := t0ctx(t)
	start := time.Now()
	if err := x.s.Kill(ctx, syscall.SIGTERM, false); err != nil {
		t.Fatal(err)
	}
	st, err := x.s.Wait(ctx)
	if err != nil || st.Code != 143 || time.Since(start) > 5*time.Second {
		t.Fatalf("status %+v, %v after %v", st, err, time.Since(start))
	}

	// Without the init, sh as pid 1 ignores SIGTERM.
	x = newExecEnv(t, SpecOptions{Args: []string{"sh", "-c", "sleep 100"}})
	time.Sleep(100 * time.Millisecond)
	x.s.Kill(ctx, syscall.SIGTERM, false)
	time.Sleep(500 * time.Millisecond)
	if _, status, _ := x.s.State(ctx); status != "running" {
		t.Fatalf("sh as pid 1 did not ignore SIGTERM: %s", status)
	}
	x.stop()
}
