package shim

import (
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"time"

	"github.com/berth-dev/berth/runtime/shimproto"
)

const maxExecID = 128

// addExec registers an exec process; it starts with OpExecStart.
func (s *shim) addExec(req shimproto.Request) error {
	if req.ExecID == "" || len(req.ExecID) > maxExecID {
		return &codedError{shimproto.CodeInvalid, "invalid exec id " + strconv.Quote(req.ExecID)}
	}
	if len(req.Process) == 0 {
		return &codedError{shimproto.CodeInvalid, "exec " + req.ExecID + " has no process"}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	// Checked under s.mu: endExecs, which runs after init's exit is set, sees every exec added before.
	if status, _ := s.init.current(); status != shimproto.StatusRunning {
		return notRunning(s.cfg.ID)
	}
	if _, ok := s.execs[req.ExecID]; ok {
		return &codedError{shimproto.CodeConflict, "exec " + req.ExecID + " already exists"}
	}
	if len(s.execs) >= maxExecs && !s.forgetOldExec() {
		return &codedError{shimproto.CodeConflict, "container " + s.cfg.ID + " has too many exec processes"}
	}
	p := newProc(s, req.ExecID, req.Tty, req.Stdin)
	p.spec = req.Process
	if err := p.openStdin(); err != nil {
		return err
	}
	s.execSeq++
	p.seq = s.execSeq
	s.execs[req.ExecID] = p
	s.execList = append(s.execList, p)
	return nil
}

// forgetOldExec drops the oldest exec that has exited; s.mu is held.
func (s *shim) forgetOldExec() bool {
	for i, p := range s.execList {
		if status, _ := p.current(); status == shimproto.StatusStopped {
			delete(s.execs, p.id)
			s.execList = append(s.execList[:i], s.execList[i+1:]...)
			return true
		}
	}
	return false
}

// exec looks up a registered exec.
func (s *shim) exec(id string) (*proc, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if p, ok := s.execs[id]; ok {
		return p, nil
	}
	return nil, &codedError{shimproto.CodeNotFound, "No such exec instance: " + id}
}

// startExec runs `runtime exec -d` for p and returns its pid. Its output goes
// to attached clients only, never to the container's log.
func (s *shim) startExec(p *proc) (int, error) {
	if err := p.begin(); err != nil {
		return 0, err
	}
	if status, _ := s.init.current(); status != shimproto.StatusRunning {
		err := notRunning(s.cfg.ID)
		p.failed(err)
		return 0, err
	}
	base := filepath.Join(s.cfg.StateDir, "x"+strconv.Itoa(p.seq))
	procFile, pidFile, logFile, sockFile := base+".json", base+".pid", base+".log", base+".sock"
	defer func() {
		for _, f := range []string{procFile, pidFile, logFile, sockFile} {
			os.Remove(f)
		}
	}()
	err := os.WriteFile(procFile, p.spec, 0o600)
	p.spec = nil // only needed once
	if err != nil {
		p.failed(err)
		return 0, err
	}
	args := []string{"--root", s.cfg.RuntimeRoot, "--log", logFile, "--log-format", "json",
		"exec", "-d", "--pid-file", pidFile, "--process", procFile}
	outs, err := s.launch(p, args, sockFile, logFile)
	if err != nil {
		p.failed(err)
		return 0, err
	}
	pid, err := readPid(pidFile)
	if err != nil {
		for _, f := range outs {
			f.Close()
		}
		p.failed(err)
		return 0, err
	}
	p.running(pid)
	exitc := s.reaper.wait(pid)
	var wg sync.WaitGroup
	for i, r := range outs {
		stream := shimproto.StreamStdout
		if i == 1 {
			stream = shimproto.StreamStderr
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			p.relay(stream, r)
		}()
	}
	go func() { p.setExit(p.waitOutput(exitc, outs, &wg)) }()
	return pid, nil
}

// endExecs releases the execs that never started, once the container has exited.
func (s *shim) endExecs() {
	s.mu.Lock()
	list := append([]*proc(nil), s.execList...)
	s.mu.Unlock()
	now := time.Now().UTC()
	for _, p := range list {
		p.mu.Lock()
		created := p.status == shimproto.StatusCreated
		if created {
			p.status = statusStarting // no start from now on
		}
		p.mu.Unlock()
		if created {
			p.setExit(&shimproto.ExitStatus{ExitedAt: now})
		}
	}
}

// waitExecs waits, for at most execGrace, until every exec has exited.
func (s *shim) waitExecs() {
	s.mu.Lock()
	list := append([]*proc(nil), s.execList...)
	s.mu.Unlock()
	deadline := exitDeadline()
	for _, p := range list {
		select {
		case <-p.exited:
		case <-deadline:
			return
		}
	}
}
