package cli

import (
	"context"
	"errors"
	"os"
	"time"

	"github.com/moby/moby/client"
	"github.com/moby/term"
	"github.com/spf13/cobra"
)

// ExecOptions are the inputs of ExecContainer.
type ExecOptions struct {
	Container   string
	Command     []string
	Interactive bool // attach our standard input
	TTY         bool
	Detach      bool // start the process and return at once
	Privileged  bool
	User        string
	Workdir     string
	Env         []string // KEY=VALUE, or KEY to take the value from our environment
	EnvFiles    []string
	DetachKeys  string
}

// ExecAPI is what running a process in a container needs from the daemon.
type ExecAPI interface {
	ContainerInspect(ctx context.Context, container string, options client.ContainerInspectOptions) (client.ContainerInspectResult, error)
	ExecCreate(ctx context.Context, container string, options client.ExecCreateOptions) (client.ExecCreateResult, error)
	ExecStart(ctx context.Context, execID string, options client.ExecStartOptions) (client.ExecStartResult, error)
	ExecAttach(ctx context.Context, execID string, options client.ExecAttachOptions) (client.ExecAttachResult, error)
	ExecInspect(ctx context.Context, execID string, options client.ExecInspectOptions) (client.ExecInspectResult, error)
	ExecResize(ctx context.Context, execID string, options client.ExecResizeOptions) (client.ExecResizeResult, error)
}

func newExecCommand(c *CLI) *cobra.Command {
	var opts ExecOptions
	cmd := &cobra.Command{
		Use:   "exec [OPTIONS] CONTAINER COMMAND [ARG...]",
		Short: "Execute a command in a running container",
		Args:  requiresMinArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.Container, opts.Command = args[0], args[1:]
			if _, err := escapeKeys(opts.DetachKeys); err != nil {
				return err
			}
			api, err := c.Client(cmd.Context())
			if err != nil {
				return err
			}
			return ExecContainer(cmd.Context(), api, c.Streams, opts)
		},
	}
	fs := cmd.Flags()
	fs.SetInterspersed(false)
	fs.StringVar(&opts.DetachKeys, "detach-keys", "", "Override the key sequence for detaching a container")
	fs.BoolVarP(&opts.Interactive, "interactive", "i", false, "Keep STDIN open even if not attached")
	fs.BoolVarP(&opts.TTY, "tty", "t", false, "Allocate a pseudo-TTY")
	fs.BoolVarP(&opts.Detach, "detach", "d", false, "Detached mode: run command in the background")
	fs.StringVarP(&opts.User, "user", "u", "", `Username or UID (format: "<name|uid>[:<group|gid>]")`)
	fs.BoolVar(&opts.Privileged, "privileged", false, "Give extended privileges to the command")
	fs.VarP(newListValue(&opts.Env, validateEnv), "env", "e", "Set environment variables")
	fs.Var(newListValue(&opts.EnvFiles, nil), "env-file", "Read in a file of environment variables")
	fs.StringVarP(&opts.Workdir, "workdir", "w", "", "Working directory inside the container")
	return cmd
}

// execCreateOptions turns ExecOptions into the API's exec configuration.
func execCreateOptions(opts ExecOptions) (client.ExecCreateOptions, error) {
	env, err := readKVFiles(opts.EnvFiles, opts.Env, os.LookupEnv)
	if err != nil {
		return client.ExecCreateOptions{}, err
	}
	eo := client.ExecCreateOptions{
		User:       opts.User,
		Privileged: opts.Privileged,
		TTY:        opts.TTY,
		Cmd:        opts.Command,
		WorkingDir: opts.Workdir,
		Env:        env,
		DetachKeys: opts.DetachKeys,
	}
	if !opts.Detach {
		eo.AttachStdout, eo.AttachStderr, eo.AttachStdin = true, true, opts.Interactive
	}
	return eo, nil
}

// ExecContainer runs a command in a running container like `docker exec`: attached, it
// streams the process's I/O and returns its exit status as a StatusError.
func ExecContainer(ctx context.Context, api ExecAPI, s Streams, opts ExecOptions) error {
	eo, err := execCreateOptions(opts)
	if err != nil {
		return err
	}
	escape, err := escapeKeys(opts.DetachKeys)
	if err != nil {
		return err
	}
	// A missing container is reported before anything else, and nothing is created on the
	// daemon when the terminal check fails.
	if _, err := api.ContainerInspect(ctx, opts.Container, client.ContainerInspectOptions{}); err != nil {
		return err
	}
	if !opts.Detach && eo.AttachStdin && eo.TTY && !isTerminal(s.In) {
		return errors.New("the input device is not a TTY")
	}
	var size client.ConsoleSize
	if eo.TTY {
		h, w := ttySize(s.Out)
		size = client.ConsoleSize{Height: h, Width: w}
		eo.ConsoleSize = size
	}
	res, err := api.ExecCreate(ctx, opts.Container, eo)
	if err != nil {
		return err
	}
	if res.ID == "" {
		return errors.New("exec ID empty")
	}
	if opts.Detach {
		_, err := api.ExecStart(ctx, res.ID, client.ExecStartOptions{Detach: true, TTY: eo.TTY, ConsoleSize: size})
		return err
	}

	resp, err := api.ExecAttach(ctx, res.ID, client.ExecAttachOptions{TTY: eo.TTY, ConsoleSize: size})
	if err != nil {
		return err
	}
	defer resp.Close()
	h := &hijackStreamer{resp: resp.HijackedResponse, out: s.Out, errOut: s.Err, tty: eo.TTY, escape: escape}
	if eo.TTY {
		h.errOut = s.Out
	}
	if eo.AttachStdin {
		h.in = s.In
	}
	defer h.restore()
	streamCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	if eo.TTY && isTerminal(s.In) {
		monitorTTYSize(streamCtx, execResize(api, res.ID), s.Out)
	}
	if err := h.stream(streamCtx); err != nil {
		var esc term.EscapeError
		if errors.As(err, &esc) {
			return nil
		}
		return err
	}
	return execExitStatus(ctx, api, res.ID)
}

// execResize returns the resizeFunc of exec id. The process may not have started yet when
// the first resize arrives, so a failure is retried a few times, as docker does.
func execResize(api ExecAPI, id string) resizeFunc {
	first := true
	return func(ctx context.Context, h, w uint) error {
		resize := func() error {
			_, err := api.ExecResize(ctx, id, client.ExecResizeOptions{Height: h, Width: w})
			return err
		}
		err := resize()
		if err == nil || !first {
			return err
		}
		first = false
		go func() {
			for i := 1; i <= 10 && ctx.Err() == nil; i++ {
				time.Sleep(time.Duration(i) * 10 * time.Millisecond)
				if resize() == nil {
					return
				}
			}
		}()
		return err
	}
}

// execExitStatus returns the exit status of a finished exec as a StatusError (nil for 0).
func execExitStatus(ctx context.Context, api ExecAPI, id string) error {
	res, err := api.ExecInspect(ctx, id, client.ExecInspectOptions{})
	if err != nil {
		if client.IsErrConnectionFailed(err) {
			return StatusError{StatusCode: -1}
		}
		return err
	}
	if res.Running {
		// The output ended before the daemon recorded the exit: give it a moment.
		for i := 0; i < 50 && res.Running; i++ {
			time.Sleep(10 * time.Millisecond)
			if res, err = api.ExecInspect(ctx, id, client.ExecInspectOptions{}); err != nil {
				return err
			}
		}
	}
	if res.ExitCode != 0 {
		return StatusError{StatusCode: res.ExitCode}
	}
	return nil
}
