package cli

import (
	"encoding/json"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/network"
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
			checkParsedRun(t, tc.args, tc.config, tc.host)
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
	want := "invalid argument \"1x\" for \"-m, --memory\" flag: invalid suffix: 'x'\n\nUsage:  berth run [OPTIONS] IMAGE [COMMAND] [ARG...]\n\nRun 'berth run --help' for more information\n"
	if code != 125 || out != "" || errOut != want {
		t.Errorf("code %d stdout %q stderr %q; want 125 and %q", code, out, errOut, want)
	}
}

func TestRunNetworkFlags(t *testing.T) {
	p80 := network.MustParsePort("80/tcp")
	for _, tc := range []struct {
		name      string
		args      []string
		config    func(*container.Config)
		host      func(*container.HostConfig)
		endpoints string // JSON of NetworkingConfig.EndpointsConfig
	}{
		{
			name:      "defaults send the default endpoint",
			args:      []string{"busybox"},
			endpoints: `{"default":{"IPAMConfig":null,"Links":null,"Aliases":null,"DriverOpts":null,"GwPriority":0,"NetworkID":"","EndpointID":"","Gateway":"","IPAddress":"","MacAddress":"","IPPrefixLen":0,"IPv6Gateway":"","GlobalIPv6Address":"","GlobalIPv6PrefixLen":0,"DNSNames":null}}`,
		},
		{
			name: "publish and expose",
			args: []string{"-p", "127.0.0.1:8080:80", "-p", "9000-9001:9000-9001/udp", "--expose", "7000-7001", "--expose", "80", "-P", "busybox"},
			config: func(c *container.Config) {
				c.ExposedPorts = network.PortSet{p80: {}, network.MustParsePort("9000/udp"): {}, network.MustParsePort("9001/udp"): {},
					network.MustParsePort("7000/tcp"): {}, network.MustParsePort("7001/tcp"): {}}
			},
			host: func(h *container.HostConfig) {
				h.PublishAllPorts = true
				h.PortBindings = network.PortMap{
					p80:                               {{HostIP: netip.MustParseAddr("127.0.0.1"), HostPort: "8080"}},
					network.MustParsePort("9000/udp"): {{HostPort: "9000"}},
					network.MustParsePort("9001/udp"): {{HostPort: "9001"}},
				}
			},
			endpoints: `{"default":` + emptyEndpointJSON + `}`,
		},
		{
			name: "user network with alias ip and mac",
			args: []string{"--network", "mynet", "--network-alias", "web", "--net-alias", "www", "--ip", "10.1.2.3", "--mac-address", "02:42:ac:11:00:02", "busybox"},
			host: func(h *container.HostConfig) { h.NetworkMode = "mynet" },
			endpoints: `{"mynet":{"IPAMConfig":{"IPv4Address":"10.1.2.3"},"Links":null,"Aliases":["web","www"],"DriverOpts":null,"GwPriority":0,` +
				`"NetworkID":"","EndpointID":"","Gateway":"","IPAddress":"","MacAddress":"02:42:ac:11:00:02","IPPrefixLen":0,"IPv6Gateway":"","GlobalIPv6Address":"","GlobalIPv6PrefixLen":0,"DNSNames":null}}`,
		},
		{
			name:      "a lone network without settings has no entry",
			args:      []string{"--net", "mynet", "busybox"},
			host:      func(h *container.HostConfig) { h.NetworkMode = "mynet" },
			endpoints: `{}`,
		},
		{
			name:      "host network",
			args:      []string{"--network", "host", "busybox"},
			host:      func(h *container.HostConfig) { h.NetworkMode = "host" },
			endpoints: `{}`,
		},
		{
			name: "ip on the default network is left to the daemon to refuse",
			args: []string{"--ip", "172.17.0.9", "busybox"},
			endpoints: `{"default":{"IPAMConfig":{"IPv4Address":"172.17.0.9"},"Links":null,"Aliases":null,"DriverOpts":null,"GwPriority":0,` +
				`"NetworkID":"","EndpointID":"","Gateway":"","IPAddress":"","MacAddress":"","IPPrefixLen":0,"IPv6Gateway":"","GlobalIPv6Address":"","GlobalIPv6PrefixLen":0,"DNSNames":null}}`,
		},
		{
			name: "long syntax and a second network",
			args: []string{"--network", "name=front,alias=a1,ip=10.0.0.5,driver-opt=k=v,gw-priority=2", "--network", "back", "busybox"},
			host: func(h *container.HostConfig) { h.NetworkMode = "front" },
			endpoints: `{"back":` + emptyEndpointJSON + `,"front":{"IPAMConfig":{"IPv4Address":"10.0.0.5"},"Links":null,"Aliases":["a1"],"DriverOpts":{"k":"v"},"GwPriority":2,` +
				`"NetworkID":"","EndpointID":"","Gateway":"","IPAddress":"","MacAddress":"","IPPrefixLen":0,"IPv6Gateway":"","GlobalIPv6Address":"","GlobalIPv6PrefixLen":0,"DNSNames":null}}`,
		},
		{
			name: "hosts and dns",
			args: []string{"--add-host", "db:10.0.0.2", "--add-host", "gw=host-gateway", "--add-host", "v6:[::1]", "--add-host", "mapped=::ffff:1.2.3.4",
				"--dns", "1.1.1.1", "--dns", " 2001:db8::1 ", "--dns-search", "example.com.", "--dns-search", ".", "--dns-option", "ndots:2", "--dns-opt", "timeout:1", "busybox"},
			host: func(h *container.HostConfig) {
				h.ExtraHosts = []string{"db:10.0.0.2", "gw:host-gateway", "v6:::1", "mapped:::ffff:1.2.3.4"}
				h.DNS = []netip.Addr{netip.MustParseAddr("1.1.1.1"), netip.MustParseAddr("2001:db8::1")}
				h.DNSSearch = []string{"example.com", "."}
				h.DNSOptions = []string{"ndots:2", "timeout:1"}
			},
			endpoints: `{"default":` + emptyEndpointJSON + `}`,
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			o := checkParsedRun(t, tc.args, tc.config, tc.host)
			if o.NetworkingConfig == nil {
				t.Fatal("no networking config")
			}
			if g, _ := json.Marshal(o.NetworkingConfig.EndpointsConfig); string(g) != tc.endpoints {
				t.Errorf("endpoints\n got %s\nwant %s", g, tc.endpoints)
			}
		})
	}
}

const emptyEndpointJSON = `{"IPAMConfig":null,"Links":null,"Aliases":null,"DriverOpts":null,"GwPriority":0,"NetworkID":"","EndpointID":"","Gateway":"","IPAddress":"","MacAddress":"","IPPrefixLen":0,"IPv6Gateway":"","GlobalIPv6Address":"","GlobalIPv6PrefixLen":0,"DNSNames":null}`

func TestRunNetworkFlagErrors(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"-p", "8080:http", "busybox"}, "invalid containerPort: http"},
		{[]string{"-p", "x:80", "busybox"}, "invalid hostPort: x"},
		{[]string{"-p", "80/icmp", "busybox"}, "invalid proto: icmp"},
		{[]string{"--expose", "1:2", "busybox"}, "invalid port format for --expose: 1:2"},
		{[]string{"--network-alias", "web", "busybox"}, "network-scoped aliases are only supported for user-defined networks"},
		{[]string{"--network", "bridge", "--network-alias", "web", "busybox"}, "network-scoped aliases are only supported for user-defined networks"},
		{[]string{"--network", "a", "--network", "a", "busybox"}, `network "a" is specified multiple times`},
		{[]string{"--network", "host", "--network", "mynet", "busybox"}, "conflicting options: cannot attach both user-defined and non-user-defined network-modes"},
		{[]string{"--network", "name=n,alias=x", "--network-alias", "y", "busybox"}, "conflicting options: cannot specify both --network-alias and per-network alias"},
		{[]string{"--network", "name=n,ip=10.0.0.1", "--ip", "10.0.0.2", "busybox"}, "conflicting options: cannot specify both --ip and per-network IPv4 address"},
		{[]string{"--network", "name=n,mac-address=02:00:00:00:00:01", "--mac-address", "02:00:00:00:00:02", "busybox"}, "conflicting options: cannot specify both --mac-address and per-network MAC address"},
		{[]string{"--network", "alias=x", "busybox"}, `invalid argument "alias=x" for "--network" flag: network name/id is not specified`},
		{[]string{"--network", "name=n,bogus=1", "busybox"}, `invalid argument "name=n,bogus=1" for "--network" flag: invalid field key bogus`},
		{[]string{"--network", "name=n,gw-priority=x", "busybox"}, `invalid argument "name=n,gw-priority=x" for "--network" flag: invalid gw-priority (x): invalid syntax`},
		{[]string{"--network", "name=n,mac-address=zz", "busybox"}, "zz is not a valid mac address"},
		{[]string{"--mac-address", "02:42", "busybox"}, "02:42 is not a valid mac address"},
		{[]string{"--ip", "10.0.0", "busybox"}, `invalid argument "10.0.0" for "--ip" flag: failed to parse IP: "10.0.0"`},
		{[]string{"--add-host", "db", "busybox"}, `invalid argument "db" for "--add-host" flag: bad format for add-host: "db"`},
		{[]string{"--add-host", ":1.2.3.4", "busybox"}, `invalid argument ":1.2.3.4" for "--add-host" flag: bad format for add-host: ":1.2.3.4"`},
		{[]string{"--add-host", "db:nowhere", "busybox"}, `invalid argument "db:nowhere" for "--add-host" flag: invalid IP address in add-host: "nowhere"`},
		{[]string{"--dns", "dns.google", "busybox"}, `invalid argument "dns.google" for "--dns" flag: IP address is not correctly formatted: dns.google`},
		{[]string{"--dns-search", "-bad.com", "busybox"}, `invalid argument "-bad.com" for "--dns-search" flag: -bad.com is not a valid domain`},
		{[]string{"--dns-search", "123", "busybox"}, `invalid argument "123" for "--dns-search" flag: 123 is not a valid domain`},
	} {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			_, err := parseRun(t, tc.args...)
			if err == nil || !strings.HasSuffix(err.Error(), tc.want) {
				t.Fatalf("err = %v, want %q", err, tc.want)
			}
		})
	}
}

func TestValidateDNSSearch(t *testing.T) {
	for in, want := range map[string]string{
		"example.com": "example.com", "example.com.": "example.com", " a-b.c ": "a-b.c", ".": ".", "x1.y2": "x1.y2",
		"": "", "a..b": "", "a_b.com": "", "com-": "", "1.2.3.4": "",
	} {
		got, err := validateDNSSearch(in)
		if want == "" {
			if err == nil {
				t.Errorf("%q: accepted as %q", in, got)
			}
			continue
		}
		if err != nil || got != want {
			t.Errorf("%q: got %q, %v; want %q", in, got, err, want)
		}
	}
}

func TestRunBadPublishExits125BeforeAnyRequest(t *testing.T) {
	f := newAPIFake(t)
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"run", "-p", "8080:http", "busybox"}, "berth: invalid containerPort: http\n\nRun 'berth run --help' for more information\n"},
		{[]string{"create", "--expose", "1:2", "busybox"}, "berth: invalid port format for --expose: 1:2\n\nRun 'berth create --help' for more information\n"},
		{[]string{"run", "--network-alias", "web", "busybox"}, "berth: network-scoped aliases are only supported for user-defined networks\n\nRun 'berth run --help' for more information\n"},
		{[]string{"run", "--add-host", "db", "busybox"}, "invalid argument \"db\" for \"--add-host\" flag: bad format for add-host: \"db\"\n\nUsage:  berth run [OPTIONS] IMAGE [COMMAND] [ARG...]\n\nRun 'berth run --help' for more information\n"},
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

func TestCreateSendsNetworkingConfig(t *testing.T) {
	f := newAPIFake(t)
	f.json("POST /containers/create", 201, map[string]any{"Id": "c0ffee", "Warnings": []string{}})
	code, out, errOut := f.run("", "create", "--network", "mynet", "--network-alias", "api", "--ip", "10.9.0.7", "-p", "8080:80", "--dns", "9.9.9.9", "busybox")
	if code != 0 || out != "c0ffee\n" {
		t.Fatalf("create: %d %q %q", code, out, errOut)
	}
	var req struct {
		HostConfig struct {
			NetworkMode  string
			PortBindings map[string][]map[string]string
			Dns          []string
		}
		ExposedPorts     map[string]any
		NetworkingConfig struct {
			EndpointsConfig map[string]struct {
				Aliases    []string
				IPAMConfig struct{ IPv4Address string }
			}
		}
	}
	if err := json.Unmarshal(f.only("POST /containers/create").Body, &req); err != nil {
		t.Fatal(err)
	}
	ep, ok := req.NetworkingConfig.EndpointsConfig["mynet"]
	if req.HostConfig.NetworkMode != "mynet" || !ok || len(req.NetworkingConfig.EndpointsConfig) != 1 ||
		strings.Join(ep.Aliases, ",") != "api" || ep.IPAMConfig.IPv4Address != "10.9.0.7" {
		t.Errorf("networking: %+v %+v", req.HostConfig, req.NetworkingConfig)
	}
	if b := req.HostConfig.PortBindings["80/tcp"]; len(b) != 1 || b[0]["HostPort"] != "8080" || b[0]["HostIp"] != "" {
		t.Errorf("port bindings %+v", req.HostConfig.PortBindings)
	}
	if _, ok := req.ExposedPorts["80/tcp"]; !ok || len(req.ExposedPorts) != 1 {
		t.Errorf("exposed %+v", req.ExposedPorts)
	}
	if strings.Join(req.HostConfig.Dns, ",") != "9.9.9.9" {
		t.Errorf("dns %v", req.HostConfig.Dns)
	}
}

// checkParsedRun parses run args and compares the config and host config with the
// defaults changed by config and host; it returns the parsed options.
func checkParsedRun(t *testing.T, args []string, config func(*container.Config), host func(*container.HostConfig)) RunOptions {
	t.Helper()
	o, err := parseRun(t, args...)
	if err != nil {
		t.Fatal(err)
	}
	wantCfg := container.Config{Image: "busybox", AttachStdout: true, AttachStderr: true, Labels: map[string]string{}, Volumes: map[string]struct{}{}}
	if config != nil {
		config(&wantCfg)
	}
	wantHost := defaultHostConfig()
	if host != nil {
		host(&wantHost)
	}
	for _, p := range []struct{ got, want any }{{o.Config, wantCfg}, {o.HostConfig, wantHost}} {
		g, _ := json.Marshal(p.got)
		w, _ := json.Marshal(p.want)
		if string(g) != string(w) {
			t.Errorf("\n got %s\nwant %s", g, w)
		}
	}
	return o
}
