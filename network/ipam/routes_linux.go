package ipam

import (
	"errors"
	"fmt"
	"net/netip"

	"github.com/vishvananda/netlink"
)

// HostRoutes returns the destinations of the host's IPv4 routes (main table), without the default route.
func HostRoutes() ([]netip.Prefix, error) {
	routes, err := netlink.RouteList(nil, netlink.FAMILY_V4)
	// A dump racing with route changes is reported as interrupted: list again.
	for i := 0; i < 5 && errors.Is(err, netlink.ErrDumpInterrupted); i++ {
		routes, err = netlink.RouteList(nil, netlink.FAMILY_V4)
	}
	if err != nil {
		return nil, fmt.Errorf("list host routes: %w", err)
	}
	out := make([]netip.Prefix, 0, len(routes))
	for _, r := range routes {
		if r.Dst == nil {
			continue
		}
		a, ok := netip.AddrFromSlice(r.Dst.IP)
		ones, _ := r.Dst.Mask.Size()
		if !ok || ones == 0 {
			continue
		}
		out = append(out, netip.PrefixFrom(a.Unmap(), ones).Masked())
	}
	return out, nil
}
