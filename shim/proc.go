package shim

import (
	"bufio"
	"errors"
	"io"
	"os"
	"sync"
	"time"

	"github.com/berth-dev/berth/runtime/shimproto"
	"golang.org/x/sys/unix"
)

const statusStarting = "starting"

// proc is one process the shim runs, the container's init or an exec, with
// its state, its attached clients and its stdin.
type proc struct {
	s         *shim
	id        string // exec id; "" for init
	tty       bool
	stdinOpen bool   // keep stdin open for attach
	spec      []byte // exec: runtime-spec process JSON
	seq       int    // exec: names its files in the state dir

	mu      sync.Mutex
	status  string // shimproto.StatusCreated, StatusRunning, StatusStopped; statusStarting in between
	pid     int
	exit    *shimproto.ExitStatus
	started bool          // the process ran (exit describes it, not a failed start)
	exited  chan struct{} // closed once exit is set

	amu        sync.Mutex // attachers and outputDone
	attachers  map[*attacher]struct{}
	outputDone bool

	smu         sync.Mutex // stdin
	stdin       *os.File   // process stdin (pipe write end or pty master)
	stdinClosed bool
	stdinR      *os.File // process's end of the stdin pipe until start
	pending     []byte   // tty input received before the pty exists
	pty         *os.File
}

func newProc(s *shim, id string, tty, stdin bool) *proc {
	return &proc{
		s: s, id: id, tty: tty, stdinOpen: stdin,
		status:    shimproto.StatusCreated,
		exited:    make(chan struct{}),
		attachers: map[*attacher]struct{}{},
	}
}

// openStdin creates the stdin pipe now, so that input written before start
// waits in it (without a tty).
func (p *proc) openStdin() error {
	if !p.stdinOpen || p.tty {
		return nil
	}
	r, w, err := os.Pipe()
	if err != nil {
		return err
	}
	p.stdinR, p.stdin = r, w
	return nil
}

// name is how errors refer to the process.
func (p *proc) name() string {
	if p.id == "" {
		return "container " + p.s.cfg.ID
	}
	return "exec " + p.id
}

// current returns the status and pid.
func (p *proc) current() (string, int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.status, p.pid
}

// state is the OpState answer.
func (p *proc) state() shimproto.Response {
	p.mu.Lock()
	defer p.mu.Unlock()
	r := shimproto.Response{Pid: p.pid, Status: p.status, Exit: p.exit}
	if r.Status == statusStarting {
		r.Status = shimproto.StatusCreated
	}
	return r
}

// begin moves created -> starting, or fails with a conflict.
func (p *proc) begin() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.status != shimproto.StatusCreated {
		if p.exit != nil && !p.started && p.exit.Error == "" {
			return notRunning(p.s.cfg.ID) // released when the container exited
		}
		return &codedError{shimproto.CodeConflict, p.name() + " has already been started"}
	}
	p.status = statusStarting
	return nil
}

// running records the pid of a started process.
func (p *proc) running(pid int) {
	p.mu.Lock()
	p.pid = pid
	p.status = shimproto.StatusRunning
	p.started = true
	p.mu.Unlock()
}

// setExit records the exit, releases waiters and ends attached clients. It is
// a no-op the second time.
func (p *proc) setExit(st *shimproto.ExitStatus) {
	p.smu.Lock()
	if p.stdin != nil {
		p.stdin.Close()
		p.stdin = nil
	}
	if p.stdinR != nil {
		p.stdinR.Close()
		p.stdinR = nil
	}
	p.smu.Unlock()
	p.mu.Lock()
	if p.exit != nil {
		p.mu.Unlock()
		return
	}
	p.status = shimproto.StatusStopped
	p.exit = st
	close(p.exited)
	p.mu.Unlock()
	p.endAttachers(st)
}

// wait answers once the process has exited, unless the client goes away first.
func (p *proc) wait(c *os.File, br *bufio.Reader) {
	gone := make(chan struct{})
	go func() {
		io.Copy(io.Discard, br)
		close(gone)
	}()
	select {
	case <-p.exited:
		p.mu.Lock()
		e, started := p.exit, p.started
		p.mu.Unlock()
		if !started && p.id != "" && e.Error == "" {
			reply(c, shimproto.Response{Error: "Container " + p.s.cfg.ID + " is not running: exec " + p.id + " never started", Code: shimproto.CodeConflict})
			return
		}
		reply(c, shimproto.Response{Exit: e})
	case <-gone:
	}
}

// kill signals the process unless it has exited (its pid may be reused).
func (p *proc) kill(sig unix.Signal) error {
	status, pid := p.current()
	if status != shimproto.StatusRunning {
		return &codedError{shimproto.CodeConflict, p.name() + " is not running"}
	}
	if err := p.s.reaper.kill(pid, sig); err != nil {
		if err == unix.ESRCH {
			return &codedError{shimproto.CodeConflict, p.name() + " is not running"}
		}
		return err
	}
	return nil
}

func (p *proc) resize(w, h uint16) error {
	p.smu.Lock()
	defer p.smu.Unlock()
	if p.pty == nil {
		return &codedError{shimproto.CodeConflict, p.name() + " has no tty"}
	}
	rc, err := p.pty.SyscallConn()
	if err == nil {
		var ierr error
		err = rc.Control(func(fd uintptr) {
			ierr = unix.IoctlSetWinsize(int(fd), unix.TIOCSWINSZ, &unix.Winsize{Row: h, Col: w})
		})
		if err == nil {
			err = ierr
		}
	}
	if errors.Is(err, os.ErrClosed) {
		return &codedError{shimproto.CodeConflict, p.name() + " is not running"}
	}
	return err
}

// setPty installs the pty master received from the runtime.
func (p *proc) setPty(f *os.File) {
	p.smu.Lock()
	defer p.smu.Unlock()
	p.pty = f
	if p.stdinOpen {
		p.stdin = f
		if len(p.pending) > 0 {
			f.Write(p.pending)
			p.pending = nil
		}
	}
}

// takeStdinR hands the process's end of the stdin pipe to the caller (once).
func (p *proc) takeStdinR() *os.File {
	p.smu.Lock()
	defer p.smu.Unlock()
	f := p.stdinR
	p.stdinR = nil
	return f
}

// waitOutput returns the exit status of a started process once it has been
// reaped and its output has ended (or drainTimeout later, if something else
// holds its stdio); it closes outs.
func (p *proc) waitOutput(exitc <-chan unix.WaitStatus, outs []*os.File, wg *sync.WaitGroup) *shimproto.ExitStatus {
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
		for _, f := range outs {
			f.Close()
		}
		<-done
	}
	for _, f := range outs {
		f.Close()
	}
	st := &shimproto.ExitStatus{ExitedAt: exitedAt}
	switch {
	case ws.Exited():
		st.Code = ws.ExitStatus()
	case ws.Signaled():
		st.Code = 128 + int(ws.Signal())
	}
	return st
}

// failed records a process that could not start.
func (p *proc) failed(err error) *shimproto.ExitStatus {
	st := &shimproto.ExitStatus{Code: startFailureCode(err.Error()), ExitedAt: time.Now().UTC(), Error: err.Error()}
	p.setExit(st)
	return st
}

// attacher is one attached client.
type attacher struct {
	c              *os.File
	stdout, stderr bool
	buf            []byte
}

func (a *attacher) send(stream byte, p []byte) error {
	a.buf = shimproto.AppendFrame(a.buf[:0], stream, p)
	_, err := a.c.Write(a.buf)
	return err
}

// broadcast returns the tee that sends a chunk of stream to every attached client.
func (p *proc) broadcast(stream byte) func([]byte) {
	return func(b []byte) {
		p.amu.Lock()
		defer p.amu.Unlock()
		for a := range p.attachers {
			if (stream == shimproto.StreamStdout && !a.stdout) || (stream == shimproto.StreamStderr && !a.stderr) {
				continue
			}
			if err := a.send(stream, b); err != nil {
				delete(p.attachers, a)
				a.c.Close()
			}
		}
	}
}

// endAttachers sends the exit frame to every attached client and disconnects them.
func (p *proc) endAttachers(st *shimproto.ExitStatus) {
	b := exitJSON(st)
	p.amu.Lock()
	defer p.amu.Unlock()
	p.outputDone = true
	for a := range p.attachers {
		a.send(shimproto.StreamExit, b)
		a.c.Close()
		delete(p.attachers, a)
	}
}

// attach registers a client for output and feeds its stdin frames to the process.
func (p *proc) attach(c *os.File, br *bufio.Reader, req shimproto.Request) {
	a := &attacher{c: c, stdout: req.Stdout, stderr: req.Stderr || (req.Stdout && p.tty)}
	p.amu.Lock()
	if p.outputDone {
		p.amu.Unlock()
		p.mu.Lock()
		st := p.exit
		p.mu.Unlock()
		b := exitJSON(st)
		reply(c, shimproto.Response{})
		a.send(shimproto.StreamExit, b)
		return
	}
	if err := reply(c, shimproto.Response{}); err != nil {
		p.amu.Unlock()
		return
	}
	p.attachers[a] = struct{}{}
	p.amu.Unlock()

	stdin := req.Stdin && p.stdinOpen
	var buf []byte
	for {
		stream, b, nb, err := shimproto.ReadFrame(br, buf)
		buf = nb
		if err != nil {
			break
		}
		if stream != shimproto.StreamStdin || !stdin {
			continue
		}
		if len(b) == 0 {
			p.closeStdin()
			continue
		}
		p.writeStdin(b)
	}
	p.amu.Lock()
	delete(p.attachers, a)
	p.amu.Unlock()
}

func (p *proc) writeStdin(b []byte) {
	p.smu.Lock()
	f := p.stdin
	if f == nil && p.tty && p.stdinOpen && p.pty == nil && len(p.pending)+len(b) <= maxPending {
		// The pty exists only once the process runs: keep early input for it.
		p.pending = append(p.pending, b...)
	}
	p.smu.Unlock()
	if f != nil {
		f.Write(b)
	}
}

// closeStdin gives the process EOF on stdin (not with a tty, where it means nothing).
func (p *proc) closeStdin() {
	if p.tty {
		return
	}
	p.smu.Lock()
	defer p.smu.Unlock()
	if p.stdin != nil && !p.stdinClosed {
		p.stdin.Close()
		p.stdin = nil
		p.stdinClosed = true
	}
}

// exitJSON encodes st as encoding/json would (null if nil).
func exitJSON(st *shimproto.ExitStatus) []byte {
	if st == nil {
		return []byte("null")
	}
	return shimproto.AppendExitStatus(nil, st)
}

// relay copies r to the attached clients of stream until EOF, without logging.
func (p *proc) relay(stream byte, r io.Reader) {
	tee := p.broadcast(stream)
	buf := make([]byte, 16<<10)
	for {
		n, err := r.Read(buf)
		if n > 0 {
			tee(buf[:n])
		}
		if err != nil {
			return
		}
	}
}
