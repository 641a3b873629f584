package daemon

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/berth-dev/berth/archive"
	"github.com/berth-dev/berth/errdefs"
	"github.com/berth-dev/berth/runtime"
	"github.com/berth-dev/berth/snapshot"
	securejoin "github.com/cyphar/filepath-securejoin"
	pathrs "github.com/cyphar/filepath-securejoin/pathrs-lite"
	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/events"
	"golang.org/x/sys/unix"
)

// excludedChange reports the paths whose changes are the engine's, not the
// container's: mount points of the runtime's /dev, /proc and /sys and of the
// container's hostname, hosts and resolv.conf. diff and commit leave them out.
func excludedChange(p string) bool {
	switch p {
	case "dev", "proc", "sys", "etc/hostname", "etc/hosts", "etc/resolv.conf", ".dockerenv":
		return true
	}
	return strings.HasPrefix(p, "dev/") || strings.HasPrefix(p, "proc/") || strings.HasPrefix(p, "sys/")
}

// etcFiles are the files the container's own copies of are bind-mounted over the image's.
var etcFiles = []string{"hostname", "hosts", "resolv.conf"}

// Changes lists what the container changed in its filesystem (docker diff), read from
// its writable layer whether it runs or not.
func (d *Daemon) Changes(ctx context.Context, ref string) ([]container.FilesystemChange, error) {
	c, err := d.lookup(ref)
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	mounts := c.RootfsMounts
	c.mu.Unlock()
	upper, err := snapshot.WritableDir(mounts)
	if err != nil {
		return nil, err
	}
	changes, err := archive.Changes(ctx, upper, archive.DiffOptions{Lower: snapshot.LowerDirs(mounts), Exclude: excludedChange})
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, errdefs.NotFound("No such container: " + ref)
		}
		return nil, err
	}
	out := make([]container.FilesystemChange, len(changes))
	for i, ch := range changes {
		out[i] = container.FilesystemChange{Path: ch.Path, Kind: container.ChangeType(ch.Kind)}
	}
	return out, nil
}

// fsView is a container's root filesystem opened for one operation: the live rootfs
// of a running container, or the container's snapshot mounted for the operation
// alone. Paths are resolved inside it only, symlinks included.
type fsView struct {
	c     *Container
	ref   string
	root  *os.File                  // O_PATH handle on the root
	subst map[archive.FileID]string // files the runtime bind-mounts over the rootfs
}

// openView opens the root filesystem of c; write asks for a writable one. Close it.
func (d *Daemon) openView(c *Container, ref string, write bool) (*fsView, error) {
	c.mu.Lock()
	if c.removing || c.State.Status == container.StateRemoving {
		c.mu.Unlock()
		return nil, errdefs.Conflict(fmt.Sprintf("container %s is marked for removal", ref))
	}
	running, mounts, dir := c.running(), c.RootfsMounts, c.Dir
	c.mu.Unlock()
	var root *os.File
	if running {
		h, err := snapshot.OpenMounted(filepath.Join(dir, "rootfs"))
		if err != nil && !errdefs.IsNotFound(err) {
			return nil, err
		}
		root = h // nil when the container stopped meanwhile
	}
	if root == nil {
		m := mounts
		if !write {
			m = snapshot.ReadOnly(mounts)
		}
		h, err := snapshot.MountPrivate(d.cfg.ExecRoot, m)
		if err != nil {
			return nil, fmt.Errorf("mount rootfs of %s: %w", shortID(c.ID), err)
		}
		root = h
	}
	v := &fsView{c: c, ref: ref, root: root, subst: map[archive.FileID]string{}}
	// What a process in the container sees at /etc/hostname & co. is the container's
	// own file, as soon as it has one (docker cp shows it too, running or not).
	for _, f := range etcFiles {
		host := filepath.Join(dir, f)
		if _, err := os.Lstat(host); err != nil {
			continue
		}
		h, err := pathrs.OpenatInRoot(root, "/etc/"+f)
		if err != nil {
			continue
		}
		var st unix.Stat_t
		if unix.Fstat(int(h.Fd()), &st) == nil && st.Mode&unix.S_IFMT == unix.S_IFREG {
			v.subst[archive.StatID(&st)] = host
		}
		h.Close()
	}
	return v, nil
}

func (v *fsView) Close() error { return v.root.Close() }

// fdPath names the file of handle f through /proc, whatever namespace it lives in.
func fdPath(f *os.File) string { return "/proc/self/fd/" + strconv.Itoa(int(f.Fd())) }

func (v *fsView) notFound(p string) error {
	return errdefs.NotFound(fmt.Sprintf("Could not find the file %s in container %s", p, v.ref))
}

// pathErr maps a failed lookup of the user's path p.
func (v *fsView) pathErr(p string, err error) error {
	switch {
	case errors.Is(err, unix.ENOENT), errors.Is(err, unix.ENOTDIR):
		return v.notFound(p)
	case errors.Is(err, unix.ELOOP):
		return errdefs.InvalidParameter(fmt.Sprintf("too many levels of symbolic links in %s", p))
	}
	return err
}

// absPath is p made absolute in the container, keeping a trailing "/" or "/." (they
// mean the directory itself), as docker does.
func absPath(p string) string {
	abs := path.Join("/", p)
	if path.Base(p) == "." && path.Base(abs) != "." {
		if !strings.HasSuffix(abs, "/") {
			abs += "/"
		}
		abs += "."
	}
	if strings.HasSuffix(p, "/") && !strings.HasSuffix(abs, "/") {
		abs += "/"
	}
	return abs
}

// target is a resolved container path: its directory, resolved with every symlink
// followed inside the root, and its last element, not followed ("" for the directory
// itself).
type target struct {
	abs  string // the absolute form of the user's path
	dir  *os.File
	base string
	st   unix.Stat_t // of the target itself (a symlink is not followed)
}

func (v *fsView) lookup(p string) (*target, error) {
	t := &target{abs: absPath(p)}
	dirPart, base := path.Split(t.abs)
	if base == "." {
		base = ""
	}
	h, err := pathrs.OpenatInRoot(v.root, dirPart)
	if err != nil {
		return nil, v.pathErr(p, err)
	}
	t.dir, t.base = h, base
	if base == "" {
		err = unix.Fstat(int(h.Fd()), &t.st)
	} else {
		err = unix.Fstatat(int(h.Fd()), base, &t.st, unix.AT_SYMLINK_NOFOLLOW)
	}
	if err != nil {
		h.Close()
		return nil, v.pathErr(p, err)
	}
	return t, nil
}

// name is the name docker gives the target in a stat and as an archive's root.
func (t *target) name() string {
	return filepath.Base(t.abs)
}

// stat returns the target's docker PathStat.
func (v *fsView) stat(t *target) (container.PathStat, error) {
	st := t.st
	if host, ok := v.subst[archive.StatID(&st)]; ok && st.Mode&unix.S_IFMT == unix.S_IFREG {
		if err := unix.Stat(host, &st); err != nil {
			return container.PathStat{}, err
		}
	}
	ps := container.PathStat{
		Name:  t.name(),
		Size:  st.Size,
		Mode:  fileMode(st.Mode),
		Mtime: time.Unix(st.Mtim.Unix()),
	}
	if st.Mode&unix.S_IFMT == unix.S_IFLNK {
		// The link fully resolved inside the container, as an absolute container path.
		rootPath := fdPath(v.root)
		full, err := securejoin.SecureJoin(rootPath, t.abs)
		if err != nil {
			return container.PathStat{}, err
		}
		rel, err := filepath.Rel(rootPath, full)
		if err != nil {
			return container.PathStat{}, err
		}
		ps.LinkTarget = path.Join("/", filepath.ToSlash(rel))
	}
	return ps, nil
}

// fileMode converts a stat mode to Go's FileMode, as os.Lstat does.
func fileMode(m uint32) os.FileMode {
	fm := os.FileMode(m & 0o777)
	switch m & unix.S_IFMT {
	case unix.S_IFDIR:
		fm |= os.ModeDir
	case unix.S_IFLNK:
		fm |= os.ModeSymlink
	case unix.S_IFCHR:
		fm |= os.ModeDevice | os.ModeCharDevice
	case unix.S_IFBLK:
		fm |= os.ModeDevice
	case unix.S_IFIFO:
		fm |= os.ModeNamedPipe
	case unix.S_IFSOCK:
		fm |= os.ModeSocket
	}
	if m&unix.S_ISUID != 0 {
		fm |= os.ModeSetuid
	}
	if m&unix.S_ISGID != 0 {
		fm |= os.ModeSetgid
	}
	if m&unix.S_ISVTX != 0 {
		fm |= os.ModeSticky
	}
	return fm
}

// StatPath describes a path of the container (HEAD /containers/{id}/archive). The
// last element of the path is not followed if it is a symlink.
func (d *Daemon) StatPath(ctx context.Context, ref, p string) (container.PathStat, error) {
	c, err := d.lookup(ref)
	if err != nil {
		return container.PathStat{}, err
	}
	v, err := d.openView(c, ref, false)
	if err != nil {
		return container.PathStat{}, err
	}
	defer v.Close()
	t, err := v.lookup(p)
	if err != nil {
		return container.PathStat{}, err
	}
	defer t.dir.Close()
	return v.stat(t)
}

// PathArchive is a container path or filesystem ready to be streamed as a tar archive.
// Close releases it.
type PathArchive struct {
	Stat container.PathStat
	view *fsView
	dir  *os.File
	opts archive.TarOptions
}

// WriteTo streams the archive to w.
func (a *PathArchive) WriteTo(ctx context.Context, w io.Writer) error {
	return archive.WriteTar(ctx, w, fdPath(a.dir), a.opts)
}

// Close releases the container's filesystem.
func (a *PathArchive) Close() error {
	if a.dir != a.view.root {
		a.dir.Close()
	}
	return a.view.Close()
}

// ArchivePath opens a path of the container for archiving as docker cp does (GET
// /containers/{id}/archive): a directory is archived under its base name ("dir/…"),
// or as "./…" when the path ends in "/."; a symlink as itself.
func (d *Daemon) ArchivePath(ctx context.Context, ref, p string) (*PathArchive, error) {
	c, err := d.lookup(ref)
	if err != nil {
		return nil, err
	}
	v, err := d.openView(c, ref, false)
	if err != nil {
		return nil, err
	}
	t, err := v.lookup(p)
	if err != nil {
		v.Close()
		return nil, err
	}
	st, err := v.stat(t)
	if err != nil {
		t.dir.Close()
		v.Close()
		return nil, err
	}
	a := &PathArchive{Stat: st, view: v, dir: t.dir, opts: archive.TarOptions{Entry: t.base, Name: t.name(), Substitute: v.subst}}
	d.emit(c, events.ActionArchivePath, nil)
	return a, nil
}

// Export opens the container's whole filesystem for archiving (docker export): the
// image's layers merged with the container's changes, no whiteouts.
func (d *Daemon) Export(ctx context.Context, ref string) (*PathArchive, error) {
	c, err := d.lookup(ref)
	if err != nil {
		return nil, err
	}
	v, err := d.openView(c, ref, false)
	if err != nil {
		return nil, err
	}
	d.emit(c, events.ActionExport, nil)
	return &PathArchive{view: v, dir: v.root}, nil
}

// ExtractOptions tune ExtractToDir.
type ExtractOptions struct {
	// NoOverwriteDirNonDir refuses to replace a directory with a non-directory and
	// the reverse.
	NoOverwriteDirNonDir bool
	// CopyUIDGID gives every extracted file the container user's uid and gid.
	CopyUIDGID bool
}

// ExtractToDir unpacks the tar stream r into the directory p of the container (PUT
// /containers/{id}/archive). p is resolved inside the container, a final symlink
// included; no entry is written outside the container's root.
func (d *Daemon) ExtractToDir(ctx context.Context, ref, p string, r io.Reader, o ExtractOptions) error {
	c, err := d.lookup(ref)
	if err != nil {
		return err
	}
	c.mu.Lock()
	readonly := c.HostConfig != nil && c.HostConfig.ReadonlyRootfs
	user := ""
	if c.Config != nil {
		user = c.Config.User
	}
	c.mu.Unlock()
	if readonly {
		return errdefs.InvalidParameter("container rootfs is marked read-only")
	}
	v, err := d.openView(c, ref, true)
	if err != nil {
		return err
	}
	defer v.Close()
	h, err := pathrs.OpenatInRoot(v.root, absPath(p))
	if err != nil {
		return v.pathErr(p, err)
	}
	defer h.Close()
	var st unix.Stat_t
	if err := unix.Fstat(int(h.Fd()), &st); err != nil {
		return err
	}
	if st.Mode&unix.S_IFMT != unix.S_IFDIR {
		return errdefs.InvalidParameter("extraction point is not a directory")
	}
	opts := archive.Options{Whiteouts: archive.WhiteoutNone, KeepRoot: true, NoOverwriteDirNonDir: o.NoOverwriteDirNonDir}
	if o.CopyUIDGID && user != "" {
		u, err := runtime.ResolveUser(fdPath(v.root), user)
		if err != nil {
			return err
		}
		opts.Owner = &archive.Owner{UID: int(u.UID), GID: int(u.GID)}
	}
	if _, err := archive.Apply(ctx, fdPath(h), r, opts); err != nil {
		return err
	}
	d.emit(c, events.ActionExtractToDir, nil)
	return nil
}
