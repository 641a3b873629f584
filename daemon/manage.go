package daemon

import (
	"context"
	"fmt"
	"os/exec"
	"strconv"
	"strings"
	"time"

	"github.com/berth-dev/berth/errdefs"
	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/events"
)

// Rename gives a container a new name; a taken name is a conflict.
func (d *Daemon) Rename(ctx context.Context, ref, newName string) error {
	c, err := d.lookup(ref)
	if err != nil {
		return err
	}
	if newName == "" || !validName.MatchString(newName) {
		return errdefs.InvalidParameter(fmt.Sprintf("Invalid container name (%s), only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed", newName))
	}
	newName = "/" + trimSlash(newName)
	// Lock order: a container's mu before d.mu (starting containers look others up).
	c.mu.Lock()
	defer c.mu.Unlock()
	d.mu.Lock()
	if other, taken := d.names[newName]; taken {
		d.mu.Unlock()
		if other == c.ID {
			return errdefs.InvalidParameter(fmt.Sprintf("Renaming a container with the same name as its current name"))
		}
		return errdefs.Conflict(fmt.Sprintf("Conflict. The container name %q is already in use by container %q. You have to remove (or rename) that container to be able to reuse that name.", newName, other))
	}
	old := c.Name
	c.Name = newName
	if err := d.persist(c); err != nil {
		c.Name = old
		d.mu.Unlock()
		return err
	}
	delete(d.names, old)
	d.names[newName] = c.ID
	d.mu.Unlock()
	if c.running() {
		d.renameRecords(c)
	}
	d.emit(c, events.ActionRename, map[string]string{"oldName": old})
	return nil
}

// Prune removes stopped containers matching the filters (until, label, label!).
func (d *Daemon) Prune(ctx context.Context, f map[string][]string) (deleted []string, reclaimed uint64, err error) {
	for k := range f {
		if k != "until" && k != "label" && k != "label!" {
			return nil, 0, errdefs.InvalidParameter(fmt.Sprintf("invalid filter '%s'", k))
		}
	}
	var until time.Time
	for _, u := range f["until"] {
		if until, err = parseUntil(u); err != nil {
			return nil, 0, err
		}
	}
	cands := d.allContainers()
	for _, c := range cands {
		c.mu.Lock()
		stopped := c.State.Status == container.StateExited || c.State.Status == container.StateCreated || c.State.Status == container.StateDead
		keep := !stopped || (!until.IsZero() && !c.Created.Before(until)) || !labelsMatch(c.Config.Labels, f["label"], f["label!"])
		c.mu.Unlock()
		if keep {
			continue
		}
		size, _ := d.sn.Usage(ctx, c.ID)
		if err := d.Remove(ctx, c.ID, false, false); err != nil {
			continue // it started meanwhile
		}
		deleted = append(deleted, c.ID)
		reclaimed += uint64(size)
	}
	if deleted == nil {
		deleted = []string{}
	}
	d.emitRaw(events.ContainerEventType, events.ActionPrune, "", map[string]string{"reclaimed": strconv.FormatUint(reclaimed, 10)})
	return deleted, reclaimed, nil
}

// parseUntil reads a prune "until": a Unix timestamp, RFC 3339 time or a duration ago.
func parseUntil(v string) (time.Time, error) {
	if dur, err := time.ParseDuration(v); err == nil {
		return time.Now().Add(-dur), nil
	}
	if t, err := time.Parse(time.RFC3339Nano, v); err == nil {
		return t, nil
	}
	if t, err := time.Parse("2006-01-02T15:04:05", v); err == nil {
		return t, nil
	}
	if t, err := time.Parse("2006-01-02", v); err == nil {
		return t, nil
	}
	sec, frac, _ := strings.Cut(v, ".")
	if n, err := strconv.ParseInt(sec, 10, 64); err == nil {
		ns, _ := strconv.ParseInt((frac + "000000000")[:9], 10, 64)
		return time.Unix(n, ns), nil
	}
	return time.Time{}, errdefs.InvalidParameter(fmt.Sprintf("failed to parse value %q as a timestamp or duration", v))
}

func labelsMatch(labels map[string]string, want, notWant []string) bool {
	has := func(l string) bool {
		k, v, hasV := strings.Cut(l, "=")
		got, ok := labels[k]
		return ok && (!hasV || got == v)
	}
	for _, l := range want {
		if !has(l) {
			return false
		}
	}
	for _, l := range notWant {
		if has(l) {
			return false
		}
	}
	return true
}

// Top lists the container's processes with the host's ps, as dockerd does.
func (d *Daemon) Top(ctx context.Context, ref, psArgs string) (*container.TopResponse, error) {
	c, err := d.lookup(ref)
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	running := c.running()
	c.mu.Unlock()
	if !running {
		return nil, errdefs.Conflict(fmt.Sprintf("container %s is not running", c.ID))
	}
	pids, err := d.rt.Pids(ctx, c.ID)
	if err != nil {
		return nil, err
	}
	if psArgs == "" {
		psArgs = "-ef"
	}
	out, err := exec.CommandContext(ctx, "ps", strings.Fields(psArgs)...).Output()
	if err != nil {
		return nil, errdefs.InvalidParameter(fmt.Sprintf("ps: %v", err))
	}
	return parsePS(string(out), pids)
}

// parsePS keeps the rows of ps output whose PID column holds one of pids.
func parsePS(out string, pids []int) (*container.TopResponse, error) {
	lines := strings.Split(strings.TrimRight(out, "\n"), "\n")
	if len(lines) == 0 {
		return nil, errdefs.InvalidParameter("ps printed nothing")
	}
	titles := strings.Fields(lines[0])
	pidCol := -1
	for i, t := range titles {
		if t == "PID" {
			pidCol = i
		}
	}
	if pidCol < 0 {
		return nil, errdefs.InvalidParameter("Couldn't find PID field in ps output")
	}
	want := map[string]bool{}
	for _, p := range pids {
		want[strconv.Itoa(p)] = true
	}
	resp := &container.TopResponse{Titles: titles, Processes: [][]string{}}
	for _, line := range lines[1:] {
		f := strings.Fields(line)
		if len(f) <= pidCol || !want[f[pidCol]] {
			continue
		}
		// The last column (command) may hold spaces: keep it whole.
		if len(f) > len(titles) {
			f = append(f[:len(titles)-1], strings.Join(f[len(titles)-1:], " "))
		}
		resp.Processes = append(resp.Processes, f)
	}
	return resp, nil
}

// Resize sets the container's TTY size.
func (d *Daemon) Resize(ctx context.Context, ref string, h, w uint16) error {
	c, err := d.lookup(ref)
	if err != nil {
		return err
	}
	c.mu.Lock()
	sh := c.shim
	running := c.running()
	c.mu.Unlock()
	if !running || sh == nil {
		return errdefs.Conflict(fmt.Sprintf("Container %s is not running", c.ID))
	}
	return sh.Resize(ctx, w, h)
}

// ParseUntil parses an until filter (a Go duration before now, or a timestamp).
func ParseUntil(v string) (time.Time, error) { return parseUntil(v) }
