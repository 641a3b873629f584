package daemon

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/berth-dev/berth/errdefs"
	"github.com/berth-dev/berth/internal/atomicfile"
	"github.com/berth-dev/berth/runtime"
	"github.com/berth-dev/berth/snapshot"
	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/events"
	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// AttachOptions says which streams a client attaches. Nil means not attached.
type AttachOptions struct {
	Stdin  io.Reader
	Stdout io.Writer
	Stderr io.Writer
	// Ready, if set, is called once the attach is registered: output from then on
	// reaches these streams.
	Ready func()
}

func (o AttachOptions) ready() {
	if o.Ready != nil {
		o.Ready()
	}
}

// Start starts a created or exited container. Starting a running one is ErrNotModified.
func (d *Daemon) Start(ctx context.Context, ref string) error {
	c, err := d.lookup(ref)
	if err != nil {
		return err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.State.Status == container.StatePaused {
		return errdefs.Conflict("cannot start a paused container, try unpause instead")
	}
	if c.running() {
		return fmt.Errorf("container %s already started: %w", shortID(c.ID), errdefs.ErrNotModified)
	}
	if c.removing || c.State.Status == container.StateRemoving {
		return errdefs.Conflict(fmt.Sprintf("container %s is marked for removal and cannot be started", shortID(c.ID)))
	}
	d.cancelRestartLocked(c)
	c.ManuallyStopped = false
	return d.startLocked(ctx, c)
}

// startLocked mounts the rootfs, writes the bundle, spawns the shim, connects pending
// attaches and starts the process. On error the container is left as it was, stopped,
// with State.Error set; nothing is left mounted or running.
func (d *Daemon) startLocked(ctx context.Context, c *Container) (err error) {
	ctx = context.WithoutCancel(ctx) // a client going away must not leave a half-started container
	rootfs := filepath.Join(c.Dir, "rootfs")
	var sh *runtime.Shim
	var vm specOptionsMounts
	defer func() {
		if err == nil {
			return
		}
		for _, name := range vm.volumes {
			d.vols.Unmount(name)
		}
		if sh != nil {
			sh.Close()
		}
		d.rt.Cleanup(ctx, c.ID)
		d.teardownNetworking(c)
		snapshot.Unmount(rootfs)
		c.State.Error = err.Error()
		c.State.ExitCode = startErrorExitCode(err.Error())
		d.persist(c)
		for _, p := range c.pending {
			p.result <- nil
		}
		c.pending = nil
		// Waiters learn of the failure as of an exit; --rm containers go away (dockerd does both).
		close(c.exited)
		c.exited = make(chan struct{})
		if c.HostConfig.AutoRemove {
			go d.removeAfterExit(c)
		}
	}()
	if err := os.MkdirAll(rootfs, 0o755); err != nil {
		return err
	}
	if err := snapshot.MountAll(rootfs, c.RootfsMounts); err != nil {
		return fmt.Errorf("mount rootfs: %w", err)
	}
	so, err := d.specOptions(c, rootfs)
	if err != nil {
		return err
	}
	if err := d.setupNetworking(ctx, c, &so); err != nil {
		return err
	}
	if err := d.mountSpecs(c, rootfs, &vm); err != nil {
		return err
	}
	so.Mounts = append(so.Mounts, vm.mounts...)
	if len(vm.tmpfs) > 0 {
		tmpfs := make(map[string]string, len(so.Tmpfs)+len(vm.tmpfs))
		for k, v := range so.Tmpfs {
			tmpfs[k] = v
		}
		for k, v := range vm.tmpfs {
			tmpfs[k] = v
		}
		so.Tmpfs = tmpfs
	}
	spec, err := runtime.Spec(so)
	if err != nil {
		return errdefs.InvalidParameter(err.Error())
	}
	if cs := c.HostConfig.ConsoleSize; c.Config.Tty && cs[0] > 0 && cs[1] > 0 {
		// The client's terminal size from the start, before its first resize call.
		spec.Process.ConsoleSize = &specs.Box{Height: cs[0], Width: cs[1]}
	}
	data, err := json.Marshal(spec)
	if err != nil {
		return err
	}
	if err := atomicfile.WriteFileNoSync(filepath.Join(c.Dir, "config.json"), data, 0o600); err != nil {
		return err
	}
	logOpts, err := logOptions(c.HostConfig.LogConfig)
	if err != nil {
		return err
	}
	logPath := c.LogPath
	if c.HostConfig.LogConfig.Type == "none" {
		logPath = os.DevNull
	}
	sh, err = d.rt.Spawn(ctx, runtime.ShimOptions{
		ID:          c.ID,
		Bundle:      c.Dir,
		LogPath:     logPath,
		Tty:         c.Config.Tty,
		Stdin:       c.Config.OpenStdin,
		LogMaxSize:  logOpts.MaxSize,
		LogMaxFiles: logOpts.MaxFiles,
	})
	if err != nil {
		return fmt.Errorf("start shim: %w", err)
	}
	for _, p := range c.pending {
		ch, aerr := sh.Attach(p.ctx, p.o.Stdin, p.o.Stdout, p.o.Stderr)
		if aerr != nil {
			p.result <- aerr
			continue
		}
		go func(p *pendingAttach) { p.result <- <-ch }(p)
	}
	c.pending = nil
	pid, err := sh.Start(ctx)
	if err != nil {
		return startError(err)
	}
	if err := c.transition(container.StateRunning); err != nil {
		sh.Kill(ctx, 9, true)
		return err
	}
	c.shim = sh
	c.State.Pid = pid
	c.State.StartedAt = time.Now().UTC()
	c.State.Error = ""
	c.State.ExitCode = 0
	c.State.OOMKilled = false
	if err := d.persist(c); err != nil {
		d.log.Error("persist container state", "id", shortID(c.ID), "err", err)
	}
	go d.monitor(c, sh)
	d.emit(c, events.ActionStart, nil)
	return nil
}

// specOptions turns the container's config and host config into the runtime's options.
func (d *Daemon) specOptions(c *Container, rootfs string) (runtime.SpecOptions, error) {
	hc := c.HostConfig
	so := runtime.SpecOptions{
		ID:                c.ID,
		Hostname:          c.Config.Hostname,
		Rootfs:            rootfs,
		Args:              append([]string{c.Path}, c.Args...),
		Env:               c.Config.Env,
		Cwd:               c.Config.WorkingDir,
		User:              c.Config.User,
		Tty:               c.Config.Tty,
		Readonly:          hc.ReadonlyRootfs,
		Mounts:            etcMounts(c.Dir),
		Memory:            hc.Memory,
		MemorySwap:        hc.MemorySwap,
		MemoryReservation: hc.MemoryReservation,
		NanoCPUs:          hc.NanoCPUs,
		CPUShares:         hc.CPUShares,
		CpusetCpus:        hc.CpusetCpus,
		PidsLimit:         hc.PidsLimit,
		Privileged:        hc.Privileged,
		CapAdd:            hc.CapAdd,
		CapDrop:           hc.CapDrop,
		Tmpfs:             hc.Tmpfs,
		ShmSize:           hc.ShmSize,
		Sysctls:           hc.Sysctls,
		GroupAdd:          hc.GroupAdd,
	}
	if hc.OomScoreAdj != 0 {
		adj := hc.OomScoreAdj
		so.OomScoreAdj = &adj
	}
	for _, u := range hc.Ulimits {
		so.Ulimits = append(so.Ulimits, runtime.Ulimit{Name: u.Name, Soft: u.Soft, Hard: u.Hard})
	}
	for _, opt := range hc.SecurityOpt {
		k, v, _ := strings.Cut(opt, "=")
		if !strings.Contains(opt, "=") {
			k, v, _ = strings.Cut(opt, ":") // legacy "seccomp:unconfined"
		}
		switch k {
		case "no-new-privileges":
			so.NoNewPrivileges = v == "" || v == "true"
		case "seccomp":
			so.Seccomp = v
		case "apparmor", "label":
			// no AppArmor or SELinux on these hosts; accepted as dockerd does without them
		default:
			return so, errdefs.InvalidParameter(fmt.Sprintf("invalid --security-opt: %q", opt))
		}
	}
	if hc.Init != nil && *hc.Init {
		init, err := runtime.FindInit()
		if err != nil {
			return so, errdefs.InvalidParameter(fmt.Sprintf("--init: %v (install Debian's tini package)", err))
		}
		so.Init, so.InitPath = true, init
	}
	return so, nil
}

// startError classes runtime start failures as dockerd does: a missing or non-executable
// command is the caller's fault (400), the rest a server error.
func startError(err error) error {
	msg := "failed to create task for container: " + err.Error()
	if strings.Contains(msg, "executable file not found") || strings.Contains(msg, "no such file or directory") ||
		strings.Contains(msg, "permission denied") || strings.Contains(msg, "not a directory") {
		return errdefs.InvalidParameter(msg)
	}
	return errors.New(msg)
}

// startErrorExitCode is the exit code docker reports for a container that failed to start.
func startErrorExitCode(msg string) int {
	switch {
	case strings.Contains(msg, "executable file not found"), strings.Contains(msg, "no such file or directory"):
		return 127
	case strings.Contains(msg, "permission denied"):
		return 126
	}
	return 128
}

// monitor waits for the container's exit, records it and applies auto-removal.
func (d *Daemon) monitor(c *Container, sh *runtime.Shim) {
	st, err := sh.Wait(context.Background())
	if err != nil {
		if st2, rerr := d.rt.ReadExit(c.ID); rerr == nil {
			st = st2
		} else {
			st = runtime.ExitStatus{Code: 255, ExitedAt: time.Now(), Error: err.Error()}
		}
	}
	c.mu.Lock()
	if c.shim != sh {
		c.mu.Unlock()
		return
	}
	ranFor := time.Since(c.State.StartedAt)
	d.finishExit(c, st)
	restart := shouldRestart(c)
	if restart {
		d.scheduleRestartLocked(c, ranFor)
	}
	auto := c.HostConfig != nil && c.HostConfig.AutoRemove
	c.mu.Unlock()
	if auto && !restart {
		d.removeAfterExit(c)
	}
}

// finishExit records an exit and releases the runtime resources; c.mu must be held.
func (d *Daemon) finishExit(c *Container, st runtime.ExitStatus) {
	ctx := context.Background()
	if c.shim != nil {
		c.shim.Close()
		c.shim = nil
	}
	d.rt.Cleanup(ctx, c.ID)
	d.teardownNetworking(c)
	d.releaseVolumes(c)
	if err := snapshot.Unmount(filepath.Join(c.Dir, "rootfs")); err != nil {
		d.log.Warn("unmount rootfs", "id", shortID(c.ID), "err", err)
	}
	if err := c.transition(container.StateExited); err != nil {
		d.log.Warn("record exit", "err", err)
		c.State.Status = container.StateExited
	}
	c.State.ExitCode = st.Code
	c.State.OOMKilled = st.OOMKilled
	c.State.Error = st.Error
	c.State.Pid = 0
	c.State.FinishedAt = st.ExitedAt.UTC()
	if c.State.FinishedAt.IsZero() {
		c.State.FinishedAt = time.Now().UTC()
	}
	if err := d.persist(c); err != nil {
		d.log.Error("persist container state", "id", shortID(c.ID), "err", err)
	}
	close(c.exited)
	c.exited = make(chan struct{})
	if st.OOMKilled {
		d.emit(c, events.ActionOOM, nil)
	}
	d.emit(c, events.ActionDie, map[string]string{"exitCode": strconv.Itoa(st.Code)})
	d.log.Debug("container exited", "id", shortID(c.ID), "code", st.Code)
}

// Attach connects streams to a container. For a created container the attach waits
// for the start, so no output is lost. It returns when the output ends.
func (d *Daemon) Attach(ctx context.Context, ref string, o AttachOptions) error {
	c, err := d.lookup(ref)
	if err != nil {
		return err
	}
	c.mu.Lock()
	switch {
	case c.running() && c.shim != nil:
		sh := c.shim
		c.mu.Unlock()
		ch, err := sh.Attach(ctx, o.Stdin, o.Stdout, o.Stderr)
		if err != nil {
			return err
		}
		o.ready()
		d.emit(c, events.ActionAttach, nil)
		return <-ch
	case c.State.Status == container.StateCreated || c.State.Status == container.StateExited:
		p := &pendingAttach{ctx: ctx, o: o, result: make(chan error, 1)}
		c.pending = append(c.pending, p)
		removed := c.removed
		c.mu.Unlock()
		o.ready()
		d.emit(c, events.ActionAttach, nil)
		select {
		case err := <-p.result:
			return err
		case <-removed:
			return nil
		case <-ctx.Done():
			c.mu.Lock()
			for i, q := range c.pending {
				if q == p {
					c.pending = append(c.pending[:i], c.pending[i+1:]...)
					break
				}
			}
			c.mu.Unlock()
			return ctx.Err()
		}
	default:
		c.mu.Unlock()
		return errdefs.Conflict(fmt.Sprintf("You cannot attach to a stopped container, start it first"))
	}
}

// Wait blocks until the container reaches condition ("not-running", "next-exit",
// "removed") and returns its exit code.
func (d *Daemon) Wait(ctx context.Context, ref, condition string) (int, error) {
	wait, err := d.WaitFor(ref, condition)
	if err != nil {
		return 0, err
	}
	return wait(ctx)
}

// WaitFor registers a wait for condition now and returns the function that waits:
// a client told "registered" may then start the container without a lost exit.
func (d *Daemon) WaitFor(ref, condition string) (func(context.Context) (int, error), error) {
	c, err := d.lookup(ref)
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	code := func() (int, error) {
		c.mu.Lock()
		defer c.mu.Unlock()
		return c.State.ExitCode, nil
	}
	var ch chan struct{}
	switch container.WaitCondition(condition) {
	case "", container.WaitConditionNotRunning:
		if !c.running() && c.State.Status != container.StateRestarting {
			n := c.State.ExitCode
			return func(context.Context) (int, error) { return n, nil }, nil
		}
		ch = c.exited
	case container.WaitConditionNextExit:
		ch = c.exited
	case container.WaitConditionRemoved:
		ch = c.removed
	default:
		return nil, errdefs.InvalidParameter(fmt.Sprintf("invalid condition: %q", condition))
	}
	return func(ctx context.Context) (int, error) {
		select {
		case <-ch:
			return code()
		case <-ctx.Done():
			return 0, ctx.Err()
		}
	}, nil
}

// etcMounts bind-mounts the container's hostname, hosts and resolv.conf over the image's.
func etcMounts(dir string) []specs.Mount {
	var m []specs.Mount
	for _, f := range []string{"hostname", "hosts", "resolv.conf"} {
		m = append(m, specs.Mount{Destination: "/etc/" + f, Type: "bind", Source: filepath.Join(dir, f), Options: []string{"rbind", "rprivate"}})
	}
	return m
}
