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
	"github.com/spf13/cobra"
)

// pushCommands are the top-level registry commands: push, login, logout.
func pushCommands(c *CLI) []*cobra.Command {
	return []*cobra.Command{newPushCommand(c), newLoginCommand(c), newLogoutCommand(c)}
}

// imagePushSubcommands are their `image …` forms.
func imagePushSubcommands(c *CLI) []*cobra.Command {
	return []*cobra.Command{newPushCommand(c)}
}

// PushOptions are the inputs of PushImage.
type PushOptions struct {
	Ref     string
	AllTags bool
	Quiet   bool
}

// ImagePusher is what pushing an image needs from the daemon.
type ImagePusher interface {
	ImagePush(ctx context.Context, image string, options client.ImagePushOptions) (client.ImagePushResponse, error)
}

func newPushCommand(c *CLI) *cobra.Command {
	var opts PushOptions
	cmd := &cobra.Command{
		Use:   "push [OPTIONS] NAME[:TAG]",
		Short: "Upload an image to a registry",
		Args:  exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.Ref = args[0]
			api, err := c.Client(cmd.Context())
			if err != nil {
				return err
			}
			return PushImage(cmd.Context(), api, c.Out, opts)
		},
	}
	fs := cmd.Flags()
	fs.BoolVarP(&opts.AllTags, "all-tags", "a", false, "Push all tags of an image to the repository")
	fs.BoolVarP(&opts.Quiet, "quiet", "q", false, "Suppress verbose output")
	return cmd
}

// PushImage pushes an image with the stored credentials of its registry, rendering the
// daemon's progress on out (only the full reference with -q, like docker).
func PushImage(ctx context.Context, api ImagePusher, out io.Writer, opts PushOptions) error {
	ref, err := reference.ParseNormalizedNamed(opts.Ref)
	if err != nil {
		return err
	}
	nameOnly := reference.IsNameOnly(ref)
	if opts.AllTags && !nameOnly {
		return errors.New("tag can't be used with --all-tags/-a")
	}
	if !opts.AllTags && nameOnly {
		ref = reference.TagNameOnly(ref)
		if t, ok := ref.(reference.Tagged); ok && !opts.Quiet {
			fmt.Fprintln(out, "Using default tag:", t.Tag())
		}
	}
	resp, err := api.ImagePush(ctx, reference.FamiliarString(ref), client.ImagePushOptions{
		All:          opts.AllTags,
		RegistryAuth: registryAuthFor(ref.Name()),
	})
	if err != nil {
		return err
	}
	defer resp.Close()
	progress := out
	if opts.Quiet {
		progress = io.Discard
	}
	fd, tty := term.GetFdInfo(progress)
	if err := jsonmessage.DisplayJSONMessagesStream(resp, progress, fd, tty, nil); err != nil {
		return err
	}
	if opts.Quiet {
		fmt.Fprintln(out, ref.String())
	}
	return nil
}
