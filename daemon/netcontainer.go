package daemon

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/berth-dev/berth/errdefs"
	"github.com/berth-dev/berth/image"
	"github.com/berth-dev/berth/internal/atomicfile"
	bnet "github.com/berth-dev/berth/network"
	"github.com/berth-dev/berth/network/bridge"
	"github.com/berth-dev/berth/network/dns"
	"github.com/berth-dev/berth/network/nft"
	"github.com/berth-dev/berth/runtime"
	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/events"
	"github.com/moby/moby/api/types/mount"
	"github.com/moby/moby/api/types/network"
	"golang.org/x/sys/unix"
)

// Endpoint is a container's attachment to one network: docker's EndpointSettings (the
// address fields are set while the container runs) and the interface name inside it.
type Endpoint struct {
	network.EndpointSettings
	IfName string `json:",omitempty"`
}

// portSock holds a published host port, so that neither another container nor a host
// process can take it while the DNAT rules send its traffic to the container.
type portSock struct{ f *os.File }

// networkMode returns the container's normalized network mode.
func networkMode(hc *container.HostConfig) string {
	m := string(hc.NetworkMode)
	if m == "" || m == "default" {
		return "bridge"
	}
	return m
}

// configureNetworking validates a new container's network settings and returns its
// endpoints; hc.NetworkMode is normalized ("container:" modes get the full ID).
func (d *Daemon) configureNetworking(cfg *container.Config, hc *container.HostConfig, nc *network.NetworkingConfig) (map[string]*Endpoint, error) {
	mode := networkMode(hc)
	var epcs map[string]*network.EndpointSettings
	if nc != nil {
		epcs = nc.EndpointsConfig
	}
	if err := validatePorts(hc, cfg); err != nil {
		return nil, err
	}
	for _, h := range hc.ExtraHosts {
		if _, err := parseExtraHost(h); err != nil {
			return nil, err
		}
	}
	for _, a := range hc.DNS {
		if !a.IsValid() {
			return nil, errdefs.InvalidParameter("invalid --dns address")
		}
	}
	if ref, ok := strings.CutPrefix(mode, "container:"); ok {
		switch {
		case cfg.Hostname != "":
			return nil, errdefs.InvalidParameter("conflicting options: hostname and the network mode")
		case len(hc.PortBindings) > 0 || hc.PublishAllPorts:
			return nil, errdefs.InvalidParameter("conflicting options: port publishing and the container type network mode")
		case len(hc.DNS) > 0:
			return nil, errdefs.InvalidParameter("conflicting options: dns and the network mode")
		case len(hc.ExtraHosts) > 0:
			return nil, errdefs.InvalidParameter("conflicting options: custom host-to-IP mapping and the network mode")
		case len(epcs) > 0:
			return nil, errdefs.InvalidParameter("conflicting options: container type network can't be used with other networks")
		}
		target, err := d.lookup(ref)
		if err != nil {
			return nil, err
		}
		hc.NetworkMode = container.NetworkMode("container:" + target.ID)
		return nil, nil
	}
	d.netMu.Lock()
	defer d.netMu.Unlock()
	primary, err := d.findNetworkLocked(mode)
	if err != nil {
		return nil, err
	}
	hc.NetworkMode = container.NetworkMode(primary.Name)
	if primary.Driver == driverHost && cfg.Hostname == "" {
		cfg.Hostname, _ = os.Hostname()
	}
	eps := map[string]*Endpoint{}
	add := func(n *netRecord, es *network.EndpointSettings) error {
		if !n.isBridge() && (len(eps) > 0 || n != primary) {
			return errdefs.InvalidParameter(fmt.Sprintf("container cannot be connected to network %s and to other networks: %s has no endpoints of its own", n.Name, n.Driver))
		}
		ep, err := newEndpoint(n, es)
		if err != nil {
			return err
		}
		eps[n.Name] = ep
		return nil
	}
	// The docker CLI names the primary network's endpoint by what --network said
	// ("default" when it was not given).
	isPrimary := func(k string) bool {
		return k == primary.Name || k == primary.ID || k == mode || k == "default" && primary.Name == "bridge"
	}
	var primaryES *network.EndpointSettings
	for k, es := range epcs {
		if isPrimary(k) {
			primaryES = es
		}
	}
	if err := add(primary, primaryES); err != nil {
		return nil, err
	}
	for k, es := range epcs {
		if isPrimary(k) {
			continue
		}
		n, err := d.findNetworkLocked(k)
		if err != nil {
			return nil, err
		}
		if _, done := eps[n.Name]; !done {
			if err := add(n, es); err != nil {
				return nil, err
			}
		}
	}
	return eps, nil
}

// newEndpoint checks a requested endpoint (aliases, --ip) against network n.
func newEndpoint(n *netRecord, es *network.EndpointSettings) (*Endpoint, error) {
	ep := &Endpoint{EndpointSettings: network.EndpointSettings{NetworkID: n.ID}}
	if es == nil {
		return ep, nil
	}
	if len(es.Aliases) > 0 {
		if n.Predefined {
			return nil, errdefs.InvalidParameter("network-scoped alias is supported only for containers in user defined networks")
		}
		ep.Aliases = slices.Clone(es.Aliases)
	}
	if cfg := es.IPAMConfig; cfg != nil {
		if cfg.IPv6Address.IsValid() {
			return nil, errdefs.InvalidParameter("IPv6 addresses are not supported by Berth")
		}
		if ip := cfg.IPv4Address; ip.IsValid() {
			switch {
			case n.Predefined:
				return nil, errdefs.InvalidParameter("user specified IP address is supported on user defined networks only")
			case !n.UserSubnet:
				return nil, errdefs.InvalidParameter("user specified IP address is supported only when connecting to networks with user configured subnets")
			case !ip.Unmap().Is4() || !n.Subnet.Contains(ip.Unmap()):
				return nil, errdefs.InvalidParameter(fmt.Sprintf("no configured subnet or ip-range contain the IP address %s", ip))
			}
			ep.IPAMConfig = &network.EndpointIPAMConfig{IPv4Address: ip.Unmap()}
		}
	}
	return ep, nil
}

// validatePorts checks the published and exposed ports of a new container.
func validatePorts(hc *container.HostConfig, cfg *container.Config) error {
	check := func(p network.Port) error {
		if pr := string(p.Proto()); pr != "tcp" && pr != "udp" {
			return errdefs.InvalidParameter(fmt.Sprintf("invalid proto %q for port %s: Berth publishes tcp and udp", pr, p))
		}
		if p.Num() == 0 {
			return errdefs.InvalidParameter(fmt.Sprintf("invalid port %s", p))
		}
		return nil
	}
	for p, bs := range hc.PortBindings {
		if err := check(p); err != nil {
			return err
		}
		for _, b := range bs {
			if _, _, err := hostPortRange(b.HostPort); err != nil {
				return err
			}
			if ip := b.HostIP; ip.IsValid() && ip.Is6() && !ip.IsUnspecified() && !ip.Is4In6() {
				return errdefs.InvalidParameter(fmt.Sprintf("invalid host IP %s: Berth publishes ports on IPv4 addresses only", ip))
			}
		}
	}
	for p := range cfg.ExposedPorts {
		if err := check(p); err != nil {
			return err
		}
	}
	return nil
}

// hostPortRange parses a binding's HostPort: "" or "0" (any free port), "8080" or "8000-8010".
func hostPortRange(s string) (lo, hi uint16, err error) {
	if s == "" || s == "0" {
		return 0, 0, nil
	}
	a, b, isRange := strings.Cut(s, "-")
	l, err1 := strconv.ParseUint(a, 10, 16)
	h := l
	var err2 error
	if isRange {
		h, err2 = strconv.ParseUint(b, 10, 16)
	}
	if err1 != nil || err2 != nil || l == 0 || h < l {
		return 0, 0, errdefs.InvalidParameter(fmt.Sprintf("invalid hostPort: %s", s))
	}
	return uint16(l), uint16(h), nil
}

// extraHost is one --add-host entry.
type extraHost struct {
	name string
	ip   string // an address, or "host-gateway"
}

func parseExtraHost(s string) (extraHost, error) {
	name, ip, ok := strings.Cut(s, ":")
	if i := strings.IndexByte(s, '='); i >= 0 && (i < len(name) || !ok) {
		name, ip, ok = s[:i], s[i+1:], true
	}
	ip = strings.TrimSuffix(strings.TrimPrefix(ip, "["), "]")
	if !ok || name == "" {
		return extraHost{}, errdefs.InvalidParameter(fmt.Sprintf("bad format for add-host: %q", s))
	}
	if ip != "host-gateway" {
		if _, err := netip.ParseAddr(ip); err != nil {
			return extraHost{}, errdefs.InvalidParameter(fmt.Sprintf("invalid IP address in add-host: %q", ip))
		}
	}
	return extraHost{name: name, ip: ip}, nil
}

// netnsPath is where a container's network namespace is bind-mounted while it runs.
func (d *Daemon) netnsPath(id string) string { return filepath.Join(d.cfg.ExecRoot, "netns", id) }

// orderedEndpoints returns the container's network names, the primary (its network
// mode) first, then by name.
func orderedEndpoints(c *Container) []string {
	names := make([]string, 0, len(c.Networks))
	for name := range c.Networks {
		names = append(names, name)
	}
	primary := networkMode(c.HostConfig)
	sort.Slice(names, func(i, j int) bool {
		if (names[i] == primary) != (names[j] == primary) {
			return names[i] == primary
		}
		return names[i] < names[j]
	})
	return names
}

// setupNetworking gives a starting container its network: a namespace with one veth per
// bridge network, published ports and DNS records (or the host's or another container's
// stack), then writes its hostname, hosts and resolv.conf. On error the caller runs
// teardownNetworking, which undoes whatever was done.
func (d *Daemon) setupNetworking(ctx context.Context, c *Container, so *runtime.SpecOptions) error {
	mode := networkMode(c.HostConfig)
	if ref, ok := strings.CutPrefix(mode, "container:"); ok {
		target, err := d.lookup(ref)
		if err != nil {
			return err
		}
		if target == c {
			return errdefs.InvalidParameter("cannot join own network namespace")
		}
		target.mu.Lock()
		path, running, pid := target.NetNS, target.running(), target.State.Pid
		if path == "" && pid > 0 && networkMode(target.HostConfig) == "none" {
			path = fmt.Sprintf("/proc/%d/ns/net", pid)
		}
		hostNet := networkMode(target.HostConfig) == "host"
		tdir := target.Dir
		target.mu.Unlock()
		if !running {
			return errdefs.Conflict(fmt.Sprintf("cannot join network namespace of a non running container: container %s is %s", shortID(target.ID), "not running"))
		}
		so.HostNet, so.NetNSPath = hostNet, path
		// Same stack, same name resolution: the other container's files.
		hosts, _ := os.ReadFile(filepath.Join(tdir, "hosts"))
		resolv, _ := os.ReadFile(filepath.Join(tdir, "resolv.conf"))
		return d.writeEtc(c, hosts, resolv)
	}

	d.netMu.Lock()
	defer d.netMu.Unlock()
	primary := d.networkByNameLocked(mode)
	if primary == nil {
		return errdefs.NotFound(fmt.Sprintf("network %s not found", mode))
	}
	switch primary.Driver {
	case driverHost:
		so.HostNet = true
		hosts, _ := os.ReadFile("/etc/hosts")
		hosts = append(hosts, extraHostLines(c, netip.Addr{})...)
		resolv, _ := os.ReadFile("/etc/resolv.conf")
		return d.writeEtc(c, hosts, resolv)
	case driverNull:
		// runc makes a namespace with loopback only.
		return d.writeEtc(c, hostsFile(c, netip.Addr{}, netip.Addr{}), dns.ResolvConf(hostResolvConf(), netip.Addr{}, dnsStrings(c.HostConfig.DNS), c.HostConfig.DNSSearch, c.HostConfig.DNSOptions))
	}

	path := d.netnsPath(c.ID)
	bridge.DeleteNetNS(path) // a leftover of a crash between its creation and the record
	if err := bridge.NewNetNS(path); err != nil {
		return fmt.Errorf("create network namespace: %w", err)
	}
	c.NetNS, so.NetNSPath = path, path
	var gwNet *netRecord
	var gwIP netip.Addr
	for i, name := range orderedEndpoints(c) {
		ep := c.Networks[name]
		n := d.networks[ep.NetworkID]
		if n == nil || !n.isBridge() {
			return errdefs.NotFound(fmt.Sprintf("network %s not found", name))
		}
		if err := d.attachLocked(ctx, c, n, ep, fmt.Sprintf("eth%d", i), gwNet == nil && !n.Internal); err != nil {
			return err
		}
		if gwNet == nil && !n.Internal {
			gwNet, gwIP = n, ep.IPAddress
		}
	}
	if gwNet != nil {
		ports, err := d.publishLocked(c, gwNet, gwIP)
		if err != nil {
			return err
		}
		c.Ports = ports
	} else if len(c.HostConfig.PortBindings) > 0 {
		return errdefs.InvalidParameter("ports cannot be published from a container on internal networks only")
	}
	first := c.Networks[orderedEndpoints(c)[0]]
	p := d.networks[first.NetworkID]
	var ns netip.Addr
	if p.dns {
		ns = p.Gateway
	}
	resolv := dns.ResolvConf(hostResolvConf(), ns, dnsStrings(c.HostConfig.DNS), c.HostConfig.DNSSearch, c.HostConfig.DNSOptions)
	return d.writeEtc(c, hostsFile(c, first.IPAddress, p.Gateway), resolv)
}

// attachLocked connects a container's namespace to bridge network n as interface ifName
// and registers its DNS names; d.netMu must be held.
func (d *Daemon) attachLocked(ctx context.Context, c *Container, n *netRecord, ep *Endpoint, ifName string, defaultRoute bool) error {
	var want netip.Addr
	if ep.IPAMConfig != nil {
		want = ep.IPAMConfig.IPv4Address
	}
	ip, err := n.pool.Allocate(want)
	if err != nil {
		if errors.Is(err, errdefs.ErrConflict) {
			return errdefs.Conflict(fmt.Sprintf("Address already in use: %s on network %s", want, n.Name))
		}
		return err
	}
	bep := bnet.Endpoint{ContainerID: c.ID, NetNSPath: c.NetNS, IfName: ifName, IP: netip.PrefixFrom(ip, n.Subnet.Bits())}
	if defaultRoute {
		bep.Gateway = n.Gateway
	}
	if err := bridge.Attach(ctx, n.Bridge, &bep); err != nil {
		n.pool.Release(ip)
		return fmt.Errorf("attach to network %s: %w", n.Name, err)
	}
	ep.EndpointID = newID()
	ep.IPAddress, ep.IPPrefixLen, ep.Gateway = ip, n.Subnet.Bits(), n.Gateway
	ep.MacAddress = network.HardwareAddr(bep.MAC)
	ep.IfName = ifName
	ep.DNSNames = d.registerNamesLocked(c, n, ep)
	n.active[c.ID] = true
	return nil
}

// registerNamesLocked adds the container's name, short ID and aliases to n's DNS.
func (d *Daemon) registerNamesLocked(c *Container, n *netRecord, ep *Endpoint) []string {
	names := []string{trimSlash(c.Name)}
	names = append(names, ep.Aliases...)
	names = append(names, shortID(c.ID))
	if !slices.Contains(names, c.Config.Hostname) && !n.Predefined {
		names = append(names, c.Config.Hostname)
	}
	for _, name := range names {
		d.dns.AddRecord(n.Name, c.ID, name, ep.IPAddress)
	}
	if len(c.HostConfig.DNS) > 0 {
		ups := make([]netip.AddrPort, 0, len(c.HostConfig.DNS))
		for _, a := range c.HostConfig.DNS {
			ups = append(ups, netip.AddrPortFrom(a, 53))
		}
		d.dns.SetUpstreams(n.Name, c.ID, ep.IPAddress, ups)
	}
	return names
}

// releaseLocked undoes attachLocked's bookkeeping (the veth goes with the namespace, or
// is deleted by the caller).
func (d *Daemon) releaseLocked(c *Container, ep *Endpoint) {
	if n := d.networks[ep.NetworkID]; n != nil {
		d.dns.RemoveRecords(n.Name, c.ID)
		if ep.IPAddress.IsValid() && n.pool != nil {
			n.pool.Release(ep.IPAddress)
		}
		delete(n.active, c.ID)
	}
	ep.EndpointID, ep.IfName, ep.DNSNames = "", "", nil
	ep.IPAddress, ep.Gateway, ep.IPPrefixLen, ep.MacAddress = netip.Addr{}, netip.Addr{}, 0, nil
}

// teardownNetworking releases everything setupNetworking made for c (ports, records,
// addresses, the namespace with its veths); safe to call on a partial setup or twice.
func (d *Daemon) teardownNetworking(c *Container) {
	d.netMu.Lock()
	defer d.netMu.Unlock()
	d.unpublishLocked(c.ID, len(c.Ports) > 0)
	for _, ep := range c.Networks {
		d.releaseLocked(c, ep)
	}
	c.Ports = nil
	if c.NetNS != "" {
		if err := bridge.DeleteNetNS(c.NetNS); err != nil {
			d.log.Warn("delete network namespace", "id", shortID(c.ID), "err", err)
		}
		c.NetNS = ""
	}
}

// publishLocked reserves the container's published host ports and installs their DNAT
// rules to ip on network n. It returns docker's port map (exposed ports without a
// binding map to nil).
func (d *Daemon) publishLocked(c *Container, n *netRecord, ip netip.Addr) (network.PortMap, error) {
	hc := c.HostConfig
	out := network.PortMap{}
	for p := range c.Config.ExposedPorts {
		out[p] = nil
	}
	want := map[network.Port][]network.PortBinding{}
	for p, bs := range hc.PortBindings {
		want[p] = bs
		out[p] = nil
	}
	if hc.PublishAllPorts {
		for p := range c.Config.ExposedPorts {
			if len(want[p]) == 0 {
				want[p] = []network.PortBinding{{}}
			}
		}
	}
	ports := make([]network.Port, 0, len(want))
	for p := range want {
		ports = append(ports, p)
	}
	sort.Slice(ports, func(i, j int) bool { return ports[i].Num() < ports[j].Num() })
	for _, p := range ports {
		for _, b := range want[p] {
			hostIP := b.HostIP.Unmap()
			if hostIP.Is6() {
				continue // "::": Berth publishes on IPv4 only (validated at create)
			}
			lo, hi, err := hostPortRange(b.HostPort)
			if err != nil {
				return nil, err
			}
			sock, port, err := reservePort(hostIP, lo, hi, string(p.Proto()))
			if err != nil {
				shown := hostIP
				if !shown.IsValid() {
					shown = netip.IPv4Unspecified()
				}
				what := b.HostPort
				if what == "" {
					what = "0"
				}
				return nil, errdefs.Conflict(fmt.Sprintf("driver failed programming external connectivity on endpoint %s (%s): Bind for %s:%s failed: port is already allocated (%v)",
					trimSlash(c.Name), c.Networks[n.Name].EndpointID, shown, what, err))
			}
			d.portSocks[c.ID] = append(d.portSocks[c.ID], sock)
			m := nft.PortMapping{ContainerID: c.ID, HostIP: hostIP, HostPort: port, Proto: string(p.Proto()), ContainerIP: ip, ContainerPort: p.Num(), Bridge: n.Bridge}
			if err := nft.AddPort(m); err != nil {
				return nil, err
			}
			shown := hostIP
			if !shown.IsValid() {
				shown = netip.IPv4Unspecified()
			}
			out[p] = append(out[p], network.PortBinding{HostIP: shown, HostPort: strconv.Itoa(int(port))})
		}
	}
	return out, nil
}

// unpublishLocked removes the container's DNAT rules (when it has any, or rules says
// so) and frees its host ports.
func (d *Daemon) unpublishLocked(id string, rules bool) {
	socks := d.portSocks[id]
	delete(d.portSocks, id)
	if len(socks) > 0 || rules {
		if err := nft.RemovePorts(id); err != nil {
			d.log.Warn("remove port rules", "id", shortID(id), "err", err)
		}
	}
	for _, s := range socks {
		s.f.Close()
	}
}

// reservePort binds (without listening) a socket on ip and the first free port of
// [lo, hi], or a kernel-chosen ephemeral port when lo is 0.
func reservePort(ip netip.Addr, lo, hi uint16, proto string) (*portSock, uint16, error) {
	typ := unix.SOCK_STREAM
	if proto == "udp" {
		typ = unix.SOCK_DGRAM
	}
	var addr [4]byte
	if ip.IsValid() {
		addr = ip.As4()
	}
	try := func(port uint16) (*portSock, uint16, error) {
		fd, err := unix.Socket(unix.AF_INET, typ|unix.SOCK_CLOEXEC, 0)
		if err != nil {
			return nil, 0, err
		}
		if err := unix.Bind(fd, &unix.SockaddrInet4{Port: int(port), Addr: addr}); err != nil {
			unix.Close(fd)
			return nil, 0, err
		}
		sa, err := unix.Getsockname(fd)
		if err != nil {
			unix.Close(fd)
			return nil, 0, err
		}
		return &portSock{f: os.NewFile(uintptr(fd), "port")}, uint16(sa.(*unix.SockaddrInet4).Port), nil
	}
	if lo == 0 {
		return try(0)
	}
	var err error
	for p := uint32(lo); p <= uint32(hi); p++ {
		var s *portSock
		var got uint16
		if s, got, err = try(uint16(p)); err == nil {
			return s, got, nil
		}
	}
	return nil, 0, err
}

// hostResolvConf is the host's /etc/resolv.conf (empty when unreadable).
func hostResolvConf() []byte {
	b, _ := os.ReadFile("/etc/resolv.conf")
	return b
}

// hostsFile renders docker's /etc/hosts for a container with address ip; without one
// (--network none) the hostname goes on 127.0.0.1 so that it still resolves.
func hostsFile(c *Container, ip, gw netip.Addr) []byte {
	b := []byte("127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\nfe00::0\tip6-localnet\nff00::0\tip6-mcastprefix\nff02::1\tip6-allnodes\nff02::2\tip6-allrouters\n")
	b = append(b, extraHostLines(c, gw)...)
	host := c.Config.Hostname
	if c.Config.Domainname != "" {
		host = host + "." + c.Config.Domainname + " " + host
	}
	if ip.IsValid() {
		b = append(b, ip.String()+"\t"+host+"\n"...)
	} else {
		b = append(b, "127.0.0.1\t"+host+"\n"...)
	}
	return b
}

// extraHostLines renders --add-host entries; host-gateway means gw (or the default
// bridge's gateway when gw is unset).
func extraHostLines(c *Container, gw netip.Addr) []byte {
	var b []byte
	for _, s := range c.HostConfig.ExtraHosts {
		h, err := parseExtraHost(s)
		if err != nil {
			continue
		}
		ip := h.ip
		if ip == "host-gateway" {
			if !gw.IsValid() {
				continue
			}
			ip = gw.String()
		}
		b = append(b, ip+"\t"+h.name+"\n"...)
	}
	return b
}

// writeEtc writes the container's hostname, hosts and resolv.conf atomically.
func (d *Daemon) writeEtc(c *Container, hosts, resolv []byte) error {
	files := []struct {
		name string
		data []byte
	}{{"hostname", []byte(c.Config.Hostname + "\n")}, {"hosts", hosts}, {"resolv.conf", resolv}}
	for _, f := range files {
		if err := atomicfile.WriteFileNoSync(filepath.Join(c.Dir, f.name), f.data, 0o644); err != nil {
			return err
		}
	}
	return nil
}

// restoreNetworking re-registers a running container's addresses, names and port
// reservations after a berthd restart (the kernel state lived on).
func (d *Daemon) restoreNetworking(c *Container) {
	for _, mp := range c.MountPoints {
		if mp.Type == mount.TypeVolume {
			d.vols.Retain(mp.Name)
		}
	}
	if c.NetNS == "" {
		return
	}
	d.netMu.Lock()
	defer d.netMu.Unlock()
	var gwNet *netRecord
	var gwIP netip.Addr
	for _, name := range orderedEndpoints(c) {
		ep := c.Networks[name]
		n := d.networks[ep.NetworkID]
		if n == nil || !n.isBridge() || !ep.IPAddress.IsValid() {
			continue
		}
		if _, err := n.pool.Allocate(ep.IPAddress); err != nil {
			d.log.Warn("restore address", "id", shortID(c.ID), "network", n.Name, "ip", ep.IPAddress, "err", err)
		}
		d.registerNamesLocked(c, n, ep)
		n.active[c.ID] = true
		if gwNet == nil && !n.Internal {
			gwNet, gwIP = n, ep.IPAddress
		}
	}
	if gwNet == nil {
		return
	}
	// Re-reserve the ports the container had (their rules are replaced, not duplicated).
	for p, bs := range c.Ports {
		for _, b := range bs {
			port, _ := strconv.Atoi(b.HostPort)
			hostIP := b.HostIP
			if hostIP.IsUnspecified() {
				hostIP = netip.Addr{}
			}
			sock, got, err := reservePort(hostIP, uint16(port), uint16(port), string(p.Proto()))
			if err != nil {
				d.log.Warn("restore published port", "id", shortID(c.ID), "port", b.HostPort, "err", err)
			} else {
				d.portSocks[c.ID] = append(d.portSocks[c.ID], sock)
			}
			m := nft.PortMapping{ContainerID: c.ID, HostIP: hostIP, HostPort: uint16(port), Proto: string(p.Proto()), ContainerIP: gwIP, ContainerPort: p.Num(), Bridge: gwNet.Bridge}
			if got != 0 {
				m.HostPort = got
			}
			if err := nft.AddPort(m); err != nil {
				d.log.Warn("restore port rule", "id", shortID(c.ID), "err", err)
			}
		}
	}
}

// cleanNetNSLeftovers deletes namespace mounts in the exec root that no running container
// owns (left by a crash between their creation and the record's update).
func (d *Daemon) cleanNetNSLeftovers() {
	dir := filepath.Join(d.cfg.ExecRoot, "netns")
	entries, err := os.ReadDir(dir)
	if err != nil {
		return
	}
	owned := map[string]bool{}
	for _, c := range d.allContainers() {
		c.mu.Lock()
		if c.NetNS != "" {
			owned[c.NetNS] = true
		}
		c.mu.Unlock()
	}
	for _, e := range entries {
		p := filepath.Join(dir, e.Name())
		if !owned[p] {
			d.log.Info("removing leftover network namespace", "path", p)
			bridge.DeleteNetNS(p)
		}
	}
}

// ConnectNetwork connects a container to a bridge network; a running one gets a new
// interface at once.
func (d *Daemon) ConnectNetwork(ctx context.Context, netRef, ref string, es *network.EndpointSettings) error {
	c, err := d.lookup(ref)
	if err != nil {
		return err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	mode := networkMode(c.HostConfig)
	d.netMu.Lock()
	defer d.netMu.Unlock()
	n, err := d.findNetworkLocked(netRef)
	if err != nil {
		return err
	}
	if strings.HasPrefix(mode, "container:") || mode == "host" || mode == "none" {
		return errdefs.Forbidden("container sharing network namespace with another container or host cannot be connected to any other network")
	}
	if !n.isBridge() {
		return errdefs.Forbidden(fmt.Sprintf("container cannot be disconnected from host network or connected to %s network", n.Name))
	}
	if _, ok := c.Networks[n.Name]; ok {
		return errdefs.Forbidden(fmt.Sprintf("endpoint with name %s already exists in network %s", trimSlash(c.Name), n.Name))
	}
	ep, err := newEndpoint(n, es)
	if err != nil {
		return err
	}
	if c.running() && c.NetNS != "" {
		if err := d.attachLocked(ctx, c, n, ep, nextIfName(c), false); err != nil {
			return err
		}
	}
	if c.Networks == nil {
		c.Networks = map[string]*Endpoint{}
	}
	c.Networks[n.Name] = ep
	if err := d.persist(c); err != nil {
		return err
	}
	d.emitNetwork(n, events.ActionConnect, map[string]string{"container": c.ID})
	return nil
}

func nextIfName(c *Container) string {
	for i := 0; ; i++ {
		name := fmt.Sprintf("eth%d", i)
		used := false
		for _, ep := range c.Networks {
			used = used || ep.IfName == name
		}
		if !used {
			return name
		}
	}
}

// DisconnectNetwork disconnects a container from a network; a running one loses the
// interface at once.
func (d *Daemon) DisconnectNetwork(ctx context.Context, netRef, ref string, force bool) error {
	c, err := d.lookup(ref)
	if err != nil {
		return err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	d.netMu.Lock()
	defer d.netMu.Unlock()
	n, err := d.findNetworkLocked(netRef)
	if err != nil {
		return err
	}
	ep, ok := c.Networks[n.Name]
	if !ok {
		return errdefs.Forbidden(fmt.Sprintf("container %s is not connected to network %s", shortID(c.ID), n.Name))
	}
	if !n.isBridge() {
		return errdefs.Forbidden(fmt.Sprintf("container cannot be disconnected from host network or connected to %s network", n.Name))
	}
	if c.running() && c.NetNS != "" && ep.IfName != "" {
		bep := bnet.Endpoint{ContainerID: c.ID, NetNSPath: c.NetNS, IfName: ep.IfName}
		if err := bridge.Detach(&bep); err != nil && !force {
			return fmt.Errorf("disconnect from network %s: %w", n.Name, err)
		}
	}
	d.releaseLocked(c, ep)
	delete(c.Networks, n.Name)
	if err := d.persist(c); err != nil {
		return err
	}
	d.emitNetwork(n, events.ActionDisconnect, map[string]string{"container": c.ID})
	return nil
}

// mergeExposedPorts adds the image's EXPOSEd ports to the container's, as dockerd does.
func mergeExposedPorts(cfg *container.Config, img *image.Image) {
	ic := img.Config.Config.ExposedPorts
	if len(ic) == 0 {
		return
	}
	ports := network.PortSet{}
	for p := range cfg.ExposedPorts {
		ports[p] = struct{}{}
	}
	cfg.ExposedPorts = addImagePorts(ports, ic)
}

// addImagePorts adds an image config's exposed ports ("80/tcp") to set (nil: a new one).
func addImagePorts(set network.PortSet, ic map[string]struct{}) network.PortSet {
	if set == nil {
		set = network.PortSet{}
	}
	for s := range ic {
		if p, err := network.ParsePort(s); err == nil {
			set[p] = struct{}{}
		}
	}
	return set
}

func dnsStrings(addrs []netip.Addr) []string {
	out := make([]string, len(addrs))
	for i, a := range addrs {
		out[i] = a.String()
	}
	return out
}

// networkSettings returns docker's NetworkSettings for inspect; c.mu must be held.
func (c *Container) networkSettings() *container.NetworkSettings {
	ns := &container.NetworkSettings{SandboxKey: c.NetNS, Networks: map[string]*network.EndpointSettings{}, Ports: network.PortMap{}}
	if c.NetNS != "" {
		ns.SandboxID = c.ID
	}
	for name, ep := range c.Networks {
		ns.Networks[name] = ep.EndpointSettings.Copy()
	}
	if c.running() {
		for p, bs := range c.Ports {
			ns.Ports[p] = slices.Clone(bs)
		}
	}
	return ns
}

// portSummaries returns the ports column of a container list entry; c.mu must be held.
func (c *Container) portSummaries() []container.PortSummary {
	out := []container.PortSummary{}
	if !c.running() {
		return out
	}
	for p, bs := range c.Ports {
		if len(bs) == 0 {
			out = append(out, container.PortSummary{PrivatePort: p.Num(), Type: string(p.Proto())})
			continue
		}
		for _, b := range bs {
			pub, _ := strconv.Atoi(b.HostPort)
			out = append(out, container.PortSummary{IP: b.HostIP, PrivatePort: p.Num(), PublicPort: uint16(pub), Type: string(p.Proto())})
		}
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].PrivatePort != out[j].PrivatePort {
			return out[i].PrivatePort < out[j].PrivatePort
		}
		return out[i].PublicPort < out[j].PublicPort
	})
	return out
}

// renameRecords makes a running container's DNS records follow its new name; c.mu held.
func (d *Daemon) renameRecords(c *Container) {
	d.netMu.Lock()
	defer d.netMu.Unlock()
	for _, ep := range c.Networks {
		n := d.networks[ep.NetworkID]
		if n == nil || !ep.IPAddress.IsValid() {
			continue
		}
		d.dns.RemoveRecords(n.Name, c.ID)
		ep.DNSNames = d.registerNamesLocked(c, n, ep)
	}
}
