package archive

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/berth-dev/berth/errdefs"
	"golang.org/x/sys/unix"
)

type tarEnt struct {
	hdr  *tar.Header
	body string
}

func readTar(t *testing.T, b []byte) map[string]tarEnt {
	t.Helper()
	out := map[string]tarEnt{}
	tr := tar.NewReader(bytes.NewReader(b))
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(tr)
		if _, dup := out[h.Name]; dup {
			t.Errorf("entry %s twice", h.Name)
		}
		out[h.Name] = tarEnt{h, string(body)}
	}
}

func names(m map[string]tarEnt) []string {
	var n []string
	for k := range m {
		n = append(n, k)
	}
	slices.Sort(n)
	return n
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// overlayCase builds a lower layer, mounts an overlay on it, makes changes through
// the mount (as a container does) and unmounts: the upper dir then holds real
// overlayfs whiteouts, opaque directories and copied-up files.
func overlayCase(t *testing.T) (lower, upper string) {
	requireRoot(t)
	base := t.TempDir()
	lower, upper = filepath.Join(base, "lower"), filepath.Join(base, "upper")
	work, merged := filepath.Join(base, "work"), filepath.Join(base, "merged")
	for _, d := range []string{lower, upper, work, merged} {
		must(t, os.Mkdir(d, 0o755))
	}
	old := time.Unix(1600000000, 0)
	for _, d := range []string{"d", "keep", "same", "chm", "etc"} {
		must(t, os.Mkdir(filepath.Join(lower, d), 0o755))
	}
	for f, body := range map[string]string{"a": "lower a", "d/x": "x", "d/y": "y", "keep/k1": "k1", "keep/k2": "k2", "same/s": "s", "etc/passwd": "root"} {
		must(t, os.WriteFile(filepath.Join(lower, f), []byte(body), 0o644))
	}
	must(t, os.Symlink("a", filepath.Join(lower, "lnk")))
	filepath.Walk(lower, func(p string, _ os.FileInfo, _ error) error { return os.Chtimes(p, old, old) })

	opts := "lowerdir=" + lower + ",upperdir=" + upper + ",workdir=" + work
	must(t, unix.Mount("overlay", merged, "overlay", 0, opts))
	defer unix.Unmount(merged, unix.MNT_DETACH)
	m := func(p string) string { return filepath.Join(merged, p) }
	f, err := os.OpenFile(m("a"), os.O_APPEND|os.O_WRONLY, 0)
	must(t, err)
	f.WriteString(" changed")
	f.Close()
	must(t, os.Remove(m("d/x")))
	must(t, os.RemoveAll(m("keep")))
	must(t, os.Mkdir(m("keep"), 0o700))
	must(t, os.WriteFile(m("keep/new"), []byte("new"), 0o644))
	must(t, os.WriteFile(m("n"), []byte("#!/bin/sh\n"), 0o644))
	must(t, unix.Chmod(m("n"), 0o4751))
	must(t, os.Symlink("/etc/passwd", m("s")))
	must(t, os.WriteFile(m("h1"), []byte("hard"), 0o644))
	must(t, os.Link(m("h1"), m("h2")))
	must(t, os.MkdirAll(m("newdir/sub"), 0o755))
	must(t, os.WriteFile(m("newdir/sub/f"), []byte("f"), 0o600))
	must(t, os.Chmod(m("chm"), 0o711))
	// Only the mtime of "same" changes: it must not be part of the diff.
	must(t, os.WriteFile(m("same/tmp"), nil, 0o644))
	must(t, os.Remove(m("same/tmp")))
	// A mount point artifact, excluded by the caller.
	must(t, os.WriteFile(m("etc/hostname"), nil, 0o644))
	must(t, unix.Mknod(m("fifo"), unix.S_IFIFO|0o640, 0))
	must(t, unix.Unmount(merged, 0))
	return lower, upper
}

var excludeHostname = func(p string) bool { return p == "etc/hostname" }

func TestWriteDiffOverlay(t *testing.T) {
	lower, upper := overlayCase(t)
	var b bytes.Buffer
	must(t, WriteDiff(context.Background(), &b, upper, DiffOptions{Lower: []string{lower}, Exclude: excludeHostname}))
	got := readTar(t, b.Bytes())
	want := []string{
		"a", "chm/", "d/", "d/.wh.x", "fifo", "h1", "h2", "keep/", "keep/.wh..wh..opq", "keep/new",
		"n", "newdir/", "newdir/sub/", "newdir/sub/f", "s",
	}
	if n := names(got); !slices.Equal(n, want) {
		t.Fatalf("entries\n got %v\nwant %v", n, want)
	}
	check := func(name string, typ byte, mode int64, body string) {
		t.Helper()
		e := got[name]
		if e.hdr.Typeflag != typ || e.hdr.Mode != mode || e.body != body {
			t.Errorf("%s: type %c mode %o body %q; want %c %o %q", name, e.hdr.Typeflag, e.hdr.Mode, e.body, typ, mode, body)
		}
		for k := range e.hdr.PAXRecords {
			if strings.Contains(k, "trusted.overlay") {
				t.Errorf("%s carries %s", name, k)
			}
		}
	}
	check("a", tar.TypeReg, 0o644, "lower a changed")
	check("d/.wh.x", tar.TypeReg, 0o600, "")
	check("keep/", tar.TypeDir, 0o700, "")
	check("keep/.wh..wh..opq", tar.TypeReg, 0o700, "")
	check("keep/new", tar.TypeReg, 0o644, "new")
	check("n", tar.TypeReg, 0o4751, "#!/bin/sh\n")
	check("chm/", tar.TypeDir, 0o711, "")
	check("fifo", tar.TypeFifo, 0o640, "")
	check("h1", tar.TypeReg, 0o644, "hard")
	check("newdir/sub/f", tar.TypeReg, 0o600, "f")
	if e := got["h2"]; e.hdr.Typeflag != tar.TypeLink || e.hdr.Linkname != "h1" {
		t.Errorf("h2 = %c -> %q, want a hardlink to h1", e.hdr.Typeflag, e.hdr.Linkname)
	}
	if e := got["s"]; e.hdr.Typeflag != tar.TypeSymlink || e.hdr.Linkname != "/etc/passwd" {
		t.Errorf("s = %c -> %q, want a symlink to /etc/passwd", e.hdr.Typeflag, e.hdr.Linkname)
	}
	// "keep/" must precede its opaque marker, which must precede its new contents.
	order := []string{}
	tr := tar.NewReader(bytes.NewReader(b.Bytes()))
	for h, err := tr.Next(); err == nil; h, err = tr.Next() {
		order = append(order, h.Name)
	}
	if i, j, k := slices.Index(order, "keep/"), slices.Index(order, "keep/.wh..wh..opq"), slices.Index(order, "keep/new"); !(i < j && j < k) {
		t.Errorf("opaque directory out of order: %v", order)
	}

	// Applied as a layer on the same lower layer, the diff gives the container's view.
	layer, merged, work := t.TempDir(), t.TempDir(), t.TempDir()
	if _, err := Apply(context.Background(), layer, bytes.NewReader(b.Bytes()), Options{}); err != nil {
		t.Fatal(err)
	}
	must(t, unix.Mount("overlay", merged, "overlay", unix.MS_RDONLY, "lowerdir="+layer+":"+lower+",workdir="+work+",upperdir="+t.TempDir()))
	defer unix.Unmount(merged, unix.MNT_DETACH)
	for p, want := range map[string]string{"a": "lower a changed", "d/x": "-", "d/y": "y", "keep/k1": "-", "keep/new": "new", "same/s": "s", "h2": "hard", "etc/hostname": "-"} {
		b, err := os.ReadFile(filepath.Join(merged, p))
		if want == "-" {
			if !errors.Is(err, os.ErrNotExist) {
				t.Errorf("%s still there after applying the diff: %v", p, err)
			}
		} else if string(b) != want {
			t.Errorf("%s = %q, %v; want %q", p, b, err, want)
		}
	}
}

func TestWriteDiffNoLower(t *testing.T) {
	dir := t.TempDir()
	must(t, os.MkdirAll(filepath.Join(dir, "a/b"), 0o755))
	must(t, os.WriteFile(filepath.Join(dir, "a/b/f"), []byte("x"), 0o644))
	var b bytes.Buffer
	must(t, WriteDiff(context.Background(), &b, dir, DiffOptions{}))
	if n := names(readTar(t, b.Bytes())); !slices.Equal(n, []string{"a/", "a/b/", "a/b/f"}) {
		t.Errorf("entries %v", n)
	}
	// An empty upper dir gives the empty layer (just the end marker).
	b.Reset()
	must(t, WriteDiff(context.Background(), &b, t.TempDir(), DiffOptions{}))
	if b.Len() != 1024 || bytes.Count(b.Bytes(), []byte{0}) != 1024 {
		t.Errorf("empty diff is %d bytes", b.Len())
	}
}

func TestChangesOverlay(t *testing.T) {
	lower, upper := overlayCase(t)
	got, err := Changes(context.Background(), upper, DiffOptions{Lower: []string{lower}, Exclude: excludeHostname})
	must(t, err)
	want := []Change{
		{"/a", ChangeModify}, {"/chm", ChangeModify}, {"/d", ChangeModify}, {"/d/x", ChangeDelete},
		{"/fifo", ChangeAdd}, {"/h1", ChangeAdd}, {"/h2", ChangeAdd}, {"/keep", ChangeModify}, {"/keep/new", ChangeAdd},
		{"/n", ChangeAdd}, {"/newdir", ChangeAdd}, {"/newdir/sub", ChangeAdd}, {"/newdir/sub/f", ChangeAdd}, {"/s", ChangeAdd},
	}
	if !slices.Equal(got, want) {
		t.Errorf("changes\n got %v\nwant %v", got, want)
	}
	// Without the exclusion, the added file shows, and so does its parent.
	got, err = Changes(context.Background(), upper, DiffOptions{Lower: []string{lower}})
	must(t, err)
	if !slices.Contains(got, Change{"/etc", ChangeModify}) || !slices.Contains(got, Change{"/etc/hostname", ChangeAdd}) {
		t.Errorf("changes without exclusion: %v", got)
	}
}

// Lower layers are merged as overlayfs does: a whiteout or an opaque directory in a
// higher lower layer hides what the layers below hold.
func TestChangesLowerStack(t *testing.T) {
	requireRoot(t)
	base := t.TempDir()
	l1, l2, upper := filepath.Join(base, "l1"), filepath.Join(base, "l2"), filepath.Join(base, "u")
	for _, d := range []string{"l2/gone", "l2/opq/old", "l1/opq", "u/gone", "u/opq/old"} {
		must(t, os.MkdirAll(filepath.Join(base, d), 0o755))
	}
	must(t, unix.Mknod(filepath.Join(l1, "gone"), unix.S_IFCHR, 0))                 // deleted in l1
	must(t, unix.Setxattr(filepath.Join(l1, "opq"), overlayOpaque, []byte("y"), 0)) // l2/opq/old hidden
	got, err := Changes(context.Background(), upper, DiffOptions{Lower: []string{l1, l2}})
	must(t, err)
	want := []Change{{"/gone", ChangeAdd}, {"/opq", ChangeModify}, {"/opq/old", ChangeAdd}}
	if !slices.Equal(got, want) {
		t.Errorf("changes %v, want %v", got, want)
	}
}

func TestWriteTar(t *testing.T) {
	base := t.TempDir()
	root := filepath.Join(base, "root")
	outside := filepath.Join(base, "outside")
	must(t, os.MkdirAll(filepath.Join(root, "dir/sub"), 0o750))
	must(t, os.MkdirAll(outside, 0o755))
	must(t, os.WriteFile(filepath.Join(outside, "secret"), []byte("HOST"), 0o644))
	must(t, os.WriteFile(filepath.Join(root, "dir/f"), []byte("file"), 0o640))
	must(t, os.Link(filepath.Join(root, "dir/f"), filepath.Join(root, "dir/sub/g")))
	must(t, os.Symlink("/", filepath.Join(root, "dir/evil")))
	must(t, os.Symlink("../../outside", filepath.Join(root, "dir/rel")))
	must(t, os.WriteFile(filepath.Join(root, "hostname"), nil, 0o644))
	must(t, os.WriteFile(filepath.Join(base, "real-hostname"), []byte("box\n"), 0o644))
	var st unix.Stat_t
	must(t, unix.Stat(filepath.Join(root, "hostname"), &st))
	subst := map[FileID]string{StatID(&st): filepath.Join(base, "real-hostname")}

	tarOf := func(dir string, o TarOptions) map[string]tarEnt {
		t.Helper()
		var b bytes.Buffer
		must(t, WriteTar(context.Background(), &b, dir, o))
		if bytes.Contains(b.Bytes(), []byte("HOST")) {
			t.Fatal("a file outside the tree was archived")
		}
		return readTar(t, b.Bytes())
	}
	got := tarOf(filepath.Join(root, "dir"), TarOptions{Name: "dir"})
	if n := names(got); !slices.Equal(n, []string{"dir/", "dir/evil", "dir/f", "dir/rel", "dir/sub/", "dir/sub/g"}) {
		t.Errorf("dir entries %v", n)
	}
	if e := got["dir/"]; e.hdr.Mode != 0o750 {
		t.Errorf("root entry mode %o", e.hdr.Mode)
	}
	if e := got["dir/sub/g"]; e.hdr.Typeflag != tar.TypeLink || e.hdr.Linkname != "dir/f" {
		t.Errorf("hardlink = %c %q", e.hdr.Typeflag, e.hdr.Linkname)
	}
	if e := got["dir/evil"]; e.hdr.Typeflag != tar.TypeSymlink || e.hdr.Linkname != "/" {
		t.Errorf("symlink = %c %q", e.hdr.Typeflag, e.hdr.Linkname)
	}
	if n := names(tarOf(filepath.Join(root, "dir"), TarOptions{Name: "."})); n[0] != "./" || n[1] != "./evil" {
		t.Errorf("contents entries %v", n)
	}
	if n := names(tarOf(root, TarOptions{Name: "/", Substitute: subst})); n[0] != "/" || n[1] != "/dir/" {
		t.Errorf("root entries %v", n)
	}
	got = tarOf(root, TarOptions{Substitute: subst})
	if n := names(got); n[0] != "dir/" {
		t.Errorf("export entries %v", n)
	}
	if e := got["hostname"]; e.body != "box\n" {
		t.Errorf("substituted file = %q", e.body)
	}
	got = tarOf(filepath.Join(root, "dir"), TarOptions{Entry: "f", Name: "renamed"})
	if n := names(got); !slices.Equal(n, []string{"renamed"}) || got["renamed"].body != "file" {
		t.Errorf("single file %v", n)
	}
	got = tarOf(filepath.Join(root, "dir"), TarOptions{Entry: "rel", Name: "rel"})
	if e := got["rel"]; len(got) != 1 || e.hdr.Typeflag != tar.TypeSymlink || e.hdr.Linkname != "../../outside" {
		t.Errorf("symlink entry %v", names(got))
	}
	var b bytes.Buffer
	if err := WriteTar(context.Background(), &b, root, TarOptions{Entry: "nope"}); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("missing entry: %v", err)
	}
}

func TestApplyCopyOptions(t *testing.T) {
	requireRoot(t)
	dst := t.TempDir()
	must(t, os.Chmod(dst, 0o700))
	must(t, os.Mkdir(filepath.Join(dst, "isdir"), 0o755))
	must(t, os.WriteFile(filepath.Join(dst, "isfile"), nil, 0o644))
	data := mkTar(t, ent{hdr: tar.Header{Typeflag: tar.TypeDir, Name: "./", Mode: 0o777}},
		file(".wh.literal", "w"), ent{tar.Header{Typeflag: tar.TypeReg, Name: "owned", Mode: 0o644, Size: 1, Uid: 7, Gid: 8}, "o"})
	o := Options{Whiteouts: WhiteoutNone, KeepRoot: true, Owner: &Owner{UID: 1234, GID: 5678}, NoOverwriteDirNonDir: true}
	if _, err := Apply(context.Background(), dst, bytes.NewReader(data), o); err != nil {
		t.Fatal(err)
	}
	if b, err := os.ReadFile(filepath.Join(dst, ".wh.literal")); err != nil || string(b) != "w" {
		t.Errorf(".wh.literal = %q, %v", b, err)
	}
	var st unix.Stat_t
	must(t, unix.Stat(filepath.Join(dst, "owned"), &st))
	if st.Uid != 1234 || st.Gid != 5678 {
		t.Errorf("owner %d:%d, want 1234:5678", st.Uid, st.Gid)
	}
	must(t, unix.Stat(dst, &st))
	if st.Mode&0o777 != 0o700 {
		t.Errorf("target dir mode changed to %o", st.Mode&0o777)
	}
	for _, bad := range [][]byte{mkTar(t, file("isdir", "x")), mkTar(t, dir("isfile/"))} {
		_, err := Apply(context.Background(), dst, bytes.NewReader(bad), o)
		if !errdefs.IsInvalidParameter(err) || !strings.Contains(err.Error(), "cannot overwrite") {
			t.Errorf("overwrite: %v", err)
		}
	}
	if fi, err := os.Stat(filepath.Join(dst, "isdir")); err != nil || !fi.IsDir() {
		t.Error("directory replaced")
	}
}
