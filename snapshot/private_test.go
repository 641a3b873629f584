package snapshot

import (
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/berth-dev/berth/errdefs"
	"golang.org/x/sys/unix"
)

func needRoot(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		if os.Getenv("CI") == "true" {
			t.Fatal("test needs root")
		}
		t.Skip("test needs root")
	}
}

func fdPath(f *os.File, name string) string {
	return filepath.Join("/proc/self/fd", strconv.Itoa(int(f.Fd())), name)
}

func mountedIn(t *testing.T, dir string) bool {
	t.Helper()
	b, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		t.Fatal(err)
	}
	return strings.Contains(string(b), dir)
}

func TestLowerDirsReadOnly(t *testing.T) {
	ov := []Mount{{Type: "overlay", Source: "overlay", Options: []string{"lowerdir=/s/1/fs:/s/0/fs", "upperdir=/s/2/fs", "workdir=/s/2/work", "index=off"}}}
	if got := LowerDirs(ov); strings.Join(got, " ") != "/s/1/fs /s/0/fs" {
		t.Errorf("LowerDirs = %v", got)
	}
	ro := ReadOnly(ov)
	if len(ro) != 1 || strings.Join(ro[0].Options, ",") != "lowerdir=/s/2/fs:/s/1/fs:/s/0/fs,index=off" {
		t.Errorf("ReadOnly = %+v", ro)
	}
	bind := []Mount{{Type: "bind", Source: "/s/3/fs", Options: []string{"rbind", "rw"}}}
	if got := LowerDirs(bind); got != nil {
		t.Errorf("LowerDirs(rw bind) = %v", got)
	}
	if ro := ReadOnly(bind); strings.Join(ro[0].Options, ",") != "rbind,ro" || ro[0].Source != "/s/3/fs" {
		t.Errorf("ReadOnly(bind) = %+v", ro)
	}
}

// An overlay mounted privately is usable through the handle only, shows lower and
// upper, writes to upper, and leaves nothing mounted in this namespace.
func TestMountPrivateOverlay(t *testing.T) {
	needRoot(t)
	dir := t.TempDir()
	lower, upper, work, target := filepath.Join(dir, "l"), filepath.Join(dir, "u"), filepath.Join(dir, "w"), filepath.Join(dir, "t")
	for _, d := range []string{lower, upper, work, target} {
		os.Mkdir(d, 0o755)
	}
	os.WriteFile(filepath.Join(lower, "a"), []byte("lower"), 0o644)
	os.WriteFile(filepath.Join(lower, "gone"), nil, 0o644)
	m := []Mount{{Type: "overlay", Source: "overlay", Options: []string{"lowerdir=" + lower, "upperdir=" + upper, "workdir=" + work}}}
	h, err := MountPrivate(target, m)
	if err != nil {
		t.Fatal(err)
	}
	if mountedIn(t, target) {
		t.Error("private mount visible in the caller's namespace")
	}
	if b, err := os.ReadFile(fdPath(h, "a")); err != nil || string(b) != "lower" {
		t.Errorf("read through handle: %q, %v", b, err)
	}
	if err := os.WriteFile(fdPath(h, "b"), []byte("new"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(fdPath(h, "gone")); err != nil {
		t.Fatal(err)
	}
	h.Close()
	if b, _ := os.ReadFile(filepath.Join(upper, "b")); string(b) != "new" {
		t.Errorf("write did not reach the upper dir: %q", b)
	}
	var st unix.Stat_t
	if err := unix.Lstat(filepath.Join(upper, "gone"), &st); err != nil || st.Mode&unix.S_IFMT != unix.S_IFCHR {
		t.Errorf("no whiteout in upper: %v", err)
	}

	// The read-only view of the same snapshot sees the changes and refuses writes.
	h, err = MountPrivate(target, ReadOnly(m))
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	if b, _ := os.ReadFile(fdPath(h, "b")); string(b) != "new" {
		t.Errorf("read-only view misses the upper dir: %q", b)
	}
	if _, err := os.Lstat(fdPath(h, "gone")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("whiteout not applied in read-only view: %v", err)
	}
	if err := os.WriteFile(fdPath(h, "c"), nil, 0o644); !errors.Is(err, unix.EROFS) {
		t.Errorf("write to read-only view: %v", err)
	}
}

// A handle from OpenMounted does not keep the mount busy.
func TestOpenMounted(t *testing.T) {
	needRoot(t)
	src, target := t.TempDir(), t.TempDir()
	os.WriteFile(filepath.Join(src, "f"), []byte("x"), 0o644)
	if _, err := OpenMounted(target); !errdefs.IsNotFound(err) {
		t.Fatalf("OpenMounted of a plain directory: %v", err)
	}
	if err := MountAll(target, []Mount{{Type: "bind", Source: src, Options: []string{"rbind", "rw"}}}); err != nil {
		t.Fatal(err)
	}
	h, err := OpenMounted(target)
	if err != nil {
		Unmount(target)
		t.Fatal(err)
	}
	defer h.Close()
	if err := unix.Unmount(target, 0); err != nil {
		t.Fatalf("unmount while a handle is open: %v", err)
	}
	if b, err := os.ReadFile(fdPath(h, "f")); err != nil || string(b) != "x" {
		t.Errorf("read through handle after unmount: %q, %v", b, err)
	}
	if l, err := os.Readlink(fdPath(h, "")); err != nil {
		t.Error(err)
	} else {
		t.Logf("handle path: %s", l)
	}
}
