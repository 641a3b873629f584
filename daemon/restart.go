package daemon

import (
	"context"
	"time"

	"github.com/moby/moby/api/types/container"
)

// Restart delays as dockerd applies them: 100 ms, doubling to at most a minute, back to
// 100 ms once a run lasted 10 s.
const (
	restartDelayMin   = 100 * time.Millisecond
	restartDelayMax   = time.Minute
	restartResetAfter = 10 * time.Second
)

// shouldRestart applies the restart policy to an exit; c.mu must be held.
func shouldRestart(c *Container) bool {
	if c.ManuallyStopped || c.removing || c.HostConfig == nil {
		return false
	}
	rp := c.HostConfig.RestartPolicy
	switch rp.Name {
	case container.RestartPolicyAlways, container.RestartPolicyUnlessStopped:
		return true
	case container.RestartPolicyOnFailure:
		return c.State.ExitCode != 0 && (rp.MaximumRetryCount == 0 || c.RestartCount < rp.MaximumRetryCount)
	}
	return false
}

// scheduleRestartLocked puts the container in "restarting" and starts it again after
// the back-off delay; c.mu must be held. Stop, kill and rm cancel it.
func (d *Daemon) scheduleRestartLocked(c *Container, ranFor time.Duration) {
	switch {
	case ranFor >= restartResetAfter || c.restartDelay == 0:
		c.restartDelay = restartDelayMin
	default:
		c.restartDelay = min(c.restartDelay*2, restartDelayMax)
	}
	c.State.Status = container.StateRestarting
	d.persist(c)
	cancel := make(chan struct{})
	c.restartCancel = cancel
	delay := c.restartDelay
	go func() {
		t := time.NewTimer(delay)
		defer t.Stop()
		select {
		case <-t.C:
		case <-cancel:
			return
		}
		c.mu.Lock()
		defer c.mu.Unlock()
		if c.restartCancel != cancel || c.State.Status != container.StateRestarting {
			return
		}
		c.restartCancel = nil
		c.RestartCount++
		start := time.Now()
		if err := d.startLocked(context.Background(), c); err != nil {
			d.log.Warn("restart failed", "id", shortID(c.ID), "err", err)
			c.State.Status = container.StateExited
			c.State.FinishedAt = time.Now().UTC()
			if shouldRestart(c) {
				d.scheduleRestartLocked(c, time.Since(start))
				return
			}
			d.persist(c)
		}
	}()
}

// cancelRestartLocked stops a pending restart, leaving the container exited; it
// reports whether one was pending. c.mu must be held.
func (d *Daemon) cancelRestartLocked(c *Container) bool {
	if c.State.Status != container.StateRestarting {
		return false
	}
	if c.restartCancel != nil {
		close(c.restartCancel)
		c.restartCancel = nil
	}
	c.State.Status = container.StateExited
	d.persist(c)
	return true
}

// startOnBoot reports whether berthd starts this stopped container when it starts:
// "always" ones, and "unless-stopped" ones the user did not stop.
func startOnBoot(c *Container) bool {
	if c.HostConfig == nil || c.State.Status == container.StateCreated {
		return false
	}
	switch c.HostConfig.RestartPolicy.Name {
	case container.RestartPolicyAlways:
		return true
	case container.RestartPolicyUnlessStopped:
		return !c.ManuallyStopped
	}
	return false
}
