package cgroups

import (
	"os"
	"path/filepath"
	"reflect"
	"testing"

	"github.com/berth-dev/berth/errdefs"
	"github.com/moby/moby/api/types/container"
)

func writeFiles(t *testing.T, root string, files map[string]string) {
	t.Helper()
	for name, content := range files {
		p := filepath.Join(root, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

const procStat = `cpu  100 2 30 1000 4 5 6 7 0 0
cpu0 50 1 15 500 2 2 3 3 0 0
cpu1 50 1 15 500 2 3 3 4 0 0
intr 12345
`

func fakeProc(t *testing.T, mountinfo string) string {
	proc := t.TempDir()
	writeFiles(t, proc, map[string]string{
		"self/mountinfo": mountinfo,
		"stat":           procStat,
		"meminfo":        "MemTotal:        1000 kB\nMemFree:          500 kB\n",
	})
	return proc
}

func TestStatsV1(t *testing.T) {
	cg := t.TempDir()
	mountinfo := ""
	for i, c := range []string{"cpu", "cpuacct", "memory", "pids", "blkio"} {
		mountinfo += "3" + string(rune('0'+i)) + " 31 0:29 / " + cg + "/" + c + " rw,relatime - cgroup cgroup rw," + c + "\n"
	}
	mountinfo += "41 31 0:38 / " + cg + "/unified rw,relatime - cgroup2 cgroup2 rw\n"
	writeFiles(t, cg, map[string]string{
		"memory/berth/c1/memory.usage_in_bytes":                    "4096\n",
		"memory/berth/c1/memory.max_usage_in_bytes":                "8192\n",
		"memory/berth/c1/memory.limit_in_bytes":                    "33554432\n",
		"memory/berth/c1/memory.failcnt":                           "3\n",
		"memory/berth/c1/memory.stat":                              "cache 100\nrss 200\ntotal_inactive_file 50\n",
		"memory/berth/c1/memory.oom_control":                       "oom_kill_disable 0\nunder_oom 0\noom_kill 2\n",
		"cpuacct/berth/c1/cpuacct.usage":                           "123456789\n",
		"cpuacct/berth/c1/cpuacct.usage_percpu":                    "100000000 23456789 \n",
		"cpuacct/berth/c1/cpuacct.stat":                            "user 7\nsystem 3\n",
		"cpu/berth/c1/cpu.stat":                                    "nr_periods 10\nnr_throttled 4\nthrottled_time 999\n",
		"pids/berth/c1/pids.current":                               "3\n",
		"pids/berth/c1/pids.max":                                   "max\n",
		"blkio/berth/c1/blkio.throttle.io_service_bytes_recursive": "8:0 Read 4096\n8:0 Write 512\n8:0 Total 4608\nTotal 4608\n",
		"unified/cgroup.controllers":                               "",
	})
	h := detect(fakeProc(t, mountinfo))
	if h.v2 != "" || h.v1["memory"] != cg+"/memory" {
		t.Fatalf("detected %+v", h)
	}
	s, err := h.stats("berth/c1")
	if err != nil {
		t.Fatal(err)
	}
	want := container.MemoryStats{Usage: 4096, MaxUsage: 8192, Failcnt: 3, Limit: 1000 * 1024,
		Stats: map[string]uint64{"cache": 100, "rss": 200, "total_inactive_file": 50}}
	// The 32 MB limit is above the fake host's 1000 kB: reported as the host's memory, as dockerd does.
	if !reflect.DeepEqual(s.MemoryStats, want) {
		t.Fatalf("memory %+v", s.MemoryStats)
	}
	cpu := s.CPUStats
	if cpu.CPUUsage.TotalUsage != 123456789 || !reflect.DeepEqual(cpu.CPUUsage.PercpuUsage, []uint64{100000000, 23456789}) ||
		cpu.CPUUsage.UsageInUsermode != 7e7 || cpu.CPUUsage.UsageInKernelmode != 3e7 {
		t.Fatalf("cpu usage %+v", cpu.CPUUsage)
	}
	if cpu.SystemUsage != (100+2+30+1000+4+5+6)*1e7 || cpu.OnlineCPUs != 2 {
		t.Fatalf("system %d online %d", cpu.SystemUsage, cpu.OnlineCPUs)
	}
	if cpu.ThrottlingData != (container.ThrottlingData{Periods: 10, ThrottledPeriods: 4, ThrottledTime: 999}) {
		t.Fatalf("throttling %+v", cpu.ThrottlingData)
	}
	if s.PidsStats != (container.PidsStats{Current: 3}) || s.OOMKills != 2 || s.Read.IsZero() {
		t.Fatalf("pids %+v oom %d", s.PidsStats, s.OOMKills)
	}
	if len(s.BlkioStats.IoServiceBytesRecursive) != 3 || s.BlkioStats.IoServiceBytesRecursive[0] != (container.BlkioStatEntry{Major: 8, Minor: 0, Op: "Read", Value: 4096}) {
		t.Fatalf("blkio %+v", s.BlkioStats.IoServiceBytesRecursive)
	}
	if _, err := h.stats("berth/nosuch"); !errdefs.IsNotFound(err) {
		t.Fatalf("missing cgroup: %v", err)
	}
}

func TestStatsV2(t *testing.T) {
	cg := t.TempDir()
	writeFiles(t, cg, map[string]string{
		"cgroup.controllers":      "cpuset cpu io memory pids\n",
		"berth/c2/memory.current": "2048\n",
		"berth/c2/memory.peak":    "4096\n",
		"berth/c2/memory.max":     "max\n",
		"berth/c2/memory.stat":    "anon 100\nfile 50\ninactive_file 20\n",
		"berth/c2/memory.events":  "low 0\nhigh 0\nmax 5\noom 1\noom_kill 1\n",
		"berth/c2/cpu.stat":       "usage_usec 1500\nuser_usec 1000\nsystem_usec 500\nnr_periods 2\nnr_throttled 1\nthrottled_usec 7\n",
		"berth/c2/pids.current":   "1\n",
		"berth/c2/pids.max":       "20\n",
		"berth/c2/io.stat":        "8:16 rbytes=10 wbytes=20 rios=1 wios=2 dbytes=0 dios=0\n",
	})
	h := detect(fakeProc(t, "25 1 0:26 / "+cg+" rw,nosuid - cgroup2 cgroup2 rw\n"))
	if h.v2 != cg {
		t.Fatalf("detected %+v", h)
	}
	s, err := h.stats("/berth/c2")
	if err != nil {
		t.Fatal(err)
	}
	if m := s.MemoryStats; m.Usage != 2048 || m.MaxUsage != 4096 || m.Limit != 1000*1024 || m.Stats["inactive_file"] != 20 {
		t.Fatalf("memory %+v", m)
	}
	if u := s.CPUStats.CPUUsage; u.TotalUsage != 1500000 || u.UsageInUsermode != 1e6 || u.UsageInKernelmode != 5e5 || u.PercpuUsage != nil {
		t.Fatalf("cpu %+v", u)
	}
	if s.CPUStats.ThrottlingData.ThrottledTime != 7000 || s.PidsStats.Limit != 20 || s.OOMKills != 1 {
		t.Fatalf("%+v %+v %d", s.CPUStats.ThrottlingData, s.PidsStats, s.OOMKills)
	}
	want := []container.BlkioStatEntry{{Major: 8, Minor: 16, Op: "read", Value: 10}, {Major: 8, Minor: 16, Op: "write", Value: 20}}
	if !reflect.DeepEqual(s.BlkioStats.IoServiceBytesRecursive, want) {
		t.Fatalf("io %+v", s.BlkioStats.IoServiceBytesRecursive)
	}
}

func TestStatsHost(t *testing.T) {
	// Whatever this host uses, the root cgroup reads and system CPU is counted.
	if _, err := os.Stat("/sys/fs/cgroup"); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("no cgroups")
		}
		t.Skip("no cgroups")
	}
	s, err := Stats("/")
	if err != nil {
		t.Fatal(err)
	}
	if s.CPUStats.SystemUsage == 0 || s.CPUStats.OnlineCPUs == 0 || s.MemoryStats.Limit == 0 {
		t.Fatalf("%+v", s.CPUStats)
	}
}
