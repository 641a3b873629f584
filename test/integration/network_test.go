package integration

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// httpServer is a busybox command serving /etc (so /hostname answers with the
// container's hostname) on port 80 forever.
var httpServer = []string{"sh", "-c", "httpd -p 80 -h /etc; exec sleep 1000"}

// hostAddr returns the host's primary IPv4 address (that of the default route's interface).
func hostAddr(t testing.TB) string {
	t.Helper()
	out, err := exec.Command("ip", "-4", "-o", "route", "show", "default").Output()
	f := strings.Fields(string(out))
	if err != nil || len(f) < 5 {
		t.Fatalf("no default route: %v %q", err, out)
	}
	out, err = exec.Command("ip", "-4", "-o", "addr", "show", "dev", f[4]).Output()
	f = strings.Fields(string(out))
	if err != nil || len(f) < 4 {
		t.Fatalf("no address on the default route's interface: %v %q", err, out)
	}
	return strings.Split(f[3], "/")[0]
}

var outsideSeq int

// outsideNS creates a network namespace standing in for an outside client: a veth to the
// host (host side 10.250.N.1/30, namespace side .2, default route via the host). It
// returns the namespace name and the host's address as that client sees it.
func outsideNS(t testing.TB) (string, string) {
	t.Helper()
	outsideSeq++
	n := os.Getpid()%200 + outsideSeq
	name := fmt.Sprintf("ito%d", n)
	host, peer := fmt.Sprintf("10.250.%d.1", n), fmt.Sprintf("10.250.%d.2", n)
	for _, args := range [][]string{
		{"netns", "add", name},
		{"link", "add", name + "h", "type", "veth", "peer", "name", "eth0", "netns", name},
		{"addr", "add", host + "/30", "dev", name + "h"},
		{"link", "set", name + "h", "up"},
		{"-n", name, "addr", "add", peer + "/30", "dev", "eth0"},
		{"-n", name, "link", "set", "eth0", "up"},
		{"-n", name, "link", "set", "lo", "up"},
		{"-n", name, "route", "add", "default", "via", host},
	} {
		if out, err := exec.Command("ip", args...).CombinedOutput(); err != nil {
			exec.Command("ip", "netns", "del", name).Run()
			exec.Command("ip", "link", "del", name+"h").Run()
			t.Fatalf("ip %s: %v: %s", strings.Join(args, " "), err, out)
		}
	}
	t.Cleanup(func() {
		exec.Command("ip", "link", "del", name+"h").Run()
		exec.Command("ip", "netns", "del", name).Run()
	})
	return name, host
}

// fetch GETs url with curl, from the network namespace ns ("" for the host's).
func fetch(ns, url string) (string, error) {
	args := []string{"curl", "-sS", "--max-time", "3", url}
	if ns != "" {
		args = append([]string{"ip", "netns", "exec", ns}, args...)
	}
	out, err := exec.Command(args[0], args[1:]...).CombinedOutput()
	return strings.TrimSpace(string(out)), err
}

// fetchEventually retries fetch for a few seconds (the server inside may still be starting).
func fetchEventually(t testing.TB, ns, url string) string {
	t.Helper()
	var out string
	var err error
	for range 30 {
		if out, err = fetch(ns, url); err == nil {
			return out
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("GET %s from %q: %v: %s", url, ns, err, out)
	return ""
}

var udpechoOnce sync.Once

// udpecho builds the static UDP echo server of testdata/udpecho once.
func udpecho(t testing.TB) string {
	t.Helper()
	bin := filepath.Join(binDir, "udpecho")
	udpechoOnce.Do(func() {
		cmd := exec.Command("go", "build", "-o", bin, "./testdata/udpecho")
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("build udpecho: %v: %s", err, out)
		}
	})
	return bin
}

// udpAsk sends msg to addr and returns the answer, retrying for a few seconds.
func udpAsk(addr, msg string) (string, error) {
	var lastErr error
	for range 20 {
		c, err := net.Dial("udp4", addr)
		if err != nil {
			return "", err
		}
		c.SetDeadline(time.Now().Add(300 * time.Millisecond))
		c.Write([]byte(msg))
		buf := make([]byte, 512)
		n, err := c.Read(buf)
		c.Close()
		if err == nil {
			return string(buf[:n]), nil
		}
		lastErr = err
	}
	return "", lastErr
}

func TestNetworkUserBridgeByNameAndIsolation(t *testing.T) {
	d := StartDaemon(t)
	must(t, d.Berth("network", "create", "it-front"))
	must(t, d.Berth("network", "create", "--subnet", "10.123.0.0/24", "it-back"))
	must(t, d.Berth(append([]string{"run", "-d", "--name", "web", "--network", "it-front", "--network-alias", "www", "busybox"}, httpServer...)...))
	must(t, d.Berth(append([]string{"run", "-d", "--name", "db", "--network", "it-back", "busybox"}, httpServer...)...))
	webIP := strings.TrimSpace(must(t, d.Berth("inspect", "-f", "{{(index .NetworkSettings.Networks \"it-front\").IPAddress}}", "web")).Stdout)
	dbIP := strings.TrimSpace(must(t, d.Berth("inspect", "-f", "{{(index .NetworkSettings.Networks \"it-back\").IPAddress}}", "db")).Stdout)
	if !strings.HasPrefix(dbIP, "10.123.0.") || webIP == "" {
		t.Fatalf("addresses: web %q db %q", webIP, dbIP)
	}

	// Same network: by name, by alias and by IP.
	get := "for u in http://web/hostname http://www/hostname http://" + webIP + "/hostname; do timeout 5 wget -qO- $u || echo FAIL $u; done"
	out := must(t, d.Berth("run", "--rm", "--network", "it-front", "busybox", "sh", "-c", get)).Stdout
	webHost := strings.TrimSpace(must(t, d.Berth("inspect", "-f", "{{.Config.Hostname}}", "web")).Stdout)
	if strings.Contains(out, "FAIL") || strings.Count(out, webHost) != 3 {
		t.Fatalf("same-network requests: %q (want hostname %s three times)", out, webHost)
	}
	// Other network: no name, no route, both ways.
	r := d.Berth("run", "--rm", "--network", "it-back", "busybox", "sh", "-c",
		"nslookup web >/dev/null 2>&1 && echo RESOLVED; timeout 3 wget -qO- http://"+webIP+"/hostname && echo REACHED; true")
	if strings.Contains(r.Stdout, "RESOLVED") || strings.Contains(r.Stdout, "REACHED") {
		t.Fatalf("it-back reached it-front: %s", r)
	}
	r = d.Berth("exec", "web", "sh", "-c", "timeout 3 wget -qO- http://"+dbIP+"/hostname && echo REACHED; true")
	if strings.Contains(r.Stdout, "REACHED") {
		t.Fatalf("it-front reached it-back: %s", r)
	}

	// network inspect lists the running container; rm of a used network is refused.
	ins := must(t, d.Berth("network", "inspect", "-f", "{{range .Containers}}{{.Name}} {{.IPv4Address}}{{end}}", "it-front")).Stdout
	if !strings.Contains(ins, "web "+webIP+"/") {
		t.Fatalf("network inspect: %q", ins)
	}
	r = d.Berth("network", "rm", "it-front")
	if r.Code == 0 || !strings.Contains(r.Stderr, "has active endpoints") {
		t.Fatalf("rm of a network in use: %s", r)
	}
	bridgeName := "br-" + strings.TrimSpace(must(t, d.Berth("network", "inspect", "-f", "{{.Id}}", "it-front")).Stdout)[:12]
	if err := exec.Command("ip", "link", "show", bridgeName).Run(); err != nil {
		t.Fatalf("bridge %s missing: %v", bridgeName, err)
	}
	must(t, d.Berth("rm", "-f", "web", "db"))
	must(t, d.Berth("network", "rm", "it-front", "it-back"))
	if err := exec.Command("ip", "link", "show", bridgeName).Run(); err == nil {
		t.Fatalf("bridge %s still there after network rm", bridgeName)
	}
	if out, _ := exec.Command("nft", "list", "table", "ip", "berth").Output(); strings.Contains(string(out), bridgeName) {
		t.Fatalf("rules of %s left after network rm:\n%s", bridgeName, out)
	}
}

func TestNetworkPublishedPorts(t *testing.T) {
	d := StartDaemon(t)
	ns, outsideHost := outsideNS(t)
	must(t, d.Berth(append([]string{"run", "-d", "--name", "pub", "-p", "18080:80", "-p", "127.0.0.1:18081:80", "-p", "80", "--expose", "7000", "busybox"}, httpServer...)...))
	host := hostAddr(t)
	want := strings.TrimSpace(must(t, d.Berth("inspect", "-f", "{{.Config.Hostname}}", "pub")).Stdout)
	for _, u := range []string{"http://127.0.0.1:18080/hostname", "http://" + host + ":18080/hostname", "http://127.0.0.1:18081/hostname"} {
		if got := fetchEventually(t, "", u); got != want {
			t.Errorf("GET %s from the host: %q, want %q", u, got, want)
		}
	}
	if got := fetchEventually(t, ns, "http://"+outsideHost+":18080/hostname"); got != want {
		t.Errorf("GET :18080 from outside: %q, want %q", got, want)
	}
	if out, err := fetch(ns, "http://"+outsideHost+":18081/hostname"); err == nil {
		t.Errorf("port bound to 127.0.0.1 reachable from outside: %q", out)
	}
	// The ephemeral port, shown by port and ps like docker does.
	ports := must(t, d.Berth("port", "pub")).Stdout
	if !strings.Contains(ports, "80/tcp -> 0.0.0.0:18080") || !strings.Contains(ports, "80/tcp -> 127.0.0.1:18081") {
		t.Fatalf("port: %q", ports)
	}
	eph := ""
	for _, l := range strings.Split(ports, "\n") {
		if strings.HasPrefix(l, "80/tcp -> 0.0.0.0:") && !strings.HasSuffix(l, ":18080") {
			eph = strings.TrimPrefix(l, "80/tcp -> 0.0.0.0:")
		}
	}
	if eph == "" {
		t.Fatalf("no ephemeral port for -p 80 in %q", ports)
	}
	if got := fetchEventually(t, "", "http://127.0.0.1:"+eph+"/hostname"); got != want {
		t.Errorf("ephemeral port %s: %q", eph, got)
	}
	if ps := must(t, d.Berth("ps", "--format", "{{.Ports}}")).Stdout; !strings.Contains(ps, "0.0.0.0:18080->80/tcp") || !strings.Contains(ps, "7000/tcp") {
		t.Errorf("ps ports: %q", ps)
	}
	// The traffic shows in stats' NET I/O (the container's eth0 counters).
	if io := strings.TrimSpace(must(t, d.Berth("stats", "--no-stream", "--format", "{{.NetIO}}", "pub")).Stdout); io == "0B / 0B" || io == "--" || !strings.Contains(io, " / ") {
		t.Errorf("stats NET I/O after traffic: %q", io)
	}
	// Ranges: three container ports on three host ports.
	must(t, d.Berth("run", "-d", "--name", "rng", "-p", "18100-18102:7000-7002", "busybox", "sleep", "100"))
	if got := must(t, d.Berth("port", "rng")).Stdout; got != "7000/tcp -> 0.0.0.0:18100\n7001/tcp -> 0.0.0.0:18101\n7002/tcp -> 0.0.0.0:18102\n" {
		t.Errorf("port of a range: %q", got)
	}
	// Hairpin: the container reaches its own published port through the host's address.
	if r := d.Berth("exec", "pub", "sh", "-c", "timeout 5 wget -qO- http://"+host+":18080/hostname"); strings.TrimSpace(r.Stdout) != want {
		t.Errorf("hairpin through %s:18080: %s", host, r)
	}

	// A published port already taken: a clear error, nothing half-made.
	rulesBefore, _ := exec.Command("nft", "list", "table", "ip", "berth").Output()
	r := d.Berth("run", "-d", "--name", "clash", "-p", "18080:80", "busybox", "sleep", "100")
	if r.Code != 125 || !strings.Contains(r.Stderr, "Bind for 0.0.0.0:18080 failed: port is already allocated") {
		t.Fatalf("port conflict: %s", r)
	}
	if st := strings.TrimSpace(must(t, d.Berth("inspect", "-f", "{{.State.Status}}", "clash")).Stdout); st != "created" {
		t.Fatalf("clash is %s", st)
	}
	rulesAfter, _ := exec.Command("nft", "list", "table", "ip", "berth").Output()
	if string(rulesBefore) != string(rulesAfter) {
		t.Fatalf("a failed publish changed the rules:\n%s\n---\n%s", rulesBefore, rulesAfter)
	}
	// A host process holding a port is a conflict too.
	l, err := net.Listen("tcp4", "0.0.0.0:18090")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	if r := d.Berth("run", "--rm", "-p", "18090:80", "busybox", "true"); r.Code != 125 || !strings.Contains(r.Stderr, "port is already allocated") {
		t.Fatalf("port held by a host process: %s", r)
	}

	// UDP.
	bin := udpecho(t)
	must(t, d.Berth("create", "--name", "udp", "-p", "18082:9999/udp", "busybox", "/udpecho", "9999"))
	must(t, d.Berth("cp", bin, "udp:/udpecho"))
	must(t, d.Berth("start", "udp"))
	if got, err := udpAsk("127.0.0.1:18082", "hi"); err != nil || got != "echo:hi" {
		t.Errorf("UDP through 127.0.0.1:18082: %q %v", got, err)
	}
	if got, err := udpAsk(host+":18082", "ho"); err != nil || got != "echo:ho" {
		t.Errorf("UDP through %s:18082: %q %v", host, got, err)
	}

	// Stopping frees the ports and removes the rules.
	id := strings.TrimSpace(must(t, d.Berth("inspect", "-f", "{{.Id}}", "pub")).Stdout)
	must(t, d.Berth("stop", "-t", "0", "pub"))
	if out, _ := exec.Command("nft", "list", "table", "ip", "berth").Output(); strings.Contains(string(out), id) {
		t.Fatalf("rules of a stopped container left:\n%s", out)
	}
	must(t, d.Berth("run", "--rm", "-p", "18080:80", "busybox", "true"))
}

func TestNetworkOutboundNATFiglet(t *testing.T) {
	d := StartDaemon(t)
	r := d.Berth("run", "--rm", "debian:bookworm", "sh", "-c",
		"apt-get update -qq && apt-get install -y -qq figlet >/dev/null 2>&1 && figlet hello")
	if r.Code != 0 || !strings.Contains(r.Stdout, `| '_ \ / _ \ | |/ _ \`) {
		t.Fatalf("apt-get install figlet through NAT: %s", r)
	}
}

func TestNetworkInternal(t *testing.T) {
	d := StartDaemon(t)
	must(t, d.Berth("network", "create", "--internal", "it-int"))
	must(t, d.Berth(append([]string{"run", "-d", "--name", "ia", "--network", "it-int", "busybox"}, httpServer...)...))
	out := must(t, d.Berth("run", "--rm", "--network", "it-int", "busybox", "sh", "-c",
		"timeout 5 wget -qO- http://ia/hostname; ip route; timeout 3 wget -qO- http://"+hostAddr(t)+":1/ && echo OUT; true")).Stdout
	if strings.Contains(out, "OUT") || strings.Contains(out, "default") {
		t.Fatalf("internal network reaches out or has a default route: %q", out)
	}
	host := strings.TrimSpace(must(t, d.Berth("inspect", "-f", "{{.Config.Hostname}}", "ia")).Stdout)
	if !strings.Contains(out, host) {
		t.Fatalf("containers of an internal network cannot talk: %q", out)
	}
}

func TestNetworkModesHostNoneContainer(t *testing.T) {
	d := StartDaemon(t)
	hostname, _ := os.Hostname()
	out := must(t, d.Berth("run", "--rm", "--network", "host", "busybox", "sh", "-c", "hostname; ip -o link show "+d.Bridge)).Stdout
	if !strings.HasPrefix(out, hostname+"\n") || !strings.Contains(out, d.Bridge) {
		t.Fatalf("--network host: %q (want hostname %s and link %s)", out, hostname, d.Bridge)
	}
	out = must(t, d.Berth("run", "--rm", "--network", "none", "busybox", "ip", "-o", "link")).Stdout
	if strings.Count(strings.TrimSpace(out), "\n") != 0 || !strings.Contains(out, "lo:") {
		t.Fatalf("--network none links: %q", out)
	}
	must(t, d.Berth(append([]string{"run", "-d", "--name", "base", "busybox"}, httpServer...)...))
	ip := strings.TrimSpace(must(t, d.Berth("inspect", "-f", "{{.NetworkSettings.IPAddress}}", "base")).Stdout)
	out = must(t, d.Berth("run", "--rm", "--network", "container:base", "busybox", "sh", "-c", "ip -o -4 addr show eth0; timeout 5 wget -qO- http://127.0.0.1/hostname")).Stdout
	if !strings.Contains(out, ip+"/") {
		t.Fatalf("container:base does not share base's stack (%s): %q", ip, out)
	}
	if r := d.Berth("run", "--rm", "--network", "container:base", "-p", "81:80", "busybox", "true"); r.Code == 0 || !strings.Contains(r.Stderr, "conflicting options: port publishing and the container type network mode") {
		t.Fatalf("-p with container: mode: %s", r)
	}
}

func TestNetworkEtcFilesAndDefaultBridgeNames(t *testing.T) {
	d := StartDaemon(t)
	must(t, d.Berth(append([]string{"run", "-d", "--name", "peer", "busybox"}, httpServer...)...))
	r := must(t, d.Berth("run", "--rm", "--hostname", "box1", "--add-host", "db.local:10.1.2.3", "--add-host", "gw:host-gateway",
		"--dns-search", "example.test", "busybox", "sh", "-c",
		"hostname; cat /etc/hosts /etc/resolv.conf; nslookup host.docker.internal; echo PEER $(timeout 5 wget -qO- http://peer/hostname)"))
	gw := strings.TrimSpace(must(t, d.Berth("network", "inspect", "-f", "{{(index .IPAM.Config 0).Gateway}}", "bridge")).Stdout)
	peerHost := strings.TrimSpace(must(t, d.Berth("inspect", "-f", "{{.Config.Hostname}}", "peer")).Stdout)
	for _, want := range []string{"box1\n", "10.1.2.3\tdb.local", gw + "\tgw", "nameserver " + gw, "search example.test", "PEER " + peerHost + "\n", "Name:\thost.docker.internal\nAddress: " + gw} {
		if !strings.Contains(r.Stdout, want) {
			t.Errorf("missing %q in:\n%s", want, r.Stdout)
		}
	}
	if !strings.Contains(r.Stdout, "\tbox1\n") {
		t.Errorf("/etc/hosts does not name the container: %s", r.Stdout)
	}
}

func TestNetworkConnectDisconnect(t *testing.T) {
	d := StartDaemon(t)
	must(t, d.Berth("network", "create", "--subnet", "10.124.0.0/24", "it-conn"))
	must(t, d.Berth(append([]string{"run", "-d", "--name", "svc", "busybox"}, httpServer...)...))
	must(t, d.Berth("network", "connect", "--alias", "api", "--ip", "10.124.0.50", "it-conn", "svc"))
	out := must(t, d.Berth("exec", "svc", "ip", "-o", "-4", "addr")).Stdout
	if !strings.Contains(out, "10.124.0.50/24") {
		t.Fatalf("after connect: %q", out)
	}
	host := strings.TrimSpace(must(t, d.Berth("inspect", "-f", "{{.Config.Hostname}}", "svc")).Stdout)
	if got := strings.TrimSpace(must(t, d.Berth("run", "--rm", "--network", "it-conn", "busybox", "timeout", "5", "wget", "-qO-", "http://api/hostname")).Stdout); got != host {
		t.Fatalf("alias after connect: %q", got)
	}
	// A rename moves the DNS name along.
	must(t, d.Berth("rename", "svc", "svc2"))
	r := d.Berth("run", "--rm", "--network", "it-conn", "busybox", "sh", "-c", "timeout 5 wget -qO- http://svc2/hostname; nslookup svc >/dev/null 2>&1 && echo OLD; true")
	if strings.TrimSpace(r.Stdout) != host {
		t.Fatalf("after rename: %s", r)
	}
	must(t, d.Berth("network", "disconnect", "it-conn", "svc2"))
	out = must(t, d.Berth("exec", "svc2", "ip", "-o", "-4", "addr")).Stdout
	if strings.Contains(out, "10.124.") {
		t.Fatalf("after disconnect: %q", out)
	}
	if r := d.Berth("run", "--rm", "--network", "it-conn", "busybox", "nslookup", "api"); r.Code == 0 && strings.Contains(r.Stdout, "10.124.") {
		t.Fatalf("alias still resolves after disconnect: %s", r)
	}
	must(t, d.Berth("network", "rm", "it-conn"))
}

func TestNetworkBadInput(t *testing.T) {
	d := StartDaemon(t)
	must(t, d.Berth("network", "create", "--subnet", "10.125.0.0/16", "it-a"))
	nets := must(t, d.Berth("network", "ls", "-q")).Stdout
	ctrs := must(t, d.Berth("ps", "-aq")).Stdout
	state := netState()
	cases := []struct {
		args []string
		code int
		msg  string
	}{
		{[]string{"network", "create", "--subnet", "10.125.1.0/24", "it-b"}, 1, "Pool overlaps with other one on this address space"},
		{[]string{"network", "create", "it-a"}, 1, "network with name it-a already exists"},
		{[]string{"network", "create", "--subnet", "10.126.0.0/24", "--gateway", "10.127.0.1", "it-c"}, 1, "no matching subnet for gateway 10.127.0.1"},
		{[]string{"run", "--rm", "--network", "it-a", "--ip", "10.99.0.5", "busybox", "true"}, 125, "no configured subnet or ip-range contain the IP address 10.99.0.5"},
		{[]string{"run", "--rm", "--ip", "172.17.0.5", "busybox", "true"}, 125, "user specified IP address is supported on user defined networks only"},
		{[]string{"run", "--rm", "--network", "nope", "busybox", "true"}, 125, "network nope not found"},
		{[]string{"run", "--rm", "-p", "80:abc", "busybox", "true"}, 125, "invalid containerPort: abc"},
		{[]string{"run", "--rm", "-p", "99999:80", "busybox", "true"}, 125, "invalid hostPort: 99999"},
		{[]string{"network", "rm", "bridge"}, 1, "bridge is a pre-defined network and cannot be removed"},
		{[]string{"network", "rm", "nope"}, 1, "network nope not found"},
	}
	for _, c := range cases {
		r := d.Berth(c.args...)
		if r.Code != c.code || !strings.Contains(r.Stderr, c.msg) {
			t.Errorf("berth %s: want exit %d and %q, got %s", strings.Join(c.args, " "), c.code, c.msg, r)
		}
	}
	if got := must(t, d.Berth("network", "ls", "-q")).Stdout; got != nets {
		t.Errorf("networks changed by bad input:\n%s\nwant:\n%s", got, nets)
	}
	if got := must(t, d.Berth("ps", "-aq")).Stdout; got != ctrs {
		t.Errorf("containers left by bad input: %q", got)
	}
	if leaks := netLeaks(state, netState()); len(leaks) > 0 {
		t.Errorf("links or rules added by bad input: %v", leaks)
	}
	// The same --ip twice on one network: the second start fails cleanly.
	must(t, d.Berth("run", "-d", "--name", "x1", "--network", "it-a", "--ip", "10.125.0.9", "busybox", "sleep", "100"))
	if r := d.Berth("run", "-d", "--name", "x2", "--network", "it-a", "--ip", "10.125.0.9", "busybox", "sleep", "100"); r.Code != 125 || !strings.Contains(r.Stderr, "Address already in use") {
		t.Errorf("duplicate --ip: %s", r)
	}
	// Removing a network in use is a conflict (409), through the API as through the CLI.
	if resp, body := d.api(t, "DELETE", "/networks/it-a", nil); resp.StatusCode != 409 || !strings.Contains(string(body), "has active endpoints") {
		t.Errorf("DELETE /networks/it-a in use: %d %s", resp.StatusCode, body)
	}
}

func TestNetworkSurvivesDaemonRestart(t *testing.T) {
	d := StartDaemon(t)
	must(t, d.Berth("network", "create", "it-r"))
	must(t, d.Berth(append([]string{"run", "-d", "--name", "keep", "--network", "it-r", "-p", "18083:80", "busybox"}, httpServer...)...))
	must(t, d.Berth("run", "-d", "--name", "dies", "-p", "18084:80", "busybox", "sleep", "1000"))
	want := strings.TrimSpace(must(t, d.Berth("inspect", "-f", "{{.Config.Hostname}}", "keep")).Stdout)
	diesID := strings.TrimSpace(must(t, d.Berth("inspect", "-f", "{{.Id}}", "dies")).Stdout)
	fetchEventually(t, "", "http://127.0.0.1:18083/hostname")

	d.Kill()
	// The container "dies" ends while berthd is away (its shim is killed with it).
	exec.Command("pkill", "-9", "-f", "berth-shim.*"+diesID).Run()
	time.Sleep(200 * time.Millisecond)
	d.Start()

	if got := fetchEventually(t, "", "http://127.0.0.1:18083/hostname"); got != want {
		t.Fatalf("published port after restart: %q", got)
	}
	out := must(t, d.Berth("run", "--rm", "--network", "it-r", "busybox", "timeout", "5", "wget", "-qO-", "http://keep/hostname")).Stdout
	if strings.TrimSpace(out) != want {
		t.Fatalf("name resolution after restart: %q", out)
	}
	// Its port is still held: a new container cannot take it.
	if r := d.Berth("run", "--rm", "-p", "18083:80", "busybox", "true"); r.Code == 0 {
		t.Fatalf("port of a running container taken after restart: %s", r)
	}
	// The dead one's namespace and rules are gone, and its port is free again.
	if rules, _ := exec.Command("nft", "list", "table", "ip", "berth").Output(); strings.Contains(string(rules), diesID) {
		t.Fatalf("rules of a container that died while berthd was away:\n%s", rules)
	}
	if entries, _ := os.ReadDir(filepath.Join(d.ExecRoot, "netns")); len(entries) != 1 {
		t.Fatalf("network namespaces after restart: %v (want only keep's)", entries)
	}
	must(t, d.Berth("run", "--rm", "-p", "18084:80", "busybox", "true"))
}

func TestNetworkDockerCLI(t *testing.T) {
	d := StartDaemon(t)
	must(t, d.Docker("network", "create", "--label", "team=a", "it-docker"))
	ls := must(t, d.Docker("network", "ls", "--filter", "label=team=a", "--format", "{{.Name}} {{.Driver}} {{.Scope}}")).Stdout
	if strings.TrimSpace(ls) != "it-docker bridge local" {
		t.Fatalf("docker network ls: %q", ls)
	}
	must(t, d.Docker(append([]string{"run", "-d", "--name", "dweb", "--network", "it-docker", "-p", "18085:80", "busybox"}, httpServer...)...))
	want := strings.TrimSpace(must(t, d.Docker("inspect", "-f", "{{.Config.Hostname}}", "dweb")).Stdout)
	if got := fetchEventually(t, "", "http://127.0.0.1:18085/hostname"); got != want {
		t.Fatalf("docker run -p: %q", got)
	}
	if got := strings.TrimSpace(must(t, d.Docker("port", "dweb", "80")).Stdout); got != "0.0.0.0:18085" {
		t.Fatalf("docker port: %q", got)
	}
	out := must(t, d.Docker("run", "--rm", "--network", "it-docker", "busybox", "timeout", "5", "wget", "-qO-", "http://dweb/hostname")).Stdout
	if strings.TrimSpace(out) != want {
		t.Fatalf("name resolution through docker run: %q", out)
	}
	if r := d.Docker("network", "rm", "it-docker"); r.Code == 0 || !strings.Contains(r.Stderr, "has active endpoints") {
		t.Fatalf("docker network rm in use: %s", r)
	}
	must(t, d.Docker("rm", "-f", "dweb"))
	must(t, d.Docker("network", "rm", "it-docker"))
	if ls := must(t, d.Docker("network", "ls", "--format", "{{.Name}}")).Stdout; strings.Contains(ls, "it-docker") {
		t.Fatalf("network still listed: %q", ls)
	}
}
