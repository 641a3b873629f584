package shim

import (
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/berth-dev/berth/internal/atomicfile"
	"github.com/berth-dev/berth/logger"
	"github.com/berth-dev/berth/logger/jsonwriter"
	"github.com/berth-dev/berth/runtime/shimproto"
	"golang.org/x/sys/unix"
)

// start runs `runtime run -d` once and returns the container's init pid.
func (s *shim) start() (int, error) {
	if err := s.init.begin(); err != nil {
		return 0, err
	}
	log, err := jsonwriter.NewWriter(s.cfg.LogPath, jsonwriter.Options{MaxSize: s.cfg.LogMaxSize, MaxFiles: s.cfg.LogMaxFiles})
	if err != nil {
		s.failStart(err)
		return 0, err
	}
	s.log = log
	pidFile := filepath.Join(s.cfg.StateDir, shimproto.InitPidFile)
	logFile := filepath.Join(s.cfg.StateDir, runcLogFile)
	args := []string{"--root", s.cfg.RuntimeRoot, "--log", logFile, "--log-format", "json",
		"run", "-d", "--bundle", s.cfg.Bundle, "--pid-file", pidFile}
	outs, err := s.launch(s.init, args, filepath.Join(s.cfg.StateDir, consoleSock), logFile)
	if err == nil {
		var pid int
		if pid, err = readPid(pidFile); err == nil {
			s.init.running(pid)
			s.copyInit(pid, outs)
			return pid, nil
		}
		for _, f := range outs {
			f.Close()
		}
	}
	s.failStart(err)
	return 0, err
}

// copyInit logs and relays the container's output and records its exit.
func (s *shim) copyInit(pid int, outs []*os.File) {
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
			err := logger.Copy(s.log, name, r, s.init.broadcast(stream))
			if err != nil && !errors.Is(err, unix.EIO) && !errors.Is(err, os.ErrClosed) {
				logErr("copy "+name, err)
			}
		}()
	}
	go s.initExited(exitc, outs, &wg)
}

// launch runs the runtime with args (all but the container id) with p's stdio
// and returns p's output streams: stdout and stderr, or the pty master.
func (s *shim) launch(p *proc, args []string, consolePath, logFile string) ([]*os.File, error) {
	var (
		closeAfter []*os.File // the process's ends, closed once the runtime has run
		outs       []*os.File
		stdin      *os.File
		stdout     *os.File
		stderr     *os.File
		consoleLn  *listener
		ptyc       chan ptyResult
	)
	fail := func(err error) ([]*os.File, error) {
		for _, f := range append(closeAfter, outs...) {
			f.Close()
		}
		return nil, err
	}
	if p.tty {
		os.Remove(consolePath)
		ln, err := listenUnix(consolePath)
		if err != nil {
			return fail(err)
		}
		consoleLn = ln
		defer func() {
			consoleLn.Close()
			os.Remove(consolePath)
		}()
		ptyc = make(chan ptyResult, 1)
		go func() { ptyc <- receivePty(consoleLn) }()
		args = append(args, "--console-socket", consolePath)
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
		if stdin = p.takeStdinR(); stdin != nil {
			closeAfter = append(closeAfter, stdin)
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
		return fail(errors.New(runtimeError(logFile, s.cfg.Runtime, ws)))
	}
	if p.tty {
		consoleLn.Close() // the runtime has run: a pty was sent or never will be
		res := <-ptyc
		if res.err != nil {
			return fail(wrap("receive pty from runtime", res.err))
		}
		p.setPty(res.f)
		outs = append(outs, res.f)
	}
	return outs, nil
}

func readPid(path string) (int, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, wrap("read pid", err)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil || pid <= 0 {
		return 0, errors.New("bad pid " + strconv.Quote(string(b)) + " in " + filepath.Base(path))
	}
	return pid, nil
}

// failStart undoes a failed start and makes the shim exit leaving nothing behind.
func (s *shim) failStart(err error) {
	if _, statErr := os.Stat(filepath.Join(s.cfg.RuntimeRoot, s.cfg.ID)); statErr == nil {
		_, derr := s.runc("delete", "--force", s.cfg.ID)
		logErr("delete after failed start", derr)
	}
	if s.log != nil {
		s.log.Close()
		if fi, err := os.Stat(s.cfg.LogPath); err == nil && fi.Size() == 0 {
			os.Remove(s.cfg.LogPath)
		}
	}
	s.init.failed(err)
	s.endExecs()
	close(s.deleted)
	go func() {
		s.waitClients()
		os.RemoveAll(s.cfg.StateDir)
		s.stop()
	}()
}

// initExited records the exit once init has exited and its output has ended,
// deletes the container and makes the shim exit once its clients are served.
func (s *shim) initExited(exitc <-chan unix.WaitStatus, outs []*os.File, wg *sync.WaitGroup) {
	st := s.init.waitOutput(exitc, outs, wg)
	logErr("flush log", s.log.Close())
	st.OOMKilled = oomKilled(cgroupRoot, s.cgroup)
	b := shimproto.AppendExitStatus(nil, st)
	logErr("write exit status", atomicfile.WriteFileNoSync(filepath.Join(s.cfg.StateDir, shimproto.ExitFile), b, 0o600))
	s.init.setExit(st)
	s.endExecs()

	if _, err := s.runc("delete", s.cfg.ID); err != nil {
		_, err = s.runc("delete", "--force", s.cfg.ID)
		logErr("delete container", err)
	}
	s.waitExecs()
	close(s.deleted)
	s.waitClients()
	s.stop()
}

type ptyResult struct {
	f   *os.File
	err error
}

// receivePty accepts the runtime's connection on the console socket and receives
// the pty master over SCM_RIGHTS.
func receivePty(ln *listener) ptyResult {
	c, err := ln.accept()
	if err != nil {
		return ptyResult{err: err}
	}
	defer c.Close()
	f, err := receiveFd(c, "pty-master")
	return ptyResult{f: f, err: err}
}

// exitDeadline bounds the wait for the container's execs after it exited.
func exitDeadline() <-chan time.Time { return time.After(execGrace) }
