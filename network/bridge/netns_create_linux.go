package bridge

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strconv"

	"github.com/berth-dev/berth/errdefs"
	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// NewNetNS creates a network namespace with lo up and bind-mounts it at path, creating
// path's directory if needed. An existing path is an error; on error nothing is left behind.
func NewNetNS(path string) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return fmt.Errorf("create network namespace %s: %w", path, err)
	}
	f, err := os.OpenFile(path, os.O_RDONLY|os.O_CREATE|os.O_EXCL, 0o444)
	if err != nil {
		return fmt.Errorf("create network namespace %s: %w", path, err)
	}
	f.Close()
	errc := make(chan error, 1)
	go func() { errc <- unshareNetNS(path) }()
	if err := <-errc; err != nil {
		unix.Unmount(path, unix.MNT_DETACH)
		os.Remove(path)
		return fmt.Errorf("create network namespace %s: %w", path, err)
	}
	return nil
}

// unshareNetNS moves the current thread into a new network namespace, mounts it at path,
// brings lo up and switches back. If switching back fails the thread stays locked, so
// the runtime discards it when the calling goroutine ends.
func unshareNetNS(path string) error {
	runtime.LockOSThread()
	self := "/proc/self/task/" + strconv.Itoa(unix.Gettid()) + "/ns/net"
	orig, err := os.Open(self)
	if err != nil {
		runtime.UnlockOSThread()
		return err
	}
	defer orig.Close()
	if err := unix.Unshare(unix.CLONE_NEWNET); err != nil {
		runtime.UnlockOSThread()
		return fmt.Errorf("unshare: %w", err)
	}
	ferr := func() error {
		if err := unix.Mount(self, path, "", unix.MS_BIND, ""); err != nil {
			return fmt.Errorf("bind mount: %w", err)
		}
		h, err := netlink.NewHandle(netlinkRoute)
		if err != nil {
			return err
		}
		defer h.Close()
		return setLoUp(h)
	}()
	if err := unix.Setns(int(orig.Fd()), unix.CLONE_NEWNET); err != nil {
		return fmt.Errorf("restore network namespace: %w", err)
	}
	runtime.UnlockOSThread()
	return ferr
}

// DeleteNetNS unmounts the network namespace at path and removes the file; a missing path
// is not an error. The namespace, and the veth pairs with an end in it, go away with the
// last user: the kernel tears them down in the background.
func DeleteNetNS(path string) error {
	// Unmount every network namespace stacked on path, and nothing else.
	for {
		var st unix.Statfs_t
		if err := unix.Statfs(path, &st); err != nil {
			if errors.Is(err, unix.ENOENT) {
				return nil
			}
			return fmt.Errorf("delete network namespace %s: %w", path, err)
		}
		if st.Type != unix.NSFS_MAGIC {
			break
		}
		if err := unix.Unmount(path, unix.MNT_DETACH|unix.UMOUNT_NOFOLLOW); err != nil {
			return fmt.Errorf("delete network namespace %s: unmount: %w", path, err)
		}
	}
	fi, err := os.Lstat(path)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil
		}
		return fmt.Errorf("delete network namespace %s: %w", path, err)
	}
	if !fi.Mode().IsRegular() || fi.Size() != 0 {
		return errdefs.Conflict(fmt.Sprintf("%s is not a network namespace file", path))
	}
	if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("delete network namespace %s: %w", path, err)
	}
	return nil
}
