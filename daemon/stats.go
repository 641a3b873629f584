package daemon

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"

	"github.com/berth-dev/berth/errdefs"
	"github.com/berth-dev/berth/runtime/cgroups"
	"github.com/moby/moby/api/types/container"
)

// Stats reads one sample of a running container's cgroup; prev (the sample before,
// or nil) fills PreCPUStats so clients can compute CPU percentages.
func (d *Daemon) Stats(ctx context.Context, ref string, prev *container.StatsResponse) (*container.StatsResponse, error) {
	c, err := d.lookup(ref)
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	running := c.running()
	name, pid, mode := c.Name, c.State.Pid, networkMode(c.HostConfig)
	c.mu.Unlock()
	if !running {
		if prev != nil {
			return nil, errdefs.Conflict(fmt.Sprintf("container %s is not running", c.ID))
		}
		// docker answers for stopped containers with an empty sample.
		return &container.StatsResponse{ID: c.ID, Name: name}, nil
	}
	s, err := cgroups.Stats("/berth/" + c.ID)
	if err != nil {
		return nil, err
	}
	out := s.StatsResponse
	out.ID, out.Name = c.ID, name
	if mode != "host" && mode != "none" && pid > 0 {
		out.Networks = netDevStats(pid)
	}
	if prev != nil {
		out.PreCPUStats = prev.CPUStats
		out.PreRead = prev.Read
	}
	return &out, nil
}

// netDevStats reads the counters of a process's network namespace (its interfaces but
// loopback) from /proc/<pid>/net/dev; nil when unreadable.
func netDevStats(pid int) map[string]container.NetworkStats {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/net/dev")
	if err != nil {
		return nil
	}
	out := map[string]container.NetworkStats{}
	for _, line := range strings.Split(string(b), "\n") {
		name, rest, ok := strings.Cut(line, ":")
		name = strings.TrimSpace(name)
		f := strings.Fields(rest)
		if !ok || name == "lo" || len(f) < 12 {
			continue
		}
		n := make([]uint64, 12)
		for i := range n {
			n[i], _ = strconv.ParseUint(f[i], 10, 64)
		}
		out[name] = container.NetworkStats{RxBytes: n[0], RxPackets: n[1], RxErrors: n[2], RxDropped: n[3],
			TxBytes: n[8], TxPackets: n[9], TxErrors: n[10], TxDropped: n[11]}
	}
	return out
}
