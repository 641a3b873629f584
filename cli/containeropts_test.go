package cli

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/moby/moby/api/types/container"
)

func TestRunResourceSecurityAndFileFlags(t *testing.T) {
	dir := t.TempDir()
	envFile := filepath.Join(dir, "env")
	os.WriteFile(envFile, []byte("\xEF\xBB\xBF# comment\n\n  FROM_FILE=1\nOVERRIDDEN=file\nBERTH_TEST_LOOKUP\nBERTH_TEST_MISSING\nSPACES= kept \n"), 0o644)
	labelFile := filepath.Join(dir, "labels")
	os.WriteFile(labelFile, []byte("a=1\nb=2\nonlykey\n"), 0o644)
	profile := filepath.Join(dir, "seccomp.json")
	os.WriteFile(profile, []byte("{\n  \"defaultAction\": \"SCMP_ACT_ALLOW\",\n  \"syscalls\": []\n}\n"), 0o644)
	t.Setenv("BERTH_TEST_LOOKUP", "looked-up")

	for _, tc := range []struct {
		name   string
		args   []string
		config func(*container.Config)
		host   func(*container.HostConfig)
	}{
		{
			name: "resources",
			args: []string{"-m", "64m", "--memory-swap", "128m", "--memory-reservation", "32m", "--cpus", "1.5",
				"-c", "512", "--cpuset-cpus", "0-1", "--pids-limit", "100", "--shm-size", "64m",
				"--ulimit", "nofile=1024:2048", "--ulimit", "nproc=50", "--oom-score-adj", "-500",
				"--memory-swappiness", "10", "--oom-kill-disable", "busybox"},
			host: func(h *container.HostConfig) {
				h.Memory, h.MemorySwap, h.MemoryReservation = 64<<20, 128<<20, 32<<20
				h.NanoCPUs, h.CPUShares, h.CpusetCpus = 1500000000, 512, "0-1"
				h.PidsLimit, h.ShmSize, h.OomScoreAdj = ptr(int64(100)), 64<<20, -500
				h.MemorySwappiness, h.OomKillDisable = ptr(int64(10)), ptr(true)
				h.Ulimits = []*container.Ulimit{{Name: "nofile", Soft: 1024, Hard: 2048}, {Name: "nproc", Soft: 50, Hard: 50}}
			},
		},
		{
			name: "unlimited swap and pids",
			args: []string{"--memory-swap", "-1", "--pids-limit", "-1", "busybox"},
			host: func(h *container.HostConfig) { h.MemorySwap, h.PidsLimit = -1, ptr(int64(-1)) },
		},
		{
			name: "security",
			args: []string{"--privileged", "--cap-add", "NET_ADMIN", "--cap-add", "SYS_TIME", "--cap-drop", "ALL",
				"--read-only", "--security-opt", "no-new-privileges", "--security-opt", "seccomp=unconfined",
				"--security-opt", "label:disable", "--group-add", "audio", "--group-add", "50",
				"--sysctl", "net.ipv4.ip_forward=1", "--sysctl", "kernel.shmmax=1000", "busybox"},
			host: func(h *container.HostConfig) {
				h.Privileged, h.ReadonlyRootfs = true, true
				h.CapAdd, h.CapDrop = []string{"NET_ADMIN", "SYS_TIME"}, []string{"ALL"}
				h.SecurityOpt = []string{"no-new-privileges", "seccomp=unconfined", "label:disable"}
				h.GroupAdd = []string{"audio", "50"}
				h.Sysctls = map[string]string{"net.ipv4.ip_forward": "1", "kernel.shmmax": "1000"}
			},
		},
		{
			name: "seccomp profile file is sent as compact JSON",
			args: []string{"--security-opt", "seccomp=" + profile, "busybox"},
			host: func(h *container.HostConfig) {
				h.SecurityOpt = []string{`seccomp={"defaultAction":"SCMP_ACT_ALLOW","syscalls":[]}`}
			},
		},
		{
			name: "systempaths unconfined clears masked and read-only paths",
			args: []string{"--security-opt", "systempaths=unconfined", "busybox"},
			host: func(h *container.HostConfig) { h.MaskedPaths, h.ReadonlyPaths = []string{}, []string{} },
		},
		{
			name: "tmpfs and logging",
			args: []string{"--tmpfs", "/run:size=64m", "--tmpfs", "/tmp", "--log-driver", "json-file",
				"--log-opt", "max-size=1m", "--log-opt", "max-file=3", "--runtime", "runc", "busybox"},
			host: func(h *container.HostConfig) {
				h.Tmpfs = map[string]string{"/run": "size=64m", "/tmp": ""}
				h.LogConfig = container.LogConfig{Type: "json-file", Config: map[string]string{"max-size": "1m", "max-file": "3"}}
				h.Runtime = "runc"
			},
		},
		{
			name: "env and label files, flags override",
			args: []string{"--env-file", envFile, "-e", "OVERRIDDEN=flag", "--label-file", labelFile, "-l", "b=flag",
				"--hostname", "box", "--domainname", "example.org", "busybox"},
			config: func(c *container.Config) {
				c.Env = []string{"FROM_FILE=1", "OVERRIDDEN=file", "BERTH_TEST_LOOKUP=looked-up", "SPACES= kept ", "OVERRIDDEN=flag"}
				c.Labels = map[string]string{"a": "1", "b": "flag"}
				c.Hostname, c.Domainname = "box", "example.org"
			},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			o, err := parseRun(t, tc.args...)
			if err != nil {
				t.Fatal(err)
			}
			wantCfg := container.Config{Image: "busybox", AttachStdout: true, AttachStderr: true, Labels: map[string]string{}}
			if tc.config != nil {
				tc.config(&wantCfg)
			}
			wantHost := defaultHostConfig()
			if tc.host != nil {
				tc.host(&wantHost)
			}
			for _, p := range []struct{ got, want any }{{o.Config, wantCfg}, {o.HostConfig, wantHost}} {
				g, _ := json.Marshal(p.got)
				w, _ := json.Marshal(p.want)
				if string(g) != string(w) {
					t.Errorf("\n got %s\nwant %s", g, w)
				}
			}
		})
	}
}

func TestRunResourceAndSecurityFlagErrors(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.json")
	os.WriteFile(bad, []byte("{not json"), 0o644)
	badEnv := filepath.Join(dir, "bad.env")
	os.WriteFile(badEnv, []byte("A B=1\n"), 0o644)
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--memory", "1x", "busybox"}, `invalid argument "1x" for "-m, --memory" flag: invalid suffix: 'x'`},
		{[]string{"--memory-swap", "lots", "busybox"}, `invalid argument "lots" for "--memory-swap" flag`},
		{[]string{"--shm-size", "-", "busybox"}, `invalid argument "-" for "--shm-size" flag`},
		{[]string{"--cpus", "0.0000000001", "busybox"}, `invalid argument "0.0000000001" for "--cpus" flag: value is too precise`},
		{[]string{"--cpus", "two", "busybox"}, `failed to parse two as a rational number`},
		{[]string{"--ulimit", "nofile", "busybox"}, `invalid ulimit argument: nofile`},
		{[]string{"--ulimit", "bogus=1", "busybox"}, `invalid ulimit type: bogus`},
		{[]string{"--sysctl", "kernel.hostname=x", "busybox"}, `sysctl 'kernel.hostname=x' is not allowed`},
		{[]string{"--security-opt", "seccomp", "busybox"}, `invalid --security-opt: "seccomp"`},
		{[]string{"--security-opt", "seccomp=" + filepath.Join(dir, "missing.json"), "busybox"}, "opening seccomp profile"},
		{[]string{"--security-opt", "seccomp=" + bad, "busybox"}, "compacting json for seccomp profile"},
		{[]string{"--env-file", filepath.Join(dir, "nope"), "busybox"}, "--env-file: open "},
		{[]string{"--env-file", badEnv, "busybox"}, "variable 'A B' contains whitespaces"},
		{[]string{"-l", "my label=x", "busybox"}, "label 'my label' contains whitespaces"},
		{[]string{"--log-driver", "none", "--log-opt", "max-size=1m", "busybox"}, "invalid logging opts for driver none"},
		{[]string{"--memory-swappiness", "101", "busybox"}, "Valid memory swappiness range is 0-100"},
		{[]string{"--restart", "on-failure:x", "busybox"}, "maximum retry count must be an integer"},
	} {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			_, err := parseRun(t, tc.args...)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want %q", err, tc.want)
			}
		})
	}
}

func TestMemoryFlagErrorThroughMain(t *testing.T) {
	code, out, errOut := runMain(t, nil, "", "run", "--memory", "1x", "busybox")
	want := "invalid argument \"1x\" for \"-m, --memory\" flag: invalid suffix: 'x'\nSee 'berth run --help'.\n"
	if code != 125 || out != "" || errOut != want {
		t.Errorf("code %d stdout %q stderr %q; want 125 and %q", code, out, errOut, want)
	}
}
