package cli

import (
	"encoding/json"
	"maps"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/moby/moby/api/types/mount"
)

func TestSplitVolumes(t *testing.T) {
	dir := t.TempDir()
	t.Chdir(dir)
	cwd, _ := os.Getwd() // dir with symlinks as the process sees it
	for _, tc := range []struct {
		name    string
		specs   []string
		binds   []string
		volumes []string
		err     string
	}{
		{name: "anonymous volume", specs: []string{"/data"}, volumes: []string{"/data"}},
		{name: "short specs are container paths", specs: []string{"ab", "/"}, volumes: []string{"/", "ab"}},
		{name: "a drive letter is not a source", specs: []string{"a:b", `c:\data`, "v:/x"}, volumes: []string{"a:b", `c:\data`, "v:/x"}},
		{name: "named volume", specs: []string{"data:/data", "data:/ro:ro,nocopy"}, binds: []string{"data:/data", "data:/ro:ro,nocopy"}},
		{name: "absolute bind with modes", specs: []string{"/host:/ctr:ro,z"}, binds: []string{"/host:/ctr:ro,z"}},
		{name: "relative bind made absolute", specs: []string{"./conf.yaml:/app/conf.yaml"}, binds: []string{cwd + "/conf.yaml:/app/conf.yaml"}},
		{name: "dot and dot-dot", specs: []string{".:/app", "../x:/y:ro", ".hidden:/h"},
			binds: []string{cwd + ":/app", filepath.Dir(cwd) + "/x:/y:ro", cwd + "/.hidden:/h"}},
		{name: "home and Windows paths are passed as given", specs: []string{"~/x:/y", `c:\foo:/x`, `\\.\pipe\engine:\\.\pipe\engine`},
			binds: []string{"~/x:/y", `c:\foo:/x`, `\\.\pipe\engine:\\.\pipe\engine`}},
		{name: "unknown modes and relative targets are for the daemon", specs: []string{"/a:/b:bogus", "/data:ro", "/a:/b:c:d"},
			binds: []string{"/a:/b:bogus", "/data:ro", "/a:/b:c:d"}},
		{name: "duplicates count once, order kept", specs: []string{"vol:/x", "/anon", "/h:/h", "vol:/x", "/anon"},
			binds: []string{"vol:/x", "/h:/h"}, volumes: []string{"/anon"}},
		{name: "empty", specs: []string{""}, err: "invalid empty volume spec"},
		{name: "no source", specs: []string{":/x"}, err: "invalid spec: :/x: empty section between colons"},
		{name: "empty middle", specs: []string{"/a::/b"}, err: "invalid spec: /a::/b: empty section between colons"},
		{name: "trailing colon", specs: []string{"/a:/b:"}, err: "invalid spec: /a:/b:: empty section between colons"},
		{name: "four sections", specs: []string{"/a:/b:ro:x"}, err: "invalid spec: /a:/b:ro:x: too many colons"},
		{name: "error after a good spec", specs: []string{"/ok", "vol::/x"}, err: "invalid spec: vol::/x: empty section between colons"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			binds, volumes, err := splitVolumes(tc.specs)
			if tc.err != "" {
				if err == nil || err.Error() != tc.err {
					t.Fatalf("err = %v, want %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(binds, tc.binds) {
				t.Errorf("binds %q, want %q", binds, tc.binds)
			}
			gotVolumes := slices.Sorted(maps.Keys(volumes))
			if strings.Join(gotVolumes, "|") != strings.Join(tc.volumes, "|") {
				t.Errorf("volumes %q, want %q", gotVolumes, tc.volumes)
			}
		})
	}
}

func TestParseMount(t *testing.T) {
	dir := t.TempDir()
	t.Chdir(dir)
	cwd, _ := os.Getwd()
	for _, tc := range []struct {
		in   string
		want mount.Mount
	}{
		{"target=/data", mount.Mount{Type: mount.TypeVolume, Target: "/data"}},
		{"type=volume,src=data,dst=/data,volume-label=a=b,volume-label=flag,volume-driver=local,volume-opt=type=nfs,volume-opt=o=addr=1.2.3.4,volume-nocopy,ro",
			mount.Mount{Type: mount.TypeVolume, Source: "data", Target: "/data", ReadOnly: true, VolumeOptions: &mount.VolumeOptions{
				NoCopy: true, Labels: map[string]string{"a": "b", "flag": ""},
				DriverConfig: &mount.Driver{Name: "local", Options: map[string]string{"type": "nfs", "o": "addr=1.2.3.4"}}}}},
		{"type=volume,destination=/x,volume-nocopy=false,volume-subpath=sub",
			mount.Mount{Type: mount.TypeVolume, Target: "/x", VolumeOptions: &mount.VolumeOptions{Labels: map[string]string{}, Subpath: "sub", DriverConfig: &mount.Driver{}}}},
		{"type=bind,source=./conf.yaml,target=/app/conf.yaml,readonly=true",
			mount.Mount{Type: mount.TypeBind, Source: cwd + "/conf.yaml", Target: "/app/conf.yaml", ReadOnly: true}},
		{"type=bind,src=/a,dst=/b,bind-propagation=RSHARED,consistency=Cached,readonly=0",
			mount.Mount{Type: mount.TypeBind, Source: "/a", Target: "/b", Consistency: mount.ConsistencyCached, BindOptions: &mount.BindOptions{Propagation: mount.PropagationRShared}}},
		{"type=bind,src=/a,dst=/b,bind-nonrecursive", mount.Mount{Type: mount.TypeBind, Source: "/a", Target: "/b", BindOptions: &mount.BindOptions{NonRecursive: true}}},
		{"type=bind,src=/a,dst=/b,bind-recursive=disabled", mount.Mount{Type: mount.TypeBind, Source: "/a", Target: "/b", BindOptions: &mount.BindOptions{NonRecursive: true}}},
		{"type=bind,src=/a,dst=/b,bind-recursive=enabled", mount.Mount{Type: mount.TypeBind, Source: "/a", Target: "/b"}},
		{"type=bind,src=/a,dst=/b,bind-recursive=writable,ro", mount.Mount{Type: mount.TypeBind, Source: "/a", Target: "/b", ReadOnly: true, BindOptions: &mount.BindOptions{ReadOnlyNonRecursive: true}}},
		{"type=bind,src=/a,dst=/b,bind-recursive=readonly,readonly,bind-propagation=rprivate",
			mount.Mount{Type: mount.TypeBind, Source: "/a", Target: "/b", ReadOnly: true, BindOptions: &mount.BindOptions{ReadOnlyForceRecursive: true, Propagation: mount.PropagationRPrivate}}},
		{"TYPE=TMPFS,DST=/run,tmpfs-size=64m,tmpfs-mode=1770",
			mount.Mount{Type: mount.TypeTmpfs, Target: "/run", TmpfsOptions: &mount.TmpfsOptions{SizeBytes: 64 << 20, Mode: 0o1770}}},
		{"type=image,src=busybox,dst=/img,image-subpath=/bin", mount.Mount{Type: mount.TypeImage, Source: "busybox", Target: "/img", ImageOptions: &mount.ImageOptions{Subpath: "/bin"}}},
		{`type=bind,"src=/a,b",dst=/c`, mount.Mount{Type: mount.TypeBind, Source: "/a,b", Target: "/c"}},
		{"type=npipe,src=x,dst=y", mount.Mount{Type: mount.TypeNamedPipe, Source: "x", Target: "y"}}, // the daemon refuses it
	} {
		t.Run(tc.in, func(t *testing.T) {
			got, err := parseMount(tc.in)
			if err != nil {
				t.Fatal(err)
			}
			g, _ := json.Marshal(got)
			w, _ := json.Marshal(tc.want)
			if string(g) != string(w) {
				t.Errorf("\n got %s\nwant %s", g, w)
			}
		})
	}
}

func TestParseMountErrors(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"", "EOF"},
		{`type=bind,src"=/a`, `parse error on line 1, column 14: bare " in non-quoted-field`},
		{"bogus", "invalid field 'bogus' must be a key=value pair"},
		{"type=volume,bogus=foo", "unexpected key 'bogus' in 'bogus=foo'"},
		{"type=volume,source=/foo", "target is required"},
		{"type=tmpfs", "target is required"},
		{"type=,target=/x", "type is required"},
		{"target=/x,readonly=no", "invalid value for readonly: no"},
		{"target=/x,RO=maybe", "invalid value for ro: maybe"},
		{"type=bind,target=/x,bind-nonrecursive=maybe", "invalid value for bind-nonrecursive: maybe"},
		{"target=/x,volume-nocopy=maybe", "invalid value for volume-nocopy: maybe"},
		{"type=tmpfs,target=/foo,tmpfs-size=foo", "invalid value for tmpfs-size: foo"},
		{"type=tmpfs,target=/foo,tmpfs-mode=9", "invalid value for tmpfs-mode: 9"},
		{"type=bind,target=/foo,source=/foo,volume-nocopy=true", "cannot mix 'volume-*' options with mount type 'bind'"},
		{"type=volume,target=/foo,bind-propagation=rprivate", "cannot mix 'bind-*' options with mount type 'volume'"},
		{"type=bind,target=/foo,tmpfs-size=1m", "cannot mix 'tmpfs-*' options with mount type 'bind'"},
		{"type=volume,target=/foo,image-subpath=x", "cannot mix 'image-*' options with mount type 'volume'"},
		{"type=bind,src=/a,dst=/b,bind-recursive=bogus", `invalid value for bind-recursive: bogus (must be "enabled", "disabled", "writable", or "readonly")`},
		{"type=bind,src=/a,dst=/b,bind-recursive=writable", "option 'bind-recursive=writable' requires 'readonly' to be specified in conjunction"},
		{"type=bind,src=/a,dst=/b,bind-recursive=readonly", "option 'bind-recursive=readonly' requires 'readonly' to be specified in conjunction"},
		{"type=bind,src=/a,dst=/b,bind-recursive=readonly,ro", "option 'bind-recursive=readonly' requires 'bind-propagation=rprivate' to be specified in conjunction"},
	} {
		t.Run(tc.in, func(t *testing.T) {
			_, err := parseMount(tc.in)
			if err == nil || err.Error() != tc.want {
				t.Fatalf("err = %v, want %q", err, tc.want)
			}
		})
	}
}

func TestRunStorageFlags(t *testing.T) {
	dir := t.TempDir()
	t.Chdir(dir)
	cwd, _ := os.Getwd()
	o, err := parseRun(t, "-v", "./test_conf.yaml:/app/conf.yaml:ro", "-v", "data:/data", "--volume", "/anon",
		"--mount", "type=tmpfs,dst=/scratch,tmpfs-size=1m", "--mount", "src=logs,target=/logs",
		"--volumes-from", "db:ro", "--volumes-from", "cache", "--volume-driver", "local", "--tmpfs", "/run:size=64m", "busybox")
	if err != nil {
		t.Fatal(err)
	}
	hc := o.HostConfig
	if !reflect.DeepEqual(hc.Binds, []string{cwd + "/test_conf.yaml:/app/conf.yaml:ro", "data:/data"}) {
		t.Errorf("binds %q", hc.Binds)
	}
	if !reflect.DeepEqual(o.Config.Volumes, map[string]struct{}{"/anon": {}}) {
		t.Errorf("volumes %v", o.Config.Volumes)
	}
	want := []mount.Mount{
		{Type: mount.TypeTmpfs, Target: "/scratch", TmpfsOptions: &mount.TmpfsOptions{SizeBytes: 1 << 20}},
		{Type: mount.TypeVolume, Source: "logs", Target: "/logs"},
	}
	if !reflect.DeepEqual(hc.Mounts, want) {
		t.Errorf("mounts %+v", hc.Mounts)
	}
	if !reflect.DeepEqual(hc.VolumesFrom, []string{"db:ro", "cache"}) || hc.VolumeDriver != "local" {
		t.Errorf("volumes-from %q driver %q", hc.VolumesFrom, hc.VolumeDriver)
	}
	if !reflect.DeepEqual(hc.Tmpfs, map[string]string{"/run": "size=64m"}) {
		t.Errorf("tmpfs %v", hc.Tmpfs)
	}

	// Without storage flags nothing is sent but, as docker does, an empty Volumes map.
	o, err = parseRun(t, "busybox")
	if err != nil {
		t.Fatal(err)
	}
	if o.HostConfig.Binds != nil || o.HostConfig.Mounts != nil || o.HostConfig.VolumesFrom != nil || o.Config.Volumes == nil || len(o.Config.Volumes) != 0 {
		t.Errorf("storage without flags: %+v %+v", o.HostConfig, o.Config.Volumes)
	}
}

func TestCreateSendsMounts(t *testing.T) {
	dir := t.TempDir()
	t.Chdir(dir)
	cwd, _ := os.Getwd()
	f := newAPIFake(t)
	f.json("POST /containers/create", 201, map[string]any{"Id": "c0ffee", "Warnings": []string{}})
	code, out, errOut := f.run("", "container", "create", "-v", ".:/src", "-v", "/cache", "--mount", "type=bind,src=/etc/hosts,dst=/h,ro",
		"--volumes-from", "other", "busybox")
	if code != 0 || out != "c0ffee\n" {
		t.Fatalf("create: %d %q %q", code, out, errOut)
	}
	var req struct {
		Volumes    map[string]any
		HostConfig struct {
			Binds       []string
			VolumesFrom []string
			Mounts      []map[string]any
		}
	}
	if err := json.Unmarshal(f.only("POST /containers/create").Body, &req); err != nil {
		t.Fatal(err)
	}
	if _, ok := req.Volumes["/cache"]; !ok || len(req.Volumes) != 1 {
		t.Errorf("volumes %v", req.Volumes)
	}
	if strings.Join(req.HostConfig.Binds, ",") != cwd+":/src" || strings.Join(req.HostConfig.VolumesFrom, ",") != "other" {
		t.Errorf("binds %q volumes-from %q", req.HostConfig.Binds, req.HostConfig.VolumesFrom)
	}
	if m, _ := json.Marshal(req.HostConfig.Mounts); string(m) != `[{"ReadOnly":true,"Source":"/etc/hosts","Target":"/h","Type":"bind"}]` {
		t.Errorf("mounts %s", m)
	}
}

func TestBadStorageFlagsExit125BeforeAnyRequest(t *testing.T) {
	f := newAPIFake(t)
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"run", "-v", ":/x", "busybox"}, "berth: invalid spec: :/x: empty section between colons\n\nRun 'berth run --help' for more information\n"},
		{[]string{"create", "-v", "", "busybox"}, "berth: invalid empty volume spec\n\nRun 'berth create --help' for more information\n"},
		{[]string{"container", "run", "-v", "/a:/b:ro:x", "busybox"}, "berth: invalid spec: /a:/b:ro:x: too many colons\n\nRun 'berth run --help' for more information\n"},
		{[]string{"run", "--mount", "bogus", "busybox"}, "invalid argument \"bogus\" for \"--mount\" flag: invalid field 'bogus' must be a key=value pair\n\nUsage:  berth run [OPTIONS] IMAGE [COMMAND] [ARG...]\n\nRun 'berth run --help' for more information\n"},
		{[]string{"create", "--mount", "type=bind,src=/a", "busybox"}, "invalid argument \"type=bind,src=/a\" for \"--mount\" flag: target is required\n\nUsage:  berth create [OPTIONS] IMAGE [COMMAND] [ARG...]\n\nRun 'berth create --help' for more information\n"},
	} {
		code, out, errOut := f.run("", tc.args...)
		if code != 125 || out != "" || errOut != tc.want {
			t.Errorf("%v: %d %q %q, want 125 and %q", tc.args, code, out, errOut, tc.want)
		}
	}
	if len(f.reqs) != 0 {
		t.Errorf("requests made: %+v", f.reqs[0])
	}
}
