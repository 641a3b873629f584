package runtime

import (
	"os"
	"reflect"
	goruntime "runtime"
	"slices"
	"strings"
	"testing"

	"github.com/berth-dev/berth/errdefs"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

func specFor(t *testing.T, o SpecOptions) *specs.Spec {
	t.Helper()
	if o.ID == "" {
		o.ID = "c1"
	}
	if o.Rootfs == "" {
		o.Rootfs = fakeRootfs(t, testPasswd, testGroup)
	}
	if o.Args == nil {
		o.Args = []string{"sh"}
	}
	s, err := Spec(o)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func i64(v int64) *int64 { return &v }

func TestSpecResources(t *testing.T) {
	memsw := swapLimitSupported()
	for _, tc := range []struct {
		name  string
		o     SpecOptions
		check func(t *testing.T, r *specs.LinuxResources)
	}{
		{"none", SpecOptions{}, func(t *testing.T, r *specs.LinuxResources) {
			if r.Memory != nil || r.CPU != nil || r.Pids != nil {
				t.Fatalf("limits set: %+v", r)
			}
		}},
		{"memory swap doubles", SpecOptions{Memory: 64 << 20}, func(t *testing.T, r *specs.LinuxResources) {
			if *r.Memory.Limit != 64<<20 {
				t.Fatalf("limit %d", *r.Memory.Limit)
			}
			if memsw && *r.Memory.Swap != 128<<20 {
				t.Fatalf("swap %d, want twice the memory", *r.Memory.Swap)
			}
		}},
		{"memory swap unlimited", SpecOptions{Memory: 64 << 20, MemorySwap: -1}, func(t *testing.T, r *specs.LinuxResources) {
			if memsw && *r.Memory.Swap != -1 {
				t.Fatalf("swap %d", *r.Memory.Swap)
			}
		}},
		{"memory swap set", SpecOptions{Memory: 64 << 20, MemorySwap: 100 << 20, MemoryReservation: 32 << 20}, func(t *testing.T, r *specs.LinuxResources) {
			if (memsw && *r.Memory.Swap != 100<<20) || *r.Memory.Reservation != 32<<20 {
				t.Fatalf("memory %+v", r.Memory)
			}
		}},
		{"cpus", SpecOptions{NanoCPUs: 5e8}, func(t *testing.T, r *specs.LinuxResources) {
			if *r.CPU.Quota != 50000 || *r.CPU.Period != 100000 {
				t.Fatalf("cpu %d/%d", *r.CPU.Quota, *r.CPU.Period)
			}
		}},
		{"shares clamped", SpecOptions{CPUShares: 1}, func(t *testing.T, r *specs.LinuxResources) {
			if *r.CPU.Shares != 2 {
				t.Fatalf("shares %d", *r.CPU.Shares)
			}
		}},
		{"shares", SpecOptions{CPUShares: 512, CpusetCpus: "0"}, func(t *testing.T, r *specs.LinuxResources) {
			if *r.CPU.Shares != 512 || r.CPU.Cpus != "0" {
				t.Fatalf("cpu %+v", r.CPU)
			}
		}},
		{"pids", SpecOptions{PidsLimit: i64(7)}, func(t *testing.T, r *specs.LinuxResources) {
			if *r.Pids.Limit != 7 {
				t.Fatalf("pids %d", *r.Pids.Limit)
			}
		}},
		{"pids unlimited", SpecOptions{PidsLimit: i64(-1)}, func(t *testing.T, r *specs.LinuxResources) {
			if r.Pids != nil {
				t.Fatalf("pids %+v", r.Pids)
			}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := specFor(t, tc.o)
			if len(s.Linux.Resources.Devices) == 0 {
				t.Fatal("device rules lost")
			}
			tc.check(t, s.Linux.Resources)
		})
	}
}

func TestSpecInvalidOptions(t *testing.T) {
	ncpu := goruntime.NumCPU()
	var rl unix.Rlimit
	unix.Getrlimit(unix.RLIMIT_NOFILE, &rl)
	for _, tc := range []struct {
		name string
		o    SpecOptions
		err  string
	}{
		{"tiny memory", SpecOptions{Memory: 1 << 20}, "Minimum memory limit allowed is 6MB"},
		{"swap without memory", SpecOptions{MemorySwap: 64 << 20}, "You should always set the Memory limit when using Memoryswap limit"},
		{"swap below memory", SpecOptions{Memory: 64 << 20, MemorySwap: 32 << 20}, "Minimum memoryswap limit should be larger than memory limit"},
		{"reservation above memory", SpecOptions{Memory: 64 << 20, MemoryReservation: 128 << 20}, "Minimum memory limit can not be less than memory reservation limit"},
		{"too many cpus", SpecOptions{NanoCPUs: int64(ncpu+1) * 1e9}, "Range of CPUs is from 0.01 to"},
		{"too few cpus", SpecOptions{NanoCPUs: 1000}, "Range of CPUs is from 0.01 to"},
		{"bad cpuset", SpecOptions{CpusetCpus: "a-b"}, "Invalid value a-b for cpuset cpus"},
		{"missing cpu", SpecOptions{CpusetCpus: "0,4096"}, "Requested CPUs are not available - requested 0,4096"},
		{"unknown cap", SpecOptions{CapAdd: []string{"FOO"}}, `unknown capability: "CAP_FOO"`},
		{"unknown cap drop", SpecOptions{CapDrop: []string{"cap_bar"}}, `unknown capability: "CAP_BAR"`},
		{"ulimit type", SpecOptions{Ulimits: []Ulimit{{Name: "bogus", Soft: 1, Hard: 1}}}, "invalid ulimit type: bogus"},
		{"ulimit soft above hard", SpecOptions{Ulimits: []Ulimit{{Name: "nofile", Soft: 100, Hard: 10}}}, "ulimit soft limit must be less than or equal to hard limit: 100 > 10"},
		{"oom score", SpecOptions{OomScoreAdj: func() *int { v := 1001; return &v }()}, "range for oom score adj is [-1000, 1000]"},
		{"shm", SpecOptions{ShmSize: -1}, "SHM size can not be less than 0"},
		{"sysctl", SpecOptions{Sysctls: map[string]string{"vm.swappiness": "1"}}, "sysctl 'vm.swappiness' is not allowed"},
		{"tmpfs relative", SpecOptions{Tmpfs: map[string]string{"data": ""}}, "mount path must be absolute"},
		{"tmpfs option", SpecOptions{Tmpfs: map[string]string{"/data": "size=1m,bogus"}}, `invalid tmpfs option "bogus"`},
		{"tmpfs duplicate", SpecOptions{Tmpfs: map[string]string{"/data": ""}, Mounts: []specs.Mount{{Destination: "/data", Type: "bind", Source: "/tmp"}}}, "Duplicate mount point: /data"},
		{"group", SpecOptions{GroupAdd: []string{"nosuchgroup"}}, "unable to find group nosuchgroup"},
		{"init without binary", SpecOptions{Init: true}, "no init binary"},
		{"bad seccomp", SpecOptions{Seccomp: "{not json"}, "Error loading seccomp profile"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			o := tc.o
			o.ID, o.Rootfs, o.Args = "c1", fakeRootfs(t, testPasswd, testGroup), []string{"sh"}
			_, err := Spec(o)
			if err == nil || !strings.Contains(err.Error(), tc.err) || !errdefs.IsInvalidParameter(err) {
				t.Fatalf("got %v, want invalid parameter %q", err, tc.err)
			}
		})
	}
	if !holdsCap(capSysResource) && rl.Max != rlimInfinity {
		o := SpecOptions{ID: "c1", Rootfs: fakeRootfs(t, "", ""), Args: []string{"sh"},
			Ulimits: []Ulimit{{Name: "nofile", Soft: 10, Hard: int64(rl.Max) + 1}}}
		_, err := Spec(o)
		if err == nil || !errdefs.IsInvalidParameter(err) || !strings.Contains(err.Error(), "above the daemon's own hard limit") {
			t.Fatalf("hard nofile above the caller's: %v", err)
		}
	}
}

func TestSpecCapabilities(t *testing.T) {
	all := AllCapabilities()
	without := func(list []string, drop ...string) []string {
		return slices.DeleteFunc(slices.Clone(list), func(c string) bool { return slices.Contains(drop, c) })
	}
	for _, tc := range []struct {
		name       string
		add, drop  []string
		privileged bool
		want       []string
	}{
		{"default", nil, nil, false, DefaultCapabilities},
		{"add short and long", []string{"net_admin", "CAP_SYS_PTRACE"}, nil, false, append(slices.Clone(DefaultCapabilities), "CAP_NET_ADMIN", "CAP_SYS_PTRACE")},
		{"drop", nil, []string{"CHOWN", "cap_kill"}, false, without(DefaultCapabilities, "CAP_CHOWN", "CAP_KILL")},
		{"drop all add one", []string{"NET_BIND_SERVICE"}, []string{"ALL"}, false, []string{"CAP_NET_BIND_SERVICE"}},
		{"add all drop one", []string{"all"}, []string{"MKNOD"}, false, without(all, "CAP_MKNOD")},
		{"privileged", nil, []string{"CHOWN"}, true, all},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := specFor(t, SpecOptions{CapAdd: tc.add, CapDrop: tc.drop, Privileged: tc.privileged})
			c := s.Process.Capabilities
			for _, set := range [][]string{c.Bounding, c.Effective, c.Permitted} {
				if !reflect.DeepEqual(slices.Sorted(slices.Values(set)), slices.Sorted(slices.Values(tc.want))) {
					t.Fatalf("caps %v, want %v", set, tc.want)
				}
			}
		})
	}
	if !slices.Contains(all, "CAP_SYS_ADMIN") || !slices.Contains(all, "CAP_CHOWN") {
		t.Fatalf("all capabilities %v", all)
	}
	if !holdsCap(capSysResource) {
		// A capability the runtime itself lacks would make runc fail: refuse it clearly.
		_, err := Spec(SpecOptions{ID: "c", Rootfs: fakeRootfs(t, "", ""), Args: []string{"sh"}, CapAdd: []string{"SYS_RESOURCE"}})
		if !errdefs.IsInvalidParameter(err) || !strings.Contains(err.Error(), "CAP_SYS_RESOURCE") {
			t.Fatalf("adding an unheld capability: %v", err)
		}
	}
}

func TestSpecPrivileged(t *testing.T) {
	s := specFor(t, SpecOptions{Privileged: true})
	l := s.Linux
	if l.Seccomp != nil || len(l.MaskedPaths) != 0 || len(l.ReadonlyPaths) != 0 {
		t.Fatalf("privileged keeps seccomp %v masked %v readonly %v", l.Seccomp != nil, l.MaskedPaths, l.ReadonlyPaths)
	}
	if len(l.Resources.Devices) != 1 || !l.Resources.Devices[0].Allow || l.Resources.Devices[0].Access != "rwm" {
		t.Fatalf("device rules %+v", l.Resources.Devices)
	}
	paths := map[string]specs.LinuxDevice{}
	for _, d := range l.Devices {
		paths[d.Path] = d
	}
	if d, ok := paths["/dev/null"]; !ok || d.Type != "c" || d.Major != 1 || d.Minor != 3 {
		t.Fatalf("/dev/null %+v", d)
	}
	if _, ok := paths["/dev/console"]; ok {
		t.Fatal("the host console is passed in")
	}
	if _, err := os.Stat("/dev/loop-control"); err == nil {
		if _, ok := paths["/dev/loop-control"]; !ok {
			t.Fatal("/dev/loop-control missing")
		}
	}
	for _, m := range s.Mounts {
		if (m.Destination == "/sys" || m.Destination == "/sys/fs/cgroup") && slices.Contains(m.Options, "ro") {
			t.Fatalf("%s is read-only: %v", m.Destination, m.Options)
		}
	}
}

func TestSpecUlimits(t *testing.T) {
	var rl unix.Rlimit
	unix.Getrlimit(unix.RLIMIT_NOFILE, &rl)
	hard := min(rl.Max, 4096)
	s := specFor(t, SpecOptions{Ulimits: []Ulimit{{Name: "nofile", Soft: 1024, Hard: int64(hard)}, {Name: "core", Soft: 0, Hard: 0}}})
	want := []specs.POSIXRlimit{{Type: "RLIMIT_NOFILE", Soft: 1024, Hard: hard}, {Type: "RLIMIT_CORE"}}
	if !reflect.DeepEqual(s.Process.Rlimits, want) {
		t.Fatalf("rlimits %+v", s.Process.Rlimits)
	}
}

func TestSpecSeccomp(t *testing.T) {
	if s := specFor(t, SpecOptions{Seccomp: SeccompUnconfined}); s.Linux.Seccomp != nil {
		t.Fatal("unconfined has a profile")
	}
	if s := specFor(t, SpecOptions{}); s.Linux.Seccomp == nil || s.Linux.Seccomp.DefaultAction != specs.ActErrno {
		t.Fatal("no default profile")
	}
	// CAP_SYS_ADMIN opens the syscalls Docker's profile gates on it.
	s := specFor(t, SpecOptions{CapAdd: []string{"SYS_ADMIN"}})
	allowed := false
	for _, sc := range s.Linux.Seccomp.Syscalls {
		if slices.Contains(sc.Names, "mount") && sc.Action == specs.ActAllow {
			allowed = true
		}
	}
	if !allowed {
		t.Fatal("mount not allowed with CAP_SYS_ADMIN")
	}
	custom := `{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":["mkdir","mkdirat"],"action":"SCMP_ACT_ERRNO"}]}`
	s = specFor(t, SpecOptions{Seccomp: custom})
	if s.Linux.Seccomp.DefaultAction != specs.ActAllow || len(s.Linux.Seccomp.Syscalls) != 1 || s.Linux.Seccomp.Syscalls[0].Action != specs.ActErrno {
		t.Fatalf("custom profile %+v", s.Linux.Seccomp)
	}
}

func TestSpecMountsAndMisc(t *testing.T) {
	adj := -100
	s := specFor(t, SpecOptions{
		Tmpfs:       map[string]string{"/run": "", "/data/tmp": "size=64m,mode=1777,exec", "/data": "ro"},
		Mounts:      []specs.Mount{{Destination: "/data/vol", Type: "bind", Source: "/tmp"}},
		Init:        true,
		InitPath:    "/bin/sh",
		ShmSize:     1 << 20,
		Sysctls:     map[string]string{"net.ipv4.ip_forward": "1", "kernel.shmmax": "1000000"},
		GroupAdd:    []string{"staff", "4242", "wheel"},
		OomScoreAdj: &adj,
		User:        "app",

		NoNewPrivileges: true,
		Args:            []string{"app", "--flag"},
	})
	byDst := map[string]specs.Mount{}
	var order []string
	for _, m := range s.Mounts {
		byDst[m.Destination] = m
		order = append(order, m.Destination)
	}
	if got := byDst["/run"].Options; !reflect.DeepEqual(got, []string{"noexec", "nosuid", "nodev", "rprivate"}) || byDst["/run"].Type != "tmpfs" {
		t.Fatalf("/run %+v", byDst["/run"])
	}
	if got := byDst["/data/tmp"].Options; !reflect.DeepEqual(got, []string{"nosuid", "nodev", "rprivate", "size=64m", "mode=1777", "exec"}) {
		t.Fatalf("/data/tmp options %v", got)
	}
	// Parents are mounted before their children, whoever asked for them.
	if i, j, k := slices.Index(order, "/data"), slices.Index(order, "/data/tmp"), slices.Index(order, "/data/vol"); i < 0 || i > j || i > k {
		t.Fatalf("mount order %v", order)
	}
	if m := byDst[InitDestination]; m.Source != "/bin/sh" || !slices.Contains(m.Options, "ro") {
		t.Fatalf("init mount %+v", m)
	}
	if !reflect.DeepEqual(s.Process.Args, []string{InitDestination, "--", "app", "--flag"}) {
		t.Fatalf("args %v", s.Process.Args)
	}
	if !slices.Contains(byDst["/dev/shm"].Options, "size=1048576") || slices.Contains(byDst["/dev/shm"].Options, "size=65536k") {
		t.Fatalf("shm %v", byDst["/dev/shm"].Options)
	}
	if s.Linux.Sysctl["net.ipv4.ip_forward"] != "1" || s.Linux.Sysctl["kernel.shmmax"] != "1000000" || s.Linux.Sysctl["net.ipv4.ping_group_range"] == "" {
		t.Fatalf("sysctls %v", s.Linux.Sysctl)
	}
	if got := s.Process.User.AdditionalGids; !reflect.DeepEqual(got, []uint32{1001, 1, 10, 50, 4242}) {
		t.Fatalf("gids %v", got)
	}
	if s.Process.OOMScoreAdj == nil || *s.Process.OOMScoreAdj != -100 || !s.Process.NoNewPrivileges {
		t.Fatalf("process %+v", s.Process)
	}
	// A caller's mount over a default one replaces it.
	s = specFor(t, SpecOptions{Tmpfs: map[string]string{"/dev/shm": "size=8m"}})
	n := 0
	for _, m := range s.Mounts {
		if m.Destination == "/dev/shm" {
			n++
			if !slices.Contains(m.Options, "size=8m") {
				t.Fatalf("shm %v", m.Options)
			}
		}
	}
	if n != 1 {
		t.Fatalf("%d /dev/shm mounts", n)
	}
}

func TestMergeTmpfsOptions(t *testing.T) {
	for _, tc := range []struct {
		in   []string
		want []string
		err  bool
	}{
		{[]string{"noatime", "ro", "size=10k", "defaults", "atime", "defaults", "rw", "rprivate", "size=1024k", "slave"}, []string{"atime", "rw", "size=1024k", "slave"}, false},
		{[]string{"noexec", "nosuid", "nodev", "rprivate", "exec"}, []string{"nosuid", "nodev", "rprivate", "exec"}, false},
		{[]string{"size"}, nil, true},
		{[]string{"uid=1000", "gid=1000", "mode=700"}, []string{"uid=1000", "gid=1000", "mode=700"}, false},
		{[]string{"bind"}, nil, true},
	} {
		got, err := mergeTmpfsOptions(tc.in)
		if (err != nil) != tc.err || (!tc.err && !reflect.DeepEqual(got, tc.want)) {
			t.Errorf("%v: got %v, %v; want %v", tc.in, got, err, tc.want)
		}
	}
}

func TestExecProcess(t *testing.T) {
	root := fakeRootfs(t, testPasswd, testGroup)
	s := specFor(t, SpecOptions{Rootfs: root, Env: []string{"A=1", "B=2"}, Cwd: "/srv", CapDrop: []string{"CHOWN"},
		NoNewPrivileges: true, Ulimits: []Ulimit{{Name: "core", Soft: 1, Hard: 1}}, GroupAdd: []string{"staff"}})
	p, err := ExecProcess(s, ExecProcessOptions{Args: []string{"ls", "-l"}, Env: []string{"B=3", "C=4"}})
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(p.Args, []string{"ls", "-l"}) || p.Cwd != "/srv" || p.Terminal || !p.NoNewPrivileges {
		t.Fatalf("process %+v", p)
	}
	if want := []string{DefaultPathEnv, "HOSTNAME=c1", "A=1", "B=3", "C=4"}; !reflect.DeepEqual(p.Env, want) {
		t.Fatalf("env %v", p.Env)
	}
	if slices.Contains(p.Capabilities.Effective, "CAP_CHOWN") || !reflect.DeepEqual(p.Capabilities.Bounding, s.Process.Capabilities.Bounding) {
		t.Fatalf("caps %+v", p.Capabilities)
	}
	if !reflect.DeepEqual(p.Rlimits, s.Process.Rlimits) || p.User.UID != 0 || !slices.Contains(p.User.AdditionalGids, 50) {
		t.Fatalf("rlimits %v user %+v", p.Rlimits, p.User)
	}
	// Changing the exec's process leaves the container's spec alone.
	p.Capabilities.Effective[0] = "CAP_X"
	p.User.AdditionalGids[0] = 99
	if s.Process.Capabilities.Effective[0] == "CAP_X" || s.Process.User.AdditionalGids[0] == 99 {
		t.Fatal("ExecProcess aliases the container spec")
	}

	p, err = ExecProcess(s, ExecProcessOptions{Args: []string{"sh"}, User: "app", Cwd: "/tmp", Tty: true, Privileged: true, GroupAdd: []string{"wheel"}})
	if err != nil {
		t.Fatal(err)
	}
	if p.User.UID != 1000 || p.User.GID != 1001 || !slices.Contains(p.User.AdditionalGids, 10) || p.Cwd != "/tmp" || !p.Terminal {
		t.Fatalf("process %+v", p)
	}
	if !slices.Contains(p.Env, "TERM=xterm") || !reflect.DeepEqual(p.Capabilities.Effective, AllCapabilities()) {
		t.Fatalf("env %v caps %v", p.Env, p.Capabilities.Effective)
	}
	for _, o := range []ExecProcessOptions{{}, {Args: []string{"sh"}, Cwd: "tmp"}, {Args: []string{"sh"}, User: "ghost"}} {
		if _, err := ExecProcess(s, o); !errdefs.IsInvalidParameter(err) {
			t.Fatalf("%+v: %v", o, err)
		}
	}
}

func TestFindInit(t *testing.T) {
	p, err := FindInit()
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal(err)
		}
		t.Skip(err)
	}
	if _, ok := staticExecutable(p); !ok {
		t.Fatalf("%s is not a static executable", p)
	}
	if _, ok := staticExecutable("/bin/ls"); ok {
		t.Fatal("/bin/ls taken for a static binary")
	}
}
