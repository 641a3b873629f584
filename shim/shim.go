package shim

import (
	"bufio"
	"errors"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/berth-dev/berth/internal/atomicfile"
	"github.com/berth-dev/berth/logger/jsonwriter"
	"github.com/berth-dev/berth/runtime/shimproto"
	"golang.org/x/sys/unix"
)

const (
	drainTimeout = 2 * time.Second // after a process exits, longest wait for its output to end
	exitGrace    = 2 * time.Second // after the exit, longest wait for clients to finish
	execGrace    = 3 * time.Second // after the container exits, longest wait for its execs to be reaped
	runcLogFile  = "runc.log"
	consoleSock  = "console.sock"
	maxPending   = 1 << 20 // tty input kept before start
	maxExecs     = 256     // exec processes remembered at once
)

// Config is what berth-shim is started with.
type Config struct {
	ID          string // container id
	Bundle      string // OCI bundle directory (config.json)
	Runtime     string // runtime binary, e.g. /usr/sbin/runc
	RuntimeRoot string // runtime state root (runc --root)
	StateDir    string // shim.sock, shim.pid, init.pid, exit.json
	LogPath     string // json-file log
	LogMaxSize  int64  // rotate the log at this size; 0 = never
	LogMaxFiles int    // log files kept, the current one included; 0 = 1
	Tty         bool   // give the container a pty
	Stdin       bool   // keep the container's stdin open for attach
}

type shim struct {
	cfg    Config
	reaper *reaper
	ln     *listener
	init   *proc
	cgroup string // the container's cgroups path, from config.json

	mu       sync.Mutex // conns, execs, execSeq
	conns    int
	execs    map[string]*proc
	execList []*proc // registration order, for retention
	execSeq  int

	deleted chan struct{} // closed once the runtime state is gone
	connc   chan struct{} // pinged when a connection ends
	finish  chan struct{} // closed to make the shim exit now
	once    sync.Once

	log *jsonwriter.Writer
}

// Run runs the shim until its container has exited and its clients are served.
// If ready is not nil, one byte is written to it and it is closed once the socket
// accepts requests.
func Run(cfg Config, ready *os.File) error {
	if err := unix.Prctl(unix.PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0); err != nil {
		return wrap("set child subreaper", err)
	}
	// Handled, not ignored: an ignored disposition would be inherited by the
	// container. Nobody reads the channel: once full, later signals are dropped.
	signal.Notify(make(chan os.Signal, 1), unix.SIGTERM, unix.SIGINT, unix.SIGHUP)
	s := &shim{
		cfg:     cfg,
		reaper:  newReaper(),
		execs:   map[string]*proc{},
		deleted: make(chan struct{}),
		connc:   make(chan struct{}, 1),
		finish:  make(chan struct{}),
	}
	s.init = newProc(s, "", cfg.Tty, cfg.Stdin)
	s.cgroup = readCgroupsPath(cfg.Bundle)
	if err := os.MkdirAll(cfg.StateDir, 0o700); err != nil {
		return err
	}
	if err := s.init.openStdin(); err != nil {
		return err
	}
	sock := filepath.Join(cfg.StateDir, shimproto.SockFile)
	os.Remove(sock)
	ln, err := listenUnix(sock)
	if err != nil {
		return err
	}
	s.ln = ln
	if err := atomicfile.WriteFileNoSync(filepath.Join(cfg.StateDir, shimproto.PidFile), []byte(strconv.Itoa(os.Getpid())), 0o600); err != nil {
		ln.Close()
		return err
	}
	if ready != nil {
		ready.Write([]byte{1})
		ready.Close()
	}
	go s.serve()
	<-s.finish
	ln.Close()
	for _, f := range []string{shimproto.SockFile, shimproto.PidFile, shimproto.InitPidFile, runcLogFile, consoleSock} {
		os.Remove(filepath.Join(cfg.StateDir, f))
	}
	return nil
}

func (s *shim) serve() {
	for {
		c, err := s.ln.accept()
		if err != nil {
			return
		}
		s.mu.Lock()
		s.conns++
		s.mu.Unlock()
		go func() {
			s.handle(c)
			c.Close()
			s.mu.Lock()
			s.conns--
			s.mu.Unlock()
			select {
			case s.connc <- struct{}{}:
			default:
			}
		}()
	}
}

func (s *shim) handle(c *os.File) {
	br := bufio.NewReaderSize(c, 1024)
	line, err := br.ReadBytes('\n')
	if err != nil {
		return
	}
	req, err := shimproto.ParseRequest(line)
	if err != nil {
		reply(c, shimproto.Response{Error: "invalid request: " + err.Error(), Code: shimproto.CodeInvalid})
		return
	}
	switch req.Op {
	case shimproto.OpStart:
		pid, err := s.start()
		reply(c, response(shimproto.Response{Pid: pid}, err))
	case shimproto.OpAttach:
		s.init.attach(c, br, req)
	case shimproto.OpWait:
		s.init.wait(c, br)
	case shimproto.OpKill:
		reply(c, response(shimproto.Response{}, s.kill(unix.Signal(req.Signal), req.All)))
	case shimproto.OpResize:
		reply(c, response(shimproto.Response{}, s.init.resize(req.Width, req.Height)))
	case shimproto.OpState:
		reply(c, s.init.state())
	case shimproto.OpShutdown:
		s.shutdown()
		reply(c, shimproto.Response{})
		s.stop()
	case shimproto.OpExec:
		reply(c, response(shimproto.Response{}, s.addExec(req)))
	case shimproto.OpExecStart, shimproto.OpExecAttach, shimproto.OpExecWait, shimproto.OpExecKill,
		shimproto.OpExecResize, shimproto.OpExecState:
		p, err := s.exec(req.ExecID)
		if err != nil {
			reply(c, response(shimproto.Response{}, err))
			return
		}
		switch req.Op {
		case shimproto.OpExecStart:
			pid, err := s.startExec(p)
			reply(c, response(shimproto.Response{Pid: pid}, err))
		case shimproto.OpExecAttach:
			p.attach(c, br, req)
		case shimproto.OpExecWait:
			p.wait(c, br)
		case shimproto.OpExecKill:
			reply(c, response(shimproto.Response{}, p.kill(unix.Signal(req.Signal))))
		case shimproto.OpExecResize:
			reply(c, response(shimproto.Response{}, p.resize(req.Width, req.Height)))
		case shimproto.OpExecState:
			reply(c, p.state())
		}
	default:
		reply(c, shimproto.Response{Error: "unknown shim operation " + strconv.Quote(req.Op), Code: shimproto.CodeInvalid})
	}
}

// stop makes Run return.
func (s *shim) stop() { s.once.Do(func() { close(s.finish) }) }

type codedError struct {
	code string
	msg  string
}

func (e *codedError) Error() string { return e.msg }

// wrapped is an error with context, as fmt.Errorf("msg: %w") makes (fmt stays out of the shim).
type wrapped struct {
	msg string
	err error
}

func (e *wrapped) Error() string { return e.msg + ": " + e.err.Error() }
func (e *wrapped) Unwrap() error { return e.err }

func wrap(msg string, err error) error { return &wrapped{msg, err} }

func notRunning(id string) error {
	return &codedError{shimproto.CodeConflict, "Container " + id + " is not running"}
}

func response(r shimproto.Response, err error) shimproto.Response {
	if err != nil {
		r.Error = err.Error()
		var ce *codedError
		if errors.As(err, &ce) {
			r.Code = ce.code
		}
	}
	return r
}

func reply(c io.Writer, r shimproto.Response) error {
	_, err := c.Write(shimproto.MarshalLine(r))
	return err
}

// kill signals the container's init process, or all its processes.
func (s *shim) kill(sig unix.Signal, all bool) error {
	status, pid := s.init.current()
	if status != shimproto.StatusRunning {
		return notRunning(s.cfg.ID)
	}
	if all {
		_, err := s.runc("kill", "--all", s.cfg.ID, strconv.Itoa(int(sig)))
		if err == nil && sig == unix.SIGKILL {
			s.thaw()
		}
		return err
	}
	if err := s.reaper.kill(pid, sig); err != nil {
		if err == unix.ESRCH {
			return notRunning(s.cfg.ID)
		}
		return err
	}
	if sig == unix.SIGKILL {
		s.thaw()
	}
	return nil
}

// thaw resumes a paused container, so that a SIGKILL it was sent takes effect.
func (s *shim) thaw() {
	if frozen(s.cgroup) {
		_, err := s.runc("resume", s.cfg.ID)
		logErr("resume killed container", err)
	}
}

// shutdown kills a running container and waits until its state is gone.
func (s *shim) shutdown() {
	for {
		status, pid := s.init.current()
		switch status {
		case shimproto.StatusCreated:
			return
		case shimproto.StatusRunning:
			s.reaper.kill(pid, unix.SIGKILL)
			s.thaw()
			<-s.deleted
			return
		case shimproto.StatusStopped:
			<-s.deleted
			return
		}
		time.Sleep(5 * time.Millisecond) // starting: runc is still running
	}
}

// runc runs the runtime with args and returns its combined output.
func (s *shim) runc(args ...string) ([]byte, error) {
	r, w, err := os.Pipe()
	if err != nil {
		return nil, err
	}
	defer r.Close()
	pid, err := s.spawn(append([]string{"--root", s.cfg.RuntimeRoot}, args...), nil, w, w)
	w.Close()
	if err != nil {
		return nil, err
	}
	out, _ := io.ReadAll(r)
	ws := <-s.reaper.wait(pid)
	if ws.Exited() && ws.ExitStatus() == 0 {
		return out, nil
	}
	msg := strings.TrimSpace(string(out))
	if msg == "" {
		msg = "exit status " + strconv.Itoa(ws.ExitStatus())
	}
	return out, errors.New(filepath.Base(s.cfg.Runtime) + " " + args[0] + ": " + msg)
}

// spawn starts the runtime with stdio (nil is /dev/null) and returns its pid; it
// must be waited for through the reaper.
func (s *shim) spawn(args []string, stdin, stdout, stderr *os.File) (int, error) {
	files := []*os.File{stdin, stdout, stderr}
	for i, f := range files {
		if f == nil {
			null, err := os.OpenFile(os.DevNull, os.O_RDWR, 0)
			if err != nil {
				return 0, err
			}
			defer null.Close()
			files[i] = null
		}
	}
	p, err := os.StartProcess(s.cfg.Runtime, append([]string{s.cfg.Runtime}, args...), &os.ProcAttr{Files: files})
	if err != nil {
		return 0, err
	}
	pid := p.Pid
	p.Release()
	return pid, nil
}

// runtimeError is the runtime's last error message from its json log file.
func runtimeError(logFile, runtime string, ws unix.WaitStatus) string {
	msg := ""
	if b, err := os.ReadFile(logFile); err == nil {
		for _, line := range strings.Split(string(b), "\n") {
			var level, m string
			err := shimproto.ScanObject([]byte(line), func(key string, v []byte) error {
				var err error
				if strings.EqualFold(key, "level") {
					level, err = shimproto.ParseString(v)
				} else if strings.EqualFold(key, "msg") {
					m, err = shimproto.ParseString(v)
				}
				return err
			})
			if err == nil && (level == "error" || level == "fatal") && m != "" {
				msg = m
			}
		}
	}
	if msg == "" {
		msg = filepath.Base(runtime) + " failed: exit status " + strconv.Itoa(ws.ExitStatus())
	}
	return msg
}

// startFailureCode is the exit code Docker reports for a process that could not start.
func startFailureCode(msg string) int {
	switch {
	case strings.Contains(msg, "executable file not found"), strings.Contains(msg, "no such file or directory"):
		return 127
	case strings.Contains(msg, "permission denied"):
		return 126
	}
	return 128
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

// logErr writes a failure to the shim's stderr (its shim.log).
func logErr(msg string, err error) {
	if err != nil {
		os.Stderr.WriteString(time.Now().UTC().Format(time.RFC3339Nano) + " berth-shim: " + msg + ": " + err.Error() + "\n")
	}
}
