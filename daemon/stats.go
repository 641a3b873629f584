package daemon

import (
	"context"
	"fmt"

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
	name := c.Name
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
	if prev != nil {
		out.PreCPUStats = prev.CPUStats
		out.PreRead = prev.Read
	}
	return &out, nil
}
