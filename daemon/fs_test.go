package daemon

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/berth-dev/berth/errdefs"
	"github.com/berth-dev/berth/image"
	"github.com/berth-dev/berth/snapshot"
	"github.com/moby/moby/api/types/container"
)

type tent struct {
	typ          byte
	name, target string
	mode         int64
}

func tarOf(t *testing.T, ents ...tent) []byte {
	t.Helper()
	var b bytes.Buffer
	tw := tar.NewWriter(&b)
	for _, e := range ents {
		h := &tar.Header{Typeflag: e.typ, Name: e.name, Mode: e.mode, ModTime: time.Unix(1700000000, 0)}
		switch e.typ {
		case tar.TypeReg:
			h.Size = int64(len(e.target))
		case tar.TypeSymlink:
			h.Linkname = e.target
		}
		if h.Mode == 0 {
			h.Mode = 0o755
		}
		if err := tw.WriteHeader(h); err != nil {
			t.Fatal(err)
		}
		if e.typ == tar.TypeReg {
			tw.Write([]byte(e.target))
		}
	}
	tw.Close()
	return b.Bytes()
}

func fileEnt(name, body string) tent { return tent{tar.TypeReg, name, body, 0o644} }
func dirEnt(name string) tent        { return tent{tar.TypeDir, name, "", 0o755} }
func linkEnt(name, to string) tent   { return tent{tar.TypeSymlink, name, to, 0o777} }

func untar(t *testing.T, b []byte) map[string]string {
	t.Helper()
	out := map[string]string{}
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
		if h.Typeflag == tar.TypeSymlink {
			body = []byte("-> " + h.Linkname)
		}
		out[h.Name] = string(body)
	}
}

// testDaemon is a daemon on temporary roots with a one-layer base image, for the
// filesystem operations that need no runtime: everything here is on stopped containers.
func testDaemon(t *testing.T) (*Daemon, *image.Image) {
	t.Helper()
	if os.Geteuid() != 0 {
		if os.Getenv("CI") == "true" {
			t.Fatal("test needs root")
		}
		t.Skip("test needs root")
	}
	os.MkdirAll("/var/lib/berth-test", 0o711)
	root, err := os.MkdirTemp("/var/lib/berth-test", "fs-")
	if err != nil {
		t.Fatal(err)
	}
	exec := t.TempDir()
	d, err := New(context.Background(), Config{DataRoot: root, ExecRoot: exec, Runtime: "/bin/false"}, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		d.Close()
		mi, _ := os.ReadFile("/proc/self/mountinfo")
		if strings.Contains(string(mi), root) {
			t.Errorf("mount left under %s", root)
		}
		os.RemoveAll(root)
	})
	layer := tarOf(t, dirEnt("etc/"), fileEnt("etc/passwd", "root:x:0:0:container passwd:/root:/bin/sh\napp:x:1000:1000::/home/app:/bin/sh\n"),
		fileEnt("etc/group", "root:x:0:\napp:x:1000:\n"), dirEnt("tmp/"), dirEnt("data/"), fileEnt("data/keep", "keep"), fileEnt("data/gone", "gone"))
	base, err := d.images.Commit(context.Background(), image.CommitOptions{
		Config:    imageConfig(&container.Config{Cmd: []string{"sh"}, Env: []string{"PATH=/bin"}}),
		CreatedBy: "base",
		Layer:     func(w io.Writer) error { _, err := w.Write(layer); return err },
	})
	if err != nil {
		t.Fatal(err)
	}
	return d, base
}

func addContainer(t *testing.T, d *Daemon, img *image.Image, name string) *Container {
	t.Helper()
	id := newID()
	mounts, err := d.images.PrepareRootfs(context.Background(), id, img)
	if err != nil {
		t.Fatal(err)
	}
	c := &Container{
		ID: id, Name: "/" + name, Image: img.ID, ImageID: img.ID, Created: time.Now(),
		Config:     &container.Config{Cmd: []string{"sh", "-c", "echo hi > /data/new"}, Env: img.Config.Config.Env, User: "app"},
		HostConfig: &container.HostConfig{},
		Dir:        filepath.Join(d.cfg.DataRoot, "containers", id), RootfsMounts: mounts,
	}
	c.State.Status = container.StateCreated
	c.init()
	if err := os.MkdirAll(c.Dir, 0o710); err != nil {
		t.Fatal(err)
	}
	d.mu.Lock()
	d.containers[id], d.names[c.Name] = c, id
	d.mu.Unlock()
	return c
}

func readPath(t *testing.T, d *Daemon, ref, p string) (map[string]string, container.PathStat, error) {
	t.Helper()
	a, err := d.ArchivePath(context.Background(), ref, p)
	if err != nil {
		return nil, container.PathStat{}, err
	}
	defer a.Close()
	var b bytes.Buffer
	if err := a.WriteTo(context.Background(), &b); err != nil {
		t.Fatal(err)
	}
	return untar(t, b.Bytes()), a.Stat, nil
}

func randName() string {
	var b [6]byte
	rand.Read(b[:])
	return "berth-escape-" + hex.EncodeToString(b[:])
}

// Copies to and from a container go through symlinks pointing at "/", at "../../etc"
// and at host paths, and always stay inside the container's root.
func TestCopySymlinksStayInside(t *testing.T) {
	ctx := context.Background()
	d, base := testDaemon(t)
	addContainer(t, d, base, "box")
	// A host directory with a secret, at a path the container also has (with other content).
	hostDir, err := os.MkdirTemp("", "berth-host-")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(hostDir)
	os.WriteFile(filepath.Join(hostDir, "secret"), []byte("HOST SECRET"), 0o644)
	inHost := strings.TrimPrefix(hostDir, "/")
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(d.ExtractToDir(ctx, "box", "/", bytes.NewReader(tarOf(t,
		linkEnt("evil", "/"), linkEnt("link", "../../../../etc"), linkEnt("abs", hostDir+"/secret"),
		linkEnt("hostdir", hostDir), linkEnt("reldir", strings.Repeat("../", 12)+inHost),
		dirEnt(inHost+"/"), fileEnt(inHost+"/secret", "container secret"),
	)), ExtractOptions{}))

	// Reads.
	for _, p := range []string{"/link/passwd", "/evil/etc/passwd", "/evil/../../etc/passwd", "/link/../../../etc/passwd"} {
		files, st, err := readPath(t, d, "box", p)
		if err != nil {
			t.Fatalf("%s: %v", p, err)
		}
		if !strings.Contains(files["passwd"], "container passwd") || st.Name != "passwd" {
			t.Errorf("%s gave %v (stat %+v), not the container's passwd", p, files, st)
		}
	}
	for _, p := range []string{"/hostdir/secret", "/reldir/secret", "/abs"} {
		files, _, err := readPath(t, d, "box", p)
		if err != nil {
			t.Fatalf("%s: %v", p, err)
		}
		for name, body := range files {
			if strings.Contains(body, "HOST") {
				t.Errorf("%s read the host's file (%s)", p, name)
			}
		}
	}
	// A link is archived as itself; its target is resolved in the container.
	for p, want := range map[string]string{"/evil": "/", "/link": "/etc", "/abs": hostDir + "/secret", "/reldir": hostDir} {
		st, err := d.StatPath(ctx, "box", p)
		if err != nil || st.Mode&os.ModeSymlink == 0 || st.LinkTarget != want {
			t.Errorf("stat %s = %+v, %v; want link to %s", p, st, err, want)
		}
	}
	// A path that only exists on the host is not found.
	os.WriteFile(filepath.Join(hostDir, "only-on-host"), []byte("HOST"), 0o644)
	for _, p := range []string{"/hostdir/only-on-host", "/reldir/only-on-host", "/evil" + hostDir + "/only-on-host"} {
		if _, err := d.StatPath(ctx, "box", p); !errdefs.IsNotFound(err) || err.Error() != "Could not find the file "+p+" in container box" {
			t.Errorf("stat %s: %v", p, err)
		}
		if _, _, err := readPath(t, d, "box", p); !errdefs.IsNotFound(err) {
			t.Errorf("read %s: %v", p, err)
		}
	}

	// Writes.
	name := randName()
	for _, dst := range []string{"/evil/tmp", "/link", "/hostdir", "/reldir", "/evil/etc/../../../tmp"} {
		must(d.ExtractToDir(ctx, "box", dst, bytes.NewReader(tarOf(t, fileEnt(name, "written"))), ExtractOptions{}))
	}
	for _, p := range []string{"/tmp/" + name, "/etc/" + name, hostDir + "/" + name} {
		if _, err := os.Lstat(p); err == nil {
			os.Remove(p)
			t.Errorf("host file %s written", p)
		}
		files, _, err := readPath(t, d, "box", p)
		if err != nil || files[name] != "written" {
			t.Errorf("container file %s: %v %v", p, files, err)
		}
	}
	if b, _ := os.ReadFile(filepath.Join(hostDir, "secret")); string(b) != "HOST SECRET" {
		t.Error("host secret changed")
	}
	// Entries of the archive cannot climb out either.
	err = d.ExtractToDir(ctx, "box", "/tmp", bytes.NewReader(tarOf(t, fileEnt("../../../../"+inHost+"/"+name+"2", "x"))), ExtractOptions{})
	if !errdefs.IsInvalidParameter(err) {
		t.Errorf("climbing entry: %v", err)
	}
	err = d.ExtractToDir(ctx, "box", "/", bytes.NewReader(tarOf(t, linkEnt("l2", hostDir), fileEnt("l2/"+name+"3", "x"))), ExtractOptions{})
	if err == nil {
		t.Error("entry below a symlink accepted")
	}
	if ents, _ := os.ReadDir(hostDir); len(ents) != 2 {
		t.Errorf("host dir changed: %v", ents)
	}
}

func TestArchiveAndExtractSemantics(t *testing.T) {
	ctx := context.Background()
	d, base := testDaemon(t)
	c := addContainer(t, d, base, "box")

	files, st, err := readPath(t, d, "box", "/data")
	if err != nil || !slices.Equal(sortedKeys(files), []string{"data/", "data/gone", "data/keep"}) || st.Name != "data" || !st.Mode.IsDir() {
		t.Errorf("/data: %v %+v %v", sortedKeys(files), st, err)
	}
	files, st, _ = readPath(t, d, "box", "/data/.")
	if !slices.Equal(sortedKeys(files), []string{"./", "./gone", "./keep"}) || st.Name != "." {
		t.Errorf("/data/.: %v %+v", sortedKeys(files), st)
	}
	files, st, _ = readPath(t, d, "box", "/data/keep")
	if len(files) != 1 || files["keep"] != "keep" || st.Size != 4 || st.Mode.Perm() != 0o644 {
		t.Errorf("/data/keep: %v %+v", files, st)
	}
	if _, _, err := readPath(t, d, "box", "/nope"); !errdefs.IsNotFound(err) || err.Error() != "Could not find the file /nope in container box" {
		t.Errorf("/nope: %v", err)
	}

	// Extraction: into a directory only, honouring noOverwriteDirNonDir and copyUIDGID.
	if err := d.ExtractToDir(ctx, "box", "/data/keep", bytes.NewReader(tarOf(t, fileEnt("x", "x"))), ExtractOptions{}); !errdefs.IsInvalidParameter(err) || err.Error() != "extraction point is not a directory" {
		t.Errorf("into a file: %v", err)
	}
	if err := d.ExtractToDir(ctx, "box", "/missing", bytes.NewReader(tarOf(t, fileEnt("x", "x"))), ExtractOptions{}); !errdefs.IsNotFound(err) {
		t.Errorf("into a missing dir: %v", err)
	}
	err = d.ExtractToDir(ctx, "box", "/", bytes.NewReader(tarOf(t, fileEnt("data", "x"))), ExtractOptions{NoOverwriteDirNonDir: true})
	if !errdefs.IsInvalidParameter(err) || !strings.Contains(err.Error(), "cannot overwrite directory") {
		t.Errorf("dir with file: %v", err)
	}
	if err := d.ExtractToDir(ctx, "box", "/data", bytes.NewReader(tarOf(t, fileEnt("owned", "o"), fileEnt(".wh.keep", "literal"))), ExtractOptions{CopyUIDGID: true}); err != nil {
		t.Fatal(err)
	}
	a, _ := d.ArchivePath(ctx, "box", "/data/owned")
	var b bytes.Buffer
	a.WriteTo(ctx, &b)
	a.Close()
	if h, _ := tar.NewReader(&b).Next(); h == nil || h.Uid != 1000 || h.Gid != 1000 {
		t.Errorf("copyUIDGID: %+v", h)
	}
	if files, _, _ := readPath(t, d, "box", "/data/keep"); files["keep"] != "keep" {
		t.Error(".wh. file of a copy treated as a whiteout")
	}

	// The container's own hostname file is what /etc/hostname shows once it has one.
	os.WriteFile(filepath.Join(c.Dir, "hostname"), []byte("boxhost\n"), 0o644)
	if err := d.ExtractToDir(ctx, "box", "/etc", bytes.NewReader(tarOf(t, fileEnt("hostname", ""))), ExtractOptions{}); err != nil {
		t.Fatal(err)
	}
	files, st, _ = readPath(t, d, "box", "/etc/hostname")
	if files["hostname"] != "boxhost\n" || st.Size != 8 {
		t.Errorf("/etc/hostname: %q %+v", files["hostname"], st)
	}
	if files, _, _ = readPath(t, d, "box", "/etc"); files["etc/hostname"] != "boxhost\n" {
		t.Errorf("/etc/hostname in /etc: %q", files["etc/hostname"])
	}
}

func sortedKeys(m map[string]string) []string {
	var k []string
	for n := range m {
		k = append(k, n)
	}
	slices.Sort(k)
	return k
}

// diff, export and commit of a container with an added, a changed and a deleted file;
// then a container of the committed image sees the changes.
func TestDiffExportCommit(t *testing.T) {
	ctx := context.Background()
	d, base := testDaemon(t)
	c := addContainer(t, d, base, "box")
	// Change the rootfs as a process would, through a writable mount of it.
	h, err := snapshot.MountPrivate(d.cfg.ExecRoot, c.RootfsMounts)
	if err != nil {
		t.Fatal(err)
	}
	root := fdPath(h)
	os.WriteFile(filepath.Join(root, "data/new"), []byte("hi\n"), 0o644)
	os.WriteFile(filepath.Join(root, "data/keep"), []byte("changed"), 0o644)
	os.Remove(filepath.Join(root, "data/gone"))
	os.WriteFile(filepath.Join(root, "etc/hostname"), nil, 0o644) // a mount point the runtime makes
	os.Mkdir(filepath.Join(root, "proc"), 0o555)
	h.Close()

	changes, err := d.Changes(ctx, "box")
	if err != nil {
		t.Fatal(err)
	}
	want := []container.FilesystemChange{
		{Path: "/data", Kind: container.ChangeModify}, {Path: "/data/gone", Kind: container.ChangeDelete},
		{Path: "/data/keep", Kind: container.ChangeModify}, {Path: "/data/new", Kind: container.ChangeAdd},
	}
	if !slices.Equal(changes, want) {
		t.Errorf("changes %v, want %v", changes, want)
	}

	a, err := d.Export(ctx, "box")
	if err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	if err := a.WriteTo(ctx, &b); err != nil {
		t.Fatal(err)
	}
	a.Close()
	files := untar(t, b.Bytes())
	if files["data/new"] != "hi\n" || files["data/keep"] != "changed" || !strings.Contains(files["etc/passwd"], "container passwd") {
		t.Errorf("export: %v", sortedKeys(files))
	}
	for n := range files {
		if n == "data/gone" || strings.Contains(n, ".wh.") || strings.HasPrefix(n, "/") || strings.HasPrefix(n, "./") {
			t.Errorf("export has %s", n)
		}
	}

	img, err := d.CommitContainer(ctx, "box", CommitOptions{
		Repo: "committed", Tag: "v1", Author: "tester", Comment: "a test", Pause: true,
		Changes: []string{`CMD ["cat", "/data/new"]`, "ENV GREETING=hello"},
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(img.ChainIDs) != 2 || !slices.Equal(img.Config.Config.Cmd, []string{"cat", "/data/new"}) ||
		!slices.Contains(img.Config.Config.Env, "GREETING=hello") || !slices.Contains(img.Config.Config.Env, "PATH=/bin") ||
		img.Config.Config.User != "app" || !slices.Equal(img.RepoTags, []string{"committed:v1"}) {
		t.Fatalf("committed image %+v tags %v", img.Config, img.RepoTags)
	}
	h2 := img.Config.History[len(img.Config.History)-1]
	if h2.CreatedBy != "sh -c echo hi > /data/new" || h2.Comment != "a test" || h2.Author != "tester" {
		t.Errorf("history %+v", h2)
	}
	if got, err := d.images.Get(ctx, "committed:v1"); err != nil || got.ID != img.ID {
		t.Errorf("reference: %v", err)
	}
	c2 := addContainer(t, d, img, "child")
	for p, want := range map[string]string{"/data/new": "hi\n", "/data/keep": "changed"} {
		files, _, err := readPath(t, d, c2.ID, p)
		if err != nil || files[filepath.Base(p)] != want {
			t.Errorf("%s in the committed image: %v %v", p, files, err)
		}
	}
	for _, p := range []string{"/data/gone", "/etc/hostname", "/proc"} {
		if _, err := d.StatPath(ctx, "child", p); !errdefs.IsNotFound(err) {
			t.Errorf("%s in the committed image: %v", p, err)
		}
	}
	if changes, _ := d.Changes(ctx, "child"); len(changes) != 0 {
		t.Errorf("fresh container of the committed image has changes %v", changes)
	}
	// A commit without changes adds no layer.
	img2, err := d.CommitContainer(ctx, "child", CommitOptions{})
	if err != nil || len(img2.ChainIDs) != 2 || !img2.Config.History[len(img2.Config.History)-1].EmptyLayer {
		t.Errorf("empty commit: %+v %v", img2, err)
	}
	if _, err := d.CommitContainer(ctx, "box", CommitOptions{Changes: []string{"RUN true"}}); !errdefs.IsInvalidParameter(err) {
		t.Errorf("bad change: %v", err)
	}
	if _, err := d.CommitContainer(ctx, "nope", CommitOptions{}); !errdefs.IsNotFound(err) {
		t.Errorf("unknown container: %v", err)
	}
}
