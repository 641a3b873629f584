package volume

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/berth-dev/berth/errdefs"
	"github.com/berth-dev/berth/metadata"
)

func newStore(t *testing.T) (*Store, *metadata.DB, string) {
	t.Helper()
	dir := t.TempDir()
	db, err := metadata.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	s, err := New(filepath.Join(dir, "volumes"), db)
	if err != nil {
		t.Fatal(err)
	}
	return s, db, dir
}

func TestCreateGetListRemove(t *testing.T) {
	s, db, dir := newStore(t)
	v, made, err := s.Create("data", "", map[string]string{"a": "b"}, nil, false)
	if err != nil || !made || v.Driver != DriverLocal {
		t.Fatalf("create: %+v %v %v", v, made, err)
	}
	if fi, err := os.Stat(s.Path("data")); err != nil || !fi.IsDir() || s.Path("data") != filepath.Join(dir, "volumes", "data", "_data") {
		t.Fatalf("data dir: %v", err)
	}
	// Creating it again returns the same volume; with other options it is a conflict.
	if again, made, err := s.Create("data", "local", nil, nil, false); err != nil || made || again != v {
		t.Fatalf("second create: %v %v", made, err)
	}
	if _, _, err := s.Create("data", "", nil, map[string]string{"type": "tmpfs", "device": "tmpfs"}, false); !errdefs.IsConflict(err) {
		t.Fatalf("create with other options: %v", err)
	}
	// Anonymous volumes get a 64-hex name.
	anon, _, err := s.Create("", "", nil, nil, false)
	if err != nil || len(anon.Name) != 64 || !anon.Anonymous {
		t.Fatalf("anonymous: %+v %v", anon, err)
	}
	// The records survive a reopen.
	s2, err := New(filepath.Join(dir, "volumes"), db)
	if err != nil {
		t.Fatal(err)
	}
	if l := s2.List(); len(l) != 2 || l[0].Name > l[1].Name {
		t.Fatalf("list after reopen: %v", l)
	}
	if got, err := s2.Get("data"); err != nil || got.Labels["a"] != "b" {
		t.Fatalf("get after reopen: %+v %v", got, err)
	}
	os.WriteFile(filepath.Join(s2.Path("data"), "f"), []byte("12345"), 0o644)
	if n := s2.Size("data"); n != 5 || s2.Empty("data") {
		t.Fatalf("size %d, empty %v", n, s2.Empty("data"))
	}
	if err := s2.Remove("data"); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, "volumes", "data")); !os.IsNotExist(err) {
		t.Fatalf("data left: %v", err)
	}
	if _, err := s2.Get("data"); !errdefs.IsNotFound(err) {
		t.Fatalf("get after remove: %v", err)
	}
	if err := s2.Remove("data"); !errdefs.IsNotFound(err) {
		t.Fatalf("second remove: %v", err)
	}
}

func TestCreateRefusesBadInput(t *testing.T) {
	s, _, _ := newStore(t)
	for name, c := range map[string]struct {
		name, driver string
		opts         map[string]string
		class        func(error) bool
	}{
		"driver":      {"v1", "nfs", nil, errdefs.IsNotFound},
		"name":        {"a/b", "", nil, errdefs.IsInvalidParameter},
		"short name":  {"a", "", nil, errdefs.IsInvalidParameter},
		"option":      {"v2", "", map[string]string{"color": "red"}, errdefs.IsInvalidParameter},
		"o w/o type":  {"v3", "", map[string]string{"o": "size=1m"}, errdefs.IsInvalidParameter},
		"quota size":  {"v4", "", map[string]string{"size": "1g"}, errdefs.IsInvalidParameter},
		"device only": {"v5", "", map[string]string{"device": "/dev/sdz"}, errdefs.IsInvalidParameter},
	} {
		if _, _, err := s.Create(c.name, c.driver, nil, c.opts, false); err == nil || !c.class(err) {
			t.Errorf("%s: %v", name, err)
		}
	}
	if l := s.List(); len(l) != 0 {
		t.Fatalf("bad input created %v", l)
	}
}

func TestMountTmpfsVolume(t *testing.T) {
	if os.Geteuid() != 0 {
		if os.Getenv("CI") == "true" {
			t.Fatal("needs root")
		}
		t.Skip("needs root")
	}
	s, _, _ := newStore(t)
	if _, _, err := s.Create("tv", "", nil, map[string]string{"type": "tmpfs", "device": "tmpfs", "o": "size=1m"}, false); err != nil {
		t.Fatal(err)
	}
	p, err := s.Mount("tv")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Mount("tv"); err != nil { // a second user shares the mount
		t.Fatal(err)
	}
	if err := s.Remove("tv"); !errdefs.IsConflict(err) {
		t.Fatalf("remove while mounted: %v", err)
	}
	if !mounted(t, p) {
		t.Fatal("not mounted")
	}
	s.Unmount("tv")
	if !mounted(t, p) {
		t.Fatal("unmounted while a user remains")
	}
	s.Unmount("tv")
	if mounted(t, p) {
		t.Fatal("still mounted after the last user")
	}
	if err := s.Remove("tv"); err != nil {
		t.Fatal(err)
	}
}

func mounted(t *testing.T, p string) bool {
	t.Helper()
	b, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if f := strings.Fields(line); len(f) > 4 && f[4] == p {
			return true
		}
	}
	return false
}
