package cli

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/client"
	"github.com/moby/term"
	"github.com/spf13/cobra"
)

// StartOptions are the inputs of StartContainers.
type StartOptions struct {
	Containers []string
	Attach     bool // attach stdout and stderr and wait for the exit status (one container only)
	Stdin      bool // attach stdin too
	DetachKeys string
}

// AttachAPI is what starting or attaching with streams needs from the daemon.
type AttachAPI interface {
	ContainerInspect(ctx context.Context, container string, options client.ContainerInspectOptions) (client.ContainerInspectResult, error)
	ContainerAttach(ctx context.Context, container string, options client.ContainerAttachOptions) (client.ContainerAttachResult, error)
	ContainerStart(ctx context.Context, container string, options client.ContainerStartOptions) (client.ContainerStartResult, error)
	ContainerWait(ctx context.Context, container string, options client.ContainerWaitOptions) client.ContainerWaitResult
	ContainerKill(ctx context.Context, container string, options client.ContainerKillOptions) (client.ContainerKillResult, error)
	ContainerResize(ctx context.Context, container string, options client.ContainerResizeOptions) (client.ContainerResizeResult, error)
}

func newStartCommand(c *CLI) *cobra.Command {
	var opts StartOptions
	cmd := &cobra.Command{
		Use:   "start [OPTIONS] CONTAINER [CONTAINER...]",
		Short: "Start one or more stopped containers",
		Args:  requiresMinArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.Containers = args
			api, err := c.Client(cmd.Context())
			if err != nil {
				return err
			}
			return StartContainers(cmd.Context(), api, c.Streams, opts)
		},
	}
	fs := cmd.Flags()
	fs.BoolVarP(&opts.Attach, "attach", "a", false, "Attach STDOUT/STDERR and forward signals")
	fs.BoolVarP(&opts.Stdin, "interactive", "i", false, "Attach container's STDIN")
	fs.StringVar(&opts.DetachKeys, "detach-keys", "", "Override the key sequence for detaching a container")
	return cmd
}

// StartContainers starts containers, printing each name as given; with Attach or Stdin it
// streams the single container's I/O and returns its exit status as a StatusError.
func StartContainers(ctx context.Context, api AttachAPI, s Streams, opts StartOptions) error {
	if opts.Attach || opts.Stdin {
		if len(opts.Containers) > 1 {
			return errors.New("you cannot start and attach multiple containers at once")
		}
		return startAttached(ctx, api, s, opts)
	}
	var failed []string
	for _, name := range opts.Containers {
		if _, err := api.ContainerStart(ctx, name, client.ContainerStartOptions{}); err != nil {
			if isConnError(err) {
				return err
			}
			fmt.Fprintln(s.Err, err)
			failed = append(failed, name)
			continue
		}
		fmt.Fprintln(s.Out, name)
	}
	if len(failed) > 0 {
		return fmt.Errorf("failed to start containers: %s", strings.Join(failed, ", "))
	}
	return nil
}

func startAttached(ctx context.Context, api AttachAPI, s Streams, opts StartOptions) error {
	escape, err := escapeKeys(opts.DetachKeys)
	if err != nil {
		return err
	}
	res, err := api.ContainerInspect(ctx, opts.Containers[0], client.ContainerInspectOptions{})
	if err != nil {
		return err
	}
	ctr := res.Container
	tty := ctr.Config != nil && ctr.Config.Tty
	stdin := opts.Stdin && ctr.Config != nil && ctr.Config.OpenStdin
	if !tty {
		defer proxySignals(ctx, api, ctr.ID)()
	}
	resp, err := api.ContainerAttach(ctx, ctr.ID, client.ContainerAttachOptions{
		Stream: true, Stdin: stdin, Stdout: true, Stderr: true, DetachKeys: opts.DetachKeys,
	})
	if err != nil {
		return err
	}
	defer resp.Close()
	streamCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	h := &hijackStreamer{resp: resp.HijackedResponse, out: s.Out, errOut: s.Err, tty: tty, escape: escape}
	if stdin {
		h.in = s.In
	}
	streamDone := make(chan error, 1)
	go func() { streamDone <- h.stream(streamCtx) }()
	defer h.restore()

	cond := container.WaitConditionNextExit
	if ctr.HostConfig != nil && ctr.HostConfig.AutoRemove {
		cond = container.WaitConditionRemoved
	}
	waitCtx, cancelWait := context.WithCancel(ctx)
	defer cancelWait()
	status := waitStatus(waitCtx, api, ctr.ID, cond, s.Err)
	if _, err := api.ContainerStart(ctx, ctr.ID, client.ContainerStartOptions{}); err != nil {
		cancel()
		<-streamDone
		return err
	}
	if tty {
		monitorTTYSize(streamCtx, containerResize(api, ctr.ID), s.Out)
	}
	if err := <-streamDone; err != nil {
		var esc term.EscapeError
		if errors.As(err, &esc) {
			return nil
		}
		return err
	}
	return exitStatus(<-status)
}

// AttachOptions are the inputs of AttachContainer.
type AttachOptions struct {
	Container  string
	NoStdin    bool // do not attach our standard input
	SigProxy   bool // forward the signals we receive (containers without a TTY)
	DetachKeys string
}

func newAttachCommand(c *CLI) *cobra.Command {
	var opts AttachOptions
	cmd := &cobra.Command{
		Use:   "attach [OPTIONS] CONTAINER",
		Short: "Attach local standard input, output, and error streams to a running container",
		Args:  exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.Container = args[0]
			api, err := c.Client(cmd.Context())
			if err != nil {
				return err
			}
			return AttachContainer(cmd.Context(), api, c.Streams, opts)
		},
	}
	fs := cmd.Flags()
	fs.BoolVar(&opts.NoStdin, "no-stdin", false, "Do not attach STDIN")
	fs.BoolVar(&opts.SigProxy, "sig-proxy", true, "Proxy all received signals to the process")
	fs.StringVar(&opts.DetachKeys, "detach-keys", "", "Override the key sequence for detaching a container")
	return cmd
}

// AttachContainer streams a running container's I/O until it exits or the user detaches,
// and returns its exit status as a StatusError.
func AttachContainer(ctx context.Context, api AttachAPI, s Streams, opts AttachOptions) error {
	escape, err := escapeKeys(opts.DetachKeys)
	if err != nil {
		return err
	}
	wait := api.ContainerWait(context.WithoutCancel(ctx), opts.Container, client.ContainerWaitOptions{})
	ctr, err := inspectAttachable(ctx, api, opts.Container)
	if err != nil {
		return err
	}
	tty := ctr.Config != nil && ctr.Config.Tty
	if !opts.NoStdin && tty && !isTerminal(s.In) {
		return errors.New("the input device is not a TTY")
	}
	stdin := !opts.NoStdin && ctr.Config != nil && ctr.Config.OpenStdin
	if opts.SigProxy && !tty {
		defer proxySignals(ctx, api, ctr.ID)()
	}
	resp, err := api.ContainerAttach(ctx, ctr.ID, client.ContainerAttachOptions{
		Stream: true, Stdin: stdin, Stdout: true, Stderr: true, DetachKeys: opts.DetachKeys,
	})
	if err != nil {
		return err
	}
	defer resp.Close()
	// The container may have stopped between the first check and the attach.
	if _, err := inspectAttachable(ctx, api, ctr.ID); err != nil {
		return err
	}
	h := &hijackStreamer{resp: resp.HijackedResponse, out: s.Out, errOut: s.Err, tty: tty, escape: escape}
	if stdin {
		h.in = s.In
	}
	defer h.restore()
	if tty {
		// Like docker: a size one larger first, so that the program redraws (a shell shows
		// its prompt again) when the real size follows.
		resize := containerResize(api, ctr.ID)
		if hgt, wid := ttySize(s.Out); hgt > 0 {
			_ = resize(ctx, hgt+1, wid+1)
		}
		monitorTTYSize(ctx, resize, s.Out)
	}
	if err := h.stream(ctx); err != nil {
		var esc term.EscapeError
		if errors.As(err, &esc) {
			return nil
		}
		if !errors.Is(err, context.Canceled) {
			return err
		}
	}
	select {
	case r := <-wait.Result:
		if r.Error != nil {
			return errors.New(r.Error.Message)
		}
		return exitStatus(int(r.StatusCode))
	case err := <-wait.Error:
		return err
	}
}

// inspectAttachable inspects a container and refuses one that is not running.
func inspectAttachable(ctx context.Context, api AttachAPI, name string) (container.InspectResponse, error) {
	res, err := api.ContainerInspect(ctx, name, client.ContainerInspectOptions{})
	if err != nil {
		return container.InspectResponse{}, err
	}
	ctr := res.Container
	switch {
	case ctr.State == nil || !ctr.State.Running:
		return ctr, errors.New("cannot attach to a stopped container, start it first")
	case ctr.State.Paused:
		return ctr, errors.New("cannot attach to a paused container, unpause it first")
	case ctr.State.Restarting:
		return ctr, errors.New("cannot attach to a restarting container, wait until it is running")
	}
	return ctr, nil
}
