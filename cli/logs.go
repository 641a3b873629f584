package cli

import (
	"context"
	"io"

	"github.com/moby/moby/client"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

// LogsOptions are the inputs of ContainerLogs.
type LogsOptions struct {
	Container  string
	Follow     bool
	Timestamps bool
	Details    bool
	Since      string
	Until      string
	Tail       string // number of lines from the end, or "all"
}

// LogsAPI is what reading a container's logs needs from the daemon.
type LogsAPI interface {
	ContainerInspect(ctx context.Context, container string, options client.ContainerInspectOptions) (client.ContainerInspectResult, error)
	ContainerLogs(ctx context.Context, container string, options client.ContainerLogsOptions) (client.ContainerLogsResult, error)
}

func newLogsCommand(c *CLI) *cobra.Command {
	var opts LogsOptions
	cmd := &cobra.Command{
		Use:   "logs [OPTIONS] CONTAINER",
		Short: "Fetch the logs of a container",
		Args:  exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.Container = args[0]
			api, err := c.Client(cmd.Context())
			if err != nil {
				return err
			}
			return ContainerLogs(cmd.Context(), api, c.Streams, opts)
		},
	}
	addLogsFlags(cmd.Flags(), &opts)
	return cmd
}

// addLogsFlags binds the flags of logs to opts.
func addLogsFlags(fs *pflag.FlagSet, opts *LogsOptions) {
	fs.BoolVarP(&opts.Follow, "follow", "f", false, "Follow log output")
	fs.BoolVarP(&opts.Timestamps, "timestamps", "t", false, "Show timestamps")
	fs.BoolVar(&opts.Details, "details", false, "Show extra details provided to logs")
	fs.StringVar(&opts.Since, "since", "", `Show logs since timestamp (e.g. "2013-01-02T13:23:37Z") or relative (e.g. "42m" for 42 minutes)`)
	fs.StringVar(&opts.Until, "until", "", `Show logs before a timestamp (e.g. "2013-01-02T13:23:37Z") or relative (e.g. "42m" for 42 minutes)`)
	fs.StringVarP(&opts.Tail, "tail", "n", "all", "Number of lines to show from the end of the logs")
}

// ContainerLogs copies a container's logs to s.Out and s.Err; a TTY container's single
// stream goes to s.Out as is.
func ContainerLogs(ctx context.Context, api LogsAPI, s Streams, opts LogsOptions) error {
	res, err := api.ContainerInspect(ctx, opts.Container, client.ContainerInspectOptions{})
	if err != nil {
		return err
	}
	rc, err := api.ContainerLogs(ctx, res.Container.ID, client.ContainerLogsOptions{
		ShowStdout: true,
		ShowStderr: true,
		Since:      opts.Since,
		Until:      opts.Until,
		Timestamps: opts.Timestamps,
		Follow:     opts.Follow,
		Tail:       opts.Tail,
		Details:    opts.Details,
	})
	if err != nil {
		return err
	}
	defer rc.Close()
	if res.Container.Config != nil && res.Container.Config.Tty {
		_, err = io.Copy(s.Out, rc)
	} else {
		_, err = demux(s.Out, s.Err, rc)
	}
	return err
}
