package runtime

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/berth-dev/berth/errdefs"
	"github.com/moby/profiles/seccomp"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// SpecOptions are the container settings Spec turns into an OCI runtime spec.
type SpecOptions struct {
	ID        string
	Hostname  string        // defaults to the first 12 characters of ID
	Rootfs    string        // absolute path of the mounted rootfs
	Args      []string      // entrypoint + cmd, as decided by the caller
	Env       []string      // image env then user env; overrides the defaults
	Cwd       string        // defaults to "/"
	User      string        // "", uid, uid:gid, name, name:group
	Tty       bool          // allocate a terminal
	NetNSPath string        // join this network namespace instead of a new one
	Readonly  bool          // read-only rootfs
	Mounts    []specs.Mount // extra mounts (volumes, /etc/hosts …), after the defaults
}

// DefaultPathEnv is the PATH a container gets when its image sets none.
const DefaultPathEnv = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

// DefaultCapabilities is Docker's default capability set.
var DefaultCapabilities = []string{
	"CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_FSETID", "CAP_FOWNER", "CAP_MKNOD",
	"CAP_NET_RAW", "CAP_SETGID", "CAP_SETUID", "CAP_SETFCAP", "CAP_SETPCAP",
	"CAP_NET_BIND_SERVICE", "CAP_SYS_CHROOT", "CAP_KILL", "CAP_AUDIT_WRITE",
}

// maxNofile is Docker's default RLIMIT_NOFILE for containers.
const maxNofile = 1048576

var maskedPaths = []string{
	"/proc/asound", "/proc/acpi", "/proc/interrupts", "/proc/kcore", "/proc/keys",
	"/proc/latency_stats", "/proc/timer_list", "/proc/timer_stats", "/proc/sched_debug",
	"/proc/scsi", "/sys/firmware", "/sys/devices/virtual/powercap",
}

var readonlyPaths = []string{
	"/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger",
}

func int64p(v int64) *int64 { return &v }

// Spec builds the OCI runtime spec for a container with Docker's defaults.
func Spec(o SpecOptions) (*specs.Spec, error) {
	if o.ID == "" {
		return nil, errdefs.InvalidParameter("container id is empty")
	}
	if !filepath.IsAbs(o.Rootfs) {
		return nil, errdefs.InvalidParameter(fmt.Sprintf("rootfs %q is not an absolute path", o.Rootfs))
	}
	if len(o.Args) == 0 || o.Args[0] == "" {
		return nil, errdefs.InvalidParameter("No command specified")
	}
	cwd := o.Cwd
	if cwd == "" {
		cwd = "/"
	}
	if !strings.HasPrefix(cwd, "/") {
		return nil, errdefs.InvalidParameter(fmt.Sprintf("the working directory '%s' is invalid, it needs to be an absolute path", o.Cwd))
	}
	hostname := o.Hostname
	if hostname == "" {
		hostname = o.ID
		if len(hostname) > 12 {
			hostname = hostname[:12]
		}
	}
	user, err := ResolveUser(o.Rootfs, o.User)
	if err != nil {
		return nil, err
	}
	nofile, err := nofileLimit()
	if err != nil {
		return nil, err
	}

	env := []string{DefaultPathEnv, "HOSTNAME=" + hostname}
	if o.Tty {
		env = append(env, "TERM=xterm")
	}
	env = mergeEnv(env, o.Env)

	caps := append([]string(nil), DefaultCapabilities...)
	netns := specs.LinuxNamespace{Type: specs.NetworkNamespace, Path: o.NetNSPath}
	namespaces := []specs.LinuxNamespace{
		{Type: specs.PIDNamespace}, {Type: specs.IPCNamespace}, {Type: specs.UTSNamespace},
		{Type: specs.MountNamespace}, netns,
	}
	if cgroup2Unified() {
		// Docker's default cgroupns mode is private on cgroup v2, host on v1.
		namespaces = append(namespaces, specs.LinuxNamespace{Type: specs.CgroupNamespace})
	}

	s := &specs.Spec{
		Version: specs.Version,
		Process: &specs.Process{
			Terminal: o.Tty,
			User:     user,
			Args:     append([]string(nil), o.Args...),
			Env:      env,
			Cwd:      cwd,
			Capabilities: &specs.LinuxCapabilities{
				Bounding:  caps,
				Effective: caps,
				Permitted: caps,
			},
			Rlimits: []specs.POSIXRlimit{{Type: "RLIMIT_NOFILE", Hard: nofile, Soft: nofile}},
		},
		Root:     &specs.Root{Path: o.Rootfs, Readonly: o.Readonly},
		Hostname: hostname,
		Mounts:   append(defaultMounts(), o.Mounts...),
		Linux: &specs.Linux{
			Sysctl: map[string]string{
				"net.ipv4.ip_unprivileged_port_start": "0",
				"net.ipv4.ping_group_range":           "0 2147483647",
			},
			Resources:     &specs.LinuxResources{Devices: defaultDeviceRules()},
			CgroupsPath:   "/berth/" + o.ID,
			Namespaces:    namespaces,
			Devices:       defaultDevices(),
			MaskedPaths:   append([]string(nil), maskedPaths...),
			ReadonlyPaths: append([]string(nil), readonlyPaths...),
		},
	}
	sc, err := seccomp.GetDefaultProfile(s)
	if err != nil {
		return nil, fmt.Errorf("seccomp profile: %w", err)
	}
	s.Linux.Seccomp = sc
	return s, nil
}

func defaultMounts() []specs.Mount {
	return []specs.Mount{
		{Destination: "/proc", Type: "proc", Source: "proc", Options: []string{"nosuid", "noexec", "nodev"}},
		{Destination: "/dev", Type: "tmpfs", Source: "tmpfs", Options: []string{"nosuid", "strictatime", "mode=755", "size=65536k"}},
		{Destination: "/dev/pts", Type: "devpts", Source: "devpts", Options: []string{"nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"}},
		{Destination: "/sys", Type: "sysfs", Source: "sysfs", Options: []string{"nosuid", "noexec", "nodev", "ro"}},
		{Destination: "/sys/fs/cgroup", Type: "cgroup", Source: "cgroup", Options: []string{"ro", "nosuid", "noexec", "nodev"}},
		{Destination: "/dev/mqueue", Type: "mqueue", Source: "mqueue", Options: []string{"nosuid", "noexec", "nodev"}},
		{Destination: "/dev/shm", Type: "tmpfs", Source: "shm", Options: []string{"nosuid", "noexec", "nodev", "mode=1777", "size=65536k"}},
	}
}

// defaultDeviceRules is Docker's device cgroup allow-list.
func defaultDeviceRules() []specs.LinuxDeviceCgroup {
	rule := func(typ string, major, minor int64) specs.LinuxDeviceCgroup {
		r := specs.LinuxDeviceCgroup{Allow: true, Type: typ, Access: "rwm"}
		if major >= 0 {
			r.Major = int64p(major)
		}
		if minor >= 0 {
			r.Minor = int64p(minor)
		}
		return r
	}
	mknod := func(typ string) specs.LinuxDeviceCgroup {
		return specs.LinuxDeviceCgroup{Allow: true, Type: typ, Access: "m"}
	}
	return []specs.LinuxDeviceCgroup{
		{Allow: false, Access: "rwm"},
		mknod("c"), mknod("b"),
		rule("c", 1, 3),    // null
		rule("c", 1, 5),    // zero
		rule("c", 1, 7),    // full
		rule("c", 1, 8),    // random
		rule("c", 1, 9),    // urandom
		rule("c", 5, 0),    // tty
		rule("c", 5, 1),    // console
		rule("c", 5, 2),    // ptmx
		rule("c", 136, -1), // pts
		rule("c", 10, 200), // tun
	}
}

func defaultDevices() []specs.LinuxDevice {
	dev := func(path string, major, minor int64) specs.LinuxDevice {
		mode := os.FileMode(0o666)
		var zero uint32
		return specs.LinuxDevice{Path: path, Type: "c", Major: major, Minor: minor, FileMode: &mode, UID: &zero, GID: &zero}
	}
	return []specs.LinuxDevice{
		dev("/dev/null", 1, 3), dev("/dev/zero", 1, 5), dev("/dev/full", 1, 7),
		dev("/dev/random", 1, 8), dev("/dev/urandom", 1, 9), dev("/dev/tty", 5, 0),
	}
}

// nofileLimit is min(1048576, the caller's hard RLIMIT_NOFILE): runc cannot raise
// a hard limit without CAP_SYS_RESOURCE.
func nofileLimit() (uint64, error) {
	var rl unix.Rlimit
	if err := unix.Getrlimit(unix.RLIMIT_NOFILE, &rl); err != nil {
		return 0, fmt.Errorf("getrlimit: %w", err)
	}
	return min(uint64(maxNofile), rl.Max), nil
}

// cgroup2Unified reports whether /sys/fs/cgroup is a cgroup v2 mount.
func cgroup2Unified() bool {
	var st unix.Statfs_t
	return unix.Statfs("/sys/fs/cgroup", &st) == nil && st.Type == unix.CGROUP2_SUPER_MAGIC
}

// mergeEnv replaces the entries of base whose keys appear in over and appends the rest.
func mergeEnv(base, over []string) []string {
	out := append([]string(nil), base...)
	idx := make(map[string]int, len(out)+len(over))
	for i, kv := range out {
		idx[envKey(kv)] = i
	}
	for _, kv := range over {
		k := envKey(kv)
		if i, ok := idx[k]; ok {
			out[i] = kv
			continue
		}
		idx[k] = len(out)
		out = append(out, kv)
	}
	return out
}

func envKey(kv string) string {
	if i := strings.IndexByte(kv, '='); i >= 0 {
		return kv[:i]
	}
	return kv
}
