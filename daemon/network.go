package daemon

import (
	"context"
	"fmt"
	"net/netip"
	"regexp"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/berth-dev/berth/errdefs"
	"github.com/berth-dev/berth/metadata"
	"github.com/berth-dev/berth/network/bridge"
	"github.com/berth-dev/berth/network/dns"
	"github.com/berth-dev/berth/network/ipam"
	"github.com/berth-dev/berth/network/nft"
	"github.com/moby/moby/api/types/events"
	"github.com/moby/moby/api/types/network"
	"github.com/vishvananda/netlink"
)

const bucketNetworks = "networks"

// Network drivers Berth knows; "host" and "null" back the predefined host and none networks.
const (
	driverBridge = "bridge"
	driverHost   = "host"
	driverNull   = "null"
)

// Docker's options for the bridge driver that Berth honours.
const (
	optBridgeName = "com.docker.network.bridge.name"
	optMTU        = "com.docker.network.driver.mtu"
)

var validNetworkName = regexp.MustCompile(`^[a-zA-Z0-9][a-zA-Z0-9_.-]*$`)

// netRecord is one network, persisted in the networks bucket. The addresses in use are
// not persisted: they are rebuilt from the running containers' endpoints at start.
type netRecord struct {
	ID         string
	Name       string
	Driver     string
	Created    time.Time
	Internal   bool              `json:",omitempty"`
	Attachable bool              `json:",omitempty"`
	Labels     map[string]string `json:",omitempty"`
	Options    map[string]string `json:",omitempty"`
	Bridge     string            `json:",omitempty"`
	MTU        int               `json:",omitempty"`
	Subnet     netip.Prefix      `json:",omitzero"`
	IPRange    netip.Prefix      `json:",omitzero"`
	Gateway    netip.Addr        `json:",omitzero"`
	UserSubnet bool              `json:",omitempty"` // --subnet was given: --ip is allowed
	Predefined bool              `json:",omitempty"` // bridge, host, none

	pool   *ipam.Network
	active map[string]bool // containers with a live endpoint here
	dns    bool            // the embedded DNS server listens on the gateway
}

func (n *netRecord) isBridge() bool { return n.Driver == driverBridge }

// initNetworks loads the networks, creates the predefined ones on first start and brings
// every bridge, its rules and its DNS listener up (all idempotent, so a restart or a
// reboot ends in the same state).
func (d *Daemon) initNetworks() error {
	d.networks = map[string]*netRecord{}
	d.portSocks = map[string][]*portSock{}
	recs, err := metadata.List[netRecord](d.db, bucketNetworks)
	if err != nil {
		return fmt.Errorf("load networks: %w", err)
	}
	for i := range recs {
		d.networks[recs[i].ID] = &recs[i]
	}
	srv, err := dns.New("/etc/resolv.conf")
	if err != nil {
		return err
	}
	d.dns = srv
	if err := bridge.EnableIPForward(); err != nil {
		return err
	}
	if err := nft.Init(); err != nil {
		return fmt.Errorf("nftables: %w", err)
	}
	for _, def := range []struct{ name, driver string }{{"bridge", driverBridge}, {"host", driverHost}, {"none", driverNull}} {
		if d.networkByNameLocked(def.name) != nil {
			continue
		}
		n := &netRecord{ID: newID(), Name: def.name, Driver: def.driver, Created: time.Now().UTC(), Predefined: true}
		if def.driver == driverBridge {
			if err := d.defaultBridgeAddressing(n); err != nil {
				return err
			}
		}
		if err := d.db.Put(bucketNetworks, n.ID, n); err != nil {
			return err
		}
		d.networks[n.ID] = n
	}
	for _, n := range d.networks {
		if err := d.bringUp(n); err != nil {
			return fmt.Errorf("network %s: %w", n.Name, err)
		}
	}
	return nil
}

// defaultBridgeAddressing picks the default bridge's name and subnet: --bip when set,
// else 172.17.0.0/16 unless a host route overlaps it, else the first free pool subnet.
func (d *Daemon) defaultBridgeAddressing(n *netRecord) error {
	n.Bridge = d.cfg.DefaultBridge
	if n.Bridge == "" {
		n.Bridge = "berth0"
	}
	n.Options = map[string]string{optBridgeName: n.Bridge}
	if d.cfg.Bip.IsValid() {
		n.Subnet, n.Gateway = d.cfg.Bip.Masked(), d.cfg.Bip.Addr()
		return nil
	}
	avoid, err := d.takenSubnets(true)
	if err != nil {
		return err
	}
	s, err := ipam.AllocateSubnet(d.pools(), avoid)
	if err != nil {
		return err
	}
	n.Subnet = s
	return nil
}

func (d *Daemon) pools() []ipam.Pool {
	if len(d.cfg.AddressPools) > 0 {
		return d.cfg.AddressPools
	}
	return ipam.DefaultPools()
}

// takenSubnets lists the subnets of Berth's networks, and with host also the host's
// routes (except those of Berth's own bridges, which are already counted).
func (d *Daemon) takenSubnets(host bool) ([]netip.Prefix, error) {
	var out []netip.Prefix
	for _, n := range d.networks {
		if n.Subnet.IsValid() {
			out = append(out, n.Subnet)
		}
	}
	if host {
		routes, err := ipam.HostRoutes()
		if err != nil {
			return nil, err
		}
		out = append(out, routes...)
	}
	return out, nil
}

// bringUp makes a bridge network's kernel state exist: bridge, nftables rules and the
// DNS listener on its gateway. Host and none networks have nothing to bring up.
func (d *Daemon) bringUp(n *netRecord) (err error) {
	n.active = map[string]bool{}
	if !n.isBridge() {
		return nil
	}
	pool, err := ipam.NewNetwork(ipam.Config{Subnet: n.Subnet, IPRange: n.IPRange, Gateway: n.Gateway}, nil)
	if err != nil {
		return err
	}
	n.pool, n.Gateway = pool, pool.Gateway()
	if err := bridge.EnsureBridge(n.Bridge, netip.PrefixFrom(n.Gateway, n.Subnet.Bits()), n.MTU); err != nil {
		return err
	}
	if err := nft.AddNetwork(n.Bridge, n.Subnet, n.Internal); err != nil {
		return err
	}
	// Another resolver may hold port 53 on every address; then containers use the host's
	// resolvers directly and names do not resolve (logged, not fatal).
	if err := d.dns.Listen(n.Name, netip.AddrPortFrom(n.Gateway, 53)); err != nil {
		d.log.Warn("embedded DNS unavailable", "network", n.Name, "err", err)
	} else {
		n.dns = true
		d.dns.SetSubnets(n.Name, n.Subnet)
	}
	return nil
}

// tearDown removes a bridge network's kernel state; errors are logged, not returned, so
// that removal always completes.
func (d *Daemon) tearDown(n *netRecord) {
	if !n.isBridge() {
		return
	}
	d.dns.Close(n.Name)
	if err := nft.RemoveNetwork(n.Bridge); err != nil {
		d.log.Warn("remove network rules", "network", n.Name, "err", err)
	}
	if err := bridge.DeleteBridge(n.Bridge); err != nil {
		d.log.Warn("delete bridge", "network", n.Name, "err", err)
	}
}

func (d *Daemon) networkByNameLocked(name string) *netRecord {
	for _, n := range d.networks {
		if n.Name == name {
			return n
		}
	}
	return nil
}

// findNetworkLocked resolves a network by full ID, name or unique ID prefix, as dockerd does.
func (d *Daemon) findNetworkLocked(ref string) (*netRecord, error) {
	if ref == "" {
		return nil, errdefs.InvalidParameter("network name or ID must not be empty")
	}
	if n, ok := d.networks[ref]; ok {
		return n, nil
	}
	if n := d.networkByNameLocked(ref); n != nil {
		return n, nil
	}
	var found *netRecord
	for id, n := range d.networks {
		if strings.HasPrefix(id, ref) {
			if found != nil {
				return nil, errdefs.InvalidParameter(fmt.Sprintf("network %s is ambiguous (%d matches found based on ID prefix)", ref, 2))
			}
			found = n
		}
	}
	if found == nil {
		return nil, errdefs.NotFound(fmt.Sprintf("network %s not found", ref))
	}
	return found, nil
}

// CreateNetwork creates a user-defined bridge network. On error nothing is left behind.
func (d *Daemon) CreateNetwork(ctx context.Context, req network.CreateRequest) (network.CreateResponse, error) {
	if req.Name == "" {
		return network.CreateResponse{}, errdefs.InvalidParameter("network name is required")
	}
	if !validNetworkName.MatchString(req.Name) {
		return network.CreateResponse{}, errdefs.InvalidParameter(fmt.Sprintf("invalid network name %q: only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed", req.Name))
	}
	switch req.Driver {
	case "", driverBridge:
	case driverHost, driverNull:
		return network.CreateResponse{}, errdefs.Forbidden(fmt.Sprintf("only one instance of %q network is allowed", req.Driver))
	default:
		return network.CreateResponse{}, errdefs.NotFound(fmt.Sprintf("could not find plugin %s in v1 plugin registry: plugin not found", req.Driver))
	}
	if req.EnableIPv6 != nil && *req.EnableIPv6 {
		return network.CreateResponse{}, errdefs.InvalidParameter("IPv6 networks are not supported by Berth")
	}
	if req.EnableIPv4 != nil && !*req.EnableIPv4 {
		return network.CreateResponse{}, errdefs.InvalidParameter("IPv4 cannot be disabled: Berth's networks are IPv4 only")
	}
	if req.Ingress || req.ConfigOnly || req.ConfigFrom != nil && req.ConfigFrom.Network != "" {
		return network.CreateResponse{}, errdefs.InvalidParameter("swarm networks (ingress, config-only, config-from) are not supported")
	}
	if req.Scope != "" && req.Scope != "local" {
		return network.CreateResponse{}, errdefs.InvalidParameter(fmt.Sprintf("scope %q is not supported: only local networks exist", req.Scope))
	}
	var cfg ipam.Config
	if req.IPAM != nil {
		if req.IPAM.Driver != "" && req.IPAM.Driver != "default" {
			return network.CreateResponse{}, errdefs.NotFound(fmt.Sprintf("could not find plugin %s in v1 plugin registry: plugin not found", req.IPAM.Driver))
		}
		if len(req.IPAM.Config) > 1 {
			return network.CreateResponse{}, errdefs.InvalidParameter("Berth supports one IPv4 subnet per network")
		}
		if len(req.IPAM.Config) == 1 {
			c := req.IPAM.Config[0]
			if len(c.AuxAddress) > 0 {
				return network.CreateResponse{}, errdefs.InvalidParameter("auxiliary addresses are not supported")
			}
			if !c.Subnet.IsValid() && (c.IPRange.IsValid() || c.Gateway.IsValid()) {
				return network.CreateResponse{}, errdefs.InvalidParameter("invalid network config: subnet is required when an ip-range or gateway is given")
			}
			cfg = ipam.Config{Subnet: c.Subnet, IPRange: c.IPRange, Gateway: c.Gateway}
		}
	}
	n := &netRecord{
		ID: newID(), Name: req.Name, Driver: driverBridge, Created: time.Now().UTC(),
		Internal: req.Internal, Attachable: req.Attachable, Labels: req.Labels, Options: req.Options,
	}
	n.Bridge = "br-" + n.ID[:12]
	for k, v := range req.Options {
		switch k {
		case optBridgeName:
			if v == "" || len(v) > 15 || strings.ContainsAny(v, "/ \t\n\x00:") {
				return network.CreateResponse{}, errdefs.InvalidParameter(fmt.Sprintf("invalid bridge name %q: at most 15 characters, no spaces, '/' or ':'", v))
			}
			n.Bridge = v
		case optMTU:
			mtu := 0
			if _, err := fmt.Sscan(v, &mtu); err != nil || mtu < 68 || mtu > 65535 {
				return network.CreateResponse{}, errdefs.InvalidParameter(fmt.Sprintf("invalid MTU %q: must be between 68 and 65535", v))
			}
			n.MTU = mtu
		}
	}

	d.netMu.Lock()
	defer d.netMu.Unlock()
	if d.networkByNameLocked(req.Name) != nil {
		return network.CreateResponse{}, errdefs.Conflict(fmt.Sprintf("network with name %s already exists", req.Name))
	}
	for _, o := range d.networks {
		if o.Bridge != "" && o.Bridge == n.Bridge {
			return network.CreateResponse{}, errdefs.Conflict(fmt.Sprintf("bridge name %s is already used by network %s", n.Bridge, o.Name))
		}
	}
	if _, err := netlink.LinkByName(n.Bridge); err == nil {
		return network.CreateResponse{}, errdefs.Conflict(fmt.Sprintf("a network interface named %s already exists on the host", n.Bridge))
	}
	others, err := d.takenSubnets(false)
	if err != nil {
		return network.CreateResponse{}, err
	}
	if cfg.Subnet.IsValid() {
		if _, err := ipam.NewNetwork(cfg, others); err != nil {
			return network.CreateResponse{}, err
		}
		n.Subnet, n.IPRange, n.Gateway, n.UserSubnet = cfg.Subnet, cfg.IPRange, cfg.Gateway, true
	} else {
		avoid, err := d.takenSubnets(true)
		if err != nil {
			return network.CreateResponse{}, err
		}
		if n.Subnet, err = ipam.AllocateSubnet(d.pools(), avoid); err != nil {
			return network.CreateResponse{}, err
		}
	}
	// The record goes first: a crash before the bridge exists is repaired at the next start.
	if err := d.db.Put(bucketNetworks, n.ID, n); err != nil {
		return network.CreateResponse{}, err
	}
	if err := d.bringUp(n); err != nil {
		d.tearDown(n)
		d.db.Delete(bucketNetworks, n.ID)
		return network.CreateResponse{}, err
	}
	d.networks[n.ID] = n
	d.emitNetwork(n, events.ActionCreate, nil)
	return network.CreateResponse{ID: n.ID}, nil
}

// RemoveNetwork deletes a user-defined network that no running container uses.
func (d *Daemon) RemoveNetwork(ctx context.Context, ref string) error {
	d.netMu.Lock()
	defer d.netMu.Unlock()
	n, err := d.findNetworkLocked(ref)
	if err != nil {
		return err
	}
	return d.removeNetworkLocked(n)
}

func (d *Daemon) removeNetworkLocked(n *netRecord) error {
	if n.Predefined {
		return errdefs.Forbidden(fmt.Sprintf("%s is a pre-defined network and cannot be removed", n.Name))
	}
	if len(n.active) > 0 {
		return errdefs.Conflict(fmt.Sprintf("error while removing network: network %s id %s has active endpoints", n.Name, n.ID))
	}
	d.tearDown(n)
	// The record goes last: a crash before this leaves a network that rm can remove again.
	if err := d.db.Delete(bucketNetworks, n.ID); err != nil {
		return err
	}
	delete(d.networks, n.ID)
	d.emitNetwork(n, events.ActionDestroy, nil)
	return nil
}

// PruneNetworks removes the user-defined networks no container uses (running or not).
func (d *Daemon) PruneNetworks(ctx context.Context, f map[string][]string) ([]string, error) {
	for k := range f {
		if k != "until" && k != "label" && k != "label!" {
			return nil, errdefs.InvalidParameter(fmt.Sprintf("invalid filter '%s'", k))
		}
	}
	var until time.Time
	if v := f["until"]; len(v) > 0 {
		t, err := parseUntil(v[0])
		if err != nil {
			return nil, err
		}
		until = t
	}
	used := d.networksInUse()
	d.netMu.Lock()
	defer d.netMu.Unlock()
	var deleted []string
	for _, n := range d.sortedNetworksLocked() {
		if n.Predefined || used[n.ID] || len(n.active) > 0 {
			continue
		}
		if !until.IsZero() && !n.Created.Before(until) {
			continue
		}
		if !labelsMatch(n.Labels, f["label"], f["label!"]) {
			continue
		}
		if err := d.removeNetworkLocked(n); err != nil {
			d.log.Warn("prune network", "network", n.Name, "err", err)
			continue
		}
		deleted = append(deleted, n.Name)
	}
	return deleted, nil
}

// networksInUse returns the IDs of networks any container (running or not) is connected to.
func (d *Daemon) networksInUse() map[string]bool {
	used := map[string]bool{}
	for _, c := range d.allContainers() {
		c.mu.Lock()
		for _, ep := range c.Networks {
			used[ep.NetworkID] = true
		}
		c.mu.Unlock()
	}
	return used
}

func (d *Daemon) sortedNetworksLocked() []*netRecord {
	out := make([]*netRecord, 0, len(d.networks))
	for _, n := range d.networks {
		out = append(out, n)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// ListNetworks returns the networks matching filters (driver, id, label, name, scope,
// type=custom|builtin, dangling).
func (d *Daemon) ListNetworks(ctx context.Context, f map[string][]string) ([]network.Summary, error) {
	for k := range f {
		switch k {
		case "driver", "id", "label", "name", "scope", "type", "dangling":
		default:
			return nil, errdefs.InvalidParameter(fmt.Sprintf("invalid filter '%s'", k))
		}
	}
	for _, t := range f["type"] {
		if t != "custom" && t != "builtin" {
			return nil, errdefs.InvalidParameter(fmt.Sprintf("invalid filter: 'type'='%s'", t))
		}
	}
	var dangling *bool
	if v := f["dangling"]; len(v) > 0 {
		b := v[0] == "true" || v[0] == "1"
		if !b && v[0] != "false" && v[0] != "0" {
			return nil, errdefs.InvalidParameter(fmt.Sprintf("invalid filter 'dangling=%s'", v[0]))
		}
		dangling = &b
	}
	var used map[string]bool
	if dangling != nil {
		used = d.networksInUse()
	}
	d.netMu.Lock()
	defer d.netMu.Unlock()
	out := []network.Summary{}
	for _, n := range d.sortedNetworksLocked() {
		if !anyMatch(f["driver"], func(v string) bool { return v == n.Driver }) ||
			!anyMatch(f["id"], func(v string) bool { return strings.HasPrefix(n.ID, v) }) ||
			!anyMatch(f["name"], func(v string) bool { return strings.Contains(n.Name, v) }) ||
			!anyMatch(f["scope"], func(v string) bool { return v == "local" }) ||
			!anyMatch(f["type"], func(v string) bool { return (v == "builtin") == n.Predefined }) ||
			!labelsMatch(n.Labels, f["label"], nil) {
			continue
		}
		if dangling != nil && *dangling != (!n.Predefined && !used[n.ID]) {
			continue
		}
		out = append(out, network.Summary{Network: n.api()})
	}
	return out, nil
}

// anyMatch reports whether vals is empty or one of them satisfies ok.
func anyMatch(vals []string, ok func(string) bool) bool {
	if len(vals) == 0 {
		return true
	}
	return slices.ContainsFunc(vals, ok)
}

// api returns the network in the Engine API's shape.
func (n *netRecord) api() network.Network {
	out := network.Network{
		Name: n.Name, ID: n.ID, Created: n.Created, Scope: "local", Driver: n.Driver,
		EnableIPv4: n.isBridge(), Internal: n.Internal, Attachable: n.Attachable,
		IPAM:    network.IPAM{Driver: "default", Config: []network.IPAMConfig{}},
		Options: n.Options, Labels: n.Labels,
	}
	if out.Options == nil {
		out.Options = map[string]string{}
	}
	if out.Labels == nil {
		out.Labels = map[string]string{}
	}
	if n.isBridge() {
		out.IPAM.Config = []network.IPAMConfig{{Subnet: n.Subnet, IPRange: n.IPRange, Gateway: n.Gateway}}
	}
	return out
}

// InspectNetwork returns a network with its connected running containers.
func (d *Daemon) InspectNetwork(ctx context.Context, ref string) (network.Inspect, error) {
	d.netMu.Lock()
	n, err := d.findNetworkLocked(ref)
	if err != nil {
		d.netMu.Unlock()
		return network.Inspect{}, err
	}
	out := network.Inspect{Network: n.api(), Containers: map[string]network.EndpointResource{}}
	d.netMu.Unlock()
	for _, c := range d.allContainers() {
		c.mu.Lock()
		if c.running() {
			for _, ep := range c.Networks {
				if ep.NetworkID != n.ID || ep.EndpointID == "" {
					continue
				}
				r := network.EndpointResource{Name: trimSlash(c.Name), EndpointID: ep.EndpointID, MacAddress: ep.MacAddress}
				if ep.IPAddress.IsValid() {
					r.IPv4Address = netip.PrefixFrom(ep.IPAddress, ep.IPPrefixLen)
				}
				out.Containers[c.ID] = r
			}
		}
		c.mu.Unlock()
	}
	return out, nil
}

func (d *Daemon) emitNetwork(n *netRecord, action events.Action, attrs map[string]string) {
	a := map[string]string{"name": n.Name, "type": n.Driver}
	for k, v := range attrs {
		a[k] = v
	}
	d.emitRaw(events.NetworkEventType, action, n.ID, a)
}

// watchForward re-adds the accept rules of Berth's bridges to the ip filter FORWARD chain
// when another engine (dockerd) creates that chain, with a drop policy, after Berth set
// its networks up: without them that policy would cut the bridges' forwarded traffic.
func (d *Daemon) watchForward(done <-chan struct{}, every time.Duration) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-done:
			return
		case <-t.C:
			d.reconcileForward()
		}
	}
}

func (d *Daemon) reconcileForward() {
	d.netMu.Lock()
	defer d.netMu.Unlock()
	var bridges []string
	byBridge := map[string]*netRecord{}
	for _, n := range d.networks {
		if n.isBridge() {
			bridges = append(bridges, n.Bridge)
			byBridge[n.Bridge] = n
		}
	}
	missing, err := nft.ForwardMissing(bridges)
	if err != nil {
		d.log.Debug("check forward rules", "err", err)
		return
	}
	for _, b := range missing {
		n := byBridge[b]
		d.log.Info("re-adding forward rules (the filter FORWARD chain appeared)", "network", n.Name)
		if err := nft.AddNetwork(n.Bridge, n.Subnet, n.Internal); err != nil {
			d.log.Warn("re-add forward rules", "network", n.Name, "err", err)
		}
	}
}
