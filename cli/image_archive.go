package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/moby/moby/client"
	"github.com/moby/moby/client/pkg/jsonmessage"
	"github.com/moby/term"
	"github.com/spf13/cobra"
)

// ImageArchiveAPI is what save, load and import need from the daemon.
type ImageArchiveAPI interface {
	ImageSave(ctx context.Context, images []string, opts ...client.ImageSaveOption) (client.ImageSaveResult, error)
	ImageLoad(ctx context.Context, input io.Reader, opts ...client.ImageLoadOption) (client.ImageLoadResult, error)
	ImageImport(ctx context.Context, source client.ImageImportSource, ref string, options client.ImageImportOptions) (client.ImageImportResult, error)
}

var _ ImageArchiveAPI = (*client.Client)(nil)

// imageArchiveCommands are save, load and import (issue 4).
func imageArchiveCommands(c *CLI) []*cobra.Command {
	return []*cobra.Command{newSaveCommand(c), newLoadCommand(c), newImportCommand(c)}
}

// imageArchiveSubcommands are `image save|load|import`.
func imageArchiveSubcommands(c *CLI) []*cobra.Command {
	return imageArchiveCommands(c)
}

func newSaveCommand(c *CLI) *cobra.Command {
	var output string
	cmd := apiCommand(c, "save [OPTIONS] IMAGE [IMAGE...]", "Save one or more images to a tar archive (streamed to STDOUT by default)", requiresMinArgs(1),
		func(ctx context.Context, api *client.Client, args []string) error {
			return SaveImages(ctx, api, c.Out, args, output)
		})
	cmd.Flags().StringVarP(&output, "output", "o", "", "Write to a file, instead of STDOUT")
	return cmd
}

// SaveImages writes the images as one tar archive to the file output (replaced only
// when complete) or, when output is empty, to out unless it is a terminal.
func SaveImages(ctx context.Context, api ImageArchiveAPI, out io.Writer, images []string, output string) error {
	if output == "" && isTerminal(out) {
		return errors.New("cowardly refusing to save to a terminal. Use the -o flag or redirect")
	}
	var tmp *os.File
	if output != "" {
		var err error
		if tmp, err = os.CreateTemp(filepath.Dir(output), "."+filepath.Base(output)+".*"); err != nil {
			return fmt.Errorf("failed to save image: %w", err)
		}
		defer os.Remove(tmp.Name())
		defer tmp.Close()
		out = tmp
	}
	rc, err := api.ImageSave(ctx, images)
	if err != nil {
		return err
	}
	defer rc.Close()
	if _, err := io.Copy(out, rc); err != nil {
		return fmt.Errorf("failed to save image: %w", err)
	}
	if tmp == nil {
		return nil
	}
	if err := tmp.Chmod(0o644); err != nil {
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

// LoadOptions are the inputs of LoadImages.
type LoadOptions struct {
	Input string // a file; "" reads in
	Quiet bool
}

func newLoadCommand(c *CLI) *cobra.Command {
	var opts LoadOptions
	cmd := apiCommand(c, "load [OPTIONS]", "Load an image from a tar archive or STDIN", noArgs,
		func(ctx context.Context, api *client.Client, args []string) error {
			return LoadImages(ctx, api, c.In, c.Out, opts)
		})
	cmd.Flags().StringVarP(&opts.Input, "input", "i", "", "Read from tar archive file, instead of STDIN")
	cmd.Flags().BoolVarP(&opts.Quiet, "quiet", "q", false, "Suppress the load output")
	return cmd
}

// LoadImages sends an image archive (the file opts.Input, or in) to the daemon and
// prints what it loaded.
func LoadImages(ctx context.Context, api ImageArchiveAPI, in io.Reader, out io.Writer, opts LoadOptions) error {
	if opts.Input != "" {
		f, err := os.Open(opts.Input)
		if err != nil {
			return err
		}
		defer f.Close()
		in = f
	} else if isTerminal(in) {
		return errors.New("requested load from stdin, but stdin is empty")
	}
	res, err := api.ImageLoad(ctx, in, client.ImageLoadWithQuiet(opts.Quiet))
	if err != nil {
		return err
	}
	defer res.Close()
	fd, tty := term.GetFdInfo(out)
	return jsonmessage.DisplayJSONMessagesStream(res, out, fd, tty, nil)
}

// ImportOptions are the inputs of ImportImage.
type ImportOptions struct {
	Source    string // a file, an http(s) URL, or "-" for in
	Reference string // REPOSITORY[:TAG], may be empty
	Changes   []string
	Message   string
	Platform  string
}

func newImportCommand(c *CLI) *cobra.Command {
	var opts ImportOptions
	cmd := apiCommand(c, "import [OPTIONS] file|URL|- [REPOSITORY[:TAG]]", "Import the contents from a tarball to create a filesystem image", rangeArgs(1, 2),
		func(ctx context.Context, api *client.Client, args []string) error {
			opts.Source = args[0]
			if len(args) > 1 {
				opts.Reference = args[1]
			}
			return ImportImage(ctx, api, c.In, c.Out, opts)
		})
	fs := cmd.Flags()
	fs.StringArrayVarP(&opts.Changes, "change", "c", nil, "Apply Dockerfile instruction to the created image")
	fs.StringVarP(&opts.Message, "message", "m", "", "Set commit message for imported image")
	fs.StringVar(&opts.Platform, "platform", "", "Set platform if server is multi-platform capable")
	return cmd
}

// ImportImage creates an image from a filesystem tarball and prints its ID.
func ImportImage(ctx context.Context, api ImageArchiveAPI, in io.Reader, out io.Writer, opts ImportOptions) error {
	src := client.ImageImportSource{SourceName: opts.Source}
	switch {
	case opts.Source == "-":
		src.Source = in
	case strings.HasPrefix(opts.Source, "http://") || strings.HasPrefix(opts.Source, "https://"):
	default:
		f, err := os.Open(opts.Source)
		if err != nil {
			return err
		}
		defer f.Close()
		src = client.ImageImportSource{Source: f, SourceName: "-"}
	}
	iopts := client.ImageImportOptions{Message: opts.Message, Changes: opts.Changes}
	if opts.Platform != "" {
		p, err := parsePlatform(opts.Platform)
		if err != nil {
			return err
		}
		iopts.Platform = p
	}
	res, err := api.ImageImport(ctx, src, opts.Reference, iopts)
	if err != nil {
		return err
	}
	defer res.Close()
	fd, tty := term.GetFdInfo(out)
	return jsonmessage.DisplayJSONMessagesStream(res, out, fd, tty, nil)
}
