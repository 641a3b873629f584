package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/moby/moby/api/types/registry"
	"github.com/moby/moby/client"
	"github.com/spf13/cobra"
)

const defaultSearchFormat = "table {{.Name}}\t{{.Description}}\t{{.StarCount}}\t{{.IsOfficial}}"

// searchHeader titles the placeholders of search --format.
var searchHeader = headerContext{
	"Name":        "NAME",
	"Description": "DESCRIPTION",
	"StarCount":   "STARS",
	"IsOfficial":  "OFFICIAL",
}

// SearchOptions are the inputs of SearchImages.
type SearchOptions struct {
	Term    string
	Limit   int
	Filters []string // key=value
	NoTrunc bool
	Format  string
}

// ImageSearcher is what searching needs from the daemon.
type ImageSearcher interface {
	ImageSearch(ctx context.Context, term string, options client.ImageSearchOptions) (client.ImageSearchResult, error)
}

// searchCommands is `search` (issue 4).
func searchCommands(c *CLI) []*cobra.Command {
	var opts SearchOptions
	cmd := &cobra.Command{
		Use:   "search [OPTIONS] TERM",
		Short: "Search Docker Hub for images",
		Long:  "Search Docker Hub for images, or the catalog of a registry with TERM as HOST[:PORT]/TERM",
		Args:  exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.Term = args[0]
			api, err := c.Client(cmd.Context())
			if err != nil {
				return err
			}
			return SearchImages(cmd.Context(), api, c.Streams, opts)
		},
	}
	fs := cmd.Flags()
	fs.BoolVar(&opts.NoTrunc, "no-trunc", false, "Don't truncate output")
	addFilterFlag(fs, &opts.Filters, "f", "Filter output based on conditions provided")
	fs.IntVar(&opts.Limit, "limit", 0, "Max number of search results")
	fs.StringVar(&opts.Format, "format", "", "Pretty-print search using a Go template")
	return []*cobra.Command{cmd}
}

// SearchImages searches and prints the results like `docker search`.
func SearchImages(ctx context.Context, api ImageSearcher, s Streams, opts SearchOptions) error {
	filters, err := parseFilters(opts.Filters)
	if err != nil {
		return err
	}
	if _, ok := filters["is-automated"]; ok {
		fmt.Fprintln(s.Err, `WARNING: the "is-automated" filter is deprecated, and searching for "is-automated=true" will not yield any results in future.`)
	}
	res, err := api.ImageSearch(ctx, opts.Term, client.ImageSearchOptions{Limit: opts.Limit, Filters: filters})
	if err != nil {
		return err
	}
	return writeSearch(s.Out, opts.Format, !opts.NoTrunc, res.Items)
}

func writeSearch(w io.Writer, format string, trunc bool, items []registry.SearchResult) error {
	if format == "" || format == tableFormat {
		format = defaultSearchFormat
	}
	rows := make([]*searchRow, len(items))
	for i := range items {
		rows[i] = &searchRow{r: items[i], trunc: trunc}
	}
	return writeRows(w, format, searchHeader, rows)
}

// searchRow is one search result as --format placeholders see it.
type searchRow struct {
	r     registry.SearchResult
	trunc bool
	json  bool
}

// Name is the repository name.
func (r *searchRow) Name() string { return r.r.Name }

// Description is the description on one line, cut at 45 characters unless --no-trunc.
func (r *searchRow) Description() string {
	d := strings.NewReplacer("\n", " ", "\r", " ").Replace(r.r.Description)
	if r.trunc {
		d = ellipsis(d, 45)
	}
	return d
}

// StarCount is the number of stars.
func (r *searchRow) StarCount() string { return strconv.Itoa(r.r.StarCount) }

// IsOfficial is "[OK]" for an official image.
func (r *searchRow) IsOfficial() string { return r.flag(r.r.IsOfficial) }

func (r *searchRow) flag(v bool) string {
	switch {
	case r.json:
		return strconv.FormatBool(v)
	case v:
		return "[OK]"
	}
	return ""
}

// MarshalJSON renders every placeholder, for --format json.
func (r *searchRow) MarshalJSON() ([]byte, error) {
	c := *r
	c.json = true
	return json.Marshal(map[string]string{
		"Name": c.Name(), "Description": c.Description(), "StarCount": c.StarCount(),
		"IsOfficial": c.IsOfficial(),
	})
}
