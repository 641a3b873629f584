package bridge

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/berth-dev/berth/errdefs"
	"github.com/berth-dev/berth/network"
	"github.com/berth-dev/berth/network/ipam"
	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
)

func requireRoot(tb testing.TB) {
	tb.Helper()
	miss := ""
	if os.Geteuid() != 0 {
		miss = "root"
	} else if _, err := exec.LookPath("ip"); err != nil {
		miss = "the ip command"
	}
	if miss == "" {
		return
	}
	if os.Getenv("CI") == "true" {
		tb.Fatalf("needs %s", miss)
	}
	tb.Skipf("needs %s", miss)
}

func testName(prefix string) string { return prefix + randHex() }

func run(tb testing.TB, args ...string) string {
	tb.Helper()
	out, err := exec.Command(args[0], args[1:]...).CombinedOutput()
	if err != nil {
		tb.Fatalf("%s: %v: %s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

// newNetNS creates a named network namespace removed at cleanup and returns its path.
func newNetNS(tb testing.TB) string {
	name := testName("bt")
	run(tb, "ip", "netns", "add", name)
	tb.Cleanup(func() { exec.Command("ip", "netns", "del", name).Run() })
	return "/run/netns/" + name
}

// testBridge creates a berth bridge with a free /24 and checks at cleanup that it and
// every berth veth made meanwhile are gone.
func testBridge(tb testing.TB) (string, *ipam.Network) {
	tb.Helper()
	routes, err := ipam.HostRoutes()
	if err != nil {
		tb.Fatal(err)
	}
	subnet, err := ipam.AllocateSubnet([]ipam.Pool{{Base: netip.MustParsePrefix("10.213.0.0/16"), Size: 24}}, routes)
	if err != nil {
		tb.Fatal(err)
	}
	n, err := ipam.NewNetwork(ipam.Config{Subnet: subnet}, routes)
	if err != nil {
		tb.Fatal(err)
	}
	name := testName("bt")
	before := berthVeths(tb)
	tb.Cleanup(func() {
		if err := DeleteBridge(name); err != nil {
			tb.Error(err)
		}
		if _, err := netlink.LinkByName(name); !notFound(err) {
			tb.Errorf("bridge %s left behind: %v", name, err)
		}
		if after := berthVeths(tb); !slices.Equal(before, after) {
			tb.Errorf("veths leaked: before %v after %v", before, after)
		}
	})
	if err := EnsureBridge(name, netip.PrefixFrom(n.Gateway(), subnet.Bits()), 1500); err != nil {
		tb.Fatal(err)
	}
	allowForward(tb, name)
	return name, n
}

// allowForward accepts traffic between ports of bridge in the ip filter FORWARD chain, if there
// is one: with br_netfilter loaded and dockerd's DROP policy, bridged traffic is dropped there.
// (Installing such rules is the nft package's job; this test does it by hand and removes it.)
func allowForward(tb testing.TB, bridge string) {
	if exec.Command("nft", "list", "chain", "ip", "filter", "FORWARD").Run() != nil {
		return
	}
	out := run(tb, "nft", "--echo", "--handle", "insert", "rule", "ip", "filter", "FORWARD",
		"iifname", bridge, "oifname", bridge, "accept", "comment", `"berth-test"`)
	_, handle, ok := strings.Cut(out, "# handle ")
	if !ok {
		tb.Fatalf("no rule handle in %q", out)
	}
	handle = strings.TrimSpace(handle)
	tb.Cleanup(func() { run(tb, "nft", "delete", "rule", "ip", "filter", "FORWARD", "handle", handle) })
}

// testIDs holds the container IDs this package's tests gave out; other packages' tests
// running at the same time make and remove berth veths of their own.
var testIDs sync.Map

// berthVeths returns the host-side veths of this package's test endpoints.
func berthVeths(tb testing.TB) []string {
	v, err := Veths()
	if err != nil {
		tb.Fatal(err)
	}
	var names []string
	for name, id := range v {
		if _, ok := testIDs.Load(id); ok {
			names = append(names, name)
		}
	}
	slices.Sort(names)
	return names
}

func endpoint(tb testing.TB, n *ipam.Network, nsPath string) *network.Endpoint {
	a, err := n.Allocate(netip.Addr{})
	if err != nil {
		tb.Fatal(err)
	}
	ep := &network.Endpoint{ContainerID: testName("c"), NetNSPath: nsPath, IfName: "eth0",
		IP: netip.PrefixFrom(a, n.Subnet().Bits()), Gateway: n.Gateway()}
	testIDs.Store(ep.ContainerID, true)
	tb.Cleanup(func() {
		if ep.HostIfName != "" {
			Detach(ep)
		}
	})
	return ep
}

func nsHandle(tb testing.TB, path string) *netlink.Handle {
	ns, err := netns.GetFromPath(path)
	if err != nil {
		tb.Fatal(err)
	}
	defer ns.Close()
	h, err := handleIn(ns)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(h.Close)
	return h
}

func TestEnsureBridge(t *testing.T) {
	requireRoot(t)
	name := testName("bt")
	t.Cleanup(func() { DeleteBridge(name) })
	gw := netip.MustParsePrefix("10.214.7.1/24")
	for i := range 2 { // idempotent
		if err := EnsureBridge(name, gw, 1400); err != nil {
			t.Fatalf("call %d: %v", i, err)
		}
	}
	check := func(want string, mtu int) {
		t.Helper()
		l, err := netlink.LinkByName(name)
		if err != nil {
			t.Fatal(err)
		}
		addrs, _ := netlink.AddrList(l, netlink.FAMILY_V4)
		if len(addrs) != 1 || addrs[0].IPNet.String() != want || l.Attrs().Alias != Alias ||
			l.Attrs().MTU != mtu || l.Attrs().Flags&net.FlagUp == 0 || l.Type() != "bridge" {
			t.Fatalf("bridge %+v addrs %v", l.Attrs(), addrs)
		}
	}
	check("10.214.7.1/24", 1400)
	// The bridge's connected route is a host route: subnet allocation skips it.
	routes, err := ipam.HostRoutes()
	if err != nil || !slices.Contains(routes, netip.MustParsePrefix("10.214.7.0/24")) {
		t.Fatalf("host routes %v, %v", routes, err)
	}
	pools := []ipam.Pool{{Base: netip.MustParsePrefix("10.214.7.0/24"), Size: 24}, {Base: netip.MustParsePrefix("10.214.200.0/24"), Size: 24}}
	if got, err := ipam.AllocateSubnet(pools, routes); err != nil || got != netip.MustParsePrefix("10.214.200.0/24") {
		t.Fatalf("AllocateSubnet = %v, %v", got, err)
	}
	// A new gateway replaces the old address.
	if err := EnsureBridge(name, netip.MustParsePrefix("10.214.8.1/24"), 1500); err != nil {
		t.Fatal(err)
	}
	check("10.214.8.1/24", 1500)
	if err := DeleteBridge(name); err != nil {
		t.Fatal(err)
	}
	if _, err := netlink.LinkByName(name); !notFound(err) {
		t.Fatalf("bridge still there: %v", err)
	}
	if err := DeleteBridge(name); err != nil {
		t.Fatalf("second delete: %v", err)
	}
	if err := EnsureBridge(name, netip.MustParsePrefix("fd00::1/64"), 0); !errdefs.IsInvalidParameter(err) {
		t.Fatalf("ipv6 gateway: %v", err)
	}
}

func TestForeignBridgeUntouched(t *testing.T) {
	requireRoot(t)
	name := testName("bt")
	run(t, "ip", "link", "add", name, "type", "bridge")
	t.Cleanup(func() { exec.Command("ip", "link", "del", name).Run() })
	if err := EnsureBridge(name, netip.MustParsePrefix("10.214.9.1/24"), 0); !errdefs.IsConflict(err) {
		t.Fatalf("EnsureBridge on foreign bridge: %v", err)
	}
	if err := DeleteBridge(name); !errdefs.IsConflict(err) {
		t.Fatalf("DeleteBridge on foreign bridge: %v", err)
	}
	ep := &network.Endpoint{NetNSPath: "/proc/self/ns/net", IfName: "eth0", IP: netip.MustParsePrefix("10.214.9.2/24")}
	if err := Attach(context.Background(), name, ep); !errdefs.IsConflict(err) {
		t.Fatalf("Attach to foreign bridge: %v", err)
	}
	l, err := netlink.LinkByName(name)
	if err != nil {
		t.Fatal(err)
	}
	if addrs, _ := netlink.AddrList(l, netlink.FAMILY_V4); len(addrs) != 0 || l.Attrs().Flags&net.FlagUp != 0 {
		t.Fatalf("foreign bridge changed: %+v %v", l.Attrs(), addrs)
	}
}

func TestAttachConnectivity(t *testing.T) {
	requireRoot(t)
	br, n := testBridge(t)
	nsA, nsB := newNetNS(t), newNetNS(t)
	epA, epB := endpoint(t, n, nsA), endpoint(t, n, nsB)
	ctx := context.Background()
	for _, ep := range []*network.Endpoint{epA, epB} {
		if err := Attach(ctx, br, ep); err != nil {
			t.Fatal(err)
		}
	}

	// Host side: named veth+7 hex, on the bridge, up, marked with the container ID.
	brLink, _ := netlink.LinkByName(br)
	for _, ep := range []*network.Endpoint{epA, epB} {
		l, err := netlink.LinkByName(ep.HostIfName)
		if err != nil {
			t.Fatal(err)
		}
		if len(ep.HostIfName) != 11 || !strings.HasPrefix(ep.HostIfName, "veth") || l.Attrs().MasterIndex != brLink.Attrs().Index ||
			l.Attrs().Flags&net.FlagUp == 0 || l.Attrs().Alias != AliasPrefix+ep.ContainerID {
			t.Fatalf("host veth %+v", l.Attrs())
		}
		if b, err := os.ReadFile("/sys/class/net/" + ep.HostIfName + "/brport/hairpin_mode"); err != nil || strings.TrimSpace(string(b)) != "1" {
			t.Fatalf("hairpin mode of %s: %q %v", ep.HostIfName, b, err)
		}
	}

	// Container side: eth0 with the address, docker's MAC, up; lo up; default route via the gateway.
	h := nsHandle(t, nsA)
	eth0, err := h.LinkByName("eth0")
	if err != nil {
		t.Fatal(err)
	}
	ip4 := epA.IP.Addr().As4()
	wantMAC := net.HardwareAddr{0x02, 0x42, ip4[0], ip4[1], ip4[2], ip4[3]}
	if eth0.Attrs().HardwareAddr.String() != wantMAC.String() || epA.MAC.String() != wantMAC.String() || eth0.Attrs().Flags&net.FlagUp == 0 {
		t.Fatalf("eth0 %+v, want mac %s", eth0.Attrs(), wantMAC)
	}
	addrs, _ := h.AddrList(eth0, netlink.FAMILY_V4)
	if len(addrs) != 1 || addrs[0].IPNet.String() != epA.IP.String() {
		t.Fatalf("eth0 addresses %v, want %s", addrs, epA.IP)
	}
	if lo, err := h.LinkByName("lo"); err != nil || lo.Attrs().Flags&net.FlagUp == 0 {
		t.Fatalf("lo %v %v", lo, err)
	}
	routes, _ := h.RouteList(nil, netlink.FAMILY_V4)
	var gw string
	for _, r := range routes {
		if r.Dst == nil || r.Dst.IP.IsUnspecified() {
			gw = r.Gw.String()
		}
	}
	if gw != n.Gateway().String() {
		t.Fatalf("default route via %q, want %s (routes %v)", gw, n.Gateway(), routes)
	}

	// ICMP both ways and TCP from A to a listener in B.
	// Timeouts allow one ARP retry (1 s): on a busy host the first exchange on a new port is
	// sometimes lost (seen with concurrent nftables and namespace churn, hairpin on or off).
	for _, p := range [][2]string{{nsA, epB.IP.Addr().String()}, {nsB, epA.IP.Addr().String()}, {nsA, n.Gateway().String()}} {
		out, err := exec.Command("ip", "netns", "exec", strings.TrimPrefix(p[0], "/run/netns/"), "busybox", "ping", "-c1", "-W3", p[1]).CombinedOutput()
		if err != nil {
			t.Fatalf("ping %s from %s: %v\n%s", p[1], p[0], err, out)
		}
	}
	var ln net.Listener
	if err := InNetNS(nsB, func() (err error) {
		ln, err = net.Listen("tcp", netip.AddrPortFrom(epB.IP.Addr(), 0).String())
		return err
	}); err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		if c, err := ln.Accept(); err == nil {
			c.Write([]byte("hi"))
			c.Close()
		}
	}()
	var got []byte
	if err := InNetNS(nsA, func() error {
		c, err := net.DialTimeout("tcp", ln.Addr().String(), 3*time.Second)
		if err != nil {
			return err
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(3 * time.Second))
		got = make([]byte, 2)
		_, err = c.Read(got)
		return err
	}); err != nil || string(got) != "hi" {
		t.Fatalf("tcp from A to B: %q %v", got, err)
	}
	// The host's own namespace has no route into this test subnet other than the bridge.
	if _, err := net.DialTimeout("tcp", ln.Addr().String(), 3*time.Second); err != nil {
		t.Fatalf("tcp from host via bridge: %v", err)
	}

	// Detach: host veth and peer gone; a second Detach is a no-op.
	for _, ep := range []*network.Endpoint{epA, epB} {
		if err := Detach(ep); err != nil {
			t.Fatal(err)
		}
		if _, err := netlink.LinkByName(ep.HostIfName); !notFound(err) {
			t.Fatalf("%s still there: %v", ep.HostIfName, err)
		}
		if err := Detach(ep); err != nil {
			t.Fatalf("second detach: %v", err)
		}
	}
	if _, err := h.LinkByName("eth0"); !notFound(err) {
		t.Fatalf("eth0 still in namespace: %v", err)
	}
}

func TestAttachConcurrent(t *testing.T) {
	requireRoot(t)
	br, n := testBridge(t)
	eps := make([]*network.Endpoint, 6)
	for i := range eps {
		eps[i] = endpoint(t, n, newNetNS(t))
	}
	errc := make(chan error, len(eps))
	for _, ep := range eps {
		go func() { errc <- Attach(context.Background(), br, ep) }()
	}
	for range eps {
		if err := <-errc; err != nil {
			t.Fatal(err)
		}
	}
	names := map[string]bool{}
	for _, ep := range eps {
		names[ep.HostIfName] = true
	}
	if v := berthVeths(t); len(names) != len(eps) || len(v) < len(eps) {
		t.Fatalf("host veths %v, berth veths %v", names, v)
	}
	for _, ep := range eps {
		if err := Detach(ep); err != nil {
			t.Fatal(err)
		}
	}
}

func TestDetachFindsHostSide(t *testing.T) {
	requireRoot(t)
	br, n := testBridge(t)
	ep := endpoint(t, n, newNetNS(t))
	if err := Attach(context.Background(), br, ep); err != nil {
		t.Fatal(err)
	}
	host := ep.HostIfName
	ep.HostIfName = ""
	if err := Detach(ep); err != nil {
		t.Fatal(err)
	}
	if _, err := netlink.LinkByName(host); !notFound(err) {
		t.Fatalf("%s still there: %v", host, err)
	}
	// A veth of another container is refused.
	other := endpoint(t, n, newNetNS(t))
	if err := Attach(context.Background(), br, other); err != nil {
		t.Fatal(err)
	}
	defer Detach(other)
	wrong := *other
	wrong.ContainerID = "someone-else"
	if err := Detach(&wrong); !errdefs.IsConflict(err) {
		t.Fatalf("detach with wrong owner: %v", err)
	}
}

func TestAttachFailureLeavesNothing(t *testing.T) {
	requireRoot(t)
	br, n := testBridge(t)
	ctx := context.Background()
	nsPath := newNetNS(t)
	links := func() []string {
		ls, _ := netlink.LinkList()
		var names []string
		for _, l := range ls {
			// Only this test's veths: other tests and a running berthd make their own meanwhile.
			// (A leaked pair would also show as extra links in the namespace, checked below.)
			id, _ := strings.CutPrefix(l.Attrs().Alias, AliasPrefix)
			if _, ours := testIDs.Load(id); ours {
				names = append(names, l.Attrs().Name)
			}
		}
		slices.Sort(names)
		return names
	}
	before := links()

	bad := endpoint(t, n, "/run/netns/does-not-exist-"+randHex())
	if err := Attach(ctx, br, bad); err == nil || !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("bad netns: %v", err)
	}

	// Gateway outside the subnet: the route fails after the veth pair exists.
	ep := endpoint(t, n, nsPath)
	ep.Gateway = netip.MustParseAddr("192.0.2.1")
	if err := Attach(ctx, br, ep); err == nil {
		t.Fatal("unreachable gateway accepted")
	}

	// The interface name is taken inside the namespace.
	run(t, "ip", "-n", strings.TrimPrefix(nsPath, "/run/netns/"), "link", "add", "eth0", "type", "veth", "peer", "name", "eth9")
	ep = endpoint(t, n, nsPath)
	if err := Attach(ctx, br, ep); err == nil {
		t.Fatal("duplicate eth0 accepted")
	}

	if err := Attach(ctx, "bt-missing", endpoint(t, n, nsPath)); !errdefs.IsNotFound(err) {
		t.Fatalf("missing bridge: %v", err)
	}
	if err := Attach(ctx, br, &network.Endpoint{NetNSPath: nsPath, IfName: "eth1"}); !errdefs.IsInvalidParameter(err) {
		t.Fatalf("endpoint without address: %v", err)
	}
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if err := Attach(cctx, br, endpoint(t, n, nsPath)); !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled context: %v", err)
	}

	if after := links(); !slices.Equal(before, after) {
		t.Fatalf("veths left: before %v after %v", before, after)
	}
	h := nsHandle(t, nsPath)
	if ls, _ := h.LinkList(); len(ls) != 3 { // lo and the eth0-eth9 pair
		t.Fatalf("namespace links: %d", len(ls))
	}
}

func TestSetupLoopback(t *testing.T) {
	requireRoot(t)
	nsPath := newNetNS(t)
	if err := SetupLoopback(nsPath); err != nil {
		t.Fatal(err)
	}
	if lo, err := nsHandle(t, nsPath).LinkByName("lo"); err != nil || lo.Attrs().Flags&net.FlagUp == 0 {
		t.Fatalf("lo %v %v", lo, err)
	}
	if err := SetupLoopback("/run/netns/does-not-exist-" + randHex()); err == nil {
		t.Fatal("missing namespace accepted")
	}
}

func TestSysctl(t *testing.T) {
	requireRoot(t)
	const fwd = "/proc/sys/net/ipv4/ip_forward"
	orig, err := os.ReadFile(fwd)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.WriteFile(fwd, orig, 0o644) })
	if err := EnableIPForward(); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(fwd); strings.TrimSpace(string(b)) != "1" {
		t.Fatalf("ip_forward = %q", b)
	}
	br, _ := testBridge(t)
	p := "/proc/sys/net/ipv4/conf/" + br + "/route_localnet"
	for _, on := range []bool{true, false} {
		if err := SetRouteLocalnet(br, on); err != nil {
			t.Fatal(err)
		}
		want := map[bool]string{true: "1", false: "0"}[on]
		if b, _ := os.ReadFile(p); strings.TrimSpace(string(b)) != want {
			t.Fatalf("route_localnet = %q, want %s", b, want)
		}
	}
	if err := SetRouteLocalnet("../all", true); err == nil {
		t.Fatal("path in interface name accepted")
	}
}

func TestMACFromIP(t *testing.T) {
	if got := MACFromIP(netip.MustParseAddr("172.17.0.2")).String(); got != "02:42:ac:11:00:02" {
		t.Fatalf("mac %s", got)
	}
}

// BenchmarkAttachDetach measures what attaching a container to a bridge adds to run.
func BenchmarkAttachDetach(b *testing.B) {
	requireRoot(b)
	br, n := testBridge(b)
	nsPath := newNetNS(b)
	ctx := context.Background()
	ep := endpoint(b, n, nsPath)
	b.ResetTimer()
	for b.Loop() {
		e := *ep
		if err := Attach(ctx, br, &e); err != nil {
			b.Fatal(err)
		}
		if err := Detach(&e); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkAttach measures Attach alone, the part on the path of run (Detach happens at removal).
func BenchmarkAttach(b *testing.B) {
	requireRoot(b)
	br, n := testBridge(b)
	nsPath := newNetNS(b)
	ctx := context.Background()
	ep := endpoint(b, n, nsPath)
	for b.Loop() {
		e := *ep
		if err := Attach(ctx, br, &e); err != nil {
			b.Fatal(err)
		}
		b.StopTimer()
		if err := Detach(&e); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
	}
}
