package cli

import (
	"archive/tar"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// Errors of preparing a copy, worded like docker's.
var (
	errNotDirectory  = errors.New("not a directory")
	errDirNotExists  = errors.New("no such directory")
	errCannotCopyDir = errors.New("cannot copy directory")
)

// copyInfo describes the source or destination of a copy (docker's archive.CopyInfo).
type copyInfo struct {
	Path       string
	Exists     bool
	IsDir      bool
	RebaseName string // name the source's base takes in the archive, when it differs
}

// hasTrailingSeparator reports whether p ends with "/".
func hasTrailingSeparator(p string) bool { return strings.HasSuffix(p, "/") }

// specifiesCurrentDir reports whether the last element of p is ".".
func specifiesCurrentDir(p string) bool { return filepath.Base(p) == "." }

// assertsDirectory reports whether p claims to be a directory (ends in "/" or "/.").
func assertsDirectory(p string) bool { return hasTrailingSeparator(p) || specifiesCurrentDir(p) }

// preserveTrailingDotOrSeparator re-adds to cleaned the "/." or "/" that original ended with.
func preserveTrailingDotOrSeparator(cleaned, original string) string {
	if !specifiesCurrentDir(cleaned) && specifiesCurrentDir(original) {
		if !hasTrailingSeparator(cleaned) {
			cleaned += "/"
		}
		cleaned += "."
	}
	if !hasTrailingSeparator(cleaned) && hasTrailingSeparator(original) {
		cleaned += "/"
	}
	return cleaned
}

// splitPathDirEntry splits p into its directory and base, keeping a final "." as the base.
func splitPathDirEntry(p string) (dir, base string) {
	cleaned := filepath.Clean(p)
	if specifiesCurrentDir(p) {
		cleaned += "/."
	}
	return filepath.Dir(cleaned), filepath.Base(cleaned)
}

// rebaseName returns resolved with p's trailing "/." or "/" kept, and the name the archive
// entry must take when following links changed the base name.
func rebaseName(p, resolved string) (string, string) {
	if specifiesCurrentDir(p) && !specifiesCurrentDir(resolved) {
		resolved += "/."
	}
	if hasTrailingSeparator(p) && !hasTrailingSeparator(resolved) {
		resolved += "/"
	}
	if filepath.Base(p) != filepath.Base(resolved) {
		return resolved, filepath.Base(p)
	}
	return resolved, ""
}

// localSourceInfo stats a local copy source. Links in the parent path are resolved; the last
// element is followed only with followLink.
func localSourceInfo(p string, followLink bool) (copyInfo, error) {
	var resolved, rebase string
	if followLink {
		r, err := filepath.EvalSymlinks(p)
		if err != nil {
			return copyInfo{}, err
		}
		resolved, rebase = rebaseName(p, r)
	} else {
		dir, base := filepath.Split(p)
		rdir, err := filepath.EvalSymlinks(dir)
		if err != nil {
			return copyInfo{}, err
		}
		resolved = rdir + "/" + base
		if hasTrailingSeparator(p) && filepath.Base(p) != filepath.Base(resolved) {
			rebase = filepath.Base(p)
		}
	}
	st, err := os.Lstat(resolved)
	if err != nil {
		return copyInfo{}, err
	}
	return copyInfo{Path: resolved, Exists: true, IsDir: st.IsDir(), RebaseName: rebase}, nil
}

// localDestInfo stats a local copy destination, following links at its end. A missing
// destination is fine when its parent directory exists.
func localDestInfo(p string) (copyInfo, error) {
	st, err := os.Lstat(p)
	for n := 0; err == nil && st.Mode()&os.ModeSymlink != 0; n++ {
		if n > 10 {
			return copyInfo{}, errors.New("too many symlinks in " + p)
		}
		target, err2 := os.Readlink(p)
		if err2 != nil {
			return copyInfo{}, err2
		}
		if !filepath.IsAbs(target) {
			dir, _ := splitPathDirEntry(p)
			target = filepath.Join(dir, target)
		}
		p = target
		st, err = os.Lstat(p)
	}
	if err != nil {
		if !errors.Is(err, fs.ErrNotExist) {
			return copyInfo{}, err
		}
		dir, _ := splitPathDirEntry(p)
		pst, err := os.Stat(dir)
		if err != nil {
			return copyInfo{}, err
		}
		if !pst.IsDir() {
			return copyInfo{}, errNotDirectory
		}
		return copyInfo{Path: p}, nil
	}
	return copyInfo{Path: p, Exists: true, IsDir: st.IsDir()}, nil
}

// prepareArchiveCopy decides where an archive of src must be extracted so that it lands at
// dst with docker's cp semantics, renaming the archive's top entry when needed.
func prepareArchiveCopy(content io.Reader, src, dst copyInfo) (string, io.ReadCloser, error) {
	dstDir, dstBase := splitPathDirEntry(dst.Path)
	_, srcBase := splitPathDirEntry(src.Path)
	if src.RebaseName != "" {
		srcBase = src.RebaseName
	}
	switch {
	case dst.Exists && dst.IsDir:
		return dst.Path, io.NopCloser(content), nil
	case dst.Exists && src.IsDir:
		return "", nil, errCannotCopyDir
	case !dst.Exists && !src.IsDir && assertsDirectory(dst.Path):
		return "", nil, errDirNotExists
	}
	return dstDir, rebaseArchive(content, srcBase, dstBase), nil
}

// rebaseEntry renames an archive entry whose first element is oldBase to start with newBase.
// An old base of "." also takes entries without a "./" prefix (its children).
func rebaseEntry(name, oldBase, newBase string) string {
	if oldBase == "." {
		rest := strings.TrimPrefix(strings.TrimPrefix(name, "./"), "/")
		if rest == "." || rest == "" {
			return newBase
		}
		return newBase + "/" + rest
	}
	rest, ok := strings.CutPrefix(name, oldBase)
	if !ok || (rest != "" && rest[0] != '/') {
		return name
	}
	return newBase + rest
}

// rebaseArchive streams content with its entries renamed from oldBase to newBase.
func rebaseArchive(content io.Reader, oldBase, newBase string) io.ReadCloser {
	oldBase = strings.TrimRight(oldBase, "/")
	newBase = strings.TrimRight(newBase, "/")
	pr, pw := io.Pipe()
	go func() {
		tr := tar.NewReader(content)
		tw := tar.NewWriter(pw)
		for {
			hdr, err := tr.Next()
			if errors.Is(err, io.EOF) {
				pw.CloseWithError(tw.Close())
				return
			}
			if err != nil {
				pw.CloseWithError(err)
				return
			}
			hdr.Format = tar.FormatPAX // names may grow past USTAR's limits
			hdr.Name = rebaseEntry(hdr.Name, oldBase, newBase)
			if hdr.Typeflag == tar.TypeLink {
				hdr.Linkname = rebaseEntry(hdr.Linkname, oldBase, newBase)
			}
			if err := tw.WriteHeader(hdr); err != nil {
				pw.CloseWithError(err)
				return
			}
			if _, err := io.Copy(tw, tr); err != nil {
				pw.CloseWithError(err)
				return
			}
		}
	}()
	return pr
}

// tarResource streams a tar archive of the local file or directory src.Path; its top entry
// is named after the path's base (or src.RebaseName), and "dir/." archives dir's contents.
func tarResource(src copyInfo) (io.ReadCloser, error) {
	if _, err := os.Lstat(src.Path); err != nil {
		return nil, err
	}
	dir, base := splitPathDirEntry(src.Path)
	top := base
	if src.RebaseName != "" {
		top = src.RebaseName
	}
	pr, pw := io.Pipe()
	go func() {
		tw := tar.NewWriter(pw)
		links := map[[2]uint64]string{}
		root := filepath.Join(dir, base)
		err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			rel, err := filepath.Rel(root, p)
			if err != nil {
				return err
			}
			name := top
			if rel != "." {
				name = top + "/" + filepath.ToSlash(rel)
			}
			return addTarEntry(tw, p, name, links)
		})
		if err == nil {
			err = tw.Close()
		}
		pw.CloseWithError(err)
	}()
	return pr, nil
}

// addTarEntry writes the file at p to tw as name; a file seen before under another name
// (same device and inode) becomes a hard link. Sockets are skipped.
func addTarEntry(tw *tar.Writer, p, name string, links map[[2]uint64]string) error {
	fi, err := os.Lstat(p)
	if err != nil {
		return err
	}
	if fi.Mode()&os.ModeSocket != 0 {
		return nil
	}
	var link string
	if fi.Mode()&os.ModeSymlink != 0 {
		if link, err = os.Readlink(p); err != nil {
			return err
		}
	}
	hdr, err := tar.FileInfoHeader(fi, link)
	if err != nil {
		return err
	}
	hdr.Name = name
	if fi.IsDir() && !strings.HasSuffix(hdr.Name, "/") {
		hdr.Name += "/"
	}
	hdr.Uname, hdr.Gname = "", ""
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		hdr.Uid, hdr.Gid = int(st.Uid), int(st.Gid)
		if fi.Mode().IsRegular() && st.Nlink > 1 {
			key := [2]uint64{uint64(st.Dev), st.Ino}
			if first, ok := links[key]; ok {
				hdr.Typeflag, hdr.Linkname, hdr.Size = tar.TypeLink, first, 0
			} else {
				links[key] = name
			}
		}
	}
	if err := tw.WriteHeader(hdr); err != nil {
		return err
	}
	if hdr.Typeflag != tar.TypeReg || hdr.Size == 0 {
		return nil
	}
	f, err := os.Open(p)
	if err != nil {
		return err
	}
	defer f.Close()
	_, err = io.CopyN(tw, f, hdr.Size)
	return err
}

// copyTo extracts content, an archive of src, so that it lands at the local dstPath.
func copyTo(content io.Reader, src copyInfo, dstPath string) error {
	dst, err := localDestInfo(dstPath)
	if err != nil {
		return err
	}
	dir, archive, err := prepareArchiveCopy(content, src, dst)
	if err != nil {
		return err
	}
	defer archive.Close()
	return untar(archive, dir)
}

// untar extracts a tar stream under dir, never outside it (all access goes through an
// os.Root), refusing to replace a directory by a non-directory or the reverse. Files get
// the archive's modes and times but stay owned by us, like docker cp's local side.
func untar(r io.Reader, dir string) error {
	root, err := os.OpenRoot(dir)
	if err != nil {
		return err
	}
	defer root.Close()
	type dirTimes struct {
		name  string
		mtime time.Time
	}
	var dirs []dirTimes
	tr := tar.NewReader(r)
	for {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return err
		}
		if hdr.Typeflag == tar.TypeXGlobalHeader {
			continue
		}
		name := path.Clean(strings.TrimLeft(hdr.Name, "/"))
		if name == "." {
			continue
		}
		if !filepath.IsLocal(name) {
			return fmt.Errorf("invalid entry name %q", hdr.Name)
		}
		if parent := path.Dir(name); parent != "." {
			if err := root.MkdirAll(parent, 0o755); err != nil {
				return err
			}
		}
		if fi, err := root.Lstat(name); err == nil {
			isDir := hdr.Typeflag == tar.TypeDir
			switch {
			case fi.IsDir() && !isDir:
				return fmt.Errorf("cannot overwrite directory %q with non-directory %q", name, dir)
			case !fi.IsDir() && isDir:
				return fmt.Errorf("cannot overwrite non-directory %q with directory %q", name, dir)
			case !fi.IsDir():
				if err := root.Remove(name); err != nil {
					return err
				}
			}
		}
		mode := hdr.FileInfo().Mode()
		switch hdr.Typeflag {
		case tar.TypeDir:
			if err := root.Mkdir(name, 0o700); err != nil && !errors.Is(err, fs.ErrExist) {
				return err
			}
			if err := root.Chmod(name, mode&(os.ModePerm|os.ModeSetuid|os.ModeSetgid|os.ModeSticky)); err != nil {
				return err
			}
			dirs = append(dirs, dirTimes{name, hdr.ModTime})
			continue
		case tar.TypeReg, tar.TypeRegA:
			f, err := root.OpenFile(name, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
			if err != nil {
				return err
			}
			_, err = io.Copy(f, tr)
			if cerr := f.Close(); err == nil {
				err = cerr
			}
			if err != nil {
				return err
			}
		case tar.TypeSymlink:
			// The link is stored as is; the os.Root keeps us from following it out of dir.
			if err := root.Symlink(hdr.Linkname, name); err != nil {
				return err
			}
			if err := lutimes(root, name, hdr.ModTime); err != nil {
				return err
			}
			continue
		case tar.TypeLink:
			target := path.Clean(strings.TrimLeft(hdr.Linkname, "/"))
			if !filepath.IsLocal(target) {
				return fmt.Errorf("invalid hardlink %q -> %q", hdr.Name, hdr.Linkname)
			}
			if err := root.Link(target, name); err != nil {
				return err
			}
			continue
		case tar.TypeChar, tar.TypeBlock, tar.TypeFifo:
			if err := mknod(root, name, hdr); err != nil {
				return err
			}
		default:
			continue // unsupported types are skipped, as docker does
		}
		if err := root.Chmod(name, mode&(os.ModePerm|os.ModeSetuid|os.ModeSetgid|os.ModeSticky)); err != nil {
			return err
		}
		if err := root.Chtimes(name, hdr.AccessTime, hdr.ModTime); err != nil {
			return err
		}
	}
	// Directory times last: creating their entries changed them.
	for i := len(dirs) - 1; i >= 0; i-- {
		if err := root.Chtimes(dirs[i].name, dirs[i].mtime, dirs[i].mtime); err != nil {
			return err
		}
	}
	return nil
}

// inParent runs f with a descriptor of name's parent directory inside root and name's base.
func inParent(root *os.Root, name string, f func(dirfd int, base string) error) error {
	d, err := root.Open(path.Dir(name))
	if err != nil {
		return err
	}
	defer d.Close()
	return f(int(d.Fd()), path.Base(name))
}

func mknod(root *os.Root, name string, hdr *tar.Header) error {
	mode := uint32(hdr.Mode & 0o7777)
	switch hdr.Typeflag {
	case tar.TypeChar:
		mode |= unix.S_IFCHR
	case tar.TypeBlock:
		mode |= unix.S_IFBLK
	case tar.TypeFifo:
		mode |= unix.S_IFIFO
	}
	dev := unix.Mkdev(uint32(hdr.Devmajor), uint32(hdr.Devminor))
	return inParent(root, name, func(dirfd int, base string) error {
		return unix.Mknodat(dirfd, base, mode, int(dev))
	})
}

func lutimes(root *os.Root, name string, mtime time.Time) error {
	ts := []unix.Timespec{unix.NsecToTimespec(mtime.UnixNano()), unix.NsecToTimespec(mtime.UnixNano())}
	return inParent(root, name, func(dirfd int, base string) error {
		err := unix.UtimesNanoAt(dirfd, base, ts, unix.AT_SYMLINK_NOFOLLOW)
		if errors.Is(err, unix.ENOSYS) || errors.Is(err, unix.ENOTSUP) {
			return nil
		}
		return err
	})
}
