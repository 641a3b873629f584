package daemon

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	goruntime "runtime"
	"time"

	"github.com/berth-dev/berth/errdefs"
	"github.com/berth-dev/berth/image"
	"github.com/berth-dev/berth/logger/jsonfile"
	"github.com/berth-dev/berth/metadata"
	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/events"
	"github.com/moby/moby/api/types/network"
)

var validName = regexp.MustCompile(`^/?[a-zA-Z0-9][a-zA-Z0-9_.-]+$`)

// CreateOptions is what POST /containers/create carries.
type CreateOptions struct {
	Name       string
	Config     *container.Config
	HostConfig *container.HostConfig
	Platform   string // os/arch[/variant] the client asked for; "" for any
	Networking *network.NetworkingConfig
}

// Create makes a new container from an image: record, rw snapshot and directory.
// On any error nothing is left behind.
func (d *Daemon) Create(ctx context.Context, o CreateOptions) (*Container, error) {
	if o.Config == nil {
		return nil, errdefs.InvalidParameter("config cannot be empty in order to create a container")
	}
	if o.Config.Image == "" {
		return nil, errdefs.InvalidParameter("No image specified")
	}
	hc := o.HostConfig
	if hc == nil {
		hc = &container.HostConfig{}
	}
	if err := validateHostConfig(hc); err != nil {
		return nil, err
	}
	if hc.LogConfig.Type == "" {
		hc.LogConfig.Type = "json-file"
	}
	if _, err := logOptions(hc.LogConfig); err != nil {
		return nil, err
	}
	if o.Name != "" && !validName.MatchString(o.Name) {
		return nil, errdefs.InvalidParameter(fmt.Sprintf("Invalid container name (%s), only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed", o.Name))
	}
	img, err := d.images.Get(ctx, o.Config.Image)
	if err != nil {
		return nil, err
	}
	if err := checkPlatform(img, o.Config.Image, o.Platform); err != nil {
		return nil, err
	}
	cfg := mergeImageConfig(*o.Config, img)
	args := append(append([]string{}, cfg.Entrypoint...), cfg.Cmd...)
	if len(args) == 0 {
		return nil, errdefs.InvalidParameter("no command specified")
	}
	mergeExposedPorts(&cfg, img)
	eps, err := d.configureNetworking(&cfg, hc, o.Networking)
	if err != nil {
		return nil, err
	}

	id := newID()
	if cfg.Hostname == "" {
		cfg.Hostname = id[:12]
	}
	c := &Container{
		ID:         id,
		Created:    time.Now().UTC(),
		Path:       args[0],
		Args:       args[1:],
		Image:      o.Config.Image,
		ImageID:    img.ID,
		Config:     &cfg,
		HostConfig: hc,
		Networks:   eps,
		Dir:        filepath.Join(d.cfg.DataRoot, "containers", id),
	}
	c.LogPath = filepath.Join(c.Dir, id+"-json.log")
	c.State.Status = container.StateCreated
	c.init()

	// Reserve the name first so two creates cannot both take it.
	d.mu.Lock()
	name := o.Name
	if name == "" {
		name = d.randomNameLocked()
	}
	c.Name = "/" + trimSlash(name)
	if other, taken := d.names[c.Name]; taken {
		d.mu.Unlock()
		return nil, errdefs.Conflict(fmt.Sprintf("Conflict. The container name %q is already in use by container %q. You have to remove (or rename) that container to be able to reuse that name.", c.Name, other))
	}
	d.names[c.Name] = id
	d.mu.Unlock()

	ok := false
	var madeVolumes []string
	defer func() {
		if !ok {
			d.removeVolumes(madeVolumes)
			d.images.RemoveRootfs(context.WithoutCancel(ctx), id)
			os.RemoveAll(c.Dir)
			d.mu.Lock()
			delete(d.names, c.Name)
			d.mu.Unlock()
		}
	}()
	if c.MountPoints, madeVolumes, err = d.configureMounts(&cfg, hc, img.Config.Config.Volumes); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(c.Dir, 0o710); err != nil {
		return nil, err
	}
	mounts, err := d.images.PrepareRootfs(ctx, id, img)
	if err != nil {
		return nil, fmt.Errorf("prepare rootfs: %w", err)
	}
	c.RootfsMounts = mounts
	if err := d.db.Update(func(tx *metadata.Tx) error { return tx.Put(bucketContainers, id, c) }); err != nil {
		return nil, err
	}
	d.mu.Lock()
	d.containers[id] = c
	d.mu.Unlock()
	ok = true
	d.emit(c, events.ActionCreate, nil)
	d.log.Debug("container created", "id", shortID(id), "name", c.Name, "image", c.Image)
	return c, nil
}

// logOptions validates a container's log configuration (json-file or none).
func logOptions(lc container.LogConfig) (jsonfile.Options, error) {
	switch lc.Type {
	case "", "json-file":
		return jsonfile.ParseLogOpts(lc.Config)
	case "none":
		if len(lc.Config) > 0 {
			return jsonfile.Options{}, errdefs.InvalidParameter("the none log driver takes no options")
		}
		return jsonfile.Options{}, nil
	}
	return jsonfile.Options{}, errdefs.InvalidParameter(fmt.Sprintf("failed to create task for container: logger: no log driver named '%s' is registered", lc.Type))
}

func validateHostConfig(hc *container.HostConfig) error {
	if hc.Memory < 0 || hc.NanoCPUs < 0 || hc.CPUShares < 0 {
		return errdefs.InvalidParameter("resource limits must not be negative")
	}
	if hc.Memory > 0 && hc.Memory < 6*1024*1024 {
		return errdefs.InvalidParameter("Minimum memory limit allowed is 6MB")
	}
	if hc.MemorySwap > 0 && hc.Memory > 0 && hc.MemorySwap < hc.Memory {
		return errdefs.InvalidParameter("Minimum memoryswap limit should be larger than memory limit, see usage")
	}
	if hc.NanoCPUs > 0 && hc.NanoCPUs > int64(goruntime.NumCPU())*1e9 {
		return errdefs.InvalidParameter(fmt.Sprintf("range of CPUs is from 0.01 to %d.00, as there are only %d CPUs available", goruntime.NumCPU(), goruntime.NumCPU()))
	}
	rp := hc.RestartPolicy
	switch rp.Name {
	case "", container.RestartPolicyDisabled, container.RestartPolicyAlways, container.RestartPolicyUnlessStopped, container.RestartPolicyOnFailure:
	default:
		return errdefs.InvalidParameter(fmt.Sprintf("invalid restart policy: unknown policy '%s'; use one of 'no', 'always', 'on-failure', or 'unless-stopped'", rp.Name))
	}
	if hc.AutoRemove && rp.Name != "" && rp.Name != container.RestartPolicyDisabled {
		return errdefs.InvalidParameter("can't create 'AutoRemove' container with restart policy")
	}
	if rp.MaximumRetryCount < 0 {
		return errdefs.InvalidParameter("invalid restart policy: maximum retry count cannot be negative")
	}
	if rp.MaximumRetryCount > 0 && rp.Name != container.RestartPolicyOnFailure {
		return errdefs.InvalidParameter("invalid restart policy: maximum retry count can only be used with 'on-failure'")
	}
	return nil
}

// mergeImageConfig applies the image's defaults to what the user asked for, as dockerd does.
func mergeImageConfig(cfg container.Config, img *image.Image) container.Config {
	ic := img.Config.Config
	if len(cfg.Entrypoint) == 0 && len(cfg.Cmd) == 0 {
		cfg.Cmd = ic.Cmd
	}
	if cfg.Entrypoint == nil {
		cfg.Entrypoint = ic.Entrypoint
	} else if len(cfg.Entrypoint) == 1 && cfg.Entrypoint[0] == "" {
		cfg.Entrypoint = nil // --entrypoint "" resets the image's
	}
	cfg.Env = mergeEnv(ic.Env, cfg.Env)
	if cfg.WorkingDir == "" {
		cfg.WorkingDir = ic.WorkingDir
	}
	if cfg.User == "" {
		cfg.User = ic.User
	}
	if cfg.StopSignal == "" {
		cfg.StopSignal = ic.StopSignal
	}
	if len(ic.Labels) > 0 {
		labels := make(map[string]string, len(ic.Labels)+len(cfg.Labels))
		for k, v := range ic.Labels {
			labels[k] = v
		}
		for k, v := range cfg.Labels {
			labels[k] = v
		}
		cfg.Labels = labels
	}
	return cfg
}

// mergeEnv returns base with over's entries added or replacing same-named ones.
func mergeEnv(base, over []string) []string {
	out := append([]string{}, base...)
	idx := map[string]int{}
	for i, kv := range out {
		idx[envKey(kv)] = i
	}
	for _, kv := range over {
		if i, ok := idx[envKey(kv)]; ok {
			out[i] = kv
			continue
		}
		idx[envKey(kv)] = len(out)
		out = append(out, kv)
	}
	return out
}

func envKey(kv string) string {
	for i := 0; i < len(kv); i++ {
		if kv[i] == '=' {
			return kv[:i]
		}
	}
	return kv
}

func newID() string {
	var b [32]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic(err)
	}
	return hex.EncodeToString(b[:])
}

func trimSlash(s string) string {
	for len(s) > 0 && s[0] == '/' {
		s = s[1:]
	}
	return s
}
