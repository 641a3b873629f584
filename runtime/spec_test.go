package runtime

import (
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/berth-dev/berth/errdefs"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

const testPasswd = `root:x:0:0:root:/root:/bin/sh
daemon:x:1:1:daemon:/usr/sbin:/bin/false
# a comment
app:x:1000:1001:app:/home/app:/bin/sh
nobody:x:65534:65534:nobody:/:/bin/false
broken:x:notanumber:1::/:
`

const testGroup = `root:x:0:
daemon:x:1:app
wheel:x:10:root,app
appgrp:x:1001:
staff:x:50:app
nogroup:x:65534:
`

// fakeRootfs makes a rootfs with /etc/passwd and /etc/group.
func fakeRootfs(t *testing.T, passwd, group string) string {
	t.Helper()
	root := t.TempDir()
	os.MkdirAll(filepath.Join(root, "etc"), 0o755)
	if passwd != "" {
		os.WriteFile(filepath.Join(root, "etc/passwd"), []byte(passwd), 0o644)
	}
	if group != "" {
		os.WriteFile(filepath.Join(root, "etc/group"), []byte(group), 0o644)
	}
	return root
}

func TestResolveUser(t *testing.T) {
	root := fakeRootfs(t, testPasswd, testGroup)
	for _, tc := range []struct {
		spec     string
		uid, gid uint32
		groups   []uint32
		err      string
	}{
		{spec: "", uid: 0, gid: 0, groups: []uint32{0, 10}},
		{spec: "root", uid: 0, gid: 0, groups: []uint32{0, 10}},
		{spec: "0", uid: 0, gid: 0, groups: []uint32{0, 10}},
		{spec: "app", uid: 1000, gid: 1001, groups: []uint32{1001, 1, 10, 50}},
		{spec: "1000", uid: 1000, gid: 1001, groups: []uint32{1001, 1, 10, 50}},
		{spec: "app:staff", uid: 1000, gid: 50, groups: []uint32{50}},
		{spec: "app:0", uid: 1000, gid: 0, groups: []uint32{0}},
		{spec: "1000:1000", uid: 1000, gid: 1000, groups: []uint32{1000}},
		{spec: "4242", uid: 4242, gid: 0, groups: []uint32{0}},
		{spec: "4242:4343", uid: 4242, gid: 4343, groups: []uint32{4343}},
		{spec: "nobody:nogroup", uid: 65534, gid: 65534, groups: []uint32{65534}},
		{spec: "nosuch", err: "unable to find user nosuch: no matching entries in passwd file"},
		{spec: "app:nosuch", err: "unable to find group nosuch: no matching entries in group file"},
		{spec: "-1", err: "uids and gids must be in range 0-2147483647"},
		{spec: "1:-5", err: "uids and gids must be in range 0-2147483647"},
		{spec: "broken", err: "unable to find user broken"},
	} {
		t.Run(tc.spec, func(t *testing.T) {
			u, err := ResolveUser(root, tc.spec)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) || !errdefs.IsInvalidParameter(err) {
					t.Fatalf("got %+v, %v; want error %q", u, err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if u.UID != tc.uid || u.GID != tc.gid || !reflect.DeepEqual(u.AdditionalGids, tc.groups) {
				t.Fatalf("got %d:%d %v, want %d:%d %v", u.UID, u.GID, u.AdditionalGids, tc.uid, tc.gid, tc.groups)
			}
		})
	}
}

func TestLookupID(t *testing.T) {
	root := fakeRootfs(t, testPasswd, testGroup)
	for _, tc := range []struct {
		file, name string
		id         int
		err        string
	}{
		{"/etc/passwd", "app", 1000, ""},
		{"/etc/passwd", "4242", 4242, ""},
		{"/etc/group", "staff", 50, ""},
		{"/etc/group", "app", 0, "no such group: app"}, // a user's name is not a group's
		{"/etc/passwd", "nosuch", 0, "no such user: nosuch"},
		{"/etc/passwd", "-1", 0, "uids and gids must be in range"},
	} {
		id, err := LookupID(root, tc.file, tc.name)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("%s %s: got %d, %v; want error %q", tc.file, tc.name, id, err, tc.err)
			}
			continue
		}
		if err != nil || id != tc.id {
			t.Errorf("%s %s: got %d, %v; want %d", tc.file, tc.name, id, err, tc.id)
		}
	}
	if _, err := LookupID(fakeRootfs(t, "", ""), "/etc/passwd", "app"); err == nil {
		t.Error("a name resolved without /etc/passwd")
	}
	if id, err := LookupID("", "/etc/group", "7"); err != nil || id != 7 {
		t.Errorf("a number without a root filesystem: %d, %v", id, err)
	}
}

func TestResolveUserMissingFiles(t *testing.T) {
	root := fakeRootfs(t, "", "")
	if u, err := ResolveUser(root, "123:456"); err != nil || u.UID != 123 || u.GID != 456 {
		t.Fatalf("%+v %v", u, err)
	}
	if u, err := ResolveUser(root, ""); err != nil || u.UID != 0 || u.GID != 0 {
		t.Fatalf("%+v %v", u, err)
	}
	if _, err := ResolveUser(root, "app"); err == nil {
		t.Fatal("named user resolved without /etc/passwd")
	}
	// A rootfs without /etc at all.
	if u, err := ResolveUser(t.TempDir(), "7"); err != nil || u.UID != 7 {
		t.Fatalf("%+v %v", u, err)
	}
}

// A malicious image's /etc/passwd symlink must never make the daemon read a host file.
func TestResolveUserSymlinkEscape(t *testing.T) {
	host := t.TempDir()
	hostPasswd := filepath.Join(host, "passwd")
	os.WriteFile(hostPasswd, []byte("evil:x:4242:4242::/:/bin/sh\n"), 0o644)
	hostGroup := filepath.Join(host, "group")
	os.WriteFile(hostGroup, []byte("evilgrp:x:4343:root\n"), 0o644)
	depth := strings.Repeat("../", strings.Count(host, "/")+3)
	for _, tc := range []struct{ name, passwd, group string }{
		{"absolute", hostPasswd, hostGroup},
		{"relative", depth + strings.TrimPrefix(hostPasswd, "/"), depth + strings.TrimPrefix(hostGroup, "/")},
		{"via dir", "../../../../../../../../" + strings.TrimPrefix(host, "/") + "/passwd", "/" + strings.TrimPrefix(hostGroup, "/")},
	} {
		t.Run(tc.name, func(t *testing.T) {
			root := fakeRootfs(t, "", "")
			if err := os.Symlink(tc.passwd, filepath.Join(root, "etc/passwd")); err != nil {
				t.Fatal(err)
			}
			os.Symlink(tc.group, filepath.Join(root, "etc/group"))
			if u, err := ResolveUser(root, "evil"); err == nil {
				t.Fatalf("resolved user from a file outside the rootfs: %+v", u)
			}
			u, err := ResolveUser(root, "root:evilgrp")
			if err == nil {
				t.Fatalf("resolved group from a file outside the rootfs: %+v", u)
			}
		})
	}
	// The host's real /etc/passwd through an absolute link.
	root := fakeRootfs(t, "", "")
	os.Symlink("/etc/passwd", filepath.Join(root, "etc/passwd"))
	if u, err := ResolveUser(root, "daemon"); err == nil && u.UID != 0 {
		t.Fatalf("read the host's /etc/passwd: %+v", u)
	}
	// A symlink that stays inside the rootfs is followed.
	root = fakeRootfs(t, "", "")
	os.MkdirAll(filepath.Join(root, "real"), 0o755)
	os.WriteFile(filepath.Join(root, "real/pw"), []byte("inside:x:77:78::/:\n"), 0o644)
	os.Symlink("/real/pw", filepath.Join(root, "etc/passwd"))
	if u, err := ResolveUser(root, "inside"); err != nil || u.UID != 77 || u.GID != 78 {
		t.Fatalf("%+v %v", u, err)
	}
}

func TestResolveUserFifoDoesNotBlock(t *testing.T) {
	root := fakeRootfs(t, "", "")
	if err := unix.Mkfifo(filepath.Join(root, "etc/passwd"), 0o644); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() {
		_, err := ResolveUser(root, "root")
		done <- err
	}()
	select {
	case err := <-done:
		if err == nil {
			t.Fatal("a FIFO /etc/passwd was accepted")
		}
	case <-time.After(5 * time.Second):
		t.Fatal("ResolveUser blocked on a FIFO")
	}
}

func TestSpecDefaults(t *testing.T) {
	root := fakeRootfs(t, testPasswd, testGroup)
	s, err := Spec(SpecOptions{ID: "0123456789abcdef", Rootfs: root, Args: []string{"sh", "-c", "true"}})
	if err != nil {
		t.Fatal(err)
	}
	p := s.Process
	if !reflect.DeepEqual(p.Args, []string{"sh", "-c", "true"}) || p.Cwd != "/" || p.Terminal || p.NoNewPrivileges {
		t.Fatalf("process %+v", p)
	}
	if s.Hostname != "0123456789ab" || s.Root.Path != root || s.Root.Readonly {
		t.Fatalf("hostname %q root %+v", s.Hostname, s.Root)
	}
	wantEnv := []string{DefaultPathEnv, "HOSTNAME=0123456789ab"}
	if !reflect.DeepEqual(p.Env, wantEnv) {
		t.Fatalf("env %v", p.Env)
	}
	// Capabilities: exactly Docker's default set.
	want := []string{"CAP_AUDIT_WRITE", "CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_FOWNER", "CAP_FSETID", "CAP_KILL", "CAP_MKNOD",
		"CAP_NET_BIND_SERVICE", "CAP_NET_RAW", "CAP_SETFCAP", "CAP_SETGID", "CAP_SETPCAP", "CAP_SETUID", "CAP_SYS_CHROOT"}
	for name, set := range map[string][]string{"bounding": p.Capabilities.Bounding, "effective": p.Capabilities.Effective, "permitted": p.Capabilities.Permitted} {
		got := slices.Sorted(slices.Values(set))
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("%s caps %v", name, got)
		}
	}
	if len(p.Capabilities.Inheritable) != 0 || len(p.Capabilities.Ambient) != 0 {
		t.Fatalf("inheritable/ambient caps %+v", p.Capabilities)
	}
	// Rlimits never exceed what the caller may grant.
	var rl syscall.Rlimit
	syscall.Getrlimit(syscall.RLIMIT_NOFILE, &rl)
	if len(p.Rlimits) != 1 || p.Rlimits[0].Type != "RLIMIT_NOFILE" {
		t.Fatalf("rlimits %+v", p.Rlimits)
	}
	if r := p.Rlimits[0]; r.Hard != min(1048576, rl.Max) || r.Soft != r.Hard || r.Hard > rl.Max {
		t.Fatalf("nofile %+v with caller hard limit %d", r, rl.Max)
	}
	l := s.Linux
	if l.CgroupsPath != "/berth/0123456789abcdef" {
		t.Fatalf("cgroups path %q", l.CgroupsPath)
	}
	var ns []string
	for _, n := range l.Namespaces {
		if n.Path != "" {
			t.Fatalf("namespace %+v joins a path", n)
		}
		ns = append(ns, string(n.Type))
	}
	for _, n := range []string{"pid", "ipc", "uts", "mount", "network"} {
		if !slices.Contains(ns, n) {
			t.Fatalf("namespaces %v lack %s", ns, n)
		}
	}
	for _, mp := range []string{"/proc/kcore", "/proc/keys", "/proc/timer_list", "/sys/firmware", "/proc/acpi", "/proc/scsi"} {
		if !slices.Contains(l.MaskedPaths, mp) {
			t.Fatalf("masked paths %v lack %s", l.MaskedPaths, mp)
		}
	}
	for _, rp := range []string{"/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"} {
		if !slices.Contains(l.ReadonlyPaths, rp) {
			t.Fatalf("readonly paths %v lack %s", l.ReadonlyPaths, rp)
		}
	}
	mounts := map[string]specs.Mount{}
	for _, m := range s.Mounts {
		mounts[m.Destination] = m
	}
	for dst, typ := range map[string]string{"/proc": "proc", "/dev": "tmpfs", "/dev/pts": "devpts", "/dev/shm": "tmpfs", "/dev/mqueue": "mqueue", "/sys": "sysfs", "/sys/fs/cgroup": "cgroup"} {
		if mounts[dst].Type != typ {
			t.Fatalf("mount %s = %+v", dst, mounts[dst])
		}
	}
	if !slices.Contains(mounts["/sys"].Options, "ro") || !slices.Contains(mounts["/sys/fs/cgroup"].Options, "ro") || !slices.Contains(mounts["/dev/shm"].Options, "size=65536k") {
		t.Fatal("sys, cgroup must be read-only and shm 64m")
	}
	var devs []string
	for _, d := range l.Devices {
		devs = append(devs, d.Path)
	}
	if !reflect.DeepEqual(devs, []string{"/dev/null", "/dev/zero", "/dev/full", "/dev/random", "/dev/urandom", "/dev/tty"}) {
		t.Fatalf("devices %v", devs)
	}
	rules := l.Resources.Devices
	if rules[0].Allow || rules[0].Access != "rwm" || rules[0].Type != "" {
		t.Fatalf("first device rule must deny all: %+v", rules[0])
	}
	if l.Seccomp == nil || l.Seccomp.DefaultAction != specs.ActErrno || len(l.Seccomp.Syscalls) == 0 || len(l.Seccomp.Architectures) == 0 {
		t.Fatalf("seccomp %+v", l.Seccomp)
	}
	// The default profile allows mount only with CAP_SYS_ADMIN, which is not granted.
	for _, sc := range l.Seccomp.Syscalls {
		if slices.Contains(sc.Names, "mount") && sc.Action == specs.ActAllow {
			t.Fatal("seccomp allows mount without CAP_SYS_ADMIN")
		}
	}
}

func TestSpecOptions(t *testing.T) {
	root := fakeRootfs(t, testPasswd, testGroup)
	s, err := Spec(SpecOptions{
		ID: "c1", Hostname: "web", Rootfs: root, Args: []string{"app"}, Tty: true, Readonly: true,
		Env: []string{"PATH=/app/bin", "FOO=bar", "HOSTNAME=override"},
		Cwd: "/srv", User: "app", NetNSPath: "/var/run/netns/x",
		Mounts: []specs.Mount{{Destination: "/data", Type: "bind", Source: "/tmp", Options: []string{"rbind"}}},
	})
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(s.Process.Env, []string{"PATH=/app/bin", "HOSTNAME=override", "TERM=xterm", "FOO=bar"}) {
		t.Fatalf("env %v", s.Process.Env)
	}
	if !s.Process.Terminal || s.Process.Cwd != "/srv" || !s.Root.Readonly || s.Hostname != "web" || s.Process.User.UID != 1000 {
		t.Fatalf("spec %+v", s.Process)
	}
	joined := false
	for _, n := range s.Linux.Namespaces {
		if n.Type == specs.NetworkNamespace {
			joined = n.Path == "/var/run/netns/x"
		}
	}
	if !joined {
		t.Fatalf("namespaces %+v", s.Linux.Namespaces)
	}
	if last := s.Mounts[len(s.Mounts)-1]; last.Destination != "/data" {
		t.Fatalf("extra mount not appended: %+v", last)
	}
	host, err := Spec(SpecOptions{ID: "c2", Rootfs: root, Args: []string{"app"}, HostNet: true})
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range host.Linux.Namespaces {
		if n.Type == specs.NetworkNamespace {
			t.Fatalf("host network still has a network namespace: %+v", host.Linux.Namespaces)
		}
	}
	if len(host.Linux.Sysctl) != 0 {
		t.Fatalf("host network gets net sysctls that would change the host: %v", host.Linux.Sysctl)
	}
	if _, err := Spec(SpecOptions{ID: "c3", Rootfs: root, Args: []string{"app"}, HostNet: true, Sysctls: map[string]string{"net.ipv4.ip_forward": "1"}}); err == nil {
		t.Fatal("a net sysctl with the host network was accepted")
	}
}

func TestSpecInvalid(t *testing.T) {
	root := fakeRootfs(t, testPasswd, testGroup)
	for _, tc := range []struct {
		name string
		o    SpecOptions
		err  string
	}{
		{"no command", SpecOptions{ID: "c", Rootfs: root}, "No command specified"},
		{"relative cwd", SpecOptions{ID: "c", Rootfs: root, Args: []string{"x"}, Cwd: "srv"}, "the working directory 'srv' is invalid, it needs to be an absolute path"},
		{"relative rootfs", SpecOptions{ID: "c", Rootfs: "rootfs", Args: []string{"x"}}, "not an absolute path"},
		{"unknown user", SpecOptions{ID: "c", Rootfs: root, Args: []string{"x"}, User: "ghost"}, "unable to find user ghost"},
		{"no id", SpecOptions{Rootfs: root, Args: []string{"x"}}, "container id is empty"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Spec(tc.o)
			if err == nil || !strings.Contains(err.Error(), tc.err) || !errdefs.IsInvalidParameter(err) {
				t.Fatalf("got %v, want %q", err, tc.err)
			}
		})
	}
}
