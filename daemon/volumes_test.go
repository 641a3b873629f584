package daemon

import (
	"os"
	"strings"
	"testing"

	"github.com/moby/moby/api/types/mount"
)

func TestParseBind(t *testing.T) {
	for spec, want := range map[string]MountPoint{
		"/srv:/data":            {Type: mount.TypeBind, Source: "/srv", Destination: "/data", RW: true},
		"/srv/:/data:ro":        {Type: mount.TypeBind, Source: "/srv", Destination: "/data", Mode: "ro"},
		"/srv:/data:rw,z":       {Type: mount.TypeBind, Source: "/srv", Destination: "/data", RW: true, Mode: "rw,z"},
		"/srv:/data:ro,rshared": {Type: mount.TypeBind, Source: "/srv", Destination: "/data", Mode: "ro,rshared", Propagation: mount.PropagationRShared},
		"cache:/c":              {Type: mount.TypeVolume, Name: "cache", Destination: "/c", RW: true},
		"cache:/c:nocopy":       {Type: mount.TypeVolume, Name: "cache", Destination: "/c", RW: true, Mode: "nocopy", NoCopy: true},
	} {
		got, err := parseBind(spec)
		if err != nil || *got != want {
			t.Errorf("%s: %+v %v, want %+v", spec, got, err, want)
		}
	}
	for spec, msg := range map[string]string{
		"/data":          "invalid volume specification: '/data'",
		"a:b:c:d":        "invalid volume specification",
		":/x":            "invalid volume specification",
		"vol:rel":        "invalid mount path: 'rel' mount path must be absolute",
		"/srv:/":         "destination can't be '/'",
		"/srv:/x:bogus":  "invalid mode: bogus",
		"/srv:/x:ro,rw":  "invalid mode: ro,rw",
		"/srv:/x:nocopy": "nocopy is only valid for volumes",
		"bad/name:/x":    "includes invalid characters for a local volume name",
	} {
		if _, err := parseBind(spec); err == nil || !strings.Contains(err.Error(), msg) {
			t.Errorf("%s: %v, want %q", spec, err, msg)
		}
	}
}

func TestParseMount(t *testing.T) {
	dir := t.TempDir()
	good := []struct {
		m    mount.Mount
		want MountPoint
	}{
		{mount.Mount{Type: mount.TypeBind, Source: dir, Target: "/h", ReadOnly: true}, MountPoint{Type: mount.TypeBind, Source: dir, Destination: "/h"}},
		{mount.Mount{Type: mount.TypeVolume, Source: "v1", Target: "/v", VolumeOptions: &mount.VolumeOptions{NoCopy: true}}, MountPoint{Type: mount.TypeVolume, Name: "v1", Destination: "/v", RW: true, NoCopy: true}},
		{mount.Mount{Type: mount.TypeVolume, Target: "/anon"}, MountPoint{Type: mount.TypeVolume, Destination: "/anon", RW: true, Anonymous: true}},
		{mount.Mount{Type: mount.TypeTmpfs, Target: "/t", TmpfsOptions: &mount.TmpfsOptions{SizeBytes: 1 << 20, Mode: 0o1777}}, MountPoint{Type: mount.TypeTmpfs, Destination: "/t", RW: true, Tmpfs: "size=1048576,mode=777"}},
	}
	for _, c := range good {
		got, err := parseMount(c.m)
		if err != nil || *got != c.want {
			t.Errorf("%+v: %+v %v, want %+v", c.m, got, err, c.want)
		}
	}
	bad := map[string]mount.Mount{
		"bind source path does not exist: " + dir + "/nope": {Type: mount.TypeBind, Source: dir + "/nope", Target: "/x"},
		"field Target must not be empty":                    {Type: mount.TypeBind, Source: dir},
		"mount path must be absolute":                       {Type: mount.TypeVolume, Source: "v", Target: "rel"},
		"source must not be specified":                      {Type: mount.TypeTmpfs, Source: "x", Target: "/t"},
		`plugin "nfs" not found`:                            {Type: mount.TypeVolume, Source: "vv", Target: "/v", VolumeOptions: &mount.VolumeOptions{DriverConfig: &mount.Driver{Name: "nfs"}}},
		`mount type unknown: "npipe"`:                       {Type: "npipe", Source: "x", Target: "/t"},
	}
	for msg, m := range bad {
		if _, err := parseMount(m); err == nil || !strings.Contains(err.Error(), msg) {
			t.Errorf("%+v: %v, want %q", m, err, msg)
		}
	}
	if _, err := os.Stat(dir + "/nope"); !os.IsNotExist(err) {
		t.Fatal("--mount created its missing source")
	}
}
