package daemon

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/berth-dev/berth/content"
	"github.com/berth-dev/berth/distribution"
	"github.com/berth-dev/berth/errdefs"
	"github.com/berth-dev/berth/image"
	"github.com/berth-dev/berth/metadata"
	"github.com/berth-dev/berth/network/dns"
	"github.com/berth-dev/berth/network/ipam"
	"github.com/berth-dev/berth/runtime"
	"github.com/berth-dev/berth/snapshot"
	"github.com/berth-dev/berth/snapshot/overlay"
	"github.com/berth-dev/berth/volume"
	"github.com/moby/moby/api/types/container"
)

const bucketContainers = "containers"

// Config holds the daemon's settings (flags and daemon.json merged).
type Config struct {
	DataRoot   string
	ExecRoot   string
	Mirrors    []string
	Insecure   []string
	NoHub      bool   // never contact Docker Hub: docker.io names come from the mirrors only
	Runtime    string // path or name of the OCI runtime binary
	ShimBinary string
	Debug      bool

	// MirrorsByHost lists mirrors of any registry by host[:port] (daemon.json's
	// "registry-mirrors-by-host"); Mirrors stay docker.io's.
	MirrorsByHost map[string][]string

	DefaultBridge string       // the default network's Linux bridge (default "berth0")
	Bip           netip.Prefix // the default bridge's gateway/prefix (--bip); zero: automatic
	AddressPools  []ipam.Pool  // pools for automatic subnets; nil: Docker's defaults
}

// Daemon is the running engine: stores, runtime and the container table.
type Daemon struct {
	cfg    Config
	db     *metadata.DB
	images *image.Store
	sn     snapshot.Snapshotter
	puller *distribution.Puller
	vols   *volume.Store
	rt     *runtime.Manager
	log    *slog.Logger
	start  time.Time
	runcV  string // the runtime's --version first line
	events *eventLog

	execMu sync.Mutex
	execs  map[string]*execInstance

	// netMu guards the networks, their address pools and active endpoints, and the
	// port reservations; taken after a container's mu, never before.
	netMu     sync.Mutex
	networks  map[string]*netRecord // by ID
	dns       *dns.Server
	portSocks map[string][]*portSock // by container ID
	done      chan struct{}          // closed by Close: background loops end

	mu         sync.RWMutex
	containers map[string]*Container // by full ID
	names      map[string]string     // "/name" -> ID
}

// New opens the stores under cfg.DataRoot, then re-attaches to containers whose shims
// are still alive and records the exit of those that ended while berthd was away.
func New(ctx context.Context, cfg Config, log *slog.Logger) (*Daemon, error) {
	for _, dir := range []string{cfg.DataRoot, filepath.Join(cfg.DataRoot, "containers"), cfg.ExecRoot} {
		if err := os.MkdirAll(dir, 0o711); err != nil {
			return nil, err
		}
	}
	db, err := metadata.Open(cfg.DataRoot)
	if err != nil {
		return nil, err
	}
	cs, err := content.NewStore(filepath.Join(cfg.DataRoot, "content"))
	if err != nil {
		db.Close()
		return nil, err
	}
	sn, err := overlay.New(filepath.Join(cfg.DataRoot, "snapshots", "overlay"), db)
	if err != nil {
		db.Close()
		return nil, err
	}
	is, err := image.NewStore(cfg.DataRoot, db, sn, cs)
	if err != nil {
		db.Close()
		return nil, err
	}
	vols, err := volume.New(filepath.Join(cfg.DataRoot, "volumes"), db)
	if err != nil {
		db.Close()
		return nil, err
	}
	d := &Daemon{
		cfg:        cfg,
		db:         db,
		images:     is,
		vols:       vols,
		sn:         sn,
		puller:     distribution.NewPuller(is, cs, sn, distribution.Options{Mirrors: cfg.Mirrors, MirrorsByHost: cfg.MirrorsByHost, Insecure: cfg.Insecure, NoHub: cfg.NoHub}),
		rt:         runtime.NewManager(cfg.ExecRoot, cfg.ShimBinary, cfg.Runtime),
		log:        log,
		start:      time.Now(),
		containers: map[string]*Container{},
		names:      map[string]string{},
		events:     newEventLog(),
		execs:      map[string]*execInstance{},
		done:       make(chan struct{}),
	}
	d.runcV = runtimeVersion(cfg.Runtime)
	if err := d.initNetworks(); err != nil {
		db.Close()
		return nil, err
	}
	if err := d.restore(ctx); err != nil {
		db.Close()
		return nil, err
	}
	d.cleanNetNSLeftovers()
	go d.watchForward(d.done, 2*time.Second)
	return d, nil
}

// Close releases the stores. Running containers keep running (live restore).
func (d *Daemon) Close() error {
	close(d.done)
	return d.db.Close()
}

// Images is the image store, for callers that need it directly (tests, builder).
func (d *Daemon) Images() *image.Store { return d.images }

func (d *Daemon) restore(ctx context.Context) error {
	var recs []*Container
	err := d.db.View(func(tx *metadata.Tx) error {
		return tx.ForEach(bucketContainers, func(_ string, raw []byte) error {
			c := &Container{}
			if err := json.Unmarshal(raw, c); err != nil {
				return err
			}
			recs = append(recs, c)
			return nil
		})
	})
	if err != nil {
		return fmt.Errorf("load containers: %w", err)
	}
	for _, c := range recs {
		c.init()
		d.containers[c.ID] = c
		d.names[c.Name] = c.ID
		switch c.State.Status {
		case container.StateRunning, container.StateRestarting:
			sh, err := d.rt.Connect(ctx, c.ID)
			if err == nil {
				c.shim = sh
				d.restoreNetworking(c)
				go d.monitor(c, sh)
				d.log.Info("re-attached to running container", "id", shortID(c.ID), "pid", sh.Pid())
				continue
			}
			st, rerr := d.rt.ReadExit(c.ID)
			if rerr != nil {
				st = runtime.ExitStatus{Code: 255, ExitedAt: time.Now(), Error: "shim gone without an exit status"}
			}
			d.log.Info("container exited while berthd was away", "id", shortID(c.ID), "code", st.Code)
			c.mu.Lock()
			if c.State.Status == container.StateRestarting {
				c.State.Status = container.StateExited // it was waiting for its restart
			} else {
				d.finishExit(c, st)
			}
			if shouldRestart(c) {
				d.scheduleRestartLocked(c, 0)
			}
			c.mu.Unlock()
			if c.HostConfig != nil && c.HostConfig.AutoRemove {
				go d.removeAfterExit(c)
			}
		case container.StatePaused:
			// Still frozen, with its shim alive: re-attach and keep it paused.
			if sh, err := d.rt.Connect(ctx, c.ID); err == nil {
				c.shim = sh
				d.restoreNetworking(c)
				go d.monitor(c, sh)
				continue
			}
			c.mu.Lock()
			st, _ := d.rt.ReadExit(c.ID)
			d.finishExit(c, st)
			c.mu.Unlock()
		case container.StateRemoving:
			go d.removeAfterExit(c)
		case container.StateExited:
			if startOnBoot(c) {
				c.mu.Lock()
				c.ManuallyStopped = false
				if err := d.startLocked(ctx, c); err != nil {
					d.log.Warn("start on boot", "id", shortID(c.ID), "err", err)
				}
				c.mu.Unlock()
			}
		}
	}
	// A build step's container outlives only the build that ran it, and no build survives
	// berthd: remove what the last one left (killing a step still running).
	for _, c := range recs {
		if c.Config != nil && c.Config.Labels[buildStepLabel] != "" {
			go func() {
				if err := d.Remove(context.WithoutCancel(ctx), c.ID, true, true); err != nil && !errdefs.IsNotFound(err) {
					d.log.Warn("remove a build step container left by the last berthd", "id", shortID(c.ID), "err", err)
				} else {
					d.log.Info("removed a build step container left by the last berthd", "id", shortID(c.ID))
				}
			}()
		}
	}
	return nil
}

func (d *Daemon) persist(c *Container) error {
	return d.db.Put(bucketContainers, c.ID, c)
}

// allContainers returns the containers at this moment, for callers that then lock each
// one (a container's mu is never taken while holding d.mu).
func (d *Daemon) allContainers() []*Container {
	d.mu.RLock()
	defer d.mu.RUnlock()
	all := make([]*Container, 0, len(d.containers))
	for _, c := range d.containers {
		all = append(all, c)
	}
	return all
}

// lookup finds a container by full ID, name (with or without "/") or unique ID prefix.
func (d *Daemon) lookup(ref string) (*Container, error) {
	if ref == "" {
		return nil, errdefs.InvalidParameter("container name or ID must not be empty")
	}
	d.mu.RLock()
	defer d.mu.RUnlock()
	if c, ok := d.containers[ref]; ok {
		return c, nil
	}
	if id, ok := d.names["/"+strings.TrimPrefix(ref, "/")]; ok {
		return d.containers[id], nil
	}
	var found *Container
	for id, c := range d.containers {
		if strings.HasPrefix(id, ref) {
			if found != nil {
				return nil, errdefs.InvalidParameter(fmt.Sprintf("multiple IDs found with provided prefix: %s", ref))
			}
			found = c
		}
	}
	if found == nil {
		return nil, errdefs.NotFound("No such container: " + ref)
	}
	return found, nil
}

// runtimeVersion asks the OCI runtime for its version ("runc version 1.1.5" -> "1.1.5").
func runtimeVersion(bin string) string {
	out, err := exec.Command(bin, "--version").Output()
	if err != nil {
		return ""
	}
	line, _, _ := strings.Cut(string(out), "\n")
	f := strings.Fields(line)
	if len(f) == 0 {
		return ""
	}
	return f[len(f)-1]
}
