package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/distribution/reference"
	"github.com/docker/go-units"
	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/image"
	"github.com/moby/moby/client"
	"github.com/spf13/cobra"
)

// imageManageCommands are the top-level image management commands: tag, rmi, history (issue 4).
func imageManageCommands(c *CLI) []*cobra.Command {
	return []*cobra.Command{newTagCommand(c), newRmiCommand(c), newHistoryCommand(c)}
}

// imageManageSubcommands are `image tag|rm|history|prune`.
func imageManageSubcommands(c *CLI) []*cobra.Command {
	rm := newRmiCommand(c)
	rm.Use = "rm [OPTIONS] IMAGE [IMAGE...]"
	rm.Aliases = []string{"rmi", "remove"}
	return []*cobra.Command{newTagCommand(c), rm, newHistoryCommand(c), newImagePruneCommand(c)}
}

// systemImageSubcommands are `system df` and friends.
func systemImageSubcommands(c *CLI) []*cobra.Command {
	return []*cobra.Command{newDiskUsageCommand(c)}
}

func newTagCommand(c *CLI) *cobra.Command {
	return apiCommand(c, "tag SOURCE_IMAGE[:TAG] TARGET_IMAGE[:TAG]", "Create a tag TARGET_IMAGE that refers to SOURCE_IMAGE", exactArgs(2),
		func(ctx context.Context, api *client.Client, args []string) error {
			_, err := api.ImageTag(ctx, client.ImageTagOptions{Source: args[0], Target: args[1]})
			return err
		})
}

// RemoveImagesOptions are the inputs of RemoveImages.
type RemoveImagesOptions struct {
	Images  []string
	Force   bool
	NoPrune bool
}

// ImageRemover is what removing images needs from the daemon.
type ImageRemover interface {
	ImageRemove(ctx context.Context, image string, options client.ImageRemoveOptions) (client.ImageRemoveResult, error)
}

func newRmiCommand(c *CLI) *cobra.Command {
	var opts RemoveImagesOptions
	cmd := apiCommand(c, "rmi [OPTIONS] IMAGE [IMAGE...]", "Remove one or more images", requiresMinArgs(1),
		func(ctx context.Context, api *client.Client, args []string) error {
			opts.Images = args
			return RemoveImages(ctx, api, c.Streams, opts)
		})
	cmd.Flags().BoolVarP(&opts.Force, "force", "f", false, "Force removal of the image")
	cmd.Flags().BoolVar(&opts.NoPrune, "no-prune", false, "Do not delete untagged parents")
	return cmd
}

// RemoveImages removes images in order, printing docker's Untagged:/Deleted: lines. With
// Force, errors that are only "no such image" are printed and the command succeeds.
func RemoveImages(ctx context.Context, api ImageRemover, s Streams, opts RemoveImagesOptions) error {
	var errs []error
	fatal := false
	for _, img := range opts.Images {
		res, err := api.ImageRemove(ctx, img, client.ImageRemoveOptions{Force: opts.Force, PruneChildren: !opts.NoPrune})
		if err != nil {
			if !cerrdefs.IsNotFound(err) {
				fatal = true
			}
			errs = append(errs, err)
			continue
		}
		for _, del := range res.Items {
			if del.Deleted != "" {
				fmt.Fprintln(s.Out, "Deleted:", del.Deleted)
			} else {
				fmt.Fprintln(s.Out, "Untagged:", del.Untagged)
			}
		}
	}
	if err := errors.Join(errs...); err != nil {
		if !opts.Force || fatal {
			return err
		}
		fmt.Fprintln(s.Err, err)
	}
	return nil
}

// HistoryOptions are the inputs of ImageHistory.
type HistoryOptions struct {
	Image   string
	Human   bool
	Quiet   bool
	NoTrunc bool
	Format  string
}

// ImageHistorian is what showing history needs from the daemon.
type ImageHistorian interface {
	ImageHistory(ctx context.Context, image string, opts ...client.ImageHistoryOption) (client.ImageHistoryResult, error)
}

func newHistoryCommand(c *CLI) *cobra.Command {
	opts := HistoryOptions{}
	cmd := &cobra.Command{
		Use:   "history [OPTIONS] IMAGE",
		Short: "Show the history of an image",
		Args:  historyArgs(c),
		RunE: func(cmd *cobra.Command, args []string) error {
			api, err := c.Client(cmd.Context())
			if err != nil {
				return err
			}
			opts.Image = args[len(args)-1]
			return ShowHistory(cmd.Context(), api, c.Out, opts)
		},
	}
	fs := cmd.Flags()
	// -H is --human here, as in docker; --host stays usable in its long form, and a
	// global "-H ADDRESS" before the command is still understood (see historyArgs).
	fs.StringVar(&c.host, "host", "", "Daemon socket to connect to")
	fs.MarkHidden("host")
	fs.BoolVarP(&opts.Human, "human", "H", true, "Print sizes and dates in human readable format")
	fs.BoolVarP(&opts.Quiet, "quiet", "q", false, "Only show image IDs")
	fs.BoolVar(&opts.NoTrunc, "no-trunc", false, "Don't truncate output")
	fs.StringVar(&opts.Format, "format", "", "Format output using a custom template ('table', 'table TEMPLATE', 'json' or a Go template)")
	return cmd
}

// historyArgs wants one image. "berth -H ADDRESS history IMAGE" reaches history's flag
// set, where -H is --human: the address then arrives as an extra argument and is taken
// as the daemon address, which is what the user meant.
func historyArgs(c *CLI) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if len(args) == 2 && cmd.Flags().Changed("human") && isHostAddress(args[0]) {
			c.host = args[0]
			return nil
		}
		return exactArgs(1)(cmd, args)
	}
}

// isHostAddress reports whether s looks like a daemon address (unix://…, tcp://…, ssh://…).
func isHostAddress(s string) bool {
	for _, p := range []string{"unix://", "tcp://", "ssh://", "fd://", "npipe://"} {
		if strings.HasPrefix(s, p) {
			return true
		}
	}
	return false
}

const (
	defaultHistoryFormat  = "table {{.ID}}\t{{.CreatedSince}}\t{{.CreatedBy}}\t{{.Size}}\t{{.Comment}}"
	nonHumanHistoryFormat = "table {{.ID}}\t{{.CreatedAt}}\t{{.CreatedBy}}\t{{.Size}}\t{{.Comment}}"
)

var historyHeader = headerContext{
	"ID": "IMAGE", "CreatedSince": "CREATED", "CreatedAt": "CREATED AT",
	"CreatedBy": "CREATED BY", "Size": "SIZE", "Comment": "COMMENT",
}

// ShowHistory prints an image's layers like `docker history`.
func ShowHistory(ctx context.Context, api ImageHistorian, out io.Writer, opts HistoryOptions) error {
	res, err := api.ImageHistory(ctx, opts.Image)
	if err != nil {
		return err
	}
	return writeHistory(out, historyFormat(opts), !opts.NoTrunc, opts.Human, time.Now(), res.Items)
}

func historyFormat(opts HistoryOptions) string {
	if opts.Format != "" && opts.Format != tableFormat {
		return opts.Format
	}
	switch {
	case opts.Quiet:
		return "{{.ID}}"
	case !opts.Human:
		return nonHumanHistoryFormat
	}
	return defaultHistoryFormat
}

func writeHistory(w io.Writer, format string, trunc, human bool, now time.Time, items []image.HistoryResponseItem) error {
	rows := make([]*historyRow, len(items))
	for i := range items {
		rows[i] = &historyRow{h: &items[i], trunc: trunc, human: human, now: now}
	}
	return writeRows(w, format, historyHeader, rows)
}

// historyRow is one layer as seen by history --format templates.
type historyRow struct {
	h     *image.HistoryResponseItem
	trunc bool
	human bool
	now   time.Time
}

// historyEpoch: creation dates before it are shown as N/A.
var historyEpoch = time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC).Unix()

// ID returns the layer's image ID (12 characters unless --no-trunc) or <missing>.
func (r *historyRow) ID() string {
	if r.trunc {
		return truncateID(r.h.ID)
	}
	return r.h.ID
}

// CreatedAt returns the creation time in RFC 3339.
func (r *historyRow) CreatedAt() string { return time.Unix(r.h.Created, 0).Format(time.RFC3339) }

// CreatedSince returns "N ago", or CreatedAt when not human.
func (r *historyRow) CreatedSince() string {
	if !r.human {
		return r.CreatedAt()
	}
	if r.h.Created <= historyEpoch {
		return "N/A"
	}
	return units.HumanDuration(r.now.UTC().Sub(time.Unix(r.h.Created, 0))) + " ago"
}

// CreatedBy returns the command that made the layer, cut to 45 characters unless --no-trunc.
func (r *historyRow) CreatedBy() string {
	s := strings.ReplaceAll(r.h.CreatedBy, "\t", " ")
	if r.trunc {
		return ellipsis(s, 45)
	}
	return s
}

// Size returns the layer size, human ("4.26MB") or in bytes.
func (r *historyRow) Size() string {
	if r.human {
		return units.HumanSizeWithPrecision(float64(r.h.Size), 3)
	}
	return strconv.FormatInt(r.h.Size, 10)
}

// Comment returns the layer's comment.
func (r *historyRow) Comment() string { return r.h.Comment }

// MarshalJSON renders every placeholder, for --format json.
func (r *historyRow) MarshalJSON() ([]byte, error) {
	return json.Marshal(map[string]string{
		"ID": r.ID(), "CreatedSince": r.CreatedSince(), "CreatedAt": r.CreatedAt(),
		"CreatedBy": r.CreatedBy(), "Size": r.Size(), "Comment": r.Comment(),
	})
}

// ImagePruneOptions are the inputs of PruneImages.
type ImagePruneOptions struct {
	All     bool     // every unused image, not only dangling ones
	Force   bool     // do not ask for confirmation
	Filters []string // key=value (until, label, label!)
}

// ImagePruner is what pruning images needs from the daemon.
type ImagePruner interface {
	ImagePrune(ctx context.Context, opts client.ImagePruneOptions) (client.ImagePruneResult, error)
}

func newImagePruneCommand(c *CLI) *cobra.Command {
	var opts ImagePruneOptions
	cmd := apiCommand(c, "prune [OPTIONS]", "Remove unused images", noArgs,
		func(ctx context.Context, api *client.Client, args []string) error {
			return PruneImages(ctx, api, c.Streams, opts)
		})
	fs := cmd.Flags()
	fs.BoolVarP(&opts.All, "all", "a", false, "Remove all unused images, not just dangling ones")
	fs.BoolVarP(&opts.Force, "force", "f", false, "Do not prompt for confirmation")
	addFilterFlag(fs, &opts.Filters, "", `Provide filter values (e.g. "until=<timestamp>")`)
	return cmd
}

const (
	allImagesWarning = "WARNING! This will remove all images without at least one container associated to them.\nAre you sure you want to continue?"
	danglingWarning  = "WARNING! This will remove all dangling images.\nAre you sure you want to continue?"
)

// PruneImages removes unused images, asking first unless Force is set, and prints what
// went and the space reclaimed. A "no" ends quietly with no error, as docker does.
func PruneImages(ctx context.Context, api ImagePruner, s Streams, opts ImagePruneOptions) error {
	filters, err := parseFilters(opts.Filters)
	if err != nil {
		return err
	}
	filters.Add("dangling", strconv.FormatBool(!opts.All))
	warning := danglingWarning
	if opts.All {
		warning = allImagesWarning
	}
	if !opts.Force && !confirm(s.In, s.Out, warning) {
		return nil
	}
	res, err := api.ImagePrune(ctx, client.ImagePruneOptions{Filters: filters})
	if err != nil {
		return err
	}
	var reclaimed uint64
	if deleted := res.Report.ImagesDeleted; len(deleted) > 0 {
		fmt.Fprintln(s.Out, "Deleted Images:")
		for _, d := range deleted {
			if d.Untagged != "" {
				fmt.Fprintln(s.Out, "untagged:", d.Untagged)
			} else {
				fmt.Fprintln(s.Out, "deleted:", d.Deleted)
			}
		}
		fmt.Fprintln(s.Out)
		reclaimed = res.Report.SpaceReclaimed
	}
	fmt.Fprintln(s.Out, "Total reclaimed space:", units.HumanSize(float64(reclaimed)))
	return nil
}

// DiskUsageOptions are the inputs of ShowDiskUsage.
type DiskUsageOptions struct {
	Verbose bool
	Format  string
}

// DiskUser is what system df needs from the daemon.
type DiskUser interface {
	DiskUsage(ctx context.Context, options client.DiskUsageOptions) (client.DiskUsageResult, error)
}

func newDiskUsageCommand(c *CLI) *cobra.Command {
	var opts DiskUsageOptions
	cmd := apiCommand(c, "df [OPTIONS]", "Show berth disk usage", noArgs,
		func(ctx context.Context, api *client.Client, args []string) error {
			return ShowDiskUsage(ctx, api, c.Out, opts)
		})
	cmd.Flags().BoolVarP(&opts.Verbose, "verbose", "v", false, "Show detailed information on space usage")
	cmd.Flags().StringVar(&opts.Format, "format", "", "Format output using a custom template ('table', 'table TEMPLATE', 'json' or a Go template)")
	return cmd
}

const defaultDiskUsageFormat = "table {{.Type}}\t{{.TotalCount}}\t{{.Active}}\t{{.Size}}\t{{.Reclaimable}}"

var diskUsageHeader = headerContext{"Type": "TYPE", "TotalCount": "TOTAL", "Active": "ACTIVE", "Size": "SIZE", "Reclaimable": "RECLAIMABLE"}

// ShowDiskUsage prints `docker system df`: one line per object type, or with Verbose
// one table per type.
func ShowDiskUsage(ctx context.Context, api DiskUser, out io.Writer, opts DiskUsageOptions) error {
	du, err := api.DiskUsage(ctx, client.DiskUsageOptions{Containers: true, Images: true, Volumes: true, BuildCache: true, Verbose: true})
	if err != nil {
		return err
	}
	if opts.Verbose {
		return writeDiskUsageVerbose(out, du, time.Now())
	}
	format := opts.Format
	if format == "" {
		format = tableFormat
	}
	if format == tableFormat {
		format = defaultDiskUsageFormat
	}
	return writeRows(out, format, diskUsageHeader, diskUsageRows(du))
}

// duRow is one object type of system df.
type duRow struct {
	typ           string
	total, active int
	size, reclaim int64
	percent       bool // show the reclaimable share
}

func diskUsageRows(du client.DiskUsageResult) []*duRow {
	img := &duRow{typ: "Images", total: len(du.Images.Items), size: du.Images.TotalSize, percent: true}
	var used int64
	for _, i := range du.Images.Items {
		if i.Containers > 0 {
			img.active++
		}
		if i.Containers != 0 && i.Size != -1 && i.SharedSize != -1 {
			used += i.Size - i.SharedSize
		}
	}
	img.reclaim = img.size - used
	ctr := &duRow{typ: "Containers", total: len(du.Containers.Items), percent: true}
	for _, c := range du.Containers.Items {
		ctr.size += c.SizeRw
		switch c.State {
		case container.StateRunning, container.StatePaused, container.StateRestarting:
			ctr.active++
		default:
			ctr.reclaim += c.SizeRw
		}
	}
	vol := &duRow{typ: "Local Volumes", total: len(du.Volumes.Items), size: du.Volumes.TotalSize, reclaim: du.Volumes.Reclaimable, active: int(du.Volumes.ActiveCount), percent: true}
	bc := &duRow{typ: "Build Cache", total: len(du.BuildCache.Items), size: du.BuildCache.TotalSize, reclaim: du.BuildCache.Reclaimable, active: int(du.BuildCache.ActiveCount)}
	return []*duRow{img, ctr, vol, bc}
}

// Type returns the object type.
func (r *duRow) Type() string { return r.typ }

// TotalCount returns how many objects of the type exist.
func (r *duRow) TotalCount() string { return strconv.Itoa(r.total) }

// Active returns how many are in use.
func (r *duRow) Active() string { return strconv.Itoa(r.active) }

// Size returns their total size.
func (r *duRow) Size() string { return units.HumanSize(float64(r.size)) }

// Reclaimable returns the size not in use, with its share of the total.
func (r *duRow) Reclaimable() string {
	if r.percent && r.size > 0 {
		return fmt.Sprintf("%s (%v%%)", units.HumanSize(float64(r.reclaim)), r.reclaim*100/r.size)
	}
	return units.HumanSize(float64(r.reclaim))
}

// MarshalJSON renders every placeholder, for --format json.
func (r *duRow) MarshalJSON() ([]byte, error) {
	return json.Marshal(map[string]string{
		"Type": r.Type(), "TotalCount": r.TotalCount(), "Active": r.Active(), "Size": r.Size(), "Reclaimable": r.Reclaimable(),
	})
}

const (
	duImagesFormat     = "table {{.Repository}}\t{{.Tag}}\t{{.ID}}\t{{.CreatedSince}}\t{{.Size}}\t{{.SharedSize}}\t{{.UniqueSize}}\t{{.Containers}}"
	duContainersFormat = "table {{.ID}}\t{{.Image}}\t{{.Command}}\t{{.LocalVolumes}}\t{{.Size}}\t{{.RunningFor}}\t{{.Status}}\t{{.Names}}"
	duVolumesFormat    = "table {{.Name}}\t{{.Links}}\t{{.Size}}"
	duBuildCacheFormat = "table {{.ID}}\t{{.CacheType}}\t{{.Size}}\t{{.CreatedSince}}\t{{.LastUsedSince}}\t{{.UsageCount}}\t{{.Shared}}"
)

var (
	duVolumesHeader    = headerContext{"Name": "VOLUME NAME", "Links": "LINKS", "Size": "SIZE"}
	duBuildCacheHeader = headerContext{"ID": "CACHE ID", "CacheType": "CACHE TYPE", "Size": "SIZE", "CreatedSince": "CREATED", "LastUsedSince": "LAST USED", "UsageCount": "USAGE", "Shared": "SHARED"}
)

// duVolumeRow is one volume of system df -v.
type duVolumeRow struct{ name, links, size string }

func (r duVolumeRow) Name() string  { return r.name }
func (r duVolumeRow) Links() string { return r.links }
func (r duVolumeRow) Size() string  { return r.size }

func writeDiskUsageVerbose(out io.Writer, du client.DiskUsageResult, now time.Time) error {
	var images []*imageRow
	for i := range du.Images.Items {
		img := &du.Images.Items[i]
		repo, tag := "<none>", "<none>"
		if len(img.RepoTags) > 0 && !dangling(img) {
			if ref, err := reference.ParseNormalizedNamed(img.RepoTags[0]); err == nil {
				if nt, ok := ref.(reference.NamedTagged); ok {
					repo, tag = reference.FamiliarName(ref), nt.Tag()
				}
			}
		}
		images = append(images, &imageRow{i: img, trunc: true, now: now, repo: repo, tag: tag})
	}
	fmt.Fprint(out, "Images space usage:\n\n")
	if err := writeRows(out, duImagesFormat, imagesHeader, images); err != nil {
		return err
	}
	ctrs := make([]container.Summary, len(du.Containers.Items))
	copy(ctrs, du.Containers.Items)
	for i := range ctrs {
		ctrs[i].SizeRootFs = 0 // docker shows the writable layer only
	}
	fmt.Fprint(out, "\nContainers space usage:\n\n")
	if err := writeContainers(out, duContainersFormat, true, now, ctrs); err != nil {
		return err
	}
	var vols []duVolumeRow
	for _, v := range du.Volumes.Items {
		r := duVolumeRow{name: v.Name, links: "N/A", size: "N/A"}
		if v.UsageData != nil {
			r.links = strconv.FormatInt(v.UsageData.RefCount, 10)
			r.size = units.HumanSize(float64(v.UsageData.Size))
		}
		vols = append(vols, r)
	}
	fmt.Fprint(out, "\nLocal Volumes space usage:\n\n")
	if err := writeRows(out, duVolumesFormat, duVolumesHeader, vols); err != nil {
		return err
	}
	fmt.Fprintf(out, "\nBuild cache usage: %s\n\n", units.HumanSize(float64(du.BuildCache.TotalSize)))
	return writeRows(out, duBuildCacheFormat, duBuildCacheHeader, []struct{}{})
}
