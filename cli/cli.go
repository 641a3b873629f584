package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/berth-dev/berth/internal/version"
	"github.com/moby/moby/client"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

// The moby client plays every role the commands ask of the daemon.
var (
	_ RunAPI          = (*client.Client)(nil)
	_ AttachAPI       = (*client.Client)(nil)
	_ LogsAPI         = (*client.Client)(nil)
	_ InspectAPI      = (*client.Client)(nil)
	_ ImageLister     = (*client.Client)(nil)
	_ ServerVersioner = (*client.Client)(nil)
)

// Streams are the standard streams a command reads from and writes to.
type Streams struct {
	In  io.Reader
	Out io.Writer
	Err io.Writer
}

// StatusError is an error that ends the process with StatusCode; Status is printed unless empty.
type StatusError struct {
	Status     string
	StatusCode int
}

func (e StatusError) Error() string { return e.Status }

// CLI holds the global options and the lazily created API client shared by all commands.
type CLI struct {
	Streams
	host  string
	debug bool
	api   *client.Client
}

// Main runs the berth command line with args (without the program name) and returns the exit code.
func Main(ctx context.Context, args []string, s Streams) int {
	c := &CLI{Streams: s}
	root := NewRootCommand(c)
	root.SetArgs(args)
	err := root.ExecuteContext(ctx)
	if c.api != nil {
		_ = c.api.Close()
	}
	if err == nil {
		return 0
	}
	err = c.connError(err)
	var se StatusError
	if errors.As(err, &se) {
		if se.Status != "" {
			fmt.Fprintln(s.Err, se.Status)
		}
		if se.StatusCode == 0 {
			return 1
		}
		return se.StatusCode
	}
	fmt.Fprintln(s.Err, err)
	return 1
}

// NewRootCommand returns the berth command tree bound to c.
func NewRootCommand(c *CLI) *cobra.Command {
	root := &cobra.Command{
		Use:           "berth [OPTIONS] COMMAND",
		Short:         "A Docker-compatible container engine",
		SilenceUsage:  true,
		SilenceErrors: true,
		Version:       version.Version,
		Args:          unknownCommand,
		RunE: func(cmd *cobra.Command, args []string) error {
			return cmd.Help()
		},
		CompletionOptions: cobra.CompletionOptions{HiddenDefaultCmd: true},
	}
	root.SetIn(c.In)
	root.SetOut(c.Out)
	root.SetErr(c.Err)
	root.SetVersionTemplate("Berth version {{.Version}}" + buildSuffix() + "\n")
	root.SetFlagErrorFunc(flagError)
	pf := root.PersistentFlags()
	pf.StringVarP(&c.host, "host", "H", "", "Daemon socket to connect to (default "+DefaultHost+", or $"+envHost+")")
	pf.BoolVarP(&c.debug, "debug", "D", false, "Enable debug mode")
	root.Flags().BoolP("version", "v", false, "Print version information and quit")

	root.AddCommand(
		newRunCommand(c), newCreateCommand(c), newStartCommand(c), newWaitCommand(c),
		newAttachCommand(c), newPsCommand(c), newLogsCommand(c), newStopCommand(c),
		newKillCommand(c), newRmCommand(c), newRestartCommand(c), newPullCommand(c),
		newImagesCommand(c), newInspectCommand(c), newVersionCommand(c), newInfoCommand(c),
		newExecCommand(c), newTopCommand(c), newStatsCommand(c), newPortCommand(c),
		newDiffCommand(c), newEventsCommand(c), newPauseCommand(c), newUnpauseCommand(c),
		newRenameCommand(c), newCopyCommand(c), newCommitCommand(c), newExportCommand(c),
		newUpdateCommand(c),
		newContainerCommand(c), newImageCommand(c), newNetworkCommand(c), newVolumeCommand(c), newBuilderCommand(c), newSystemCommand(c),
	)
	for _, group := range [][]*cobra.Command{pushCommands(c), imageManageCommands(c), imageArchiveCommands(c), searchCommands(c)} {
		root.AddCommand(group...)
	}
	addBuildCommands(root, c)
	disableFlagsInUseLine(root)
	setHelp(root)
	return root
}

func disableFlagsInUseLine(cmd *cobra.Command) {
	cmd.DisableFlagsInUseLine = true
	for _, sub := range cmd.Commands() {
		disableFlagsInUseLine(sub)
	}
}

func newContainerCommand(c *CLI) *cobra.Command {
	cmd := managementCommand("container", "Manage containers")
	ls := newPsCommand(c)
	ls.Use = "ls [OPTIONS]"
	ls.Aliases = []string{"list", "ps"}
	rm := newRmCommand(c)
	rm.Aliases = []string{"remove"}
	cmd.AddCommand(
		newRunCommand(c), newCreateCommand(c), newStartCommand(c), newWaitCommand(c),
		newAttachCommand(c), ls, newLogsCommand(c), newStopCommand(c), newKillCommand(c),
		rm, newRestartCommand(c), newContainerInspectCommand(c),
		newExecCommand(c), newTopCommand(c), newStatsCommand(c), newPortCommand(c),
		newDiffCommand(c), newPauseCommand(c), newUnpauseCommand(c), newRenameCommand(c),
		newCopyCommand(c), newCommitCommand(c), newExportCommand(c), newUpdateCommand(c),
		newContainerPruneCommand(c),
	)
	return cmd
}

func newImageCommand(c *CLI) *cobra.Command {
	cmd := managementCommand("image", "Manage images")
	ls := newImagesCommand(c)
	ls.Use = "ls [OPTIONS] [REPOSITORY[:TAG]]"
	ls.Aliases = []string{"list"}
	cmd.AddCommand(ls, newPullCommand(c), newImageInspectCommand(c))
	for _, group := range [][]*cobra.Command{imagePushSubcommands(c), imageManageSubcommands(c), imageArchiveSubcommands(c)} {
		cmd.AddCommand(group...)
	}
	return cmd
}

func newSystemCommand(c *CLI) *cobra.Command {
	cmd := managementCommand("system", "Manage Berth")
	cmd.AddCommand(newInfoCommand(c), newEventsCommand(c))
	cmd.AddCommand(systemImageSubcommands(c)...)
	return cmd
}

func managementCommand(name, short string) *cobra.Command {
	return &cobra.Command{
		Use:   name,
		Short: short,
		Args:  unknownCommand,
		RunE: func(cmd *cobra.Command, args []string) error {
			return cmd.Help()
		},
	}
}

// unknownCommand rejects arguments to a command that only groups subcommands.
func unknownCommand(cmd *cobra.Command, args []string) error {
	if len(args) == 0 {
		return nil
	}
	return fmt.Errorf("berth: unknown command: %s %s\n\nRun '%s --help' for more information",
		cmd.CommandPath(), args[0], cmd.CommandPath())
}

// flagError prints flag errors the way docker 28 does (the error, the usage line, where
// help is) and exits with 125, as docker does for every command.
func flagError(cmd *cobra.Command, err error) error {
	return StatusError{Status: fmt.Sprintf("%s\n\nUsage:  %s\n\nRun '%s --help' for more information",
		err, cmd.UseLine(), cmd.CommandPath()), StatusCode: 125}
}

// requiresMinArgs returns an argument validator requiring at least n arguments.
func requiresMinArgs(n int) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if len(args) >= n {
			return nil
		}
		return argsErrorSee(cmd, "requires at least "+pluralArgs(n))
	}
}

// exactArgs returns an argument validator requiring exactly n arguments.
func exactArgs(n int) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if len(args) == n {
			return nil
		}
		return argsError(cmd, "requires "+pluralArgs(n))
	}
}

// maxArgs returns an argument validator allowing at most n arguments.
func maxArgs(n int) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if len(args) <= n {
			return nil
		}
		return argsError(cmd, "requires at most "+pluralArgs(n))
	}
}

func noArgs(cmd *cobra.Command, args []string) error {
	if len(args) == 0 {
		return nil
	}
	return argsError(cmd, "accepts no arguments")
}

func pluralArgs(n int) string {
	if n == 1 {
		return "1 argument"
	}
	return fmt.Sprintf("%d arguments", n)
}

// argsError is docker 28's message for a wrong number of arguments.
func argsError(cmd *cobra.Command, what string) error {
	return fmt.Errorf("berth: '%s' %s\n\nUsage:  %s\n\nRun '%s --help' for more information",
		cmd.CommandPath(), what, cmd.UseLine(), cmd.CommandPath())
}

// argsErrorSee is argsError as docker 28 words it for too few arguments ("See …").
func argsErrorSee(cmd *cobra.Command, what string) error {
	return fmt.Errorf("berth: '%s' %s\n\nUsage:  %s\n\nSee '%s --help' for more information",
		cmd.CommandPath(), what, cmd.UseLine(), cmd.CommandPath())
}

// addHelpFlag defines --help without the -h shorthand, which run and create use for --hostname.
func addHelpFlag(fs *pflag.FlagSet) {
	fs.Bool("help", false, "Print usage")
}

// Client returns the API client, creating it (and starting berthd if needed) on first use.
func (c *CLI) Client(ctx context.Context) (*client.Client, error) {
	if c.api != nil {
		return c.api, nil
	}
	host := c.Host()
	api, err := client.New(client.WithHost(host), client.WithUserAgent("berth/"+version.Version))
	if err != nil {
		return nil, err
	}
	if a := c.autostarter(host); a != nil {
		if err := a.ensure(ctx, api); err != nil {
			_ = api.Close()
			return nil, err
		}
	}
	c.api = api
	return api, nil
}

// Host returns the daemon address: -H, else $BERTH_HOST, else the default socket.
func (c *CLI) Host() string {
	if c.host != "" {
		return c.host
	}
	if h := os.Getenv(envHost); h != "" {
		return h
	}
	return DefaultHost
}

func (c *CLI) debugf(format string, args ...any) {
	if c.debug {
		fmt.Fprintf(c.Err, "DEBU "+format+"\n", args...)
	}
}
