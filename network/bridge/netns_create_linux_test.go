package bridge

import (
	"context"
	"errors"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/berth-dev/berth/errdefs"
	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// threadNetNSes returns the network namespaces (by link text) of all threads of this process.
func threadNetNSes(tb testing.TB) map[string]bool {
	tb.Helper()
	tasks, err := os.ReadDir("/proc/self/task")
	if err != nil {
		tb.Fatal(err)
	}
	out := map[string]bool{}
	for _, t := range tasks {
		if l, err := os.Readlink("/proc/self/task/" + t.Name() + "/ns/net"); err == nil {
			out[l] = true
		}
	}
	return out
}

func isNSFS(path string) bool {
	var st unix.Statfs_t
	return unix.Statfs(path, &st) == nil && st.Type == unix.NSFS_MAGIC
}

// waitGone polls until the host interface name disappears and returns how long it took.
func waitGone(tb testing.TB, name string) time.Duration {
	tb.Helper()
	start := time.Now()
	for time.Since(start) < 5*time.Second {
		if _, err := netlink.LinkByName(name); notFound(err) {
			return time.Since(start)
		}
		time.Sleep(time.Millisecond)
	}
	tb.Fatalf("%s still there 5s after its namespace was deleted", name)
	return 0
}

func TestNewNetNS(t *testing.T) {
	requireRoot(t)
	hostNS, _ := os.Readlink("/proc/self/ns/net")
	path := filepath.Join(t.TempDir(), "netns", "c1") // the parent directory is created
	t.Cleanup(func() { DeleteNetNS(path) })
	if err := NewNetNS(path); err != nil {
		t.Fatal(err)
	}
	if !isNSFS(path) {
		t.Fatalf("%s is not a namespace mount", path)
	}
	if fi, err := os.Stat(filepath.Dir(path)); err != nil || fi.Mode().Perm() != 0o755 {
		t.Fatalf("parent directory %v %v", fi, err)
	}
	// No thread of this process was left in the new namespace.
	if got := threadNetNSes(t); len(got) != 1 || !got[hostNS] {
		t.Fatalf("thread namespaces %v, want only %s", got, hostNS)
	}
	h := nsHandle(t, path)
	links, err := h.LinkList()
	if err != nil || len(links) != 1 || links[0].Attrs().Name != "lo" || links[0].Attrs().Flags&net.FlagUp == 0 {
		t.Fatalf("links in new namespace %v %v", links, err)
	}
	// lo works: a listener and a client inside the namespace.
	if err := InNetNS(path, func() error {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return err
		}
		defer ln.Close()
		c, err := net.DialTimeout("tcp", ln.Addr().String(), time.Second)
		if err == nil {
			c.Close()
		}
		return err
	}); err != nil {
		t.Fatalf("loopback in new namespace: %v", err)
	}

	// An existing path is refused and stays as it was.
	if err := NewNetNS(path); !errors.Is(err, os.ErrExist) {
		t.Fatalf("second NewNetNS: %v", err)
	}
	if !isNSFS(path) {
		t.Fatal("second NewNetNS broke the first namespace")
	}

	if err := DeleteNetNS(path); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Lstat(path); !os.IsNotExist(err) {
		t.Fatalf("%s still there: %v", path, err)
	}
	if err := DeleteNetNS(path); err != nil {
		t.Fatalf("second delete: %v", err)
	}
	if err := DeleteNetNS(filepath.Join(t.TempDir(), "missing", "x")); err != nil {
		t.Fatalf("missing path: %v", err)
	}
}

func TestNewNetNSConcurrent(t *testing.T) {
	requireRoot(t)
	dir := t.TempDir()
	paths := make([]string, 8)
	errc := make(chan error, len(paths))
	for i := range paths {
		paths[i] = filepath.Join(dir, strconv.Itoa(i))
		t.Cleanup(func() { DeleteNetNS(paths[i]) })
		go func() { errc <- NewNetNS(paths[i]) }()
	}
	for range paths {
		if err := <-errc; err != nil {
			t.Fatal(err)
		}
	}
	inodes := map[uint64]bool{}
	for _, p := range paths {
		var st unix.Stat_t
		if err := unix.Stat(p, &st); err != nil || !isNSFS(p) {
			t.Fatalf("%s: %v", p, err)
		}
		inodes[st.Ino] = true
	}
	if len(inodes) != len(paths) {
		t.Fatalf("%d distinct namespaces for %d paths", len(inodes), len(paths))
	}
	if got := threadNetNSes(t); len(got) != 1 {
		t.Fatalf("thread namespaces %v", got)
	}
	for _, p := range paths {
		if err := DeleteNetNS(p); err != nil {
			t.Fatal(err)
		}
	}
}

func TestNewNetNSFailureLeavesNothing(t *testing.T) {
	requireRoot(t)
	dir := t.TempDir()
	file := filepath.Join(dir, "file")
	if err := os.WriteFile(file, []byte("data"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := NewNetNS(filepath.Join(file, "ns")); err == nil {
		t.Fatal("path under a file accepted")
	}
	// Mounting fails on a read-only file system after the file exists: it is removed again.
	ro := filepath.Join(dir, "ro")
	if err := os.Mkdir(ro, 0o755); err != nil {
		t.Fatal(err)
	}
	run(t, "mount", "-t", "tmpfs", "tmpfs", ro)
	t.Cleanup(func() { unix.Unmount(ro, unix.MNT_DETACH) })
	if err := os.WriteFile(filepath.Join(ro, "keep"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	run(t, "mount", "-o", "remount,ro", ro)
	if err := NewNetNS(filepath.Join(ro, "ns")); err == nil {
		t.Fatal("read-only directory accepted")
	}
	ents, _ := os.ReadDir(dir)
	if ro, _ := os.ReadDir(ro); len(ents) != 2 || len(ro) != 1 {
		t.Fatalf("left behind: %v %v", ents, ro)
	}
	// DeleteNetNS refuses what is not a namespace file.
	if err := DeleteNetNS(file); !errdefs.IsConflict(err) {
		t.Fatalf("DeleteNetNS on a data file: %v", err)
	}
	if _, err := os.Stat(file); err != nil {
		t.Fatal(err)
	}
	if err := DeleteNetNS(dir); !errdefs.IsConflict(err) {
		t.Fatalf("DeleteNetNS on a directory: %v", err)
	}
	if got := threadNetNSes(t); len(got) != 1 {
		t.Fatalf("thread namespaces %v", got)
	}
}

// Deleting the namespace removes the container's veth and with it the host side:
// no Detach is needed, even when another mount namespace holds a copy of the mount.
func TestDeleteNetNSRemovesVeth(t *testing.T) {
	requireRoot(t)
	br, n := testBridge(t)
	dir := t.TempDir()
	for _, copyHolder := range []bool{false, true} {
		path := filepath.Join(dir, randHex())
		if err := NewNetNS(path); err != nil {
			t.Fatal(err)
		}
		ep := endpoint(t, n, path)
		if err := Attach(context.Background(), br, ep); err != nil {
			DeleteNetNS(path)
			t.Fatal(err)
		}
		if copyHolder {
			// A process in a private copy of the mount table made while the namespace is mounted.
			cmd := exec.Command("unshare", "-m", "--propagation", "private", "sleep", "30")
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
			deadline := time.Now().Add(2 * time.Second)
			for {
				b, _ := os.ReadFile("/proc/" + strconv.Itoa(cmd.Process.Pid) + "/mountinfo")
				if containsPath(b, path) {
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("copy of %s not seen in the other mount namespace", path)
				}
				time.Sleep(5 * time.Millisecond)
			}
		}
		start := time.Now()
		if err := DeleteNetNS(path); err != nil {
			t.Fatal(err)
		}
		took := time.Since(start)
		gone := waitGone(t, ep.HostIfName)
		t.Logf("copy held elsewhere %v: DeleteNetNS %v, host veth gone %v later", copyHolder, took, gone)
		if err := Detach(ep); err != nil {
			t.Fatalf("Detach after DeleteNetNS: %v", err)
		}
	}
}

func containsPath(mountinfo []byte, path string) bool {
	for _, line := range strings.Split(string(mountinfo), "\n") {
		if f := strings.Fields(line); len(f) > 4 && f[4] == path {
			return true
		}
	}
	return false
}

// BenchmarkNewNetNS measures creating a container's network namespace with lo up.
func BenchmarkNewNetNS(b *testing.B) {
	requireRoot(b)
	dir := b.TempDir()
	for b.Loop() {
		path := filepath.Join(dir, randHex())
		if err := NewNetNS(path); err != nil {
			b.Fatal(err)
		}
		b.StopTimer()
		if err := DeleteNetNS(path); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
	}
}

// BenchmarkDeleteNetNS measures DeleteNetNS of a namespace holding an attached endpoint
// (the kernel removes the veth pair afterwards, off the caller's path).
func BenchmarkDeleteNetNS(b *testing.B) {
	requireRoot(b)
	br, n := testBridge(b)
	dir := b.TempDir()
	tmpl := endpoint(b, n, "")
	var last string
	for b.Loop() {
		b.StopTimer()
		path := filepath.Join(dir, randHex())
		if err := NewNetNS(path); err != nil {
			b.Fatal(err)
		}
		ep := *tmpl
		ep.NetNSPath = path
		if err := Attach(context.Background(), br, &ep); err != nil {
			b.Fatal(err)
		}
		last = ep.HostIfName
		b.StartTimer()
		if err := DeleteNetNS(path); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	waitGone(b, last)
}

// BenchmarkDetachThenDeleteNetNS measures removing the veth first, then the namespace.
func BenchmarkDetachThenDeleteNetNS(b *testing.B) {
	requireRoot(b)
	br, n := testBridge(b)
	dir := b.TempDir()
	tmpl := endpoint(b, n, "")
	for b.Loop() {
		b.StopTimer()
		path := filepath.Join(dir, randHex())
		if err := NewNetNS(path); err != nil {
			b.Fatal(err)
		}
		ep := *tmpl
		ep.NetNSPath = path
		if err := Attach(context.Background(), br, &ep); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		if err := Detach(&ep); err != nil {
			b.Fatal(err)
		}
		if err := DeleteNetNS(path); err != nil {
			b.Fatal(err)
		}
	}
}
