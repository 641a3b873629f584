package snapshot

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"

	"golang.org/x/sys/unix"
)

// WritableDir returns the directory that receives writes to an active snapshot
// mounted from m (the bind source or the overlay upperdir), for unpacking into it.
func WritableDir(m []Mount) (string, error) {
	if len(m) == 1 {
		switch m[0].Type {
		case "bind":
			if !slices.Contains(m[0].Options, "ro") {
				return m[0].Source, nil
			}
		case "overlay":
			for _, o := range m[0].Options {
				if dir, ok := strings.CutPrefix(o, "upperdir="); ok {
					return dir, nil
				}
			}
		}
	}
	return "", fmt.Errorf("snapshot mounts %v have no writable directory", m)
}

// MountAll mounts m onto target, in order.
func MountAll(target string, m []Mount) error {
	target, err := filepath.Abs(target)
	if err != nil {
		return err
	}
	for i, mnt := range m {
		if err := mountOne(target, mnt); err != nil {
			for j := i - 1; j >= 0; j-- {
				unix.Unmount(target, unix.MNT_DETACH)
			}
			return err
		}
	}
	return nil
}

// Unmount unmounts target; a target that is not mounted is not an error.
func Unmount(target string) error {
	for {
		err := unix.Unmount(target, 0)
		switch {
		case err == nil:
			continue // also unmount anything stacked below
		case errors.Is(err, unix.EINVAL), errors.Is(err, unix.ENOENT):
			return nil
		case errors.Is(err, unix.EINTR):
			continue
		}
		return &os.PathError{Op: "unmount", Path: target, Err: err}
	}
}

func mountOne(target string, m Mount) error {
	var flags uintptr
	var data []string
	for _, o := range m.Options {
		switch o {
		case "ro":
			flags |= unix.MS_RDONLY
		case "rw":
		case "bind":
			flags |= unix.MS_BIND
		case "rbind":
			flags |= unix.MS_BIND | unix.MS_REC
		case "nosuid":
			flags |= unix.MS_NOSUID
		case "nodev":
			flags |= unix.MS_NODEV
		case "noexec":
			flags |= unix.MS_NOEXEC
		default:
			data = append(data, o)
		}
	}
	typ := m.Type
	if typ == "bind" {
		typ = ""
		flags |= unix.MS_BIND
	}
	opts := strings.Join(data, ",")
	if typ == "overlay" && len(opts) >= os.Getpagesize()-1 {
		return mountRelative(m.Source, target, typ, flags, data)
	}
	first := flags
	if flags&unix.MS_BIND != 0 {
		first &^= unix.MS_RDONLY
	}
	if err := unix.Mount(m.Source, target, typ, first, opts); err != nil {
		return fmt.Errorf("mount %s on %s: %w", m.Type, target, err)
	}
	if flags&unix.MS_BIND != 0 && flags&unix.MS_RDONLY != 0 {
		// A bind mount becomes read-only only through a remount.
		if err := unix.Mount("", target, "", flags|unix.MS_REMOUNT, ""); err != nil {
			unix.Unmount(target, unix.MNT_DETACH)
			return fmt.Errorf("remount %s read-only: %w", target, err)
		}
	}
	return nil
}

// mountRelative mounts an overlay whose option string is too long for one page by
// making its directories relative to their common parent, from a thread of its own
// whose working directory is that parent.
func mountRelative(source, target, typ string, flags uintptr, data []string) error {
	var dirs []string
	for _, o := range data {
		k, v, _ := strings.Cut(o, "=")
		switch k {
		case "lowerdir", "upperdir", "workdir":
			dirs = append(dirs, strings.Split(v, ":")...)
		}
	}
	common := commonDir(dirs)
	if common == "" || common == "/" {
		return fmt.Errorf("mount overlay on %s: options too long", target)
	}
	rel := make([]string, len(data))
	for i, o := range data {
		k, v, _ := strings.Cut(o, "=")
		switch k {
		case "lowerdir", "upperdir", "workdir":
			parts := strings.Split(v, ":")
			for j, p := range parts {
				parts[j], _ = filepath.Rel(common, p)
			}
			rel[i] = k + "=" + strings.Join(parts, ":")
		default:
			rel[i] = o
		}
	}
	opts := strings.Join(rel, ",")
	if len(opts) >= os.Getpagesize()-1 {
		return fmt.Errorf("mount overlay on %s: too many layers (%d bytes of options)", target, len(opts))
	}
	errc := make(chan error, 1)
	go func() {
		// The thread is never unlocked, so it exits with this goroutine and its own
		// working directory never leaks to other goroutines.
		runtime.LockOSThread()
		if err := unix.Unshare(unix.CLONE_FS); err != nil {
			errc <- fmt.Errorf("unshare fs: %w", err)
			return
		}
		if err := unix.Chdir(common); err != nil {
			errc <- err
			return
		}
		if err := unix.Mount(source, target, typ, flags, opts); err != nil {
			errc <- fmt.Errorf("mount overlay on %s: %w", target, err)
			return
		}
		errc <- nil
	}()
	return <-errc
}

func commonDir(paths []string) string {
	if len(paths) == 0 {
		return ""
	}
	c := filepath.Dir(paths[0])
	for _, p := range paths[1:] {
		for c != "/" && !strings.HasPrefix(p, c+"/") {
			c = filepath.Dir(c)
		}
	}
	return c
}
