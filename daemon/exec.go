package daemon

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/berth-dev/berth/errdefs"
	"github.com/berth-dev/berth/runtime"
	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/events"
	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// execInstance is one `exec` process; kept in memory, as dockerd does.
type execInstance struct {
	ID   string
	c    *Container
	req  container.ExecCreateRequest
	proc specs.Process

	mu       sync.Mutex
	started  bool
	running  bool
	pid      int
	exitCode *int
	done     chan struct{} // closed when the process has exited and its code is recorded
}

// ExecCreate registers a process to run in a running container.
func (d *Daemon) ExecCreate(ctx context.Context, ref string, req container.ExecCreateRequest) (string, error) {
	c, err := d.lookup(ref)
	if err != nil {
		return "", err
	}
	if len(req.Cmd) == 0 {
		return "", errdefs.InvalidParameter("No exec command specified")
	}
	c.mu.Lock()
	sh, status := c.shim, c.State.Status
	c.mu.Unlock()
	switch {
	case status == container.StatePaused:
		return "", errdefs.Conflict(fmt.Sprintf("container %s is paused, unpause the container before exec", c.ID))
	case status != container.StateRunning || sh == nil:
		return "", errdefs.Conflict(fmt.Sprintf("container %s is not running", c.ID))
	}
	data, err := os.ReadFile(filepath.Join(c.Dir, "config.json"))
	if err != nil {
		return "", fmt.Errorf("read container spec: %w", err)
	}
	var spec specs.Spec
	if err := json.Unmarshal(data, &spec); err != nil {
		return "", fmt.Errorf("read container spec: %w", err)
	}
	proc, err := runtime.ExecProcess(&spec, runtime.ExecProcessOptions{
		Args: req.Cmd, Env: req.Env, User: req.User, Cwd: req.WorkingDir, Tty: req.Tty, Privileged: req.Privileged,
	})
	if err != nil {
		return "", errdefs.InvalidParameter(err.Error())
	}
	if cs := req.ConsoleSize; req.Tty && cs != nil && cs[0] > 0 && cs[1] > 0 {
		proc.ConsoleSize = &specs.Box{Height: cs[0], Width: cs[1]}
	}
	e := &execInstance{ID: newID(), c: c, req: req, proc: proc, done: make(chan struct{})}
	if err := sh.Exec(ctx, runtime.ExecOptions{ID: e.ID, Process: proc, Tty: req.Tty, Stdin: req.AttachStdin}); err != nil {
		return "", err
	}
	d.execMu.Lock()
	d.execs[e.ID] = e
	d.execMu.Unlock()
	d.emit(c, events.Action(string(events.ActionExecCreate)+": "+joinArgs(req.Cmd)), map[string]string{"execID": e.ID})
	return e.ID, nil
}

func (d *Daemon) execByID(id string) (*execInstance, error) {
	d.execMu.Lock()
	defer d.execMu.Unlock()
	if e, ok := d.execs[id]; ok {
		return e, nil
	}
	return nil, errdefs.NotFound("No such exec instance: " + id)
}

// ExecStart starts an exec process; unless detached it streams until the process ends
// and its exit code is recorded, so a client's inspect right after sees it.
func (d *Daemon) ExecStart(ctx context.Context, id string, detach bool, o AttachOptions) error {
	e, err := d.execByID(id)
	if err != nil {
		return err
	}
	e.mu.Lock()
	if e.started {
		e.mu.Unlock()
		return errdefs.Conflict(fmt.Sprintf("exec instance %s has already been started", id))
	}
	e.started = true
	e.mu.Unlock()
	c := e.c
	c.mu.Lock()
	sh := c.shim
	running := c.State.Status == container.StateRunning
	c.mu.Unlock()
	if !running || sh == nil {
		return errdefs.Conflict(fmt.Sprintf("container %s is not running", c.ID))
	}
	var out <-chan error
	if !detach {
		if out, err = sh.ExecAttach(ctx, id, o.Stdin, o.Stdout, o.Stderr); err != nil {
			return err
		}
		o.ready()
	}
	pid, err := sh.ExecStart(context.WithoutCancel(ctx), id)
	if err != nil {
		code := startErrorExitCode(err.Error())
		e.mu.Lock()
		e.exitCode = &code
		e.mu.Unlock()
		close(e.done)
		return startError(err)
	}
	e.mu.Lock()
	e.pid, e.running = pid, true
	e.mu.Unlock()
	d.emit(c, events.Action(string(events.ActionExecStart)+": "+joinArgs(e.req.Cmd)), map[string]string{"execID": id})
	go func() {
		st, err := sh.ExecWait(context.Background(), id)
		code := st.Code
		if err != nil {
			code = 126
		}
		e.mu.Lock()
		e.exitCode, e.running = &code, false
		e.mu.Unlock()
		close(e.done)
		d.emit(c, events.ActionExecDie, map[string]string{"execID": id, "exitCode": fmt.Sprint(code)})
	}()
	if detach {
		return nil
	}
	if err := <-out; err != nil && ctx.Err() == nil {
		d.log.Debug("exec attach ended", "exec", shortID(id), "err", err)
	}
	if ctx.Err() != nil {
		d.emit(c, events.ActionExecDetach, map[string]string{"execID": id})
		return nil // detached: the process goes on
	}
	select {
	case <-e.done:
	case <-time.After(5 * time.Second):
	}
	return nil
}

// ExecInspect returns docker's exec inspect document.
func (d *Daemon) ExecInspect(ctx context.Context, id string) (*container.ExecInspectResponse, error) {
	e, err := d.execByID(id)
	if err != nil {
		return nil, err
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	priv := e.req.Privileged
	return &container.ExecInspectResponse{
		ID:       e.ID,
		Running:  e.running,
		ExitCode: e.exitCode,
		ProcessConfig: &container.ExecProcessConfig{
			Tty: e.req.Tty, Entrypoint: e.req.Cmd[0], Arguments: e.req.Cmd[1:], Privileged: &priv, User: e.req.User,
		},
		OpenStdin:   e.req.AttachStdin,
		OpenStdout:  e.req.AttachStdout,
		OpenStderr:  e.req.AttachStderr,
		CanRemove:   !e.running && e.started,
		ContainerID: e.c.ID,
		Pid:         e.pid,
		DetachKeys:  []byte(e.req.DetachKeys),
	}, nil
}

// ExecResize sets an exec's TTY size.
func (d *Daemon) ExecResize(ctx context.Context, id string, h, w uint16) error {
	e, err := d.execByID(id)
	if err != nil {
		return err
	}
	e.c.mu.Lock()
	sh := e.c.shim
	e.c.mu.Unlock()
	if sh == nil {
		return errdefs.Conflict(fmt.Sprintf("container %s is not running", e.c.ID))
	}
	return sh.ExecResize(ctx, id, w, h)
}

// forgetExecs drops the exec records of a removed container.
func (d *Daemon) forgetExecs(c *Container) {
	d.execMu.Lock()
	defer d.execMu.Unlock()
	for id, e := range d.execs {
		if e.c == c {
			delete(d.execs, id)
		}
	}
}

func joinArgs(args []string) string {
	s := ""
	for i, a := range args {
		if i > 0 {
			s += " "
		}
		s += a
	}
	return s
}
