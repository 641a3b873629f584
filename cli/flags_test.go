package cli

import (
	"encoding/json"
	"net/netip"
	"strings"
	"testing"

	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/network"
	"github.com/spf13/pflag"
)

func parseRun(t *testing.T, args ...string) (RunOptions, error) {
	t.Helper()
	fs := pflag.NewFlagSet("run", pflag.ContinueOnError)
	fs.SetInterspersed(false)
	f := addRunFlags(fs)
	if err := fs.Parse(args); err != nil {
		return RunOptions{}, err
	}
	return f.options(fs, fs.Args())
}

func ptr[T any](v T) *T { return &v }

// defaultHostConfig is what the docker CLI sends when no flag changes the host configuration.
func defaultHostConfig() container.HostConfig {
	return container.HostConfig{
		NetworkMode:   "default",
		PortBindings:  network.PortMap{},
		DNS:           []netip.Addr{},
		DNSSearch:     []string{},
		DNSOptions:    []string{},
		RestartPolicy: container.RestartPolicy{Name: "no"},
		LogConfig:     container.LogConfig{Config: map[string]string{}},
		Resources: container.Resources{
			MemorySwappiness: ptr(int64(-1)),
			OomKillDisable:   ptr(false),
			PidsLimit:        ptr(int64(0)),
			Ulimits:          []*container.Ulimit{},
		},
	}
}

func TestRunFlags(t *testing.T) {
	t.Setenv("BERTH_TEST_FROM_ENV", "from-env")
	for _, tc := range []struct {
		name   string
		args   []string
		config container.Config
		host   func(*container.HostConfig)
		check  func(t *testing.T, o RunOptions)
	}{
		{
			name:   "defaults",
			args:   []string{"busybox"},
			config: container.Config{Image: "busybox", AttachStdout: true, AttachStderr: true},

			check: func(t *testing.T, o RunOptions) {
				if o.Pull != PullMissing || !o.SigProxy || o.Detach || o.Name != "" {
					t.Errorf("unexpected options %+v", o)
				}
			},
		},
		{
			name: "command after image is not parsed",
			args: []string{"--rm", "busybox", "ls", "-l", "--rm"},
			config: container.Config{Image: "busybox", Cmd: []string{"ls", "-l", "--rm"},
				AttachStdout: true, AttachStderr: true},
			host: func(h *container.HostConfig) { h.AutoRemove = true },
		},
		{
			name: "interactive tty",
			args: []string{"-it", "--name", "web", "-e", "A=1", "-e", "BERTH_TEST_FROM_ENV", "-e", "BERTH_TEST_UNSET",
				"-l", "tier=front", "--label", "flag", "-w", "/srv", "-u", "1000:1000", "-h", "box", "busybox", "sh"},
			config: container.Config{
				Image: "busybox", Cmd: []string{"sh"}, Hostname: "box", User: "1000:1000", WorkingDir: "/srv",
				Env:    []string{"A=1", "BERTH_TEST_FROM_ENV=from-env", "BERTH_TEST_UNSET"},
				Labels: map[string]string{"tier": "front", "flag": ""},
				Tty:    true, OpenStdin: true, StdinOnce: true, AttachStdin: true, AttachStdout: true, AttachStderr: true,
			},
			check: func(t *testing.T, o RunOptions) {
				if o.Name != "web" {
					t.Errorf("name = %q", o.Name)
				}
			},
		},
		{
			name: "entrypoint stop init restart",
			args: []string{"--entrypoint", "/bin/echo", "--stop-signal", "SIGUSR1", "--stop-timeout", "3", "--init",
				"--restart", "on-failure:5", "-d", "--pull", "never", "--platform", "linux/arm64", "busybox", "hi"},
			config: container.Config{Image: "busybox", Cmd: []string{"hi"}, Entrypoint: []string{"/bin/echo"},
				StopSignal: "SIGUSR1", StopTimeout: ptr(3), AttachStdout: true, AttachStderr: true},
			host: func(h *container.HostConfig) {
				h.Init = ptr(true)
				h.RestartPolicy = container.RestartPolicy{Name: "on-failure", MaximumRetryCount: 5}
			},
			check: func(t *testing.T, o RunOptions) {
				if !o.Detach || o.Pull != PullNever || o.Platform != "linux/arm64" {
					t.Errorf("unexpected options %+v", o)
				}
			},
		},
		{
			name:   "empty entrypoint resets",
			args:   []string{"--entrypoint=", "busybox"},
			config: container.Config{Image: "busybox", Entrypoint: []string{""}, AttachStdout: true, AttachStderr: true},
		},
		{
			name:   "attach selects streams",
			args:   []string{"-a", "STDERR", "-a", "stdin", "busybox"},
			config: container.Config{Image: "busybox", AttachStdin: true, AttachStderr: true},
		},
		{
			name:   "init=false is sent",
			args:   []string{"--init=false", "--sig-proxy=false", "busybox"},
			config: container.Config{Image: "busybox", AttachStdout: true, AttachStderr: true},
			host:   func(h *container.HostConfig) { h.Init = ptr(false) },
			check: func(t *testing.T, o RunOptions) {
				if o.SigProxy {
					t.Error("sig-proxy should be off")
				}
			},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			o, err := parseRun(t, tc.args...)
			if err != nil {
				t.Fatal(err)
			}
			if tc.config.Labels == nil {
				tc.config.Labels = map[string]string{}
			}
			if tc.config.Volumes == nil {
				tc.config.Volumes = map[string]struct{}{} // docker sends {} too
			}
			gc, _ := json.Marshal(o.Config)
			wc, _ := json.Marshal(tc.config)
			if string(gc) != string(wc) {
				t.Errorf("config:\n got %s\nwant %s", gc, wc)
			}
			wantHost := defaultHostConfig()
			if tc.host != nil {
				tc.host(&wantHost)
			}
			gh, _ := json.Marshal(o.HostConfig)
			wh, _ := json.Marshal(wantHost)
			if string(gh) != string(wh) {
				t.Errorf("host config:\n got %s\nwant %s", gh, wh)
			}
			if tc.check != nil {
				tc.check(t, o)
			}
		})
	}
}

func TestRunFlagErrors(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"-a", "stdfoo", "busybox"}, `invalid argument "stdfoo" for "-a, --attach" flag: valid streams are STDIN, STDOUT and STDERR`},
		{[]string{"-e", "=x", "busybox"}, "invalid environment variable: =x"},
		{[]string{"-l", "=x", "busybox"}, "invalid label '=x': empty name"},
		{[]string{"--rm", "--restart", "always", "busybox"}, "conflicting options: cannot specify both --restart and --rm"},
		{[]string{"--restart", ":3", "busybox"}, "invalid restart policy format: no policy provided before colon"},
		{[]string{"--restart", "on-failure:x", "busybox"}, "invalid restart policy format: maximum retry count must be an integer"},
		{[]string{"--pull", "sometimes", "busybox"}, `invalid pull option: 'sometimes': must be one of "always", "missing" or "never"`},
		{[]string{"-d", "-a", "stdout", "busybox"}, "conflicting options: cannot specify both --attach and --detach"},
		{[]string{"--detach-keys", "ctrl-", "busybox"}, "invalid detach keys (ctrl-)"},
		{[]string{"--stop-timeout", "x", "busybox"}, `invalid argument "x" for "--stop-timeout" flag`},
		{[]string{"--foo", "busybox"}, "unknown flag: --foo"},
	} {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			_, err := parseRun(t, tc.args...)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want %q", err, tc.want)
			}
		})
	}
}

func TestRunRmKeepsRestartNo(t *testing.T) {
	if _, err := parseRun(t, "--rm", "--restart", "no", "busybox"); err != nil {
		t.Fatalf("--rm with --restart=no must be accepted: %v", err)
	}
}

func TestStopFlags(t *testing.T) {
	for _, tc := range []struct {
		args    []string
		timeout *int
		signal  string
	}{
		{nil, nil, ""},
		{[]string{"-t", "0"}, ptr(0), ""},
		{[]string{"--time", "7", "-s", "SIGINT"}, ptr(7), "SIGINT"},
		{[]string{"--timeout", "2"}, ptr(2), ""},
	} {
		fs := pflag.NewFlagSet("stop", pflag.ContinueOnError)
		f := addStopFlags(fs)
		if err := fs.Parse(tc.args); err != nil {
			t.Fatal(err)
		}
		o := f.options(fs, []string{"a", "b"})
		if (o.Timeout == nil) != (tc.timeout == nil) || (o.Timeout != nil && *o.Timeout != *tc.timeout) || o.Signal != tc.signal {
			t.Errorf("%v: got timeout %v signal %q", tc.args, o.Timeout, o.Signal)
		}
		if len(o.Containers) != 2 {
			t.Errorf("containers = %v", o.Containers)
		}
	}
}

func TestOtherFlags(t *testing.T) {
	fs := pflag.NewFlagSet("rm", pflag.ContinueOnError)
	var rm RemoveOptions
	addRmFlags(fs, &rm)
	if err := fs.Parse([]string{"-f", "-v"}); err != nil || !rm.Force || !rm.Volumes || rm.Links {
		t.Errorf("rm: %+v, %v", rm, err)
	}

	fs = pflag.NewFlagSet("logs", pflag.ContinueOnError)
	var logs LogsOptions
	addLogsFlags(fs, &logs)
	if logs.Tail != "all" {
		t.Errorf("default tail = %q", logs.Tail)
	}
	if err := fs.Parse([]string{"-f", "-t", "--tail", "5", "--since", "10m", "--until", "2026-01-01T00:00:00Z", "--details"}); err != nil {
		t.Fatal(err)
	}
	want := LogsOptions{Follow: true, Timestamps: true, Tail: "5", Since: "10m", Until: "2026-01-01T00:00:00Z", Details: true}
	if logs != want {
		t.Errorf("logs: got %+v, want %+v", logs, want)
	}

	fs = pflag.NewFlagSet("pull", pflag.ContinueOnError)
	var pull PullOptions
	addPullFlags(fs, &pull)
	if err := fs.Parse([]string{"-q", "-a", "--platform", "linux/amd64"}); err != nil || !pull.Quiet || !pull.AllTags || pull.Platform != "linux/amd64" {
		t.Errorf("pull: %+v, %v", pull, err)
	}
}

func TestParsePlatform(t *testing.T) {
	for _, tc := range []struct {
		in, os, arch, variant, err string
	}{
		{in: "linux/amd64", os: "linux", arch: "amd64"},
		{in: "linux/arm64/v8", os: "linux", arch: "arm64"},
		{in: "linux/aarch64", os: "linux", arch: "arm64"},
		{in: "Linux/X86_64", os: "linux", arch: "amd64"},
		{in: "linux/arm", os: "linux", arch: "arm", variant: "v7"},
		{in: "linux/arm/v6", os: "linux", arch: "arm", variant: "v6"},
		{in: "arm64", os: "linux", arch: "arm64"},
		{in: "linux/sparc", err: "unknown operating system or architecture"},
		{in: "a/b/c/d", err: "cannot parse platform specifier"},
	} {
		p, err := parsePlatform(tc.in)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("%s: err = %v, want %q", tc.in, err, tc.err)
			}
			continue
		}
		if err != nil || p.OS != tc.os || p.Architecture != tc.arch || p.Variant != tc.variant {
			t.Errorf("%s: got %+v, %v", tc.in, p, err)
		}
	}
}
