package nft

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

func requireRoot(t *testing.T) {
	t.Helper()
	need := func(why string) {
		if os.Getenv("CI") == "true" {
			t.Fatal(why)
		}
		t.Skip(why)
	}
	if os.Geteuid() != 0 {
		need("needs root")
	}
	for _, b := range []string{"ip", "nft", "busybox", "timeout"} {
		if _, err := exec.LookPath(b); err != nil {
			need(b + " not found")
		}
	}
}

func sh(t *testing.T, args ...string) string {
	t.Helper()
	out, err := exec.Command(args[0], args[1:]...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

func ruleset(t *testing.T) string { return sh(t, "nft", "list", "ruleset") }

// ourState is Berth's table and the ip filter FORWARD policy, with only the rules that are
// Berth's own (init) or carry id; a running berthd and other tests change the rest concurrently.
func ourState(t *testing.T, id string) string {
	var b strings.Builder
	mine := func(line string) bool {
		return strings.Contains(line, id) || strings.Contains(line, `comment "`+tagInit+`"`)
	}
	out, _ := exec.Command("nft", "list", "table", "ip", TableName).Output()
	for _, line := range strings.Split(string(out), "\n") {
		if !strings.Contains(line, "comment") || mine(line) {
			b.WriteString(line + "\n")
		}
	}
	out, _ = exec.Command("nft", "list", "chain", "ip", "filter", "FORWARD").Output()
	for _, line := range strings.Split(string(out), "\n") {
		if strings.Contains(line, "policy") || mine(line) {
			b.WriteString(line + "\n")
		}
	}
	return b.String()
}

// fetch runs busybox wget (inside netns ns unless empty) and returns the body or an error.
func fetch(ns, url string) (string, error) { return fetchT(ns, url, "2") }

func fetchT(ns, url, timeout string) (string, error) {
	args := []string{"timeout", timeout, "busybox", "wget", "-q", "-O", "-", url}
	if ns != "" {
		args = append([]string{"ip", "netns", "exec", ns}, args...)
	}
	out, err := exec.Command(args[0], args[1:]...).Output()
	return string(out), err
}

type lab struct {
	t    *testing.T
	id   string
	r    int
	nses []string
	link []string
	proc []*exec.Cmd
}

func (l *lab) net(i int) netip.Prefix {
	return netip.MustParsePrefix(fmt.Sprintf("10.%d.%d.0/24", 230+i, l.r))
}

func (l *lab) ip(i, host int) netip.Addr {
	return netip.MustParseAddr(fmt.Sprintf("10.%d.%d.%d", 230+i, l.r, host))
}

func (l *lab) bridge(i int) string {
	name := fmt.Sprintf("bt%sb%d", l.id, i)
	sh(l.t, "ip", "link", "add", name, "type", "bridge")
	l.link = append(l.link, name)
	sh(l.t, "ip", "addr", "add", fmt.Sprintf("%s/24", l.ip(i, 1)), "dev", name)
	sh(l.t, "ip", "link", "set", name, "up")
	return name
}

// container makes a netns attached to bridge br with address 10.(230+i).r.host and a default route.
func (l *lab) container(name, br string, i, host int) string {
	ns := "bt" + l.id + name
	sh(l.t, "ip", "netns", "add", ns)
	l.nses = append(l.nses, ns)
	hv := ns + "h"
	sh(l.t, "ip", "link", "add", hv, "type", "veth", "peer", "name", "eth0", "netns", ns)
	l.link = append(l.link, hv)
	sh(l.t, "ip", "link", "set", hv, "master", br, "up")
	sh(l.t, "ip", "-n", ns, "addr", "add", fmt.Sprintf("%s/24", l.ip(i, host)), "dev", "eth0")
	sh(l.t, "ip", "-n", ns, "link", "set", "eth0", "up")
	sh(l.t, "ip", "-n", ns, "link", "set", "lo", "up")
	sh(l.t, "ip", "-n", ns, "route", "add", "default", "via", l.ip(i, 1).String())
	return ns
}

func (l *lab) start(ns string, out *syncBuf, args ...string) {
	cmd := exec.Command("ip", append([]string{"netns", "exec", ns}, args...)...)
	if out != nil {
		cmd.Stdout = out
	}
	if err := cmd.Start(); err != nil {
		l.t.Fatal(err)
	}
	l.proc = append(l.proc, cmd)
}

func (l *lab) cleanup() {
	for _, p := range l.proc {
		p.Process.Kill()
		p.Wait()
	}
	for _, n := range l.link {
		exec.Command("ip", "link", "del", n).Run()
	}
	for _, ns := range l.nses {
		exec.Command("ip", "netns", "del", ns).Run()
	}
}

type syncBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuf) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuf) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func eventually(t *testing.T, what string, f func() error) {
	t.Helper()
	var err error
	for i := 0; i < 8; i++ {
		if err = f(); err == nil {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("%s: %v", what, err)
}

func expectBody(t *testing.T, ns, url, want string) {
	t.Helper()
	eventually(t, fmt.Sprintf("fetch %s from %q", url, ns), func() error {
		got, err := fetch(ns, url)
		if err != nil {
			return err
		}
		if strings.TrimSpace(got) != want {
			return fmt.Errorf("got %q, want %q", got, want)
		}
		return nil
	})
}

func expectBlocked(t *testing.T, ns, url string) {
	t.Helper()
	if got, err := fetchT(ns, url, "1"); err == nil {
		t.Fatalf("fetch %s from %q succeeded (%q), want blocked", url, ns, got)
	}
}

func TestNetworking(t *testing.T) {
	requireRoot(t)
	// The ruleset is global: serialise with other runs of this test (go test -count, parallel packages).
	lock, err := os.OpenFile("/run/berth-nft-test.lock", os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	defer lock.Close()
	if err := unix.Flock(int(lock.Fd()), unix.LOCK_EX); err != nil {
		t.Fatal(err)
	}
	fwd := strings.TrimSpace(sh(t, "sysctl", "-n", "net.ipv4.ip_forward"))
	if fwd != "1" {
		sh(t, "sysctl", "-qw", "net.ipv4.ip_forward=1")
		defer exec.Command("sysctl", "-qw", "net.ipv4.ip_forward="+fwd).Run()
	}
	var rb [3]byte
	rand.Read(rb[:])
	l := &lab{t: t, id: hex.EncodeToString(rb[:2]), r: int(rb[2])}
	defer l.cleanup()

	// dockerd's state: ip filter FORWARD with policy drop and a rule that is not ours.
	pristine := ruleset(t)
	foreign := "bt" + l.id + "foreign"
	before := ourState(t, l.id)
	createdFilter := !strings.Contains(pristine, "table ip filter {")
	oldPolicy := "accept"
	if createdFilter {
		sh(t, "nft", "add", "table", "ip", "filter")
	} else if strings.Contains(sh(t, "nft", "list", "chain", "ip", "filter", "FORWARD"), "policy drop") {
		oldPolicy = "drop"
	}
	sh(t, "nft", "add", "chain", "ip", "filter", "FORWARD", "{ type filter hook forward priority filter; policy drop; }")
	sh(t, "nft", "add", "rule", "ip", "filter", "FORWARD", "iifname", foreign, "drop")
	hadTable := strings.Contains(pristine, "table ip "+TableName+" {")
	defer func() {
		if !hadTable {
			if err := Teardown(); err != nil {
				t.Error(err)
			}
		}
		out := sh(t, "nft", "-a", "list", "chain", "ip", "filter", "FORWARD")
		for _, line := range strings.Split(out, "\n") {
			if strings.Contains(line, foreign) {
				h := line[strings.LastIndex(line, " ")+1:]
				sh(t, "nft", "delete", "rule", "ip", "filter", "FORWARD", "handle", h)
			}
		}
		if createdFilter {
			sh(t, "nft", "delete", "table", "ip", "filter")
		} else {
			sh(t, "nft", "add", "chain", "ip", "filter", "FORWARD", "{ policy "+oldPolicy+"; }")
		}
		if got := ourState(t, l.id); got != before {
			t.Errorf("ruleset not restored:\n%s\nwant:\n%s", got, pristine)
		}
	}()

	if err := Init(); err != nil {
		t.Fatal(err)
	}
	if err := Init(); err != nil {
		t.Fatal(err)
	}
	initial := ourState(t, l.id)

	br1, br2, br3 := l.bridge(1), l.bridge(2), l.bridge(3)
	ids := []string{"btc1" + l.id, "btc2" + l.id}
	defer func() { // after a failure too: a running berthd keeps the table, so Teardown is not called
		for _, id := range ids {
			RemovePorts(id)
		}
		for _, b := range []string{br1, br2, br3} {
			RemoveNetwork(b)
		}
	}()
	ourPorts := func() ([]PortMapping, error) {
		all, err := Ports()
		var out []PortMapping
		for _, m := range all {
			if slices.Contains(ids, m.ContainerID) {
				out = append(out, m)
			}
		}
		return out, err
	}
	c1 := l.container("c1", br1, 1, 2)
	c2 := l.container("c2", br1, 1, 3)
	c3 := l.container("c3", br2, 2, 2)
	c4 := l.container("c4", br3, 3, 2)

	// The outside client: its own veth pair to the host, no route to any container subnet.
	out := "bt" + l.id + "out"
	sh(t, "ip", "netns", "add", out)
	l.nses = append(l.nses, out)
	ov := out + "h"
	sh(t, "ip", "link", "add", ov, "type", "veth", "peer", "name", "eth0", "netns", out)
	l.link = append(l.link, ov)
	sh(t, "ip", "addr", "add", l.ip(4, 1).String()+"/24", "dev", ov)
	sh(t, "ip", "link", "set", ov, "up")
	sh(t, "ip", "-n", out, "addr", "add", l.ip(4, 2).String()+"/24", "dev", "eth0")
	sh(t, "ip", "-n", out, "link", "set", "eth0", "up")
	sh(t, "ip", "-n", out, "link", "set", "lo", "up")
	hostIP := l.ip(4, 1)

	// Web servers answering with their own name.
	for _, ns := range []string{c1, c3, c4, out} {
		dir := t.TempDir()
		if err := os.WriteFile(filepath.Join(dir, "index.html"), []byte(ns+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		l.start(ns, nil, "busybox", "httpd", "-f", "-p", "80", "-h", dir)
	}

	if err := AddNetwork(br1, l.net(1), false); err != nil {
		t.Fatal(err)
	}
	if err := AddNetwork(br1, l.net(1), false); err != nil { // idempotent
		t.Fatal(err)
	}
	if err := AddNetwork(br2, l.net(2), false); err != nil {
		t.Fatal(err)
	}
	// Internal network: the outside may even route to it directly, and still nothing passes.
	sh(t, "ip", "-n", out, "route", "add", l.net(3).String(), "via", hostIP.String())
	if err := AddNetwork(br3, l.net(3), true); err != nil {
		t.Fatal(err)
	}
	if nets, err := Networks(); err != nil || !slices.Contains(nets, br1) || !slices.Contains(nets, br2) || !slices.Contains(nets, br3) {
		t.Fatalf("Networks() = %v, %v", nets, err)
	}
	if fw := sh(t, "nft", "list", "chain", "ip", "filter", "FORWARD"); strings.Count(fw, `comment "berth:net:`+br1+`"`) != 2 {
		t.Fatalf("ip filter FORWARD lacks scoped rules for %s:\n%s", br1, fw)
	}
	// Connections from the host's 127.0.0.1 reach containers from LoopbackSource, not the gateway.
	if post := sh(t, "nft", "list", "chain", "ip", TableName, chainPost); !strings.Contains(post, `oifname "`+br1+`" ip saddr 127.0.0.0/8 snat to `+LoopbackSource.String()) {
		t.Fatalf("no loopback SNAT rule for %s:\n%s", br1, post)
	}
	// dockerd manages that chain with iptables-nft, which must still read every rule in it.
	if _, err := exec.LookPath("iptables-save"); err == nil {
		save := sh(t, "iptables-save", "-t", "filter")
		for _, want := range []string{"-A FORWARD -i " + br1 + ` -m comment --comment "berth:net:` + br1 + `" -j ACCEPT`,
			"-A FORWARD -i " + br3 + " -o " + br3 + ` -m comment --comment "berth:net:` + br3 + `" -j ACCEPT`} {
			if !strings.Contains(save, want) {
				t.Fatalf("iptables-save does not show %q:\n%s", want, save)
			}
		}
	}

	t.Run("masquerade", func(t *testing.T) {
		expectBody(t, c1, fmt.Sprintf("http://%s/", l.ip(4, 2)), out)
		expectBody(t, c3, fmt.Sprintf("http://%s/", l.ip(4, 2)), out)
	})
	t.Run("same bridge", func(t *testing.T) {
		expectBody(t, c2, fmt.Sprintf("http://%s/", l.ip(1, 2)), c1)
	})
	t.Run("isolation", func(t *testing.T) {
		expectBlocked(t, c1, fmt.Sprintf("http://%s/", l.ip(2, 2)))
		expectBlocked(t, c3, fmt.Sprintf("http://%s/", l.ip(1, 2)))
		expectBlocked(t, c1, fmt.Sprintf("http://%s/", l.ip(3, 2)))
		expectBlocked(t, c4, fmt.Sprintf("http://%s/", l.ip(1, 2)))
	})
	t.Run("internal", func(t *testing.T) {
		expectBlocked(t, c4, fmt.Sprintf("http://%s/", l.ip(4, 2)))
		expectBlocked(t, out, fmt.Sprintf("http://%s/", l.ip(3, 2)))
		if rs := ruleset(t); strings.Contains(rs, l.net(3).String()) {
			t.Fatalf("internal network has a masquerade rule:\n%s", rs)
		}
	})
	t.Run("direct routing into a bridge is refused", func(t *testing.T) {
		sh(t, "ip", "-n", out, "route", "add", l.net(1).String(), "via", hostIP.String())
		defer sh(t, "ip", "-n", out, "route", "del", l.net(1).String())
		expectBlocked(t, out, fmt.Sprintf("http://%s/", l.ip(1, 2)))
	})

	c1IP := l.ip(1, 2)
	maps := []PortMapping{
		{ContainerID: "btc1" + l.id, HostPort: 18080, Proto: "tcp", ContainerIP: c1IP, ContainerPort: 80, Bridge: br1},
		{ContainerID: "btc1" + l.id, HostIP: netip.MustParseAddr("127.0.0.1"), HostPort: 18081, Proto: "tcp", ContainerIP: c1IP, ContainerPort: 80, Bridge: br1},
		{ContainerID: "btc2" + l.id, HostPort: 18082, Proto: "udp", ContainerIP: l.ip(1, 3), ContainerPort: 5353, Bridge: br1},
	}
	for _, m := range maps {
		if err := AddPort(m); err != nil {
			t.Fatal(err)
		}
	}
	if err := AddPort(maps[0]); err != nil { // idempotent
		t.Fatal(err)
	}
	if got, err := ourPorts(); err != nil || len(got) != len(maps) {
		t.Fatalf("Ports() = %v, %v", got, err)
	}

	t.Run("publish all addresses", func(t *testing.T) {
		expectBody(t, "", "http://127.0.0.1:18080/", c1)
		expectBody(t, "", fmt.Sprintf("http://%s:18080/", hostIP), c1)
		expectBody(t, out, fmt.Sprintf("http://%s:18080/", hostIP), c1)
		expectBody(t, c3, fmt.Sprintf("http://%s:18080/", hostIP), c1)
		expectBody(t, c2, fmt.Sprintf("http://%s:18080/", hostIP), c1)
	})
	t.Run("publish loopback only", func(t *testing.T) {
		expectBody(t, "", "http://127.0.0.1:18081/", c1)
		expectBlocked(t, out, fmt.Sprintf("http://%s:18081/", hostIP))
		expectBlocked(t, c2, fmt.Sprintf("http://%s:18081/", hostIP))
		expectBlocked(t, "", fmt.Sprintf("http://%s:18081/", hostIP))
	})
	t.Run("loopback not routable from a container", func(t *testing.T) {
		// A host service on 127.0.0.1 and a container that routes 127.0.0.1 to its gateway.
		ln, err := net.Listen("tcp4", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer ln.Close()
		go func() {
			for {
				c, err := ln.Accept()
				if err != nil {
					return
				}
				c.Write([]byte("HTTP/1.0 200 OK\r\n\r\nhost-secret\n"))
				c.Close()
			}
		}()
		port := ln.Addr().(*net.TCPAddr).Port
		sh(t, "ip", "-n", c2, "route", "add", "127.0.0.1/32", "via", l.ip(1, 1).String(), "dev", "eth0", "src", l.ip(1, 3).String(), "table", "100")
		sh(t, "ip", "-n", c2, "rule", "add", "to", "127.0.0.1", "lookup", "100", "pref", "10")
		sh(t, "ip", "netns", "exec", c2, "sysctl", "-qw", "net.ipv4.conf.eth0.route_localnet=1")
		defer sh(t, "ip", "-n", c2, "rule", "del", "pref", "10")
		expectBlocked(t, c2, fmt.Sprintf("http://127.0.0.1:%d/", port))
		expectBlocked(t, c2, "http://127.0.0.1:18081/")
	})
	t.Run("publish udp", func(t *testing.T) {
		// Debian's busybox nc has no -u: python3 plays the UDP server and client.
		if _, err := exec.LookPath("python3"); err != nil {
			if os.Getenv("CI") == "true" {
				t.Fatal("python3 not found")
			}
			t.Skip("python3 not found")
		}
		var got syncBuf
		l.start(c2, &got, "python3", "-c", "import socket,sys\ns=socket.socket(2,2)\ns.bind(('0.0.0.0',5353))\nwhile True:\n d,a=s.recvfrom(100)\n sys.stdout.write(d.decode())\n sys.stdout.flush()\n s.sendto(b'pong-udp',a)")
		eventually(t, "udp datagram", func() error {
			reply, _ := exec.Command("ip", "netns", "exec", out, "timeout", "2", "python3", "-c",
				"import socket\ns=socket.socket(2,2)\ns.settimeout(0.5)\ns.sendto(b'ping-udp',('"+hostIP.String()+"',18082))\nprint(s.recv(100).decode())").Output()
			if !strings.Contains(got.String(), "ping-udp") || !strings.Contains(string(reply), "pong-udp") {
				return fmt.Errorf("server got %q, client got %q", got.String(), reply)
			}
			return nil
		})
	})
	t.Run("port in use", func(t *testing.T) {
		ln, err := net.Listen("tcp4", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		port := uint16(ln.Addr().(*net.TCPAddr).Port)
		if !PortInUse(netip.MustParseAddr("127.0.0.1"), port, "tcp") || !PortInUse(netip.Addr{}, port, "tcp") {
			t.Fatal("PortInUse = false for a bound port")
		}
		ln.Close()
		if PortInUse(netip.MustParseAddr("127.0.0.1"), port, "tcp") {
			t.Fatal("PortInUse = true for a free port")
		}
		pc, err := net.ListenPacket("udp4", "0.0.0.0:0")
		if err != nil {
			t.Fatal(err)
		}
		defer pc.Close()
		if !PortInUse(netip.Addr{}, uint16(pc.LocalAddr().(*net.UDPAddr).Port), "udp") {
			t.Fatal("PortInUse = false for a bound udp port")
		}
	})

	for _, id := range ids {
		if err := RemovePorts(id); err != nil {
			t.Fatal(err)
		}
	}
	if got, err := ourPorts(); err != nil || len(got) != 0 {
		t.Fatalf("Ports() after RemovePorts = %v, %v", got, err)
	}
	expectBlocked(t, "", "http://127.0.0.1:18080/")
	for _, b := range []string{br1, br2, br3} {
		if err := RemoveNetwork(b); err != nil {
			t.Fatal(err)
		}
	}
	if got := ourState(t, l.id); got != initial {
		t.Fatalf("ruleset after removal differs:\n%s\nwant:\n%s", got, initial)
	}
}

func TestValidation(t *testing.T) {
	ok := PortMapping{ContainerID: "c", HostPort: 1, Proto: "tcp", ContainerIP: netip.MustParseAddr("10.0.0.2"), ContainerPort: 1, Bridge: "br"}
	for name, mut := range map[string]func(*PortMapping){
		"proto":          func(m *PortMapping) { m.Proto = "sctp" },
		"host port":      func(m *PortMapping) { m.HostPort = 0 },
		"container ip":   func(m *PortMapping) { m.ContainerIP = netip.Addr{} },
		"ipv6 host ip":   func(m *PortMapping) { m.HostIP = netip.MustParseAddr("::1") },
		"bridge":         func(m *PortMapping) { m.Bridge = "a-very-long-bridge-name" },
		"container id":   func(m *PortMapping) { m.ContainerID = "" },
		"comma in id":    func(m *PortMapping) { m.ContainerID = "a,b" },
		"container port": func(m *PortMapping) { m.ContainerPort = 0 },
	} {
		t.Run(name, func(t *testing.T) {
			m := ok
			mut(&m)
			if _, err := m.validate(); err == nil {
				t.Fatal("accepted")
			}
		})
	}
	m, err := PortMapping{ContainerID: "c", HostIP: netip.MustParseAddr("0.0.0.0"), HostPort: 1, Proto: "udp",
		ContainerIP: netip.MustParseAddr("10.0.0.2"), ContainerPort: 2, Bridge: "br"}.validate()
	if err != nil || m.HostIP.IsValid() {
		t.Fatalf("0.0.0.0 not normalised: %v %v", m, err)
	}
	back, ok2 := parsePortTag(m.tag())
	if !ok2 || back != m {
		t.Fatalf("tag round trip: %v -> %q -> %v", m, m.tag(), back)
	}
}
