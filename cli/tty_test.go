package cli

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// ptyPair is a pseudo-terminal: the test drives the master, the CLI gets the slave.
type ptyPair struct {
	master *os.File
	slave  *os.File
	mu     sync.Mutex
	out    bytes.Buffer
}

func newPty(t *testing.T, height, width uint16) *ptyPair {
	t.Helper()
	m, s, err := openPty()
	if err != nil {
		t.Fatalf("open pty: %v", err)
	}
	if err := unix.IoctlSetWinsize(int(m.Fd()), unix.TIOCSWINSZ, &unix.Winsize{Row: height, Col: width}); err != nil {
		t.Fatal(err)
	}
	p := &ptyPair{master: m, slave: s}
	go func() {
		buf := make([]byte, 4096)
		for {
			n, err := m.Read(buf)
			p.mu.Lock()
			p.out.Write(buf[:n])
			p.mu.Unlock()
			if err != nil {
				return
			}
		}
	}()
	t.Cleanup(func() {
		s.Close()
		m.Close()
	})
	return p
}

// openPty opens a new pseudo-terminal pair through /dev/ptmx.
func openPty() (master, slave *os.File, err error) {
	m, err := os.OpenFile("/dev/ptmx", os.O_RDWR|unix.O_NOCTTY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, nil, err
	}
	if err := unix.IoctlSetPointerInt(int(m.Fd()), unix.TIOCSPTLCK, 0); err != nil {
		m.Close()
		return nil, nil, err
	}
	n, err := unix.IoctlGetInt(int(m.Fd()), unix.TIOCGPTN)
	if err != nil {
		m.Close()
		return nil, nil, err
	}
	s, err := os.OpenFile(fmt.Sprintf("/dev/pts/%d", n), os.O_RDWR|unix.O_NOCTTY, 0)
	if err != nil {
		m.Close()
		return nil, nil, err
	}
	return m, s, nil
}

func (p *ptyPair) termios(t *testing.T) *unix.Termios {
	t.Helper()
	tio, err := unix.IoctlGetTermios(int(p.slave.Fd()), unix.TCGETS)
	if err != nil {
		t.Fatal(err)
	}
	return tio
}

// waitRaw waits until the CLI has put the terminal in raw mode.
func (p *ptyPair) waitRaw(t *testing.T) {
	t.Helper()
	for i := 0; i < 500; i++ {
		if p.termios(t).Lflag&unix.ICANON == 0 {
			return
		}
		time.Sleep(2 * time.Millisecond)
	}
	t.Fatal("terminal never became raw")
}

func (p *ptyPair) output() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.out.String()
}

func runOnPty(d *fakeDaemon, p *ptyPair, args ...string) <-chan int {
	done := make(chan int, 1)
	go func() {
		args = append([]string{"-H", d.host}, args...)
		done <- Main(context.Background(), args, Streams{In: p.slave, Out: p.slave, Err: p.slave})
	}()
	return done
}

func TestRunTTYRawModeResizeAndRestore(t *testing.T) {
	p := newPty(t, 40, 100)
	before := p.termios(t)
	d := newFakeDaemon(t)
	d.pulled["busybox"] = true
	d.tty = true
	d.ttyInput = 3
	d.echoStdin = true
	d.stdout = "/ # "

	done := runOnPty(d, p, "run", "-it", "busybox", "sh")
	p.waitRaw(t)
	if _, err := io.WriteString(p.master, "hi\r"); err != nil {
		t.Fatal(err)
	}
	select {
	case code := <-done:
		if code != 0 {
			t.Fatalf("exit code %d; output %q", code, p.output())
		}
	case <-time.After(10 * time.Second):
		t.Fatal("run did not finish")
	}
	if d.stdinSeen != "hi\r" {
		t.Errorf("container got %q; raw mode must pass keys through unchanged", d.stdinSeen)
	}
	for i := 0; i < 100 && !strings.Contains(p.output(), "/ # hi\r"); i++ {
		time.Sleep(5 * time.Millisecond)
	}
	if !strings.Contains(p.output(), "/ # hi\r") {
		t.Errorf("terminal shows %q", p.output())
	}
	if got := d.creates[0].HostConfig.ConsoleSize; got != [2]uint{40, 100} {
		t.Errorf("console size at create = %v, want [40 100]", got)
	}
	if !slices.Contains(d.callList(), "resize 40x100") {
		t.Errorf("no resize to the terminal's size: %q", d.callList())
	}
	after := p.termios(t)
	if after.Lflag != before.Lflag || after.Iflag != before.Iflag || after.Oflag != before.Oflag {
		t.Errorf("terminal not restored: before %+v after %+v", before, after)
	}
}

func TestRunTTYDetachKeys(t *testing.T) {
	p := newPty(t, 24, 80)
	d := newFakeDaemon(t)
	d.pulled["busybox"] = true
	d.tty = true
	d.holdOpen = true
	d.stdout = "/ # "

	done := runOnPty(d, p, "run", "-it", "busybox", "sh")
	p.waitRaw(t)
	if _, err := p.master.Write([]byte{16, 17}); err != nil { // ctrl-p ctrl-q
		t.Fatal(err)
	}
	select {
	case code := <-done:
		if code != 0 {
			t.Fatalf("exit code %d after detaching", code)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("detach keys did not end the session")
	}
	if p.termios(t).Lflag&unix.ICANON == 0 {
		t.Error("terminal left in raw mode after detaching")
	}
}

func TestRunInteractiveTTYNeedsTerminal(t *testing.T) {
	d := newFakeDaemon(t)
	code, _, errOut := runMain(t, d, "", "run", "-it", "busybox")
	if code != 1 || errOut != "the input device is not a TTY\n" {
		t.Errorf("code %d stderr %q", code, errOut)
	}
	if len(d.callList()) != 0 {
		t.Errorf("nothing may be created: %q", d.callList())
	}
}
