package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"

	"github.com/docker/go-units"
	"github.com/moby/moby/client"
	"github.com/spf13/cobra"
)

// CopyOptions are the inputs of Copy.
type CopyOptions struct {
	Source      string // CONTAINER:PATH, a local path, or "-" for a tar archive on stdin
	Destination string // CONTAINER:PATH, a local path, or "-" for a tar archive on stdout
	FollowLink  bool   // follow a symbolic link at the end of the source path
	CopyUIDGID  bool   // keep the archive's owners when extracting in the container
	Quiet       bool   // no summary line
}

// CopyAPI is what copying to and from a container needs from the daemon.
type CopyAPI interface {
	ContainerStatPath(ctx context.Context, container string, options client.ContainerStatPathOptions) (client.ContainerStatPathResult, error)
	CopyFromContainer(ctx context.Context, container string, options client.CopyFromContainerOptions) (client.CopyFromContainerResult, error)
	CopyToContainer(ctx context.Context, container string, options client.CopyToContainerOptions) (client.CopyToContainerResult, error)
}

func newCopyCommand(c *CLI) *cobra.Command {
	var opts CopyOptions
	cmd := &cobra.Command{
		Use:   "cp [OPTIONS] CONTAINER:SRC_PATH DEST_PATH|-\n\tberth cp [OPTIONS] SRC_PATH|- CONTAINER:DEST_PATH",
		Short: "Copy files/folders between a container and the local filesystem",
		Long: "Copy files/folders between a container and the local filesystem\n\n" +
			"Use '-' as the source to read a tar archive from stdin\n" +
			"and extract it to a directory destination in a container.\n" +
			"Use '-' as the destination to stream a tar archive of a\n" +
			"container source to stdout.",
		Args: exactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			if args[0] == "" {
				return errors.New("source can not be empty")
			}
			if args[1] == "" {
				return errors.New("destination can not be empty")
			}
			opts.Source, opts.Destination = args[0], args[1]
			if !cmd.Flags().Changed("quiet") {
				opts.Quiet = !isTerminal(c.Out)
			}
			api, err := c.Client(cmd.Context())
			if err != nil {
				return err
			}
			return Copy(cmd.Context(), api, c.Streams, opts)
		},
	}
	fs := cmd.Flags()
	fs.BoolVarP(&opts.FollowLink, "follow-link", "L", false, "Always follow symbol link in SRC_PATH")
	fs.BoolVarP(&opts.CopyUIDGID, "archive", "a", false, "Archive mode (copy all uid/gid information)")
	fs.BoolVarP(&opts.Quiet, "quiet", "q", false, "Suppress progress output during copy. Progress output is automatically suppressed if no terminal is attached")
	return cmd
}

// splitCpArg splits CONTAINER:PATH; a path that is absolute or starts with "." is local
// even when it holds a colon.
func splitCpArg(arg string) (ctr, p string) {
	if filepath.IsAbs(arg) {
		return "", arg
	}
	ctr, p, ok := strings.Cut(arg, ":")
	if !ok || strings.HasPrefix(ctr, ".") {
		return "", arg
	}
	return ctr, p
}

// Copy copies between a container and the local filesystem through the archive endpoints,
// with docker cp's rules for where the copy lands.
func Copy(ctx context.Context, api CopyAPI, s Streams, opts CopyOptions) error {
	srcCtr, srcPath := splitCpArg(opts.Source)
	dstCtr, dstPath := splitCpArg(opts.Destination)
	switch {
	case srcCtr != "" && dstCtr != "":
		return errors.New("copying between containers is not supported")
	case srcCtr != "":
		return copyFromContainer(ctx, api, s, opts, srcCtr, srcPath, dstPath)
	case dstCtr != "":
		return copyToContainer(ctx, api, s, opts, dstCtr, srcPath, dstPath)
	}
	return errors.New("must specify at least one container source")
}

// localPath makes p absolute, keeping a trailing "/" or "/.".
func localPath(p string) (string, error) {
	abs, err := filepath.Abs(p)
	if err != nil {
		return "", err
	}
	return preserveTrailingDotOrSeparator(abs, p), nil
}

func copyFromContainer(ctx context.Context, api CopyAPI, s Streams, opts CopyOptions, ctr, srcPath, dstPath string) error {
	if dstPath != "-" {
		var err error
		if dstPath, err = localPath(dstPath); err != nil {
			return err
		}
		if err := validateOutputPath(dstPath); err != nil {
			return err
		}
	}
	var rebase string
	if opts.FollowLink {
		st, err := api.ContainerStatPath(ctx, ctr, client.ContainerStatPathOptions{Path: srcPath})
		if err == nil && st.Stat.Mode&os.ModeSymlink != 0 {
			target := st.Stat.LinkTarget
			if !filepath.IsAbs(target) {
				dir, _ := splitPathDirEntry(srcPath)
				target = filepath.Join(dir, target)
			}
			srcPath, rebase = rebaseName(srcPath, target)
		}
	}
	res, err := api.CopyFromContainer(ctx, ctr, client.CopyFromContainerOptions{SourcePath: srcPath})
	if err != nil {
		return err
	}
	defer res.Content.Close()
	if dstPath == "-" {
		_, err := io.Copy(s.Out, res.Content)
		return err
	}
	var n atomic.Int64
	content := io.Reader(&countingReader{r: res.Content, n: &n})
	if rebase != "" {
		_, base := splitPathDirEntry(srcPath)
		content = rebaseArchive(content, base, rebase)
	}
	err = copyTo(content, copyInfo{Path: srcPath, Exists: true, IsDir: res.Stat.Mode.IsDir(), RebaseName: rebase}, dstPath)
	if err == nil && !opts.Quiet {
		size := n.Load()
		if !res.Stat.Mode.IsDir() {
			size = res.Stat.Size
		}
		fmt.Fprint(s.Err, copySummary(size, n.Load(), dstPath))
	}
	return err
}

func copyToContainer(ctx context.Context, api CopyAPI, s Streams, opts CopyOptions, ctr, srcPath, dstPath string) error {
	if srcPath != "-" {
		var err error
		if srcPath, err = localPath(srcPath); err != nil {
			return err
		}
	}
	// Find out what the destination is, following a link at its end.
	dst := copyInfo{Path: dstPath}
	if st, err := api.ContainerStatPath(ctx, ctr, client.ContainerStatPathOptions{Path: dstPath}); err == nil {
		if st.Stat.Mode&os.ModeSymlink != 0 {
			target := st.Stat.LinkTarget
			if !filepath.IsAbs(target) {
				dir, _ := splitPathDirEntry(dstPath)
				target = filepath.Join(dir, target)
			}
			dst.Path = target
			st, err = api.ContainerStatPath(ctx, ctr, client.ContainerStatPathOptions{Path: target})
		}
		if err == nil {
			if err := outputFileMode(st.Stat.Mode); err != nil {
				return fmt.Errorf(`destination "%s:%s" must be a directory or a regular file: %w`, ctr, dstPath, err)
			}
			dst.Exists, dst.IsDir = true, st.Stat.Mode.IsDir()
		}
	}
	// A failed stat is not an error: the parent may exist, and the daemon reports conflicts.

	var (
		content     io.Reader
		dir         string
		contentSize int64 = -1
		n           atomic.Int64
	)
	if srcPath == "-" {
		if !dst.IsDir {
			return fmt.Errorf(`destination "%s:%s" must be a directory`, ctr, dstPath)
		}
		content, dir = s.In, dst.Path
	} else {
		src, err := localSourceInfo(srcPath, opts.FollowLink)
		if err != nil {
			return err
		}
		contentSize = localContentSize(src.Path)
		archive, err := tarResource(src)
		if err != nil {
			return err
		}
		defer archive.Close()
		d, prepared, err := prepareArchiveCopy(archive, src, dst)
		if err != nil {
			return err
		}
		defer prepared.Close()
		content, dir = &countingReader{r: prepared, n: &n}, d
	}
	_, err := api.CopyToContainer(ctx, ctr, client.CopyToContainerOptions{
		DestinationPath: dir,
		Content:         content,
		CopyUIDGID:      opts.CopyUIDGID,
	})
	if err == nil && !opts.Quiet && srcPath != "-" {
		fmt.Fprint(s.Err, copySummary(contentSize, n.Load(), ctr+":"+dst.Path))
	}
	return err
}

// countingReader counts the bytes read through it.
type countingReader struct {
	r io.Reader
	n *atomic.Int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n.Add(int64(n))
	return n, err
}

// copySummary is docker's closing line; the transferred size (the archive) is shown only
// when it differs from the content's.
func copySummary(content, transferred int64, dest string) string {
	if content < 0 || content == transferred {
		return fmt.Sprintf("Successfully copied %s to %s\n", units.HumanSizeWithPrecision(float64(transferred), 3), dest)
	}
	return fmt.Sprintf("Successfully copied %s (transferred %s) to %s\n",
		units.HumanSizeWithPrecision(float64(content), 3), units.HumanSizeWithPrecision(float64(transferred), 3), dest)
}

// localContentSize sums the sizes of the regular files at p (-1 when it cannot be read).
func localContentSize(p string) int64 {
	fi, err := os.Lstat(p)
	if err != nil {
		return -1
	}
	if !fi.IsDir() {
		if fi.Mode().IsRegular() {
			return fi.Size()
		}
		return 0
	}
	var total int64
	err = filepath.WalkDir(p, func(_ string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.Type().IsRegular() {
			info, err := d.Info()
			if err != nil {
				return err
			}
			total += info.Size()
		}
		return nil
	})
	if err != nil {
		return -1
	}
	return total
}

// validateOutputPath checks that a local destination's directory exists and that the
// destination, if present, is a directory or a regular file.
func validateOutputPath(p string) error {
	dir := filepath.Dir(filepath.Clean(p))
	if dir != "" && dir != "." {
		if _, err := os.Stat(dir); errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("invalid output path: directory %q does not exist", dir)
		}
	}
	fi, err := os.Stat(p)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	if fi.Mode().IsDir() || fi.Mode().IsRegular() {
		return nil
	}
	if err := outputFileMode(fi.Mode()); err != nil {
		return fmt.Errorf("invalid output path: %q must be a directory or a regular file: %w", p, err)
	}
	return nil
}

func outputFileMode(m os.FileMode) error {
	switch {
	case m&os.ModeDevice != 0:
		return errors.New("got a device")
	case m&os.ModeIrregular != 0:
		return errors.New("got an irregular file")
	}
	return nil
}
