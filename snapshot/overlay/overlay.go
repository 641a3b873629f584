package overlay

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/berth-dev/berth/errdefs"
	"github.com/berth-dev/berth/metadata"
	"github.com/berth-dev/berth/snapshot"
	"golang.org/x/sys/unix"
)

const (
	bucket    = "snapshots"
	seqBucket = "snapshots-seq"
	seqKey    = "overlay"
)

var _ snapshot.Snapshotter = (*Snapshotter)(nil)

// Snapshotter stores snapshots as overlayfs layers.
type Snapshotter struct {
	dir string
	db  *metadata.DB
}

type record struct {
	ID      uint64            `json:"id"`
	Kind    snapshot.Kind     `json:"kind"`
	Parent  string            `json:"parent,omitempty"`
	Labels  map[string]string `json:"labels,omitempty"`
	Created time.Time         `json:"created"`
}

// New opens the snapshotter in dir (<data-root>/snapshots/overlay), removing
// directories without a record and temporary snapshots left by a previous process.
func New(dir string, db *metadata.DB) (*Snapshotter, error) {
	s := &Snapshotter{dir: dir, db: db}
	if err := os.MkdirAll(s.dir, 0o700); err != nil {
		return nil, err
	}
	spreadSubdirs(s.dir)
	if err := s.cleanup(); err != nil {
		return nil, fmt.Errorf("clean up snapshots: %w", err)
	}
	return s, nil
}

func (s *Snapshotter) cleanup() error {
	var temp []string
	ids := map[string]bool{}
	err := s.db.View(func(tx *metadata.Tx) error {
		return tx.ForEach(bucket, func(key string, raw []byte) error {
			var r record
			if err := json.Unmarshal(raw, &r); err != nil {
				return err
			}
			if r.Kind == snapshot.KindActive && r.Labels[snapshot.LabelTemporary] != "" {
				temp = append(temp, key)
			}
			ids[strconv.FormatUint(r.ID, 10)] = true
			return nil
		})
	})
	if err != nil {
		return err
	}
	for _, key := range temp {
		if err := s.Remove(context.Background(), key); err != nil {
			return err
		}
	}
	ents, err := os.ReadDir(s.dir)
	if err != nil {
		return err
	}
	for _, e := range ents {
		if !ids[e.Name()] {
			if err := os.RemoveAll(filepath.Join(s.dir, e.Name())); err != nil {
				return err
			}
		}
	}
	return nil
}

func (s *Snapshotter) path(id uint64) string { return filepath.Join(s.dir, strconv.FormatUint(id, 10)) }

func notFound(key string) error {
	return fmt.Errorf("snapshot %s: %w", key, errdefs.ErrNotFound)
}

func get(tx *metadata.Tx, key string) (record, error) {
	var r record
	if err := tx.Get(bucket, key, &r); err != nil {
		if errdefs.IsNotFound(err) {
			return r, notFound(key)
		}
		return r, err
	}
	return r, nil
}

func info(key string, r record) snapshot.Info {
	return snapshot.Info{Key: key, Parent: r.Parent, Kind: r.Kind, Labels: r.Labels, Created: r.Created}
}

// Stat returns the info of snapshot key.
func (s *Snapshotter) Stat(ctx context.Context, key string) (snapshot.Info, error) {
	var r record
	err := s.db.View(func(tx *metadata.Tx) (err error) {
		r, err = get(tx, key)
		return err
	})
	if err != nil {
		return snapshot.Info{}, err
	}
	return info(key, r), nil
}

// Prepare creates the active snapshot key on top of parent.
func (s *Snapshotter) Prepare(ctx context.Context, key, parent string, opts ...snapshot.Opt) ([]snapshot.Mount, error) {
	if key == "" {
		return nil, errdefs.InvalidParameter("snapshot key must not be empty")
	}
	in := snapshot.Info{}
	for _, o := range opts {
		o(&in)
	}
	tmp, err := os.MkdirTemp(s.dir, "new-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(tmp) // gone after the rename
	if err := os.Mkdir(filepath.Join(tmp, "fs"), 0o755); err != nil {
		return nil, err
	}
	if err := os.Mkdir(filepath.Join(tmp, "work"), 0o700); err != nil {
		return nil, err
	}
	var m []snapshot.Mount
	err = s.db.Update(func(tx *metadata.Tx) error {
		if tx.Has(bucket, key) {
			return errdefs.Conflict(fmt.Sprintf("snapshot %s already exists", key))
		}
		if parent != "" {
			p, err := get(tx, parent)
			if err != nil {
				return fmt.Errorf("parent %w", err)
			}
			if p.Kind != snapshot.KindCommitted {
				return errdefs.InvalidParameter(fmt.Sprintf("parent snapshot %s is not committed", parent))
			}
		}
		var seq uint64
		if err := tx.Get(seqBucket, seqKey, &seq); err != nil && !errdefs.IsNotFound(err) {
			return err
		}
		seq++
		if err := tx.Put(seqBucket, seqKey, seq); err != nil {
			return err
		}
		r := record{ID: seq, Kind: snapshot.KindActive, Parent: parent, Labels: in.Labels, Created: time.Now().UTC()}
		if err := tx.Put(bucket, key, r); err != nil {
			return err
		}
		var err error
		if m, err = s.mounts(tx, r); err != nil {
			return err
		}
		return os.Rename(tmp, s.path(seq))
	})
	if err != nil {
		return nil, err
	}
	return m, nil
}

// Mounts returns how to mount snapshot key.
func (s *Snapshotter) Mounts(ctx context.Context, key string) ([]snapshot.Mount, error) {
	var m []snapshot.Mount
	err := s.db.View(func(tx *metadata.Tx) error {
		r, err := get(tx, key)
		if err != nil {
			return err
		}
		m, err = s.mounts(tx, r)
		return err
	})
	return m, err
}

func (s *Snapshotter) mounts(tx *metadata.Tx, r record) ([]snapshot.Mount, error) {
	var lower []string // top to bottom
	if r.Kind == snapshot.KindCommitted {
		lower = append(lower, filepath.Join(s.path(r.ID), "fs"))
	}
	for p := r.Parent; p != ""; {
		pr, err := get(tx, p)
		if err != nil {
			return nil, fmt.Errorf("parent %w", err)
		}
		lower = append(lower, filepath.Join(s.path(pr.ID), "fs"))
		p = pr.Parent
	}
	if r.Kind == snapshot.KindActive {
		fsDir := filepath.Join(s.path(r.ID), "fs")
		if len(lower) == 0 {
			return []snapshot.Mount{{Type: "bind", Source: fsDir, Options: []string{"rbind", "rw"}}}, nil
		}
		opts := []string{
			"lowerdir=" + strings.Join(lower, ":"),
			"upperdir=" + fsDir,
			"workdir=" + filepath.Join(s.path(r.ID), "work"),
		}
		opts = append(opts, offOptions()...)
		return []snapshot.Mount{{Type: "overlay", Source: "overlay", Options: opts}}, nil
	}
	if len(lower) == 1 {
		return []snapshot.Mount{{Type: "bind", Source: lower[0], Options: []string{"rbind", "ro"}}}, nil
	}
	return []snapshot.Mount{{Type: "overlay", Source: "overlay", Options: []string{"lowerdir=" + strings.Join(lower, ":")}}}, nil
}

// Commit turns active snapshot key into committed snapshot name after syncing its data.
func (s *Snapshotter) Commit(ctx context.Context, name, key string, opts ...snapshot.Opt) error {
	if name == "" {
		return errdefs.InvalidParameter("snapshot name must not be empty")
	}
	r, err := s.stat(key)
	if err != nil {
		return err
	}
	if err := syncfs(filepath.Join(s.path(r.ID), "fs")); err != nil {
		return err
	}
	return s.db.Update(func(tx *metadata.Tx) error {
		r, err := get(tx, key)
		if err != nil {
			return err
		}
		if r.Kind != snapshot.KindActive {
			return errdefs.InvalidParameter(fmt.Sprintf("snapshot %s is not active", key))
		}
		if tx.Has(bucket, name) {
			return errdefs.Conflict(fmt.Sprintf("snapshot %s already exists", name))
		}
		in := snapshot.Info{Labels: r.Labels, Parent: r.Parent}
		for _, o := range opts {
			o(&in)
		}
		if in.Parent != r.Parent {
			if r.Parent != "" {
				return errdefs.InvalidParameter(fmt.Sprintf("snapshot %s already has parent %s", key, r.Parent))
			}
			p, err := get(tx, in.Parent)
			if err != nil {
				return fmt.Errorf("parent %w", err)
			}
			if p.Kind != snapshot.KindCommitted {
				return errdefs.InvalidParameter(fmt.Sprintf("parent snapshot %s is not committed", in.Parent))
			}
			r.Parent = in.Parent
		}
		delete(in.Labels, snapshot.LabelTemporary)
		if len(in.Labels) == 0 {
			in.Labels = nil
		}
		r.Kind, r.Labels, r.Created = snapshot.KindCommitted, in.Labels, time.Now().UTC()
		if err := tx.Delete(bucket, key); err != nil {
			return err
		}
		return tx.Put(bucket, name, r)
	})
}

func (s *Snapshotter) stat(key string) (r record, err error) {
	err = s.db.View(func(tx *metadata.Tx) error {
		r, err = get(tx, key)
		return err
	})
	return r, err
}

// fsTopdirFL is FS_TOPDIR_FL: ext4's Orlov allocator spreads the subdirectories of a
// directory marked so over the block groups, as it does at the top of the filesystem.
const fsTopdirFL = 0x00020000

// spreadSubdirs marks dir so that each snapshot directory starts in a block group of its
// own, where creating a layer's thousands of inodes does not scan groups full of the
// inodes other layers and containers just freed. Best effort: other filesystems refuse.
func spreadSubdirs(dir string) {
	fd, err := unix.Open(dir, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return
	}
	defer unix.Close(fd)
	if flags, err := unix.IoctlGetInt(fd, unix.FS_IOC_GETFLAGS); err == nil && flags&fsTopdirFL == 0 {
		unix.IoctlSetPointerInt(fd, unix.FS_IOC_SETFLAGS, flags|fsTopdirFL)
	}
}

func syncfs(dir string) error {
	fd, err := unix.Open(dir, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return &os.PathError{Op: "open", Path: dir, Err: err}
	}
	defer unix.Close(fd)
	if err := unix.Syncfs(fd); err != nil {
		return &os.PathError{Op: "syncfs", Path: dir, Err: err}
	}
	return nil
}

// Remove deletes snapshot key and its directory.
func (s *Snapshotter) Remove(ctx context.Context, key string) error {
	var id uint64
	err := s.db.Update(func(tx *metadata.Tx) error {
		r, err := get(tx, key)
		if err != nil {
			return err
		}
		if r.Kind == snapshot.KindCommitted {
			var child string
			err := tx.ForEach(bucket, func(k string, raw []byte) error {
				var c record
				if err := json.Unmarshal(raw, &c); err != nil {
					return err
				}
				if c.Parent == key {
					child = k
					return errStop
				}
				return nil
			})
			if err != nil && err != errStop {
				return err
			}
			if child != "" {
				return errdefs.Conflict(fmt.Sprintf("snapshot %s has children (%s)", key, child))
			}
		}
		id = r.ID
		return tx.Delete(bucket, key)
	})
	if err != nil {
		return err
	}
	// Rename first so that a crash mid-removal leaves a directory that cleanup removes.
	dir := s.path(id)
	gone := filepath.Join(s.dir, "rm-"+strconv.FormatUint(id, 10))
	if err := os.Rename(dir, gone); err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil
		}
		return err
	}
	return os.RemoveAll(gone)
}

var errStop = errors.New("stop")

// offOptions turns off, for writable mounts, the overlayfs features this kernel knows
// (each has a module parameter then) that would make an upper directory something other
// than a plain layer: index ties it to its first lower stack (containerd turns it off
// too); redirect_dir would record a renamed directory as a pointer into the lower
// layers, metacopy a copied-up file as metadata without its data, and a layer is read
// both as a diff and, for a build step, as the next layer's snapshot. Kernels whose
// defaults are on (a build option) would otherwise break both.
var offOptions = sync.OnceValue(func() []string {
	var opts []string
	for _, o := range []string{"index", "redirect_dir", "metacopy"} {
		if _, err := os.Stat("/sys/module/overlay/parameters/" + o); err == nil {
			opts = append(opts, o+"=off")
		}
	}
	return opts
})

// Walk calls fn for every snapshot, in key order.
func (s *Snapshotter) Walk(ctx context.Context, fn func(snapshot.Info) error) error {
	var all []snapshot.Info
	err := s.db.View(func(tx *metadata.Tx) error {
		return tx.ForEach(bucket, func(k string, raw []byte) error {
			var r record
			if err := json.Unmarshal(raw, &r); err != nil {
				return err
			}
			all = append(all, info(k, r))
			return nil
		})
	})
	if err != nil {
		return err
	}
	for _, i := range all {
		if err := fn(i); err != nil {
			return err
		}
	}
	return nil
}

// Usage returns the apparent size of the snapshot's own layer, hardlinks counted once.
func (s *Snapshotter) Usage(ctx context.Context, key string) (int64, error) {
	r, err := s.stat(key)
	if err != nil {
		return 0, err
	}
	var size int64
	seen := map[uint64]bool{}
	err = filepath.WalkDir(filepath.Join(s.path(r.ID), "fs"), func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		if st, ok := fi.Sys().(*syscall.Stat_t); ok && st.Nlink > 1 {
			if seen[st.Ino] {
				return nil
			}
			seen[st.Ino] = true
		}
		if !d.IsDir() {
			size += fi.Size()
		}
		return nil
	})
	return size, err
}
