package daemon

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/berth-dev/berth/errdefs"
	"github.com/berth-dev/berth/runtime"
	"github.com/berth-dev/berth/snapshot"
	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/network"
)

// State is a container's persisted run state.
type State struct {
	Status     container.ContainerState
	Pid        int
	ExitCode   int
	Error      string
	OOMKilled  bool
	StartedAt  time.Time
	FinishedAt time.Time
}

// Container is one container record. Persisted fields are exported; the rest is
// runtime-only and guarded by mu.
type Container struct {
	ID           string
	Name         string // with Docker's leading "/"
	Created      time.Time
	Path         string
	Args         []string
	Image        string // the reference the user gave
	ImageID      string
	Config       *container.Config
	HostConfig   *container.HostConfig
	State        State
	RestartCount int
	// ManuallyStopped: the user stopped or killed it, so restart policies leave it be.
	ManuallyStopped bool
	LogPath         string
	Dir             string           // <data-root>/containers/<id>
	RootfsMounts    []snapshot.Mount // what to mount at <Dir>/rootfs

	// Networks are the container's endpoints by network name; their addresses are set
	// while it runs. NetNS is its namespace mount while it runs; Ports its published ports.
	Networks map[string]*Endpoint `json:",omitempty"`
	// MountPoints are its binds, volumes and --mount tmpfs, resolved at create.
	MountPoints []*MountPoint   `json:",omitempty"`
	NetNS       string          `json:",omitempty"`
	Ports       network.PortMap `json:",omitempty"`

	mu       sync.Mutex
	shim     *runtime.Shim
	pending  []*pendingAttach
	exited   chan struct{} // closed at the next exit, then replaced
	removed  chan struct{} // closed when the container is removed
	removing bool

	restartDelay  time.Duration // last back-off delay
	restartCancel chan struct{} // closes to cancel a pending restart
}

type pendingAttach struct {
	ctx    context.Context
	o      AttachOptions
	result chan error
}

func (c *Container) init() {
	c.exited = make(chan struct{})
	c.removed = make(chan struct{})
}

// transition moves the container to status to, refusing moves Docker never makes.
func (c *Container) transition(to container.ContainerState) error {
	from := c.State.Status
	ok := false
	switch to {
	case container.StateRunning:
		ok = from == container.StateCreated || from == container.StateExited || from == container.StateRestarting || from == container.StatePaused
	case container.StateExited:
		ok = from == container.StateRunning || from == container.StateCreated || from == container.StateRestarting || from == container.StatePaused
	case container.StatePaused:
		ok = from == container.StateRunning
	case container.StateRestarting:
		ok = from == container.StateExited
	case container.StateCreated:
		ok = from == ""
	case container.StateRemoving:
		ok = from != container.StateRunning
	case container.StateDead:
		ok = true
	}
	if !ok {
		return fmt.Errorf("container %s: illegal state change %q -> %q: %w", c.ID[:12], from, to, errdefs.ErrConflict)
	}
	c.State.Status = to
	return nil
}

// running reports whether the container's process exists (paused ones included).
func (c *Container) running() bool {
	return c.State.Status == container.StateRunning || c.State.Status == container.StatePaused
}

// shortID returns the 12-character form of a container ID.
func shortID(id string) string {
	if len(id) > 12 {
		return id[:12]
	}
	return id
}
