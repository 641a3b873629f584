package runtime

import (
	"fmt"
	"os"
	goruntime "runtime"
	"strconv"
	"strings"

	"github.com/berth-dev/berth/errdefs"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// Ulimit is one --ulimit: a resource name such as "nofile" and its limits;
// a negative value means unlimited.
type Ulimit struct {
	Name       string
	Soft, Hard int64
}

const (
	minMemory      = 6 << 20 // Docker's smallest memory limit
	cfsPeriod      = 100000  // µs, Docker's CFS period for --cpus
	minCPUShares   = 2
	maxCPUShares   = 262144
	rlimInfinity   = ^uint64(0)
	cpusOnlineFile = "/sys/devices/system/cpu/online"
)

var rlimits = map[string]int{
	"as": unix.RLIMIT_AS, "core": unix.RLIMIT_CORE, "cpu": unix.RLIMIT_CPU, "data": unix.RLIMIT_DATA,
	"fsize": unix.RLIMIT_FSIZE, "locks": unix.RLIMIT_LOCKS, "memlock": unix.RLIMIT_MEMLOCK,
	"msgqueue": unix.RLIMIT_MSGQUEUE, "nice": unix.RLIMIT_NICE, "nofile": unix.RLIMIT_NOFILE,
	"nproc": unix.RLIMIT_NPROC, "rss": unix.RLIMIT_RSS, "rtprio": unix.RLIMIT_RTPRIO,
	"rttime": unix.RLIMIT_RTTIME, "sigpending": unix.RLIMIT_SIGPENDING, "stack": unix.RLIMIT_STACK,
}

// resources builds the cgroup resources of o with Docker's validation and defaults.
func resources(o *SpecOptions) (*specs.LinuxResources, error) {
	r := &specs.LinuxResources{}
	bad := func(msg string) (*specs.LinuxResources, error) { return nil, errdefs.InvalidParameter(msg) }

	// Memory.
	if o.Memory < 0 || o.MemoryReservation < 0 || o.MemorySwap < -1 {
		return bad("memory limits cannot be negative")
	}
	if o.Memory > 0 && o.Memory < minMemory {
		return bad("Minimum memory limit allowed is 6MB")
	}
	if o.MemorySwap > 0 && o.Memory == 0 {
		return bad("You should always set the Memory limit when using Memoryswap limit, see usage")
	}
	if o.MemorySwap > 0 && o.MemorySwap < o.Memory {
		return bad("Minimum memoryswap limit should be larger than memory limit, see usage")
	}
	if o.MemoryReservation > 0 && o.MemoryReservation < minMemory {
		return bad("Minimum memory reservation allowed is 6MB")
	}
	if o.Memory > 0 && o.MemoryReservation > o.Memory {
		return bad("Minimum memory limit can not be less than memory reservation limit, see usage")
	}
	if o.Memory > 0 || o.MemoryReservation > 0 {
		m := &specs.LinuxMemory{}
		if o.Memory > 0 {
			m.Limit = int64p(o.Memory)
			if swapLimitSupported() {
				switch {
				case o.MemorySwap == 0:
					m.Swap = int64p(o.Memory * 2) // Docker: as much swap as memory
				default:
					m.Swap = int64p(o.MemorySwap) // -1: unlimited
				}
			}
		}
		if o.MemoryReservation > 0 {
			m.Reservation = int64p(o.MemoryReservation)
		}
		r.Memory = m
	}

	// CPU.
	ncpu := int64(goruntime.NumCPU())
	if o.NanoCPUs != 0 && (o.NanoCPUs < 1e7 || o.NanoCPUs > ncpu*1e9) {
		return bad(fmt.Sprintf("Range of CPUs is from 0.01 to %d.00, as there are only %d CPUs available", ncpu, ncpu))
	}
	if o.CPUShares < 0 {
		return bad("CPU shares cannot be negative")
	}
	if o.NanoCPUs > 0 || o.CPUShares > 0 || o.CpusetCpus != "" {
		c := &specs.LinuxCPU{}
		if o.NanoCPUs > 0 {
			period := uint64(cfsPeriod)
			c.Period = &period
			c.Quota = int64p(o.NanoCPUs * cfsPeriod / 1e9)
		}
		if o.CPUShares > 0 {
			shares := uint64(min(max(o.CPUShares, minCPUShares), maxCPUShares))
			c.Shares = &shares
		}
		if o.CpusetCpus != "" {
			if err := checkCpuset(o.CpusetCpus); err != nil {
				return nil, err
			}
			c.Cpus = o.CpusetCpus
		}
		r.CPU = c
	}

	// Pids.
	if o.PidsLimit != nil && *o.PidsLimit > 0 {
		r.Pids = &specs.LinuxPids{Limit: int64p(*o.PidsLimit)}
	}
	return r, nil
}

// swapLimitSupported reports whether the kernel accounts swap per cgroup.
func swapLimitSupported() bool {
	if cgroup2Unified() {
		return true // runc ignores an unlimited swap it cannot set, and converts the rest
	}
	_, err := os.Stat("/sys/fs/cgroup/memory/memory.memsw.limit_in_bytes")
	return err == nil
}

// checkCpuset validates a cpuset list ("0-2,4") against the online CPUs.
func checkCpuset(list string) error {
	want, err := parseCPUList(list)
	if err != nil {
		return errdefs.InvalidParameter(fmt.Sprintf("Invalid value %s for cpuset cpus", list))
	}
	b, err := os.ReadFile(cpusOnlineFile)
	if err != nil {
		return nil // cannot tell: let the runtime decide
	}
	online := strings.TrimSpace(string(b))
	have, err := parseCPUList(online)
	if err != nil {
		return nil
	}
	for cpu := range want {
		if !have[cpu] {
			return errdefs.InvalidParameter(fmt.Sprintf("Requested CPUs are not available - requested %s, available: %s", list, online))
		}
	}
	return nil
}

// parseCPUList parses the kernel's CPU list format.
func parseCPUList(s string) (map[int]bool, error) {
	out := map[int]bool{}
	for _, part := range strings.Split(s, ",") {
		lo, hi, isRange := strings.Cut(part, "-")
		a, err := strconv.Atoi(lo)
		if err != nil || a < 0 {
			return nil, fmt.Errorf("bad cpu %q", part)
		}
		b := a
		if isRange {
			if b, err = strconv.Atoi(hi); err != nil || b < a {
				return nil, fmt.Errorf("bad cpu range %q", part)
			}
		}
		if b-a > 8192 {
			return nil, fmt.Errorf("cpu range %q too large", part)
		}
		for i := a; i <= b; i++ {
			out[i] = true
		}
	}
	return out, nil
}

// processRlimits returns the default RLIMIT_NOFILE replaced or completed by ulimits.
// A hard limit above this process's own cannot be granted without CAP_SYS_RESOURCE.
func processRlimits(ulimits []Ulimit) ([]specs.POSIXRlimit, error) {
	nofile, err := nofileLimit()
	if err != nil {
		return nil, err
	}
	out := []specs.POSIXRlimit{{Type: "RLIMIT_NOFILE", Hard: nofile, Soft: nofile}}
	seen := map[string]bool{}
	for _, u := range ulimits {
		res, ok := rlimits[u.Name]
		if !ok {
			return nil, errdefs.InvalidParameter(fmt.Sprintf("invalid ulimit type: %s", u.Name))
		}
		if seen[u.Name] {
			return nil, errdefs.InvalidParameter(fmt.Sprintf("duplicate ulimit %s", u.Name))
		}
		seen[u.Name] = true
		soft, hard := rlimitValue(u.Soft), rlimitValue(u.Hard)
		if soft > hard {
			return nil, errdefs.InvalidParameter(fmt.Sprintf("ulimit soft limit must be less than or equal to hard limit: %d > %d", u.Soft, u.Hard))
		}
		if !holdsCap(capSysResource) {
			var cur unix.Rlimit
			if err := unix.Getrlimit(res, &cur); err == nil && hard > cur.Max {
				return nil, errdefs.InvalidParameter(fmt.Sprintf("ulimit %s: hard limit %s is above the daemon's own hard limit %s, which cannot be raised without CAP_SYS_RESOURCE",
					u.Name, rlimitString(hard), rlimitString(cur.Max)))
			}
		}
		typ := "RLIMIT_" + strings.ToUpper(u.Name)
		if u.Name == "nofile" {
			out[0] = specs.POSIXRlimit{Type: typ, Hard: hard, Soft: soft}
			continue
		}
		out = append(out, specs.POSIXRlimit{Type: typ, Hard: hard, Soft: soft})
	}
	return out, nil
}

func rlimitValue(v int64) uint64 {
	if v < 0 {
		return rlimInfinity
	}
	return uint64(v)
}

func rlimitString(v uint64) string {
	if v == rlimInfinity {
		return "unlimited"
	}
	return strconv.FormatUint(v, 10)
}
