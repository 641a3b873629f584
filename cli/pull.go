package cli

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/distribution/reference"
	"github.com/moby/moby/client"
	"github.com/moby/moby/client/pkg/jsonmessage"
	"github.com/moby/term"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

// PullOptions are the inputs of PullImage.
type PullOptions struct {
	Ref      string
	AllTags  bool
	Quiet    bool
	Platform string // os[/arch[/variant]]
}

// ImagePuller is what pulling an image needs from the daemon.
type ImagePuller interface {
	ImagePull(ctx context.Context, ref string, options client.ImagePullOptions) (client.ImagePullResponse, error)
}

func newPullCommand(c *CLI) *cobra.Command {
	var opts PullOptions
	cmd := &cobra.Command{
		Use:   "pull [OPTIONS] NAME[:TAG|@DIGEST]",
		Short: "Download an image from a registry",
		Args:  exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.Ref = args[0]
			api, err := c.Client(cmd.Context())
			if err != nil {
				return err
			}
			return PullImage(cmd.Context(), api, c.Out, opts)
		},
	}
	addPullFlags(cmd.Flags(), &opts)
	return cmd
}

// addPullFlags binds the flags of pull to opts.
func addPullFlags(fs *pflag.FlagSet, opts *PullOptions) {
	fs.BoolVarP(&opts.AllTags, "all-tags", "a", false, "Download all tagged images in the repository")
	fs.BoolVarP(&opts.Quiet, "quiet", "q", false, "Suppress verbose output")
	fs.StringVar(&opts.Platform, "platform", "", "Set platform if server is multi-platform capable")
}

// PullImage pulls an image, rendering the daemon's progress on out, and ends by printing
// the full reference like docker.
func PullImage(ctx context.Context, api ImagePuller, out io.Writer, opts PullOptions) error {
	ref, err := reference.ParseNormalizedNamed(opts.Ref)
	if err != nil {
		return err
	}
	switch nameOnly := reference.IsNameOnly(ref); {
	case opts.AllTags && !nameOnly:
		return errors.New("tag can't be used with --all-tags/-a")
	case !opts.AllTags && nameOnly:
		ref = reference.TagNameOnly(ref)
		if t, ok := ref.(reference.Tagged); ok && !opts.Quiet {
			fmt.Fprintln(out, "Using default tag:", t.Tag())
		}
	}
	var platform *ocispec.Platform
	if opts.Platform != "" {
		p, err := parsePlatform(opts.Platform)
		if err != nil {
			return err
		}
		platform = &p
	}
	progress := out
	if opts.Quiet {
		progress = io.Discard
	}
	if err := pullImage(ctx, api, reference.FamiliarString(ref), platform, opts.AllTags, progress); err != nil {
		return err
	}
	fmt.Fprintln(out, ref.String())
	return nil
}

// pullImage asks the daemon to pull ref and renders its JSON progress stream on out
// (with progress bars when out is a terminal).
func pullImage(ctx context.Context, api ImagePuller, ref string, platform *ocispec.Platform, all bool, out io.Writer) error {
	po := client.ImagePullOptions{All: all, RegistryAuth: registryAuthFor(ref)}
	if platform != nil {
		po.Platforms = []ocispec.Platform{*platform}
	}
	resp, err := api.ImagePull(ctx, ref, po)
	if err != nil {
		return err
	}
	defer resp.Close()
	fd, tty := term.GetFdInfo(out)
	return jsonmessage.DisplayJSONMessagesStream(resp, out, fd, tty, nil)
}
