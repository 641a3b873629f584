package bridge

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"strings"

	"github.com/berth-dev/berth/errdefs"
	"github.com/berth-dev/berth/network"
	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// Alias marks bridges Berth created; host-side veths carry AliasPrefix plus the container ID.
const (
	Alias       = "berth"
	AliasPrefix = "berth:"
)

const netlinkRoute = unix.NETLINK_ROUTE

// Driver attaches endpoints to the Linux bridge named Bridge.
type Driver struct{ Bridge string }

var _ network.Driver = (*Driver)(nil)

// Attach connects ep to the driver's bridge.
func (d *Driver) Attach(ctx context.Context, ep *network.Endpoint) error {
	return Attach(ctx, d.Bridge, ep)
}

// Detach removes ep's veth pair.
func (d *Driver) Detach(_ context.Context, ep *network.Endpoint) error { return Detach(ep) }

// retryDump repeats a netlink dump that the kernel interrupted because the table changed meanwhile.
func retryDump[T any](dump func() ([]T, error)) ([]T, error) {
	for i := 0; ; i++ {
		v, err := dump()
		if !errors.Is(err, netlink.ErrDumpInterrupted) || i == 9 {
			return v, err
		}
	}
}

func notFound(err error) bool {
	var nf netlink.LinkNotFoundError
	return errors.As(err, &nf)
}

// ours returns the bridge called name if Berth created it.
func ours(name string) (netlink.Link, error) {
	l, err := netlink.LinkByName(name)
	if err != nil {
		return nil, err
	}
	if l.Type() != "bridge" || l.Attrs().Alias != Alias {
		return nil, errdefs.Conflict(fmt.Sprintf("interface %s exists and is not a bridge created by berth", name))
	}
	return l, nil
}

// EnsureBridge creates the bridge (or adopts Berth's existing one), gives it address gw
// (removing any other IPv4 address), sets mtu when > 0 and brings it up.
func EnsureBridge(name string, gw netip.Prefix, mtu int) (err error) {
	if !gw.Addr().Is4() {
		return errdefs.InvalidParameter(fmt.Sprintf("bridge %s: invalid gateway %s", name, gw))
	}
	l, err := ours(name)
	if notFound(err) {
		attrs := netlink.NewLinkAttrs()
		attrs.Name, attrs.MTU = name, max(mtu, 0)
		if err := netlink.LinkAdd(&netlink.Bridge{LinkAttrs: attrs}); err != nil {
			return fmt.Errorf("create bridge %s: %w", name, err)
		}
		defer func() {
			if err != nil {
				netlink.LinkDel(&netlink.Bridge{LinkAttrs: attrs})
			}
		}()
		// The kernel ignores IFLA_IFALIAS when creating a link: mark it right after.
		if err = netlink.LinkSetAlias(&netlink.Bridge{LinkAttrs: attrs}, Alias); err == nil {
			l, err = netlink.LinkByName(name)
		}
	}
	if err != nil {
		return fmt.Errorf("bridge %s: %w", name, err)
	}
	if mtu > 0 && l.Attrs().MTU != mtu {
		if err := netlink.LinkSetMTU(l, mtu); err != nil {
			return fmt.Errorf("bridge %s: set mtu %d: %w", name, mtu, err)
		}
	}
	addrs, err := retryDump(func() ([]netlink.Addr, error) { return netlink.AddrList(l, netlink.FAMILY_V4) })
	if err != nil {
		return fmt.Errorf("bridge %s: list addresses: %w", name, err)
	}
	want := ipNet(gw)
	have := false
	for _, a := range addrs {
		if a.IPNet.String() == want.String() {
			have = true
			continue
		}
		if err := netlink.AddrDel(l, &a); err != nil {
			return fmt.Errorf("bridge %s: remove address %s: %w", name, a.IPNet, err)
		}
	}
	if !have {
		if err := netlink.AddrAdd(l, &netlink.Addr{IPNet: want}); err != nil {
			return fmt.Errorf("bridge %s: add address %s: %w", name, gw, err)
		}
	}
	if err := netlink.LinkSetUp(l); err != nil {
		return fmt.Errorf("bridge %s: set up: %w", name, err)
	}
	return nil
}

// DeleteBridge removes a bridge Berth created; a missing bridge is not an error.
func DeleteBridge(name string) error {
	l, err := ours(name)
	if notFound(err) {
		return nil
	}
	if err != nil {
		return err
	}
	if err := netlink.LinkDel(l); err != nil && !notFound(err) {
		return fmt.Errorf("delete bridge %s: %w", name, err)
	}
	return nil
}

// MACFromIP returns docker's MAC for an IPv4 address: 02:42 followed by the address.
func MACFromIP(ip netip.Addr) net.HardwareAddr {
	b := ip.Unmap().As4()
	return net.HardwareAddr{0x02, 0x42, b[0], b[1], b[2], b[3]}
}

func ipNet(p netip.Prefix) *net.IPNet {
	return &net.IPNet{IP: p.Addr().AsSlice(), Mask: net.CIDRMask(p.Bits(), p.Addr().BitLen())}
}

// Attach creates a veth pair, plugs the host side (veth + random suffix) into bridge and
// moves the peer into ep.NetNSPath as ep.IfName with ep's MAC, address and default route.
// It fills ep.HostIfName (and ep.MAC when empty). On error nothing is left behind.
func Attach(ctx context.Context, bridge string, ep *network.Endpoint) (err error) {
	if err := ctx.Err(); err != nil {
		return err
	}
	if !ep.IP.Addr().Is4() || ep.IfName == "" || ep.NetNSPath == "" {
		return errdefs.InvalidParameter(fmt.Sprintf("invalid endpoint: ip %s, interface %q, netns %q", ep.IP, ep.IfName, ep.NetNSPath))
	}
	br, err := ours(bridge)
	if notFound(err) {
		return errdefs.NotFound(fmt.Sprintf("bridge %s not found", bridge))
	}
	if err != nil {
		return fmt.Errorf("attach to bridge %s: %w", bridge, err)
	}
	ns, err := netns.GetFromPath(ep.NetNSPath)
	if err != nil {
		return fmt.Errorf("open network namespace %s: %w", ep.NetNSPath, err)
	}
	defer ns.Close()
	mac := ep.MAC
	if len(mac) == 0 {
		mac = MACFromIP(ep.IP.Addr())
	}

	var host netlink.Link
	for range 3 {
		attrs := netlink.NewLinkAttrs()
		attrs.Name, attrs.MTU = "veth"+randHex(), br.Attrs().MTU
		veth := &netlink.Veth{LinkAttrs: attrs, PeerName: ep.IfName, PeerHardwareAddr: mac, PeerNamespace: netlink.NsFd(ns)}
		if err = netlink.LinkAdd(veth); !errors.Is(err, unix.EEXIST) {
			host = veth
			break
		}
	}
	if err != nil {
		if host != nil {
			netlink.LinkDel(host) // in case the kernel made it before failing
		}
		// EEXIST here may also mean ep.IfName is taken inside the namespace.
		return fmt.Errorf("create veth pair for %s: %w", ep.IfName, err)
	}
	defer func() {
		if err != nil {
			netlink.LinkDel(host)
		}
	}()
	if err := netlink.LinkSetAlias(host, AliasPrefix+ep.ContainerID); err != nil {
		return fmt.Errorf("mark %s: %w", host.Attrs().Name, err)
	}
	if err := netlink.LinkSetMasterByIndex(host, br.Attrs().Index); err != nil {
		return fmt.Errorf("attach %s to %s: %w", host.Attrs().Name, bridge, err)
	}
	// Hairpin: a DNATed packet bridged back out of the port it came in on (a container
	// reaching its own published port through the host's address, with br_netfilter).
	if err := netlink.LinkSetHairpin(host, true); err != nil {
		return fmt.Errorf("set hairpin mode on %s: %w", host.Attrs().Name, err)
	}

	h, err := handleIn(ns)
	if err != nil {
		return err
	}
	defer h.Close()
	if err := configurePeer(h, ep); err != nil {
		return fmt.Errorf("configure %s in %s: %w", ep.IfName, ep.NetNSPath, err)
	}
	if err := netlink.LinkSetUp(host); err != nil {
		return fmt.Errorf("set %s up: %w", host.Attrs().Name, err)
	}
	ep.HostIfName, ep.MAC = host.Attrs().Name, mac
	return nil
}

func configurePeer(h *netlink.Handle, ep *network.Endpoint) error {
	peer, err := h.LinkByName(ep.IfName)
	if err != nil {
		return err
	}
	if err := h.AddrAdd(peer, &netlink.Addr{IPNet: ipNet(ep.IP)}); err != nil {
		return fmt.Errorf("add address %s: %w", ep.IP, err)
	}
	if err := h.LinkSetUp(peer); err != nil {
		return err
	}
	if err := setLoUp(h); err != nil {
		return err
	}
	if ep.Gateway.IsValid() {
		r := &netlink.Route{LinkIndex: peer.Attrs().Index, Gw: ep.Gateway.AsSlice()}
		if err := h.RouteAdd(r); err != nil {
			return fmt.Errorf("add default route via %s: %w", ep.Gateway, err)
		}
	}
	return nil
}

func setLoUp(h *netlink.Handle) error {
	lo, err := h.LinkByName("lo")
	if err == nil {
		err = h.LinkSetUp(lo)
	}
	if err != nil {
		return fmt.Errorf("set lo up: %w", err)
	}
	return nil
}

// Detach deletes ep's host-side veth, which removes its peer; a missing veth is not an error.
// Without ep.HostIfName it finds the host side through the peer ep.IfName in ep.NetNSPath.
func Detach(ep *network.Endpoint) error {
	var l netlink.Link
	var err error
	if ep.HostIfName != "" {
		l, err = netlink.LinkByName(ep.HostIfName)
	} else {
		l, err = hostSide(ep)
	}
	if notFound(err) || errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("detach %s: %w", ep.ContainerID, err)
	}
	if l.Type() != "veth" || l.Attrs().Alias != AliasPrefix+ep.ContainerID {
		return errdefs.Conflict(fmt.Sprintf("interface %s is not berth's veth for %s", l.Attrs().Name, ep.ContainerID))
	}
	if err := netlink.LinkDel(l); err != nil && !notFound(err) {
		return fmt.Errorf("delete %s: %w", l.Attrs().Name, err)
	}
	return nil
}

// hostSide finds the host end of the veth whose peer is ep.IfName inside ep.NetNSPath.
func hostSide(ep *network.Endpoint) (netlink.Link, error) {
	ns, err := netns.GetFromPath(ep.NetNSPath)
	if err != nil {
		return nil, err
	}
	defer ns.Close()
	h, err := handleIn(ns)
	if err != nil {
		return nil, err
	}
	defer h.Close()
	peer, err := h.LinkByName(ep.IfName)
	if err != nil {
		return nil, err
	}
	if peer.Type() != "veth" || peer.Attrs().ParentIndex == 0 {
		return nil, errdefs.Conflict(fmt.Sprintf("interface %s in %s is not a veth", ep.IfName, ep.NetNSPath))
	}
	return netlink.LinkByIndex(peer.Attrs().ParentIndex)
}

// Veths returns berth's host-side veths, name to container ID, to find leftovers after a restart.
func Veths() (map[string]string, error) {
	links, err := retryDump(netlink.LinkList)
	if err != nil {
		return nil, fmt.Errorf("list links: %w", err)
	}
	out := make(map[string]string)
	for _, l := range links {
		if id, ok := strings.CutPrefix(l.Attrs().Alias, AliasPrefix); ok && l.Type() == "veth" {
			out[l.Attrs().Name] = id
		}
	}
	return out, nil
}

// SetupLoopback brings lo up inside the network namespace at nsPath.
func SetupLoopback(nsPath string) error {
	ns, err := netns.GetFromPath(nsPath)
	if err != nil {
		return fmt.Errorf("open network namespace %s: %w", nsPath, err)
	}
	defer ns.Close()
	h, err := handleIn(ns)
	if err != nil {
		return err
	}
	defer h.Close()
	return setLoUp(h)
}

func randHex() string {
	var b [4]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])[:7]
}
