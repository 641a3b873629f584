package daemon

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/berth-dev/berth/errdefs"
	"github.com/docker/go-units"
	"github.com/moby/moby/api/types/container"
)

// ListOptions mirrors GET /containers/json.
type ListOptions struct {
	All     bool
	Size    bool
	Limit   int
	Filters map[string][]string
}

var listFilters = map[string]bool{"id": true, "name": true, "status": true, "label": true, "ancestor": true, "exited": true, "before": true, "since": true}

// List returns container summaries, newest first, as docker ps shows them.
func (d *Daemon) List(ctx context.Context, o ListOptions) ([]container.Summary, error) {
	for k := range o.Filters {
		if !listFilters[k] {
			return nil, errdefs.InvalidParameter(fmt.Sprintf("invalid filter '%s'", k))
		}
	}
	all := d.allContainers()
	sort.Slice(all, func(i, j int) bool { return all[i].Created.After(all[j].Created) })

	var before, since time.Time
	for key, dst := range map[string]*time.Time{"before": &before, "since": &since} {
		for _, ref := range o.Filters[key] {
			c, err := d.lookup(ref)
			if err != nil {
				return nil, err
			}
			*dst = c.Created
		}
	}
	out := []container.Summary{}
	now := time.Now()
	for _, c := range all {
		c.mu.Lock()
		s, keep := d.summaryLocked(c, now)
		keep = keep && (o.All || o.Limit > 0 || c.running() || len(o.Filters["status"]) > 0 || len(o.Filters["exited"]) > 0)
		keep = keep && matchFilters(c, o.Filters, before, since)
		c.mu.Unlock()
		if !keep {
			continue
		}
		if o.Size {
			s.SizeRw, _ = d.sn.Usage(ctx, c.ID)
			s.SizeRootFs = s.SizeRw
			if img, err := d.images.Get(ctx, c.ImageID); err == nil {
				s.SizeRootFs += img.Size
			}
		}
		out = append(out, s)
		if o.Limit > 0 && len(out) >= o.Limit {
			break
		}
	}
	return out, nil
}

func matchFilters(c *Container, f map[string][]string, before, since time.Time) bool {
	matchAny := func(key string, ok func(string) bool) bool {
		vals := f[key]
		if len(vals) == 0 {
			return true
		}
		for _, v := range vals {
			if ok(v) {
				return true
			}
		}
		return false
	}
	if !before.IsZero() && !c.Created.Before(before) {
		return false
	}
	if !since.IsZero() && !c.Created.After(since) {
		return false
	}
	return matchAny("id", func(v string) bool { return strings.HasPrefix(c.ID, v) }) &&
		matchAny("name", func(v string) bool { return strings.Contains(trimSlash(c.Name), trimSlash(v)) }) &&
		matchAny("status", func(v string) bool { return string(c.State.Status) == v }) &&
		matchAny("ancestor", func(v string) bool {
			return c.Image == v || c.ImageID == v || strings.HasPrefix(strings.TrimPrefix(c.ImageID, "sha256:"), v)
		}) &&
		matchAny("exited", func(v string) bool {
			return c.State.Status == container.StateExited && fmt.Sprint(c.State.ExitCode) == v
		}) &&
		matchAny("label", func(v string) bool {
			k, val, hasVal := strings.Cut(v, "=")
			got, ok := c.Config.Labels[k]
			return ok && (!hasVal || got == val)
		})
}

// statusString is docker's human STATUS column: "Up 2 minutes", "Exited (0) 3 seconds ago".
func statusString(c *Container, now time.Time) string {
	switch c.State.Status {
	case container.StateRunning:
		return "Up " + units.HumanDuration(now.Sub(c.State.StartedAt))
	case container.StatePaused:
		return "Up " + units.HumanDuration(now.Sub(c.State.StartedAt)) + " (Paused)"
	case container.StateRestarting:
		return fmt.Sprintf("Restarting (%d) %s ago", c.State.ExitCode, units.HumanDuration(now.Sub(c.State.FinishedAt)))
	case container.StateExited:
		if c.State.FinishedAt.IsZero() {
			return "Created"
		}
		return fmt.Sprintf("Exited (%d) %s ago", c.State.ExitCode, units.HumanDuration(now.Sub(c.State.FinishedAt)))
	case container.StateRemoving:
		return "Removal In Progress"
	case container.StateCreated:
		return "Created"
	}
	return string(c.State.Status)
}

func (d *Daemon) summaryLocked(c *Container, now time.Time) (container.Summary, bool) {
	// dockerd quotes arguments holding spaces: sh -c 'while true; …'
	cmd := c.Path
	for _, a := range c.Args {
		if strings.Contains(a, " ") {
			a = "'" + a + "'"
		}
		cmd += " " + a
	}
	labels := c.Config.Labels
	if labels == nil {
		labels = map[string]string{}
	}
	s := container.Summary{
		ID:      c.ID,
		Names:   []string{c.Name},
		Image:   c.Image,
		ImageID: c.ImageID,
		Command: cmd,
		Created: c.Created.Unix(),
		Ports:   c.portSummaries(),
		Labels:  labels,
		State:   c.State.Status,
		Status:  statusString(c, now),
		Mounts:  d.mountPointsAPI(c),
	}
	s.HostConfig.NetworkMode = string(c.HostConfig.NetworkMode)
	s.NetworkSettings = &container.NetworkSettingsSummary{Networks: c.networkSettings().Networks}
	return s, true
}

// Inspect returns docker's container inspect document.
func (d *Daemon) Inspect(ctx context.Context, ref string) (*container.InspectResponse, error) {
	c, err := d.lookup(ref)
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	ts := func(t time.Time) string {
		if t.IsZero() {
			return "0001-01-01T00:00:00Z"
		}
		return t.UTC().Format(time.RFC3339Nano)
	}
	st := c.State
	cfg := *c.Config
	return &container.InspectResponse{
		ID:      c.ID,
		Created: ts(c.Created),
		Path:    c.Path,
		Args:    append([]string{}, c.Args...),
		State: &container.State{
			Status:     st.Status,
			Running:    st.Status == container.StateRunning || st.Status == container.StatePaused,
			Paused:     st.Status == container.StatePaused,
			Restarting: st.Status == container.StateRestarting,
			OOMKilled:  st.OOMKilled,
			Dead:       st.Status == container.StateDead,
			Pid:        st.Pid,
			ExitCode:   st.ExitCode,
			Error:      st.Error,
			StartedAt:  ts(st.StartedAt),
			FinishedAt: ts(st.FinishedAt),
		},
		Image:           c.ImageID,
		ResolvConfPath:  c.Dir + "/resolv.conf",
		HostnamePath:    c.Dir + "/hostname",
		HostsPath:       c.Dir + "/hosts",
		LogPath:         c.LogPath,
		Name:            c.Name,
		RestartCount:    c.RestartCount,
		Driver:          "overlay2",
		Platform:        "linux",
		HostConfig:      c.HostConfig,
		Mounts:          d.mountPointsAPI(c),
		Config:          &cfg,
		NetworkSettings: c.networkSettings(),
	}, nil
}
