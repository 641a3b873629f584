package daemon

import (
	"context"
	"fmt"
	"os/exec"
	"strconv"
	"strings"

	"github.com/berth-dev/berth/errdefs"
	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/events"
)

// Update changes a container's resource limits and restart policy; a running
// container gets the new limits at once through the runtime's update.
func (d *Daemon) Update(ctx context.Context, ref string, u container.UpdateConfig) ([]string, error) {
	c, err := d.lookup(ref)
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	hc := *c.HostConfig
	r := u.Resources
	set := func(dst *int64, v int64) {
		if v != 0 {
			*dst = v
		}
	}
	set(&hc.Memory, r.Memory)
	set(&hc.MemorySwap, r.MemorySwap)
	set(&hc.MemoryReservation, r.MemoryReservation)
	set(&hc.NanoCPUs, r.NanoCPUs)
	set(&hc.CPUShares, r.CPUShares)
	set(&hc.CPUQuota, r.CPUQuota)
	set(&hc.CPUPeriod, r.CPUPeriod)
	if r.CpusetCpus != "" {
		hc.CpusetCpus = r.CpusetCpus
	}
	if r.PidsLimit != nil {
		hc.PidsLimit = r.PidsLimit
	}
	if u.RestartPolicy.Name != "" {
		hc.RestartPolicy = u.RestartPolicy
	}
	if err := validateHostConfig(&hc); err != nil {
		return nil, err
	}
	if c.running() {
		args := []string{"--root", d.rt.RuntimeRoot(), "update"}
		add := func(flag string, v int64) {
			if v != 0 {
				args = append(args, flag, strconv.FormatInt(v, 10))
			}
		}
		add("--memory", r.Memory)
		add("--memory-swap", r.MemorySwap)
		add("--memory-reservation", r.MemoryReservation)
		add("--cpu-share", r.CPUShares)
		if r.NanoCPUs != 0 {
			add("--cpu-period", 100000)
			add("--cpu-quota", r.NanoCPUs*100000/1e9)
		} else {
			add("--cpu-period", r.CPUPeriod)
			add("--cpu-quota", r.CPUQuota)
		}
		if r.CpusetCpus != "" {
			args = append(args, "--cpuset-cpus", r.CpusetCpus)
		}
		if r.PidsLimit != nil {
			add("--pids-limit", *r.PidsLimit)
		}
		if len(args) > 3 {
			args = append(args, c.ID)
			if out, err := exec.CommandContext(ctx, d.cfg.Runtime, args...).CombinedOutput(); err != nil {
				return nil, errdefs.InvalidParameter(fmt.Sprintf("Cannot update container %s: %s", c.ID, strings.TrimSpace(string(out))))
			}
		}
	}
	c.HostConfig = &hc
	if err := d.persist(c); err != nil {
		return nil, err
	}
	d.emit(c, events.ActionUpdate, nil)
	return []string{}, nil
}
