package cli

import (
	"context"
	"fmt"
	"io"
	"runtime"
	"strings"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/distribution/reference"
	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/network"
	"github.com/moby/moby/client"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

// Values of --pull.
const (
	PullMissing = "missing"
	PullAlways  = "always"
	PullNever   = "never"
)

// CreateOptions are the inputs of CreateContainer.
type CreateOptions struct {
	Name             string
	Config           *container.Config
	HostConfig       *container.HostConfig
	NetworkingConfig *network.NetworkingConfig // endpoint settings per network; nil for none
	Platform         string                    // os[/arch[/variant]], empty for the daemon's default
	Pull             string                    // PullMissing (default), PullAlways or PullNever
	Quiet            bool                      // suppress the pull progress
}

// CreateAPI is what creating a container needs from the daemon.
type CreateAPI interface {
	ContainerCreate(ctx context.Context, options client.ContainerCreateOptions) (client.ContainerCreateResult, error)
	ImagePull(ctx context.Context, ref string, options client.ImagePullOptions) (client.ImagePullResponse, error)
}

// createFlags are the flags of create (and run) besides the container configuration.
type createFlags struct {
	name      string
	platform  string
	pull      string
	quiet     bool
	container *containerFlags
}

func addCreateFlags(fs *pflag.FlagSet) *createFlags {
	f := &createFlags{}
	fs.StringVar(&f.name, "name", "", "Assign a name to the container")
	fs.StringVar(&f.platform, "platform", "", "Set platform if server is multi-platform capable")
	fs.StringVar(&f.pull, "pull", PullMissing, `Pull image before running ("always", "missing", "never")`)
	fs.BoolVarP(&f.quiet, "quiet", "q", false, "Suppress the pull output")
	addHelpFlag(fs)
	f.container = addContainerFlags(fs)
	return f
}

// options builds the create options from the parsed flags and IMAGE [COMMAND] [ARG...].
func (f *createFlags) options(fs *pflag.FlagSet, args []string) (CreateOptions, error) {
	cfg, hc, nc, err := f.container.toConfig(fs, args[0], args[1:])
	if err != nil {
		return CreateOptions{}, err
	}
	if err := validatePull(f.pull); err != nil {
		return CreateOptions{}, err
	}
	return CreateOptions{Name: f.name, Config: cfg, HostConfig: hc, NetworkingConfig: nc, Platform: f.platform, Pull: f.pull, Quiet: f.quiet}, nil
}

func newCreateCommand(c *CLI) *cobra.Command {
	var f *createFlags
	cmd := &cobra.Command{
		Use:   "create [OPTIONS] IMAGE [COMMAND] [ARG...]",
		Short: "Create a new container",
		Args:  requiresMinArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts, err := f.options(cmd.Flags(), args)
			if err != nil {
				return withHelp(err, "create", 125)
			}
			setConsoleSize(c.Out, opts.Config, opts.HostConfig)
			api, err := c.Client(cmd.Context())
			if err != nil {
				return err
			}
			id, err := CreateContainer(cmd.Context(), api, c.Streams, opts)
			if err != nil {
				return err
			}
			fmt.Fprintln(c.Out, id)
			return nil
		},
	}
	cmd.Flags().SetInterspersed(false)
	f = addCreateFlags(cmd.Flags())
	return cmd
}

// CreateContainer creates a container and returns its ID. When the image is missing and
// opts.Pull allows it, it pulls the image (progress on s.Err) and tries again, like docker.
func CreateContainer(ctx context.Context, api CreateAPI, s Streams, opts CreateOptions) (string, error) {
	if err := validatePull(opts.Pull); err != nil {
		return "", err
	}
	var platform *ocispec.Platform
	if opts.Platform != "" {
		p, err := parsePlatform(opts.Platform)
		if err != nil {
			return "", err
		}
		platform = &p
	}
	// An unparsable reference goes to the daemon as is, which rejects it with its own message.
	var named reference.Named
	if ref, err := reference.ParseAnyReference(opts.Config.Image); err == nil {
		if n, ok := ref.(reference.Named); ok {
			named = reference.TagNameOnly(n)
		}
	}
	progress := s.Err
	if opts.Quiet {
		progress = io.Discard
	}
	if opts.Pull == PullAlways && named != nil {
		if err := pullImage(ctx, api, opts.Config.Image, platform, false, progress); err != nil {
			return "", err
		}
	}
	create := client.ContainerCreateOptions{
		Name:             opts.Name,
		Config:           opts.Config,
		HostConfig:       opts.HostConfig,
		NetworkingConfig: opts.NetworkingConfig,
		Platform:         platform,
	}
	res, err := api.ContainerCreate(ctx, create)
	if err != nil && cerrdefs.IsNotFound(err) && named != nil && (opts.Pull == "" || opts.Pull == PullMissing) {
		if !opts.Quiet {
			fmt.Fprintf(s.Err, "Unable to find image '%s' locally\n", reference.FamiliarString(named))
		}
		if err := pullImage(ctx, api, opts.Config.Image, platform, false, progress); err != nil {
			return "", err
		}
		res, err = api.ContainerCreate(ctx, create)
	}
	if err != nil {
		return "", err
	}
	for _, w := range res.Warnings {
		fmt.Fprintln(s.Err, "WARNING:", w)
	}
	return res.ID, nil
}

func validatePull(p string) error {
	switch p {
	case "", PullMissing, PullAlways, PullNever:
		return nil
	}
	return fmt.Errorf(`invalid pull option: '%s': must be one of "always", "missing" or "never"`, p)
}

// parsePlatform parses os[/arch[/variant]] (or a lone os or architecture) into a platform.
func parsePlatform(s string) (ocispec.Platform, error) {
	parts := strings.Split(strings.ToLower(s), "/")
	var p ocispec.Platform
	switch len(parts) {
	case 1:
		switch {
		case knownOS(parts[0]):
			p.OS, p.Architecture = parts[0], runtime.GOARCH
		case normalizeArch(&p, parts[0], ""):
			p.OS = runtime.GOOS
		default:
			return p, fmt.Errorf("%q: unknown operating system or architecture: invalid argument", s)
		}
	case 2, 3:
		variant := ""
		if len(parts) == 3 {
			variant = parts[2]
		}
		if !knownOS(parts[0]) || !normalizeArch(&p, parts[1], variant) {
			return ocispec.Platform{}, fmt.Errorf("%q: unknown operating system or architecture: invalid argument", s)
		}
		p.OS = parts[0]
	default:
		return p, fmt.Errorf("%q: cannot parse platform specifier: invalid argument", s)
	}
	return p, nil
}

func knownOS(os string) bool {
	switch os {
	case "linux", "windows", "darwin", "freebsd", "netbsd", "openbsd", "solaris", "illumos", "android", "aix", "plan9", "ios", "dragonfly":
		return true
	}
	return false
}

// normalizeArch sets p's architecture and variant from arch and variant, mapping common aliases.
func normalizeArch(p *ocispec.Platform, arch, variant string) bool {
	switch arch {
	case "amd64", "x86_64", "x86-64":
		p.Architecture = "amd64"
		if variant == "v1" {
			variant = ""
		}
	case "arm64", "aarch64":
		p.Architecture = "arm64"
		if variant == "8" || variant == "v8" {
			variant = ""
		}
	case "armhf":
		p.Architecture, variant = "arm", "v7"
	case "armel":
		p.Architecture, variant = "arm", "v6"
	case "arm":
		p.Architecture = "arm"
		switch variant {
		case "":
			variant = "v7"
		case "5", "6", "7", "8":
			variant = "v" + variant
		}
	case "i386", "i686", "386":
		p.Architecture = "386"
	case "ppc64le", "s390x", "riscv64", "mips64", "mips64le", "loong64", "ppc64", "mips", "mipsle":
		p.Architecture = arch
	default:
		return false
	}
	p.Variant = variant
	return true
}

// setConsoleSize gives a TTY container the size of our terminal from the start.
func setConsoleSize(out io.Writer, cfg *container.Config, hc *container.HostConfig) {
	if !cfg.Tty {
		return
	}
	if h, w := ttySize(out); h > 0 {
		hc.ConsoleSize = [2]uint{h, w}
	}
}
