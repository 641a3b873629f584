package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/distribution/reference"
	"github.com/docker/go-units"
	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/client"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

const defaultPsFormat = "table {{.ID}}\t{{.Image}}\t{{.Command}}\t{{.RunningFor}}\t{{.Status}}\t{{.Ports}}\t{{.Names}}"

// psHeader titles the placeholders of ps --format.
var psHeader = headerContext{
	"ID":           "CONTAINER ID",
	"Names":        "NAMES",
	"Image":        "IMAGE",
	"Command":      "COMMAND",
	"CreatedAt":    "CREATED AT",
	"RunningFor":   "CREATED",
	"Ports":        "PORTS",
	"State":        "STATE",
	"Status":       "STATUS",
	"Size":         "SIZE",
	"Labels":       "LABELS",
	"Mounts":       "MOUNTS",
	"LocalVolumes": "LOCAL VOLUMES",
	"Networks":     "NETWORKS",
}

// PsOptions are the inputs of ListContainers.
type PsOptions struct {
	All     bool
	Quiet   bool
	Latest  bool // only the last created container
	Last    int  // only the n last created containers; -1 for no limit
	NoTrunc bool
	Size    bool
	Filters []string // key=value
	Format  string
}

func newPsCommand(c *CLI) *cobra.Command {
	var opts PsOptions
	cmd := &cobra.Command{
		Use:   "ps [OPTIONS]",
		Short: "List containers",
		Args:  noArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			api, err := c.Client(cmd.Context())
			if err != nil {
				return err
			}
			return ListContainers(cmd.Context(), api, c.Streams, opts)
		},
	}
	addPsFlags(cmd.Flags(), &opts)
	return cmd
}

// addPsFlags binds the flags of ps to opts.
func addPsFlags(fs *pflag.FlagSet, opts *PsOptions) {
	fs.BoolVarP(&opts.All, "all", "a", false, "Show all containers (default shows just running)")
	fs.BoolVarP(&opts.Quiet, "quiet", "q", false, "Only display container IDs")
	fs.BoolVarP(&opts.Latest, "latest", "l", false, "Show the latest created container (includes all states)")
	fs.IntVarP(&opts.Last, "last", "n", -1, "Show n last created containers (includes all states)")
	fs.BoolVar(&opts.NoTrunc, "no-trunc", false, "Don't truncate output")
	fs.BoolVarP(&opts.Size, "size", "s", false, "Display total file sizes")
	addFilterFlag(fs, &opts.Filters, "f", "Filter output based on conditions provided")
	fs.StringVar(&opts.Format, "format", "", "Format output using a custom template ('table', 'table TEMPLATE', 'json' or a Go template)")
}

// psListOptions turns PsOptions into the API's list options.
func psListOptions(opts PsOptions) (client.ContainerListOptions, error) {
	filters, err := parseFilters(opts.Filters)
	if err != nil {
		return client.ContainerListOptions{}, err
	}
	lo := client.ContainerListOptions{All: opts.All, Limit: opts.Last, Size: opts.Size, Filters: filters}
	if opts.Latest && opts.Last == -1 {
		lo.Limit = 1
	}
	if !opts.Quiet && strings.Contains(opts.Format, ".Size") {
		lo.Size = true
	}
	return lo, nil
}

// psFormat picks the template for ps from the flags.
func psFormat(opts PsOptions, size bool) string {
	switch {
	case opts.Quiet:
		return "{{.ID}}"
	case opts.Format == "" || opts.Format == tableFormat:
		if size {
			return defaultPsFormat + "\t{{.Size}}"
		}
		return defaultPsFormat
	}
	return opts.Format
}

// ListContainers prints the containers like `docker ps`.
func ListContainers(ctx context.Context, api client.ContainerAPIClient, s Streams, opts PsOptions) error {
	lo, err := psListOptions(opts)
	if err != nil {
		return err
	}
	if opts.Quiet && opts.Format != "" {
		fmt.Fprintln(s.Err, "WARNING: Ignoring custom format, because both --format and --quiet are set.")
	} else if opts.Format != "" {
		// Checked before listing, so that a bad template fails even with no container.
		if err := checkTemplate(opts.Format, &psRow{c: &container.Summary{}}); err != nil {
			return err
		}
	}
	res, err := api.ContainerList(ctx, lo)
	if err != nil {
		return err
	}
	return writeContainers(s.Out, psFormat(opts, lo.Size), !opts.NoTrunc, time.Now(), res.Items)
}

func writeContainers(w io.Writer, format string, trunc bool, now time.Time, items []container.Summary) error {
	rows := make([]*psRow, len(items))
	for i := range items {
		rows[i] = &psRow{c: &items[i], trunc: trunc, now: now}
	}
	return writeRows(w, format, psHeader, rows)
}

// psRow is one container as seen by ps --format templates.
type psRow struct {
	c     *container.Summary
	trunc bool
	now   time.Time
}

// ID returns the container ID, short unless --no-trunc.
func (r *psRow) ID() string {
	if r.trunc {
		return truncateID(r.c.ID)
	}
	return r.c.ID
}

// Names returns the names without their leading slash (only the first when truncating).
func (r *psRow) Names() string {
	names := make([]string, 0, len(r.c.Names))
	for _, n := range r.c.Names {
		n = strings.TrimPrefix(n, "/")
		if r.trunc {
			if !strings.Contains(n, "/") {
				return n
			}
			continue
		}
		names = append(names, n)
	}
	return strings.Join(names, ",")
}

// Image returns the image as the user named it, shortened when truncating.
func (r *psRow) Image() string {
	img := r.c.Image
	if img == "" {
		return "<no image>"
	}
	if !r.trunc {
		return img
	}
	if t := truncateID(r.c.ImageID); t != "" && t == truncateID(img) {
		return t
	}
	ref, err := reference.ParseNormalizedNamed(img)
	if err != nil {
		return img
	}
	if _, digested := ref.(reference.Digested); digested {
		named := reference.TrimNamed(ref)
		if tagged, ok := ref.(reference.Tagged); ok {
			if withTag, err := reference.WithTag(named, tagged.Tag()); err == nil {
				return reference.FamiliarString(withTag)
			}
		}
		return reference.FamiliarString(named)
	}
	return reference.FamiliarString(ref)
}

// Command returns the quoted command, cut to 20 characters when truncating.
func (r *psRow) Command() string {
	cmd := r.c.Command
	if r.trunc {
		cmd = ellipsis(cmd, 20)
	}
	return strconv.Quote(cmd)
}

// CreatedAt returns the creation time.
func (r *psRow) CreatedAt() string { return time.Unix(r.c.Created, 0).String() }

// RunningFor returns how long ago the container was created.
func (r *psRow) RunningFor() string {
	return units.HumanDuration(r.now.UTC().Sub(time.Unix(r.c.Created, 0))) + " ago"
}

// Ports returns the published and exposed ports.
func (r *psRow) Ports() string { return displayPorts(r.c.Ports) }

// State returns the state (running, exited, …).
func (r *psRow) State() string { return string(r.c.State) }

// Status returns the status text as the daemon wrote it.
func (r *psRow) Status() string { return r.c.Status }

// Size returns the writable layer's size and, when known, the virtual size.
func (r *psRow) Size() string {
	s := units.HumanSizeWithPrecision(float64(r.c.SizeRw), 3)
	if r.c.SizeRootFs > 0 {
		s += " (virtual " + units.HumanSizeWithPrecision(float64(r.c.SizeRootFs), 3) + ")"
	}
	return s
}

// Labels returns all labels as sorted key=value pairs.
func (r *psRow) Labels() string {
	l := make([]string, 0, len(r.c.Labels))
	for k, v := range r.c.Labels {
		l = append(l, k+"="+v)
	}
	sort.Strings(l)
	return strings.Join(l, ",")
}

// Label returns the value of one label.
func (r *psRow) Label(name string) string { return r.c.Labels[name] }

// Mounts returns the names (or sources) of the mounts.
func (r *psRow) Mounts() string {
	m := make([]string, 0, len(r.c.Mounts))
	for _, mp := range r.c.Mounts {
		name := mp.Name
		if name == "" {
			name = mp.Source
		}
		if r.trunc {
			name = ellipsis(name, 15)
		}
		m = append(m, name)
	}
	return strings.Join(m, ",")
}

// LocalVolumes returns the number of local volumes mounted.
func (r *psRow) LocalVolumes() string {
	n := 0
	for _, mp := range r.c.Mounts {
		if mp.Driver == "local" {
			n++
		}
	}
	return strconv.Itoa(n)
}

// Networks returns the names of the networks the container is on.
func (r *psRow) Networks() string {
	if r.c.NetworkSettings == nil {
		return ""
	}
	n := make([]string, 0, len(r.c.NetworkSettings.Networks))
	for k := range r.c.NetworkSettings.Networks {
		n = append(n, k)
	}
	sort.Strings(n)
	return strings.Join(n, ",")
}

// MarshalJSON renders every placeholder, for --format json.
func (r *psRow) MarshalJSON() ([]byte, error) {
	return json.Marshal(map[string]string{
		"ID": r.ID(), "Names": r.Names(), "Image": r.Image(), "Command": r.Command(),
		"CreatedAt": r.CreatedAt(), "RunningFor": r.RunningFor(), "Ports": r.Ports(),
		"State": r.State(), "Status": r.Status(), "Size": r.Size(), "Labels": r.Labels(),
		"Mounts": r.Mounts(), "LocalVolumes": r.LocalVolumes(), "Networks": r.Networks(),
	})
}

// filterValue is a repeatable --filter flag that refuses values without "=" at parse
// time, like docker's; empty values are ignored.
type filterValue struct{ vals *[]string }

func (f filterValue) Set(v string) error {
	if v == "" {
		return nil
	}
	if !strings.Contains(v, "=") {
		return fmt.Errorf("bad format of filter (expected name=value)")
	}
	*f.vals = append(*f.vals, v)
	return nil
}

func (f filterValue) String() string { return strings.Join(*f.vals, " ") }
func (f filterValue) Type() string   { return "filter" }

// addFilterFlag defines --filter (with shorthand, if not empty) collecting into vals.
func addFilterFlag(fs *pflag.FlagSet, vals *[]string, shorthand, usage string) {
	fs.VarP(filterValue{vals}, "filter", shorthand, usage)
}

// parseFilters turns key=value strings into API filters.
func parseFilters(args []string) (client.Filters, error) {
	f := client.Filters{}
	for _, a := range args {
		k, v, ok := strings.Cut(a, "=")
		if !ok {
			return nil, fmt.Errorf("bad format of filter (expected name=value)")
		}
		f.Add(strings.ToLower(strings.TrimSpace(k)), strings.TrimSpace(v))
	}
	return f, nil
}
