package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"syscall"

	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/client"
	"github.com/moby/term"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

// RunOptions are the inputs of RunContainer.
type RunOptions struct {
	CreateOptions
	Detach     bool   // start in the background and print the container ID
	SigProxy   bool   // forward signals we receive to the container while attached
	DetachKeys string // key sequence that detaches from a TTY session (default ctrl-p,ctrl-q)
}

// RunAPI is what running a container needs from the daemon.
type RunAPI interface {
	CreateAPI
	ContainerAttach(ctx context.Context, container string, options client.ContainerAttachOptions) (client.ContainerAttachResult, error)
	ContainerStart(ctx context.Context, container string, options client.ContainerStartOptions) (client.ContainerStartResult, error)
	ContainerWait(ctx context.Context, container string, options client.ContainerWaitOptions) client.ContainerWaitResult
	ContainerKill(ctx context.Context, container string, options client.ContainerKillOptions) (client.ContainerKillResult, error)
	ContainerResize(ctx context.Context, container string, options client.ContainerResizeOptions) (client.ContainerResizeResult, error)
}

// runFlags are the flags of run.
type runFlags struct {
	create     *createFlags
	detach     bool
	sigProxy   bool
	detachKeys string
}

func addRunFlags(fs *pflag.FlagSet) *runFlags {
	f := &runFlags{}
	fs.BoolVarP(&f.detach, "detach", "d", false, "Run container in background and print container ID")
	fs.BoolVar(&f.sigProxy, "sig-proxy", true, "Proxy received signals to the process")
	fs.StringVar(&f.detachKeys, "detach-keys", "", "Override the key sequence for detaching a container")
	f.create = addCreateFlags(fs)
	return f
}

// options builds the run options from the parsed flags and IMAGE [COMMAND] [ARG...].
func (f *runFlags) options(fs *pflag.FlagSet, args []string) (RunOptions, error) {
	co, err := f.create.options(fs, args)
	if err != nil {
		return RunOptions{}, err
	}
	if f.detach && len(f.create.container.attach) > 0 {
		return RunOptions{}, errors.New("conflicting options: cannot specify both --attach and --detach")
	}
	if _, err := escapeKeys(f.detachKeys); err != nil {
		return RunOptions{}, err
	}
	return RunOptions{CreateOptions: co, Detach: f.detach, SigProxy: f.sigProxy, DetachKeys: f.detachKeys}, nil
}

func newRunCommand(c *CLI) *cobra.Command {
	var f *runFlags
	cmd := &cobra.Command{
		Use:   "run [OPTIONS] IMAGE [COMMAND] [ARG...]",
		Short: "Create and run a new container from an image",
		Args:  requiresMinArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts, err := f.options(cmd.Flags(), args)
			if err != nil {
				return withHelp(err, "run", 125)
			}
			cfg := opts.Config
			if !opts.Detach && cfg.AttachStdin && cfg.Tty && !isTerminal(c.In) {
				return errors.New("the input device is not a TTY")
			}
			setConsoleSize(c.Out, cfg, opts.HostConfig)
			api, err := c.Client(cmd.Context())
			if err != nil {
				return err
			}
			return c.runError(RunContainer(cmd.Context(), api, c.Streams, opts))
		},
	}
	cmd.Flags().SetInterspersed(false)
	f = addRunFlags(cmd.Flags())
	return cmd
}

// daemonError marks an error returned by a daemon call during run, which docker reports
// with exit status 125 (126 or 127 when the command cannot be invoked or found).
type daemonError struct{ err error }

func (e daemonError) Error() string { return e.err.Error() }
func (e daemonError) Unwrap() error { return e.err }

// RunContainer creates, attaches to, starts and waits for a container like `docker run`.
// A non-zero container exit status is returned as a StatusError carrying it; errors from
// the daemon while creating or starting are wrapped so the command can map them to 125–127.
func RunContainer(ctx context.Context, api RunAPI, s Streams, opts RunOptions) error {
	cfg := opts.Config
	if opts.Detach {
		cfg.AttachStdin, cfg.AttachStdout, cfg.AttachStderr, cfg.StdinOnce = false, false, false, false
	}
	id, err := CreateContainer(ctx, api, s, opts.CreateOptions)
	if err != nil {
		return daemonError{err}
	}
	attach := cfg.AttachStdin || cfg.AttachStdout || cfg.AttachStderr
	if !attach {
		if _, err := api.ContainerStart(ctx, id, client.ContainerStartOptions{}); err != nil {
			return daemonError{err}
		}
		fmt.Fprintln(s.Out, id)
		return nil
	}

	if opts.SigProxy {
		defer proxySignals(ctx, api, id)()
	}
	escape, err := escapeKeys(opts.DetachKeys)
	if err != nil {
		return err
	}
	resp, err := api.ContainerAttach(ctx, id, client.ContainerAttachOptions{
		Stream:     true,
		Stdin:      cfg.AttachStdin,
		Stdout:     cfg.AttachStdout,
		Stderr:     cfg.AttachStderr,
		DetachKeys: opts.DetachKeys,
	})
	if err != nil {
		return err
	}
	defer resp.Close()
	streamCtx, cancelStream := context.WithCancel(ctx)
	defer cancelStream()
	h := &hijackStreamer{resp: resp.HijackedResponse, tty: cfg.Tty, escape: escape}
	if cfg.AttachStdin {
		h.in = s.In
	}
	if cfg.AttachStdout {
		h.out = s.Out
	}
	if cfg.AttachStderr {
		h.errOut = s.Err
	}
	streamDone := make(chan error, 1)
	go func() { streamDone <- h.stream(streamCtx) }()
	defer h.restore()

	cond := container.WaitConditionNextExit
	if opts.HostConfig != nil && opts.HostConfig.AutoRemove {
		cond = container.WaitConditionRemoved
	}
	waitCtx, cancelWait := context.WithCancel(ctx)
	defer cancelWait()
	status := waitStatus(waitCtx, api, id, cond, s.Err)

	if _, err := api.ContainerStart(ctx, id, client.ContainerStartOptions{}); err != nil {
		cancelStream()
		<-streamDone
		if cond == container.WaitConditionRemoved {
			<-status
		}
		return daemonError{err}
	}
	if cfg.Tty {
		monitorTTYSize(streamCtx, containerResize(api, id), s.Out)
	}

	select {
	case err := <-streamDone:
		if err != nil {
			var esc term.EscapeError
			if errors.As(err, &esc) {
				return nil
			}
			return err
		}
		return exitStatus(<-status)
	case code := <-status:
		if !cfg.AttachStdout && !cfg.AttachStderr {
			cancelStream()
		}
		<-streamDone
		return exitStatus(code)
	}
}

func exitStatus(code int) error {
	if code == 0 {
		return nil
	}
	return StatusError{StatusCode: code}
}

type waiter interface {
	ContainerWait(ctx context.Context, container string, options client.ContainerWaitOptions) client.ContainerWaitResult
}

// waitStatus posts a wait for id and delivers the exit status (125 when waiting fails).
func waitStatus(ctx context.Context, api waiter, id string, cond container.WaitCondition, errOut io.Writer) <-chan int {
	res := api.ContainerWait(ctx, id, client.ContainerWaitOptions{Condition: cond})
	ch := make(chan int, 1)
	go func() {
		select {
		case r := <-res.Result:
			if r.Error != nil {
				fmt.Fprintf(errOut, "Error waiting for container: %s\n", r.Error.Message)
				ch <- 125
				return
			}
			ch <- int(r.StatusCode)
		case err := <-res.Error:
			if ctx.Err() == nil {
				fmt.Fprintf(errOut, "error waiting for container: %v\n", err)
			}
			ch <- 125
		}
	}()
	return ch
}

// runError maps errors of run to docker's exit statuses and messages.
func (c *CLI) runError(err error) error {
	var de daemonError
	if err == nil || !errors.As(err, &de) {
		return err
	}
	if isConnError(de.err) {
		return c.connError(de.err)
	}
	msg := de.err.Error()
	code := 125
	switch {
	case strings.Contains(msg, "executable file not found"), strings.Contains(msg, "no such file or directory"):
		code = 127
	case strings.Contains(msg, syscall.EACCES.Error()), strings.Contains(msg, syscall.EISDIR.Error()):
		code = 126
	}
	return withHelp(de.err, "run", code)
}

// withHelp formats an error of run or create the way docker does, with a pointer to --help.
func withHelp(err error, cmd string, code int) error {
	return StatusError{
		Status:     fmt.Sprintf("berth: %s\n\nRun 'berth %s --help' for more information", err, cmd),
		StatusCode: code,
	}
}
