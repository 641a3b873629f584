package archive

import (
	"archive/tar"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// FileID identifies a file by device and inode number.
type FileID struct{ Dev, Ino uint64 }

// StatID returns the FileID of a stat result.
func StatID(st *unix.Stat_t) FileID { return FileID{Dev: st.Dev, Ino: st.Ino} }

// TarOptions tune WriteTar.
type TarOptions struct {
	// Entry, when set, archives only the entry of that name in dir (with its tree)
	// instead of dir itself.
	Entry string
	// Name is the name of the archived root: "foo" gives "foo/", "foo/a", …; "/" gives
	// "/", "/a", …; "" gives no root entry and "a", … (the form of docker export).
	Name string
	// Substitute maps regular files of the tree to host files whose content and
	// metadata are archived in their place (files bind-mounted over them).
	Substitute map[FileID]string
}

// WriteTar writes the tree at dir (or its entry o.Entry) to w as a tar stream. It never
// follows a symlink below dir, leaves out entries that vanish while it runs and skips
// sockets. File capabilities (security.capability) are kept.
func WriteTar(ctx context.Context, w io.Writer, dir string, o TarOptions) error {
	root, err := os.OpenFile(dir, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return err
	}
	defer root.Close()
	t := newTarWriter(ctx, w)
	t.subst = o.Substitute
	if o.Entry == "" {
		prefix := ""
		if o.Name != "" {
			var st unix.Stat_t
			if err := unix.Fstat(int(root.Fd()), &st); err != nil {
				return &os.PathError{Op: "stat", Path: dir, Err: err}
			}
			prefix = dirName(o.Name)
			if err := t.tw.WriteHeader(header(prefix, &st)); err != nil {
				return err
			}
		}
		if err := t.tree(root, prefix); err != nil {
			return err
		}
		return t.tw.Close()
	}
	var st unix.Stat_t
	if err := unix.Fstatat(int(root.Fd()), o.Entry, &st, unix.AT_SYMLINK_NOFOLLOW); err != nil {
		return &os.PathError{Op: "stat", Path: o.Entry, Err: err}
	}
	name := o.Name
	if name == "" {
		name = o.Entry
	}
	if st.Mode&unix.S_IFMT == unix.S_IFDIR {
		sub, err := openDirAt(root, o.Entry)
		if err != nil {
			return err
		}
		defer sub.Close()
		if err := unix.Fstat(int(sub.Fd()), &st); err != nil {
			return err
		}
		prefix := dirName(name)
		if err := t.tw.WriteHeader(header(prefix, &st)); err != nil {
			return err
		}
		if err := t.tree(sub, prefix); err != nil {
			return err
		}
	} else if err := t.file(root, o.Entry, strings.TrimSuffix(name, "/"), &st); err != nil {
		return err
	}
	return t.tw.Close()
}

// dirName is the tar name of a directory called name ("/" stays "/").
func dirName(name string) string {
	return strings.TrimSuffix(name, "/") + "/"
}

type tarWriter struct {
	ctx   context.Context
	tw    *tar.Writer
	buf   []byte
	links map[FileID]string // first name of each multiply-linked file
	subst map[FileID]string
	n     int
}

func newTarWriter(ctx context.Context, w io.Writer) *tarWriter {
	return &tarWriter{ctx: ctx, tw: tar.NewWriter(w), buf: make([]byte, 256<<10), links: map[FileID]string{}}
}

func (t *tarWriter) tick() error {
	t.n++
	if t.n%64 == 0 {
		return t.ctx.Err()
	}
	return nil
}

// gone reports errors of an entry that vanished or changed type while being read.
func gone(err error) bool {
	return errors.Is(err, unix.ENOENT) || errors.Is(err, unix.ENOTDIR) || errors.Is(err, unix.ELOOP)
}

// tree writes the entries below the open directory dir, named prefix+name.
func (t *tarWriter) tree(dir *os.File, prefix string) error {
	names, err := readNames(dir)
	if err != nil {
		return err
	}
	fd := int(dir.Fd())
	for _, n := range names {
		if err := t.tick(); err != nil {
			return err
		}
		var st unix.Stat_t
		if err := unix.Fstatat(fd, n, &st, unix.AT_SYMLINK_NOFOLLOW); err != nil {
			if gone(err) {
				continue
			}
			return &os.PathError{Op: "stat", Path: prefix + n, Err: err}
		}
		if st.Mode&unix.S_IFMT != unix.S_IFDIR {
			if err := t.file(dir, n, prefix+n, &st); err != nil {
				return err
			}
			continue
		}
		sub, err := openDirAt(dir, n)
		if err != nil {
			if gone(err) {
				continue
			}
			return err
		}
		err = unix.Fstat(int(sub.Fd()), &st)
		if err == nil {
			err = t.tw.WriteHeader(header(prefix+n+"/", &st))
		}
		if err == nil {
			err = t.tree(sub, prefix+n+"/")
		}
		sub.Close()
		if err != nil {
			return err
		}
	}
	return nil
}

func readNames(dir *os.File) ([]string, error) {
	names, err := dir.Readdirnames(-1)
	if err != nil {
		return nil, err
	}
	slices.Sort(names)
	return names, nil
}

func openDirAt(dir *os.File, name string) (*os.File, error) {
	fd, err := unix.Openat(int(dir.Fd()), name, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, &os.PathError{Op: "open", Path: name, Err: err}
	}
	return os.NewFile(uintptr(fd), name), nil
}

// header returns the tar header of a file with stat st, without content specifics.
func header(name string, st *unix.Stat_t) *tar.Header {
	h := &tar.Header{
		Name:    name,
		Mode:    int64(st.Mode & 0o7777),
		Uid:     int(st.Uid),
		Gid:     int(st.Gid),
		ModTime: time.Unix(st.Mtim.Sec, 0),
	}
	switch st.Mode & unix.S_IFMT {
	case unix.S_IFDIR:
		h.Typeflag = tar.TypeDir
	case unix.S_IFREG:
		h.Typeflag = tar.TypeReg
		h.Size = st.Size
	case unix.S_IFLNK:
		h.Typeflag = tar.TypeSymlink
	case unix.S_IFCHR:
		h.Typeflag = tar.TypeChar
	case unix.S_IFBLK:
		h.Typeflag = tar.TypeBlock
	case unix.S_IFIFO:
		h.Typeflag = tar.TypeFifo
	}
	if h.Typeflag == tar.TypeChar || h.Typeflag == tar.TypeBlock {
		h.Devmajor, h.Devminor = int64(unix.Major(st.Rdev)), int64(unix.Minor(st.Rdev))
	}
	return h
}

// file writes the non-directory entry base of dir as name.
func (t *tarWriter) file(dir *os.File, base, name string, st *unix.Stat_t) error {
	switch st.Mode & unix.S_IFMT {
	case unix.S_IFSOCK:
		return nil
	case unix.S_IFLNK:
		target, err := readlinkAt(int(dir.Fd()), base)
		if err != nil {
			if gone(err) || errors.Is(err, unix.EINVAL) {
				return nil
			}
			return &os.PathError{Op: "readlink", Path: name, Err: err}
		}
		h := header(name, st)
		h.Linkname = target
		return t.tw.WriteHeader(h)
	case unix.S_IFREG:
		return t.regular(dir, base, name, st)
	}
	return t.tw.WriteHeader(header(name, st))
}

func (t *tarWriter) regular(dir *os.File, base, name string, st *unix.Stat_t) error {
	id := StatID(st)
	if src, ok := t.subst[id]; ok {
		return t.substitute(name, src)
	}
	if st.Nlink > 1 {
		if first, ok := t.links[id]; ok {
			h := header(name, st)
			h.Typeflag, h.Linkname, h.Size = tar.TypeLink, first, 0
			return t.tw.WriteHeader(h)
		}
	}
	fd, err := unix.Openat(int(dir.Fd()), base, unix.O_RDONLY|unix.O_NOFOLLOW|unix.O_NONBLOCK|unix.O_CLOEXEC, 0)
	if err != nil {
		if gone(err) {
			return nil
		}
		return &os.PathError{Op: "open", Path: name, Err: err}
	}
	f := os.NewFile(uintptr(fd), name)
	defer f.Close()
	var now unix.Stat_t
	if err := unix.Fstat(fd, &now); err != nil {
		return err
	}
	if now.Mode&unix.S_IFMT != unix.S_IFREG || StatID(&now) != id {
		return nil // replaced while we looked
	}
	if now.Nlink > 1 {
		t.links[id] = name
	}
	return t.content(header(name, &now), f)
}

// content writes h and exactly h.Size bytes of r: zeros stand in for what a file that
// shrank meanwhile no longer has.
func (t *tarWriter) content(h *tar.Header, f *os.File) error {
	if caps := getCaps(int(f.Fd())); caps != nil {
		h.PAXRecords = map[string]string{"SCHILY.xattr.security.capability": string(caps)}
	}
	if err := t.tw.WriteHeader(h); err != nil {
		return err
	}
	n, err := io.CopyBuffer(t.tw, io.LimitReader(struct{ io.Reader }{f}, h.Size), t.buf)
	if err != nil {
		return fmt.Errorf("archive %s: %w", h.Name, err)
	}
	for n < h.Size {
		clear(t.buf)
		k := min(int64(len(t.buf)), h.Size-n)
		if _, err := t.tw.Write(t.buf[:k]); err != nil {
			return err
		}
		n += k
	}
	return nil
}

// substitute writes the host file src under name.
func (t *tarWriter) substitute(name, src string) error {
	f, err := os.OpenFile(src, os.O_RDONLY|unix.O_NOFOLLOW|unix.O_NONBLOCK|unix.O_CLOEXEC, 0)
	if err != nil {
		return err
	}
	defer f.Close()
	var st unix.Stat_t
	if err := unix.Fstat(int(f.Fd()), &st); err != nil {
		return err
	}
	if st.Mode&unix.S_IFMT != unix.S_IFREG {
		return fmt.Errorf("%s is not a regular file", src)
	}
	return t.content(header(name, &st), f)
}

func getCaps(fd int) []byte {
	var b [64]byte
	n, err := unix.Fgetxattr(fd, "security.capability", b[:])
	if err != nil || n <= 0 {
		return nil
	}
	return append([]byte(nil), b[:n]...)
}

func readlinkAt(dirfd int, name string) (string, error) {
	for size := 256; ; size *= 2 {
		b := make([]byte, size)
		n, err := unix.Readlinkat(dirfd, name, b)
		if err != nil {
			return "", err
		}
		if n < size {
			return string(b[:n]), nil
		}
	}
}
