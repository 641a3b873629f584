package ipam

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"net/netip"
	"slices"
	"sync"

	"github.com/berth-dev/berth/errdefs"
)

// Pool is a base range split into subnets of Size prefix bits.
type Pool struct {
	Base netip.Prefix `json:"base"`
	Size int          `json:"size"`
}

// DefaultPools returns dockerd's default address pools: 172.17-31.0.0/16, then 192.168.0.0/16 in /20s.
func DefaultPools() []Pool {
	p := make([]Pool, 0, 16)
	for i := 17; i <= 31; i++ {
		p = append(p, Pool{Base: netip.PrefixFrom(netip.AddrFrom4([4]byte{172, byte(i), 0, 0}), 16), Size: 16})
	}
	return append(p, Pool{Base: netip.MustParsePrefix("192.168.0.0/16"), Size: 20})
}

// ErrPoolsExhausted is returned when every subnet of the pools is taken.
var ErrPoolsExhausted = errdefs.New(errdefs.ErrUnavailable,
	"could not find an available, non-overlapping IPv4 address pool among the defaults to assign to the network")

// ErrPoolOverlap is returned when a requested subnet overlaps another network.
var ErrPoolOverlap = errdefs.New(errdefs.ErrForbidden, "Pool overlaps with other one on this address space")

// AllocateSubnet returns the first subnet of pools that overlaps none of avoid.
func AllocateSubnet(pools []Pool, avoid []netip.Prefix) (netip.Prefix, error) {
	for _, p := range pools {
		base := p.Base.Masked()
		if !base.Addr().Is4() || p.Size < base.Bits() || p.Size > 30 {
			return netip.Prefix{}, errdefs.InvalidParameter(fmt.Sprintf("invalid address pool %s with size %d", p.Base, p.Size))
		}
		step := uint64(1) << (32 - p.Size)
		start := uint64(u32(base.Addr()))
		end := start + uint64(1)<<(32-base.Bits())
		for a := start; a < end; a += step {
			cand := netip.PrefixFrom(addr(uint32(a)), p.Size)
			if !overlapsAny(cand, avoid) {
				return cand, nil
			}
		}
	}
	return netip.Prefix{}, ErrPoolsExhausted
}

func overlapsAny(p netip.Prefix, set []netip.Prefix) bool {
	for _, q := range set {
		if q.IsValid() && p.Overlaps(q) {
			return true
		}
	}
	return false
}

// Config is a network's requested addressing (--subnet, --ip-range, --gateway).
type Config struct {
	Subnet  netip.Prefix
	IPRange netip.Prefix // optional: the range dynamic addresses come from
	Gateway netip.Addr   // optional: defaults to the subnet's first address
}

// Network hands out addresses in one subnet; it is safe for concurrent use.
type Network struct {
	mu      sync.Mutex
	subnet  netip.Prefix
	ipRange netip.Prefix
	gateway netip.Addr
	used    map[uint32]struct{}
	last    uint32 // most recent dynamic allocation: allocation is serial, like docker's
}

// NewNetwork validates cfg against the subnets of other networks and reserves the gateway.
func NewNetwork(cfg Config, others []netip.Prefix) (*Network, error) {
	s := cfg.Subnet
	switch {
	case !s.IsValid():
		return nil, errdefs.InvalidParameter("invalid network config: subnet is required")
	case !s.Addr().Is4():
		return nil, errdefs.InvalidParameter(fmt.Sprintf("invalid subnet %s: only IPv4 is supported", s))
	case s != s.Masked():
		return nil, errdefs.InvalidParameter(fmt.Sprintf("invalid subnet %s: it should be %s", s, s.Masked()))
	case s.Bits() > 30:
		return nil, errdefs.InvalidParameter(fmt.Sprintf("invalid subnet %s: too small, the prefix length must be at most 30", s))
	case overlapsAny(s, others):
		return nil, ErrPoolOverlap
	}
	n := &Network{subnet: s, used: make(map[uint32]struct{})}
	if r := cfg.IPRange; r.IsValid() {
		if !r.Addr().Is4() || r.Bits() < s.Bits() || !s.Contains(r.Addr()) {
			return nil, errdefs.InvalidParameter(fmt.Sprintf("no matching subnet for range %s", r))
		}
		if r != r.Masked() {
			return nil, errdefs.InvalidParameter(fmt.Sprintf("invalid ip-range %s: it should be %s", r, r.Masked()))
		}
		if first, last := n.dynamicBounds(r); first > last {
			return nil, errdefs.InvalidParameter(fmt.Sprintf("invalid ip-range %s: it holds no usable address", r))
		}
		n.ipRange = r
	}
	gw := cfg.Gateway.Unmap()
	if !gw.IsValid() {
		gw = s.Addr().Next()
	} else if !s.Contains(gw) {
		return nil, errdefs.InvalidParameter(fmt.Sprintf("no matching subnet for gateway %s", gw))
	} else if n.reservedEdge(u32(gw)) {
		return nil, errdefs.InvalidParameter(fmt.Sprintf("invalid gateway %s: it is the network or broadcast address of %s", gw, s))
	}
	n.gateway = gw
	n.used[u32(gw)] = struct{}{}
	return n, nil
}

// Subnet returns the network's subnet.
func (n *Network) Subnet() netip.Prefix { return n.subnet }

// IPRange returns the dynamic range, or the zero prefix when the whole subnet is used.
func (n *Network) IPRange() netip.Prefix { return n.ipRange }

// Gateway returns the gateway address, which is always reserved.
func (n *Network) Gateway() netip.Addr { return n.gateway }

// Allocate reserves preferred (--ip) when valid, else the next free address of the ip-range or subnet.
func (n *Network) Allocate(preferred netip.Addr) (netip.Addr, error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if preferred.IsValid() {
		preferred = preferred.Unmap()
		v := u32(preferred)
		if !preferred.Is4() || !n.subnet.Contains(preferred) || n.reservedEdge(v) {
			return netip.Addr{}, errdefs.InvalidParameter(fmt.Sprintf("no configured subnet or ip-range contain the IP address %s", preferred))
		}
		if _, ok := n.used[v]; ok {
			return netip.Addr{}, errdefs.Conflict("Address already in use")
		}
		n.used[v] = struct{}{}
		return preferred, nil
	}
	r := n.ipRange
	if !r.IsValid() {
		r = n.subnet
	}
	first, last := n.dynamicBounds(r)
	a := n.last + 1
	for range uint64(last-first) + 1 {
		if a < first || a > last {
			a = first
		}
		if _, ok := n.used[a]; !ok {
			n.used[a] = struct{}{}
			n.last = a
			return addr(a), nil
		}
		a++
	}
	return netip.Addr{}, errdefs.New(errdefs.ErrUnavailable, fmt.Sprintf("no available IPv4 addresses on this network's address pools: %s", r))
}

// Release frees a; releasing a free address does nothing, the gateway cannot be released.
func (n *Network) Release(a netip.Addr) error {
	a = a.Unmap()
	if a == n.gateway {
		return errdefs.InvalidParameter(fmt.Sprintf("cannot release gateway address %s", a))
	}
	if !a.Is4() || !n.subnet.Contains(a) {
		return errdefs.InvalidParameter(fmt.Sprintf("address %s is not in subnet %s", a, n.subnet))
	}
	n.mu.Lock()
	delete(n.used, u32(a))
	n.mu.Unlock()
	return nil
}

// InUse reports whether a is allocated (the gateway always is).
func (n *Network) InUse(a netip.Addr) bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	_, ok := n.used[u32(a.Unmap())]
	return ok && a.Unmap().Is4()
}

// Allocated returns the allocated addresses in order, without the gateway.
func (n *Network) Allocated() []netip.Addr {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.allocatedLocked()
}

func (n *Network) allocatedLocked() []netip.Addr {
	gw := u32(n.gateway)
	vs := make([]uint32, 0, len(n.used))
	for v := range n.used {
		if v != gw {
			vs = append(vs, v)
		}
	}
	slices.Sort(vs)
	out := make([]netip.Addr, len(vs))
	for i, v := range vs {
		out[i] = addr(v)
	}
	return out
}

// dynamicBounds returns the first and last address of r usable for containers.
func (n *Network) dynamicBounds(r netip.Prefix) (first, last uint32) {
	sFirst, sLast := bounds(n.subnet)
	first, last = bounds(r)
	return max(first, sFirst+1), min(last, sLast-1)
}

// reservedEdge reports whether v is the subnet's network or broadcast address.
func (n *Network) reservedEdge(v uint32) bool {
	first, last := bounds(n.subnet)
	return v == first || v == last
}

type state struct {
	Subnet    netip.Prefix
	IPRange   netip.Prefix `json:",omitzero"`
	Gateway   netip.Addr
	Allocated []netip.Addr
	Last      netip.Addr `json:",omitzero"`
}

// MarshalJSON encodes the configuration and allocations.
func (n *Network) MarshalJSON() ([]byte, error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	st := state{Subnet: n.subnet, IPRange: n.ipRange, Gateway: n.gateway, Allocated: n.allocatedLocked()}
	if n.last != 0 {
		st.Last = addr(n.last)
	}
	return json.Marshal(st)
}

// UnmarshalJSON restores a Network written by MarshalJSON, validating it again.
func (n *Network) UnmarshalJSON(b []byte) error {
	var st state
	if err := json.Unmarshal(b, &st); err != nil {
		return err
	}
	nn, err := NewNetwork(Config{Subnet: st.Subnet, IPRange: st.IPRange, Gateway: st.Gateway}, nil)
	if err != nil {
		return err
	}
	for _, a := range st.Allocated {
		if _, err := nn.Allocate(a); err != nil {
			return fmt.Errorf("restore %s: %w", a, err)
		}
	}
	if st.Last.IsValid() {
		nn.last = u32(st.Last)
	}
	n.subnet, n.ipRange, n.gateway, n.used, n.last = nn.subnet, nn.ipRange, nn.gateway, nn.used, nn.last
	return nil
}

func bounds(p netip.Prefix) (first, last uint32) {
	first = u32(p.Masked().Addr())
	return first, first | uint32(uint64(1)<<(32-p.Bits())-1)
}

func u32(a netip.Addr) uint32 {
	if !a.Is4() {
		return 0
	}
	b := a.As4()
	return binary.BigEndian.Uint32(b[:])
}

func addr(v uint32) netip.Addr {
	var b [4]byte
	binary.BigEndian.PutUint32(b[:], v)
	return netip.AddrFrom4(b)
}
