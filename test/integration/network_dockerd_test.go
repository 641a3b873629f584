package integration

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// inNS runs a command inside the named network namespace.
func inNS(t testing.TB, ns string, args ...string) string {
	t.Helper()
	out, err := exec.Command("ip", append([]string{"netns", "exec", ns}, args...)...).CombinedOutput()
	if err != nil {
		t.Fatalf("in %s: %s: %v: %s", ns, strings.Join(args, " "), err, out)
	}
	return string(out)
}

// TestNetworkBesideDockerd runs berthd and Debian's dockerd (with its iptables rules) side
// by side in a private network namespace, so that dockerd's FORWARD drop policy is real but
// never reaches the host. berthd starts first: its bridges must keep forwarding and NAT
// once dockerd has created the filter FORWARD chain with a drop policy, and berthd must
// leave dockerd's chains alone.
func TestNetworkBesideDockerd(t *testing.T) {
	for _, bin := range []string{"nsenter", "skopeo", "iptables-save"} {
		if _, err := exec.LookPath(bin); err != nil {
			if os.Getenv("CI") == "true" {
				t.Fatalf("%s not installed", bin)
			}
			t.Skipf("%s not installed", bin)
		}
	}
	n := os.Getpid()%200 + 1
	coex, outside := fmt.Sprintf("itc%d", n), fmt.Sprintf("itx%d", n)
	gw, client := fmt.Sprintf("10.251.%d.1", n), fmt.Sprintf("10.251.%d.2", n)
	for _, args := range [][]string{
		{"netns", "add", coex}, {"netns", "add", outside},
		{"-n", coex, "link", "set", "lo", "up"},
		{"-n", coex, "link", "add", "up0", "type", "veth", "peer", "name", "eth0", "netns", outside},
		{"-n", coex, "addr", "add", gw + "/30", "dev", "up0"},
		{"-n", coex, "link", "set", "up0", "up"},
		{"-n", outside, "addr", "add", client + "/30", "dev", "eth0"},
		{"-n", outside, "link", "set", "eth0", "up"},
		{"-n", outside, "route", "add", "default", "via", gw},
	} {
		if out, err := exec.Command("ip", args...).CombinedOutput(); err != nil {
			exec.Command("ip", "netns", "del", coex).Run()
			exec.Command("ip", "netns", "del", outside).Run()
			t.Fatalf("ip %s: %v: %s", strings.Join(args, " "), err, out)
		}
	}
	t.Cleanup(func() {
		exec.Command("ip", "netns", "del", outside).Run()
		exec.Command("ip", "netns", "del", coex).Run()
	})
	d := startDaemon(t, "/run/netns/"+coex)
	// The registry listens on the host's loopback: bring busybox in as an archive.
	archive := filepath.Join(t.TempDir(), "busybox.tar")
	if out, err := exec.Command("skopeo", "copy", "--src-tls-verify=false", "docker://127.0.0.1:5000/library/busybox:latest",
		"docker-archive:"+archive+":busybox:latest").CombinedOutput(); err != nil {
		t.Fatalf("skopeo: %v: %s", err, out)
	}
	must(t, d.Berth("load", "-i", archive))
	must(t, d.Berth("network", "create", "it-co"))

	// dockerd sets the drop policy when it has to turn forwarding on (as on a host where it
	// starts first); berthd already did, so turn it off again. Its docker0 lives in the
	// namespace too.
	inNS(t, coex, "sysctl", "-qw", "net.ipv4.ip_forward=0")
	dk := startDockerdWith(t, "/run/netns/"+coex, "--iptables=true", "--bip", fmt.Sprintf("10.252.%d.1/24", n))
	fw := inNS(t, coex, "iptables-save", "-t", "filter")
	if !strings.Contains(fw, ":FORWARD DROP") {
		t.Fatalf("dockerd did not set the FORWARD policy to DROP:\n%s", fw)
	}
	dockerRules := func() []string {
		var out []string
		for _, l := range strings.Split(inNS(t, coex, "iptables-save"), "\n") {
			if strings.HasPrefix(l, "-A ") && !strings.Contains(l, "berth") {
				out = append(out, l)
			}
		}
		return out
	}
	// berthd notices the new chain and adds its scoped accept rules.
	deadline := time.Now().Add(10 * time.Second)
	// (iptables-save shows them only if iptables-nft can read every rule of the table, which
	// dockerd's own iptables calls need too.)
	for !strings.Contains(inNS(t, coex, "iptables-save", "-t", "filter"), "berth:net:"+d.Bridge) {
		if time.Now().After(deadline) {
			t.Fatalf("berthd did not add its FORWARD rules:\n%s", inNS(t, coex, "iptables-save"))
		}
		time.Sleep(200 * time.Millisecond)
	}

	must(t, d.Berth(append([]string{"run", "-d", "--name", "web", "-p", "18087:80", "busybox"}, httpServer...)...))
	must(t, d.Berth(append([]string{"run", "-d", "--name", "uweb", "--network", "it-co", "busybox"}, httpServer...)...))
	want := strings.TrimSpace(must(t, d.Berth("inspect", "-f", "{{.Config.Hostname}}", "web")).Stdout)
	// From outside through the published port (DNAT, then forwarded under the drop policy).
	if got := fetchEventually(t, outside, "http://"+gw+":18087/hostname"); got != want {
		t.Fatalf("published port from outside beside dockerd: %q, want %q", got, want)
	}
	// From a container to the outside (forwarded and masqueraded), on both networks.
	for _, net := range []string{"bridge", "it-co"} {
		if r := d.Berth("run", "--rm", "--network", net, "busybox", "ping", "-c", "1", "-W", "3", client); r.Code != 0 {
			t.Fatalf("outbound from %s beside dockerd: %s\n%s", net, r, inNS(t, coex, "iptables-save"))
		}
	}
	// dockerd keeps working on the shared filter table: it publishes a port of its own.
	if r := dk.docker(t, "load", "-i", archive); r.Code != 0 {
		t.Fatalf("docker load: %s", r)
	}
	if r := dk.docker(t, append([]string{"run", "-d", "--name", "dweb", "-p", "18088:80", "busybox"}, httpServer...)...); r.Code != 0 {
		t.Fatalf("docker run -p beside berthd: %s", r)
	}
	defer dk.docker(t, "rm", "-f", "dweb")
	before := dockerRules()
	if got := fetchEventually(t, outside, "http://"+gw+":18088/hostname"); got == "" {
		t.Fatal("dockerd's published port from outside: empty answer")
	}
	// Between containers of one bridge, by name.
	if out := must(t, d.Berth("run", "--rm", "busybox", "timeout", "5", "wget", "-qO-", "http://web/hostname")).Stdout; strings.TrimSpace(out) != want {
		t.Fatalf("same bridge beside dockerd: %q", out)
	}

	must(t, d.Berth("rm", "-f", "web", "uweb"))
	must(t, d.Berth("network", "rm", "it-co"))
	if fw := inNS(t, coex, "iptables-save", "-t", "filter"); strings.Contains(fw, "berth:net:br-") {
		t.Fatalf("rules of a removed network left in FORWARD:\n%s", fw)
	}
	if after := dockerRules(); strings.Join(after, "\n") != strings.Join(before, "\n") {
		t.Fatalf("dockerd's rules changed:\n%s\nwant:\n%s", strings.Join(after, "\n"), strings.Join(before, "\n"))
	}
}
