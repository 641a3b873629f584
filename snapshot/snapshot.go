package snapshot

import (
	"context"
	"time"
)

// Kind is the state of a snapshot.
type Kind string

// Snapshot kinds.
const (
	KindActive    Kind = "active"    // writable, e.g. a container's rw layer or a layer being unpacked
	KindCommitted Kind = "committed" // immutable, e.g. an image layer keyed by chain ID
)

// LabelTemporary marks an active snapshot that does not survive a restart of its
// owner (a layer being unpacked): the snapshotter removes it when opened.
const LabelTemporary = "berth.temporary"

// LabelSize is the label of a committed layer snapshot holding the layer's
// uncompressed size in bytes.
const LabelSize = "berth.size"

// Info describes a snapshot.
type Info struct {
	Key     string
	Parent  string // committed snapshot below this one, "" for none
	Kind    Kind
	Labels  map[string]string
	Created time.Time
}

// Mount is one filesystem mount, in mount(8) terms.
type Mount struct {
	Type    string   // "overlay" or "bind"
	Source  string   // device or directory
	Options []string // mount options, e.g. "lowerdir=…", "ro", "rbind"
}

// Opt adjusts the Info of a snapshot being created or committed.
type Opt func(*Info)

// WithLabels adds labels to a snapshot.
func WithLabels(labels map[string]string) Opt {
	return func(i *Info) {
		if i.Labels == nil {
			i.Labels = map[string]string{}
		}
		for k, v := range labels {
			i.Labels[k] = v
		}
	}
}

// WithParent, given to Commit, stacks the committed snapshot on the committed snapshot
// parent: layers can then be unpacked into snapshots of their own, in parallel, and
// committed bottom to top.
func WithParent(parent string) Opt {
	return func(i *Info) { i.Parent = parent }
}

// Snapshotter stores layered filesystems: committed snapshots are read-only layers,
// active snapshots are writable layers on top of a committed parent.
type Snapshotter interface {
	// Stat returns the snapshot's info; a missing key is errdefs.ErrNotFound.
	Stat(ctx context.Context, key string) (Info, error)
	// Prepare creates the active snapshot key on top of the committed snapshot parent
	// ("" for an empty one) and returns how to mount it. An existing key is errdefs.ErrConflict.
	Prepare(ctx context.Context, key, parent string, opts ...Opt) ([]Mount, error)
	// Mounts returns how to mount the snapshot key: writable for an active snapshot,
	// read-only for a committed one.
	Mounts(ctx context.Context, key string) ([]Mount, error)
	// Commit turns the active snapshot key into the committed snapshot name, durably.
	Commit(ctx context.Context, name, key string, opts ...Opt) error
	// Remove deletes a snapshot; a committed snapshot with children is errdefs.ErrConflict.
	Remove(ctx context.Context, key string) error
	// Walk calls fn for every snapshot.
	Walk(ctx context.Context, fn func(Info) error) error
	// Usage returns the bytes used by the snapshot's own layer.
	Usage(ctx context.Context, key string) (int64, error)
}
