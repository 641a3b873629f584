package nft

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/berth-dev/berth/network"
	"github.com/berth-dev/berth/network/bridge"
	"github.com/berth-dev/berth/network/ipam"
	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// hostAddr returns an IPv4 address of the interface holding the default route; without
// one it makes a dummy interface with a test address, removed at cleanup.
func hostAddr(t *testing.T, id string) netip.Addr {
	routes, err := netlink.RouteList(nil, netlink.FAMILY_V4)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range routes {
		if r.Dst != nil && !r.Dst.IP.IsUnspecified() || r.LinkIndex == 0 {
			continue
		}
		l, err := netlink.LinkByIndex(r.LinkIndex)
		if err != nil {
			continue
		}
		addrs, _ := netlink.AddrList(l, netlink.FAMILY_V4)
		for _, a := range addrs {
			if ip, ok := netip.AddrFromSlice(a.IP.To4()); ok && ip.IsGlobalUnicast() {
				return ip
			}
		}
	}
	name := "bthp" + id
	sh(t, "ip", "link", "add", name, "type", "dummy")
	t.Cleanup(func() { exec.Command("ip", "link", "del", name).Run() })
	sh(t, "ip", "addr", "add", "198.18.213.1/32", "dev", name)
	sh(t, "ip", "link", "set", name, "up")
	return netip.MustParseAddr("198.18.213.1")
}

// dialIn connects from inside netns ns to addr and returns what the server sends.
func dialIn(ns, addr string, timeout time.Duration) (string, error) {
	var got []byte
	err := bridge.InNetNS(ns, func() error {
		c, err := net.DialTimeout("tcp", addr, timeout)
		if err != nil {
			return err
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(timeout))
		got, err = io.ReadAll(c)
		return err
	})
	return string(got), err
}

// TestHairpin publishes a port of container A on the host and reaches it through the
// host's own address from A itself and from B on the same bridge.
func TestHairpin(t *testing.T) {
	requireRoot(t)
	lock, err := os.OpenFile("/run/berth-nft-test.lock", os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	defer lock.Close()
	if err := unix.Flock(int(lock.Fd()), unix.LOCK_EX); err != nil {
		t.Fatal(err)
	}
	if fwd := strings.TrimSpace(sh(t, "sysctl", "-n", "net.ipv4.ip_forward")); fwd != "1" {
		sh(t, "sysctl", "-qw", "net.ipv4.ip_forward=1")
		t.Cleanup(func() { exec.Command("sysctl", "-qw", "net.ipv4.ip_forward="+fwd).Run() })
	}
	if !strings.Contains(ruleset(t), "table ip "+TableName+" {") {
		t.Cleanup(func() {
			if err := Teardown(); err != nil {
				t.Error(err)
			}
		})
	}
	var rb [2]byte
	rand.Read(rb[:])
	id := hex.EncodeToString(rb[:])
	hostIP := hostAddr(t, id)

	routes, err := ipam.HostRoutes()
	if err != nil {
		t.Fatal(err)
	}
	subnet, err := ipam.AllocateSubnet([]ipam.Pool{{Base: netip.MustParsePrefix("10.212.0.0/16"), Size: 24}}, routes)
	if err != nil {
		t.Fatal(err)
	}
	n, err := ipam.NewNetwork(ipam.Config{Subnet: subnet}, routes)
	if err != nil {
		t.Fatal(err)
	}
	br := "bthp" + id + "b"
	t.Cleanup(func() {
		if err := bridge.DeleteBridge(br); err != nil {
			t.Error(err)
		}
	})
	if err := bridge.EnsureBridge(br, netip.PrefixFrom(n.Gateway(), subnet.Bits()), 0); err != nil {
		t.Fatal(err)
	}
	if err := Init(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := RemoveNetwork(br); err != nil {
			t.Error(err)
		}
	})
	if err := AddNetwork(br, subnet, false); err != nil {
		t.Fatal(err)
	}

	dir := t.TempDir()
	eps := make([]*network.Endpoint, 2)
	for i := range eps {
		path := filepath.Join(dir, fmt.Sprintf("c%d", i))
		if err := bridge.NewNetNS(path); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			if err := bridge.DeleteNetNS(path); err != nil {
				t.Error(err)
			}
		})
		ip, err := n.Allocate(netip.Addr{})
		if err != nil {
			t.Fatal(err)
		}
		eps[i] = &network.Endpoint{ContainerID: fmt.Sprintf("bthp%sc%d", id, i), NetNSPath: path, IfName: "eth0",
			IP: netip.PrefixFrom(ip, subnet.Bits()), Gateway: n.Gateway()}
		if err := bridge.Attach(context.Background(), br, eps[i]); err != nil {
			t.Fatal(err)
		}
	}
	a, b := eps[0], eps[1]

	// Container A serves on :8080 and tells each client the address it came from.
	var ln net.Listener
	if err := bridge.InNetNS(a.NetNSPath, func() (err error) {
		ln, err = net.Listen("tcp4", ":8080")
		return err
	}); err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			host, _, _ := net.SplitHostPort(c.RemoteAddr().String())
			fmt.Fprintf(c, "A saw %s", host)
			c.Close()
		}
	}()

	var port uint16
	for p := uint16(28000 + int(rb[0])%64*100); ; p++ {
		if !PortInUse(netip.Addr{}, p, "tcp") {
			port = p
			break
		}
	}
	m := PortMapping{ContainerID: a.ContainerID, HostPort: port, Proto: "tcp", ContainerIP: a.IP.Addr(), ContainerPort: 8080, Bridge: br}
	t.Cleanup(func() {
		if err := RemovePorts(m.ContainerID); err != nil {
			t.Error(err)
		}
	})
	if err := AddPort(m); err != nil {
		t.Fatal(err)
	}
	target := netip.AddrPortFrom(hostIP, port).String()
	// 3 s allows one ARP or SYN retry on a busy host.
	// Both see the gateway as the source: masquerading sends A's replies back through the host.
	want := "A saw " + n.Gateway().String()
	for _, ep := range []*network.Endpoint{a, b} {
		got, err := dialIn(ep.NetNSPath, target, 3*time.Second)
		if err != nil || got != want {
			t.Fatalf("%s from %s: %q, %v; want %q", target, ep.ContainerID, got, err, want)
		}
	}

	// With br_netfilter the DNATed packet is bridged back out of A's own port: only hairpin
	// mode on that port lets it through.
	if v, err := os.ReadFile("/proc/sys/net/bridge/bridge-nf-call-iptables"); err == nil && strings.TrimSpace(string(v)) == "1" {
		host, err := netlink.LinkByName(a.HostIfName)
		if err != nil {
			t.Fatal(err)
		}
		if err := netlink.LinkSetHairpin(host, false); err != nil {
			t.Fatal(err)
		}
		if got, err := dialIn(a.NetNSPath, target, 500*time.Millisecond); err == nil {
			t.Fatalf("hairpin without hairpin mode succeeded: %q", got)
		}
		if got, err := dialIn(b.NetNSPath, target, 3*time.Second); err != nil || got != want {
			t.Fatalf("%s from B without hairpin on A: %q, %v", target, got, err)
		}
	}
}
