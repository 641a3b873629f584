package testsuite

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/berth-dev/berth/errdefs"
	"github.com/berth-dev/berth/metadata"
	"github.com/berth-dev/berth/snapshot"
	"golang.org/x/sys/unix"
)

// New opens a Snapshotter on the data root and database; called again on the same
// pair to check that state survives a restart.
type New func(t *testing.T, root string, db *metadata.DB) snapshot.Snapshotter

// Run runs the conformance suite against the snapshotter made by newSn.
func Run(t *testing.T, newSn New) {
	for _, tc := range []struct {
		name string
		fn   func(*testing.T, New)
	}{
		{"Layers", testLayers},
		{"Errors", testErrors},
		{"Restart", testRestart},
		{"ManyLayers", testManyLayers},
		{"CommitWithParent", testCommitWithParent},
	} {
		t.Run(tc.name, func(t *testing.T) { tc.fn(t, newSn) })
	}
}

func requireRoot(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		if os.Getenv("CI") == "true" {
			t.Fatal("test needs root")
		}
		t.Skip("test needs root")
	}
}

func open(t *testing.T, newSn New) (snapshot.Snapshotter, string, *metadata.DB) {
	root := t.TempDir()
	db, err := metadata.Open(root)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return newSn(t, root, db), root, db
}

// layer prepares key on parent, writes files into it and commits it as name.
func layer(t *testing.T, sn snapshot.Snapshotter, name, parent string, files map[string]string) {
	t.Helper()
	ctx := context.Background()
	key := "extract-" + name
	m, err := sn.Prepare(ctx, key, parent, snapshot.WithLabels(map[string]string{snapshot.LabelTemporary: "1"}))
	if err != nil {
		t.Fatal(err)
	}
	dir, err := snapshot.WritableDir(m)
	if err != nil {
		t.Fatal(err)
	}
	for n, body := range files {
		p := filepath.Join(dir, n)
		os.MkdirAll(filepath.Dir(p), 0o755)
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := sn.Commit(ctx, name, key); err != nil {
		t.Fatal(err)
	}
}

func mountAt(t *testing.T, m []snapshot.Mount) string {
	t.Helper()
	target := t.TempDir()
	if err := snapshot.MountAll(target, m); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { snapshot.Unmount(target) })
	return target
}

func expectFiles(t *testing.T, dir string, files map[string]string) {
	t.Helper()
	for n, want := range files {
		b, err := os.ReadFile(filepath.Join(dir, n))
		if want == "" {
			if err == nil {
				t.Errorf("%s: present, want absent", n)
			}
			continue
		}
		if err != nil || string(b) != want {
			t.Errorf("%s = %q, %v; want %q", n, b, err, want)
		}
	}
}

func testLayers(t *testing.T, newSn New) {
	requireRoot(t)
	ctx := context.Background()
	sn, _, _ := open(t, newSn)
	layer(t, sn, "sha256:l1", "", map[string]string{"a": "1", "dir/b": "1"})
	layer(t, sn, "sha256:l2", "sha256:l1", map[string]string{"dir/b": "2", "c": "2"})

	info, err := sn.Stat(ctx, "sha256:l2")
	if err != nil || info.Kind != snapshot.KindCommitted || info.Parent != "sha256:l1" || info.Labels[snapshot.LabelTemporary] != "" {
		t.Fatalf("Stat l2 = %+v, %v", info, err)
	}
	if _, err := sn.Stat(ctx, "extract-sha256:l2"); !errdefs.IsNotFound(err) {
		t.Fatalf("active key survives commit: %v", err)
	}

	// A committed layer mounts read-only.
	m, err := sn.Mounts(ctx, "sha256:l2")
	if err != nil {
		t.Fatal(err)
	}
	view := mountAt(t, m)
	expectFiles(t, view, map[string]string{"a": "1", "dir/b": "2", "c": "2"})
	if err := os.WriteFile(filepath.Join(view, "x"), nil, 0o644); !errors.Is(err, unix.EROFS) {
		t.Errorf("write to committed view: %v", err)
	}
	m, _ = sn.Mounts(ctx, "sha256:l1")
	view1 := mountAt(t, m)
	if err := os.WriteFile(filepath.Join(view1, "x"), nil, 0o644); !errors.Is(err, unix.EROFS) {
		t.Errorf("write to single-layer view: %v", err)
	}

	// Containers on a one-layer and a two-layer image write to their own layer only.
	for _, parent := range []string{"sha256:l1", "sha256:l2"} {
		key := "container-on-" + parent
		m, err := sn.Prepare(ctx, key, parent)
		if err != nil {
			t.Fatal(err)
		}
		if len(m) != 1 || m[0].Type != "overlay" {
			t.Fatalf("active snapshot on %s mounts as %+v, want overlay", parent, m)
		}
		root := mountAt(t, m)
		if err := os.WriteFile(filepath.Join(root, "a"), []byte("changed"), 0o644); err != nil {
			t.Fatal(err)
		}
		os.Remove(filepath.Join(root, "dir/b"))
		expectFiles(t, root, map[string]string{"a": "changed", "dir/b": ""})
		m2, err := sn.Mounts(ctx, key)
		if err != nil || fmt.Sprint(m2) != fmt.Sprint(m) {
			t.Fatalf("Mounts = %v, %v; Prepare said %v", m2, err, m)
		}
	}
	if n, err := sn.Usage(ctx, "sha256:l1"); err != nil || n != 2 {
		t.Errorf("Usage(l1) = %d, %v; want 2", n, err)
	}
	for _, target := range []string{view, view1} {
		if err := snapshot.Unmount(target); err != nil {
			t.Fatal(err)
		}
	}
	// The layers themselves are unchanged.
	m, _ = sn.Mounts(ctx, "sha256:l2")
	expectFiles(t, mountAt(t, m), map[string]string{"a": "1", "dir/b": "2", "c": "2"})

	var keys []string
	sn.Walk(ctx, func(i snapshot.Info) error { keys = append(keys, i.Key+"/"+string(i.Kind)); return nil })
	if want := "[container-on-sha256:l1/active container-on-sha256:l2/active sha256:l1/committed sha256:l2/committed]"; fmt.Sprint(keys) != want {
		t.Errorf("Walk = %v, want %s", keys, want)
	}
}

func testErrors(t *testing.T, newSn New) {
	ctx := context.Background()
	sn, _, _ := open(t, newSn)
	if _, err := sn.Prepare(ctx, "a", ""); err != nil {
		t.Fatal(err)
	}
	if _, err := sn.Prepare(ctx, "a", ""); !errdefs.IsConflict(err) {
		t.Errorf("Prepare of an existing key: %v", err)
	}
	if _, err := sn.Prepare(ctx, "b", "a"); !errdefs.IsInvalidParameter(err) {
		t.Errorf("Prepare on an active parent: %v", err)
	}
	if _, err := sn.Prepare(ctx, "b", "missing"); !errdefs.IsNotFound(err) {
		t.Errorf("Prepare on a missing parent: %v", err)
	}
	if err := sn.Commit(ctx, "l", "a"); err != nil {
		t.Fatal(err)
	}
	if err := sn.Commit(ctx, "l2", "l"); !errdefs.IsInvalidParameter(err) {
		t.Errorf("Commit of a committed snapshot: %v", err)
	}
	if _, err := sn.Prepare(ctx, "c", "l"); err != nil {
		t.Fatal(err)
	}
	if err := sn.Commit(ctx, "l", "c"); !errdefs.IsConflict(err) {
		t.Errorf("Commit onto an existing name: %v", err)
	}
	if err := sn.Remove(ctx, "l"); !errdefs.IsConflict(err) {
		t.Errorf("Remove of a parent: %v", err)
	}
	if err := sn.Remove(ctx, "c"); err != nil {
		t.Fatal(err)
	}
	if err := sn.Remove(ctx, "c"); !errdefs.IsNotFound(err) {
		t.Errorf("second Remove: %v", err)
	}
	if _, err := sn.Mounts(ctx, "c"); !errdefs.IsNotFound(err) {
		t.Errorf("Mounts of removed: %v", err)
	}
	if err := sn.Remove(ctx, "l"); err != nil {
		t.Fatal(err)
	}
	n := 0
	sn.Walk(ctx, func(snapshot.Info) error { n++; return nil })
	if n != 0 {
		t.Errorf("%d snapshots left", n)
	}
}

func testRestart(t *testing.T, newSn New) {
	ctx := context.Background()
	sn, root, db := open(t, newSn)
	if _, err := sn.Prepare(ctx, "base-active", ""); err != nil {
		t.Fatal(err)
	}
	if err := sn.Commit(ctx, "base", "base-active"); err != nil {
		t.Fatal(err)
	}
	if _, err := sn.Prepare(ctx, "unpacking", "base", snapshot.WithLabels(map[string]string{snapshot.LabelTemporary: "1"})); err != nil {
		t.Fatal(err)
	}
	if _, err := sn.Prepare(ctx, "container", "base", snapshot.WithLabels(map[string]string{"x": "y"})); err != nil {
		t.Fatal(err)
	}
	sn = newSn(t, root, db)
	if _, err := sn.Stat(ctx, "unpacking"); !errdefs.IsNotFound(err) {
		t.Errorf("temporary snapshot survived a restart: %v", err)
	}
	if i, err := sn.Stat(ctx, "container"); err != nil || i.Labels["x"] != "y" || i.Parent != "base" || i.Kind != snapshot.KindActive {
		t.Errorf("container after restart: %+v, %v", i, err)
	}
	if _, err := sn.Stat(ctx, "base"); err != nil {
		t.Errorf("base after restart: %v", err)
	}
}

func testManyLayers(t *testing.T, newSn New) {
	requireRoot(t)
	ctx := context.Background()
	sn, _, _ := open(t, newSn)
	parent := ""
	const n = 125
	for i := range n {
		name := fmt.Sprintf("sha256:%064d", i)
		layer(t, sn, name, parent, map[string]string{fmt.Sprintf("f%d", i): "x", "top": fmt.Sprint(i)})
		parent = name
	}
	m, err := sn.Prepare(ctx, "c", parent)
	if err != nil {
		t.Fatal(err)
	}
	root := mountAt(t, m)
	expectFiles(t, root, map[string]string{"f0": "x", fmt.Sprintf("f%d", n-1): "x", "top": fmt.Sprint(n - 1)})
}

// testCommitWithParent unpacks two layers independently and stacks them at commit.
func testCommitWithParent(t *testing.T, newSn New) {
	ctx := context.Background()
	sn, _, _ := open(t, newSn)
	write := func(key, file string) {
		m, err := sn.Prepare(ctx, key, "")
		if err != nil {
			t.Fatal(err)
		}
		dir, err := snapshot.WritableDir(m)
		if err != nil {
			t.Fatal(err)
		}
		os.WriteFile(filepath.Join(dir, file), []byte(file), 0o644)
	}
	write("u-top", "top")
	write("u-base", "base")
	if err := sn.Commit(ctx, "top", "u-top", snapshot.WithParent("missing")); !errdefs.IsNotFound(err) {
		t.Errorf("Commit on a missing parent: %v", err)
	}
	if err := sn.Commit(ctx, "top", "u-top", snapshot.WithParent("u-base")); !errdefs.IsInvalidParameter(err) {
		t.Errorf("Commit on an active parent: %v", err)
	}
	if err := sn.Commit(ctx, "base", "u-base"); err != nil {
		t.Fatal(err)
	}
	if err := sn.Commit(ctx, "top", "u-top", snapshot.WithParent("base")); err != nil {
		t.Fatal(err)
	}
	if i, err := sn.Stat(ctx, "top"); err != nil || i.Parent != "base" {
		t.Fatalf("Stat(top) = %+v, %v", i, err)
	}
	if err := sn.Remove(ctx, "base"); !errdefs.IsConflict(err) {
		t.Errorf("Remove of the new parent: %v", err)
	}
	if os.Geteuid() != 0 {
		return
	}
	m, err := sn.Prepare(ctx, "c", "top")
	if err != nil {
		t.Fatal(err)
	}
	expectFiles(t, mountAt(t, m), map[string]string{"top": "top", "base": "base"})
}
