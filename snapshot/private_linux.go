package snapshot

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"

	"github.com/berth-dev/berth/errdefs"
	"golang.org/x/sys/unix"
)

// LowerDirs returns the read-only layer directories of m, top first (the overlay
// lowerdirs, or the source of a read-only bind).
func LowerDirs(m []Mount) []string {
	if len(m) != 1 {
		return nil
	}
	switch m[0].Type {
	case "overlay":
		for _, o := range m[0].Options {
			if v, ok := strings.CutPrefix(o, "lowerdir="); ok {
				return strings.Split(v, ":")
			}
		}
	case "bind":
		for _, o := range m[0].Options {
			if o == "ro" {
				return []string{m[0].Source}
			}
		}
	}
	return nil
}

// ReadOnly returns mounts showing the same tree as m, read-only and without taking
// the upper directory of an overlay: it becomes the top lower layer, so the view can
// be mounted while m itself is mounted elsewhere.
func ReadOnly(m []Mount) []Mount {
	if len(m) != 1 {
		return m
	}
	switch m[0].Type {
	case "bind":
		opts := []string{"rbind", "ro"}
		return []Mount{{Type: "bind", Source: m[0].Source, Options: opts}}
	case "overlay":
		var lower, upper string
		var rest []string
		for _, o := range m[0].Options {
			k, v, _ := strings.Cut(o, "=")
			switch k {
			case "lowerdir":
				lower = v
			case "upperdir":
				upper = v
			case "workdir":
			default:
				rest = append(rest, o)
			}
		}
		if upper != "" {
			lower = upper + ":" + lower
		}
		return []Mount{{Type: "overlay", Source: m[0].Source, Options: append([]string{"lowerdir=" + lower}, rest...)}}
	}
	return m
}

// MountPrivate mounts m on the existing directory target inside a mount namespace of
// its own and returns an O_PATH handle on the mounted root. Nothing is mounted in the
// caller's namespace: the mount lives as long as the handle (and what is opened
// through it), so closing the handle is all the clean-up there is, even after a crash.
func MountPrivate(target string, m []Mount) (*os.File, error) {
	target, err := filepath.Abs(target)
	if err != nil {
		return nil, err
	}
	return inPrivateNS(func() (*os.File, error) {
		for _, mnt := range m {
			if err := mountHere(target, mnt); err != nil {
				return nil, err
			}
		}
		return os.OpenFile(target, unix.O_PATH|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	})
}

// OpenMounted returns an O_PATH handle on the root of the filesystem mounted at
// target, taken from a private copy of the mount table so that the handle never keeps
// target busy: target can be unmounted while the handle is in use. Nothing mounted at
// target is errdefs.ErrNotFound.
func OpenMounted(target string) (*os.File, error) {
	target, err := filepath.Abs(target)
	if err != nil {
		return nil, err
	}
	return inPrivateNS(func() (*os.File, error) {
		f, err := os.OpenFile(target, unix.O_PATH|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
		if err != nil {
			return nil, err
		}
		var st, pst unix.Statx_t
		err = unix.Statx(int(f.Fd()), "", unix.AT_EMPTY_PATH, unix.STATX_MNT_ID, &st)
		if err == nil {
			err = unix.Statx(int(f.Fd()), "..", 0, unix.STATX_MNT_ID, &pst)
		}
		if err != nil {
			f.Close()
			return nil, &os.PathError{Op: "statx", Path: target, Err: err}
		}
		if st.Mnt_id == pst.Mnt_id {
			f.Close()
			return nil, fmt.Errorf("nothing mounted at %s: %w", target, errdefs.ErrNotFound)
		}
		return f, nil
	})
}

// inPrivateNS runs fn on a thread of its own in a new mount namespace. The thread is
// never unlocked, so it ends with the goroutine and the namespace with it. It is never
// the main thread, whose namespace is the one /proc/self shows.
func inPrivateNS(fn func() (*os.File, error)) (*os.File, error) {
	type result struct {
		f   *os.File
		err error
	}
	ch := make(chan result, 1)
	var run func()
	run = func() {
		runtime.LockOSThread()
		if unix.Gettid() == unix.Getpid() {
			// Hold the main thread while another thread does the work.
			done := make(chan struct{})
			go func() { run(); close(done) }()
			<-done
			runtime.UnlockOSThread()
			return
		}
		if err := unix.Unshare(unix.CLONE_NEWNS); err != nil {
			ch <- result{err: fmt.Errorf("unshare mount namespace: %w", err)}
			return
		}
		// Out of every peer group: no mount or unmount propagates either way, and a
		// handle on a copy never makes an unmount in the caller's namespace busy.
		if err := unix.Mount("", "/", "", unix.MS_PRIVATE|unix.MS_REC, ""); err != nil {
			ch <- result{err: fmt.Errorf("make mounts private: %w", err)}
			return
		}
		f, err := fn()
		ch <- result{f, err}
	}
	go run()
	r := <-ch
	return r.f, r.err
}

// mountHere mounts m on target from the calling thread, whose working directory it
// may change (the thread must have a filesystem context of its own).
func mountHere(target string, m Mount) error {
	if m.Type != "overlay" || len(strings.Join(m.Options, ",")) < os.Getpagesize()-1 {
		return mountOne(target, m)
	}
	// Too long for one page: make the layer paths relative to their common parent
	// and mount from there.
	var dirs []string
	for _, o := range m.Options {
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
	rel := make([]string, len(m.Options))
	for i, o := range m.Options {
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
	if len(strings.Join(rel, ",")) >= os.Getpagesize()-1 {
		return fmt.Errorf("mount overlay on %s: too many layers", target)
	}
	if err := unix.Chdir(common); err != nil {
		return err
	}
	return mountOne(target, Mount{Type: m.Type, Source: m.Source, Options: rel})
}
