package daemon

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/berth-dev/berth/archive"
	"github.com/berth-dev/berth/errdefs"
	"github.com/berth-dev/berth/volume"
	securejoin "github.com/cyphar/filepath-securejoin"
	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/events"
	"github.com/moby/moby/api/types/mount"
	volumetypes "github.com/moby/moby/api/types/volume"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// MountPoint is one of a container's mounts (binds, volumes, --mount tmpfs), resolved at
// create; volume sources are found again at each start.
type MountPoint struct {
	Type        mount.Type
	Name        string            `json:",omitempty"` // volume name
	Source      string            `json:",omitempty"` // host path of a bind
	Destination string            // absolute path in the container
	RW          bool              `json:",omitempty"`
	Mode        string            `json:",omitempty"` // the mode the user wrote (-v …:ro,z)
	Propagation mount.Propagation `json:",omitempty"`
	NoCopy      bool              `json:",omitempty"` // do not copy the image's content into an empty volume
	Anonymous   bool              `json:",omitempty"`
	Tmpfs       string            `json:",omitempty"` // tmpfs options: size=…,mode=…
}

// configureMounts resolves a new container's -v binds, --mount, --volumes-from and
// anonymous volumes (its own and its image's VOLUMEs), creating the volumes it names.
// created lists the volumes made here, for the caller to remove if the create fails.
func (d *Daemon) configureMounts(cfg *container.Config, hc *container.HostConfig, imageVolumes map[string]struct{}) (mps []*MountPoint, created []string, err error) {
	defer func() {
		if err != nil {
			d.removeVolumes(created)
			created = nil
		}
	}()
	byDest := map[string]*MountPoint{}
	add := func(mp *MountPoint) error {
		mp.Destination = filepath.Clean(mp.Destination)
		if _, dup := byDest[mp.Destination]; dup {
			return errdefs.InvalidParameter("Duplicate mount point: " + mp.Destination)
		}
		byDest[mp.Destination] = mp
		mps = append(mps, mp)
		return nil
	}
	for _, b := range hc.Binds {
		mp, err := parseBind(b)
		if err != nil {
			return nil, created, err
		}
		if err := add(mp); err != nil {
			return nil, created, err
		}
	}
	for _, m := range hc.Mounts {
		mp, err := parseMount(m)
		if err != nil {
			return nil, created, err
		}
		if err := add(mp); err != nil {
			return nil, created, err
		}
	}
	for _, spec := range hc.VolumesFrom {
		ref, mode, _ := strings.Cut(spec, ":")
		if mode != "" && mode != "ro" && mode != "rw" {
			return nil, created, errdefs.InvalidParameter(fmt.Sprintf("invalid mode for volumes-from: %s", mode))
		}
		src, err := d.lookup(ref)
		if err != nil {
			return nil, created, err
		}
		src.mu.Lock()
		from := slices.Clone(src.MountPoints)
		src.mu.Unlock()
		for _, o := range from {
			if o.Type == mount.TypeTmpfs {
				continue
			}
			if _, taken := byDest[o.Destination]; taken {
				continue
			}
			mp := *o
			mp.Anonymous = false // it belongs to the other container
			if mode != "" {
				mp.RW = mode == "rw"
			}
			add(&mp)
		}
	}
	for _, anon := range []map[string]struct{}{cfg.Volumes, imageVolumes} {
		dests := make([]string, 0, len(anon))
		for dst := range anon {
			dests = append(dests, dst)
		}
		sort.Strings(dests)
		for _, dst := range dests {
			if !filepath.IsAbs(dst) {
				return nil, created, errdefs.InvalidParameter(fmt.Sprintf("invalid volume specification: '%s': invalid mount config for type \"volume\": invalid mount path: '%s' mount path must be absolute", dst, dst))
			}
			if _, taken := byDest[filepath.Clean(dst)]; taken {
				continue
			}
			if _, tmpfs := hc.Tmpfs[dst]; tmpfs {
				continue
			}
			add(&MountPoint{Type: mount.TypeVolume, Destination: dst, RW: true, Anonymous: true})
		}
	}
	for _, mp := range mps {
		if _, tmpfs := hc.Tmpfs[mp.Destination]; tmpfs {
			return nil, created, errdefs.InvalidParameter("Duplicate mount point: " + mp.Destination)
		}
		switch mp.Type {
		case mount.TypeBind:
			if _, err := os.Stat(mp.Source); errors.Is(err, fs.ErrNotExist) {
				// -v creates a missing bind source, as dockerd does; --mount refused it earlier.
				if err := os.MkdirAll(mp.Source, 0o755); err != nil {
					return nil, created, fmt.Errorf("create bind source %s: %w", mp.Source, err)
				}
			}
		case mount.TypeVolume:
			if mp.Name != "" && !mp.Anonymous {
				if _, err := d.vols.Get(mp.Name); err == nil {
					continue
				}
			}
			v, made, err := d.vols.Create(mp.Name, volume.DriverLocal, nil, nil, mp.Anonymous || mp.Name == "")
			if err != nil {
				return nil, created, err
			}
			mp.Name = v.Name
			if made {
				created = append(created, v.Name)
				d.emitVolume(v.Name, events.ActionCreate)
			}
		}
	}
	return mps, created, nil
}

// parseBind parses one -v host-src:container-dest[:options] (or volume-name:dest[:options]).
func parseBind(spec string) (*MountPoint, error) {
	bad := func(why string) error {
		return errdefs.InvalidParameter(fmt.Sprintf("invalid volume specification: '%s'%s", spec, why))
	}
	parts := strings.Split(spec, ":")
	if len(parts) < 2 || len(parts) > 3 || parts[0] == "" || parts[1] == "" {
		return nil, bad("")
	}
	mp := &MountPoint{Destination: parts[1], RW: true}
	if strings.HasPrefix(parts[0], "/") {
		mp.Type, mp.Source = mount.TypeBind, filepath.Clean(parts[0])
	} else {
		if err := volume.ValidateName(parts[0]); err != nil {
			return nil, err
		}
		mp.Type, mp.Name = mount.TypeVolume, parts[0]
	}
	if !filepath.IsAbs(mp.Destination) {
		return nil, bad(fmt.Sprintf(": invalid mount config for type %q: invalid mount path: '%s' mount path must be absolute", mp.Type, mp.Destination))
	}
	if filepath.Clean(mp.Destination) == "/" {
		return nil, bad(": invalid specification: destination can't be '/'")
	}
	if len(parts) == 3 {
		mp.Mode = parts[2]
		rw := 0
		for _, o := range strings.Split(parts[2], ",") {
			switch o {
			case "ro":
				mp.RW = false
				rw++
			case "rw":
				rw++
			case "z", "Z":
				// SELinux relabelling: no SELinux on these hosts; accepted as dockerd does without it.
			case "nocopy":
				if mp.Type != mount.TypeVolume {
					return nil, bad(": nocopy is only valid for volumes")
				}
				mp.NoCopy = true
			case "shared", "rshared", "slave", "rslave", "private", "rprivate":
				mp.Propagation = mount.Propagation(o)
			default:
				return nil, errdefs.InvalidParameter(fmt.Sprintf("invalid mode: %s", parts[2]))
			}
		}
		if rw > 1 {
			return nil, errdefs.InvalidParameter(fmt.Sprintf("invalid mode: %s", parts[2]))
		}
	}
	return mp, nil
}

// parseMount checks one --mount (the CLI has parsed its CSV into a mount.Mount).
func parseMount(m mount.Mount) (*MountPoint, error) {
	bad := func(f string, a ...any) error {
		return errdefs.InvalidParameter(fmt.Sprintf("invalid mount config for type %q: ", m.Type) + fmt.Sprintf(f, a...))
	}
	if m.Target == "" {
		return nil, bad("field Target must not be empty")
	}
	if !filepath.IsAbs(m.Target) {
		return nil, bad("invalid mount path: '%s' mount path must be absolute", m.Target)
	}
	mp := &MountPoint{Type: m.Type, Destination: m.Target, RW: !m.ReadOnly}
	switch m.Type {
	case mount.TypeBind:
		if m.Source == "" {
			return nil, bad("field Source must not be empty")
		}
		if !filepath.IsAbs(m.Source) {
			return nil, bad("invalid mount path: '%s' mount path must be absolute", m.Source)
		}
		if _, err := os.Stat(m.Source); err != nil {
			return nil, bad("bind source path does not exist: %s", m.Source)
		}
		if m.VolumeOptions != nil || m.TmpfsOptions != nil {
			return nil, bad("only BindOptions may be given")
		}
		mp.Source = filepath.Clean(m.Source)
		if m.BindOptions != nil {
			mp.Propagation = m.BindOptions.Propagation
		}
	case mount.TypeVolume:
		if m.BindOptions != nil || m.TmpfsOptions != nil {
			return nil, bad("only VolumeOptions may be given")
		}
		if m.Source != "" {
			if err := volume.ValidateName(m.Source); err != nil {
				return nil, err
			}
		}
		mp.Name, mp.Anonymous = m.Source, m.Source == ""
		if o := m.VolumeOptions; o != nil {
			mp.NoCopy = o.NoCopy
			if o.DriverConfig != nil {
				if err := volume.CheckDriver(o.DriverConfig.Name); err != nil {
					return nil, err
				}
			}
		}
	case mount.TypeTmpfs:
		if m.Source != "" {
			return nil, bad("source must not be specified")
		}
		if m.BindOptions != nil || m.VolumeOptions != nil {
			return nil, bad("only TmpfsOptions may be given")
		}
		var opts []string
		if o := m.TmpfsOptions; o != nil {
			if o.SizeBytes < 0 {
				return nil, bad("invalid tmpfs size %d", o.SizeBytes)
			}
			if o.SizeBytes > 0 {
				opts = append(opts, "size="+strconv.FormatInt(o.SizeBytes, 10))
			}
			if o.Mode != 0 {
				opts = append(opts, fmt.Sprintf("mode=%o", o.Mode.Perm()))
			}
		}
		if m.ReadOnly {
			opts = append(opts, "ro")
		}
		mp.Tmpfs = strings.Join(opts, ",")
	default:
		return nil, errdefs.InvalidParameter(fmt.Sprintf("mount type unknown: %q", m.Type))
	}
	return mp, nil
}

// mountSpecs turns a starting container's mount points into OCI mounts (tmpfs ones into
// tmpfs entries), mounting volumes and copying the image's content into empty ones.
// The caller releases what was mounted with releaseMounts, also on error.
func (d *Daemon) mountSpecs(c *Container, rootfs string, so *specOptionsMounts) error {
	for _, mp := range c.MountPoints {
		switch mp.Type {
		case mount.TypeTmpfs:
			if so.tmpfs == nil {
				so.tmpfs = map[string]string{}
			}
			so.tmpfs[mp.Destination] = mp.Tmpfs
			continue
		case mount.TypeVolume:
			path, err := d.vols.Mount(mp.Name)
			if err != nil {
				return err
			}
			so.volumes = append(so.volumes, mp.Name)
			if !mp.NoCopy && d.vols.Empty(mp.Name) {
				if err := copyImageContent(rootfs, mp.Destination, path); err != nil {
					return fmt.Errorf("copy image content into volume %s: %w", mp.Name, err)
				}
			}
			so.mounts = append(so.mounts, bindSpec(path, mp))
		case mount.TypeBind:
			if _, err := os.Stat(mp.Source); err != nil {
				return errdefs.InvalidParameter(fmt.Sprintf("error while creating mount source path '%s': %v", mp.Source, err))
			}
			so.mounts = append(so.mounts, bindSpec(mp.Source, mp))
		}
	}
	// Parents before children: -v a:/data -v b:/data/sub must mount /data first.
	sort.SliceStable(so.mounts, func(i, j int) bool {
		return strings.Count(so.mounts[i].Destination, "/") < strings.Count(so.mounts[j].Destination, "/")
	})
	return nil
}

// specOptionsMounts collects what mountSpecs adds to a container's spec.
type specOptionsMounts struct {
	mounts  []specs.Mount
	tmpfs   map[string]string
	volumes []string // mounted through the store: released at exit
}

func bindSpec(src string, mp *MountPoint) specs.Mount {
	prop := string(mp.Propagation)
	if prop == "" {
		prop = "rprivate"
	}
	opts := []string{"rbind", prop}
	if mp.RW {
		opts = append(opts, "rw")
	} else {
		opts = append(opts, "ro")
	}
	return specs.Mount{Destination: mp.Destination, Type: "bind", Source: src, Options: opts}
}

// releaseVolumes unmounts what mountSpecs mounted for a container.
func (d *Daemon) releaseVolumes(c *Container) {
	for _, mp := range c.MountPoints {
		if mp.Type == mount.TypeVolume {
			d.vols.Unmount(mp.Name)
		}
	}
}

// copyImageContent copies the image's directory at dst (resolved inside rootfs, so a
// symlink in the image cannot point it at a host path) into an empty volume at to.
func copyImageContent(rootfs, dst, to string) error {
	src, err := securejoin.SecureJoin(rootfs, dst)
	if err != nil {
		return err
	}
	fi, err := os.Lstat(src)
	if err != nil || !fi.IsDir() {
		return nil // nothing there (or not a directory): nothing to copy
	}
	if st, ok := fi.Sys().(*unix.Stat_t); ok {
		os.Lchown(to, int(st.Uid), int(st.Gid))
		os.Chmod(to, fi.Mode().Perm()|fi.Mode()&(os.ModeSticky|os.ModeSetgid|os.ModeSetuid))
	}
	// The archive package's tree copy: links, hard links, ownership, modes, times and
	// capabilities as a layer would carry them, never following a symlink below src.
	pr, pw := io.Pipe()
	go func() { pw.CloseWithError(archive.WriteTar(context.Background(), pw, src, archive.TarOptions{})) }()
	_, err = archive.Apply(context.Background(), to, pr, archive.Options{Whiteouts: archive.WhiteoutNone, KeepRoot: true})
	pr.CloseWithError(err)
	return err
}

// mountPointsAPI returns inspect's Mounts; c.mu must be held.
func (d *Daemon) mountPointsAPI(c *Container) []container.MountPoint {
	out := []container.MountPoint{}
	for _, mp := range c.MountPoints {
		m := container.MountPoint{Type: mp.Type, Destination: mp.Destination, Mode: mp.Mode, RW: mp.RW, Propagation: mp.Propagation}
		switch mp.Type {
		case mount.TypeVolume:
			m.Name, m.Source, m.Driver = mp.Name, d.vols.Path(mp.Name), volume.DriverLocal
		case mount.TypeBind:
			m.Source = mp.Source
			if m.Propagation == "" {
				m.Propagation = mount.PropagationRPrivate
			}
		}
		out = append(out, m)
	}
	return out
}

// volumeUsers returns the IDs of the containers (any state) that mount each volume.
func (d *Daemon) volumeUsers() map[string][]string {
	users := map[string][]string{}
	for _, c := range d.allContainers() {
		c.mu.Lock()
		for _, mp := range c.MountPoints {
			if mp.Type == mount.TypeVolume {
				users[mp.Name] = append(users[mp.Name], c.ID)
			}
		}
		c.mu.Unlock()
	}
	return users
}

// removeVolumes removes the named volumes that no container uses (errors are logged).
func (d *Daemon) removeVolumes(names []string) {
	if len(names) == 0 {
		return
	}
	users := d.volumeUsers()
	for _, n := range names {
		if len(users[n]) > 0 {
			continue
		}
		if err := d.vols.Remove(n); err != nil {
			d.log.Warn("remove volume", "name", n, "err", err)
			continue
		}
		d.emitVolume(n, events.ActionDestroy)
	}
}

func (d *Daemon) emitVolume(name string, action events.Action) {
	d.emitRaw(events.VolumeEventType, action, name, map[string]string{"driver": volume.DriverLocal})
}

func (d *Daemon) volumeAPI(v *volume.Volume, users map[string][]string, withUsage bool) volumetypes.Volume {
	out := volumetypes.Volume{
		Name: v.Name, Driver: v.Driver, Mountpoint: d.vols.Path(v.Name), Scope: "local",
		CreatedAt: v.CreatedAt.Format(time.RFC3339), Labels: v.Labels, Options: v.Options,
	}
	if out.Labels == nil {
		out.Labels = map[string]string{}
	}
	if out.Options == nil {
		out.Options = map[string]string{}
	}
	if v.Anonymous {
		out.Labels = mapWith(out.Labels, "com.docker.volume.anonymous", "")
	}
	if withUsage {
		out.UsageData = &volumetypes.UsageData{RefCount: int64(len(users[v.Name])), Size: d.vols.Size(v.Name)}
	}
	return out
}

func mapWith(m map[string]string, k, v string) map[string]string {
	out := make(map[string]string, len(m)+1)
	for a, b := range m {
		out[a] = b
	}
	out[k] = v
	return out
}

// CreateVolume creates a volume (or returns the existing one of that name).
func (d *Daemon) CreateVolume(ctx context.Context, req volumetypes.CreateRequest) (volumetypes.Volume, error) {
	if req.ClusterVolumeSpec != nil {
		return volumetypes.Volume{}, errdefs.InvalidParameter("cluster volumes are not supported")
	}
	v, made, err := d.vols.Create(req.Name, req.Driver, req.Labels, req.DriverOpts, false)
	if err != nil {
		return volumetypes.Volume{}, err
	}
	if made {
		d.emitVolume(v.Name, events.ActionCreate)
	}
	return d.volumeAPI(v, nil, false), nil
}

// InspectVolume returns one volume.
func (d *Daemon) InspectVolume(ctx context.Context, name string) (volumetypes.Volume, error) {
	v, err := d.vols.Get(name)
	if err != nil {
		return volumetypes.Volume{}, err
	}
	return d.volumeAPI(v, nil, false), nil
}

// ListVolumes returns the volumes matching filters (dangling, driver, label, name).
func (d *Daemon) ListVolumes(ctx context.Context, f map[string][]string) (volumetypes.ListResponse, error) {
	for k := range f {
		switch k {
		case "dangling", "driver", "label", "name":
		default:
			return volumetypes.ListResponse{}, errdefs.InvalidParameter(fmt.Sprintf("invalid filter '%s'", k))
		}
	}
	var dangling *bool
	if v := f["dangling"]; len(v) > 0 {
		b := v[0] == "true" || v[0] == "1"
		if !b && v[0] != "false" && v[0] != "0" {
			return volumetypes.ListResponse{}, errdefs.InvalidParameter(fmt.Sprintf("invalid filter 'dangling=%s'", v[0]))
		}
		dangling = &b
	}
	users := d.volumeUsers()
	out := volumetypes.ListResponse{Volumes: []volumetypes.Volume{}, Warnings: []string{}}
	for _, v := range d.vols.List() {
		api := d.volumeAPI(v, users, false)
		if !anyMatch(f["driver"], func(s string) bool { return s == v.Driver }) ||
			!anyMatch(f["name"], func(s string) bool { return strings.Contains(v.Name, s) }) ||
			!labelsMatch(api.Labels, f["label"], nil) {
			continue
		}
		if dangling != nil && *dangling != (len(users[v.Name]) == 0) {
			continue
		}
		out.Volumes = append(out.Volumes, api)
	}
	return out, nil
}

// RemoveVolume removes a volume no container uses; force only ignores a missing one.
func (d *Daemon) RemoveVolume(ctx context.Context, name string, force bool) error {
	if _, err := d.vols.Get(name); err != nil {
		if force && errdefs.IsNotFound(err) {
			return nil
		}
		return err
	}
	if users := d.volumeUsers()[name]; len(users) > 0 {
		short := make([]string, len(users))
		for i, id := range users {
			short[i] = id
		}
		return errdefs.Conflict(fmt.Sprintf("remove %s: volume is in use - [%s]", name, strings.Join(short, ", ")))
	}
	if err := d.vols.Remove(name); err != nil {
		return err
	}
	d.emitVolume(name, events.ActionDestroy)
	return nil
}

// PruneVolumes removes unused volumes: anonymous ones, or all with all=true; label filters.
func (d *Daemon) PruneVolumes(ctx context.Context, f map[string][]string) (volumetypes.PruneReport, error) {
	all := false
	for k, vals := range f {
		switch k {
		case "label", "label!":
		case "all":
			all = len(vals) > 0 && (vals[0] == "true" || vals[0] == "1")
		default:
			return volumetypes.PruneReport{}, errdefs.InvalidParameter(fmt.Sprintf("invalid filter '%s'", k))
		}
	}
	users := d.volumeUsers()
	rep := volumetypes.PruneReport{VolumesDeleted: []string{}}
	for _, v := range d.vols.List() {
		if len(users[v.Name]) > 0 || (!all && !v.Anonymous) || !labelsMatch(v.Labels, f["label"], f["label!"]) {
			continue
		}
		size := d.vols.Size(v.Name)
		if err := d.vols.Remove(v.Name); err != nil {
			d.log.Warn("prune volume", "name", v.Name, "err", err)
			continue
		}
		d.emitVolume(v.Name, events.ActionDestroy)
		rep.VolumesDeleted = append(rep.VolumesDeleted, v.Name)
		rep.SpaceReclaimed += uint64(size)
	}
	return rep, nil
}
