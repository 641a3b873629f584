package archive

import (
	"archive/tar"
	"context"
	"io"
	"os"
	"path"

	"golang.org/x/sys/unix"
)

// DiffOptions tune WriteDiff and Changes.
type DiffOptions struct {
	// Lower are the read-only layers below the upper directory, top first. They tell
	// added from modified paths, and directories that only hold changes from changed ones.
	Lower []string
	// Exclude reports whether a path (relative, without leading slash) is left out,
	// with everything below it.
	Exclude func(path string) bool
}

// ChangeKind is the kind of a Change, numbered as in Docker's API.
type ChangeKind uint8

// Change kinds.
const (
	ChangeModify ChangeKind = iota
	ChangeAdd
	ChangeDelete
)

// Change is one path that an upper directory adds, modifies or deletes.
type Change struct {
	Path string // absolute, e.g. "/etc/passwd"
	Kind ChangeKind
}

// WriteDiff writes the changes held in the overlayfs upper directory upper as an OCI
// layer tar stream: whiteouts (0:0 character devices) become .wh.<name> entries and an
// opaque directory gets a .wh..wh..opq entry. A directory that exists unchanged in the
// lower layers is written only when something below it is.
func WriteDiff(ctx context.Context, w io.Writer, upper string, o DiffOptions) error {
	t := newTarWriter(ctx, w)
	var stack []pendingDir
	flush := func() error {
		for i := range stack {
			p := &stack[i]
			if p.written {
				continue
			}
			p.written = true
			h := header(p.name+"/", &p.st)
			if err := t.tw.WriteHeader(h); err != nil {
				return err
			}
			if p.opaque {
				if err := t.tw.WriteHeader(&tar.Header{
					Typeflag: tar.TypeReg, Name: p.name + "/" + WhiteoutOpaque,
					Mode: h.Mode & 0o777, Uid: h.Uid, Gid: h.Gid, ModTime: h.ModTime,
				}); err != nil {
					return err
				}
			}
		}
		return nil
	}
	walk := &ovWalker{
		ctx:     ctx,
		exclude: o.Exclude,
		visit: func(e *ovEntry) error {
			if e.isDir() {
				stack = append(stack, pendingDir{name: e.rel, st: e.st, opaque: e.opaque})
				if !e.sameDirAsLower() {
					return flush()
				}
				return nil
			}
			if err := flush(); err != nil {
				return err
			}
			if e.whiteout {
				h := header(path.Join(path.Dir(e.rel), WhiteoutPrefix+e.base), &e.st)
				h.Typeflag, h.Mode, h.Devmajor, h.Devminor = tar.TypeReg, 0o600, 0, 0
				return t.tw.WriteHeader(h)
			}
			return t.file(e.dir, e.base, e.rel, &e.st)
		},
		leave: func(*ovEntry) error {
			stack = stack[:len(stack)-1]
			return nil
		},
	}
	if err := walk.run(upper, o.Lower); err != nil {
		return err
	}
	return t.tw.Close()
}

type pendingDir struct {
	name    string
	st      unix.Stat_t
	opaque  bool
	written bool
}

// Changes lists what the upper directory upper adds, modifies and deletes over the
// lower layers, in path order, as docker diff does: a directory is listed when it is
// new or its mode or owner changed, when something was added or deleted in it, or when
// its mtime changed and something below it is listed.
func Changes(ctx context.Context, upper string, o DiffOptions) ([]Change, error) {
	type frame struct {
		idx           int
		forced, child bool
	}
	var (
		out   []Change
		valid []bool
		stack []frame
	)
	mark := func(kind ChangeKind) {
		if n := len(stack); n > 0 {
			stack[n-1].child = true
			if kind != ChangeModify {
				stack[n-1].forced = true
			}
		}
	}
	walk := &ovWalker{
		ctx:     ctx,
		exclude: o.Exclude,
		visit: func(e *ovEntry) error {
			kind := ChangeAdd
			switch {
			case e.whiteout:
				kind = ChangeDelete
			case e.inLower:
				kind = ChangeModify
			}
			out = append(out, Change{Path: "/" + e.rel, Kind: kind})
			if e.isDir() && !e.whiteout {
				valid = append(valid, false) // decided when leaving
				stack = append(stack, frame{idx: len(out) - 1})
				return nil
			}
			valid = append(valid, true)
			mark(kind)
			return nil
		},
		leave: func(e *ovEntry) error {
			f := stack[len(stack)-1]
			stack = stack[:len(stack)-1]
			mtime := e.inLower && e.st.Mtim != e.lowerSt.Mtim
			if !e.sameDirAsLower() || f.forced || (f.child && mtime) {
				valid[f.idx] = true
				mark(out[f.idx].Kind)
			}
			return nil
		},
	}
	if err := walk.run(upper, o.Lower); err != nil {
		return nil, err
	}
	n := 0
	for i, c := range out {
		if valid[i] {
			out[n] = c
			n++
		}
	}
	return out[:n], nil
}

// ovEntry is one entry of an overlayfs upper directory, with what the lower layers
// hold at its path.
type ovEntry struct {
	rel      string   // relative to the upper directory, without leading slash
	dir      *os.File // the parent directory in the upper directory
	base     string
	st       unix.Stat_t
	whiteout bool // a 0:0 character device: the path is deleted
	opaque   bool // a directory hiding everything below it in the lower layers
	inLower  bool // the path exists in the lower layers
	lowerSt  unix.Stat_t
}

func (e *ovEntry) isDir() bool { return e.st.Mode&unix.S_IFMT == unix.S_IFDIR }

// sameDirAsLower reports whether a directory entry is only there to hold changes: the
// lower layers have a directory with the same mode and owner, and it is not opaque.
func (e *ovEntry) sameDirAsLower() bool {
	return e.inLower && !e.opaque && e.lowerSt.Mode == e.st.Mode &&
		e.lowerSt.Uid == e.st.Uid && e.lowerSt.Gid == e.st.Gid
}

func isWhiteout(st *unix.Stat_t) bool {
	return st.Mode&unix.S_IFMT == unix.S_IFCHR && st.Rdev == 0
}

// ovWalker walks an upper directory in path order, looking each path up in the lower
// layers as overlayfs merges them, without following any symlink.
type ovWalker struct {
	ctx     context.Context
	exclude func(string) bool
	visit   func(*ovEntry) error // every entry, directories before their contents
	leave   func(*ovEntry) error // directories, after their contents
	n       int
}

func (w *ovWalker) run(upper string, lower []string) error {
	root, err := os.OpenFile(upper, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return err
	}
	defer root.Close()
	var lowers []*os.File
	defer func() {
		for _, l := range lowers {
			l.Close()
		}
	}()
	for _, l := range lower {
		f, err := os.OpenFile(l, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
		if err != nil {
			return err
		}
		lowers = append(lowers, f)
	}
	return w.walk(root, "", lowers)
}

func (w *ovWalker) walk(dir *os.File, rel string, lowers []*os.File) error {
	names, err := readNames(dir)
	if err != nil {
		return err
	}
	for _, name := range names {
		w.n++
		if w.n%64 == 0 {
			if err := w.ctx.Err(); err != nil {
				return err
			}
		}
		e := ovEntry{rel: path.Join(rel, name), dir: dir, base: name}
		if w.exclude != nil && w.exclude(e.rel) {
			continue
		}
		if err := unix.Fstatat(int(dir.Fd()), name, &e.st, unix.AT_SYMLINK_NOFOLLOW); err != nil {
			if gone(err) {
				continue
			}
			return &os.PathError{Op: "stat", Path: e.rel, Err: err}
		}
		e.whiteout = isWhiteout(&e.st)
		at := -1
		for i, l := range lowers {
			var st unix.Stat_t
			if err := unix.Fstatat(int(l.Fd()), name, &st, unix.AT_SYMLINK_NOFOLLOW); err != nil {
				if gone(err) {
					continue
				}
				return &os.PathError{Op: "stat", Path: e.rel, Err: err}
			}
			if !isWhiteout(&st) {
				e.inLower, e.lowerSt, at = true, st, i
			}
			break
		}
		if !e.isDir() {
			if err := w.visit(&e); err != nil {
				return err
			}
			continue
		}
		if err := w.dir(&e, lowers, at); err != nil {
			return err
		}
	}
	return nil
}

// dir visits the directory entry e and its contents; lowers[at] holds its path.
func (w *ovWalker) dir(e *ovEntry, lowers []*os.File, at int) error {
	sub, err := openDirAt(e.dir, e.base)
	if err != nil {
		if gone(err) {
			return nil
		}
		return err
	}
	defer sub.Close()
	e.opaque = isOpaque(sub)
	var below []*os.File // the directory in each lower layer it merges with
	defer func() {
		for _, l := range below {
			l.Close()
		}
	}()
	if e.inLower && !e.opaque && e.lowerSt.Mode&unix.S_IFMT == unix.S_IFDIR {
		for _, l := range lowers[at:] {
			var st unix.Stat_t
			if err := unix.Fstatat(int(l.Fd()), e.base, &st, unix.AT_SYMLINK_NOFOLLOW); err != nil {
				if gone(err) {
					continue
				}
				return &os.PathError{Op: "stat", Path: e.rel, Err: err}
			}
			if st.Mode&unix.S_IFMT != unix.S_IFDIR {
				break // a whiteout or a file hides the layers below
			}
			d, err := openDirAt(l, e.base)
			if err != nil {
				return err
			}
			below = append(below, d)
			if isOpaque(d) {
				break
			}
		}
	}
	if err := w.visit(e); err != nil {
		return err
	}
	if err := w.walk(sub, e.rel, below); err != nil {
		return err
	}
	return w.leave(e)
}

func isOpaque(d *os.File) bool {
	var b [1]byte
	n, err := unix.Fgetxattr(int(d.Fd()), overlayOpaque, b[:])
	return err == nil && n == 1 && b[0] == 'y'
}
