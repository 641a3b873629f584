package cli

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
)

func TestNetworkCreate(t *testing.T) {
	f := newAPIFake(t)
	f.json("POST /networks/create", 201, map[string]string{"Id": "4e1c0ffee", "Warning": ""})
	code, out, errOut := f.run("", "network", "create", "-d", "bridge", "--subnet", "10.5.0.0/16", "--gateway", "10.5.0.1",
		"--ip-range", "10.5.1.0/24", "--internal", "--attachable", "--label", "tier=back", "--label", "flag",
		"-o", "com.docker.network.bridge.name=br5", "--opt", "mtu=1400", "--aux-address", "printer=10.5.0.9", "mynet")
	if code != 0 || out != "4e1c0ffee\n" || errOut != "" {
		t.Fatalf("create: %d %q %q", code, out, errOut)
	}
	var body map[string]any
	if err := json.Unmarshal(f.only("POST /networks/create").Body, &body); err != nil {
		t.Fatal(err)
	}
	want := `{"Attachable":true,"ConfigFrom":null,"ConfigOnly":false,"Driver":"bridge",` +
		`"IPAM":{"Config":[{"AuxiliaryAddresses":{"printer":"10.5.0.9"},"Gateway":"10.5.0.1","IPRange":"10.5.1.0/24","Subnet":"10.5.0.0/16"}],"Driver":"default","Options":{}},` +
		`"Ingress":false,"Internal":true,"Labels":{"flag":"","tier":"back"},"Name":"mynet",` +
		`"Options":{"com.docker.network.bridge.name":"br5","mtu":"1400"},"Scope":""}`
	if got, _ := json.Marshal(body); string(got) != want {
		t.Errorf("body\n got %s\nwant %s", got, want)
	}

	// Defaults: a bridge with the default IPAM driver and no addressing of its own.
	f = newAPIFake(t)
	f.json("POST /networks/create", 201, map[string]string{"Id": "abc"})
	if code, out, _ := f.run("", "network", "create", "plain"); code != 0 || out != "abc\n" {
		t.Fatalf("create plain: %d %q", code, out)
	}
	body = nil
	json.Unmarshal(f.only("POST /networks/create").Body, &body)
	if body["Driver"] != "bridge" || body["Name"] != "plain" || body["EnableIPv4"] != nil || body["EnableIPv6"] != nil {
		t.Errorf("defaults: %v", body)
	}
	if ipam, _ := json.Marshal(body["IPAM"]); string(ipam) != `{"Config":[],"Driver":"default","Options":{}}` {
		t.Errorf("default IPAM %s", ipam)
	}

	// --ipv6=false and --ipv4 are sent as given.
	f.run("", "network", "create", "--ipv6=false", "--ipv4", "v4")
	body = nil
	json.Unmarshal(f.requests("POST /networks/create")[1].Body, &body)
	if body["EnableIPv4"] != true || body["EnableIPv6"] != false {
		t.Errorf("ip families: %v", body)
	}
}

func TestNetworkCreateErrors(t *testing.T) {
	f := newAPIFake(t)
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--ipv6", "n"}, "IPv6 networks are not supported: Berth networks are IPv4 only\n"},
		{[]string{"--gateway", "10.0.0.1", "n"}, "every ip-range or gateway must have a corresponding subnet\n"},
		{[]string{"--subnet", "10.0.0.0/8", "--subnet", "10.1.0.0/16", "n"}, "multiple overlapping subnet configuration is not supported\n"},
		{[]string{"--subnet", "10.0.0/8", "n"}, "invalid subnet: invalid CIDR address: 10.0.0/8\n"},
		{[]string{"--subnet", "10.0.0.0/24", "--gateway", "10.0.1.1", "n"}, "no matching subnet for gateway 10.0.1.1\n"},
		{[]string{"--subnet", "10.0.0.0/24", "--gateway", "gw", "n"}, "no matching subnet for gateway gw\n"},
		{[]string{"--subnet", "10.0.0.0/24", "--ip-range", "10.0.1.0/25", "n"}, "no matching subnet for range 10.0.1.0/25\n"},
		{[]string{"--subnet", "10.0.0.0/24,10.0.1.0/24", "--ip-range", "10.0.0.0/25,10.0.0.128/25", "n"},
			"cannot configure multiple ranges (10.0.0.128/25, 10.0.0.0/25) on the same subnet (10.0.0.0/24)\n"},
		{[]string{"--subnet", "10.0.0.0/24,10.0.1.0/24", "--gateway", "10.0.0.1", "--gateway", "10.0.0.2", "n"},
			"cannot configure multiple gateways (10.0.0.2, 10.0.0.1) for the same subnet (10.0.0.0/24)\n"},
		{[]string{"--subnet", "10.0.0.0/24", "--aux-address", "a=10.9.0.1", "n"}, "no matching subnet for aux-address 10.9.0.1\n"},
		{[]string{"--label", "=x", "n"}, "invalid argument \"=x\" for \"--label\" flag: invalid label '=x': empty name\n\nUsage:  berth network create [OPTIONS] NETWORK\n\nRun 'berth network create --help' for more information\n"},
		{nil, "berth: 'berth network create' requires 1 argument\n\nUsage:  berth network create [OPTIONS] NETWORK\n\nRun 'berth network create --help' for more information\n"},
	} {
		code, out, errOut := f.run("", append([]string{"network", "create"}, tc.args...)...)
		if code != wantCode(tc.want) || out != "" || errOut != tc.want {
			t.Errorf("%v: %d %q %q, want %q", tc.args, code, out, errOut, tc.want)
		}
	}
	if len(f.reqs) != 0 {
		t.Errorf("invalid options reached the daemon: %+v", f.reqs[0])
	}
	f.json("POST /networks/create", 409, map[string]string{"message": "network with name n already exists"})
	if code, _, errOut := f.run("", "network", "create", "n"); code != 1 || errOut != "Error response from daemon: network with name n already exists\n" {
		t.Errorf("conflict: %d %q", code, errOut)
	}
}

// networkList is a daemon answer to GET /networks, out of name order.
const networkList = `[
 {"Name":"net10","Id":"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa","Created":"2026-11-26T10:00:00Z","Scope":"local","Driver":"bridge","EnableIPv4":true,"Internal":true,"Labels":{"b":"2","a":"1"}},
 {"Name":"bridge","Id":"bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb","Created":"2026-11-26T09:00:00Z","Scope":"local","Driver":"bridge","EnableIPv4":true,"Labels":{}},
 {"Name":"net9","Id":"cccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccc","Created":"2026-11-26T11:00:00Z","Scope":"local","Driver":"bridge","EnableIPv4":true},
 {"Name":"host","Id":"dddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddd","Scope":"local","Driver":"host"}
]`

func TestNetworkList(t *testing.T) {
	f := newAPIFake(t)
	f.on("GET /networks", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Write([]byte(networkList))
	})
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"network", "ls"}, "" +
			"NETWORK ID     NAME      DRIVER    SCOPE\n" +
			"bbbbbbbbbbbb   bridge    bridge    local\n" +
			"dddddddddddd   host      host      local\n" +
			"cccccccccccc   net9      bridge    local\n" +
			"aaaaaaaaaaaa   net10     bridge    local\n"},
		{[]string{"network", "list", "-q"}, "bbbbbbbbbbbb\ndddddddddddd\ncccccccccccc\naaaaaaaaaaaa\n"},
		{[]string{"network", "ls", "-q", "--no-trunc", "--format", "table"}, "" +
			"bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb\n" +
			"dddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddd\n" +
			"cccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccc\n" +
			"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\n"},
		{[]string{"network", "ls", "--format", "{{.Name}}:{{.Internal}}:{{.IPv4}}:{{.IPv6}}:{{.Labels}}:{{.Label \"b\"}}"},
			"bridge:false:true:false::\nhost:false:false:false::\nnet9:false:true:false::\nnet10:true:true:false:a=1,b=2:2\n"},
		{[]string{"network", "ls", "-q", "--format", "{{.Name}}"}, "bridge\nhost\nnet9\nnet10\n"},
		{[]string{"network", "ls", "--format", "table {{.Name}}\t{{.CreatedAt}}"}, "" +
			"NAME      CREATED AT\n" +
			"bridge    2026-11-26 09:00:00 +0000 UTC\n" +
			"host      0001-01-01 00:00:00 +0000 UTC\n" +
			"net9      2026-11-26 11:00:00 +0000 UTC\n" +
			"net10     2026-11-26 10:00:00 +0000 UTC\n"},
		{[]string{"network", "ls", "--format", "raw", "-q"}, "network_id: bbbbbbbbbbbb\n\nnetwork_id: dddddddddddd\n\nnetwork_id: cccccccccccc\n\nnetwork_id: aaaaaaaaaaaa\n\n"},
	} {
		code, out, errOut := f.run("", tc.args...)
		if code != 0 || out != tc.want {
			t.Errorf("%v: %d %q %q\nwant %q", tc.args, code, out, errOut, tc.want)
		}
	}

	code, out, _ := f.run("", "network", "ls", "--format", "json")
	lines := strings.Split(strings.TrimSpace(out), "\n")
	var first map[string]string
	if code != 0 || len(lines) != 4 || json.Unmarshal([]byte(lines[3]), &first) != nil ||
		first["Name"] != "net10" || first["ID"] != "aaaaaaaaaaaa" || first["Internal"] != "true" || first["Labels"] != "a=1,b=2" || first["Scope"] != "local" {
		t.Errorf("json: %d %q", code, out)
	}

	f.reqs = nil
	if code, _, errOut := f.run("", "network", "ls", "-f", "driver=bridge", "--filter", "label=a=1"); code != 0 {
		t.Fatalf("filter: %d %q", code, errOut)
	}
	if q := f.only("GET /networks").Query["filters"]; len(q) != 1 || q[0] != `{"driver":{"bridge":true},"label":{"a=1":true}}` {
		t.Errorf("filters query %q", q)
	}
	if code, _, errOut := f.run("", "network", "ls", "--format", "{{.Nope}}"); code != 1 || !strings.HasPrefix(errOut, "template parsing error: ") {
		t.Errorf("bad template: %d %q", code, errOut)
	}
	if code, _, errOut := f.run("", "network", "ls", "--filter", "nope"); code != 125 ||
		errOut != "invalid argument \"nope\" for \"-f, --filter\" flag: bad format of filter (expected name=value)\n\nUsage:  berth network ls [OPTIONS]\n\nRun 'berth network ls --help' for more information\n" {
		t.Errorf("bad filter: %d %q", code, errOut)
	}
}

func TestNetworkInspect(t *testing.T) {
	f := newAPIFake(t)
	f.on("GET /networks/web", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Write([]byte(`{"Name":"web","Id":"1234","Driver":"bridge","IPAM":{"Driver":"default","Config":[{"Subnet":"172.18.0.0/16","Gateway":"172.18.0.1"}]},"Containers":{}}` + "\n"))
	})
	f.on("GET /networks/db", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Write([]byte(`{"Name":"db","Id":"5678","Driver":"bridge","Internal":true}`))
	})
	f.json("GET /networks/missing", 404, map[string]string{"message": "network missing not found"})

	code, out, errOut := f.run("", "network", "inspect", "web", "db")
	want := "[\n    {\n        \"Name\": \"web\",\n        \"Id\": \"1234\",\n        \"Driver\": \"bridge\",\n        \"IPAM\": {\n" +
		"            \"Driver\": \"default\",\n            \"Config\": [\n                {\n                    \"Subnet\": \"172.18.0.0/16\",\n" +
		"                    \"Gateway\": \"172.18.0.1\"\n                }\n            ]\n        },\n        \"Containers\": {}\n    },\n" +
		"    {\n        \"Name\": \"db\",\n        \"Id\": \"5678\",\n        \"Driver\": \"bridge\",\n        \"Internal\": true\n    }\n]\n"
	if code != 0 || out != want || errOut != "" {
		t.Errorf("inspect: %d %q %q\nwant %q", code, out, errOut, want)
	}

	code, out, _ = f.run("", "network", "inspect", "-f", "{{.Name}} {{range .IPAM.Config}}{{.Subnet}} via {{.Gateway}}{{end}} {{.Internal}}", "web", "db")
	if code != 0 || out != "web 172.18.0.0/16 via 172.18.0.1 false\ndb  true\n" {
		t.Errorf("format: %d %q", code, out)
	}

	code, out, errOut = f.run("", "network", "inspect", "--format", "json", "missing", "db")
	if code != 1 || out != `[{"Name":"db","Id":"5678","Driver":"bridge","Internal":true}]`+"\n" || errOut != "Error response from daemon: network missing not found\n" {
		t.Errorf("missing: %d %q %q", code, out, errOut)
	}

	f.reqs = nil
	f.run("", "network", "inspect", "-v", "db")
	if q := f.only("GET /networks/db").Query["verbose"]; len(q) != 1 || q[0] != "true" {
		t.Errorf("verbose query %q", q)
	}
	if code, _, errOut := f.run("", "network", "inspect", "-f", "{{.Name", "db"); code != 64 || !strings.HasPrefix(errOut, "template parsing error: ") {
		t.Errorf("bad template: %d %q", code, errOut)
	}
}

func TestNetworkRemove(t *testing.T) {
	f := newAPIFake(t)
	for _, n := range []string{"a", "b"} {
		f.on("DELETE /networks/"+n, func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(204) })
	}
	f.json("DELETE /networks/missing", 404, map[string]string{"message": "network missing not found"})
	f.json("DELETE /networks/bridge", 403, map[string]string{"message": "bridge is a pre-defined network and cannot be removed"})

	code, out, errOut := f.run("", "network", "rm", "a", "missing", "bridge", "b")
	wantErr := "Error response from daemon: network missing not found\n" +
		"Error response from daemon: bridge is a pre-defined network and cannot be removed\nexit status 1\n"
	if code != 1 || out != "a\nb\n" || errOut != wantErr {
		t.Errorf("rm: %d %q %q", code, out, errOut)
	}
	var got []string
	for _, r := range f.reqs {
		got = append(got, r.Method+" "+r.Path)
	}
	if strings.Join(got, ",") != "DELETE /networks/a,DELETE /networks/missing,DELETE /networks/bridge,DELETE /networks/b" {
		t.Errorf("requests %v", got)
	}

	if code, out, errOut := f.run("", "network", "remove", "-f", "missing", "a"); code != 0 || out != "a\n" || errOut != "" {
		t.Errorf("rm -f: %d %q %q", code, out, errOut)
	}
	if code, _, errOut := f.run("", "network", "rm", "-f", "bridge"); code != 1 || !strings.Contains(errOut, "pre-defined") {
		t.Errorf("rm -f of a refused network: %d %q", code, errOut)
	}
}

func TestNetworkPrune(t *testing.T) {
	f := newAPIFake(t)
	f.json("POST /networks/prune", 200, map[string]any{"NetworksDeleted": []string{"front", "back"}})
	const prompt = "WARNING! This will remove all custom networks not used by at least one container.\nAre you sure you want to continue? [y/N] "

	code, out, _ := f.run("n\n", "network", "prune")
	if code != 0 || out != prompt || len(f.requests("POST /networks/prune")) != 0 {
		t.Errorf("answered no: %d %q", code, out)
	}
	code, out, _ = f.run("", "network", "prune")
	if code != 0 || out != prompt || len(f.requests("POST /networks/prune")) != 0 {
		t.Errorf("no answer: %d %q", code, out)
	}
	code, out, _ = f.run("Y\n", "network", "prune", "--filter", "until=24h", "--filter", "label=a")
	if code != 0 || out != prompt+"Deleted Networks:\nfront\nback\n\n" {
		t.Errorf("answered yes: %d %q", code, out)
	}
	if q := f.only("POST /networks/prune").Query["filters"]; len(q) != 1 || q[0] != `{"label":{"a":true},"until":{"24h":true}}` {
		t.Errorf("filters %q", q)
	}

	f.json("POST /networks/prune", 200, map[string]any{"NetworksDeleted": nil})
	if code, out, _ := f.run("", "network", "prune", "-f"); code != 0 || out != "" {
		t.Errorf("nothing pruned: %d %q", code, out)
	}
}

func TestNetworkConnectDisconnect(t *testing.T) {
	f := newAPIFake(t)
	f.on("POST /networks/front/connect", func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(200) })
	f.on("POST /networks/front/disconnect", func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(200) })
	f.json("POST /networks/nope/connect", 404, map[string]string{"message": "network nope not found"})

	code, out, errOut := f.run("", "network", "connect", "--alias", "api,api2", "--alias", "api3", "--ip", "10.1.0.5",
		"--link", "db:database", "--driver-opt", "k=v", "front", "web")
	if code != 0 || out != "" || errOut != "" {
		t.Fatalf("connect: %d %q %q", code, out, errOut)
	}
	want := `{"Container":"web","EndpointConfig":{"IPAMConfig":{"IPv4Address":"10.1.0.5"},"Links":["db:database"],"Aliases":["api","api2","api3"],` +
		`"DriverOpts":{"k":"v"},"GwPriority":0,"NetworkID":"","EndpointID":"","Gateway":"","IPAddress":"","MacAddress":"","IPPrefixLen":0,` +
		`"IPv6Gateway":"","GlobalIPv6Address":"","GlobalIPv6PrefixLen":0,"DNSNames":null}}`
	if got := strings.TrimSpace(string(f.only("POST /networks/front/connect").Body)); got != want {
		t.Errorf("connect body\n got %s\nwant %s", got, want)
	}

	if code, _, errOut := f.run("", "network", "connect", "nope", "web"); code != 1 || errOut != "Error response from daemon: network nope not found\n" {
		t.Errorf("connect to missing: %d %q", code, errOut)
	}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--ip", "10.1", "front", "web"}, "invalid argument \"10.1\" for \"--ip\" flag: failed to parse IP: \"10.1\"\n\nUsage:  berth network connect [OPTIONS] NETWORK CONTAINER\n\nRun 'berth network connect --help' for more information\n"},
		{[]string{"--link", "a:b:c", "front", "web"}, "invalid argument \"a:b:c\" for \"--link\" flag: bad format for links: a:b:c\n\nUsage:  berth network connect [OPTIONS] NETWORK CONTAINER\n\nRun 'berth network connect --help' for more information\n"},
		{[]string{"--driver-opt", "novalue", "front", "web"}, "invalid key/value pair format in driver options\n"},
		{[]string{"front"}, "berth: 'berth network connect' requires 2 arguments\n\nUsage:  berth network connect [OPTIONS] NETWORK CONTAINER\n\nRun 'berth network connect --help' for more information\n"},
	} {
		if code, _, errOut := f.run("", append([]string{"network", "connect"}, tc.args...)...); code != wantCode(tc.want) || errOut != tc.want {
			t.Errorf("%v: %d %q, want %q", tc.args, code, errOut, tc.want)
		}
	}
	if n := len(f.requests("POST /networks/front/connect")); n != 1 {
		t.Errorf("%d connect requests, want 1", n)
	}

	if code, _, errOut := f.run("", "network", "disconnect", "-f", "front", "web"); code != 0 || errOut != "" {
		t.Fatalf("disconnect: %d %q", code, errOut)
	}
	if got := strings.TrimSpace(string(f.only("POST /networks/front/disconnect").Body)); got != `{"Container":"web","Force":true}` {
		t.Errorf("disconnect body %s", got)
	}
}

func TestNetworkHelpListsSubcommands(t *testing.T) {
	f := newAPIFake(t)
	code, out, _ := f.run("", "network", "--help")
	for _, sub := range []string{"connect", "create", "disconnect", "inspect", "ls", "prune", "rm"} {
		if !strings.Contains(out, "\n  "+sub+" ") {
			t.Errorf("help lacks %s:\n%s", sub, out)
		}
	}
	if code != 0 {
		t.Errorf("help exit %d", code)
	}
	if code, _, errOut := f.run("", "network", "bogus"); code != 1 || !strings.HasPrefix(errOut, "berth: unknown command: berth network bogus") {
		t.Errorf("unknown subcommand: %d %q", code, errOut)
	}
}

func TestFlagErrorStatusOfCreateCommands(t *testing.T) {
	f := newAPIFake(t)
	for _, tc := range []struct {
		args []string
		code int
	}{
		{[]string{"run", "--bogus", "busybox"}, 125},
		{[]string{"create", "--bogus", "busybox"}, 125},
		{[]string{"container", "run", "--bogus", "busybox"}, 125},
		{[]string{"container", "create", "--bogus", "busybox"}, 125},
		{[]string{"network", "create", "--bogus", "n"}, 125},
		{[]string{"ps", "--bogus"}, 125},
	} {
		code, _, errOut := f.run("", tc.args...)
		if code != tc.code || !strings.HasPrefix(errOut, "unknown flag: --bogus\n") {
			t.Errorf("%v: %d %q, want %d", tc.args, code, errOut, tc.code)
		}
	}
}
