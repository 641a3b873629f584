package cli

import (
	"context"
	"encoding/json"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/distribution/reference"
	"github.com/docker/go-units"
	"github.com/moby/moby/api/types/image"
	"github.com/moby/moby/client"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

const (
	defaultImagesFormat           = "table {{.Repository}}\t{{.Tag}}\t{{.ID}}\t{{.CreatedSince}}\t{{.Size}}"
	defaultImagesFormatWithDigest = "table {{.Repository}}\t{{.Tag}}\t{{.Digest}}\t{{.ID}}\t{{.CreatedSince}}\t{{.Size}}"
)

// imagesHeader titles the placeholders of images --format.
var imagesHeader = headerContext{
	"ID":           "IMAGE ID",
	"Repository":   "REPOSITORY",
	"Tag":          "TAG",
	"Digest":       "DIGEST",
	"CreatedSince": "CREATED",
	"CreatedAt":    "CREATED AT",
	"Size":         "SIZE",
	"Containers":   "CONTAINERS",
	"SharedSize":   "SHARED SIZE",
	"UniqueSize":   "UNIQUE SIZE",
}

// ImagesOptions are the inputs of ListImages.
type ImagesOptions struct {
	Reference string // only images matching REPOSITORY[:TAG]
	All       bool
	Quiet     bool
	Digests   bool
	NoTrunc   bool
	Filters   []string // key=value
	Format    string
}

func newImagesCommand(c *CLI) *cobra.Command {
	var opts ImagesOptions
	cmd := &cobra.Command{
		Use:   "images [OPTIONS] [REPOSITORY[:TAG]]",
		Short: "List images",
		Args:  maxArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) > 0 {
				opts.Reference = args[0]
			}
			api, err := c.Client(cmd.Context())
			if err != nil {
				return err
			}
			return ListImages(cmd.Context(), api, c.Out, opts)
		},
	}
	addImagesFlags(cmd.Flags(), &opts)
	return cmd
}

// addImagesFlags binds the flags of images to opts.
func addImagesFlags(fs *pflag.FlagSet, opts *ImagesOptions) {
	fs.BoolVarP(&opts.All, "all", "a", false, "Show all images (default hides intermediate images)")
	fs.BoolVarP(&opts.Quiet, "quiet", "q", false, "Only show image IDs")
	fs.BoolVar(&opts.Digests, "digests", false, "Show digests")
	fs.BoolVar(&opts.NoTrunc, "no-trunc", false, "Don't truncate output")
	addFilterFlag(fs, &opts.Filters, "f", "Filter output based on conditions provided")
	fs.StringVar(&opts.Format, "format", "", "Format output using a custom template ('table', 'table TEMPLATE', 'json' or a Go template)")
}

// ImageLister is what listing images needs from the daemon.
type ImageLister interface {
	ImageList(ctx context.Context, options client.ImageListOptions) (client.ImageListResult, error)
}

// ListImages prints the images like `docker images`.
func ListImages(ctx context.Context, api ImageLister, out io.Writer, opts ImagesOptions) error {
	filters, err := parseFilters(opts.Filters)
	if err != nil {
		return err
	}
	if opts.Reference != "" {
		filters.Add("reference", opts.Reference)
	}
	res, err := api.ImageList(ctx, client.ImageListOptions{All: opts.All, Filters: filters})
	if err != nil {
		return err
	}
	return writeImages(out, imagesFormat(opts), !opts.NoTrunc, opts.Digests, time.Now(), res.Items)
}

// imagesFormat picks the template for images from the flags.
func imagesFormat(opts ImagesOptions) string {
	switch {
	case opts.Quiet:
		return "{{.ID}}"
	case opts.Format == "" || opts.Format == tableFormat:
		if opts.Digests {
			return defaultImagesFormatWithDigest
		}
		return defaultImagesFormat
	case opts.Digests && strings.HasPrefix(opts.Format, tableFormat) && !strings.Contains(opts.Format, "{{.Digest}}"):
		return opts.Format + "\t{{.Digest}}"
	}
	return opts.Format
}

func writeImages(w io.Writer, format string, trunc, digests bool, now time.Time, items []image.Summary) error {
	digests = digests || strings.Contains(format, "{{.Digest}}")
	var rows []*imageRow
	for i := range items {
		rows = append(rows, imageRows(&items[i], trunc, digests, now)...)
	}
	return writeRows(w, format, imagesHeader, rows)
}

// imageRows expands an image into one row per repository:tag (and digest when shown).
func imageRows(img *image.Summary, trunc, digests bool, now time.Time) []*imageRow {
	row := func(repo, tag, digest string) *imageRow {
		return &imageRow{i: img, trunc: trunc, now: now, repo: repo, tag: tag, digest: digest}
	}
	if dangling(img) {
		return []*imageRow{row("<none>", "<none>", "<none>")}
	}
	var repos []string
	tags := map[string][]string{}
	dgsts := map[string][]string{}
	for _, s := range img.RepoTags {
		ref, err := reference.ParseNormalizedNamed(s)
		if err != nil {
			continue
		}
		if t, ok := ref.(reference.NamedTagged); ok {
			name := reference.FamiliarName(ref)
			if _, seen := tags[name]; !seen {
				repos = append(repos, name)
			}
			tags[name] = append(tags[name], t.Tag())
		}
	}
	var digestOnly []string
	for _, s := range img.RepoDigests {
		ref, err := reference.ParseNormalizedNamed(s)
		if err != nil {
			continue
		}
		if c, ok := ref.(reference.Canonical); ok {
			name := reference.FamiliarName(ref)
			if _, tagged := tags[name]; !tagged {
				if _, seen := dgsts[name]; !seen {
					digestOnly = append(digestOnly, name)
				}
			}
			dgsts[name] = append(dgsts[name], c.Digest().String())
		}
	}
	var rows []*imageRow
	for _, repo := range repos {
		ds := dgsts[repo]
		if !digests {
			ds = nil
		}
		for _, tag := range tags[repo] {
			if len(ds) == 0 {
				rows = append(rows, row(repo, tag, "<none>"))
				continue
			}
			for _, d := range ds {
				rows = append(rows, row(repo, tag, d))
			}
		}
	}
	for _, repo := range digestOnly {
		if !digests {
			rows = append(rows, row(repo, "<none>", ""))
			continue
		}
		for _, d := range dgsts[repo] {
			rows = append(rows, row(repo, "<none>", d))
		}
	}
	if len(rows) == 0 {
		rows = append(rows, row("<none>", "<none>", "<none>"))
	}
	return rows
}

func dangling(img *image.Summary) bool {
	if len(img.RepoTags) == 0 && len(img.RepoDigests) == 0 {
		return true
	}
	return len(img.RepoTags) == 1 && img.RepoTags[0] == "<none>:<none>" &&
		len(img.RepoDigests) == 1 && img.RepoDigests[0] == "<none>@<none>"
}

// imageRow is one repository:tag of an image as seen by images --format templates.
type imageRow struct {
	i      *image.Summary
	trunc  bool
	now    time.Time
	repo   string
	tag    string
	digest string
}

// ID returns the image ID: 12 hex characters unless --no-trunc.
func (r *imageRow) ID() string {
	if r.trunc {
		return truncateID(r.i.ID)
	}
	return r.i.ID
}

// Repository returns the repository name, or <none>.
func (r *imageRow) Repository() string { return r.repo }

// Tag returns the tag, or <none>.
func (r *imageRow) Tag() string { return r.tag }

// Digest returns the repository digest, or <none>.
func (r *imageRow) Digest() string { return r.digest }

// CreatedSince returns how long ago the image was created, or N/A.
func (r *imageRow) CreatedSince() string {
	if r.i.Created <= 0 {
		return "N/A"
	}
	return units.HumanDuration(r.now.UTC().Sub(time.Unix(r.i.Created, 0))) + " ago"
}

// CreatedAt returns the creation time.
func (r *imageRow) CreatedAt() string { return time.Unix(r.i.Created, 0).String() }

// Size returns the image size with three significant digits ("4.26MB").
func (r *imageRow) Size() string { return units.HumanSizeWithPrecision(float64(r.i.Size), 3) }

// Containers returns the number of containers using the image, or N/A.
func (r *imageRow) Containers() string {
	if r.i.Containers == -1 {
		return "N/A"
	}
	return strconv.FormatInt(r.i.Containers, 10)
}

// SharedSize returns the size shared with other images, or N/A.
func (r *imageRow) SharedSize() string {
	if r.i.SharedSize == -1 {
		return "N/A"
	}
	return units.HumanSize(float64(r.i.SharedSize))
}

// UniqueSize returns the size not shared with other images, or N/A.
func (r *imageRow) UniqueSize() string {
	if r.i.Size == -1 || r.i.SharedSize == -1 {
		return "N/A"
	}
	return units.HumanSize(float64(r.i.Size - r.i.SharedSize))
}

// MarshalJSON renders every placeholder, for --format json.
func (r *imageRow) MarshalJSON() ([]byte, error) {
	return json.Marshal(map[string]string{
		"ID": r.ID(), "Repository": r.Repository(), "Tag": r.Tag(), "Digest": r.Digest(),
		"CreatedSince": r.CreatedSince(), "CreatedAt": r.CreatedAt(), "Size": r.Size(),
		"Containers": r.Containers(), "SharedSize": r.SharedSize(), "UniqueSize": r.UniqueSize(),
	})
}
