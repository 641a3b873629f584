package cli

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"text/tabwriter"

	"github.com/docker/go-units"
	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/network"
	"github.com/moby/moby/client"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

// apiCommand returns a command whose RunE gets the API client first.
func apiCommand(c *CLI, use, short string, args cobra.PositionalArgs, run func(ctx context.Context, api *client.Client, args []string) error) *cobra.Command {
	return &cobra.Command{
		Use:   use,
		Short: short,
		Args:  args,
		RunE: func(cmd *cobra.Command, args []string) error {
			api, err := c.Client(cmd.Context())
			if err != nil {
				return err
			}
			return run(cmd.Context(), api, args)
		},
	}
}

func newTopCommand(c *CLI) *cobra.Command {
	cmd := apiCommand(c, "top CONTAINER [ps OPTIONS]", "Display the running processes of a container", requiresMinArgs(1),
		func(ctx context.Context, api *client.Client, args []string) error {
			return TopContainer(ctx, api, c.Out, args[0], args[1:])
		})
	cmd.Flags().SetInterspersed(false)
	return cmd
}

// TopContainer prints the processes of a container as the daemon's ps lists them.
func TopContainer(ctx context.Context, api client.ContainerAPIClient, out io.Writer, name string, psArgs []string) error {
	res, err := api.ContainerTop(ctx, name, client.ContainerTopOptions{Arguments: psArgs})
	if err != nil {
		return err
	}
	tw := tabwriter.NewWriter(out, 20, 1, 3, ' ', 0)
	fmt.Fprintln(tw, strings.Join(res.Titles, "\t"))
	for _, p := range res.Processes {
		fmt.Fprintln(tw, strings.Join(p, "\t"))
	}
	return tw.Flush()
}

func newPortCommand(c *CLI) *cobra.Command {
	return apiCommand(c, "port CONTAINER [PRIVATE_PORT[/PROTO]]", "List port mappings or a specific mapping for the container", rangeArgs(1, 2),
		func(ctx context.Context, api *client.Client, args []string) error {
			port := ""
			if len(args) > 1 {
				port = args[1]
			}
			return ContainerPorts(ctx, api, c.Out, args[0], port)
		})
}

// ContainerPorts prints a container's published ports (all, or those of one private port),
// sorted in natural order like docker.
func ContainerPorts(ctx context.Context, api InspectAPI, out io.Writer, name, port string) error {
	res, err := api.ContainerInspect(ctx, name, client.ContainerInspectOptions{})
	if err != nil {
		return err
	}
	var ports network.PortMap
	if ns := res.Container.NetworkSettings; ns != nil {
		ports = ns.Ports
	}
	var lines []string
	if port != "" {
		num, proto, _ := strings.Cut(port, "/")
		if proto == "" {
			proto = "tcp"
		}
		n, err := strconv.ParseUint(num, 10, 16)
		if err != nil {
			return fmt.Errorf("Error: invalid port (%s): %w", num, err)
		}
		p, _ := network.PortFrom(uint16(n), network.IPProtocol(proto))
		bindings := ports[p]
		if len(bindings) == 0 {
			return fmt.Errorf("Error: No public port '%s' published for %s", port, name)
		}
		for _, b := range bindings {
			lines = append(lines, hostPort(b))
		}
	} else {
		for p, bindings := range ports {
			for _, b := range bindings {
				lines = append(lines, p.String()+" -> "+hostPort(b))
			}
		}
	}
	if len(lines) == 0 {
		return nil
	}
	sort.Slice(lines, func(i, j int) bool { return naturalLess(lines[i], lines[j]) })
	_, err = fmt.Fprintln(out, strings.Join(lines, "\n"))
	return err
}

func hostPort(b network.PortBinding) string {
	ip := ""
	if b.HostIP.IsValid() {
		ip = b.HostIP.String()
	}
	return net.JoinHostPort(ip, b.HostPort)
}

// naturalCompare is naturalLess as a three-way comparison, for slices.SortFunc.
func naturalCompare(a, b string) int {
	switch {
	case naturalLess(a, b):
		return -1
	case naturalLess(b, a):
		return 1
	}
	return 0
}

// naturalLess compares strings with runs of digits compared as numbers.
func naturalLess(a, b string) bool {
	for a != "" && b != "" {
		da, db := digitRun(a), digitRun(b)
		if da > 0 && db > 0 {
			na, nb := strings.TrimLeft(a[:da], "0"), strings.TrimLeft(b[:db], "0")
			if len(na) != len(nb) {
				return len(na) < len(nb)
			}
			if na != nb {
				return na < nb
			}
			a, b = a[da:], b[db:]
			continue
		}
		if a[0] != b[0] {
			return a[0] < b[0]
		}
		a, b = a[1:], b[1:]
	}
	return len(a) < len(b)
}

func digitRun(s string) int {
	n := 0
	for n < len(s) && s[n] >= '0' && s[n] <= '9' {
		n++
	}
	return n
}

func newDiffCommand(c *CLI) *cobra.Command {
	return apiCommand(c, "diff CONTAINER", "Inspect changes to files or directories on a container's filesystem", exactArgs(1),
		func(ctx context.Context, api *client.Client, args []string) error {
			return ContainerDiff(ctx, api, c.Out, args[0])
		})
}

// ContainerDiff prints the changes of a container's filesystem, one "KIND PATH" per line.
func ContainerDiff(ctx context.Context, api client.ContainerAPIClient, out io.Writer, name string) error {
	res, err := api.ContainerDiff(ctx, name, client.ContainerDiffOptions{})
	if err != nil {
		return err
	}
	w := bufio.NewWriter(out)
	for _, ch := range res.Changes {
		fmt.Fprintf(w, "%s %s\n", ch.Kind, ch.Path)
	}
	return w.Flush()
}

func newPauseCommand(c *CLI) *cobra.Command {
	return apiCommand(c, "pause CONTAINER [CONTAINER...]", "Pause all processes within one or more containers", requiresMinArgs(1),
		func(ctx context.Context, api *client.Client, args []string) error {
			return PauseContainers(ctx, api, c.Out, args)
		})
}

func newUnpauseCommand(c *CLI) *cobra.Command {
	return apiCommand(c, "unpause CONTAINER [CONTAINER...]", "Unpause all processes within one or more containers", requiresMinArgs(1),
		func(ctx context.Context, api *client.Client, args []string) error {
			return UnpauseContainers(ctx, api, c.Out, args)
		})
}

// PauseContainers freezes containers, printing each name as given.
func PauseContainers(ctx context.Context, api client.ContainerAPIClient, out io.Writer, containers []string) error {
	return forEachContainer(ctx, out, containers, nil, func(ctx context.Context, name string) error {
		_, err := api.ContainerPause(ctx, name, client.ContainerPauseOptions{})
		return err
	})
}

// UnpauseContainers thaws containers, printing each name as given.
func UnpauseContainers(ctx context.Context, api client.ContainerAPIClient, out io.Writer, containers []string) error {
	return forEachContainer(ctx, out, containers, nil, func(ctx context.Context, name string) error {
		_, err := api.ContainerUnpause(ctx, name, client.ContainerUnpauseOptions{})
		return err
	})
}

func newRenameCommand(c *CLI) *cobra.Command {
	return apiCommand(c, "rename CONTAINER NEW_NAME", "Rename a container", exactArgs(2),
		func(ctx context.Context, api *client.Client, args []string) error {
			return RenameContainer(ctx, api, args[0], args[1])
		})
}

// RenameContainer gives a container a new name.
func RenameContainer(ctx context.Context, api client.ContainerAPIClient, name, newName string) error {
	if _, err := api.ContainerRename(ctx, name, client.ContainerRenameOptions{NewName: newName}); err != nil {
		return fmt.Errorf("failed to rename container: %w", err)
	}
	return nil
}

// PruneOptions are the inputs of PruneContainers.
type PruneOptions struct {
	Force   bool     // do not ask for confirmation
	Filters []string // key=value (until, label, label!)
}

func newContainerPruneCommand(c *CLI) *cobra.Command {
	var opts PruneOptions
	cmd := apiCommand(c, "prune [OPTIONS]", "Remove all stopped containers", noArgs,
		func(ctx context.Context, api *client.Client, args []string) error {
			return PruneContainers(ctx, api, c.Streams, opts)
		})
	fs := cmd.Flags()
	fs.BoolVarP(&opts.Force, "force", "f", false, "Do not prompt for confirmation")
	addFilterFlag(fs, &opts.Filters, "", `Provide filter values (e.g. "until=<timestamp>")`)
	return cmd
}

const pruneWarning = "WARNING! This will remove all stopped containers.\nAre you sure you want to continue?"

// PruneContainers removes all stopped containers, asking first unless Force is set, and
// prints what was deleted and the space reclaimed. A "no" ends quietly with no error.
func PruneContainers(ctx context.Context, api client.ContainerAPIClient, s Streams, opts PruneOptions) error {
	filters, err := parseFilters(opts.Filters)
	if err != nil {
		return err
	}
	if !opts.Force && !confirm(s.In, s.Out, pruneWarning) {
		return nil
	}
	res, err := api.ContainerPrune(ctx, client.ContainerPruneOptions{Filters: filters})
	if err != nil {
		return err
	}
	var reclaimed uint64
	if deleted := res.Report.ContainersDeleted; len(deleted) > 0 {
		fmt.Fprintln(s.Out, "Deleted Containers:")
		for _, id := range deleted {
			fmt.Fprintln(s.Out, id)
		}
		fmt.Fprintln(s.Out)
		reclaimed = res.Report.SpaceReclaimed
	}
	fmt.Fprintln(s.Out, "Total reclaimed space:", units.HumanSize(float64(reclaimed)))
	return nil
}

// confirm asks message with " [y/N] " and reports whether the answer was y or Y.
func confirm(in io.Reader, out io.Writer, message string) bool {
	fmt.Fprint(out, message+" [y/N] ")
	sc := bufio.NewScanner(in)
	if !sc.Scan() {
		return false
	}
	return strings.EqualFold(strings.TrimSpace(sc.Text()), "y")
}

// CommitOptions are the inputs of CommitContainer.
type CommitOptions struct {
	Container string
	Reference string // REPOSITORY[:TAG], empty for an untagged image
	Message   string
	Author    string
	Changes   []string // Dockerfile instructions applied to the image configuration
	Pause     bool     // pause the container during the commit
}

func newCommitCommand(c *CLI) *cobra.Command {
	opts := CommitOptions{}
	cmd := apiCommand(c, "commit [OPTIONS] CONTAINER [REPOSITORY[:TAG]]", "Create a new image from a container's changes", rangeArgs(1, 2),
		func(ctx context.Context, api *client.Client, args []string) error {
			opts.Container = args[0]
			if len(args) > 1 {
				opts.Reference = args[1]
			}
			return CommitContainer(ctx, api, c.Out, opts)
		})
	fs := cmd.Flags()
	fs.SetInterspersed(false)
	fs.StringVarP(&opts.Author, "author", "a", "", `Author (e.g., "John Hannibal Smith <hannibal@a-team.com>")`)
	fs.VarP(newListValue(&opts.Changes, nil), "change", "c", "Apply Dockerfile instruction to the created image")
	fs.StringVarP(&opts.Message, "message", "m", "", "Commit message")
	fs.BoolVarP(&opts.Pause, "pause", "p", true, "Pause container during commit")
	return cmd
}

// CommitContainer creates an image from a container's changes and prints its ID.
func CommitContainer(ctx context.Context, api client.ContainerAPIClient, out io.Writer, opts CommitOptions) error {
	res, err := api.ContainerCommit(ctx, opts.Container, client.ContainerCommitOptions{
		Reference: opts.Reference,
		Comment:   opts.Message,
		Author:    opts.Author,
		Changes:   opts.Changes,
		NoPause:   !opts.Pause,
	})
	if err != nil {
		return err
	}
	_, err = fmt.Fprintln(out, res.ID)
	return err
}

func newExportCommand(c *CLI) *cobra.Command {
	var output string
	cmd := apiCommand(c, "export [OPTIONS] CONTAINER", "Export a container's filesystem as a tar archive", exactArgs(1),
		func(ctx context.Context, api *client.Client, args []string) error {
			return ExportContainer(ctx, api, c.Out, args[0], output)
		})
	cmd.Flags().StringVarP(&output, "output", "o", "", "Write to a file, instead of STDOUT")
	return cmd
}

// ExportContainer writes a container's filesystem as a tar archive to the file output
// (replaced atomically, only when complete) or, when output is empty, to out unless it
// is a terminal.
func ExportContainer(ctx context.Context, api client.ContainerAPIClient, out io.Writer, name, output string) error {
	if output == "" && isTerminal(out) {
		return errors.New("cowardly refusing to save to a terminal. Use the -o flag or redirect")
	}
	var tmp *os.File
	if output != "" {
		var err error
		if tmp, err = os.CreateTemp(filepath.Dir(output), "."+filepath.Base(output)+".*"); err != nil {
			return fmt.Errorf("failed to export container: %w", err)
		}
		defer os.Remove(tmp.Name())
		defer tmp.Close()
		out = tmp
	}
	rc, err := api.ContainerExport(ctx, name, client.ContainerExportOptions{})
	if err != nil {
		return err
	}
	defer rc.Close()
	if _, err := io.Copy(out, rc); err != nil {
		return err
	}
	if tmp == nil {
		return nil
	}
	if err := tmp.Chmod(0o600); err != nil {
		return err
	}
	if err := tmp.Sync(); err != nil {
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), output)
}

// UpdateOptions are the inputs of UpdateContainers.
type UpdateOptions struct {
	Containers []string
	Resources  container.Resources
	Restart    *container.RestartPolicy // nil to keep the policy
}

func newUpdateCommand(c *CLI) *cobra.Command {
	var (
		res     updateFlags
		restart string
	)
	cmd := &cobra.Command{
		Use:   "update [OPTIONS] CONTAINER [CONTAINER...]",
		Short: "Update configuration of one or more containers",
		Args:  requiresMinArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts, err := res.options(cmd.Flags(), restart, args)
			if err != nil {
				return err
			}
			api, err := c.Client(cmd.Context())
			if err != nil {
				return err
			}
			return UpdateContainers(cmd.Context(), api, c.Streams, opts)
		},
	}
	fs := cmd.Flags()
	res.add(fs)
	fs.StringVar(&restart, "restart", "", "Restart policy to apply when a container exits")
	return cmd
}

// updateFlags are the resource flags of update.
type updateFlags struct {
	memory, memoryReservation memBytes
	memorySwap                memSwapBytes
	cpus                      nanoCPUs
	cpuShares, cpuPeriod      int64
	cpuQuota, pidsLimit       int64
	cpusetCpus, cpusetMems    string
	blkioWeight               uint16
}

func (f *updateFlags) add(fs *pflag.FlagSet) {
	fs.Uint16Var(&f.blkioWeight, "blkio-weight", 0, "Block IO (relative weight), between 10 and 1000, or 0 to disable (default 0)")
	fs.Int64Var(&f.cpuPeriod, "cpu-period", 0, "Limit CPU CFS (Completely Fair Scheduler) period")
	fs.Int64Var(&f.cpuQuota, "cpu-quota", 0, "Limit CPU CFS (Completely Fair Scheduler) quota")
	fs.Int64VarP(&f.cpuShares, "cpu-shares", "c", 0, "CPU shares (relative weight)")
	fs.Var(&f.cpus, "cpus", "Number of CPUs")
	fs.StringVar(&f.cpusetCpus, "cpuset-cpus", "", "CPUs in which to allow execution (0-3, 0,1)")
	fs.StringVar(&f.cpusetMems, "cpuset-mems", "", "MEMs in which to allow execution (0-3, 0,1)")
	fs.VarP(&f.memory, "memory", "m", "Memory limit")
	fs.Var(&f.memoryReservation, "memory-reservation", "Memory soft limit")
	fs.Var(&f.memorySwap, "memory-swap", "Swap limit equal to memory plus swap: -1 to enable unlimited swap")
	fs.Int64Var(&f.pidsLimit, "pids-limit", 0, "Tune container pids limit (set -1 for unlimited)")
}

// updateFlagNames are the flags of update, one of which must be given.
var updateFlagNames = []string{"blkio-weight", "cpu-period", "cpu-quota", "cpu-shares", "cpus", "cpuset-cpus",
	"cpuset-mems", "memory", "memory-reservation", "memory-swap", "pids-limit", "restart"}

func (f *updateFlags) options(fs *pflag.FlagSet, restart string, containers []string) (UpdateOptions, error) {
	if !slices.ContainsFunc(updateFlagNames, fs.Changed) {
		return UpdateOptions{}, errors.New("you must provide one or more flags when using this command")
	}
	opts := UpdateOptions{Containers: containers, Resources: container.Resources{
		BlkioWeight:       f.blkioWeight,
		CpusetCpus:        f.cpusetCpus,
		CpusetMems:        f.cpusetMems,
		CPUShares:         f.cpuShares,
		Memory:            int64(f.memory),
		MemoryReservation: int64(f.memoryReservation),
		MemorySwap:        int64(f.memorySwap),
		CPUPeriod:         f.cpuPeriod,
		CPUQuota:          f.cpuQuota,
		NanoCPUs:          int64(f.cpus),
	}}
	if fs.Changed("pids-limit") {
		p := f.pidsLimit
		opts.Resources.PidsLimit = &p
	}
	if fs.Changed("restart") {
		p, err := parseRestartPolicy(restart)
		if err != nil {
			return UpdateOptions{}, err
		}
		opts.Restart = &p
	}
	return opts, nil
}

// UpdateContainers changes the resources (and restart policy) of containers, printing each
// name as given and the daemon's warnings.
func UpdateContainers(ctx context.Context, api client.ContainerAPIClient, s Streams, opts UpdateOptions) error {
	var errs []error
	for _, name := range opts.Containers {
		r := opts.Resources
		res, err := api.ContainerUpdate(ctx, name, client.ContainerUpdateOptions{Resources: &r, RestartPolicy: opts.Restart})
		if err != nil {
			errs = append(errs, err)
			continue
		}
		for _, w := range res.Warnings {
			fmt.Fprintln(s.Err, w)
		}
		fmt.Fprintln(s.Out, name)
	}
	return errors.Join(errs...)
}

// rangeArgs returns an argument validator requiring between min and max arguments.
func rangeArgs(min, max int) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if len(args) >= min && len(args) <= max {
			return nil
		}
		return argsError(cmd, fmt.Sprintf("requires at least %d and at most %s", min, pluralArgs(max)))
	}
}
