package cgroups

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/berth-dev/berth/errdefs"
	"github.com/moby/moby/api/types/container"
)

// Sample is one reading of a container's cgroup. The embedded StatsResponse is
// filled as dockerd fills it (CPU and memory, pids, block I/O, system CPU
// usage and online CPUs); the caller adds ID, Name, PreCPUStats and networks.
type Sample struct {
	container.StatsResponse
	OOMKills uint64 // processes the OOM killer killed in the cgroup
}

// clockTicks is USER_HZ, the unit of cpuacct.stat and /proc/stat.
const clockTicks = 100

// hierarchy locates cgroup files: the v2 root, or the v1 mount of each controller.
type hierarchy struct {
	v2   string            // unified root with controllers, if the host uses v2
	v1   map[string]string // controller -> mount point
	proc string            // procfs root
}

var (
	hostOnce sync.Once
	host     *hierarchy
)

// Stats reads the cgroup at path (as in the OCI spec's cgroupsPath, e.g.
// "/berth/<id>"); errdefs.ErrNotFound if it does not exist.
func Stats(path string) (*Sample, error) {
	hostOnce.Do(func() { host = detect("/proc") })
	return host.stats(path)
}

// detect finds the cgroup mounts from procRoot/self/mountinfo. A cgroup2 mount
// counts only if it has controllers and no v1 memory hierarchy is mounted.
func detect(procRoot string) *hierarchy {
	h := &hierarchy{v1: map[string]string{}, proc: procRoot}
	b, err := os.ReadFile(filepath.Join(procRoot, "self/mountinfo"))
	if err != nil {
		return h
	}
	var unified []string
	for _, line := range strings.Split(string(b), "\n") {
		pre, post, ok := strings.Cut(line, " - ")
		if !ok {
			continue
		}
		f, pf := strings.Fields(pre), strings.Fields(post)
		if len(f) < 5 || len(pf) < 3 {
			continue
		}
		switch pf[0] {
		case "cgroup2":
			unified = append(unified, f[4])
		case "cgroup":
			for _, opt := range strings.Split(pf[2], ",") {
				switch opt {
				case "cpu", "cpuacct", "cpuset", "memory", "pids", "blkio", "freezer", "devices":
					if _, dup := h.v1[opt]; !dup {
						h.v1[opt] = f[4]
					}
				}
			}
		}
	}
	if _, ok := h.v1["memory"]; !ok {
		for _, u := range unified {
			if c, err := os.ReadFile(filepath.Join(u, "cgroup.controllers")); err == nil && len(bytes.TrimSpace(c)) > 0 {
				h.v2 = u
				break
			}
		}
	}
	return h
}

func (h *hierarchy) stats(path string) (*Sample, error) {
	path = filepath.Clean("/" + path)
	s := &Sample{}
	s.Read = time.Now().UTC()
	var err error
	if h.v2 != "" {
		err = h.statsV2(filepath.Join(h.v2, path), s)
	} else {
		err = h.statsV1(path, s)
	}
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, errdefs.NotFound(fmt.Sprintf("no cgroup %s", path))
		}
		return nil, err
	}
	if err := h.systemCPU(s); err != nil {
		return nil, err
	}
	if total := h.memTotal(); total > 0 && (s.MemoryStats.Limit == 0 || s.MemoryStats.Limit > total) {
		s.MemoryStats.Limit = total
	}
	return s, nil
}

func (h *hierarchy) statsV1(path string, s *Sample) error {
	mem, ok := h.v1["memory"]
	if !ok {
		return errors.New("no memory cgroup hierarchy is mounted")
	}
	dir := filepath.Join(mem, path)
	if _, err := os.Stat(dir); err != nil {
		return err
	}
	m := &s.MemoryStats
	m.Usage = readUint(dir, "memory.usage_in_bytes")
	m.MaxUsage = readUint(dir, "memory.max_usage_in_bytes")
	m.Failcnt = readUint(dir, "memory.failcnt")
	m.Limit = readUint(dir, "memory.limit_in_bytes")
	m.Stats = readKV(dir, "memory.stat")
	s.OOMKills = readKV(dir, "memory.oom_control")["oom_kill"]

	if d, ok := h.v1["cpuacct"]; ok {
		d = filepath.Join(d, path)
		u := &s.CPUStats.CPUUsage
		u.TotalUsage = readUint(d, "cpuacct.usage")
		for _, f := range strings.Fields(readString(d, "cpuacct.usage_percpu")) {
			v, _ := strconv.ParseUint(f, 10, 64)
			u.PercpuUsage = append(u.PercpuUsage, v)
		}
		st := readKV(d, "cpuacct.stat")
		u.UsageInUsermode = st["user"] * (1e9 / clockTicks)
		u.UsageInKernelmode = st["system"] * (1e9 / clockTicks)
	}
	if d, ok := h.v1["cpu"]; ok {
		st := readKV(filepath.Join(d, path), "cpu.stat")
		s.CPUStats.ThrottlingData = container.ThrottlingData{
			Periods: st["nr_periods"], ThrottledPeriods: st["nr_throttled"], ThrottledTime: st["throttled_time"],
		}
	}
	if d, ok := h.v1["pids"]; ok {
		d = filepath.Join(d, path)
		s.PidsStats = container.PidsStats{Current: readUint(d, "pids.current"), Limit: readUint(d, "pids.max")}
	}
	if d, ok := h.v1["blkio"]; ok {
		d = filepath.Join(d, path)
		s.BlkioStats.IoServiceBytesRecursive = readBlkioV1(d, "blkio.throttle.io_service_bytes_recursive")
		s.BlkioStats.IoServicedRecursive = readBlkioV1(d, "blkio.throttle.io_serviced_recursive")
	}
	return nil
}

func (h *hierarchy) statsV2(dir string, s *Sample) error {
	if _, err := os.Stat(dir); err != nil {
		return err
	}
	m := &s.MemoryStats
	m.Usage = readUint(dir, "memory.current")
	m.MaxUsage = readUint(dir, "memory.peak")
	m.Limit = readUint(dir, "memory.max")
	m.Stats = readKV(dir, "memory.stat")
	events := readKV(dir, "memory.events")
	s.OOMKills = events["oom_kill"]

	st := readKV(dir, "cpu.stat")
	s.CPUStats.CPUUsage = container.CPUUsage{
		TotalUsage:        st["usage_usec"] * 1000,
		UsageInUsermode:   st["user_usec"] * 1000,
		UsageInKernelmode: st["system_usec"] * 1000,
	}
	s.CPUStats.ThrottlingData = container.ThrottlingData{
		Periods: st["nr_periods"], ThrottledPeriods: st["nr_throttled"], ThrottledTime: st["throttled_usec"] * 1000,
	}
	s.PidsStats = container.PidsStats{Current: readUint(dir, "pids.current"), Limit: readUint(dir, "pids.max")}

	// io.stat: "8:0 rbytes=… wbytes=… rios=… wios=…" per device.
	for _, line := range strings.Split(readString(dir, "io.stat"), "\n") {
		f := strings.Fields(line)
		if len(f) < 2 {
			continue
		}
		major, minor, ok := parseDevice(f[0])
		if !ok {
			continue
		}
		kv := map[string]uint64{}
		for _, p := range f[1:] {
			k, v, _ := strings.Cut(p, "=")
			kv[k], _ = strconv.ParseUint(v, 10, 64)
		}
		add := func(list *[]container.BlkioStatEntry, op string, v uint64) {
			*list = append(*list, container.BlkioStatEntry{Major: major, Minor: minor, Op: op, Value: v})
		}
		add(&s.BlkioStats.IoServiceBytesRecursive, "read", kv["rbytes"])
		add(&s.BlkioStats.IoServiceBytesRecursive, "write", kv["wbytes"])
		add(&s.BlkioStats.IoServicedRecursive, "read", kv["rios"])
		add(&s.BlkioStats.IoServicedRecursive, "write", kv["wios"])
	}
	return nil
}

// systemCPU fills system_cpu_usage (ns) and online_cpus from /proc/stat, as dockerd does.
func (h *hierarchy) systemCPU(s *Sample) error {
	f, err := os.Open(filepath.Join(h.proc, "stat"))
	if err != nil {
		return err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		if !strings.HasPrefix(line, "cpu") {
			break
		}
		fields := strings.Fields(line)
		if fields[0] == "cpu" {
			if len(fields) < 8 {
				return fmt.Errorf("bad cpu line in /proc/stat: %q", line)
			}
			var ticks uint64
			for _, v := range fields[1:8] { // user nice system idle iowait irq softirq
				n, err := strconv.ParseUint(v, 10, 64)
				if err != nil {
					return fmt.Errorf("bad cpu line in /proc/stat: %q", line)
				}
				ticks += n
			}
			s.CPUStats.SystemUsage = ticks * (1e9 / clockTicks)
			continue
		}
		s.CPUStats.OnlineCPUs++
	}
	return sc.Err()
}

// memTotal is the host's memory in bytes.
func (h *hierarchy) memTotal() uint64 {
	for _, line := range strings.Split(readString(h.proc, "meminfo"), "\n") {
		if v, ok := strings.CutPrefix(line, "MemTotal:"); ok {
			kb, _ := strconv.ParseUint(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			return kb * 1024
		}
	}
	return 0
}

func readString(dir, name string) string {
	b, err := os.ReadFile(filepath.Join(dir, name))
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(b))
}

// readUint reads a one-number file; "max" or a missing file is 0.
func readUint(dir, name string) uint64 {
	v, _ := strconv.ParseUint(readString(dir, name), 10, 64)
	return v
}

// readKV reads a "key value" per line file.
func readKV(dir, name string) map[string]uint64 {
	out := map[string]uint64{}
	for _, line := range strings.Split(readString(dir, name), "\n") {
		k, v, ok := strings.Cut(line, " ")
		if !ok {
			continue
		}
		if n, err := strconv.ParseUint(strings.TrimSpace(v), 10, 64); err == nil {
			out[k] = n
		}
	}
	return out
}

// readBlkioV1 reads "major:minor Op value" lines (skipping the "Total" line).
func readBlkioV1(dir, name string) []container.BlkioStatEntry {
	var out []container.BlkioStatEntry
	for _, line := range strings.Split(readString(dir, name), "\n") {
		f := strings.Fields(line)
		if len(f) != 3 {
			continue
		}
		major, minor, ok := parseDevice(f[0])
		v, err := strconv.ParseUint(f[2], 10, 64)
		if !ok || err != nil {
			continue
		}
		out = append(out, container.BlkioStatEntry{Major: major, Minor: minor, Op: f[1], Value: v})
	}
	return out
}

func parseDevice(s string) (major, minor uint64, ok bool) {
	a, b, found := strings.Cut(s, ":")
	if !found {
		return 0, 0, false
	}
	major, err1 := strconv.ParseUint(a, 10, 64)
	minor, err2 := strconv.ParseUint(b, 10, 64)
	return major, minor, err1 == nil && err2 == nil
}
