package overlay

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/berth-dev/berth/metadata"
	"github.com/berth-dev/berth/snapshot"
	"github.com/berth-dev/berth/snapshot/testsuite"
	"golang.org/x/sys/unix"
)

func newSn(t *testing.T, root string, db *metadata.DB) snapshot.Snapshotter {
	s, err := New(filepath.Join(root, "snapshots", "overlay"), db)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestConformance(t *testing.T) { testsuite.Run(t, newSn) }

func TestLayoutAndCleanup(t *testing.T) {
	ctx := context.Background()
	root := t.TempDir()
	db, err := metadata.Open(root)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	s, _ := New(filepath.Join(root, "snapshots", "overlay"), db)
	m, err := s.Prepare(ctx, "k", "")
	if err != nil {
		t.Fatal(err)
	}
	dir, _ := snapshot.WritableDir(m)
	if want := filepath.Join(root, "snapshots", "overlay", "1", "fs"); dir != want {
		t.Fatalf("dir = %s, want %s", dir, want)
	}
	if fi, err := os.Stat(filepath.Join(root, "snapshots", "overlay", "1", "work")); err != nil || !fi.IsDir() {
		t.Fatal("no work dir")
	}
	var r record
	if err := db.Get("snapshots", "k", &r); err != nil || r.ID != 1 || r.Kind != snapshot.KindActive {
		t.Fatalf("record = %+v, %v", r, err)
	}
	// Leftovers of a crash: a directory without record, a half-made and a half-removed one.
	for _, d := range []string{"7", "new-123", "rm-5"} {
		os.MkdirAll(filepath.Join(root, "snapshots", "overlay", d, "fs"), 0o755)
	}
	if _, err := New(filepath.Join(root, "snapshots", "overlay"), db); err != nil {
		t.Fatal(err)
	}
	ents, _ := os.ReadDir(filepath.Join(root, "snapshots", "overlay"))
	if len(ents) != 1 || ents[0].Name() != "1" {
		t.Fatalf("after cleanup: %v", ents)
	}
	if err := s.Remove(ctx, "k"); err != nil {
		t.Fatal(err)
	}
	if ents, _ := os.ReadDir(filepath.Join(root, "snapshots", "overlay")); len(ents) != 0 {
		t.Fatalf("after remove: %v", ents)
	}
	// Ids are never reused.
	m, _ = s.Prepare(ctx, "k2", "")
	if dir, _ := snapshot.WritableDir(m); filepath.Base(filepath.Dir(dir)) != "2" {
		t.Fatalf("new snapshot in %s", dir)
	}
}

// On ext4 the snapshot root is marked so that each snapshot directory starts in a block
// group of its own; elsewhere New works without it.
func TestSnapshotRootSpreadsSubdirs(t *testing.T) {
	_, dir := openSnapshotter(t)
	var st unix.Statfs_t
	if err := unix.Statfs(dir, &st); err != nil {
		t.Fatal(err)
	}
	if st.Type != unix.EXT4_SUPER_MAGIC {
		return
	}
	fd, err := unix.Open(dir, unix.O_RDONLY|unix.O_DIRECTORY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(fd)
	flags, err := unix.IoctlGetInt(fd, unix.FS_IOC_GETFLAGS)
	if err != nil || flags&fsTopdirFL == 0 {
		t.Fatalf("flags %#x, %v: FS_TOPDIR_FL not set", flags, err)
	}
}

// A writable mount turns off the overlayfs features the kernel knows that would make an
// upper directory something other than a plain layer.
func TestActiveMountTurnsOffIndexRedirectMetacopy(t *testing.T) {
	ctx := context.Background()
	s, _ := openSnapshotter(t)
	if _, err := s.Prepare(ctx, "base-active", ""); err != nil {
		t.Fatal(err)
	}
	if err := s.Commit(ctx, "base", "base-active"); err != nil {
		t.Fatal(err)
	}
	m, err := s.Prepare(ctx, "rw", "base")
	if err != nil || len(m) != 1 || m[0].Type != "overlay" {
		t.Fatalf("mounts %+v, %v", m, err)
	}
	opts := strings.Join(m[0].Options, ",")
	for _, o := range []string{"index", "redirect_dir", "metacopy"} {
		_, known := os.Stat("/sys/module/overlay/parameters/" + o)
		if has := strings.Contains(opts, o+"=off"); has != (known == nil) {
			t.Errorf("%s=off in %q: %v, kernel knows %s: %v", o, opts, has, o, known == nil)
		}
	}
}

// openSnapshotter opens a snapshotter on a new data root; it returns it and its directory.
func openSnapshotter(t *testing.T) (*Snapshotter, string) {
	t.Helper()
	root := t.TempDir()
	db, err := metadata.Open(root)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	dir := filepath.Join(root, "snapshots", "overlay")
	s, err := New(dir, db)
	if err != nil {
		t.Fatal(err)
	}
	return s, dir
}
