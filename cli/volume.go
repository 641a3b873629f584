package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/docker/go-units"
	"github.com/moby/moby/api/types/volume"
	"github.com/moby/moby/client"
	"github.com/spf13/cobra"
)

var _ client.VolumeAPIClient = (*client.Client)(nil)

const defaultVolumeFormat = "table {{.Driver}}\t{{.Name}}"

// volumeHeader titles the placeholders of volume ls --format.
var volumeHeader = headerContext{
	"Name":         "VOLUME NAME",
	"Driver":       "DRIVER",
	"Scope":        "SCOPE",
	"Mountpoint":   "MOUNTPOINT",
	"Labels":       "LABELS",
	"Links":        "LINKS",
	"Size":         "SIZE",
	"Group":        "GROUP",
	"Availability": "AVAILABILITY",
	"Status":       "STATUS",
}

func newVolumeCommand(c *CLI) *cobra.Command {
	cmd := managementCommand("volume", "Manage volumes")
	cmd.AddCommand(
		newVolumeCreateCommand(c), newVolumeInspectCommand(c), newVolumeListCommand(c),
		newVolumePruneCommand(c), newVolumeRemoveCommand(c),
	)
	return cmd
}

// CreateVolumeOptions are the inputs of CreateVolume.
type CreateVolumeOptions struct {
	Name    string // empty for a generated name
	Driver  string
	Options map[string]string // driver options (-o), e.g. type, device and o for local
	Labels  map[string]string
}

func newVolumeCreateCommand(c *CLI) *cobra.Command {
	opts := CreateVolumeOptions{Options: map[string]string{}}
	var labels []string
	cmd := apiCommand(c, "create [OPTIONS] [VOLUME]", "Create a volume", maxArgs(1),
		func(ctx context.Context, api *client.Client, args []string) error {
			opts.Labels = kvMap(labels)
			return CreateVolume(ctx, api, c.Out, opts)
		})
	cmd.PreRunE = func(cmd *cobra.Command, args []string) error {
		if len(args) == 1 {
			if opts.Name != "" {
				return errors.New("conflicting options: cannot specify a volume-name through both --name and as a positional arg")
			}
			opts.Name = args[0]
		}
		return nil
	}
	fs := cmd.Flags()
	fs.StringVarP(&opts.Driver, "driver", "d", "local", "Specify volume driver name")
	fs.StringVar(&opts.Name, "name", "", "Specify volume name")
	_ = fs.MarkHidden("name")
	fs.VarP(&mapValue{m: opts.Options}, "opt", "o", "Set driver specific options")
	fs.Var(newListValue(&labels, validateLabel), "label", "Set metadata for a volume")
	return cmd
}

// CreateVolume creates a volume and prints its name.
func CreateVolume(ctx context.Context, api client.VolumeAPIClient, out io.Writer, opts CreateVolumeOptions) error {
	res, err := api.VolumeCreate(ctx, client.VolumeCreateOptions{
		Name:       opts.Name,
		Driver:     opts.Driver,
		DriverOpts: opts.Options,
		Labels:     opts.Labels,
	})
	if err != nil {
		return err
	}
	_, err = fmt.Fprintln(out, res.Volume.Name)
	return err
}

// ListVolumesOptions are the inputs of ListVolumes.
type ListVolumesOptions struct {
	Quiet   bool
	Filters []string // key=value: dangling, driver, label, name
	Format  string
}

func newVolumeListCommand(c *CLI) *cobra.Command {
	var opts ListVolumesOptions
	cmd := apiCommand(c, "ls [OPTIONS]", "List volumes", noArgs,
		func(ctx context.Context, api *client.Client, args []string) error {
			return ListVolumes(ctx, api, c.Out, opts)
		})
	cmd.Aliases = []string{"list"}
	fs := cmd.Flags()
	fs.BoolVarP(&opts.Quiet, "quiet", "q", false, "Only display volume names")
	fs.StringVar(&opts.Format, "format", "", "Format output using a custom template ('table', 'table TEMPLATE', 'json' or a Go template)")
	addFilterFlag(fs, &opts.Filters, "f", `Provide filter values (e.g. "dangling=true")`)
	return cmd
}

// ListVolumes prints the volumes like `docker volume ls`, in natural name order.
func ListVolumes(ctx context.Context, api client.VolumeAPIClient, out io.Writer, opts ListVolumesOptions) error {
	filters, err := parseFilters(opts.Filters)
	if err != nil {
		return err
	}
	res, err := api.VolumeList(ctx, client.VolumeListOptions{Filters: filters})
	if err != nil {
		return err
	}
	format := listFormat(opts.Format, opts.Quiet, listFormats{
		quiet: "{{.Name}}", table: defaultVolumeFormat,
		rawQuiet: `name: {{.Name}}`, raw: `name: {{.Name}}\ndriver: {{.Driver}}\n`,
	})
	items := res.Items
	slices.SortStableFunc(items, func(a, b volume.Volume) int { return naturalCompare(a.Name, b.Name) })
	rows := make([]*volumeRow, len(items))
	for i := range items {
		rows[i] = &volumeRow{v: &items[i]}
	}
	return writeRows(out, format, volumeHeader, rows)
}

// volumeRow is one volume as seen by volume ls --format templates.
type volumeRow struct{ v *volume.Volume }

// Name returns the volume name.
func (r *volumeRow) Name() string { return r.v.Name }

// Driver returns the volume driver.
func (r *volumeRow) Driver() string { return r.v.Driver }

// Scope returns the volume scope (local or global).
func (r *volumeRow) Scope() string { return r.v.Scope }

// Mountpoint returns where the volume's data lives on the host.
func (r *volumeRow) Mountpoint() string { return r.v.Mountpoint }

// Labels returns all labels as sorted key=value pairs.
func (r *volumeRow) Labels() string {
	l := make([]string, 0, len(r.v.Labels))
	for k, v := range r.v.Labels {
		l = append(l, k+"="+v)
	}
	slices.Sort(l)
	return strings.Join(l, ",")
}

// Label returns the value of one label.
func (r *volumeRow) Label(name string) string { return r.v.Labels[name] }

// Links returns how many containers use the volume, or N/A when the daemon did not say.
func (r *volumeRow) Links() string {
	if r.v.UsageData == nil {
		return "N/A"
	}
	return fmt.Sprint(r.v.UsageData.RefCount)
}

// Size returns the volume's disk usage, or N/A when the daemon did not say.
func (r *volumeRow) Size() string {
	if r.v.UsageData == nil {
		return "N/A"
	}
	return units.HumanSize(float64(r.v.UsageData.Size))
}

// Group returns the cluster volume group: N/A, as Berth has no cluster volumes.
func (r *volumeRow) Group() string { return "N/A" }

// Availability returns the cluster volume availability: N/A.
func (r *volumeRow) Availability() string { return "N/A" }

// Status returns the cluster volume status: N/A.
func (r *volumeRow) Status() string { return "N/A" }

// MarshalJSON renders every placeholder, for --format json.
func (r *volumeRow) MarshalJSON() ([]byte, error) {
	return json.Marshal(map[string]string{
		"Name": r.Name(), "Driver": r.Driver(), "Scope": r.Scope(), "Mountpoint": r.Mountpoint(),
		"Labels": r.Labels(), "Links": r.Links(), "Size": r.Size(),
		"Group": r.Group(), "Availability": r.Availability(), "Status": r.Status(),
	})
}

// InspectVolumesOptions are the inputs of InspectVolumes.
type InspectVolumesOptions struct {
	Volumes []string
	Format  string // Go template, "json", or empty for indented JSON
}

func newVolumeInspectCommand(c *CLI) *cobra.Command {
	var opts InspectVolumesOptions
	cmd := apiCommand(c, "inspect [OPTIONS] VOLUME [VOLUME...]", "Display detailed information on one or more volumes", requiresMinArgs(1),
		func(ctx context.Context, api *client.Client, args []string) error {
			opts.Volumes = args
			return InspectVolumes(ctx, api, c.Out, opts)
		})
	cmd.Flags().StringVarP(&opts.Format, "format", "f", "", "Format output using a custom template ('json' or a Go template)")
	return cmd
}

// InspectVolumes prints each volume as a JSON array (indented, or compact for "json") or
// through a Go template. Like docker, the typed volume is printed, not the daemon's raw
// JSON; failed names are reported together at the end.
func InspectVolumes(ctx context.Context, api client.VolumeAPIClient, out io.Writer, opts InspectVolumesOptions) error {
	return inspectRefs(out, opts.Volumes, opts.Format, func(name string) (any, []byte, error) {
		res, err := api.VolumeInspect(ctx, name, client.VolumeInspectOptions{})
		if err != nil {
			return nil, nil, err
		}
		return res.Volume, nil, nil
	})
}

func newVolumeRemoveCommand(c *CLI) *cobra.Command {
	var force bool
	cmd := apiCommand(c, "rm [OPTIONS] VOLUME [VOLUME...]", "Remove one or more volumes", requiresMinArgs(1),
		func(ctx context.Context, api *client.Client, args []string) error {
			return RemoveVolumes(ctx, api, c.Out, args, force)
		})
	cmd.Long = "Remove one or more volumes. You cannot remove a volume that is in use by a container."
	cmd.Aliases = []string{"remove"}
	cmd.Flags().BoolVarP(&force, "force", "f", false, "Force the removal of one or more volumes")
	return cmd
}

// RemoveVolumes removes each volume and prints its name; the failures are returned
// together once all names were tried (exit status 1), as docker does. force asks the
// daemon to ignore missing volumes.
func RemoveVolumes(ctx context.Context, api client.VolumeAPIClient, out io.Writer, names []string, force bool) error {
	var errs []error
	for _, name := range names {
		if _, err := api.VolumeRemove(ctx, name, client.VolumeRemoveOptions{Force: force}); err != nil {
			if isConnError(err) {
				return err
			}
			errs = append(errs, err)
			continue
		}
		fmt.Fprintln(out, name)
	}
	return errors.Join(errs...)
}

// VolumePruneOptions are the inputs of PruneVolumes.
type VolumePruneOptions struct {
	All     bool     // named volumes too, not only anonymous ones
	Force   bool     // do not ask for confirmation
	Filters []string // key=value (label, label!)
}

func newVolumePruneCommand(c *CLI) *cobra.Command {
	var opts VolumePruneOptions
	cmd := apiCommand(c, "prune [OPTIONS]", "Remove unused local volumes", noArgs,
		func(ctx context.Context, api *client.Client, args []string) error {
			return PruneVolumes(ctx, api, c.Streams, opts)
		})
	fs := cmd.Flags()
	fs.BoolVarP(&opts.All, "all", "a", false, "Remove all unused volumes, not just anonymous ones")
	fs.BoolVarP(&opts.Force, "force", "f", false, "Do not prompt for confirmation")
	addFilterFlag(fs, &opts.Filters, "", `Provide filter values (e.g. "label=<label>")`)
	return cmd
}

const (
	anonymousVolumesWarning = "WARNING! This will remove anonymous local volumes not used by at least one container.\nAre you sure you want to continue?"
	allVolumesWarning       = "WARNING! This will remove all local volumes not used by at least one container.\nAre you sure you want to continue?"
)

// PruneVolumes removes the unused volumes (anonymous ones unless All), asking first unless
// Force is set, and prints what was deleted and the space reclaimed. A "no" ends quietly
// with no error.
func PruneVolumes(ctx context.Context, api client.VolumeAPIClient, s Streams, opts VolumePruneOptions) error {
	filters, err := parseFilters(opts.Filters)
	if err != nil {
		return err
	}
	warning := anonymousVolumesWarning
	if opts.All {
		if _, ok := filters["all"]; ok {
			return errors.New("conflicting options: cannot specify both --all and --filter all=1")
		}
		warning = allVolumesWarning
	}
	if !opts.Force && !confirm(s.In, s.Out, warning) {
		return nil
	}
	res, err := api.VolumePrune(ctx, client.VolumePruneOptions{All: opts.All, Filters: filters})
	if err != nil {
		return err
	}
	var reclaimed uint64
	if deleted := res.Report.VolumesDeleted; len(deleted) > 0 {
		fmt.Fprintf(s.Out, "Deleted Volumes:\n%s\n\n", strings.Join(deleted, "\n"))
		reclaimed = res.Report.SpaceReclaimed
	}
	_, err = fmt.Fprintln(s.Out, "Total reclaimed space:", units.HumanSize(float64(reclaimed)))
	return err
}
