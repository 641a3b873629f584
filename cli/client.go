package cli

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/moby/moby/client"
)

// DefaultHost is the daemon address used when neither -H nor $BERTH_HOST is set.
const DefaultHost = "unix:///run/berth/berth.sock"

const (
	envHost        = "BERTH_HOST"
	envNoAutostart = "BERTH_NO_AUTOSTART"
	envDataRoot    = "BERTH_DATA_ROOT"

	defaultDataRoot = "/var/lib/berth"
	autostartPoll   = 5 * time.Millisecond
	autostartWait   = 10 * time.Second
)

// autostart starts berthd in the background when the default socket does not answer.
type autostart struct {
	host     string
	dataRoot string
	bin      string // berthd to run; empty to look beside our executable, then on $PATH
	debugf   func(string, ...any)
}

// autostarter returns the autostart policy for host, or nil when berth must not start berthd:
// a non-default host, a non-root user, or $BERTH_NO_AUTOSTART set.
func (c *CLI) autostarter(host string) *autostart {
	if host != DefaultHost || os.Geteuid() != 0 {
		return nil
	}
	switch strings.ToLower(os.Getenv(envNoAutostart)) {
	case "", "0", "false", "no":
	default:
		return nil
	}
	root := os.Getenv(envDataRoot)
	if root == "" {
		root = defaultDataRoot
	}
	return &autostart{host: host, dataRoot: root, debugf: c.debugf}
}

// ensure pings the daemon (negotiating the API version) and starts berthd if nothing answers.
func (a *autostart) ensure(ctx context.Context, api *client.Client) error {
	err := ping(ctx, api)
	if !isDaemonDown(err) {
		return err
	}
	a.debugf("no daemon at %s; starting berthd", a.host)
	if err := os.MkdirAll(a.dataRoot, 0o711); err != nil {
		return err
	}
	logPath := filepath.Join(a.dataRoot, "berthd.log")
	// The lock is held on a descriptor berthd does not inherit, so that concurrent
	// berth processes start one daemon between them.
	lock, err := os.OpenFile(logPath, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		return err
	}
	defer lock.Close()
	deadline := time.Now().Add(autostartWait)
	for {
		err := syscall.Flock(int(lock.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
		if err == nil {
			break
		}
		if !errors.Is(err, syscall.EWOULDBLOCK) {
			return fmt.Errorf("lock %s: %w", logPath, err)
		}
		if time.Now().After(deadline) {
			return a.notUp(logPath, 0, "another berth is starting berthd and it did not answer in time")
		}
		time.Sleep(autostartPoll)
	}
	if err := ping(ctx, api); !isDaemonDown(err) {
		return err
	}

	bin := a.bin
	if bin == "" {
		bin, err = findBerthd()
	}
	if err != nil {
		return fmt.Errorf("%s\nberthd could not be started: %w", daemonDownMessage(a.host), err)
	}
	out, err := os.OpenFile(logPath, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		return err
	}
	offset, _ := out.Seek(0, io.SeekEnd)
	var args []string
	if a.dataRoot != defaultDataRoot {
		args = append(args, "--data-root", a.dataRoot) // BERTH_DATA_ROOT reaches berthd too
	}
	cmd := exec.Command(bin, args...)
	cmd.Stdout, cmd.Stderr = out, out
	cmd.Dir = "/"
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	err = cmd.Start()
	out.Close()
	if err != nil {
		return fmt.Errorf("%s\nberthd could not be started: %w", daemonDownMessage(a.host), err)
	}
	a.debugf("started %s (pid %d), log %s", bin, cmd.Process.Pid, logPath)
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()

	tick := time.NewTicker(autostartPoll)
	defer tick.Stop()
	for {
		select {
		case err := <-exited:
			return a.notUp(logPath, offset, fmt.Sprintf("berthd exited (%v)", err))
		case <-ctx.Done():
			return ctx.Err()
		case <-tick.C:
		}
		err := ping(ctx, api)
		if !isDaemonDown(err) {
			return err
		}
		if time.Now().After(deadline) {
			return a.notUp(logPath, offset, fmt.Sprintf("berthd did not answer within %s", autostartWait))
		}
	}
}

// notUp describes a failed autostart, quoting the end of berthd's log from offset on.
func (a *autostart) notUp(logPath string, offset int64, why string) error {
	msg := daemonDownMessage(a.host) + "\n" + why
	if tail := logTail(logPath, offset, 20); tail != "" {
		msg += "; last lines of " + logPath + ":\n" + tail
	}
	return errors.New(msg)
}

func ping(ctx context.Context, api *client.Client) error {
	_, err := api.Ping(ctx, client.PingOptions{NegotiateAPIVersion: true})
	return err
}

// findBerthd looks for berthd beside the running executable, then on $PATH.
func findBerthd() (string, error) {
	if self, err := os.Executable(); err == nil {
		p := filepath.Join(filepath.Dir(self), "berthd")
		if st, err := os.Stat(p); err == nil && st.Mode().IsRegular() && st.Mode()&0o111 != 0 {
			return p, nil
		}
	}
	return exec.LookPath("berthd")
}

// logTail returns up to n last lines of the file at path, reading from offset on.
func logTail(path string, offset int64, n int) string {
	f, err := os.Open(path)
	if err != nil {
		return ""
	}
	defer f.Close()
	const maxTail = 64 << 10
	if st, err := f.Stat(); err == nil && st.Size()-offset > maxTail {
		offset = st.Size() - maxTail
	}
	if _, err := f.Seek(offset, io.SeekStart); err != nil {
		return ""
	}
	b, _ := io.ReadAll(f)
	lines := bytes.Split(bytes.TrimRight(b, "\n"), []byte("\n"))
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return string(bytes.Join(lines, []byte("\n")))
}

// isDaemonDown reports whether err means that nothing answers at the daemon address.
func isDaemonDown(err error) bool {
	if err == nil {
		return false
	}
	if errors.Is(err, syscall.ENOENT) || errors.Is(err, syscall.ECONNREFUSED) {
		return true
	}
	return client.IsErrConnectionFailed(err) && !strings.Contains(err.Error(), "permission denied")
}

func daemonDownMessage(host string) string {
	return fmt.Sprintf("Cannot connect to the Berth daemon at %s. Is the berth daemon running?", host)
}

// isConnError reports whether err comes from failing to reach the daemon.
func isConnError(err error) bool {
	return client.IsErrConnectionFailed(err) || strings.HasPrefix(err.Error(), "cannot connect to the Docker daemon")
}

// connError rewrites the client's connection errors, which name Docker, to name Berth.
func (c *CLI) connError(err error) error {
	if err == nil || !isConnError(err) {
		return err
	}
	host := c.Host()
	if strings.Contains(err.Error(), "permission denied") {
		return fmt.Errorf("permission denied while trying to connect to the berth daemon socket at %s", host)
	}
	if errors.Is(err, syscall.ENOENT) || errors.Is(err, syscall.ECONNREFUSED) ||
		strings.Contains(err.Error(), "Cannot connect to the Docker daemon") ||
		strings.HasPrefix(err.Error(), "cannot connect to the Docker daemon") {
		return errors.New(daemonDownMessage(host))
	}
	return errors.New(strings.NewReplacer("docker API", "berth API", "Docker daemon", "Berth daemon").Replace(err.Error()))
}
