package daemon

import (
	"context"
	"fmt"

	"github.com/berth-dev/berth/errdefs"
	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/events"
)

// Pause freezes every process of a running container.
func (d *Daemon) Pause(ctx context.Context, ref string) error {
	c, err := d.lookup(ref)
	if err != nil {
		return err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	switch {
	case c.State.Status == container.StatePaused:
		return errdefs.Conflict(fmt.Sprintf("container %s is already paused", c.ID))
	case c.State.Status != container.StateRunning:
		return errdefs.Conflict(fmt.Sprintf("container %s is not running", c.ID))
	}
	if err := d.rt.Pause(ctx, c.ID); err != nil {
		return err
	}
	if err := c.transition(container.StatePaused); err != nil {
		return err
	}
	d.persist(c)
	d.emit(c, events.ActionPause, nil)
	return nil
}

// Unpause thaws a paused container.
func (d *Daemon) Unpause(ctx context.Context, ref string) error {
	c, err := d.lookup(ref)
	if err != nil {
		return err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.State.Status != container.StatePaused {
		return errdefs.Conflict(fmt.Sprintf("container %s is not paused", c.ID))
	}
	if err := d.rt.Resume(ctx, c.ID); err != nil {
		return err
	}
	c.State.Status = container.StateRunning
	d.persist(c)
	d.emit(c, events.ActionUnPause, nil)
	return nil
}

// resumeIfPausedLocked thaws a paused container so signals reach it; c.mu must be held.
func (d *Daemon) resumeIfPausedLocked(ctx context.Context, c *Container) {
	if c.State.Status != container.StatePaused {
		return
	}
	if err := d.rt.Resume(ctx, c.ID); err != nil {
		d.log.Warn("resume before stop", "id", shortID(c.ID), "err", err)
		return
	}
	c.State.Status = container.StateRunning
	d.persist(c)
	d.emit(c, events.ActionUnPause, nil)
}
