package snapshot

import (
	"errors"
	"os"
	"path/filepath"
	"testing"

	"golang.org/x/sys/unix"
)

func TestWritableDir(t *testing.T) {
	for _, tc := range []struct {
		m    []Mount
		want string
	}{
		{[]Mount{{Type: "bind", Source: "/s/1/fs", Options: []string{"rbind", "rw"}}}, "/s/1/fs"},
		{[]Mount{{Type: "overlay", Source: "overlay", Options: []string{"lowerdir=/s/1/fs", "upperdir=/s/2/fs", "workdir=/s/2/work"}}}, "/s/2/fs"},
		{[]Mount{{Type: "bind", Source: "/s/1/fs", Options: []string{"rbind", "ro"}}}, ""},
		{[]Mount{{Type: "overlay", Source: "overlay", Options: []string{"lowerdir=/s/1/fs:/s/2/fs"}}}, ""},
		{nil, ""},
	} {
		got, err := WritableDir(tc.m)
		if got != tc.want || (err == nil) != (tc.want != "") {
			t.Errorf("WritableDir(%v) = %q, %v; want %q", tc.m, got, err, tc.want)
		}
	}
}

func TestCommonDir(t *testing.T) {
	for want, paths := range map[string][]string{
		"/a/s":   {"/a/s/1/fs", "/a/s/22/fs", "/a/s/3/work"},
		"/a/s/1": {"/a/s/1/fs"},
		"/":      {"/x/1/fs", "/y/2/fs"},
	} {
		if got := commonDir(paths); got != want {
			t.Errorf("commonDir(%v) = %q, want %q", paths, got, want)
		}
	}
}

func TestBindMountReadOnly(t *testing.T) {
	if os.Geteuid() != 0 {
		if os.Getenv("CI") == "true" {
			t.Fatal("test needs root")
		}
		t.Skip("test needs root")
	}
	src, target := t.TempDir(), t.TempDir()
	os.WriteFile(filepath.Join(src, "f"), []byte("x"), 0o644)
	if err := MountAll(target, []Mount{{Type: "bind", Source: src, Options: []string{"rbind", "ro"}}}); err != nil {
		t.Fatal(err)
	}
	defer Unmount(target)
	if b, _ := os.ReadFile(filepath.Join(target, "f")); string(b) != "x" {
		t.Error("bind mount does not show the source")
	}
	if err := os.WriteFile(filepath.Join(target, "g"), nil, 0o644); !errors.Is(err, unix.EROFS) {
		t.Errorf("write to read-only bind: %v", err)
	}
	if err := Unmount(target); err != nil {
		t.Fatal(err)
	}
	if err := Unmount(target); err != nil {
		t.Errorf("second Unmount: %v", err)
	}
	if err := Unmount(filepath.Join(target, "missing")); err != nil {
		t.Errorf("Unmount of a missing path: %v", err)
	}
	if _, err := os.Stat(filepath.Join(target, "f")); err == nil {
		t.Error("still mounted")
	}
}
