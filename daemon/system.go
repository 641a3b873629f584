package daemon

import (
	"context"
	"os"
	goruntime "runtime"
	"strings"
	"time"

	"github.com/berth-dev/berth/internal/version"
	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/system"
	"golang.org/x/sys/unix"
)

// API versions served: the docker CLI negotiates down to APIVersion.
const (
	APIVersion    = "1.47"
	MinAPIVersion = "1.24"
)

// Version returns the /version document.
func (d *Daemon) Version(ctx context.Context) system.VersionResponse {
	kernel := kernelVersion()
	return system.VersionResponse{
		Platform:      system.PlatformInfo{Name: "Berth Engine"},
		Version:       version.Version,
		APIVersion:    APIVersion,
		MinAPIVersion: MinAPIVersion,
		Os:            goruntime.GOOS,
		Arch:          goruntime.GOARCH,
		GitCommit:     version.Commit,
		GoVersion:     goruntime.Version(),
		KernelVersion: kernel,
		Components: []system.ComponentVersion{
			{Name: "Engine", Version: version.Version, Details: map[string]string{
				"ApiVersion": APIVersion, "MinAPIVersion": MinAPIVersion, "GitCommit": version.Commit,
				"GoVersion": goruntime.Version(), "Os": goruntime.GOOS, "Arch": goruntime.GOARCH, "KernelVersion": kernel,
				"Experimental": "false",
			}},
			{Name: "runc", Version: d.runcV, Details: map[string]string{"Path": d.cfg.Runtime}},
		},
	}
}

// Info returns the /info document.
func (d *Daemon) Info(ctx context.Context) (*system.Info, error) {
	imgs, err := d.images.List(ctx)
	if err != nil {
		return nil, err
	}
	info := &system.Info{
		ID:                 "berth",
		Images:             len(imgs),
		Driver:             "overlay2",
		DriverStatus:       [][2]string{{"Backing Filesystem", "extfs"}, {"Supports d_type", "true"}},
		MemoryLimit:        true,
		CPUCfsPeriod:       true,
		CPUCfsQuota:        true,
		CPUShares:          true,
		CPUSet:             true,
		PidsLimit:          true,
		Debug:              d.cfg.Debug,
		LoggingDriver:      "json-file",
		CgroupDriver:       "cgroupfs",
		CgroupVersion:      cgroupVersion(),
		KernelVersion:      kernelVersion(),
		OperatingSystem:    osName(),
		OSType:             "linux",
		Architecture:       unameMachine(),
		IndexServerAddress: "https://index.docker.io/v1/",
		NCPU:               goruntime.NumCPU(),
		MemTotal:           memTotal(),
		DockerRootDir:      d.cfg.DataRoot,
		ServerVersion:      version.Version,
		DefaultRuntime:     "runc",
		Runtimes:           map[string]system.RuntimeWithStatus{"runc": {Runtime: system.Runtime{Path: d.cfg.Runtime}}},
		LiveRestoreEnabled: true,
		SystemTime:         time.Now().Format(time.RFC3339Nano),
		SecurityOptions:    []string{"name=seccomp,profile=builtin"},
		Labels:             []string{},
	}
	info.Name, _ = os.Hostname()
	d.mu.RLock()
	for _, c := range d.containers {
		info.Containers++
		switch c.State.Status {
		case container.StateRunning:
			info.ContainersRunning++
		case container.StatePaused:
			info.ContainersPaused++
		default:
			info.ContainersStopped++
		}
	}
	d.mu.RUnlock()
	return info, nil
}

func kernelVersion() string {
	var u unix.Utsname
	if unix.Uname(&u) != nil {
		return ""
	}
	return unix.ByteSliceToString(u.Release[:])
}

func unameMachine() string {
	var u unix.Utsname
	if unix.Uname(&u) != nil {
		return goruntime.GOARCH
	}
	return unix.ByteSliceToString(u.Machine[:])
}

func cgroupVersion() string {
	var st unix.Statfs_t
	if unix.Statfs("/sys/fs/cgroup", &st) == nil && st.Type == unix.CGROUP2_SUPER_MAGIC {
		return "2"
	}
	return "1"
}

func osName() string {
	data, err := os.ReadFile("/etc/os-release")
	if err != nil {
		return "Linux"
	}
	for _, line := range strings.Split(string(data), "\n") {
		if v, ok := strings.CutPrefix(line, "PRETTY_NAME="); ok {
			return strings.Trim(v, `"`)
		}
	}
	return "Linux"
}

func memTotal() int64 {
	var si unix.Sysinfo_t
	if unix.Sysinfo(&si) != nil {
		return 0
	}
	return int64(si.Totalram) * int64(si.Unit)
}
