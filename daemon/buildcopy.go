package daemon

// COPY, ADD and WORKDIR: steps whose layer is a tar written straight from their sources
// onto the parent image, with no container. Paths are resolved in the parent image's
// filesystem (mounted read-only) as dockerd resolves them in the step container.

import (
	"archive/tar"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"io/fs"
	"net/http"
	"os"
	"path"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/berth-dev/berth/archive"
	"github.com/berth-dev/berth/errdefs"
	"github.com/berth-dev/berth/image"
	"github.com/berth-dev/berth/internal/rawfile"
	"github.com/berth-dev/berth/runtime"
	"github.com/berth-dev/berth/snapshot"
	securejoin "github.com/cyphar/filepath-securejoin"
	"github.com/moby/buildkit/frontend/dockerfile/instructions"
	"github.com/moby/moby/api/types/container"
	"github.com/opencontainers/go-digest"
	"golang.org/x/sys/unix"
)

// tarStep is a step whose layer is a tar written by write, straight from its sources:
// write gets the parent image's root filesystem, read-only ("" for an image without
// layers), to resolve paths, owners and existing directories in. A tar without entries
// adds history but no layer.
func (b *builder) tarStep(ctx context.Context, st *stageState, createdBy, extraKey string, change func(*container.Config), write func(root string, w io.Writer) error) error {
	cfg := cloneConfig(st.cfg)
	if change != nil {
		change(&cfg)
	}
	key := cacheKey(st.img.ID, "layer", createdBy, extraKey, b.argsKey(st))
	return b.cachedStep(ctx, st, key, &cfg, func() (*image.Image, error) {
		root, release, err := b.imageRoot(ctx, st.img)
		if err != nil {
			return nil, err
		}
		defer release()
		// The layer's digest first: when the store already has that layer on this parent
		// chain (a --no-cache rebuild), no file is written (nor deleted again).
		h := sha256.New()
		if err := write(root, h); err != nil {
			return nil, err
		}
		return b.d.images.Commit(ctx, image.CommitOptions{Parent: st.img, Config: imageConfig(&cfg), CreatedBy: createdBy,
			Layer: func(w io.Writer) error { return write(root, w) }, LayerDiffID: digest.NewDigest(digest.SHA256, h)})
	})
}

// imageRoot mounts img's root filesystem at a temporary directory and returns it with
// the function that releases it; an image without layers has no root ("").
func (b *builder) imageRoot(ctx context.Context, img *image.Image) (string, func(), error) {
	if len(img.ChainIDs) == 0 {
		return "", func() {}, nil
	}
	id := newID()
	mounts, err := b.d.images.PrepareRootfs(ctx, id, img)
	if err != nil {
		return "", nil, err
	}
	dir, err := os.MkdirTemp(filepath.Join(b.d.cfg.DataRoot, "tmp"), "root-")
	if err != nil {
		b.d.images.RemoveRootfs(context.WithoutCancel(ctx), id)
		return "", nil, err
	}
	release := func() {
		snapshot.Unmount(dir)
		os.Remove(dir)
		b.d.images.RemoveRootfs(context.WithoutCancel(ctx), id)
	}
	if err := snapshot.MountAll(dir, mounts); err != nil {
		release()
		return "", nil, err
	}
	return dir, release, nil
}

// fromImage is the image --from names: an earlier stage's (once built), or an image.
func (b *builder) fromImage(ctx context.Context, from string) (*image.Image, error) {
	if j := b.stageIndex(from, b.stage); j >= 0 {
		if err := b.waitStage(ctx, j); err != nil {
			return nil, err
		}
		return b.stages[j].image, nil
	}
	return b.baseImage(ctx, from, b.o.Platform)
}

// mountFrom mounts the root of COPY --from's (or RUN --mount's from) stage or image.
func (b *builder) mountFrom(ctx context.Context, from string) (string, func(), error) {
	img, err := b.fromImage(ctx, from)
	if err != nil {
		return "", nil, err
	}
	root, release, err := b.imageRoot(ctx, img)
	if err != nil || root != "" {
		return root, release, err
	}
	// FROM scratch with no files: an empty directory.
	dir, err := os.MkdirTemp(filepath.Join(b.d.cfg.DataRoot, "tmp"), "root-")
	if err != nil {
		return "", nil, err
	}
	return dir, func() { os.Remove(dir) }, nil
}

// workdir is WORKDIR's layer: the directory and its missing parents (0755, root), none
// when it exists.
func (b *builder) workdir(ctx context.Context, st *stageState, dir, text string) error {
	return b.tarStep(ctx, st, "/bin/sh -c #(nop) "+text, "", func(cfg *container.Config) { cfg.WorkingDir = dir }, func(root string, w io.Writer) error {
		t := newLayerTar(w, root, -1, -1)
		real, err := t.resolve(dir, true)
		if err != nil {
			return err
		}
		if fi, err := os.Lstat(filepath.Join(root, real)); root != "" && err == nil {
			if !fi.IsDir() {
				return errdefs.InvalidParameter(fmt.Sprintf("cannot make WORKDIR %s: %s exists and is not a directory", dir, real))
			}
			return t.close()
		}
		if err := t.mkdirs(real + "/"); err != nil {
			return err
		}
		return t.close()
	})
}

// copySpec is what one COPY or ADD puts in the image.
type copySpec struct {
	files     []copySource
	dest      string // absolute, clean
	destIsDir bool   // by its spelling or the number of sources
	uid, gid  int    // -1: root
	mode      int64  // -1: each source's own
}

// copy runs COPY and ADD of context files (or another stage's with from).
func (b *builder) copy(ctx context.Context, st *stageState, sd instructions.SourcesAndDest, from, chown, chmod, checksum, text string, add bool) error {
	root := b.dir
	if from != "" {
		dir, release, err := b.mountFrom(ctx, from)
		if err != nil {
			return err
		}
		defer release()
		root = dir
	}
	dest := sd.DestPath
	// "dir/", ".", "dir/." name a directory, as in docker.
	syntaxDir := strings.HasSuffix(dest, "/") || dest == "." || strings.HasSuffix(dest, "/.")
	if !path.IsAbs(dest) {
		wd := st.cfg.WorkingDir
		if wd == "" {
			wd = "/"
		}
		dest = path.Join(wd, dest)
	}
	spec := copySpec{dest: path.Clean(dest), uid: -1, gid: -1, mode: -1}
	for _, src := range sd.SourcePaths {
		if strings.HasPrefix(src, "http://") || strings.HasPrefix(src, "https://") {
			if !add {
				return errdefs.InvalidParameter("source can't be a URL for COPY")
			}
			f, err := b.download(ctx, src, checksum)
			if err != nil {
				return err
			}
			spec.files = append(spec.files, f)
			continue
		}
		matches, err := contextGlob(root, src)
		if err != nil {
			return err
		}
		for i := range matches {
			matches[i].archive = add && !matches[i].info.IsDir() && isLocalArchive(matches[i].abs)
		}
		spec.files = append(spec.files, matches...)
	}
	// COPY <<EOF: each heredoc is a file (0644) named by its delimiter.
	for _, c := range sd.SourceContents {
		f, err := b.heredocFile(c)
		if err != nil {
			return err
		}
		spec.files = append(spec.files, f)
	}
	spec.destIsDir = syntaxDir || len(spec.files) > 1 || len(sd.SourcePaths)+len(sd.SourceContents) > 1
	user, group, byName, err := parseChown(chown)
	if err != nil {
		return err
	}
	if !byName {
		spec.uid, spec.gid = user, group
	}
	if chmod != "" {
		m, err := strconv.ParseUint(chmod, 8, 32)
		if err != nil || m > 0o7777 {
			return errdefs.InvalidParameter(fmt.Sprintf("invalid --chmod=%s", chmod))
		}
		spec.mode = int64(m)
	}
	// The key: the instruction and a checksum of the entries the copy writes, without
	// the parent image (in the key too) resolving anything.
	sum, err := spec.write(io.Discard, "")
	if err != nil {
		return err
	}
	return b.tarStep(ctx, st, "/bin/sh -c #(nop) "+text, sum, nil, func(root string, w io.Writer) error {
		spec := spec
		if byName {
			uid, gid, err := lookupChown(root, chown)
			if err != nil {
				return err
			}
			spec.uid, spec.gid = uid, gid
		}
		_, err := spec.write(w, root)
		return err
	})
}

// parseChown splits --chown=user[:group]; byName when either part is not numeric (a
// user alone names the group too, as in docker).
func parseChown(chown string) (uid, gid int, byName bool, err error) {
	if chown == "" {
		return -1, -1, false, nil
	}
	parts := strings.Split(chown, ":")
	if len(parts) > 2 || parts[0] == "" {
		return 0, 0, false, errdefs.InvalidParameter("invalid chown string format: " + chown)
	}
	if len(parts) == 1 {
		parts = append(parts, parts[0])
	}
	uid, err1 := strconv.Atoi(parts[0])
	gid, err2 := strconv.Atoi(parts[1])
	if err1 != nil || err2 != nil {
		return 0, 0, true, nil
	}
	if uid < 0 || gid < 0 {
		return 0, 0, false, errdefs.InvalidParameter("invalid chown string format: " + chown)
	}
	return uid, gid, false, nil
}

// lookupChown resolves --chown names in the image's /etc/passwd and /etc/group.
func lookupChown(root, chown string) (int, int, error) {
	u, g, ok := strings.Cut(chown, ":")
	if !ok {
		g = u
	}
	uid, err := runtime.LookupID(root, "/etc/passwd", u)
	if err != nil {
		return 0, 0, errdefs.InvalidParameter(fmt.Sprintf("unable to convert uid/gid chown string to host mapping: can't find uid for user %s: %v", u, err))
	}
	gid, err := runtime.LookupID(root, "/etc/group", g)
	if err != nil {
		return 0, 0, errdefs.InvalidParameter(fmt.Sprintf("unable to convert uid/gid chown string to host mapping: can't find gid for group %s: %v", g, err))
	}
	return uid, gid, nil
}

// write writes the copy's tar, its paths resolved in root (none when root is ""), and
// returns the checksum of the entries' content and metadata (names, modes, owners;
// never times).
func (s *copySpec) write(w io.Writer, root string) (string, error) {
	t := newLayerTar(w, root, s.uid, s.gid)
	dest, err := t.resolve(s.dest, true)
	if err != nil {
		return "", err
	}
	destIsDir := s.destIsDir
	if fi, err := os.Stat(filepath.Join(root, dest)); root != "" && !destIsDir && err == nil && fi.IsDir() {
		destIsDir = true
	}
	for _, f := range s.files {
		switch {
		case f.info.IsDir():
			// A directory's contents go into dest (the directory itself is not copied).
			base := f.abs
			err := filepath.Walk(base, func(p string, fi fs.FileInfo, err error) error {
				if err != nil {
					return err
				}
				rel, _ := filepath.Rel(base, p)
				if rel == "." {
					// dest keeps its own metadata, or is made 0755 for the copy's owner.
					return t.mkdirs(dest + "/")
				}
				return t.put(path.Join(dest, filepath.ToSlash(rel)), fi, p, s.mode)
			})
			if err != nil {
				return "", err
			}
		case f.archive:
			if err := t.extract(f.abs, dest); err != nil {
				return "", err
			}
		default:
			target := dest
			if destIsDir {
				target = path.Join(dest, path.Base(f.rel))
			}
			if err := t.put(target, f.info, f.abs, s.mode); err != nil {
				return "", err
			}
		}
	}
	return hex.EncodeToString(t.h.Sum(nil)), t.close()
}

// layerTar writes a layer's entries in an image's filesystem (root, read-only; "" when
// there is none): a missing parent directory is written 0755 and owned by uid:gid, an
// existing one with its own metadata (else the layer's copy would hide it), and a path
// through a symlinked directory of the image lands where the link points.
type layerTar struct {
	tw       *tar.Writer
	h        hash.Hash // of the entries put, not of the parents made for them
	root     string
	uid, gid int
	dirs     map[string]bool   // directories written, by name
	resolved map[string]string // directory as named → as written
	buf      []byte            // file bodies pass through it
}

func newLayerTar(w io.Writer, root string, uid, gid int) *layerTar {
	return &layerTar{tw: tar.NewWriter(w), h: sha256.New(), root: root, uid: uid, gid: gid,
		dirs: map[string]bool{}, resolved: map[string]string{}, buf: make([]byte, 64<<10)}
}

func (t *layerTar) close() error { return t.tw.Close() }

// resolve maps an absolute path to the name it is written at (relative, no leading /):
// a directory on the way that this tar has not written is looked up in the image and,
// when it is a symlink there, followed inside the image's root; so is the last
// element when follow is set (a destination, not an entry that replaces what is there).
func (t *layerTar) resolve(p string, follow bool) (string, error) {
	p = strings.TrimPrefix(path.Clean("/"+p), "/")
	if t.root == "" || p == "" {
		return p, nil
	}
	if dir, base := path.Split(p); dir != "" {
		dir = strings.TrimSuffix(dir, "/")
		parent, ok := t.resolved[dir]
		if !ok {
			var err error
			if parent, err = t.resolve(dir, true); err != nil {
				return "", err
			}
			t.resolved[dir] = parent
		}
		p = path.Join(parent, base)
	}
	if !follow || t.dirs[p] {
		return p, nil
	}
	if fi, err := os.Lstat(filepath.Join(t.root, p)); err == nil && fi.Mode()&fs.ModeSymlink != 0 {
		real, err := securejoin.SecureJoin(t.root, p)
		if err != nil {
			return "", err
		}
		rel, err := filepath.Rel(t.root, real)
		if err != nil || rel == ".." || strings.HasPrefix(rel, "../") {
			return "", fmt.Errorf("resolve /%s: outside the image", p)
		}
		if rel == "." {
			rel = ""
		}
		return filepath.ToSlash(rel), nil
	}
	return p, nil
}

// mkdirs writes the directories above name (a resolved name) not yet in the tar.
func (t *layerTar) mkdirs(name string) error {
	cur := ""
	for _, part := range strings.Split(path.Dir(strings.TrimSuffix(name, "/")), "/") {
		if part == "" || part == "." {
			continue
		}
		cur = path.Join(cur, part)
		if t.dirs[cur] {
			continue
		}
		t.dirs[cur] = true
		hdr, err := t.dirHeader(cur)
		if err != nil {
			return err
		}
		if err := t.tw.WriteHeader(hdr); err != nil {
			return err
		}
	}
	if strings.HasSuffix(name, "/") && name != "/" {
		cur = strings.TrimSuffix(name, "/")
		if !t.dirs[cur] {
			t.dirs[cur] = true
			hdr, err := t.dirHeader(cur)
			if err != nil {
				return err
			}
			return t.tw.WriteHeader(hdr)
		}
	}
	return nil
}

// dirHeader is a parent directory's entry: the image's own when it has one. Something
// else there (a file, a dangling link) is an error, as dockerd's mkdir would give.
func (t *layerTar) dirHeader(name string) (*tar.Header, error) {
	var st unix.Stat_t
	if t.root != "" && unix.Lstat(filepath.Join(t.root, name), &st) == nil {
		if st.Mode&unix.S_IFMT != unix.S_IFDIR {
			return nil, errdefs.InvalidParameter(fmt.Sprintf("mkdir /%s: not a directory", name))
		}
		return &tar.Header{Name: name + "/", Typeflag: tar.TypeDir, Mode: int64(st.Mode & 0o7777),
			Uid: int(st.Uid), Gid: int(st.Gid), ModTime: time.Unix(st.Mtim.Unix())}, nil
	}
	hdr := &tar.Header{Name: name + "/", Typeflag: tar.TypeDir, Mode: 0o755, ModTime: time.Unix(0, 0)}
	if t.uid >= 0 {
		hdr.Uid, hdr.Gid = t.uid, t.gid
	}
	return hdr, nil
}

// entry writes hdr (its name resolved) after its parents, and the body from r.
func (t *layerTar) entry(hdr *tar.Header, r io.Reader) error {
	name := strings.TrimSuffix(hdr.Name, "/")
	if name == "" {
		return nil // the root's metadata stays the image's
	}
	if strings.HasPrefix(path.Base(name), ".wh.") {
		return errdefs.InvalidParameter(fmt.Sprintf("cannot copy %s: names starting with .wh. are reserved for layer whiteouts", name))
	}
	name, err := t.resolve(name, false)
	if err != nil {
		return err
	}
	if name == "" {
		return nil
	}
	if err := t.mkdirs(name); err != nil {
		return err
	}
	hdr.Name = name
	if hdr.Typeflag == tar.TypeDir {
		hdr.Name += "/"
		t.dirs[name] = true
	}
	fmt.Fprintf(t.h, "%s\x00%d\x00%o\x00%d:%d\x00%s\x00", hdr.Name, hdr.Typeflag, hdr.Mode, hdr.Uid, hdr.Gid, hdr.Linkname)
	if err := t.tw.WriteHeader(hdr); err != nil {
		return err
	}
	if r != nil && hdr.Typeflag == tar.TypeReg {
		if _, err := io.CopyBuffer(io.MultiWriter(t.tw, t.h), r, t.buf); err != nil {
			return err
		}
	}
	return nil
}

// put writes the file src (described by fi) at name, owned by the copy's user and with
// mode when it is set.
func (t *layerTar) put(name string, fi fs.FileInfo, src string, mode int64) error {
	hdr := &tar.Header{Name: name, Mode: int64(fi.Mode().Perm()), ModTime: fi.ModTime()}
	if fi.Mode()&fs.ModeSetuid != 0 {
		hdr.Mode |= 0o4000
	}
	if fi.Mode()&fs.ModeSetgid != 0 {
		hdr.Mode |= 0o2000
	}
	if fi.Mode()&fs.ModeSticky != 0 {
		hdr.Mode |= 0o1000
	}
	if t.uid >= 0 {
		hdr.Uid, hdr.Gid = t.uid, t.gid
	}
	if mode >= 0 {
		hdr.Mode = mode
	}
	switch {
	case fi.IsDir():
		hdr.Typeflag = tar.TypeDir
		return t.entry(hdr, nil)
	case fi.Mode()&fs.ModeSymlink != 0:
		target, err := os.Readlink(src)
		if err != nil {
			return err
		}
		hdr.Typeflag, hdr.Linkname = tar.TypeSymlink, target
		return t.entry(hdr, nil)
	case fi.Mode().IsRegular():
		hdr.Typeflag, hdr.Size = tar.TypeReg, fi.Size()
		f, err := rawfile.Open(src, 0)
		if err != nil {
			return err
		}
		defer f.Close()
		return t.entry(hdr, f)
	}
	return nil // sockets, devices and pipes are not copied
}

// extract writes an archive's entries under dest (ADD of a local tar).
func (t *layerTar) extract(p, dest string) error {
	tr, closeAll, err := openArchive(p)
	if err != nil {
		return err
	}
	defer closeAll()
	if err := t.mkdirs(dest + "/"); err != nil {
		return err
	}
	for {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
		hdr.Name = path.Join(dest, path.Clean("/"+hdr.Name))
		if t.uid >= 0 { // --chown applies to the archive's entries too, as in BuildKit
			hdr.Uid, hdr.Gid, hdr.Uname, hdr.Gname = t.uid, t.gid, "", ""
		}
		if hdr.Typeflag == tar.TypeLink {
			target, err := t.resolve(path.Join(dest, path.Clean("/"+hdr.Linkname)), false)
			if err != nil {
				return err
			}
			hdr.Linkname = target
		}
		if err := t.entry(hdr, tr); err != nil {
			return err
		}
	}
}

// copySource is one matched source: its path in the context and the name it keeps.
type copySource struct {
	abs     string // resolved inside the context
	rel     string // as matched, relative to the context
	info    fs.FileInfo
	remote  bool // downloaded by ADD: never unpacked
	archive bool // a local tar ADD unpacks
}

// download fetches an ADD URL into the build's scratch space, checking --checksum.
func (b *builder) download(ctx context.Context, url, checksum string) (copySource, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return copySource{}, errdefs.InvalidParameter(err.Error())
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return copySource{}, fmt.Errorf("ADD %s: %w", url, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return copySource{}, fmt.Errorf("ADD %s: %s", url, resp.Status)
	}
	name := path.Base(req.URL.Path)
	if name == "/" || name == "." || name == "" {
		name = "__unnamed__"
	}
	dir, err := os.MkdirTemp(filepath.Join(b.d.cfg.DataRoot, "tmp"), "add-")
	if err != nil {
		return copySource{}, err
	}
	b.addScratch(dir)
	p := filepath.Join(dir, name)
	f, err := os.OpenFile(p, os.O_CREATE|os.O_WRONLY|os.O_EXCL, 0o600)
	if err != nil {
		return copySource{}, err
	}
	h := sha256.New()
	_, err = io.Copy(io.MultiWriter(f, h), resp.Body)
	f.Close()
	if err != nil {
		return copySource{}, fmt.Errorf("ADD %s: %w", url, err)
	}
	if got := "sha256:" + hex.EncodeToString(h.Sum(nil)); checksum != "" && got != checksum {
		return copySource{}, errdefs.InvalidParameter(fmt.Sprintf("digest mismatch %s: %s", got, checksum))
	}
	if lm, err := http.ParseTime(resp.Header.Get("Last-Modified")); err == nil {
		os.Chtimes(p, lm, lm)
	}
	fi, err := os.Stat(p)
	if err != nil {
		return copySource{}, err
	}
	return copySource{abs: p, rel: name, info: &modeInfo{FileInfo: fi, mode: 0o600}, remote: true}, nil
}

// heredocFile writes a COPY heredoc into the build's scratch space.
func (b *builder) heredocFile(c instructions.SourceContent) (copySource, error) {
	dir, err := os.MkdirTemp(filepath.Join(b.d.cfg.DataRoot, "tmp"), "heredoc-")
	if err != nil {
		return copySource{}, err
	}
	b.addScratch(dir)
	name := path.Base(path.Clean("/" + c.Path))
	p := filepath.Join(dir, "f")
	if err := os.WriteFile(p, []byte(c.Data), 0o644); err != nil {
		return copySource{}, err
	}
	fi, err := os.Stat(p)
	if err != nil {
		return copySource{}, err
	}
	return copySource{abs: p, rel: name, info: &modeInfo{FileInfo: fi, mode: 0o644}, remote: true}, nil
}

// modeInfo overrides a file's permissions (ADD of a URL gives 0600, as docker does).
type modeInfo struct {
	fs.FileInfo
	mode fs.FileMode
}

func (m *modeInfo) Mode() fs.FileMode { return m.FileInfo.Mode()&^fs.ModePerm | m.mode }

// contextGlob resolves a COPY source inside the context (no escape through .. or links).
func contextGlob(root, src string) ([]copySource, error) {
	clean := path.Clean("/" + src)
	pattern := filepath.Join(root, clean)
	var paths []string
	if strings.ContainsAny(clean, "*?[") {
		m, err := filepath.Glob(pattern)
		if err != nil {
			return nil, errdefs.InvalidParameter(err.Error())
		}
		paths = m
	} else {
		paths = []string{pattern}
	}
	var out []copySource
	for _, p := range paths {
		rel, _ := filepath.Rel(root, p)
		abs, err := securejoin.SecureJoin(root, rel)
		if err != nil {
			return nil, err
		}
		fi, err := os.Lstat(abs)
		if err != nil {
			continue
		}
		if fi.Mode()&fs.ModeSymlink != 0 {
			if fi, err = os.Stat(abs); err != nil {
				continue
			}
		}
		out = append(out, copySource{abs: abs, rel: rel, info: fi})
	}
	if len(out) == 0 {
		return nil, errdefs.InvalidParameter(fmt.Sprintf("COPY failed: file not found in build context or excluded by .dockerignore: stat %s: file does not exist", strings.TrimPrefix(clean, "/")))
	}
	return out, nil
}

// openArchive opens a file as a (possibly compressed) tar; close closes both layers.
func openArchive(p string) (tr *tar.Reader, close func(), err error) {
	f, err := os.Open(p)
	if err != nil {
		return nil, nil, err
	}
	r, err := archive.DecompressStream(f)
	if err != nil {
		f.Close()
		return nil, nil, err
	}
	return tar.NewReader(r), func() { r.Close(); f.Close() }, nil
}

// isLocalArchive reports whether ADD should unpack the file (a tar, maybe compressed).
func isLocalArchive(p string) bool {
	tr, closeAll, err := openArchive(p)
	if err != nil {
		return false
	}
	defer closeAll()
	_, err = tr.Next()
	return err == nil
}
