package runtime

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
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
	HostNet   bool          // share the host's network namespace (--network host)
	Readonly  bool          // read-only rootfs
	Mounts    []specs.Mount // extra mounts (volumes, /etc/hosts …), after the defaults

	Memory            int64    // bytes; 0 = no limit
	MemorySwap        int64    // memory+swap bytes; 0 = twice Memory, -1 = unlimited
	MemoryReservation int64    // soft limit in bytes
	NanoCPUs          int64    // CPU quota in 1e-9 CPUs (--cpus)
	CPUShares         int64    // relative weight (--cpu-shares)
	CpusetCpus        string   // CPUs allowed, e.g. "0-1,3"
	PidsLimit         *int64   // nil or <= 0: unlimited
	Ulimits           []Ulimit // replace the default nofile limit or add others
	Privileged        bool     // all capabilities and host devices, no seccomp, no masked paths
	CapAdd, CapDrop   []string // "NET_ADMIN", "CAP_NET_ADMIN" or "ALL"
	NoNewPrivileges   bool
	Seccomp           string            // "" Docker's default, "unconfined", or a profile's JSON
	Tmpfs             map[string]string // container path -> mount options ("size=64m,mode=1777")
	Init              bool              // run InitPath as pid 1 in front of Args
	InitPath          string            // host path of a static init (see FindInit)
	OomScoreAdj       *int              // nil: inherit
	ShmSize           int64             // /dev/shm size in bytes; 0 = 64 MB
	Sysctls           map[string]string // namespaced kernel parameters
	GroupAdd          []string          // supplementary groups, by name or id
}

// SeccompUnconfined is the Seccomp value that disables seccomp filtering.
const SeccompUnconfined = "unconfined"

// InitDestination is where the init binary is mounted in the container.
const InitDestination = "/sbin/docker-init"

// CgroupsPath is the cgroup (relative to each hierarchy's root) of container id.
func CgroupsPath(id string) string { return "/berth/" + id }

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
	if user.AdditionalGids, err = addGroups(o.Rootfs, user.AdditionalGids, o.GroupAdd); err != nil {
		return nil, err
	}
	rlimits, err := processRlimits(o.Ulimits)
	if err != nil {
		return nil, err
	}
	res, err := resources(&o)
	if err != nil {
		return nil, err
	}
	caps, err := capabilities(o.Privileged, o.CapAdd, o.CapDrop)
	if err != nil {
		return nil, err
	}
	if o.OomScoreAdj != nil && (*o.OomScoreAdj < -1000 || *o.OomScoreAdj > 1000) {
		return nil, errdefs.InvalidParameter(fmt.Sprintf("Invalid value %d, range for oom score adj is [-1000, 1000]", *o.OomScoreAdj))
	}
	if o.ShmSize < 0 {
		return nil, errdefs.InvalidParameter("SHM size can not be less than 0")
	}
	sysctl := map[string]string{
		"net.ipv4.ip_unprivileged_port_start": "0",
		"net.ipv4.ping_group_range":           "0 2147483647",
	}
	if o.HostNet {
		sysctl = map[string]string{} // they would change the host's
	}
	for k, v := range o.Sysctls {
		if !namespacedSysctl(k) {
			return nil, errdefs.InvalidParameter(fmt.Sprintf("sysctl '%s' is not allowed", k))
		}
		if o.HostNet && strings.HasPrefix(k, "net.") {
			return nil, errdefs.InvalidParameter(fmt.Sprintf("sysctl '%s' is not allowed in host network namespace", k))
		}
		sysctl[k] = v
	}
	mounts, err := containerMounts(&o)
	if err != nil {
		return nil, err
	}
	args := append([]string(nil), o.Args...)
	if o.Init {
		if !filepath.IsAbs(o.InitPath) {
			return nil, errdefs.InvalidParameter("no init binary: docker-init (tini) was not found")
		}
		if _, err := os.Stat(o.InitPath); err != nil {
			return nil, errdefs.InvalidParameter(fmt.Sprintf("init binary %s: %v", o.InitPath, err))
		}
		args = append([]string{InitDestination, "--"}, args...)
	}

	env := []string{DefaultPathEnv, "HOSTNAME=" + hostname}
	if o.Tty {
		env = append(env, "TERM=xterm")
	}
	env = mergeEnv(env, o.Env)

	namespaces := []specs.LinuxNamespace{
		{Type: specs.PIDNamespace}, {Type: specs.IPCNamespace}, {Type: specs.UTSNamespace},
		{Type: specs.MountNamespace},
	}
	if !o.HostNet {
		namespaces = append(namespaces, specs.LinuxNamespace{Type: specs.NetworkNamespace, Path: o.NetNSPath})
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
			Args:     args,
			Env:      env,
			Cwd:      cwd,
			Capabilities: &specs.LinuxCapabilities{
				Bounding:  caps,
				Effective: caps,
				Permitted: caps,
			},
			Rlimits:         rlimits,
			NoNewPrivileges: o.NoNewPrivileges,
			OOMScoreAdj:     o.OomScoreAdj,
		},
		Root:     &specs.Root{Path: o.Rootfs, Readonly: o.Readonly},
		Hostname: hostname,
		Mounts:   mounts,
		Linux: &specs.Linux{
			Sysctl:        sysctl,
			Resources:     res,
			CgroupsPath:   CgroupsPath(o.ID),
			Namespaces:    namespaces,
			Devices:       defaultDevices(),
			MaskedPaths:   append([]string(nil), maskedPaths...),
			ReadonlyPaths: append([]string(nil), readonlyPaths...),
		},
	}
	res.Devices = defaultDeviceRules()
	if o.Privileged {
		devs, err := hostDevices()
		if err != nil {
			return nil, fmt.Errorf("host devices: %w", err)
		}
		s.Linux.Devices = devs
		res.Devices = []specs.LinuxDeviceCgroup{{Allow: true, Access: "rwm"}}
		s.Linux.MaskedPaths, s.Linux.ReadonlyPaths = nil, nil
		return s, nil // no seccomp, as Docker
	}
	switch o.Seccomp {
	case SeccompUnconfined:
	case "":
		if s.Linux.Seccomp, err = seccomp.GetDefaultProfile(s); err != nil {
			return nil, fmt.Errorf("seccomp profile: %w", err)
		}
	default:
		if s.Linux.Seccomp, err = seccomp.LoadProfile(o.Seccomp, s); err != nil {
			return nil, errdefs.InvalidParameter(fmt.Sprintf("Error loading seccomp profile: %v", err))
		}
	}
	return s, nil
}

// namespacedSysctl reports whether a sysctl belongs to a namespace the
// container has its own of (Docker's allow-list).
func namespacedSysctl(k string) bool {
	switch k {
	case "kernel.msgmax", "kernel.msgmnb", "kernel.msgmni", "kernel.sem", "kernel.shmall",
		"kernel.shmmax", "kernel.shmmni", "kernel.shm_rmid_forced", "kernel.domainname":
		return true
	}
	return strings.HasPrefix(k, "net.") || strings.HasPrefix(k, "fs.mqueue.")
}

// containerMounts returns the default mounts, adjusted for o, followed by the
// caller's mounts and tmpfs mounts ordered parents first.
func containerMounts(o *SpecOptions) ([]specs.Mount, error) {
	var user []specs.Mount
	seen := map[string]bool{}
	for _, m := range o.Mounts {
		d := filepath.Clean(m.Destination)
		if seen[d] {
			return nil, errdefs.InvalidParameter("Duplicate mount point: " + d)
		}
		seen[d] = true
		user = append(user, m)
	}
	for _, dst := range sortedKeys(o.Tmpfs) {
		if !filepath.IsAbs(dst) {
			return nil, errdefs.InvalidParameter(fmt.Sprintf("invalid tmpfs mount path: '%s' mount path must be absolute", dst))
		}
		d := filepath.Clean(dst)
		if d == "/" {
			return nil, errdefs.InvalidParameter("invalid tmpfs mount path: '/' cannot be mounted over")
		}
		if seen[d] {
			return nil, errdefs.InvalidParameter("Duplicate mount point: " + d)
		}
		seen[d] = true
		opts := []string{"noexec", "nosuid", "nodev", "rprivate"}
		if data := o.Tmpfs[dst]; data != "" {
			opts = append(opts, strings.Split(data, ",")...)
		}
		merged, err := mergeTmpfsOptions(opts)
		if err != nil {
			return nil, err
		}
		user = append(user, specs.Mount{Destination: d, Type: "tmpfs", Source: "tmpfs", Options: merged})
	}
	if o.Init {
		user = append(user, specs.Mount{Destination: InitDestination, Type: "bind", Source: o.InitPath, Options: []string{"bind", "ro"}})
	}
	slices.SortStableFunc(user, func(a, b specs.Mount) int {
		return strings.Count(filepath.Clean(a.Destination), "/") - strings.Count(filepath.Clean(b.Destination), "/")
	})

	out := make([]specs.Mount, 0, 8+len(user))
	for _, m := range defaultMounts() {
		if seen[m.Destination] || (seen["/dev"] && strings.HasPrefix(m.Destination, "/dev/")) {
			continue // replaced by the caller's mount
		}
		switch m.Destination {
		case "/dev/shm":
			if o.ShmSize > 0 {
				m.Options = append(m.Options[:len(m.Options)-1:len(m.Options)-1], "size="+strconv.FormatInt(o.ShmSize, 10))
			}
		case "/sys", "/sys/fs/cgroup":
			if o.Privileged {
				m.Options = slices.DeleteFunc(slices.Clone(m.Options), func(s string) bool { return s == "ro" })
				m.Options = append(m.Options, "rw")
			}
		}
		out = append(out, m)
	}
	return append(out, user...), nil
}

func sortedKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// tmpfsFlags are the mount flags a tmpfs option list may hold, each with its
// opposite; a later flag overrides an earlier opposite one.
var tmpfsFlags = map[string]string{
	"ro": "rw", "rw": "ro", "exec": "noexec", "noexec": "exec", "suid": "nosuid", "nosuid": "suid",
	"dev": "nodev", "nodev": "dev", "atime": "noatime", "noatime": "atime", "diratime": "nodiratime",
	"nodiratime": "diratime", "relatime": "norelatime", "norelatime": "relatime",
	"strictatime": "nostrictatime", "nostrictatime": "strictatime", "sync": "async", "async": "sync",
	"dirsync": "", "mand": "nomand", "nomand": "mand",
}

var propagationFlags = []string{"private", "rprivate", "shared", "rshared", "slave", "rslave", "unbindable", "runbindable"}

var tmpfsData = []string{"size", "mode", "uid", "gid", "nr_inodes", "nr_blocks", "mpol", "huge", "inode64", "noswap"}

// mergeTmpfsOptions keeps the last of each option family, in order, and
// refuses options tmpfs does not know.
func mergeTmpfsOptions(opts []string) ([]string, error) {
	var out []string
	seenKey := map[string]bool{}
	seenProp := false
	for i := len(opts) - 1; i >= 0; i-- {
		opt := strings.TrimSpace(opts[i])
		switch {
		case opt == "" || opt == "defaults":
			continue
		case slices.Contains(propagationFlags, opt):
			if seenProp {
				continue
			}
			seenProp = true
		case strings.Contains(opt, "="):
			k, v, _ := strings.Cut(opt, "=")
			if !slices.Contains(tmpfsData, k) || v == "" {
				return nil, errdefs.InvalidParameter(fmt.Sprintf("invalid tmpfs option %q", opt))
			}
			if seenKey[k] {
				continue
			}
			seenKey[k] = true
		default:
			if _, ok := tmpfsFlags[opt]; !ok {
				return nil, errdefs.InvalidParameter(fmt.Sprintf("invalid tmpfs option %q", opt))
			}
			if seenKey[opt] {
				continue
			}
			seenKey[opt] = true
			if opp := tmpfsFlags[opt]; opp != "" {
				seenKey[opp] = true
			}
		}
		out = append(out, opt)
	}
	slices.Reverse(out)
	return out, nil
}

// addGroups appends --group-add groups (names resolved in the rootfs's /etc/group).
func addGroups(rootfs string, gids []uint32, groups []string) ([]uint32, error) {
	if len(groups) == 0 {
		return gids, nil
	}
	var entries []groupEntry
	for _, g := range groups {
		gid, err := strconv.Atoi(g)
		if err != nil {
			if entries == nil {
				b, err := readInRoot(rootfs, "/etc/group")
				if err != nil {
					return nil, err
				}
				entries = parseGroup(b)
			}
			gid = -1
			for _, e := range entries {
				if e.name == g {
					gid = e.gid
					break
				}
			}
			if gid < 0 {
				return nil, errdefs.InvalidParameter(fmt.Sprintf("unable to find group %s: no matching entries in group file", g))
			}
		} else if gid < 0 || gid > maxID {
			return nil, errdefs.InvalidParameter("uids and gids must be in range 0-2147483647")
		}
		if !slices.Contains(gids, uint32(gid)) {
			gids = append(gids, uint32(gid))
		}
	}
	return gids, nil
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
