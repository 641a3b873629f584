package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/moby/moby/client"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

// maxParallel bounds the concurrent requests of a multi-container command.
const maxParallel = 50

// forEachContainer runs op on every name concurrently and, in argument order, prints each
// name that succeeded to out and collects the errors (skipping those skip accepts).
func forEachContainer(ctx context.Context, out io.Writer, names []string, skip func(error) bool, op func(ctx context.Context, name string) error) error {
	results := make([]chan error, len(names))
	sem := make(chan struct{}, maxParallel)
	for i, name := range names {
		results[i] = make(chan error, 1)
		go func() {
			sem <- struct{}{}
			results[i] <- op(ctx, name)
			<-sem
		}()
	}
	var errs []error
	for i, name := range names {
		if err := <-results[i]; err != nil {
			if skip == nil || !skip(err) {
				errs = append(errs, err)
			}
			continue
		}
		fmt.Fprintln(out, name)
	}
	return errors.Join(errs...)
}

// StopOptions are the inputs of StopContainers and RestartContainers.
type StopOptions struct {
	Containers []string
	Signal     string
	Timeout    *int // seconds to wait before killing; nil for the container's default
}

// StopContainers stops containers, printing each name as given.
func StopContainers(ctx context.Context, api client.ContainerAPIClient, out io.Writer, opts StopOptions) error {
	return forEachContainer(ctx, out, opts.Containers, nil, func(ctx context.Context, name string) error {
		_, err := api.ContainerStop(ctx, name, client.ContainerStopOptions{Signal: opts.Signal, Timeout: opts.Timeout})
		return err
	})
}

// RestartContainers restarts containers, printing each name as given.
func RestartContainers(ctx context.Context, api client.ContainerAPIClient, out io.Writer, opts StopOptions) error {
	return forEachContainer(ctx, out, opts.Containers, nil, func(ctx context.Context, name string) error {
		_, err := api.ContainerRestart(ctx, name, client.ContainerRestartOptions{Signal: opts.Signal, Timeout: opts.Timeout})
		return err
	})
}

// KillContainers sends signal (empty for SIGKILL) to containers, printing each name as given.
func KillContainers(ctx context.Context, api client.ContainerAPIClient, out io.Writer, containers []string, signal string) error {
	return forEachContainer(ctx, out, containers, nil, func(ctx context.Context, name string) error {
		_, err := api.ContainerKill(ctx, name, client.ContainerKillOptions{Signal: signal})
		return err
	})
}

// RemoveOptions are the inputs of RemoveContainers.
type RemoveOptions struct {
	Containers []string
	Force      bool // kill running containers; missing ones are not an error
	Volumes    bool // remove anonymous volumes
	Links      bool
}

// RemoveContainers removes containers, printing each name as given.
func RemoveContainers(ctx context.Context, api client.ContainerAPIClient, out io.Writer, opts RemoveOptions) error {
	var skip func(error) bool
	if opts.Force {
		skip = cerrdefs.IsNotFound
	}
	return forEachContainer(ctx, out, opts.Containers, skip, func(ctx context.Context, name string) error {
		name = strings.Trim(name, "/")
		if name == "" {
			return errors.New("container name cannot be empty")
		}
		_, err := api.ContainerRemove(ctx, name, client.ContainerRemoveOptions{
			Force: opts.Force, RemoveVolumes: opts.Volumes, RemoveLinks: opts.Links,
		})
		return err
	})
}

// WaitContainers blocks until each container stops and prints its exit code.
func WaitContainers(ctx context.Context, api client.ContainerAPIClient, out io.Writer, containers []string) error {
	var errs []error
	for _, name := range containers {
		res := api.ContainerWait(ctx, name, client.ContainerWaitOptions{})
		select {
		case r := <-res.Result:
			fmt.Fprintf(out, "%d\n", r.StatusCode)
		case err := <-res.Error:
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

func newStopCommand(c *CLI) *cobra.Command {
	return stopLikeCommand(c, "stop", "Stop one or more running containers", StopContainers)
}

func newRestartCommand(c *CLI) *cobra.Command {
	return stopLikeCommand(c, "restart", "Restart one or more containers", RestartContainers)
}

func stopLikeCommand(c *CLI, name, short string, run func(context.Context, client.ContainerAPIClient, io.Writer, StopOptions) error) *cobra.Command {
	var f *stopFlags
	cmd := &cobra.Command{
		Use:   name + " [OPTIONS] CONTAINER [CONTAINER...]",
		Short: short,
		Args:  requiresMinArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			api, err := c.Client(cmd.Context())
			if err != nil {
				return err
			}
			return run(cmd.Context(), api, c.Out, f.options(cmd.Flags(), args))
		},
	}
	f = addStopFlags(cmd.Flags())
	return cmd
}

// stopFlags are the flags of stop and restart.
type stopFlags struct {
	signal  string
	timeout int
}

func addStopFlags(fs *pflag.FlagSet) *stopFlags {
	f := &stopFlags{}
	fs.StringVarP(&f.signal, "signal", "s", "", "Signal to send to the container")
	fs.IntVarP(&f.timeout, "time", "t", 0, "Seconds to wait before killing the container")
	fs.IntVar(&f.timeout, "timeout", 0, "Seconds to wait before killing the container")
	_ = fs.MarkHidden("timeout")
	return f
}

// options returns the stop options for containers; the timeout is set only if given.
func (f *stopFlags) options(fs *pflag.FlagSet, containers []string) StopOptions {
	opts := StopOptions{Containers: containers, Signal: f.signal}
	if fs.Changed("time") || fs.Changed("timeout") {
		t := f.timeout
		opts.Timeout = &t
	}
	return opts
}

func newKillCommand(c *CLI) *cobra.Command {
	var signal string
	cmd := &cobra.Command{
		Use:   "kill [OPTIONS] CONTAINER [CONTAINER...]",
		Short: "Kill one or more running containers",
		Args:  requiresMinArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			api, err := c.Client(cmd.Context())
			if err != nil {
				return err
			}
			return KillContainers(cmd.Context(), api, c.Out, args, signal)
		},
	}
	cmd.Flags().StringVarP(&signal, "signal", "s", "", "Signal to send to the container")
	return cmd
}

func newRmCommand(c *CLI) *cobra.Command {
	var opts RemoveOptions
	cmd := &cobra.Command{
		Use:   "rm [OPTIONS] CONTAINER [CONTAINER...]",
		Short: "Remove one or more containers",
		Args:  requiresMinArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.Containers = args
			api, err := c.Client(cmd.Context())
			if err != nil {
				return err
			}
			return RemoveContainers(cmd.Context(), api, c.Out, opts)
		},
	}
	addRmFlags(cmd.Flags(), &opts)
	return cmd
}

// addRmFlags binds the flags of rm to opts.
func addRmFlags(fs *pflag.FlagSet, opts *RemoveOptions) {
	fs.BoolVarP(&opts.Force, "force", "f", false, "Force the removal of a running container (uses SIGKILL)")
	fs.BoolVarP(&opts.Volumes, "volumes", "v", false, "Remove anonymous volumes associated with the container")
	fs.BoolVarP(&opts.Links, "link", "l", false, "Remove the specified link")
}

func newWaitCommand(c *CLI) *cobra.Command {
	return &cobra.Command{
		Use:   "wait CONTAINER [CONTAINER...]",
		Short: "Block until one or more containers stop, then print their exit codes",
		Args:  requiresMinArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			api, err := c.Client(cmd.Context())
			if err != nil {
				return err
			}
			return WaitContainers(cmd.Context(), api, c.Out, args)
		},
	}
}
