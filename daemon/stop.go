package daemon

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/berth-dev/berth/errdefs"
	"github.com/berth-dev/berth/metadata"
	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/events"
	"github.com/moby/moby/api/types/mount"
	"golang.org/x/sys/unix"
)

const defaultStopTimeout = 10 * time.Second

// ParseSignal accepts a signal by name ("TERM", "SIGTERM", "sigterm") or number.
func ParseSignal(s string) (syscall.Signal, error) {
	if n, err := strconv.Atoi(s); err == nil {
		if n <= 0 || n > 64 {
			return 0, errdefs.InvalidParameter(fmt.Sprintf("Invalid signal: %s", s))
		}
		return syscall.Signal(n), nil
	}
	name := strings.ToUpper(s)
	if !strings.HasPrefix(name, "SIG") {
		name = "SIG" + name
	}
	if sig := unix.SignalNum(name); sig != 0 {
		return sig, nil
	}
	return 0, errdefs.InvalidParameter(fmt.Sprintf("Invalid signal: %s", s))
}

// Stop sends the stop signal, waits up to the timeout, then kills. Stopping a container
// that is not running is ErrNotModified.
func (d *Daemon) Stop(ctx context.Context, ref string, timeout *int, signal string) error {
	c, err := d.lookup(ref)
	if err != nil {
		return err
	}
	c.mu.Lock()
	if d.cancelRestartLocked(c) {
		c.ManuallyStopped = true
		d.persist(c)
		c.mu.Unlock()
		d.emit(c, events.ActionStop, nil)
		return nil
	}
	if !c.running() || c.shim == nil {
		c.mu.Unlock()
		return fmt.Errorf("container %s is not running: %w", shortID(c.ID), errdefs.ErrNotModified)
	}
	c.ManuallyStopped = true
	d.persist(c)
	d.resumeIfPausedLocked(ctx, c)
	sh, exited := c.shim, c.exited
	if signal == "" {
		signal = c.Config.StopSignal
	}
	wait := defaultStopTimeout
	if c.Config.StopTimeout != nil {
		wait = time.Duration(*c.Config.StopTimeout) * time.Second
	}
	c.mu.Unlock()
	if timeout != nil {
		wait = time.Duration(*timeout) * time.Second
	}
	sig := syscall.SIGTERM
	if signal != "" {
		if sig, err = ParseSignal(signal); err != nil {
			return err
		}
	}
	defer d.emit(c, events.ActionStop, nil)
	if wait != 0 {
		d.emit(c, events.ActionKill, map[string]string{"signal": strconv.Itoa(int(sig))})
		if err := sh.Kill(ctx, sig, false); err != nil {
			d.log.Debug("stop signal", "id", shortID(c.ID), "err", err)
		}
	}
	if wait >= 0 {
		t := time.NewTimer(wait)
		defer t.Stop()
		select {
		case <-exited:
			return nil
		case <-t.C:
		case <-ctx.Done():
			return ctx.Err()
		}
	} else {
		select {
		case <-exited:
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return d.killAndWait(ctx, sh, exited)
}

func (d *Daemon) killAndWait(ctx context.Context, sh interface {
	Kill(context.Context, syscall.Signal, bool) error
}, exited chan struct{}) error {
	sh.Kill(ctx, syscall.SIGKILL, true)
	t := time.NewTimer(30 * time.Second)
	defer t.Stop()
	select {
	case <-exited:
		return nil
	case <-t.C:
		return fmt.Errorf("container did not exit 30s after SIGKILL")
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Kill sends a signal (default SIGKILL); with SIGKILL it waits for the exit.
func (d *Daemon) Kill(ctx context.Context, ref, signal string) error {
	c, err := d.lookup(ref)
	if err != nil {
		return err
	}
	sig := syscall.SIGKILL
	if signal != "" {
		if sig, err = ParseSignal(signal); err != nil {
			return err
		}
	}
	c.mu.Lock()
	if d.cancelRestartLocked(c) {
		c.ManuallyStopped = true
		d.persist(c)
		c.mu.Unlock()
		return nil
	}
	if !c.running() || c.shim == nil {
		c.mu.Unlock()
		return errdefs.Conflict(fmt.Sprintf("Cannot kill container: %s: container %s is not running", ref, c.ID))
	}
	c.ManuallyStopped = true
	d.persist(c)
	d.resumeIfPausedLocked(ctx, c)
	sh, exited := c.shim, c.exited
	c.mu.Unlock()
	d.emit(c, events.ActionKill, map[string]string{"signal": strconv.Itoa(int(sig))})
	if sig == syscall.SIGKILL {
		return d.killAndWait(ctx, sh, exited)
	}
	return sh.Kill(ctx, sig, false)
}

// Restart stops (if running) and starts a container.
func (d *Daemon) Restart(ctx context.Context, ref string, timeout *int, signal string) error {
	if err := d.Stop(ctx, ref, timeout, signal); err != nil && !errorsIsNotModified(err) {
		return err
	}
	if err := d.Start(ctx, ref); err != nil {
		return err
	}
	if c, err := d.lookup(ref); err == nil {
		d.emit(c, events.ActionRestart, nil)
	}
	return nil
}

// Remove deletes a container: refused with 409 while it runs unless force.
// With volumes, the container's anonymous volumes go too (rm -v).
func (d *Daemon) Remove(ctx context.Context, ref string, force, volumes bool) error {
	c, err := d.lookup(ref)
	if err != nil {
		return err
	}
	c.mu.Lock()
	if c.removing {
		c.mu.Unlock()
		return errdefs.Conflict(fmt.Sprintf("removal of container %s is already in progress", ref))
	}
	if c.State.Status == container.StateRestarting {
		if !force {
			c.mu.Unlock()
			return errdefs.Conflict(fmt.Sprintf("cannot remove container %q: container is restarting: stop the container before removing or force remove", c.Name))
		}
		d.cancelRestartLocked(c)
	}
	if c.running() {
		if !force {
			c.mu.Unlock()
			return errdefs.Conflict(fmt.Sprintf("cannot remove container %q: container is running: stop the container before removing or force remove", c.Name))
		}
		d.resumeIfPausedLocked(ctx, c)
		sh, exited := c.shim, c.exited
		c.removing = true
		c.mu.Unlock()
		if err := d.killAndWait(context.WithoutCancel(ctx), sh, exited); err != nil {
			c.mu.Lock()
			c.removing = false
			c.mu.Unlock()
			return fmt.Errorf("could not kill container %s: %w", ref, err)
		}
		c.mu.Lock()
	}
	c.removing = true
	c.mu.Unlock()
	return d.remove(context.WithoutCancel(ctx), c, volumes)
}

// removeAfterExit is auto-removal (--rm) and the end of a removal cut short by a crash.
func (d *Daemon) removeAfterExit(c *Container) {
	c.mu.Lock()
	if c.removing && c.State.Status != container.StateRemoving {
		c.mu.Unlock()
		return // a user's rm is already doing it
	}
	c.removing = true
	c.mu.Unlock()
	// --rm takes the anonymous volumes along, as docker does.
	if err := d.remove(context.Background(), c, c.HostConfig != nil && c.HostConfig.AutoRemove); err != nil {
		d.log.Error("auto-remove", "id", shortID(c.ID), "err", err)
	}
}

// remove marks the record, deletes the rw layer and directory, then the record. A crash
// in between leaves a "removing" record that the next start finishes.
func (d *Daemon) remove(ctx context.Context, c *Container, volumes bool) error {
	c.mu.Lock()
	c.State.Status = container.StateRemoving
	err := d.persist(c)
	c.mu.Unlock()
	if err != nil {
		return err
	}
	d.rt.Cleanup(ctx, c.ID)
	if err := d.images.RemoveRootfs(ctx, c.ID); err != nil {
		return fmt.Errorf("remove rootfs of %s: %w", shortID(c.ID), err)
	}
	if err := os.RemoveAll(c.Dir); err != nil {
		return err
	}
	if err := d.db.Update(func(tx *metadata.Tx) error { return tx.Delete(bucketContainers, c.ID) }); err != nil {
		return err
	}
	d.mu.Lock()
	delete(d.containers, c.ID)
	if d.names[c.Name] == c.ID {
		delete(d.names, c.Name)
	}
	d.mu.Unlock()
	close(c.removed)
	d.forgetExecs(c)
	d.emit(c, events.ActionDestroy, nil)
	if volumes {
		var anon []string
		for _, mp := range c.MountPoints {
			if mp.Type == mount.TypeVolume && mp.Anonymous {
				anon = append(anon, mp.Name)
			}
		}
		d.removeVolumes(anon)
	}
	d.log.Debug("container removed", "id", shortID(c.ID))
	return nil
}
