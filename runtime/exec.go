package runtime

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"path/filepath"
	"slices"
	"strings"
	"syscall"

	"github.com/berth-dev/berth/errdefs"
	"github.com/berth-dev/berth/runtime/shimproto"
	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// ExecOptions describe an additional process to run in a running container.
type ExecOptions struct {
	ID      string        // exec id, unique in the container
	Process specs.Process // see ExecProcess; Terminal is set from Tty
	Tty     bool          // give the process a pty
	Stdin   bool          // keep its stdin open for ExecAttach
}

// ExecProcessOptions are what `docker exec` sets on top of the container's process.
type ExecProcessOptions struct {
	Args       []string
	Env        []string // merged over the container's environment
	User       string   // "" keeps the container's user
	Cwd        string   // "" keeps the container's working directory
	Tty        bool
	Privileged bool     // all capabilities
	GroupAdd   []string // the container's --group-add, applied when User is set
}

// ExecProcess derives an exec's process from the container's spec as Docker
// does: it keeps the container's capabilities, rlimits, no-new-privileges,
// AppArmor and SELinux labels and OOM score, and sets args, env, user and cwd.
func ExecProcess(spec *specs.Spec, o ExecProcessOptions) (specs.Process, error) {
	if spec == nil || spec.Process == nil {
		return specs.Process{}, errdefs.InvalidParameter("container spec has no process")
	}
	if len(o.Args) == 0 || o.Args[0] == "" {
		return specs.Process{}, errdefs.InvalidParameter("No exec command specified")
	}
	p := *spec.Process
	p.Args = slices.Clone(o.Args)
	p.Terminal = o.Tty
	p.ConsoleSize = nil
	env := slices.Clone(spec.Process.Env)
	if o.Tty && !slices.ContainsFunc(env, func(kv string) bool { return strings.HasPrefix(kv, "TERM=") }) {
		env = append(env, "TERM=xterm")
	}
	p.Env = mergeEnv(env, o.Env)
	if o.Cwd != "" {
		if !strings.HasPrefix(o.Cwd, "/") {
			return specs.Process{}, errdefs.InvalidParameter(fmt.Sprintf("the working directory '%s' is invalid, it needs to be an absolute path", o.Cwd))
		}
		p.Cwd = o.Cwd
	}
	if o.User != "" {
		if spec.Root == nil || !filepath.IsAbs(spec.Root.Path) {
			return specs.Process{}, errdefs.InvalidParameter("container spec has no absolute rootfs path")
		}
		u, err := ResolveUser(spec.Root.Path, o.User)
		if err != nil {
			return specs.Process{}, err
		}
		if u.AdditionalGids, err = addGroups(spec.Root.Path, u.AdditionalGids, o.GroupAdd); err != nil {
			return specs.Process{}, err
		}
		p.User = u
	} else {
		p.User.AdditionalGids = slices.Clone(p.User.AdditionalGids)
	}
	if o.Privileged {
		all := AllCapabilities()
		p.Capabilities = &specs.LinuxCapabilities{Bounding: all, Effective: all, Permitted: all}
	} else if c := spec.Process.Capabilities; c != nil {
		p.Capabilities = &specs.LinuxCapabilities{
			Bounding: slices.Clone(c.Bounding), Effective: slices.Clone(c.Effective), Permitted: slices.Clone(c.Permitted),
			Inheritable: slices.Clone(c.Inheritable), Ambient: slices.Clone(c.Ambient),
		}
	}
	p.Rlimits = slices.Clone(spec.Process.Rlimits)
	return p, nil
}

// Exec registers an exec process in the running container; it starts with
// ExecStart, after ExecAttach if its output is wanted. errdefs.ErrConflict if
// the container is not running or the id is taken.
func (s *Shim) Exec(ctx context.Context, o ExecOptions) error {
	p := o.Process
	p.Terminal = o.Tty
	b, err := json.Marshal(&p)
	if err != nil {
		return err
	}
	_, err = s.call(ctx, shimproto.Request{Op: shimproto.OpExec, ExecID: o.ID, Tty: o.Tty, Stdin: o.Stdin, Process: b})
	if errdefs.IsNotFound(err) {
		// The shim is gone: so is the container.
		return errdefs.Conflict(fmt.Sprintf("Container %s is not running", s.id))
	}
	return err
}

// ExecAttach connects streams to exec execID, as Attach does for the container.
// The exec's output is not logged: attach before ExecStart to see all of it.
func (s *Shim) ExecAttach(ctx context.Context, execID string, stdin io.Reader, stdout, stderr io.Writer) (<-chan error, error) {
	return s.attach(ctx, shimproto.Request{Op: shimproto.OpExecAttach, ExecID: execID}, stdin, stdout, stderr)
}

// ExecStart starts exec execID and returns its pid. A process that cannot be
// started (missing command …) is an error, and ExecWait then reports it.
func (s *Shim) ExecStart(ctx context.Context, execID string) (int, error) {
	r, err := s.call(ctx, shimproto.Request{Op: shimproto.OpExecStart, ExecID: execID})
	return r.Pid, err
}

// ExecWait blocks until exec execID has exited and returns its status (Code is
// 128+signal for a killed process). errdefs.ErrConflict if the container
// exited before the exec was started.
func (s *Shim) ExecWait(ctx context.Context, execID string) (ExitStatus, error) {
	r, err := s.call(ctx, shimproto.Request{Op: shimproto.OpExecWait, ExecID: execID})
	if err != nil {
		return ExitStatus{}, err
	}
	if r.Exit == nil {
		return ExitStatus{}, fmt.Errorf("shim for container %s gave no exit status for exec %s", s.id, execID)
	}
	return *r.Exit, nil
}

// ExecResize sets the size of exec execID's tty.
func (s *Shim) ExecResize(ctx context.Context, execID string, w, h uint16) error {
	_, err := s.call(ctx, shimproto.Request{Op: shimproto.OpExecResize, ExecID: execID, Width: w, Height: h})
	return err
}

// ExecKill sends sig to exec execID.
func (s *Shim) ExecKill(ctx context.Context, execID string, sig syscall.Signal) error {
	_, err := s.call(ctx, shimproto.Request{Op: shimproto.OpExecKill, ExecID: execID, Signal: int(sig)})
	return err
}

// ExecState returns exec execID's pid, status (created, running, stopped) and,
// once stopped, its exit status.
func (s *Shim) ExecState(ctx context.Context, execID string) (pid int, status string, exit *ExitStatus, err error) {
	r, err := s.call(ctx, shimproto.Request{Op: shimproto.OpExecState, ExecID: execID})
	return r.Pid, r.Status, r.Exit, err
}
