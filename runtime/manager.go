package runtime

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/berth-dev/berth/errdefs"
	"github.com/berth-dev/berth/runtime/shimproto"
	"golang.org/x/sys/unix"
)

// ExitStatus is how a container ended, as recorded by its shim.
type ExitStatus = shimproto.ExitStatus

// Manager spawns and finds berth-shim processes under an exec root.
type Manager struct {
	execRoot      string
	shimBinary    string
	runtimeBinary string
}

// ShimOptions describe the container a shim supervises.
type ShimOptions struct {
	ID      string
	Bundle  string // OCI bundle directory holding config.json
	LogPath string // json-file log
	Tty     bool
	Stdin   bool

	LogMaxSize  int64 // rotate the log at this size in bytes; 0 = never
	LogMaxFiles int   // log files kept, the current one included; 0 = 1
}

// Shim is a client of one container's shim.
type Shim struct {
	m    *Manager
	id   string
	sock string
	pid  int
}

// NewManager returns a Manager keeping runtime state under execRoot (runc/ and shims/).
func NewManager(execRoot, shimBinary, runtimeBinary string) *Manager {
	return &Manager{execRoot: execRoot, shimBinary: shimBinary, runtimeBinary: runtimeBinary}
}

// RuntimeRoot is the runtime's state root (runc --root).
func (m *Manager) RuntimeRoot() string { return filepath.Join(m.execRoot, "runc") }

// StateDir is the state directory of the shim of container id.
func (m *Manager) StateDir(id string) string { return filepath.Join(m.execRoot, "shims", id) }

func validID(id string) error {
	if id == "" || id == "." || id == ".." || strings.ContainsAny(id, "/\x00") {
		return errdefs.InvalidParameter(fmt.Sprintf("invalid container id %q", id))
	}
	return nil
}

// Spawn starts a detached berth-shim for o.ID and returns once its socket is ready.
// The container is not started until Start.
func (m *Manager) Spawn(ctx context.Context, o ShimOptions) (*Shim, error) {
	if err := validID(o.ID); err != nil {
		return nil, err
	}
	dir := m.StateDir(o.ID)
	sock := filepath.Join(dir, shimproto.SockFile)
	if c, err := net.Dial("unix", sock); err == nil {
		c.Close()
		return nil, errdefs.Conflict(fmt.Sprintf("a shim for container %s is already running", o.ID))
	}
	os.RemoveAll(dir)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(m.RuntimeRoot(), 0o700); err != nil {
		return nil, err
	}
	logf, err := os.OpenFile(filepath.Join(dir, shimproto.LogFile), os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		return nil, err
	}
	defer logf.Close()
	rd, wr, err := os.Pipe()
	if err != nil {
		return nil, err
	}
	defer rd.Close()
	args := []string{"-id", o.ID, "-bundle", o.Bundle, "-runtime", m.runtimeBinary,
		"-runtime-root", m.RuntimeRoot(), "-state-dir", dir, "-log", o.LogPath}
	if o.LogMaxSize > 0 {
		args = append(args, "-log-max-size", strconv.FormatInt(o.LogMaxSize, 10), "-log-max-files", strconv.Itoa(max(o.LogMaxFiles, 1)))
	}
	if o.Tty {
		args = append(args, "-tty")
	}
	if o.Stdin {
		args = append(args, "-stdin")
	}
	cmd := exec.Command(m.shimBinary, args...)
	cmd.Stderr = logf
	cmd.Env = shimEnv()
	cmd.ExtraFiles = []*os.File{wr}
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	err = cmd.Start()
	wr.Close()
	if err != nil {
		os.RemoveAll(dir)
		return nil, fmt.Errorf("start shim: %w", err)
	}
	pid := cmd.Process.Pid
	reapChild(pid)
	cmd.Process.Release()

	ready := make(chan error, 1)
	go func() {
		var b [1]byte
		n, _ := rd.Read(b[:])
		if n == 1 {
			ready <- nil
			return
		}
		msg, _ := os.ReadFile(filepath.Join(dir, shimproto.LogFile))
		ready <- fmt.Errorf("shim for %s exited before it was ready: %s", o.ID, strings.TrimSpace(string(msg)))
	}()
	select {
	case err = <-ready:
	case <-ctx.Done():
		err = ctx.Err()
	}
	if err != nil {
		unix.Kill(pid, unix.SIGKILL)
		os.RemoveAll(dir)
		return nil, err
	}
	return &Shim{m: m, id: o.ID, sock: sock}, nil
}

// shimEnv is the daemon's environment with GOMAXPROCS=1: a shim needs no
// parallelism, and each P costs memory in every container's shim.
func shimEnv() []string {
	env := slices.DeleteFunc(os.Environ(), func(kv string) bool { return strings.HasPrefix(kv, "GOMAXPROCS=") })
	return append(env, "GOMAXPROCS=1")
}

// reapChild reaps the shim once it exits while this process is its parent,
// without holding a thread: it waits for its pidfd in the poller.
func reapChild(pid int) {
	fd, err := unix.PidfdOpen(pid, unix.PIDFD_NONBLOCK)
	if err != nil {
		return
	}
	f := os.NewFile(uintptr(fd), "pidfd")
	rc, err := f.SyscallConn()
	if err != nil {
		f.Close()
		return
	}
	go func() {
		defer f.Close()
		rc.Read(func(uintptr) bool {
			var ws unix.WaitStatus
			wpid, err := unix.Wait4(pid, &ws, unix.WNOHANG, nil)
			return wpid == pid || (err != nil && err != unix.EINTR)
		})
	}()
}

// Connect returns a client for the live shim of container id, after a daemon
// restart for instance; errdefs.ErrNotFound if the shim is gone.
func (m *Manager) Connect(ctx context.Context, id string) (*Shim, error) {
	if err := validID(id); err != nil {
		return nil, err
	}
	s := &Shim{m: m, id: id, sock: filepath.Join(m.StateDir(id), shimproto.SockFile)}
	r, err := s.call(ctx, shimproto.Request{Op: shimproto.OpState})
	if err != nil {
		return nil, err
	}
	s.pid = r.Pid
	return s, nil
}

// ReadExit returns the exit status recorded by the shim of container id;
// errdefs.ErrNotFound if there is none.
func (m *Manager) ReadExit(id string) (ExitStatus, error) {
	var st ExitStatus
	if err := validID(id); err != nil {
		return st, err
	}
	b, err := os.ReadFile(filepath.Join(m.StateDir(id), shimproto.ExitFile))
	if errors.Is(err, fs.ErrNotExist) {
		return st, errdefs.NotFound(fmt.Sprintf("no exit status recorded for container %s", id))
	}
	if err != nil {
		return st, err
	}
	if err := json.Unmarshal(b, &st); err != nil {
		return st, fmt.Errorf("exit status of %s: %w", id, err)
	}
	return st, nil
}

// Cleanup removes everything left of container id's runtime state: it makes a
// live shim finish (killing the container if it still runs), kills a shim that
// does not answer, deletes leftover runtime state and removes the state dir.
// It is idempotent.
func (m *Manager) Cleanup(ctx context.Context, id string) error {
	if err := validID(id); err != nil {
		return err
	}
	dir := m.StateDir(id)
	shimPid := 0
	if b, err := os.ReadFile(filepath.Join(dir, shimproto.PidFile)); err == nil {
		shimPid, _ = strconv.Atoi(strings.TrimSpace(string(b)))
	}
	s := &Shim{m: m, id: id, sock: filepath.Join(dir, shimproto.SockFile)}
	if _, err := s.call(ctx, shimproto.Request{Op: shimproto.OpShutdown}); err != nil && !errdefs.IsNotFound(err) {
		if ctx.Err() != nil {
			return err
		}
	}
	if shimPid > 0 && isShim(shimPid, id) {
		if err := waitGone(ctx, shimPid, 2*time.Second); err != nil {
			unix.Kill(shimPid, unix.SIGKILL)
			waitGone(ctx, shimPid, 2*time.Second)
		}
	}
	if _, err := os.Stat(filepath.Join(m.RuntimeRoot(), id)); err == nil {
		out, err := exec.CommandContext(ctx, m.runtimeBinary, "--root", m.RuntimeRoot(), "delete", "--force", id).CombinedOutput()
		if err != nil {
			if _, serr := os.Stat(filepath.Join(m.RuntimeRoot(), id)); serr == nil {
				return fmt.Errorf("%s delete %s: %s", filepath.Base(m.runtimeBinary), id, bytes.TrimSpace(out))
			}
		}
	}
	if err := os.RemoveAll(dir); err != nil {
		return err
	}
	return nil
}

// isShim reports whether pid is a berth-shim for container id.
func isShim(pid int, id string) bool {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/cmdline")
	if err != nil {
		return false
	}
	args := strings.Split(string(b), "\x00")
	for i := 0; i+1 < len(args); i++ {
		if args[i] == "-id" && args[i+1] == id {
			return true
		}
	}
	return false
}

// waitGone waits for pid to exit, through its pidfd, for at most d.
func waitGone(ctx context.Context, pid int, d time.Duration) error {
	fd, err := unix.PidfdOpen(pid, 0)
	if err != nil {
		return nil // already gone
	}
	defer unix.Close(fd)
	ms := int(d / time.Millisecond)
	if dl, ok := ctx.Deadline(); ok {
		ms = min(ms, int(time.Until(dl)/time.Millisecond))
	}
	fds := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}
	for {
		n, err := unix.Poll(fds, max(ms, 0))
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return err
		}
		if n == 0 {
			return fmt.Errorf("process %d did not exit", pid)
		}
		return nil
	}
}

// Close releases the client. A Shim holds no connection between calls (each
// request uses its own), so this never affects the shim or the container.
func (s *Shim) Close() error { return nil }

// ID is the container id.
func (s *Shim) ID() string { return s.id }

// Pid is the container's init pid, once started (0 before).
func (s *Shim) Pid() int { return s.pid }

// dial connects to the shim; errdefs.ErrNotFound if it is gone.
func (s *Shim) dial(ctx context.Context) (net.Conn, error) {
	var d net.Dialer
	c, err := d.DialContext(ctx, "unix", s.sock)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) || errors.Is(err, unix.ECONNREFUSED) {
			return nil, errdefs.NotFound(fmt.Sprintf("shim for container %s is gone", s.id))
		}
		return nil, err
	}
	return c, nil
}

// call performs one request and reads its one-line response.
func (s *Shim) call(ctx context.Context, req shimproto.Request) (shimproto.Response, error) {
	var r shimproto.Response
	c, err := s.dial(ctx)
	if err != nil {
		return r, err
	}
	defer c.Close()
	stop := context.AfterFunc(ctx, func() { c.SetDeadline(time.Unix(1, 0)) })
	defer stop()
	if _, err := c.Write(shimproto.MarshalLine(req)); err != nil {
		return r, s.connErr(ctx, err)
	}
	line, err := bufio.NewReader(c).ReadBytes('\n')
	if err != nil {
		return r, s.connErr(ctx, err)
	}
	if err := json.Unmarshal(line, &r); err != nil {
		return r, fmt.Errorf("shim for %s: bad response: %w", s.id, err)
	}
	return r, responseErr(r)
}

func (s *Shim) connErr(ctx context.Context, err error) error {
	if ctx.Err() != nil {
		return ctx.Err()
	}
	if errors.Is(err, unix.ECONNRESET) || errors.Is(err, unix.EPIPE) || errors.Is(err, io.EOF) {
		// The shim closed the connection mid-request: it is exiting with its container.
		return errdefs.NotFound(fmt.Sprintf("shim for container %s is gone", s.id))
	}
	return fmt.Errorf("shim for container %s: %w", s.id, err)
}

func responseErr(r shimproto.Response) error {
	if r.Error == "" {
		return nil
	}
	switch r.Code {
	case shimproto.CodeConflict:
		return errdefs.Conflict(r.Error)
	case shimproto.CodeInvalid:
		return errdefs.InvalidParameter(r.Error)
	case shimproto.CodeNotFound:
		return errdefs.NotFound(r.Error)
	}
	return errors.New(r.Error)
}

// Start runs the container and returns its init pid. If the runtime fails, the
// error carries its message and the shim exits leaving nothing behind.
func (s *Shim) Start(ctx context.Context) (int, error) {
	r, err := s.call(ctx, shimproto.Request{Op: shimproto.OpStart})
	if err != nil {
		return 0, err
	}
	s.pid = r.Pid
	return r.Pid, nil
}

// Wait blocks until the container has exited and returns its exit status. It
// falls back to exit.json when the shim is already gone.
func (s *Shim) Wait(ctx context.Context) (ExitStatus, error) {
	r, err := s.call(ctx, shimproto.Request{Op: shimproto.OpWait})
	if err == nil && r.Exit != nil {
		return *r.Exit, nil
	}
	if ctx.Err() != nil {
		return ExitStatus{}, ctx.Err()
	}
	if st, rerr := s.m.ReadExit(s.id); rerr == nil {
		return st, nil
	}
	if err == nil {
		err = fmt.Errorf("shim for container %s gave no exit status", s.id)
	}
	return ExitStatus{}, err
}

// Kill sends sig to the container's init process, or to all its processes.
func (s *Shim) Kill(ctx context.Context, sig syscall.Signal, all bool) error {
	_, err := s.call(ctx, shimproto.Request{Op: shimproto.OpKill, Signal: int(sig), All: all})
	return err
}

// Resize sets the size of the container's tty.
func (s *Shim) Resize(ctx context.Context, w, h uint16) error {
	_, err := s.call(ctx, shimproto.Request{Op: shimproto.OpResize, Width: w, Height: h})
	return err
}

// State returns the container's init pid and status (created, running, stopped).
func (s *Shim) State(ctx context.Context) (pid int, status string, err error) {
	r, err := s.call(ctx, shimproto.Request{Op: shimproto.OpState})
	return r.Pid, r.Status, err
}

// Attach connects streams to the container: nil means not attached. Output is
// relayed from the moment Attach returns, so attaching before Start loses
// nothing. EOF on stdin closes the container's stdin. The channel yields nil
// once the output has ended (the container exited), or an error if ctx is done
// or the shim went away.
func (s *Shim) Attach(ctx context.Context, stdin io.Reader, stdout, stderr io.Writer) (<-chan error, error) {
	return s.attach(ctx, shimproto.Request{Op: shimproto.OpAttach}, stdin, stdout, stderr)
}

// attach performs an attach request (OpAttach or OpExecAttach) and relays frames.
func (s *Shim) attach(ctx context.Context, req shimproto.Request, stdin io.Reader, stdout, stderr io.Writer) (<-chan error, error) {
	c, err := s.dial(ctx)
	if err != nil {
		return nil, err
	}
	req.Stdin, req.Stdout, req.Stderr = stdin != nil, stdout != nil, stderr != nil
	if _, err := c.Write(shimproto.MarshalLine(req)); err != nil {
		c.Close()
		return nil, s.connErr(ctx, err)
	}
	br := bufio.NewReader(c)
	line, err := br.ReadBytes('\n')
	if err != nil {
		c.Close()
		return nil, s.connErr(ctx, err)
	}
	var r shimproto.Response
	if err := json.Unmarshal(line, &r); err != nil {
		c.Close()
		return nil, fmt.Errorf("shim for %s: bad response: %w", s.id, err)
	}
	if err := responseErr(r); err != nil {
		c.Close()
		return nil, err
	}
	done := make(chan error, 1)
	stop := context.AfterFunc(ctx, func() { c.Close() })
	if stdin != nil {
		go func() {
			buf := make([]byte, 32<<10)
			frame := make([]byte, 0, len(buf)+5)
			for {
				n, err := stdin.Read(buf)
				if n > 0 {
					frame = shimproto.AppendFrame(frame[:0], shimproto.StreamStdin, buf[:n])
					if _, werr := c.Write(frame); werr != nil {
						return
					}
				}
				if err != nil {
					if err == io.EOF {
						c.Write(shimproto.AppendFrame(frame[:0], shimproto.StreamStdin, nil))
					}
					return
				}
			}
		}()
	}
	go func() {
		defer c.Close()
		defer stop()
		var buf []byte
		for {
			stream, p, nb, err := shimproto.ReadFrame(br, buf)
			buf = nb
			if err != nil {
				if ctx.Err() != nil {
					err = ctx.Err()
				} else {
					err = fmt.Errorf("shim for container %s: attach ended: %w", s.id, err)
				}
				done <- err
				return
			}
			switch stream {
			case shimproto.StreamStdout:
				if stdout != nil {
					stdout.Write(p)
				}
			case shimproto.StreamStderr:
				if stderr != nil {
					stderr.Write(p)
				}
			case shimproto.StreamExit:
				done <- nil
				return
			}
		}
	}()
	return done, nil
}

// runtime runs the OCI runtime with args under the runtime root and returns its stdout.
func (m *Manager) runtime(ctx context.Context, args ...string) ([]byte, error) {
	cmd := exec.CommandContext(ctx, m.runtimeBinary, append([]string{"--root", m.RuntimeRoot()}, args...)...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		msg := strings.TrimSpace(stderr.String())
		if msg == "" {
			msg = err.Error()
		}
		return out, fmt.Errorf("%s %s: %s", filepath.Base(m.runtimeBinary), args[0], msg)
	}
	return out, nil
}

// runtimeStatus returns the runtime's status of container id: created,
// running, paused or stopped; errdefs.ErrNotFound if the runtime has no such container.
func (m *Manager) runtimeStatus(ctx context.Context, id string) (string, error) {
	if err := validID(id); err != nil {
		return "", err
	}
	out, err := m.runtime(ctx, "state", id)
	if err != nil {
		if strings.Contains(err.Error(), "does not exist") {
			return "", errdefs.NotFound(fmt.Sprintf("No such container: %s", id))
		}
		return "", err
	}
	var st struct {
		Status string `json:"status"`
	}
	if err := json.Unmarshal(out, &st); err != nil {
		return "", fmt.Errorf("runtime state of %s: %w", id, err)
	}
	return st.Status, nil
}

// Pause freezes every process of container id (runc pause). errdefs.ErrConflict
// if it is already paused or not running.
func (m *Manager) Pause(ctx context.Context, id string) error {
	st, err := m.runtimeStatus(ctx, id)
	if err != nil {
		return err
	}
	switch st {
	case "paused":
		return errdefs.Conflict(fmt.Sprintf("Container %s is already paused", id))
	case "running":
	default:
		return errdefs.Conflict(fmt.Sprintf("Container %s is not running", id))
	}
	_, err = m.runtime(ctx, "pause", id)
	return err
}

// Resume thaws container id (runc resume). errdefs.ErrConflict if it is not paused.
func (m *Manager) Resume(ctx context.Context, id string) error {
	st, err := m.runtimeStatus(ctx, id)
	if err != nil {
		return err
	}
	if st != "paused" {
		return errdefs.Conflict(fmt.Sprintf("Container %s is not paused", id))
	}
	_, err = m.runtime(ctx, "resume", id)
	return err
}

// Paused reports whether container id is paused.
func (m *Manager) Paused(ctx context.Context, id string) (bool, error) {
	st, err := m.runtimeStatus(ctx, id)
	return st == "paused", err
}

// Pids lists the host pids of container id's processes (runc ps).
func (m *Manager) Pids(ctx context.Context, id string) ([]int, error) {
	st, err := m.runtimeStatus(ctx, id)
	if err != nil {
		return nil, err
	}
	if st != "running" && st != "paused" {
		return nil, errdefs.Conflict(fmt.Sprintf("Container %s is not running", id))
	}
	out, err := m.runtime(ctx, "ps", "--format", "json", id)
	if err != nil {
		return nil, err
	}
	var pids []int
	if err := json.Unmarshal(out, &pids); err != nil {
		return nil, fmt.Errorf("runtime ps of %s: %w", id, err)
	}
	return pids, nil
}
