package cli

import (
	"context"
	"fmt"
	"strings"

	"github.com/docker/go-units"
	"github.com/moby/moby/client"
	"github.com/spf13/cobra"
)

func newBuilderCommand(c *CLI) *cobra.Command {
	cmd := managementCommand("builder", "Manage builds")
	cmd.AddCommand(newBuilderPruneCommand(c))
	return cmd
}

// BuilderPruneOptions are the inputs of PruneBuildCache.
type BuilderPruneOptions struct {
	All, Force bool
	Filters    []string
}

const (
	danglingCacheWarning = "WARNING! This will remove all dangling build cache.\nAre you sure you want to continue?"
	allCacheWarning      = "WARNING! This will remove all build cache.\nAre you sure you want to continue?"
)

// BuildCachePruner is the part of the API builder prune uses.
type BuildCachePruner interface {
	BuildCachePrune(ctx context.Context, opts client.BuildCachePruneOptions) (client.BuildCachePruneResult, error)
}

// PruneBuildCache frees the build cache (asking first unless Force) and prints what went.
func PruneBuildCache(ctx context.Context, api BuildCachePruner, s Streams, opts BuilderPruneOptions) error {
	filters, err := parseFilters(opts.Filters)
	if err != nil {
		return err
	}
	warning := danglingCacheWarning
	if opts.All {
		warning = allCacheWarning
	}
	if !opts.Force && !confirm(s.In, s.Out, warning) {
		return nil
	}
	res, err := api.BuildCachePrune(ctx, client.BuildCachePruneOptions{All: opts.All, Filters: filters})
	if err != nil {
		return err
	}
	if deleted := res.Report.CachesDeleted; len(deleted) > 0 {
		fmt.Fprintf(s.Out, "Deleted build cache objects:\n%s\n\n", strings.Join(deleted, "\n"))
	}
	_, err = fmt.Fprintln(s.Out, "Total reclaimed space:", units.HumanSize(float64(res.Report.SpaceReclaimed)))
	return err
}

func newBuilderPruneCommand(c *CLI) *cobra.Command {
	var opts BuilderPruneOptions
	cmd := apiCommand(c, "prune", "Remove build cache", noArgs,
		func(ctx context.Context, api *client.Client, args []string) error {
			return PruneBuildCache(ctx, api, c.Streams, opts)
		})
	fs := cmd.Flags()
	fs.BoolVarP(&opts.All, "all", "a", false, "Remove all unused build cache, not just dangling ones")
	fs.BoolVarP(&opts.Force, "force", "f", false, "Do not prompt for confirmation")
	addFilterFlag(fs, &opts.Filters, "", `Provide filter values (e.g. "until=24h")`)
	return cmd
}
