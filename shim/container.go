package shim

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/berth-dev/berth/internal/atomicfile"
	"github.com/berth-dev/berth/logger"
	"github.com/berth-dev/berth/logger/jsonfile"
	"github.com/berth-dev/berth/runtime/shimproto"
	"golang.org/x/sys/unix"
)

// start runs `runtime run -d` once and returns the container's init pid.
func (s *shim) start() (int, error) {
	s.mu.Lock()
	if s.status != shimproto.StatusCreated {
		s.mu.Unlock()
		return 0, &codedError{shimproto.CodeConflict, fmt.Sprintf("container %s has already been started", s.cfg.ID)}
	}
	s.status = "starting"
	s.mu.Unlock()

	pid, outs, err := s.run()
	if err != nil {
		s.failStart(err)
		return 0, err
	}
	s.mu.Lock()
	s.pid = pid
	s.status = shimproto.StatusRunning
	s.mu.Unlock()

	exitc := s.reaper.wait(pid)
	var wg sync.WaitGroup
	for i, r := range outs {
		stream, name := shimproto.StreamStdout, "stdout"
		if i == 1 {
			stream, name = shimproto.StreamStderr, "stderr"
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			err := logger.Copy(s.log, name, r, s.broadcast(stream))
			if err != nil && !errors.Is(err, unix.EIO) && !errors.Is(err, os.ErrClosed) {
				logErr("copy "+name, err)
			}
		}()
	}
	go s.exitWhenDone(exitc, outs, &wg)
	return pid, nil
}

// run starts the container and returns its pid and output streams (one with a tty).
func (s *shim) run() (int, []*os.File, error) {
	log, err := jsonfile.NewWriter(s.cfg.LogPath)
	if err != nil {
		return 0, nil, err
	}
	s.log = log
	var (
		closeAfter []*os.File // the container's ends, closed once runc has run
		outs       []*os.File
		stdin      *os.File
		stdout     *os.File
		stderr     *os.File
		consoleLn  *net.UnixListener
		ptyc       chan ptyResult
	)
	fail := func(err error) (int, []*os.File, error) {
		for _, f := range append(closeAfter, outs...) {
			f.Close()
		}
		return 0, nil, err
	}
	args := []string{"--root", s.cfg.RuntimeRoot, "--log", filepath.Join(s.cfg.StateDir, runcLogFile), "--log-format", "json",
		"run", "-d", "--bundle", s.cfg.Bundle, "--pid-file", filepath.Join(s.cfg.StateDir, shimproto.InitPidFile)}
	if s.cfg.Tty {
		path := filepath.Join(s.cfg.StateDir, consoleSock)
		os.Remove(path)
		consoleLn, err = net.ListenUnix("unix", &net.UnixAddr{Name: path, Net: "unix"})
		if err != nil {
			return fail(err)
		}
		defer consoleLn.Close()
		ptyc = make(chan ptyResult, 1)
		go func() { ptyc <- receivePty(consoleLn) }()
		args = append(args, "--console-socket", path)
	} else {
		pr, pw, err := os.Pipe()
		if err != nil {
			return fail(err)
		}
		er, ew, err := os.Pipe()
		if err != nil {
			pr.Close()
			pw.Close()
			return fail(err)
		}
		outs = append(outs, pr, er)
		closeAfter = append(closeAfter, pw, ew)
		stdout, stderr = pw, ew
		if s.stdinR != nil {
			stdin = s.stdinR
			closeAfter = append(closeAfter, s.stdinR)
			s.stdinR = nil
		}
	}
	pid, err := s.spawn(append(args, s.cfg.ID), stdin, stdout, stderr)
	if err != nil {
		return fail(err)
	}
	for _, f := range closeAfter {
		f.Close()
	}
	closeAfter = nil
	ws := <-s.reaper.wait(pid)
	if !ws.Exited() || ws.ExitStatus() != 0 {
		return fail(errors.New(s.runcError(ws)))
	}
	if s.cfg.Tty {
		consoleLn.Close() // runc has run: a pty was sent or never will be
		res := <-ptyc
		if res.err != nil {
			return fail(fmt.Errorf("receive pty from runtime: %w", res.err))
		}
		s.smu.Lock()
		s.pty = res.f
		if s.cfg.Stdin {
			s.stdin = res.f
			if len(s.pending) > 0 {
				res.f.Write(s.pending)
				s.pending = nil
			}
		}
		s.smu.Unlock()
		outs = append(outs, res.f)
	}
	b, err := os.ReadFile(filepath.Join(s.cfg.StateDir, shimproto.InitPidFile))
	if err != nil {
		return fail(fmt.Errorf("read init pid: %w", err))
	}
	initPid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil || initPid <= 0 {
		return fail(fmt.Errorf("bad init pid %q", b))
	}
	return initPid, outs, nil
}

// runcError is the runtime's last error message from its json log.
func (s *shim) runcError(ws unix.WaitStatus) string {
	msg := ""
	if b, err := os.ReadFile(filepath.Join(s.cfg.StateDir, runcLogFile)); err == nil {
		for _, line := range bytes.Split(b, []byte("\n")) {
			var e struct{ Level, Msg string }
			if json.Unmarshal(line, &e) == nil && (e.Level == "error" || e.Level == "fatal") && e.Msg != "" {
				msg = e.Msg
			}
		}
	}
	if msg == "" {
		msg = fmt.Sprintf("%s run failed: exit status %d", filepath.Base(s.cfg.Runtime), ws.ExitStatus())
	}
	return msg
}

// failStart undoes a failed start and makes the shim exit leaving nothing behind.
func (s *shim) failStart(err error) {
	if _, statErr := os.Stat(filepath.Join(s.cfg.RuntimeRoot, s.cfg.ID)); statErr == nil {
		_, derr := s.runc("delete", "--force", s.cfg.ID)
		logErr("delete after failed start", derr)
	}
	s.smu.Lock()
	if s.stdin != nil {
		s.stdin.Close()
		s.stdin = nil
	}
	s.smu.Unlock()
	if s.log != nil {
		s.log.Close()
		if fi, err := os.Stat(s.cfg.LogPath); err == nil && fi.Size() == 0 {
			os.Remove(s.cfg.LogPath)
		}
	}
	code := 128
	switch msg := err.Error(); {
	case strings.Contains(msg, "executable file not found"), strings.Contains(msg, "no such file or directory"):
		code = 127
	case strings.Contains(msg, "permission denied"):
		code = 126
	}
	st := &shimproto.ExitStatus{Code: code, ExitedAt: time.Now().UTC(), Error: err.Error()}
	s.mu.Lock()
	s.status = shimproto.StatusStopped
	s.exit = st
	close(s.exited)
	close(s.deleted)
	s.mu.Unlock()
	s.endAttachers(st)
	go func() {
		s.waitClients()
		os.RemoveAll(s.cfg.StateDir)
		s.stop()
	}()
}

// exitWhenDone records the exit once init has exited and its output has ended.
func (s *shim) exitWhenDone(exitc <-chan unix.WaitStatus, outs []*os.File, wg *sync.WaitGroup) {
	ws := <-exitc
	exitedAt := time.Now().UTC()
	done := make(chan struct{})
	go func() {
		wg.Wait()
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(drainTimeout):
		// Something outside the container still holds its stdio.
		for _, f := range outs {
			f.Close()
		}
		<-done
	}
	for _, f := range outs {
		f.Close()
	}
	logErr("flush log", s.log.Close())
	st := &shimproto.ExitStatus{ExitedAt: exitedAt}
	switch {
	case ws.Exited():
		st.Code = ws.ExitStatus()
	case ws.Signaled():
		st.Code = 128 + int(ws.Signal())
		if ws.Signal() == unix.SIGKILL {
			st.OOMKilled = s.oomKilled()
		}
	}
	b, _ := json.Marshal(st)
	logErr("write exit status", atomicfile.WriteFileNoSync(filepath.Join(s.cfg.StateDir, shimproto.ExitFile), b, 0o600))
	s.smu.Lock()
	if s.stdin != nil {
		s.stdin.Close()
		s.stdin = nil
	}
	s.smu.Unlock()
	s.mu.Lock()
	s.status = shimproto.StatusStopped
	s.exit = st
	close(s.exited)
	s.mu.Unlock()
	s.endAttachers(st)

	if _, err := s.runc("delete", s.cfg.ID); err != nil {
		_, err = s.runc("delete", "--force", s.cfg.ID)
		logErr("delete container", err)
	}
	close(s.deleted)
	s.waitClients()
	s.stop()
}

// waitClients waits until no connection is open, for at most exitGrace.
func (s *shim) waitClients() {
	t := time.NewTimer(exitGrace)
	defer t.Stop()
	for {
		s.mu.Lock()
		n := s.conns
		s.mu.Unlock()
		if n == 0 {
			return
		}
		select {
		case <-s.connc:
		case <-t.C:
			return
		case <-s.finish:
			return
		}
	}
}

// oomKilled reports whether the kernel's OOM killer acted in the container's cgroup.
func (s *shim) oomKilled() bool {
	b, err := os.ReadFile(filepath.Join(s.cfg.Bundle, "config.json"))
	if err != nil {
		return false
	}
	var spec struct {
		Linux struct {
			CgroupsPath string `json:"cgroupsPath"`
		} `json:"linux"`
	}
	if json.Unmarshal(b, &spec) != nil || spec.Linux.CgroupsPath == "" {
		return false
	}
	cg := filepath.Clean("/" + spec.Linux.CgroupsPath)
	for _, f := range []string{"/sys/fs/cgroup" + cg + "/memory.events", "/sys/fs/cgroup/memory" + cg + "/memory.oom_control"} {
		b, err := os.ReadFile(f)
		if err != nil {
			continue
		}
		for _, line := range strings.Split(string(b), "\n") {
			if v, ok := strings.CutPrefix(line, "oom_kill "); ok && strings.TrimSpace(v) != "0" {
				return true
			}
		}
	}
	return false
}

type ptyResult struct {
	f   *os.File
	err error
}

// receivePty accepts the runtime's connection on the console socket and receives
// the pty master over SCM_RIGHTS.
func receivePty(ln *net.UnixListener) ptyResult {
	c, err := ln.AcceptUnix()
	if err != nil {
		return ptyResult{err: err}
	}
	defer c.Close()
	buf := make([]byte, 4096)
	oob := make([]byte, unix.CmsgSpace(4))
	_, oobn, _, _, err := c.ReadMsgUnix(buf, oob)
	if err != nil {
		return ptyResult{err: err}
	}
	msgs, err := unix.ParseSocketControlMessage(oob[:oobn])
	if err != nil || len(msgs) != 1 {
		return ptyResult{err: fmt.Errorf("bad console control message (%v)", err)}
	}
	fds, err := unix.ParseUnixRights(&msgs[0])
	if err != nil || len(fds) != 1 {
		for _, fd := range fds {
			unix.Close(fd)
		}
		return ptyResult{err: fmt.Errorf("bad console rights (%v)", err)}
	}
	unix.CloseOnExec(fds[0])
	if err := unix.SetNonblock(fds[0], true); err != nil {
		unix.Close(fds[0])
		return ptyResult{err: err}
	}
	return ptyResult{f: os.NewFile(uintptr(fds[0]), "pty-master")}
}

// attacher is one attached client.
type attacher struct {
	c              net.Conn
	stdout, stderr bool
	buf            []byte
}

func (a *attacher) send(stream byte, p []byte) error {
	a.buf = shimproto.AppendFrame(a.buf[:0], stream, p)
	_, err := a.c.Write(a.buf)
	return err
}

// broadcast returns the tee that sends a chunk of stream to every attached client.
func (s *shim) broadcast(stream byte) func([]byte) {
	return func(p []byte) {
		s.amu.Lock()
		defer s.amu.Unlock()
		for a := range s.attachers {
			if (stream == shimproto.StreamStdout && !a.stdout) || (stream == shimproto.StreamStderr && !a.stderr) {
				continue
			}
			if err := a.send(stream, p); err != nil {
				delete(s.attachers, a)
				a.c.Close()
			}
		}
	}
}

// endAttachers sends the exit frame to every attached client and disconnects them.
func (s *shim) endAttachers(st *shimproto.ExitStatus) {
	b, _ := json.Marshal(st)
	s.amu.Lock()
	defer s.amu.Unlock()
	s.outputDone = true
	for a := range s.attachers {
		a.send(shimproto.StreamExit, b)
		a.c.Close()
		delete(s.attachers, a)
	}
}

// attach registers a client for output and feeds its stdin frames to the container.
func (s *shim) attach(c net.Conn, br *bufio.Reader, req shimproto.Request) {
	a := &attacher{c: c, stdout: req.Stdout, stderr: req.Stderr || (req.Stdout && s.cfg.Tty)}
	s.amu.Lock()
	if s.outputDone {
		s.amu.Unlock()
		s.mu.Lock()
		st := s.exit
		s.mu.Unlock()
		b, _ := json.Marshal(st)
		reply(c, shimproto.Response{})
		a.send(shimproto.StreamExit, b)
		return
	}
	if err := reply(c, shimproto.Response{}); err != nil {
		s.amu.Unlock()
		return
	}
	s.attachers[a] = struct{}{}
	s.amu.Unlock()

	stdin := req.Stdin && s.cfg.Stdin
	var buf []byte
	for {
		stream, p, nb, err := shimproto.ReadFrame(br, buf)
		buf = nb
		if err != nil {
			break
		}
		if stream != shimproto.StreamStdin || !stdin {
			continue
		}
		if len(p) == 0 {
			s.closeStdin()
			continue
		}
		s.writeStdin(p)
	}
	s.amu.Lock()
	delete(s.attachers, a)
	s.amu.Unlock()
}

func (s *shim) writeStdin(p []byte) {
	s.smu.Lock()
	f := s.stdin
	if f == nil && s.cfg.Tty && s.cfg.Stdin && s.pty == nil && len(s.pending)+len(p) <= maxPending {
		// The pty exists only once the container runs: keep early input for it.
		s.pending = append(s.pending, p...)
	}
	s.smu.Unlock()
	if f != nil {
		f.Write(p)
	}
}

// closeStdin gives the container EOF on stdin (not with a tty, where it means nothing).
func (s *shim) closeStdin() {
	if s.cfg.Tty {
		return
	}
	s.smu.Lock()
	defer s.smu.Unlock()
	if s.stdin != nil && !s.stdinClosed {
		s.stdin.Close()
		s.stdin = nil
		s.stdinClosed = true
	}
}
