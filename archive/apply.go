package archive

import (
	"archive/tar"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"hash"
	"io"
	"os"
	"path"
	"strconv"
	"strings"
	"time"

	"github.com/berth-dev/berth/errdefs"
	digest "github.com/opencontainers/go-digest"
	"golang.org/x/sys/unix"
)

// WhiteoutMode says how whiteout entries are applied.
type WhiteoutMode int

const (
	// WhiteoutOverlay writes whiteouts in overlayfs form: a 0:0 character device for a
	// deleted name and the trusted.overlay.opaque=y xattr on an opaque directory. Used
	// when each layer is unpacked into its own directory and the layers are stacked.
	WhiteoutOverlay WhiteoutMode = iota
	// WhiteoutDelete removes what a whiteout hides; used when applying onto a merged tree.
	WhiteoutDelete
	// WhiteoutNone treats whiteout names as ordinary files (docker cp).
	WhiteoutNone
)

// Whiteout names of the OCI layer format.
const (
	WhiteoutPrefix = ".wh."
	WhiteoutOpaque = ".wh..wh..opq"
	whiteoutMeta   = ".wh..wh."
	overlayOpaque  = "trusted.overlay.opaque"
)

// Options tune Apply.
type Options struct {
	Whiteouts WhiteoutMode
	// NoChown skips applying ownership (applied by default when running as root).
	NoChown bool
	// Owner, when set, owns every entry instead of the owner the archive names.
	Owner *Owner
	// NoOverwriteDirNonDir refuses to replace a directory with a non-directory or a
	// non-directory with a directory (errdefs.ErrInvalidParameter).
	NoOverwriteDirNonDir bool
	// KeepRoot leaves the target directory's own metadata as it is.
	KeepRoot bool
}

// Owner is a numeric user and group.
type Owner struct{ UID, GID int }

// Result describes an applied layer.
type Result struct {
	Size   int64         // bytes of the uncompressed tar stream
	DiffID digest.Digest // sha256 of the uncompressed tar stream
}

// Apply unpacks the (possibly gzip or zstd compressed) layer tar stream r into dir.
// No entry is written outside dir and no symlink is followed: an entry whose parent
// is a symlink fails the whole apply.
func Apply(ctx context.Context, dir string, r io.Reader, opts Options) (Result, error) {
	dr, err := DecompressStream(r)
	if err != nil {
		return Result{}, fmt.Errorf("decompress layer: %w", err)
	}
	defer dr.Close()
	hc := &hashCounter{h: sha256.New()}
	tee := io.TeeReader(dr, hc)

	a, err := newApplier(dir, opts)
	if err != nil {
		return Result{}, err
	}
	defer a.close()
	tr := tar.NewReader(tee)
	for n := 0; ; n++ {
		hdr, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil && !(errors.Is(err, tar.ErrInsecurePath) && hdr != nil) {
			return Result{}, fmt.Errorf("read layer: %w", err)
		}
		if n%64 == 0 {
			if err := ctx.Err(); err != nil {
				return Result{}, err
			}
		}
		if err := a.entry(hdr, tr); err != nil {
			return Result{}, err
		}
	}
	// The DiffID covers the whole stream, including padding after the end marker.
	if _, err := io.CopyBuffer(io.Discard, tee, a.buf); err != nil {
		return Result{}, fmt.Errorf("read layer: %w", err)
	}
	if err := a.finish(); err != nil {
		return Result{}, err
	}
	return Result{Size: hc.n, DiffID: digest.NewDigest(digest.SHA256, hc.h)}, nil
}

type hashCounter struct {
	h hash.Hash
	n int64
}

func (c *hashCounter) Write(p []byte) (int, error) {
	c.n += int64(len(p))
	return c.h.Write(p)
}

type dirTime struct {
	name         string
	atime, mtime time.Time
}

type applier struct {
	dir      string
	root     int
	dirs     map[string]int // open directory fds by relative path ("" is root)
	times    []dirTime
	opts     Options
	chown    bool
	buf      []byte
	unpacked map[string]struct{} // WhiteoutDelete only
}

func newApplier(dir string, opts Options) (*applier, error) {
	fd, err := unix.Open(dir, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, &os.PathError{Op: "open", Path: dir, Err: err}
	}
	a := &applier{
		dir:   dir,
		root:  fd,
		dirs:  map[string]int{"": fd},
		opts:  opts,
		chown: !opts.NoChown && os.Geteuid() == 0,
		buf:   make([]byte, 256<<10),
	}
	if opts.Whiteouts == WhiteoutDelete {
		a.unpacked = map[string]struct{}{}
	}
	return a, nil
}

func (a *applier) close() {
	a.flush()
	unix.Close(a.root)
}

// flush closes every cached directory fd but the root's.
func (a *applier) flush() {
	for k, fd := range a.dirs {
		if k != "" {
			unix.Close(fd)
			delete(a.dirs, k)
		}
	}
}

// CleanName turns a tar entry name into a path relative to the target directory:
// absolute names are taken as relative to it and names leaving it are an error.
// The root itself is "".
func CleanName(name string) (string, error) {
	c := strings.TrimLeft(path.Clean(name), "/")
	if c == ".." || strings.HasPrefix(c, "../") {
		return "", errdefs.InvalidParameter(fmt.Sprintf("invalid layer: path %q leaves the root", name))
	}
	if c == "." {
		c = ""
	}
	return c, nil
}

func split(name string) (parent, base string) {
	i := strings.LastIndexByte(name, '/')
	if i < 0 {
		return "", name
	}
	return name[:i], name[i+1:]
}

// openDir returns an fd of the directory rel, never following a symlink, creating
// missing directories (0755) when create is set. The fd is cached; do not close it.
func (a *applier) openDir(rel string, create bool) (int, error) {
	if fd, ok := a.dirs[rel]; ok {
		return fd, nil
	}
	parent, base := split(rel)
	pfd, err := a.openDir(parent, create)
	if err != nil {
		return -1, err
	}
	fd, err := unix.Openat(pfd, base, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err == unix.ENOENT && create {
		if err = unix.Mkdirat(pfd, base, 0o755); err == nil || err == unix.EEXIST {
			fd, err = unix.Openat(pfd, base, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
		}
	}
	if err != nil {
		if err == unix.ELOOP || err == unix.ENOTDIR {
			return -1, errdefs.InvalidParameter(fmt.Sprintf("invalid layer: %q is not a directory (symlinks are not followed)", rel))
		}
		return -1, &os.PathError{Op: "open", Path: rel, Err: err}
	}
	if len(a.dirs) > 256 {
		a.flush()
	}
	a.dirs[rel] = fd
	return fd, nil
}

// remove deletes the entry base of directory pfd (rel is its relative path).
func (a *applier) remove(pfd int, base, rel string) error {
	err := unix.Unlinkat(pfd, base, 0)
	if err == unix.EISDIR || err == unix.EPERM {
		a.flush()
		r, rerr := os.OpenRoot(a.dir)
		if rerr != nil {
			return rerr
		}
		defer r.Close()
		return r.RemoveAll(rel)
	}
	if err == unix.ENOENT {
		return nil
	}
	if err != nil {
		return &os.PathError{Op: "remove", Path: rel, Err: err}
	}
	return nil
}

func (a *applier) entry(hdr *tar.Header, tr *tar.Reader) error {
	name, err := CleanName(hdr.Name)
	if err != nil {
		return err
	}
	if name == "" {
		if hdr.Typeflag == tar.TypeDir && !a.opts.KeepRoot {
			return a.meta(a.root, "", "", hdr)
		}
		return nil
	}
	parent, base := split(name)
	if strings.HasPrefix(base, WhiteoutPrefix) && a.opts.Whiteouts != WhiteoutNone {
		return a.whiteout(parent, base)
	}
	pfd, err := a.openDir(parent, true)
	if err != nil {
		return err
	}
	if a.unpacked != nil {
		a.unpacked[name] = struct{}{}
	}
	for try := 0; ; try++ {
		err = a.create(pfd, base, name, hdr, tr)
		if err != unix.EEXIST || try > 0 {
			break
		}
		var st unix.Stat_t
		if err := unix.Fstatat(pfd, base, &st, unix.AT_SYMLINK_NOFOLLOW); err != nil {
			return &os.PathError{Op: "stat", Path: name, Err: err}
		}
		isDir := st.Mode&unix.S_IFMT == unix.S_IFDIR
		if hdr.Typeflag == tar.TypeDir && isDir {
			err = nil
			break
		}
		if a.opts.NoOverwriteDirNonDir && isDir != (hdr.Typeflag == tar.TypeDir) {
			if isDir {
				return errdefs.InvalidParameter(fmt.Sprintf("cannot overwrite directory %q with non-directory", name))
			}
			return errdefs.InvalidParameter(fmt.Sprintf("cannot overwrite non-directory %q with directory", name))
		}
		if hdr.Typeflag == tar.TypeLink {
			if target, lerr := CleanName(hdr.Linkname); lerr == nil && target == name {
				return nil
			}
		}
		if err := a.remove(pfd, base, name); err != nil {
			return err
		}
		if pfd, err = a.openDir(parent, true); err != nil {
			return err
		}
	}
	if err != nil {
		if errno, ok := err.(unix.Errno); ok {
			return &os.PathError{Op: "create", Path: name, Err: errno}
		}
		return err
	}
	if hdr.Typeflag == tar.TypeLink {
		return nil
	}
	return a.meta(pfd, base, name, hdr)
}

// create makes the entry; a unix.EEXIST result means the name is taken.
func (a *applier) create(pfd int, base, name string, hdr *tar.Header, tr *tar.Reader) error {
	switch hdr.Typeflag {
	case tar.TypeDir:
		return unix.Mkdirat(pfd, base, 0o700)
	case tar.TypeReg, tar.TypeRegA, tar.TypeGNUSparse:
		fd, err := unix.Openat(pfd, base, unix.O_WRONLY|unix.O_CREAT|unix.O_EXCL|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0o600)
		if err != nil {
			return err
		}
		err = a.copy(fd, tr, name)
		if cerr := unix.Close(fd); err == nil && cerr != nil {
			err = &os.PathError{Op: "close", Path: name, Err: cerr}
		}
		return err
	case tar.TypeSymlink:
		return unix.Symlinkat(hdr.Linkname, pfd, base)
	case tar.TypeLink:
		target, err := CleanName(hdr.Linkname)
		if err != nil {
			return err
		}
		if target == "" {
			return errdefs.InvalidParameter(fmt.Sprintf("invalid layer: hardlink %q to the root", name))
		}
		tparent, tbase := split(target)
		tfd, err := a.openDir(tparent, false)
		if err != nil {
			return fmt.Errorf("hardlink %q: %w", name, err)
		}
		if err := unix.Linkat(tfd, tbase, pfd, base, 0); err != nil {
			if err == unix.EEXIST {
				return err
			}
			return fmt.Errorf("hardlink %q to %q: %w", name, target, err)
		}
		return nil
	case tar.TypeChar, tar.TypeBlock, tar.TypeFifo:
		mode := uint32(hdr.Mode) & 0o7777
		switch hdr.Typeflag {
		case tar.TypeChar:
			mode |= unix.S_IFCHR
		case tar.TypeBlock:
			mode |= unix.S_IFBLK
		default:
			mode |= unix.S_IFIFO
		}
		return unix.Mknodat(pfd, base, mode, int(unix.Mkdev(uint32(hdr.Devmajor), uint32(hdr.Devminor))))
	case tar.TypeXGlobalHeader:
		return nil
	}
	return errdefs.InvalidParameter(fmt.Sprintf("invalid layer: %q has unsupported tar entry type %q", name, hdr.Typeflag))
}

func (a *applier) copy(fd int, r io.Reader, name string) error {
	for {
		n, err := r.Read(a.buf)
		for off := 0; off < n; {
			w, werr := unix.Write(fd, a.buf[off:n])
			if werr == unix.EINTR {
				continue
			}
			if werr != nil {
				return &os.PathError{Op: "write", Path: name, Err: werr}
			}
			off += w
		}
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return fmt.Errorf("read layer: %w", err)
		}
	}
}

// meta applies ownership, mode, xattrs and times of hdr to base in pfd ("" with pfd =
// root means the root itself).
func (a *applier) meta(pfd int, base, name string, hdr *tar.Header) error {
	flags := unix.AT_SYMLINK_NOFOLLOW
	if base == "" {
		flags = unix.AT_EMPTY_PATH
	}
	if a.chown {
		uid, gid := hdr.Uid, hdr.Gid
		if o := a.opts.Owner; o != nil {
			uid, gid = o.UID, o.GID
		}
		if err := unix.Fchownat(pfd, base, uid, gid, flags); err != nil {
			return &os.PathError{Op: "chown", Path: name, Err: err}
		}
	}
	if hdr.Typeflag != tar.TypeSymlink {
		// After chown, which clears set-id bits.
		p := base
		if p == "" {
			p = a.dir
		}
		if err := unix.Fchmodat(pfd, p, uint32(hdr.Mode)&0o7777, 0); err != nil {
			return &os.PathError{Op: "chmod", Path: name, Err: err}
		}
	}
	for k, v := range hdr.PAXRecords {
		xname, ok := strings.CutPrefix(k, "SCHILY.xattr.")
		if !ok || strings.HasPrefix(xname, "trusted.overlay.") {
			continue
		}
		var err error
		if base == "" {
			err = unix.Fsetxattr(pfd, xname, []byte(v), 0)
		} else {
			err = unix.Lsetxattr(a.procPath(pfd, base), xname, []byte(v), 0)
		}
		if err != nil && err != unix.ENOTSUP && err != unix.EPERM {
			return &os.PathError{Op: "setxattr " + xname, Path: name, Err: err}
		}
	}
	atime := hdr.AccessTime
	if atime.IsZero() {
		atime = hdr.ModTime
	}
	if hdr.Typeflag == tar.TypeDir {
		a.times = append(a.times, dirTime{name: name, atime: atime, mtime: hdr.ModTime})
		return nil
	}
	ts := []unix.Timespec{unix.NsecToTimespec(atime.UnixNano()), unix.NsecToTimespec(hdr.ModTime.UnixNano())}
	if err := unix.UtimesNanoAt(pfd, base, ts, unix.AT_SYMLINK_NOFOLLOW); err != nil {
		return &os.PathError{Op: "chtimes", Path: name, Err: err}
	}
	return nil
}

// procPath names base inside the directory fd without resolving the directory again.
func (a *applier) procPath(fd int, base string) string {
	return "/proc/self/fd/" + strconv.Itoa(fd) + "/" + base
}

func (a *applier) whiteout(parent, base string) error {
	pfd, err := a.openDir(parent, true)
	if err != nil {
		return err
	}
	if base == WhiteoutOpaque {
		if a.opts.Whiteouts == WhiteoutOverlay {
			if err := unix.Fsetxattr(pfd, overlayOpaque, []byte("y"), 0); err != nil {
				return &os.PathError{Op: "setxattr " + overlayOpaque, Path: parent, Err: err}
			}
			return nil
		}
		return a.clearDir(parent)
	}
	if strings.HasPrefix(base, whiteoutMeta) {
		return nil
	}
	target := base[len(WhiteoutPrefix):]
	if target == "" || target == "." || target == ".." {
		return errdefs.InvalidParameter(fmt.Sprintf("invalid layer: bad whiteout %q", path.Join(parent, base)))
	}
	rel := path.Join(parent, target)
	if err := a.remove(pfd, target, rel); err != nil {
		return err
	}
	if a.opts.Whiteouts == WhiteoutDelete {
		return nil
	}
	if pfd, err = a.openDir(parent, true); err != nil {
		return err
	}
	if err := unix.Mknodat(pfd, target, unix.S_IFCHR, 0); err != nil {
		return &os.PathError{Op: "whiteout", Path: rel, Err: err}
	}
	return nil
}

// clearDir removes what dir holds that this layer did not write (an opaque marker
// applied onto a merged tree).
func (a *applier) clearDir(dir string) error {
	a.flush()
	r, err := os.OpenRoot(a.dir)
	if err != nil {
		return err
	}
	defer r.Close()
	d := dir
	if d == "" {
		d = "."
	}
	f, err := r.Open(d)
	if err != nil {
		return err
	}
	names, err := f.Readdirnames(-1)
	f.Close()
	if err != nil {
		return err
	}
	for _, n := range names {
		rel := path.Join(dir, n)
		if _, ok := a.unpacked[rel]; !ok {
			if err := r.RemoveAll(rel); err != nil {
				return err
			}
		}
	}
	return nil
}

// finish sets directory times, deepest first, now that their contents are written.
func (a *applier) finish() error {
	for i := len(a.times) - 1; i >= 0; i-- {
		t := a.times[i]
		ts := []unix.Timespec{unix.NsecToTimespec(t.atime.UnixNano()), unix.NsecToTimespec(t.mtime.UnixNano())}
		var err error
		if t.name == "" {
			err = unix.UtimesNanoAt(unix.AT_FDCWD, a.dir, ts, 0)
		} else {
			parent, base := split(t.name)
			var pfd int
			if pfd, err = a.openDir(parent, false); err == nil {
				err = unix.UtimesNanoAt(pfd, base, ts, unix.AT_SYMLINK_NOFOLLOW)
			}
		}
		if err != nil && !errors.Is(err, unix.ENOENT) {
			return fmt.Errorf("set times of %q: %w", t.name, err)
		}
	}
	return nil
}
