package shim

import (
	"errors"
	"os"
	"path/filepath"
	"strings"

	"github.com/berth-dev/berth/runtime/shimproto"
)

// cgroupRoot is where cgroup hierarchies are mounted.
const cgroupRoot = "/sys/fs/cgroup"

// readCgroupsPath returns linux.cgroupsPath from the bundle's config.json.
func readCgroupsPath(bundle string) string {
	b, err := os.ReadFile(filepath.Join(bundle, "config.json"))
	if err != nil {
		return ""
	}
	path := ""
	errFound := errors.New("found") // stops the scan
	err = shimproto.ScanObject(b, func(key string, v []byte) error {
		if !strings.EqualFold(key, "linux") || v[0] != '{' {
			return nil
		}
		return shimproto.ScanObject(v, func(key string, v []byte) error {
			if !strings.EqualFold(key, "cgroupsPath") || v[0] != '"' {
				return nil
			}
			p, err := shimproto.ParseString(v)
			if err != nil {
				return err
			}
			path = p
			return errFound
		})
	})
	if err != errFound || path == "" {
		return ""
	}
	return filepath.Clean("/" + path)
}

// oomKilled reports whether the kernel's OOM killer acted in cgroup cg: the
// oom_kill count of memory.events (v2) or memory.oom_control (v1).
func oomKilled(root, cg string) bool {
	if cg == "" {
		return false
	}
	for _, f := range []string{root + cg + "/memory.events", root + "/memory" + cg + "/memory.oom_control"} {
		b, err := os.ReadFile(f)
		if err != nil {
			continue
		}
		for _, line := range strings.Split(string(b), "\n") {
			if v, ok := strings.CutPrefix(line, "oom_kill "); ok {
				return strings.TrimSpace(v) != "0"
			}
		}
	}
	return false
}

// frozen reports whether cgroup cg is frozen (the container is paused).
func frozen(cg string) bool {
	if cg == "" {
		return false
	}
	if b, err := os.ReadFile(cgroupRoot + cg + "/cgroup.freeze"); err == nil {
		return strings.TrimSpace(string(b)) == "1"
	}
	b, err := os.ReadFile(cgroupRoot + "/freezer" + cg + "/freezer.state")
	return err == nil && strings.TrimSpace(string(b)) != "THAWED"
}
