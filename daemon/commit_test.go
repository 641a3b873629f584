package daemon

import (
	"maps"
	"slices"
	"testing"

	"github.com/berth-dev/berth/errdefs"
	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/network"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

func TestApplyChanges(t *testing.T) {
	base := func() container.Config {
		return container.Config{Cmd: []string{"sh"}, Env: []string{"PATH=/bin", "HOME=/root"}, WorkingDir: "/srv"}
	}
	for _, tc := range []struct {
		name    string
		changes []string
		check   func(t *testing.T, c container.Config)
	}{
		{"cmd exec form", []string{`CMD ["cat", "/x y"]`}, func(t *testing.T, c container.Config) {
			if !slices.Equal(c.Cmd, []string{"cat", "/x y"}) {
				t.Errorf("Cmd %q", c.Cmd)
			}
		}},
		{"cmd shell form", []string{`cmd echo "$HOME" > /out`}, func(t *testing.T, c container.Config) {
			if !slices.Equal(c.Cmd, []string{"/bin/sh", "-c", `echo "$HOME" > /out`}) {
				t.Errorf("Cmd %q", c.Cmd)
			}
		}},
		{"entrypoint resets inherited cmd", []string{`ENTRYPOINT ["/app"]`}, func(t *testing.T, c container.Config) {
			if !slices.Equal(c.Entrypoint, []string{"/app"}) || c.Cmd != nil {
				t.Errorf("Entrypoint %q Cmd %q", c.Entrypoint, c.Cmd)
			}
		}},
		{"entrypoint keeps a cmd set before", []string{`CMD ["-v"]`, `ENTRYPOINT /app`}, func(t *testing.T, c container.Config) {
			if !slices.Equal(c.Entrypoint, []string{"/bin/sh", "-c", "/app"}) || !slices.Equal(c.Cmd, []string{"-v"}) {
				t.Errorf("Entrypoint %q Cmd %q", c.Entrypoint, c.Cmd)
			}
		}},
		{"env forms", []string{`ENV A=1 B="two words" C=$HOME/x D=${NOPE:-dflt} E='$HOME'`, "ENV OLD legacy form value", `ENV PATH=/usr/bin:$PATH`}, func(t *testing.T, c container.Config) {
			want := []string{"PATH=/usr/bin:/bin", "HOME=/root", "A=1", "B=two words", "C=/root/x", "D=dflt", "E=$HOME", "OLD=legacy form value"}
			if !slices.Equal(c.Env, want) {
				t.Errorf("Env\n got %q\nwant %q", c.Env, want)
			}
		}},
		{"labels", []string{`LABEL a=b "c d"=e`, "LABEL legacy value here"}, func(t *testing.T, c container.Config) {
			if !maps.Equal(c.Labels, map[string]string{"a": "b", "c d": "e", "legacy": "value here"}) {
				t.Errorf("Labels %v", c.Labels)
			}
		}},
		{"expose", []string{"EXPOSE 80 53/udp 8000-8001/tcp"}, func(t *testing.T, c container.Config) {
			for _, p := range []string{"80/tcp", "53/udp", "8000/tcp", "8001/tcp"} {
				if _, ok := c.ExposedPorts[network.MustParsePort(p)]; !ok {
					t.Errorf("%s not exposed: %v", p, c.ExposedPorts)
				}
			}
		}},
		{"volumes", []string{`VOLUME ["/data", "/logs"]`, "VOLUME /cache /tmp/x"}, func(t *testing.T, c container.Config) {
			if len(c.Volumes) != 4 {
				t.Errorf("Volumes %v", c.Volumes)
			}
		}},
		{"workdir user stopsignal", []string{"WORKDIR app", "WORKDIR ../lib", "USER nobody:nogroup", "STOPSIGNAL SIGINT"}, func(t *testing.T, c container.Config) {
			if c.WorkingDir != "/srv/lib" || c.User != "nobody:nogroup" || c.StopSignal != "SIGINT" {
				t.Errorf("WorkingDir %q User %q StopSignal %q", c.WorkingDir, c.User, c.StopSignal)
			}
		}},
		{"comments, blank lines and continuations", []string{"# note\n\nCMD echo \\\n  hi"}, func(t *testing.T, c container.Config) {
			if !slices.Equal(c.Cmd, []string{"/bin/sh", "-c", "echo hi"}) {
				t.Errorf("Cmd %q", c.Cmd)
			}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := base()
			if err := applyChanges(&c, tc.changes); err != nil {
				t.Fatal(err)
			}
			tc.check(t, c)
		})
	}
}

func TestApplyChangesErrors(t *testing.T) {
	for change, msg := range map[string]string{
		"RUN echo hi":         "run is not a valid change command",
		"FROM busybox":        "from is not a valid change command",
		"ENV":                 "ENV requires at least one argument",
		"ENV A=1 B":           `Syntax error - can't find = in "B". Must be of the form: name=value`,
		"EXPOSE 80/sctpx":     "invalid containerPort: 80/sctpx",
		"EXPOSE nope":         "invalid containerPort: nope",
		"STOPSIGNAL SIGNOPE":  "Invalid signal: SIGNOPE",
		`ENV A="unterminated`: "unexpected end of statement while looking for matching \"",
		"WORKDIR":             "WORKDIR requires exactly one argument",
	} {
		c := container.Config{}
		err := applyChanges(&c, []string{change})
		if !errdefs.IsInvalidParameter(err) || err.Error() != msg {
			t.Errorf("%q: %v, want %q", change, err, msg)
		}
	}
	if err := applyChanges(&container.Config{}, []string{"HEALTHCHECK NONE"}); !errdefs.IsNotFound(err) && errdefs.HTTPStatus(err) != 501 {
		t.Errorf("HEALTHCHECK: %v", err)
	}
}

func TestMergeCommitConfig(t *testing.T) {
	cc := container.Config{
		User: "app", Env: []string{"PATH=/bin", "A=1"}, Cmd: []string{"run"}, WorkingDir: "/w", StopSignal: "SIGINT",
		Labels: map[string]string{"l": "c"}, ExposedPorts: network.PortSet{network.MustParsePort("80/tcp"): {}},
	}
	ic := ocispec.ImageConfig{ExposedPorts: map[string]struct{}{"443/tcp": {}}, Volumes: map[string]struct{}{"/v": {}}}
	cfg := container.Config{Env: []string{"A=2"}, Labels: map[string]string{"x": "y"}}
	mergeCommitConfig(&cfg, &cc, &ic)
	out := imageConfig(&cfg)
	if out.User != "app" || !slices.Equal(out.Env, []string{"A=2", "PATH=/bin"}) || !slices.Equal(out.Cmd, []string{"run"}) ||
		out.WorkingDir != "/w" || out.StopSignal != "SIGINT" || len(out.Labels) != 2 || len(out.ExposedPorts) != 2 || len(out.Volumes) != 1 {
		t.Errorf("merged %+v", out)
	}
	if _, ok := out.ExposedPorts["443/tcp"]; !ok {
		t.Errorf("image port lost: %v", out.ExposedPorts)
	}
	// An entrypoint set by the change keeps the command it chose (none).
	cfg = container.Config{Entrypoint: []string{"/e"}}
	mergeCommitConfig(&cfg, &cc, &ic)
	if cfg.Cmd != nil {
		t.Errorf("Cmd %q", cfg.Cmd)
	}
}

func TestCommitReference(t *testing.T) {
	for _, tc := range []struct{ repo, tag, want string }{
		{"myimg", "", "docker.io/library/myimg:latest"},
		{"myimg", "v1", "docker.io/library/myimg:v1"},
		{"localhost:5000/a/b", "x", "localhost:5000/a/b:x"},
	} {
		r, err := commitReference(tc.repo, tc.tag)
		if err != nil || r.String() != tc.want {
			t.Errorf("%s %s: %v %v", tc.repo, tc.tag, r, err)
		}
	}
	for _, bad := range [][2]string{{"UPPER", ""}, {"a@sha256:" + "0123456789012345678901234567890123456789012345678901234567890123", ""}, {"a", "bad tag!"}} {
		if _, err := commitReference(bad[0], bad[1]); !errdefs.IsInvalidParameter(err) {
			t.Errorf("%v accepted: %v", bad, err)
		}
	}
}

func TestAbsPathAndExclusions(t *testing.T) {
	for in, want := range map[string]string{
		"/etc": "/etc", "etc/": "/etc/", "/etc/.": "/etc/.", "/": "/", ".": "/.", "/a/../../b": "/b", "a//b/": "/a/b/", "/./": "/./",
	} {
		if got := absPath(in); got != want {
			t.Errorf("absPath(%q) = %q, want %q", in, got, want)
		}
	}
	for p, want := range map[string]bool{
		"dev": true, "dev/null": true, "proc": true, "sys/x": true, "etc/hosts": true, "etc/hostname": true, "etc/resolv.conf": true,
		"etc": false, "etc/passwd": false, "device": false, "tmp/dev": false, "etc/hosts.allow": false,
	} {
		if excludedChange(p) != want {
			t.Errorf("excludedChange(%q) = %v", p, !want)
		}
	}
}
