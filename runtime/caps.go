package runtime

import (
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/berth-dev/berth/errdefs"
)

// capNames are the Linux capabilities by number.
var capNames = []string{
	"CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_DAC_READ_SEARCH", "CAP_FOWNER", "CAP_FSETID",
	"CAP_KILL", "CAP_SETGID", "CAP_SETUID", "CAP_SETPCAP", "CAP_LINUX_IMMUTABLE",
	"CAP_NET_BIND_SERVICE", "CAP_NET_BROADCAST", "CAP_NET_ADMIN", "CAP_NET_RAW", "CAP_IPC_LOCK",
	"CAP_IPC_OWNER", "CAP_SYS_MODULE", "CAP_SYS_RAWIO", "CAP_SYS_CHROOT", "CAP_SYS_PTRACE",
	"CAP_SYS_PACCT", "CAP_SYS_ADMIN", "CAP_SYS_BOOT", "CAP_SYS_NICE", "CAP_SYS_RESOURCE",
	"CAP_SYS_TIME", "CAP_SYS_TTY_CONFIG", "CAP_MKNOD", "CAP_LEASE", "CAP_AUDIT_WRITE",
	"CAP_AUDIT_CONTROL", "CAP_SETFCAP", "CAP_MAC_OVERRIDE", "CAP_MAC_ADMIN", "CAP_SYSLOG",
	"CAP_WAKE_ALARM", "CAP_BLOCK_SUSPEND", "CAP_AUDIT_READ", "CAP_PERFMON", "CAP_BPF",
	"CAP_CHECKPOINT_RESTORE",
}

const capSysResource = 24

var (
	heldOnce sync.Once
	heldMask uint64
)

// heldCaps is the permitted capability mask of this process: no container can
// be given a capability its runtime does not hold.
func heldCaps() uint64 {
	heldOnce.Do(func() {
		b, err := os.ReadFile("/proc/self/status")
		if err != nil {
			heldMask = ^uint64(0)
			return
		}
		for _, line := range strings.Split(string(b), "\n") {
			if v, ok := strings.CutPrefix(line, "CapPrm:"); ok {
				m, err := strconv.ParseUint(strings.TrimSpace(v), 16, 64)
				if err != nil {
					m = ^uint64(0)
				}
				heldMask = m
				return
			}
		}
		heldMask = ^uint64(0)
	})
	return heldMask
}

// AllCapabilities is every capability this process holds: what a privileged
// container or --cap-add ALL gets.
func AllCapabilities() []string {
	held := heldCaps()
	out := make([]string, 0, len(capNames))
	for i, c := range capNames {
		if held&(1<<i) != 0 {
			out = append(out, c)
		}
	}
	return out
}

// normalizeCaps upper-cases names and adds the CAP_ prefix; "ALL" stays as is.
// An unknown name is an error.
func normalizeCaps(in []string) ([]string, error) {
	out := make([]string, 0, len(in))
	for _, c := range in {
		c = strings.ToUpper(strings.TrimSpace(c))
		if c == "ALL" {
			out = append(out, c)
			continue
		}
		if !strings.HasPrefix(c, "CAP_") {
			c = "CAP_" + c
		}
		if !slices.Contains(capNames, c) {
			return nil, errdefs.InvalidParameter(fmt.Sprintf("unknown capability: %q", c))
		}
		out = append(out, c)
	}
	return out, nil
}

// capabilities computes a container's capability set the way Docker does:
// privileged or --cap-add ALL start from every capability, --cap-drop ALL from
// none, otherwise from the default set; drops apply before adds.
func capabilities(privileged bool, adds, drops []string) ([]string, error) {
	if privileged {
		return AllCapabilities(), nil
	}
	add, err := normalizeCaps(adds)
	if err != nil {
		return nil, err
	}
	drop, err := normalizeCaps(drops)
	if err != nil {
		return nil, err
	}
	var caps []string
	switch {
	case slices.Contains(add, "ALL"):
		for _, c := range AllCapabilities() {
			if !slices.Contains(drop, c) {
				caps = append(caps, c)
			}
		}
		return caps, nil
	case slices.Contains(drop, "ALL"):
		// Start from nothing.
	default:
		for _, c := range DefaultCapabilities {
			if !slices.Contains(drop, c) {
				caps = append(caps, c)
			}
		}
	}
	held := heldCaps()
	for _, c := range add {
		if slices.Contains(caps, c) {
			continue
		}
		if i := slices.Index(capNames, c); held&(1<<i) == 0 {
			return nil, errdefs.InvalidParameter(fmt.Sprintf("cannot add capability %s: the daemon does not hold it", c))
		}
		caps = append(caps, c)
	}
	return caps, nil
}

// holdsCap reports whether this process holds capability number n.
func holdsCap(n int) bool { return heldCaps()&(1<<n) != 0 }
