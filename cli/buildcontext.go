package cli

import (
	"archive/tar"
	"bufio"
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/berth-dev/berth/internal/rawfile"
	"github.com/moby/patternmatcher"
	"github.com/moby/patternmatcher/ignorefile"
	"golang.org/x/sys/unix"
)

const (
	defaultDockerfile = "Dockerfile"
	dockerignoreName  = ".dockerignore"
)

// BuildContext is a build context ready to send: a tar stream (possibly compressed
// when it came from stdin) and the Dockerfile's path inside it.
type BuildContext struct {
	// Dockerfile is the slash path of the Dockerfile in the tar; empty lets the daemon
	// use "Dockerfile".
	Dockerfile string

	r     io.Reader
	close func() error
	done  chan struct{} // closed when a streaming writer has ended
	err   error         // why the writer ended early; read only after done
}

// Read reads the next bytes of the context tar.
func (b *BuildContext) Read(p []byte) (int, error) { return b.r.Read(p) }

// Close releases the context; a directory walk still under way is stopped and waited for.
func (b *BuildContext) Close() error {
	if b.close == nil {
		return nil
	}
	return b.close()
}

// Err returns the error that cut a directory context's stream short (an unreadable
// file, say), or nil while it is still streaming or when it ended well.
func (b *BuildContext) Err() error {
	if b.done == nil {
		return nil
	}
	select {
	case <-b.done:
		return b.err
	default:
		return nil
	}
}

// PrepareBuildContext turns the PATH argument of build ("-" for stdin) and -f (""
// for PATH/Dockerfile, "-" for stdin) into a context, as the docker CLI's legacy
// builder does. Everything that can be checked locally is checked here, before a
// byte is sent; a directory is then tarred as it is read.
func PrepareBuildContext(contextArg, dockerfile string, stdin io.Reader) (*BuildContext, error) {
	if contextArg == "-" {
		if dockerfile == "-" {
			return nil, errors.New("invalid argument: can't use stdin for both build context and dockerfile")
		}
		bc, err := stdinContext(stdin, dockerfile)
		if err != nil {
			return nil, fmt.Errorf("unable to prepare context from STDIN: %w", err)
		}
		return bc, nil
	}
	if _, err := os.Stat(contextArg); err != nil {
		if isRemoteContext(contextArg) {
			return nil, fmt.Errorf("unable to prepare context: building from a URL or Git repository is not supported, use a local directory or a tar on stdin: %q", contextArg)
		}
		return nil, fmt.Errorf("unable to prepare context: path %q not found", contextArg)
	}
	dc, err := newDirContext(contextArg, dockerfile, stdin)
	if err != nil {
		return nil, err
	}
	return dc.stream(), nil
}

// isRemoteContext reports whether s names a URL or Git context, which docker would download.
func isRemoteContext(s string) bool {
	for _, p := range []string{"http://", "https://", "git://", "git@", "github.com/"} {
		if strings.HasPrefix(s, p) {
			return true
		}
	}
	return false
}

// stdinContext reads a tar (plain or compressed, sent on unchanged) or a bare
// Dockerfile from stdin; a Dockerfile becomes a context holding only itself.
func stdinContext(stdin io.Reader, dockerfile string) (*BuildContext, error) {
	br := bufio.NewReaderSize(stdin, 64<<10)
	magic, err := br.Peek(1024)
	if err != nil && err != io.EOF {
		return nil, fmt.Errorf("failed to peek context header from STDIN: %v", err)
	}
	if isArchive(magic) {
		return &BuildContext{Dockerfile: dockerfile, r: br}, nil
	}
	if dockerfile != "" {
		return nil, errors.New("ambiguous Dockerfile source: both stdin and flag correspond to Dockerfiles")
	}
	content, err := io.ReadAll(br)
	if err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	if err := writeFileEntry(tw, defaultDockerfile, 0o644, content); err != nil {
		return nil, err
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	return &BuildContext{Dockerfile: defaultDockerfile, r: &buf}, nil
}

// isArchive reports whether header starts a tar, or a gzip, bzip2, xz or zstd stream.
func isArchive(header []byte) bool {
	for _, magic := range [][]byte{{0x1f, 0x8b, 0x08}, []byte("BZh"), {0xfd, '7', 'z', 'X', 'Z', 0x00}, {0x28, 0xb5, 0x2f, 0xfd}} {
		if bytes.HasPrefix(header, magic) {
			return true
		}
	}
	_, err := tar.NewReader(bytes.NewReader(header)).Next()
	return err == nil
}

// writeFileEntry adds a regular file owned by root with the current time.
func writeFileEntry(tw *tar.Writer, name string, mode int64, content []byte) error {
	hdr := &tar.Header{Name: name, Mode: mode, Size: int64(len(content)), Typeflag: tar.TypeReg, ModTime: time.Now().Truncate(time.Second)}
	if err := tw.WriteHeader(hdr); err != nil {
		return err
	}
	_, err := tw.Write(content)
	return err
}

// dirContext is a local context directory and what to send of it.
type dirContext struct {
	root       string                         // absolute, symlinks resolved
	dockerfile string                         // slash path in the tar
	pm         *patternmatcher.PatternMatcher // compiled ignore patterns; nil when none
	keep       map[string]bool                // paths sent even when ignored, and their parents' walk
	override   map[string][]byte              // root entries whose content is replaced, or added when missing
}

func newDirContext(contextArg, dockerfile string, stdin io.Reader) (*dirContext, error) {
	root, err := resolveContextDir(contextArg)
	if err != nil {
		return nil, fmt.Errorf("unable to prepare context: %s", err)
	}
	d := &dirContext{root: root, keep: map[string]bool{}, override: map[string][]byte{}}

	// -f is relative to the working directory, not to the context.
	var dfPath, ignorePath string // as the user named them, absolute
	var outside []byte            // Dockerfile content to add under a random name
	var isOutside bool
	switch dockerfile {
	case "-":
		isOutside = true
		if outside, err = io.ReadAll(stdin); err != nil {
			return nil, fmt.Errorf("unable to read Dockerfile from stdin: %w", err)
		}
	case "":
		dfPath = filepath.Join(root, defaultDockerfile)
		if _, err := os.Lstat(dfPath); errors.Is(err, fs.ErrNotExist) {
			if alt := filepath.Join(root, "dockerfile"); fileExists(alt) {
				dfPath = alt
			}
		}
	default:
		if dfPath, err = filepath.Abs(dockerfile); err != nil {
			return nil, fmt.Errorf("unable to prepare context: unable to get absolute path to Dockerfile: %v", err)
		}
	}
	if dfPath != "" {
		rel, err := dockerfileRelPath(root, dfPath)
		if err != nil {
			return nil, fmt.Errorf("unable to prepare context: %s", err)
		}
		if strings.HasPrefix(rel, "../") {
			isOutside = true
			if outside, err = os.ReadFile(dfPath); err != nil {
				return nil, fmt.Errorf("unable to open Dockerfile: %w", err)
			}
		} else {
			d.dockerfile = rel
			d.keep[rel] = true
		}
		// Like BuildKit, <Dockerfile>.dockerignore beside the Dockerfile wins over the
		// context's .dockerignore.
		if p := dfPath + dockerignoreName; fileExists(p) {
			ignorePath = p
		}
	}

	ctxIgnore := filepath.Join(root, dockerignoreName)
	hasCtxIgnore := fileExists(ctxIgnore)
	var ignoreContent []byte
	switch {
	case ignorePath != "":
		if ignoreContent, err = os.ReadFile(ignorePath); err != nil {
			return nil, err
		}
		// The daemon reads .dockerignore from the tar to drop the Dockerfile and
		// itself when they are ignored, so it gets the patterns actually applied.
		if !hasCtxIgnore {
			ignoreContent = append([]byte(dockerignoreName+"\n"), ignoreContent...)
		}
		d.override[dockerignoreName] = ignoreContent
	case hasCtxIgnore:
		if ignoreContent, err = os.ReadFile(ctxIgnore); err != nil {
			return nil, err
		}
		ignorePath = ctxIgnore
	}
	if hasCtxIgnore {
		d.keep[dockerignoreName] = true
	}
	if len(ignoreContent) > 0 {
		patterns, err := ignorefile.ReadAll(bytes.NewReader(ignoreContent))
		if err != nil {
			return nil, fmt.Errorf("error reading %s: %w", filepath.Base(ignorePath), err)
		}
		if len(patterns) > 0 {
			if d.pm, err = patternmatcher.New(patterns); err != nil {
				return nil, fmt.Errorf("error checking context: %w", err)
			}
		}
	}

	if isOutside {
		// As docker does: the Dockerfile goes in under a random name that .dockerignore
		// lists, so the daemon reads it and then drops it from the context.
		name := ".dockerfile." + randomSuffix()
		ig, ok := d.override[dockerignoreName]
		switch {
		case ok:
		case hasCtxIgnore:
			ig = ignoreContent
		default:
			ig = []byte(dockerignoreName)
		}
		d.override[dockerignoreName] = append(slices.Clip(ig), "\n"+name+"\n"...)
		d.override[name] = outside
		d.dockerfile = name
	}
	for name := range d.override {
		d.keep[name] = true
	}
	return d, nil
}

// resolveContextDir returns the absolute, symlink-free path of a context directory.
func resolveContextDir(dir string) (string, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return "", fmt.Errorf("unable to get absolute context directory of given context directory %q: %v", dir, err)
	}
	if abs, err = filepath.EvalSymlinks(abs); err != nil {
		return "", fmt.Errorf("unable to evaluate symlinks in context path: %v", err)
	}
	fi, err := os.Lstat(abs)
	if err != nil {
		return "", fmt.Errorf("unable to stat context directory %q: %v", abs, err)
	}
	if !fi.IsDir() {
		return "", fmt.Errorf("context must be a directory: %s", abs)
	}
	return abs, nil
}

// dockerfileRelPath returns the slash path of the Dockerfile at abs relative to root,
// after resolving symlinks; it starts with "../" when the Dockerfile is outside.
func dockerfileRelPath(root, abs string) (string, error) {
	resolved, err := filepath.EvalSymlinks(abs)
	if err != nil {
		return "", fmt.Errorf("unable to evaluate symlinks in Dockerfile path: %v", err)
	}
	rel, err := filepath.Rel(root, resolved)
	if err != nil {
		return "", fmt.Errorf("unable to get relative Dockerfile path: %v", err)
	}
	return filepath.ToSlash(rel), nil
}

func fileExists(p string) bool {
	_, err := os.Lstat(p)
	return err == nil
}

// randomSuffix returns 20 random lowercase hex characters.
func randomSuffix() string {
	b := make([]byte, 10)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// stream starts tarring the directory into a pipe that the returned context reads.
func (d *dirContext) stream() *BuildContext {
	pr, pw := io.Pipe()
	bc := &BuildContext{Dockerfile: d.dockerfile, r: pr, done: make(chan struct{})}
	bc.close = func() error {
		_ = pr.Close()
		<-bc.done
		return nil
	}
	go func() {
		bw := bufio.NewWriterSize(pw, 64<<10)
		err := d.writeTar(bw)
		if err == nil {
			err = bw.Flush()
		}
		if err != nil && !errors.Is(err, io.ErrClosedPipe) {
			bc.err = fmt.Errorf("error checking context: %w", err)
		}
		close(bc.done)
		_ = pw.CloseWithError(bc.err)
	}()
	return bc
}

// tarWalk holds the state of one walk of a context directory.
type tarWalk struct {
	d     *dirContext
	tw    *tar.Writer
	buf   []byte
	links map[[2]uint64]string // device and inode of files with several links -> first name sent
	sent  map[string]bool      // overrides already written
}

// writeTar writes the context as a tar owned by root: the walk is in name order,
// ignored entries are left out (an ignored directory is entered only when something
// under it may be re-included), and the overrides are written or appended.
func (d *dirContext) writeTar(w io.Writer) error {
	t := &tarWalk{d: d, tw: tar.NewWriter(w), buf: make([]byte, 32<<10), links: map[[2]uint64]string{}, sent: map[string]bool{}}
	if err := t.walk("", patternmatcher.MatchInfo{}); err != nil {
		return err
	}
	names := make([]string, 0, len(d.override))
	for name := range d.override {
		if !t.sent[name] {
			names = append(names, name)
		}
	}
	slices.Sort(names)
	for _, name := range names {
		if err := writeFileEntry(t.tw, name, 0o600, d.override[name]); err != nil {
			return err
		}
	}
	return t.tw.Close()
}

func (t *tarWalk) walk(rel string, parent patternmatcher.MatchInfo) error {
	dir := filepath.Join(t.d.root, rel)
	entries, err := os.ReadDir(dir)
	if err != nil {
		if errors.Is(err, fs.ErrPermission) {
			return fmt.Errorf("can't stat '%s'", dir)
		}
		return err
	}
	for _, e := range entries {
		name := e.Name()
		if rel != "" {
			name = rel + "/" + name
		}
		excluded, info := false, patternmatcher.MatchInfo{}
		if t.d.pm != nil {
			if excluded, info, err = t.d.pm.MatchesUsingParentResults(name, parent); err != nil {
				return err
			}
		}
		if excluded && t.d.keep[name] {
			excluded = false
		}
		if excluded {
			if e.IsDir() && t.mayIncludeUnder(name) {
				if err := t.walk(name, info); err != nil {
					return err
				}
			}
			continue
		}
		fi, err := e.Info()
		if errors.Is(err, fs.ErrNotExist) {
			continue // removed while we walk
		}
		if err != nil {
			return err
		}
		if content, ok := t.d.override[name]; ok && rel == "" {
			t.sent[name] = true
			if err := writeFileEntry(t.tw, name, int64(fi.Mode().Perm()), content); err != nil {
				return err
			}
			continue
		}
		if err := t.add(name, fi); err != nil {
			return err
		}
		if fi.IsDir() {
			if err := t.walk(name, info); err != nil {
				return err
			}
		}
	}
	return nil
}

// mayIncludeUnder reports whether something under the ignored directory dir can still
// be sent: a kept path, or one an exclusion ("!") pattern may match.
func (t *tarWalk) mayIncludeUnder(dir string) bool {
	for p := range t.d.keep {
		if strings.HasPrefix(p, dir+"/") {
			return true
		}
	}
	for _, p := range t.d.pm.Patterns() {
		if p.Exclusion() && patternReachesUnder(p.String(), dir) {
			return true
		}
	}
	return false
}

// patternReachesUnder reports whether pattern may match dir or a path under it. It
// errs towards yes: entering a directory needlessly costs a walk, never a wrong entry.
func patternReachesUnder(pattern, dir string) bool {
	ps := strings.Split(pattern, "/")
	for i, seg := range strings.Split(dir, "/") {
		if i >= len(ps) || strings.Contains(ps[i], "**") {
			return true
		}
		if ok, err := path.Match(ps[i], seg); err == nil && !ok {
			return false
		}
	}
	return true
}

// add writes the header of one entry, and its content for a regular file.
func (t *tarWalk) add(name string, fi fs.FileInfo) error {
	mode := fi.Mode()
	hdr := &tar.Header{Name: name, Mode: int64(mode.Perm()), ModTime: fi.ModTime().Truncate(time.Second)}
	if mode&fs.ModeSetuid != 0 {
		hdr.Mode |= 0o4000
	}
	if mode&fs.ModeSetgid != 0 {
		hdr.Mode |= 0o2000
	}
	if mode&fs.ModeSticky != 0 {
		hdr.Mode |= 0o1000
	}
	abs := filepath.Join(t.d.root, name)
	st, _ := fi.Sys().(*syscall.Stat_t)
	switch {
	case mode.IsRegular():
		hdr.Typeflag = tar.TypeReg
		hdr.Size = fi.Size()
		if st != nil && st.Nlink > 1 {
			key := [2]uint64{uint64(st.Dev), st.Ino}
			if first, ok := t.links[key]; ok {
				hdr.Typeflag, hdr.Linkname, hdr.Size = tar.TypeLink, first, 0
				return t.tw.WriteHeader(hdr)
			}
			t.links[key] = name
		}
	case mode.IsDir():
		hdr.Typeflag = tar.TypeDir
		hdr.Name += "/"
	case mode&fs.ModeSymlink != 0:
		target, err := os.Readlink(abs)
		if err != nil {
			return err
		}
		hdr.Typeflag, hdr.Linkname = tar.TypeSymlink, target
	case mode&fs.ModeNamedPipe != 0:
		hdr.Typeflag = tar.TypeFifo
	case mode&fs.ModeDevice != 0 && st != nil:
		hdr.Typeflag = tar.TypeBlock
		if mode&fs.ModeCharDevice != 0 {
			hdr.Typeflag = tar.TypeChar
		}
		hdr.Devmajor, hdr.Devminor = int64(unix.Major(uint64(st.Rdev))), int64(unix.Minor(uint64(st.Rdev)))
	default:
		return nil // sockets and the like cannot be sent
	}
	if err := t.tw.WriteHeader(hdr); err != nil {
		return err
	}
	if hdr.Typeflag != tar.TypeReg || hdr.Size == 0 {
		return nil
	}
	f, err := rawfile.Open(abs, 0)
	if err != nil {
		if errors.Is(err, fs.ErrPermission) {
			return fmt.Errorf("no permission to read from '%s'", abs)
		}
		return err
	}
	defer f.Close()
	n, err := io.CopyBuffer(t.tw, io.LimitReader(f, hdr.Size), t.buf)
	if err != nil {
		return err
	}
	if n != hdr.Size {
		return fmt.Errorf("%s changed size while it was read", abs)
	}
	return nil
}
