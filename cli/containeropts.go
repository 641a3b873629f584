package cli

import (
	"bufio"
	"bytes"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"net"
	"net/netip"
	"os"
	"reflect"
	"slices"
	"sort"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/docker/go-units"
	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/mount"
	"github.com/moby/moby/api/types/network"
	"github.com/spf13/pflag"
)

// containerFlags are the flags of run and create that shape the container's configuration.
type containerFlags struct {
	attach      []string
	env         []string
	envFiles    []string
	labels      []string
	labelFiles  []string
	workdir     string
	user        string
	entrypoint  string
	hostname    string
	domainname  string
	interactive bool
	tty         bool
	autoRemove  bool
	init        bool
	restart     string
	stopSignal  string
	stopTimeout int
	runtime     string

	// Resources.
	memory            memBytes
	memoryReservation memBytes
	memorySwap        memSwapBytes
	swappiness        int64
	oomKillDisable    bool
	oomScoreAdj       int
	cpus              nanoCPUs
	cpuShares         int64
	cpuPeriod         int64
	cpuQuota          int64
	cpusetCpus        string
	cpusetMems        string
	pidsLimit         int64
	ulimits           ulimitsValue
	shmSize           memBytes
	cgroupParent      string

	// Security.
	privileged  bool
	capAdd      []string
	capDrop     []string
	readOnly    bool
	securityOpt []string
	groupAdd    []string
	sysctls     mapValue

	// Storage and logging.
	volumes      []string
	mounts       []mount.Mount
	volumesFrom  []string
	volumeDriver string
	tmpfs        []string
	logDriver    string
	logOpts      []string

	// Networking.
	publish    []string
	publishAll bool
	expose     []string
	networks   networkValue
	aliases    []string
	ipv4       ipValue
	macAddress string
	extraHosts []string
	dns        []string
	dnsSearch  []string
	dnsOptions []string
}

// addContainerFlags defines the container configuration flags on fs.
func addContainerFlags(fs *pflag.FlagSet) *containerFlags {
	f := &containerFlags{ulimits: ulimitsValue{}, sysctls: mapValue{m: map[string]string{}, validate: validateSysctl}}
	fs.VarP(newListValue(&f.attach, validateAttach), "attach", "a", "Attach to STDIN, STDOUT or STDERR")
	fs.VarP(newListValue(&f.env, validateEnv), "env", "e", "Set environment variables")
	fs.Var(newListValue(&f.envFiles, nil), "env-file", "Read in a file of environment variables")
	fs.VarP(newListValue(&f.labels, validateLabel), "label", "l", "Set meta data on a container")
	fs.Var(newListValue(&f.labelFiles, nil), "label-file", "Read in a line delimited file of labels")
	fs.StringVarP(&f.workdir, "workdir", "w", "", "Working directory inside the container")
	fs.StringVarP(&f.user, "user", "u", "", "Username or UID (format: <name|uid>[:<group|gid>])")
	fs.StringVar(&f.entrypoint, "entrypoint", "", "Overwrite the default ENTRYPOINT of the image")
	fs.StringVarP(&f.hostname, "hostname", "h", "", "Container host name")
	fs.StringVar(&f.domainname, "domainname", "", "Container NIS domain name")
	fs.BoolVarP(&f.interactive, "interactive", "i", false, "Keep STDIN open even if not attached")
	fs.BoolVarP(&f.tty, "tty", "t", false, "Allocate a pseudo-TTY")
	fs.BoolVar(&f.autoRemove, "rm", false, "Automatically remove the container and its associated anonymous volumes when it exits")
	fs.BoolVar(&f.init, "init", false, "Run an init inside the container that forwards signals and reaps processes")
	fs.StringVar(&f.restart, "restart", string(container.RestartPolicyDisabled), "Restart policy to apply when a container exits")
	fs.StringVar(&f.stopSignal, "stop-signal", "", "Signal to stop the container")
	fs.IntVar(&f.stopTimeout, "stop-timeout", 0, "Timeout (in seconds) to stop a container")
	fs.StringVar(&f.runtime, "runtime", "", "Runtime to use for this container")

	fs.VarP(&f.memory, "memory", "m", "Memory limit")
	fs.Var(&f.memoryReservation, "memory-reservation", "Memory soft limit")
	fs.Var(&f.memorySwap, "memory-swap", "Swap limit equal to memory plus swap: '-1' to enable unlimited swap")
	fs.Int64Var(&f.swappiness, "memory-swappiness", -1, "Tune container memory swappiness (0 to 100)")
	fs.BoolVar(&f.oomKillDisable, "oom-kill-disable", false, "Disable OOM Killer")
	fs.IntVar(&f.oomScoreAdj, "oom-score-adj", 0, "Tune host's OOM preferences (-1000 to 1000)")
	fs.Var(&f.cpus, "cpus", "Number of CPUs")
	fs.Int64VarP(&f.cpuShares, "cpu-shares", "c", 0, "CPU shares (relative weight)")
	fs.Int64Var(&f.cpuPeriod, "cpu-period", 0, "Limit CPU CFS (Completely Fair Scheduler) period")
	fs.Int64Var(&f.cpuQuota, "cpu-quota", 0, "Limit CPU CFS (Completely Fair Scheduler) quota")
	fs.StringVar(&f.cpusetCpus, "cpuset-cpus", "", "CPUs in which to allow execution (0-3, 0,1)")
	fs.StringVar(&f.cpusetMems, "cpuset-mems", "", "MEMs in which to allow execution (0-3, 0,1)")
	fs.Int64Var(&f.pidsLimit, "pids-limit", 0, "Tune container pids limit (set -1 for unlimited)")
	fs.Var(f.ulimits, "ulimit", "Ulimit options")
	fs.Var(&f.shmSize, "shm-size", "Size of /dev/shm")
	fs.StringVar(&f.cgroupParent, "cgroup-parent", "", "Optional parent cgroup for the container")

	fs.BoolVar(&f.privileged, "privileged", false, "Give extended privileges to this container")
	fs.Var(newListValue(&f.capAdd, nil), "cap-add", "Add Linux capabilities")
	fs.Var(newListValue(&f.capDrop, nil), "cap-drop", "Drop Linux capabilities")
	fs.BoolVar(&f.readOnly, "read-only", false, "Mount the container's root filesystem as read only")
	fs.Var(newListValue(&f.securityOpt, nil), "security-opt", "Security Options")
	fs.Var(newListValue(&f.groupAdd, nil), "group-add", "Add additional groups to join")
	fs.Var(&f.sysctls, "sysctl", "Sysctl options")

	fs.VarP(newListValue(&f.volumes, nil), "volume", "v", "Bind mount a volume")
	fs.Var(mountValue{&f.mounts}, "mount", "Attach a filesystem mount to the container")
	fs.Var(newListValue(&f.volumesFrom, nil), "volumes-from", "Mount volumes from the specified container(s)")
	fs.StringVar(&f.volumeDriver, "volume-driver", "", "Optional volume driver for the container")
	fs.Var(newListValue(&f.tmpfs, nil), "tmpfs", "Mount a tmpfs directory")
	fs.StringVar(&f.logDriver, "log-driver", "", "Logging driver for the container")
	fs.Var(newListValue(&f.logOpts, nil), "log-opt", "Log driver options")

	fs.VarP(newListValue(&f.publish, nil), "publish", "p", "Publish a container's port(s) to the host")
	fs.BoolVarP(&f.publishAll, "publish-all", "P", false, "Publish all exposed ports to random ports")
	fs.Var(newListValue(&f.expose, nil), "expose", "Expose a port or a range of ports")
	fs.Var(&f.networks, "network", "Connect a container to a network")
	fs.Var(&f.networks, "net", "Connect a container to a network")
	fs.Var(newListValue(&f.aliases, nil), "network-alias", "Add network-scoped alias for the container")
	fs.Var(newListValue(&f.aliases, nil), "net-alias", "Add network-scoped alias for the container")
	_ = fs.MarkHidden("net-alias")
	fs.Var(&f.ipv4, "ip", "IPv4 address (e.g., 172.30.100.104)")
	fs.StringVar(&f.macAddress, "mac-address", "", "Container MAC address (e.g., 92:d0:c6:0a:29:33)")
	fs.Var(newListValue(&f.extraHosts, validateExtraHost), "add-host", "Add a custom host-to-IP mapping (host:ip)")
	fs.Var(newListValue(&f.dns, validateIPAddress), "dns", "Set custom DNS servers")
	fs.Var(newListValue(&f.dnsSearch, validateDNSSearch), "dns-search", "Set custom DNS search domains")
	fs.Var(newListValue(&f.dnsOptions, nil), "dns-option", "Set DNS options")
	fs.Var(newListValue(&f.dnsOptions, nil), "dns-opt", "Set DNS options")
	_ = fs.MarkHidden("dns-opt")
	return f
}

// toConfig builds the container, host and networking configuration for image and args from
// the parsed flags, the way the docker CLI does.
func (f *containerFlags) toConfig(fs *pflag.FlagSet, image string, args []string) (*container.Config, *container.HostConfig, *network.NetworkingConfig, error) {
	if f.macAddress != "" {
		if _, err := net.ParseMAC(strings.TrimSpace(f.macAddress)); err != nil {
			return nil, nil, nil, fmt.Errorf("%s is not a valid mac address", f.macAddress)
		}
	}
	attach := map[string]bool{}
	for _, s := range f.attach {
		attach[s] = true
	}
	attachStdin := attach["stdin"] || f.interactive
	attachStdout, attachStderr := attach["stdout"], attach["stderr"]
	if len(f.attach) == 0 {
		attachStdout, attachStderr = true, true
	}

	if f.swappiness != -1 && (f.swappiness < 0 || f.swappiness > 100) {
		return nil, nil, nil, fmt.Errorf("invalid value: %d. Valid memory swappiness range is 0-100", f.swappiness)
	}
	binds, volumes, err := splitVolumes(f.volumes)
	if err != nil {
		return nil, nil, nil, err
	}
	env, err := readKVFiles(f.envFiles, f.env, os.LookupEnv)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("--env-file: %w", err)
	}
	labels, err := readKVFiles(f.labelFiles, f.labels, nil)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("--label-file: %w", err)
	}
	restart, err := parseRestartPolicy(f.restart)
	if err != nil {
		return nil, nil, nil, err
	}
	if f.autoRemove && restart.Name != "" && restart.Name != container.RestartPolicyDisabled {
		return nil, nil, nil, errors.New("conflicting options: cannot specify both --restart and --rm")
	}
	logOpts := kvMap(f.logOpts)
	if f.logDriver == "none" && len(f.logOpts) > 0 {
		return nil, nil, nil, fmt.Errorf("invalid logging opts for driver %s", f.logDriver)
	}
	securityOpt, err := parseSecurityOpts(f.securityOpt)
	if err != nil {
		return nil, nil, nil, err
	}
	securityOpt, masked, readonly := parseSystemPaths(securityOpt)
	var tmpfs map[string]string
	if len(f.tmpfs) > 0 {
		tmpfs = make(map[string]string, len(f.tmpfs))
		for _, t := range f.tmpfs {
			k, v, _ := strings.Cut(t, ":")
			tmpfs[k] = v
		}
	}

	exposed, bindings, err := parsePublish(f.publish)
	if err != nil {
		return nil, nil, nil, err
	}
	if err := parseExpose(f.expose, exposed); err != nil {
		return nil, nil, nil, err
	}
	dns := make([]netip.Addr, len(f.dns))
	for i, s := range f.dns {
		dns[i], _ = netip.ParseAddr(s) // validated by the flag
	}

	cfg := &container.Config{
		Image:        image,
		Hostname:     f.hostname,
		Domainname:   f.domainname,
		User:         f.user,
		WorkingDir:   f.workdir,
		Env:          env,
		Labels:       kvMap(labels),
		Tty:          f.tty,
		OpenStdin:    f.interactive,
		AttachStdin:  attachStdin,
		AttachStdout: attachStdout,
		AttachStderr: attachStderr,
		StopSignal:   f.stopSignal,
		ExposedPorts: exposed,
		Volumes:      volumes,
	}
	cfg.StdinOnce = cfg.OpenStdin && cfg.AttachStdin
	if len(args) > 0 {
		cfg.Cmd = args
	}
	if f.entrypoint != "" {
		cfg.Entrypoint = []string{f.entrypoint}
	} else if fs.Changed("entrypoint") {
		cfg.Entrypoint = []string{""} // --entrypoint= resets the image's entrypoint
	}
	if fs.Changed("stop-timeout") {
		t := f.stopTimeout
		cfg.StopTimeout = &t
	}

	swappiness, oomKillDisable, pidsLimit := f.swappiness, f.oomKillDisable, f.pidsLimit
	hc := &container.HostConfig{
		Binds:           binds,
		Mounts:          f.mounts,
		VolumesFrom:     f.volumesFrom,
		VolumeDriver:    f.volumeDriver,
		AutoRemove:      f.autoRemove,
		RestartPolicy:   restart,
		Privileged:      f.privileged,
		CapAdd:          f.capAdd,
		CapDrop:         f.capDrop,
		ReadonlyRootfs:  f.readOnly,
		SecurityOpt:     securityOpt,
		MaskedPaths:     masked,
		ReadonlyPaths:   readonly,
		GroupAdd:        f.groupAdd,
		OomScoreAdj:     f.oomScoreAdj,
		Tmpfs:           tmpfs,
		Sysctls:         f.sysctls.m,
		ShmSize:         int64(f.shmSize),
		Runtime:         f.runtime,
		LogConfig:       container.LogConfig{Type: f.logDriver, Config: logOpts},
		NetworkMode:     container.NetworkMode(f.networks.mode()),
		PortBindings:    bindings,
		PublishAllPorts: f.publishAll,
		DNS:             dns,
		DNSSearch:       nonNil(f.dnsSearch),
		DNSOptions:      nonNil(f.dnsOptions),
		ExtraHosts:      f.extraHosts,
		Resources: container.Resources{
			CgroupParent:      f.cgroupParent,
			Memory:            int64(f.memory),
			MemoryReservation: int64(f.memoryReservation),
			MemorySwap:        int64(f.memorySwap),
			MemorySwappiness:  &swappiness,
			OomKillDisable:    &oomKillDisable,
			NanoCPUs:          int64(f.cpus),
			CPUShares:         f.cpuShares,
			CPUPeriod:         f.cpuPeriod,
			CPUQuota:          f.cpuQuota,
			CpusetCpus:        f.cpusetCpus,
			CpusetMems:        f.cpusetMems,
			PidsLimit:         &pidsLimit,
			Ulimits:           f.ulimits.list(),
		},
	}
	if len(hc.Sysctls) == 0 {
		hc.Sysctls = nil
	}
	if fs.Changed("init") {
		v := f.init
		hc.Init = &v
	}
	endpoints, err := f.endpoints()
	if err != nil {
		return nil, nil, nil, err
	}
	return cfg, hc, &network.NetworkingConfig{EndpointsConfig: endpoints}, nil
}

// parseRestartPolicy parses "name[:max-retries]"; the daemon validates the name.
func parseRestartPolicy(s string) (container.RestartPolicy, error) {
	if s == "" {
		return container.RestartPolicy{}, nil
	}
	name, count, hasCount := strings.Cut(s, ":")
	if hasCount && name == "" {
		return container.RestartPolicy{}, errors.New("invalid restart policy format: no policy provided before colon")
	}
	p := container.RestartPolicy{Name: container.RestartPolicyMode(name)}
	if count != "" {
		n, err := strconv.Atoi(count)
		if err != nil {
			return container.RestartPolicy{}, errors.New("invalid restart policy format: maximum retry count must be an integer")
		}
		p.MaximumRetryCount = n
	}
	return p, nil
}

// parseSecurityOpts checks each --security-opt and replaces seccomp=<file> by the file's
// compacted JSON, which is what the daemon expects.
func parseSecurityOpts(opts []string) ([]string, error) {
	out := make([]string, len(opts))
	for i, opt := range opts {
		out[i] = opt
		k, v, ok := strings.Cut(opt, "=")
		if !ok && k != "no-new-privileges" {
			k, v, ok = strings.Cut(opt, ":")
		}
		if (!ok || v == "") && k != "no-new-privileges" {
			return nil, fmt.Errorf("invalid --security-opt: %q", opt)
		}
		if k != "seccomp" || v == "builtin" || v == "unconfined" {
			continue
		}
		b, err := os.ReadFile(v)
		if err != nil {
			return nil, fmt.Errorf("opening seccomp profile (%s) failed: %w", v, err)
		}
		var buf bytes.Buffer
		if err := json.Compact(&buf, b); err != nil {
			return nil, fmt.Errorf("compacting json for seccomp profile (%s) failed: %w", v, err)
		}
		out[i] = "seccomp=" + buf.String()
	}
	if len(out) == 0 {
		return nil, nil
	}
	return out, nil
}

// parseSystemPaths removes systempaths=unconfined from opts; when present, the masked and
// read-only paths become empty lists (no path masked).
func parseSystemPaths(opts []string) (filtered, masked, readonly []string) {
	for _, opt := range opts {
		if opt == "systempaths=unconfined" {
			masked, readonly = []string{}, []string{}
			continue
		}
		filtered = append(filtered, opt)
	}
	return filtered, masked, readonly
}

// kvMap turns key=value strings into a map (a missing value is empty).
func kvMap(kvs []string) map[string]string {
	m := make(map[string]string, len(kvs))
	for _, kv := range kvs {
		k, v, _ := strings.Cut(kv, "=")
		m[k] = v
	}
	return m
}

// readKVFiles reads KEY[=VALUE] lines from files (env-file format) and appends override.
// A key without a value takes it from lookup, and is dropped when lookup is nil or fails.
func readKVFiles(files, override []string, lookup func(string) (string, bool)) ([]string, error) {
	var out []string
	for _, name := range files {
		vars, err := parseKVFile(name, lookup)
		if err != nil {
			return nil, err
		}
		out = append(out, vars...)
	}
	return append(out, override...), nil
}

func parseKVFile(name string, lookup func(string) (string, bool)) ([]string, error) {
	b, err := os.ReadFile(name)
	if err != nil {
		return nil, err
	}
	var out []string
	sc := bufio.NewScanner(bytes.NewReader(b))
	for n := 1; sc.Scan(); n++ {
		line := sc.Bytes()
		if !utf8.Valid(line) {
			return nil, fmt.Errorf("invalid env file (%s): invalid utf8 bytes at line %d: %v", name, n, line)
		}
		if n == 1 {
			line = bytes.TrimPrefix(line, []byte{0xEF, 0xBB, 0xBF})
		}
		s := strings.TrimLeftFunc(string(line), unicode.IsSpace)
		if s == "" || s[0] == '#' {
			continue
		}
		k, _, hasValue := strings.Cut(s, "=")
		if k == "" {
			return nil, fmt.Errorf("invalid env file (%s): no variable name on line '%s'", name, s)
		}
		if strings.ContainsAny(k, " \t") {
			return nil, fmt.Errorf("invalid env file (%s): variable '%s' contains whitespaces", name, k)
		}
		if hasValue {
			out = append(out, s)
		} else if lookup != nil {
			if v, ok := lookup(k); ok {
				out = append(out, k+"="+v)
			}
		}
	}
	return out, sc.Err()
}

func validateAttach(v string) (string, error) {
	switch s := strings.ToLower(v); s {
	case "stdin", "stdout", "stderr":
		return s, nil
	}
	return "", errors.New("valid streams are STDIN, STDOUT and STDERR")
}

// validateEnv accepts KEY=VALUE, or KEY alone, which takes the value from our environment if set.
func validateEnv(v string) (string, error) {
	k, _, hasValue := strings.Cut(v, "=")
	if k == "" {
		return "", errors.New("invalid environment variable: " + v)
	}
	if !hasValue {
		if val, ok := os.LookupEnv(k); ok {
			return k + "=" + val, nil
		}
	}
	return v, nil
}

func validateLabel(v string) (string, error) {
	k, _, _ := strings.Cut(v, "=")
	k = strings.TrimLeft(k, " \t")
	if k == "" {
		return "", fmt.Errorf("invalid label '%s': empty name", v)
	}
	if strings.ContainsAny(k, " \t") {
		return "", fmt.Errorf("label '%s' contains whitespaces", k)
	}
	return v, nil
}

// validateSysctl accepts the namespaced sysctls docker allows: IPC ones, net.* and fs.mqueue.*.
func validateSysctl(v string) (string, error) {
	k, _, ok := strings.Cut(v, "=")
	if ok && k != "" {
		switch k {
		case "kernel.msgmax", "kernel.msgmnb", "kernel.msgmni", "kernel.sem",
			"kernel.shmall", "kernel.shmmax", "kernel.shmmni", "kernel.shm_rmid_forced":
			return v, nil
		}
		if strings.HasPrefix(k, "net.") || strings.HasPrefix(k, "fs.mqueue.") {
			return v, nil
		}
	}
	return "", fmt.Errorf("sysctl '%s' is not allowed", v)
}

// listValue is a repeatable string flag whose values pass through a validator.
type listValue struct {
	vals     *[]string
	validate func(string) (string, error)
}

func newListValue(vals *[]string, validate func(string) (string, error)) *listValue {
	return &listValue{vals: vals, validate: validate}
}

func (l *listValue) Set(v string) error {
	if l.validate != nil {
		var err error
		if v, err = l.validate(v); err != nil {
			return err
		}
	}
	*l.vals = append(*l.vals, v)
	return nil
}

func (l *listValue) String() string {
	if len(*l.vals) == 0 {
		return ""
	}
	return "[" + strings.Join(*l.vals, " ") + "]"
}

func (l *listValue) Type() string { return "list" }

// mapValue is a repeatable key=value flag collected into a map.
type mapValue struct {
	m        map[string]string
	validate func(string) (string, error)
}

func (m *mapValue) Set(v string) error {
	if m.validate != nil {
		var err error
		if v, err = m.validate(v); err != nil {
			return err
		}
	}
	k, val, _ := strings.Cut(v, "=")
	m.m[k] = val
	return nil
}

func (m *mapValue) String() string { return fmt.Sprintf("%v", m.m) }
func (m *mapValue) Type() string   { return "map" }

// memBytes is a size flag in docker's RAM notation (512m, 2g, …).
type memBytes int64

func (m *memBytes) Set(v string) error {
	n, err := units.RAMInBytes(v)
	*m = memBytes(n)
	return err
}

func (m *memBytes) String() string {
	if *m == 0 {
		return "0"
	}
	return units.BytesSize(float64(*m))
}

func (m *memBytes) Type() string { return "bytes" }

// memSwapBytes is a memBytes that also accepts -1 (unlimited).
type memSwapBytes int64

func (m *memSwapBytes) Set(v string) error {
	if v == "-1" {
		*m = -1
		return nil
	}
	n, err := units.RAMInBytes(v)
	*m = memSwapBytes(n)
	return err
}

func (m *memSwapBytes) String() string {
	b := memBytes(*m)
	return b.String()
}

func (m *memSwapBytes) Type() string { return "bytes" }

// nanoCPUs is a decimal number of CPUs stored in billionths.
type nanoCPUs int64

func (c *nanoCPUs) Set(v string) error {
	n, err := parseCPUs(v)
	*c = nanoCPUs(n)
	return err
}

func (c *nanoCPUs) String() string {
	if *c == 0 {
		return ""
	}
	return big.NewRat(int64(*c), 1e9).FloatString(3)
}

func (c *nanoCPUs) Type() string { return "decimal" }

// parseCPUs turns a decimal number of CPUs into nano CPUs, refusing more than 9 decimals.
func parseCPUs(v string) (int64, error) {
	cpu, ok := new(big.Rat).SetString(v)
	if !ok {
		return 0, fmt.Errorf("failed to parse %v as a rational number", v)
	}
	nano := cpu.Mul(cpu, big.NewRat(1e9, 1))
	if !nano.IsInt() {
		return 0, errors.New("value is too precise")
	}
	return nano.Num().Int64(), nil
}

// ulimitsValue collects --ulimit name=soft[:hard] flags, one per name.
type ulimitsValue map[string]*container.Ulimit

func (u ulimitsValue) Set(v string) error {
	l, err := units.ParseUlimit(v)
	if err != nil {
		return err
	}
	u[l.Name] = l
	return nil
}

func (u ulimitsValue) String() string {
	s := make([]string, 0, len(u))
	for _, l := range u {
		s = append(s, l.String())
	}
	sort.Strings(s)
	return fmt.Sprintf("%v", s)
}

func (u ulimitsValue) Type() string { return "ulimit" }

// list returns the ulimits sorted by name.
func (u ulimitsValue) list() []*container.Ulimit {
	l := make([]*container.Ulimit, 0, len(u))
	for _, v := range u {
		l = append(l, v)
	}
	sort.Slice(l, func(i, j int) bool { return l[i].Name < l[j].Name })
	return l
}

// nonNil returns s, or an empty list when s is nil: the daemon expects the DNS lists set.
func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

// endpoints builds the endpoint settings of the networks the container joins, like the docker
// CLI: --network-alias, --ip and --mac-address apply to the first network; without --network
// they go to "default", and a lone network without settings gets no entry.
func (f *containerFlags) endpoints() (map[string]*network.EndpointSettings, error) {
	atts := f.networks.atts
	eps := make(map[string]*network.EndpointSettings, len(atts)+1)
	if len(atts) == 0 {
		a := networkAttachment{target: network.NetworkDefault}
		if err := f.applyTo(&a); err != nil {
			return nil, err
		}
		ep, err := a.endpoint()
		if err != nil {
			return nil, err
		}
		eps[a.target] = ep
	}
	var userDefined, builtin bool
	for i, a := range atts {
		if container.NetworkMode(a.target).IsUserDefined() {
			userDefined = true
		} else {
			builtin = true
		}
		if i == 0 {
			if err := f.applyTo(&a); err != nil {
				return nil, err
			}
		}
		ep, err := a.endpoint()
		if err != nil {
			return nil, err
		}
		if _, dup := eps[a.target]; dup {
			return nil, fmt.Errorf("network %q is specified multiple times", a.target)
		}
		if len(atts) == 1 && reflect.DeepEqual(*ep, network.EndpointSettings{}) {
			continue
		}
		eps[a.target] = ep
	}
	if userDefined && builtin {
		return nil, errors.New("conflicting options: cannot attach both user-defined and non-user-defined network-modes")
	}
	return eps, nil
}

// applyTo sets the endpoint flags (--network-alias, --ip, --mac-address) on a, refusing
// them when a sets the same thing through the --network long syntax.
func (f *containerFlags) applyTo(a *networkAttachment) error {
	if len(a.aliases) > 0 && len(f.aliases) > 0 {
		return errors.New("conflicting options: cannot specify both --network-alias and per-network alias")
	}
	if a.ipv4.IsValid() && f.ipv4.IsValid() {
		return errors.New("conflicting options: cannot specify both --ip and per-network IPv4 address")
	}
	if a.mac != "" && f.macAddress != "" {
		return errors.New("conflicting options: cannot specify both --mac-address and per-network MAC address")
	}
	if len(f.aliases) > 0 {
		a.aliases = slices.Clone(f.aliases)
	}
	if f.ipv4.IsValid() {
		a.ipv4 = f.ipv4.Addr
	}
	if f.macAddress != "" {
		a.mac = f.macAddress
	}
	return nil
}

// networkAttachment is one --network value.
type networkAttachment struct {
	target       string
	aliases      []string
	ipv4, ipv6   netip.Addr
	linkLocalIPs []netip.Addr
	mac          string
	driverOpts   map[string]string
	gwPriority   int
}

// endpoint returns the endpoint settings a asks for.
func (a networkAttachment) endpoint() (*network.EndpointSettings, error) {
	if strings.TrimSpace(a.target) == "" {
		return nil, errors.New("no name set for network")
	}
	if len(a.aliases) > 0 && !container.NetworkMode(a.target).IsUserDefined() {
		return nil, errors.New("network-scoped aliases are only supported for user-defined networks")
	}
	ep := &network.EndpointSettings{Aliases: a.aliases, DriverOpts: a.driverOpts, GwPriority: a.gwPriority}
	if len(ep.Aliases) == 0 {
		ep.Aliases = nil
	}
	if a.ipv4.IsValid() || a.ipv6.IsValid() || len(a.linkLocalIPs) > 0 {
		ep.IPAMConfig = &network.EndpointIPAMConfig{IPv4Address: a.ipv4, IPv6Address: a.ipv6, LinkLocalIPs: a.linkLocalIPs}
	}
	if a.mac != "" {
		hw, err := net.ParseMAC(strings.TrimSpace(a.mac))
		if err != nil {
			return nil, fmt.Errorf("%s is not a valid mac address", a.mac)
		}
		ep.MacAddress = network.HardwareAddr(hw)
	}
	return ep, nil
}

// networkValue is the repeatable --network flag: a network name, or the long syntax
// name=NET,alias=A,ip=IP,ip6=IP,mac-address=MAC,link-local-ip=IP,driver-opt=K=V,gw-priority=N.
type networkValue struct{ atts []networkAttachment }

func (n *networkValue) Set(v string) error {
	if !longSyntax(v) {
		n.atts = append(n.atts, networkAttachment{target: v})
		return nil
	}
	fields, err := csv.NewReader(strings.NewReader(v)).Read()
	if err != nil {
		return err
	}
	var a networkAttachment
	for _, field := range fields {
		key, val, ok := strings.Cut(field, "=")
		key = strings.ToLower(strings.TrimSpace(key))
		val = strings.TrimSpace(val)
		if !ok || key == "" {
			return fmt.Errorf("invalid field %s", field)
		}
		switch key {
		case "name":
			a.target = val
		case "alias":
			a.aliases = append(a.aliases, val)
		case "ip", "ip6", "link-local-ip":
			ip, err := netip.ParseAddr(val)
			if err != nil {
				return err
			}
			switch key {
			case "ip":
				a.ipv4 = ip
			case "ip6":
				a.ipv6 = ip
			default:
				a.linkLocalIPs = append(a.linkLocalIPs, ip)
			}
		case "mac-address":
			a.mac = val
		case "driver-opt":
			k, dv, ok := strings.Cut(val, "=")
			k = strings.TrimSpace(k)
			if !ok || k == "" {
				return errors.New("invalid key value pair format in driver options")
			}
			if a.driverOpts == nil {
				a.driverOpts = map[string]string{}
			}
			a.driverOpts[k] = strings.TrimSpace(dv)
		case "gw-priority":
			p, err := strconv.Atoi(val)
			if err != nil {
				var ne *strconv.NumError
				if errors.As(err, &ne) {
					err = ne.Err
				}
				return fmt.Errorf("invalid gw-priority (%s): %w", val, err)
			}
			a.gwPriority = p
		default:
			return errors.New("invalid field key " + key)
		}
	}
	if a.target == "" {
		return errors.New("network name/id is not specified")
	}
	n.atts = append(n.atts, a)
	return nil
}

// longSyntax reports whether v holds word=word somewhere, which is how docker tells the
// long --network syntax from a plain network name.
func longSyntax(v string) bool {
	word := func(c byte) bool {
		return c == '_' || '0' <= c && c <= '9' || 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z'
	}
	for i := 1; i+1 < len(v); i++ {
		if v[i] == '=' && word(v[i-1]) && word(v[i+1]) {
			return true
		}
	}
	return false
}

func (n *networkValue) String() string { return "" }
func (n *networkValue) Type() string   { return "network" }

// mode returns the network mode: the first network given, else "default".
func (n *networkValue) mode() string {
	if len(n.atts) == 0 {
		return network.NetworkDefault
	}
	return n.atts[0].target
}

// ipValue is a flag holding one IP address.
type ipValue struct{ netip.Addr }

func (i *ipValue) Set(v string) error {
	a, err := netip.ParseAddr(strings.TrimSpace(v))
	if err != nil {
		return fmt.Errorf("failed to parse IP: %q", v)
	}
	i.Addr = a
	return nil
}

func (i *ipValue) String() string {
	if !i.IsValid() {
		return ""
	}
	return i.Addr.String()
}

func (i *ipValue) Type() string { return "ip" }

// validateExtraHost accepts host:ip, host=ip, an address in brackets and the special
// address host-gateway, and returns host:ip, the form the daemon takes.
func validateExtraHost(v string) (string, error) {
	host, ip, ok := strings.Cut(v, "=")
	if !ok {
		host, ip, ok = strings.Cut(v, ":")
	}
	if !ok || host == "" || strings.Contains(host, ":") {
		return "", fmt.Errorf("bad format for add-host: %q", v)
	}
	if ip != "host-gateway" {
		if len(ip) > 2 && ip[0] == '[' && ip[len(ip)-1] == ']' {
			ip = ip[1 : len(ip)-1]
		}
		if _, err := validateIPAddress(ip); err != nil {
			return "", fmt.Errorf("invalid IP address in add-host: %q", ip)
		}
	}
	return host + ":" + ip, nil
}

// validateIPAddress returns v as an IP address in canonical form.
func validateIPAddress(v string) (string, error) {
	if ip := net.ParseIP(strings.TrimSpace(v)); ip != nil {
		return ip.String(), nil
	}
	return "", fmt.Errorf("IP address is not correctly formatted: %s", v)
}

// validateDNSSearch accepts a domain name (without its trailing dot) or "." for none.
func validateDNSSearch(v string) (string, error) {
	v = strings.Trim(v, " ")
	if v == "." {
		return v, nil
	}
	d := strings.TrimSuffix(strings.TrimRight(v, " \t\r\n\v\f"), ".")
	ok := len(d) > 0 && len(d) < 255 && strings.ContainsFunc(d, func(r rune) bool { return 'a' <= r && r <= 'z' || 'A' <= r && r <= 'Z' })
	for _, label := range strings.Split(d, ".") {
		if !ok {
			break
		}
		ok = label != "" && label[0] != '-' && label[len(label)-1] != '-' &&
			!strings.ContainsFunc(label, func(r rune) bool {
				return !('a' <= r && r <= 'z' || 'A' <= r && r <= 'Z' || '0' <= r && r <= '9' || r == '-')
			})
	}
	if !ok {
		return "", fmt.Errorf("%s is not a valid domain", v)
	}
	return d, nil
}
