package network

import (
	"context"
	"net"
	"net/netip"
)

// Endpoint is one container's interface on one network.
type Endpoint struct {
	ContainerID string           // owner, recorded on the host-side interface
	NetNSPath   string           // the container's network namespace, e.g. /proc/<pid>/ns/net
	IfName      string           // interface name inside the namespace, e.g. eth0
	HostIfName  string           // host-side interface name, set by Attach
	MAC         net.HardwareAddr // derived from IP when empty
	IP          netip.Prefix     // address with the network's prefix length
	Gateway     netip.Addr       // default route; none when invalid
}

// Driver connects endpoints to one network.
type Driver interface {
	// Attach creates the endpoint's interface; on error nothing is left behind.
	Attach(ctx context.Context, ep *Endpoint) error
	// Detach removes the endpoint's interface; a missing interface is not an error.
	Detach(ctx context.Context, ep *Endpoint) error
}
