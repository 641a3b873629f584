package dns

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	mdns "github.com/miekg/dns"
)

// ttl is the TTL, in seconds, of answers built from the record tables.
const ttl = 600

// hostDockerInternal resolves to the gateway of the querying client's network.
const hostDockerInternal = "host.docker.internal"

// Server serves per-network name tables and forwards other queries upstream.
type Server struct {
	timeout   time.Duration
	upstreams []netip.AddrPort
	rr        atomic.Uint32 // rotates the order of multi-address answers

	mu   sync.RWMutex
	nets map[string]*table
}

// Option configures a Server.
type Option func(*Server)

// WithUpstreams replaces the upstream resolvers read from resolv.conf.
func WithUpstreams(addrs ...netip.AddrPort) Option {
	return func(s *Server) { s.upstreams = append([]netip.AddrPort(nil), addrs...) }
}

// WithTimeout sets how long one forwarded query may wait for each upstream (default 2s).
func WithTimeout(d time.Duration) Option {
	return func(s *Server) { s.timeout = d }
}

// table is one network's records and listeners.
type table struct {
	name     string // lower-case network name, for name.<network> lookups
	gateways []netip.Addr
	names    map[string][]record  // lower-case name without trailing dot
	byID     map[string][]string  // container ID -> names it added
	ptr      map[netip.Addr]owner // container IP -> PTR target
	ext      map[netip.Addr]ext   // container IP -> its own upstreams (--dns)
	subnets  []netip.Prefix       // when set, the only sources answered
	servers  []*mdns.Server
	addrs    []netip.AddrPort
}

type record struct {
	id string
	ip netip.Addr
}

type owner struct {
	id, name string
}

type ext struct {
	id        string
	upstreams []netip.AddrPort
}

// New returns a Server forwarding to the nameservers listed in the resolv.conf
// at resolvConfPath; an empty path or a missing file means no upstreams
// (unknown names then get SERVFAIL) unless WithUpstreams is given.
func New(resolvConfPath string, opts ...Option) (*Server, error) {
	s := &Server{timeout: 2 * time.Second, nets: map[string]*table{}}
	if resolvConfPath != "" {
		b, err := os.ReadFile(resolvConfPath)
		if err != nil && !errors.Is(err, os.ErrNotExist) {
			return nil, fmt.Errorf("dns: read upstreams: %w", err)
		}
		for _, a := range parseResolvConf(b).nameservers {
			s.upstreams = append(s.upstreams, netip.AddrPortFrom(a, 53))
		}
	}
	for _, o := range opts {
		o(s)
	}
	return s, nil
}

// Upstreams returns the resolvers unknown names are forwarded to.
func (s *Server) Upstreams() []netip.AddrPort {
	return append([]netip.AddrPort(nil), s.upstreams...)
}

// tableLocked returns the network's table, creating it; s.mu must be held for writing.
func (s *Server) tableLocked(network string) *table {
	t := s.nets[network]
	if t == nil {
		t = &table{
			name:  strings.ToLower(network),
			names: map[string][]record{},
			byID:  map[string][]string{},
			ptr:   map[netip.Addr]owner{},
			ext:   map[netip.Addr]ext{},
		}
		s.nets[network] = t
	}
	return t
}

// SetGateway sets the addresses host.docker.internal resolves to on network
// (by default, the address the query arrived on).
func (s *Server) SetGateway(network string, gws ...netip.Addr) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.tableLocked(network).gateways = append([]netip.Addr(nil), gws...)
}

// SetSubnets restricts network's server to clients whose source address is in
// one of subnets (others get REFUSED), so that containers of another bridge,
// which can route to this bridge's gateway, cannot read its records.
func (s *Server) SetSubnets(network string, subnets ...netip.Prefix) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.tableLocked(network).subnets = append([]netip.Prefix(nil), subnets...)
}

// SetUpstreams makes queries from ip on network that no record answers go to
// upstreams instead of the host's resolvers (a container's --dns servers);
// RemoveRecords(network, containerID) drops them.
func (s *Server) SetUpstreams(network, containerID string, ip netip.Addr, upstreams []netip.AddrPort) {
	s.mu.Lock()
	defer s.mu.Unlock()
	t := s.tableLocked(network)
	if len(upstreams) == 0 {
		delete(t.ext, ip.Unmap())
		return
	}
	t.ext[ip.Unmap()] = ext{id: containerID, upstreams: append([]netip.AddrPort(nil), upstreams...)}
}

// AddRecord makes name resolve to ip on network on behalf of containerID;
// the first name a container adds for an IP is its PTR target.
func (s *Server) AddRecord(network, containerID, name string, ip netip.Addr) {
	n := normalize(name)
	if n == "" || !ip.IsValid() {
		return
	}
	ip = ip.Unmap()
	s.mu.Lock()
	defer s.mu.Unlock()
	t := s.tableLocked(network)
	for _, r := range t.names[n] {
		if r.id == containerID && r.ip == ip {
			return
		}
	}
	t.names[n] = append(t.names[n], record{id: containerID, ip: ip})
	t.byID[containerID] = append(t.byID[containerID], n)
	if _, ok := t.ptr[ip]; !ok {
		t.ptr[ip] = owner{id: containerID, name: n}
	}
}

// RemoveRecords removes every record containerID added on network.
func (s *Server) RemoveRecords(network, containerID string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	t := s.nets[network]
	if t == nil {
		return
	}
	for _, n := range t.byID[containerID] {
		rs := t.names[n][:0]
		for _, r := range t.names[n] {
			if r.id != containerID {
				rs = append(rs, r)
			}
		}
		if len(rs) == 0 {
			delete(t.names, n)
		} else {
			t.names[n] = rs
		}
	}
	delete(t.byID, containerID)
	for ip, o := range t.ptr {
		if o.id == containerID {
			delete(t.ptr, ip)
		}
	}
	for ip, e := range t.ext {
		if e.id == containerID {
			delete(t.ext, ip)
		}
	}
}

// Listen serves network's records on addr over UDP and TCP until Close. With
// port 0, UDP and TCP share one free port (see Addrs).
func (s *Server) Listen(network string, addr netip.AddrPort) error {
	pc, ln, err := listenPair(addr)
	if err != nil {
		return fmt.Errorf("dns: listen on %s for network %s: %w", addr, network, err)
	}
	bound := netip.MustParseAddrPort(pc.LocalAddr().String())
	h := mdns.HandlerFunc(func(w mdns.ResponseWriter, req *mdns.Msg) { s.serve(network, w, req) })
	udp := &mdns.Server{PacketConn: pc, Handler: h}
	tcp := &mdns.Server{Listener: ln, Handler: h}
	for _, srv := range []*mdns.Server{udp, tcp} {
		started := make(chan struct{})
		srv.NotifyStartedFunc = func() { close(started) }
		go srv.ActivateAndServe() //nolint:errcheck // returns when Shutdown is called
		<-started
	}
	s.mu.Lock()
	t := s.tableLocked(network)
	t.servers = append(t.servers, udp, tcp)
	t.addrs = append(t.addrs, bound)
	s.mu.Unlock()
	return nil
}

// listenPair binds UDP and TCP on the same address and port.
func listenPair(addr netip.AddrPort) (net.PacketConn, net.Listener, error) {
	var last error
	for try := 0; try < 16; try++ {
		pc, err := net.ListenUDP("udp", net.UDPAddrFromAddrPort(addr))
		if err != nil {
			return nil, nil, err
		}
		ln, err := net.ListenTCP("tcp", net.TCPAddrFromAddrPort(netip.MustParseAddrPort(pc.LocalAddr().String())))
		if err == nil {
			return pc, ln, nil
		}
		pc.Close()
		last = err
		if addr.Port() != 0 {
			break
		}
	}
	return nil, nil, last
}

// Addrs returns the addresses network is served on.
func (s *Server) Addrs(network string) []netip.AddrPort {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if t := s.nets[network]; t != nil {
		return append([]netip.AddrPort(nil), t.addrs...)
	}
	return nil
}

// Close stops serving network and forgets its records.
func (s *Server) Close(network string) {
	s.mu.Lock()
	t := s.nets[network]
	delete(s.nets, network)
	s.mu.Unlock()
	if t != nil {
		shutdown(t.servers)
	}
}

// Shutdown stops serving every network and forgets all records.
func (s *Server) Shutdown() {
	s.mu.Lock()
	nets := s.nets
	s.nets = map[string]*table{}
	s.mu.Unlock()
	for _, t := range nets {
		shutdown(t.servers)
	}
}

func shutdown(servers []*mdns.Server) {
	for _, srv := range servers {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		_ = srv.ShutdownContext(ctx)
		cancel()
	}
}

// normalize lower-cases a name and drops its trailing dot.
func normalize(name string) string {
	return strings.TrimSuffix(strings.ToLower(strings.TrimSpace(name)), ".")
}
