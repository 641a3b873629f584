package shim

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/berth-dev/berth/internal/atomicfile"
	"github.com/berth-dev/berth/logger/jsonfile"
	"github.com/berth-dev/berth/runtime/shimproto"
	"golang.org/x/sys/unix"
)

const (
	drainTimeout = 2 * time.Second // after init exits, longest wait for the output to end
	exitGrace    = 2 * time.Second // after the exit, longest wait for clients to finish
	runcLogFile  = "runc.log"
	consoleSock  = "console.sock"
	maxPending   = 1 << 20 // tty input kept before start
)

// Config is what berth-shim is started with.
type Config struct {
	ID          string // container id
	Bundle      string // OCI bundle directory (config.json)
	Runtime     string // runtime binary, e.g. /usr/sbin/runc
	RuntimeRoot string // runtime state root (runc --root)
	StateDir    string // shim.sock, shim.pid, init.pid, exit.json
	LogPath     string // json-file log
	Tty         bool   // give the container a pty
	Stdin       bool   // keep the container's stdin open for attach
}

type shim struct {
	cfg    Config
	reaper *reaper
	ln     *net.UnixListener

	mu      sync.Mutex
	status  string // shimproto.StatusCreated, StatusRunning, StatusStopped; "starting" in between
	pid     int
	exit    *shimproto.ExitStatus
	exited  chan struct{} // closed once exit is set
	deleted chan struct{} // closed once the runtime state is gone
	conns   int
	connc   chan struct{} // pinged when a connection ends
	finish  chan struct{} // closed to make the shim exit now
	once    sync.Once

	amu        sync.Mutex // attachers and outputDone
	attachers  map[*attacher]struct{}
	outputDone bool

	smu         sync.Mutex // stdin
	stdin       *os.File   // container stdin (pipe write end or pty master)
	stdinClosed bool
	stdinR      *os.File // container's end of the stdin pipe until start
	pending     []byte   // tty input received before the pty exists
	pty         *os.File

	log *jsonfile.Writer
}

// Run runs the shim until its container has exited and its clients are served.
// If ready is not nil, one byte is written to it and it is closed once the socket
// accepts requests.
func Run(cfg Config, ready *os.File) error {
	if err := unix.Prctl(unix.PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0); err != nil {
		return fmt.Errorf("set child subreaper: %w", err)
	}
	// Handled, not ignored: an ignored disposition would be inherited by the container.
	sigc := make(chan os.Signal, 1)
	signal.Notify(sigc, unix.SIGTERM, unix.SIGINT, unix.SIGHUP)
	go func() {
		for range sigc {
		}
	}()
	s := &shim{
		cfg:       cfg,
		reaper:    newReaper(),
		status:    shimproto.StatusCreated,
		exited:    make(chan struct{}),
		deleted:   make(chan struct{}),
		connc:     make(chan struct{}, 1),
		finish:    make(chan struct{}),
		attachers: map[*attacher]struct{}{},
	}
	if err := os.MkdirAll(cfg.StateDir, 0o700); err != nil {
		return err
	}
	if cfg.Stdin && !cfg.Tty {
		// Created now so that input written before start waits in the pipe.
		r, w, err := os.Pipe()
		if err != nil {
			return err
		}
		s.stdinR, s.stdin = r, w
	}
	sock := filepath.Join(cfg.StateDir, shimproto.SockFile)
	os.Remove(sock)
	ln, err := net.ListenUnix("unix", &net.UnixAddr{Name: sock, Net: "unix"})
	if err != nil {
		return err
	}
	ln.SetUnlinkOnClose(false)
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
		c, err := s.ln.AcceptUnix()
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

func (s *shim) handle(c *net.UnixConn) {
	br := bufio.NewReader(c)
	line, err := br.ReadBytes('\n')
	if err != nil {
		return
	}
	var req shimproto.Request
	if err := json.Unmarshal(line, &req); err != nil {
		reply(c, shimproto.Response{Error: "invalid request: " + err.Error(), Code: shimproto.CodeInvalid})
		return
	}
	switch req.Op {
	case shimproto.OpStart:
		pid, err := s.start()
		reply(c, response(shimproto.Response{Pid: pid}, err))
	case shimproto.OpAttach:
		s.attach(c, br, req)
	case shimproto.OpWait:
		s.wait(c, br)
	case shimproto.OpKill:
		reply(c, response(shimproto.Response{}, s.kill(unix.Signal(req.Signal), req.All)))
	case shimproto.OpResize:
		reply(c, response(shimproto.Response{}, s.resize(req.Width, req.Height)))
	case shimproto.OpState:
		s.mu.Lock()
		st := shimproto.Response{Pid: s.pid, Status: s.status, Exit: s.exit}
		s.mu.Unlock()
		if st.Status == "starting" {
			st.Status = shimproto.StatusCreated
		}
		reply(c, st)
	case shimproto.OpShutdown:
		s.shutdown()
		reply(c, shimproto.Response{})
		s.stop()
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

func notRunning(id string) error {
	return &codedError{shimproto.CodeConflict, fmt.Sprintf("Container %s is not running", id)}
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

func reply(c net.Conn, r shimproto.Response) error {
	_, err := c.Write(shimproto.MarshalLine(r))
	return err
}

// wait answers once the container has exited, unless the client goes away first.
func (s *shim) wait(c net.Conn, br *bufio.Reader) {
	gone := make(chan struct{})
	go func() {
		io.Copy(io.Discard, br)
		close(gone)
	}()
	select {
	case <-s.exited:
		s.mu.Lock()
		e := s.exit
		s.mu.Unlock()
		reply(c, shimproto.Response{Exit: e})
	case <-gone:
	}
}

func (s *shim) kill(sig unix.Signal, all bool) error {
	s.mu.Lock()
	status, pid := s.status, s.pid
	s.mu.Unlock()
	if status != shimproto.StatusRunning {
		return notRunning(s.cfg.ID)
	}
	if all {
		_, err := s.runc("kill", "--all", s.cfg.ID, strconv.Itoa(int(sig)))
		return err
	}
	if err := s.reaper.kill(pid, sig); err != nil {
		if err == unix.ESRCH {
			return notRunning(s.cfg.ID)
		}
		return err
	}
	return nil
}

func (s *shim) resize(w, h uint16) error {
	s.smu.Lock()
	defer s.smu.Unlock()
	if s.pty == nil {
		return &codedError{shimproto.CodeConflict, "container has no tty"}
	}
	rc, err := s.pty.SyscallConn()
	if err != nil {
		return err
	}
	var ierr error
	if err := rc.Control(func(fd uintptr) {
		ierr = unix.IoctlSetWinsize(int(fd), unix.TIOCSWINSZ, &unix.Winsize{Row: h, Col: w})
	}); err != nil {
		return err
	}
	return ierr
}

// shutdown kills a running container and waits until its state is gone.
func (s *shim) shutdown() {
	for {
		s.mu.Lock()
		status, pid := s.status, s.pid
		s.mu.Unlock()
		switch status {
		case shimproto.StatusCreated:
			return
		case shimproto.StatusRunning:
			s.reaper.kill(pid, unix.SIGKILL)
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
	return out, fmt.Errorf("%s %s: %s", filepath.Base(s.cfg.Runtime), args[0], msg)
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

func logErr(msg string, err error) {
	if err != nil {
		slog.Error(msg, "err", err)
	}
}
