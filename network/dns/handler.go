package dns

import (
	"context"
	"net"
	"net/netip"
	"strings"

	mdns "github.com/miekg/dns"
)

// serve answers one query from a client of network.
func (s *Server) serve(network string, w mdns.ResponseWriter, req *mdns.Msg) {
	if req.Opcode != mdns.OpcodeQuery || len(req.Question) != 1 {
		m := new(mdns.Msg)
		m.SetRcode(req, mdns.RcodeNotImplemented)
		if len(req.Question) != 1 {
			m.Rcode = mdns.RcodeFormatError
		}
		_ = w.WriteMsg(m)
		return
	}
	src := addrOf(w.RemoteAddr())
	s.mu.RLock()
	t := s.nets[network]
	var resp *mdns.Msg
	ups := s.upstreams
	if t != nil {
		if !t.allowed(src) {
			s.mu.RUnlock()
			m := new(mdns.Msg)
			m.SetRcode(req, mdns.RcodeRefused)
			_ = w.WriteMsg(m)
			return
		}
		resp = s.local(t, w.LocalAddr(), req, req.Question[0])
		if e, ok := t.ext[src]; ok {
			ups = e.upstreams
		}
	}
	s.mu.RUnlock()
	if resp == nil {
		resp = s.forward(w, req, ups)
	}
	reply(w, req, resp)
}

// addrOf returns the IP of a UDP or TCP address.
func addrOf(a net.Addr) netip.Addr {
	switch a := a.(type) {
	case *net.UDPAddr:
		return a.AddrPort().Addr().Unmap()
	case *net.TCPAddr:
		return a.AddrPort().Addr().Unmap()
	}
	return netip.Addr{}
}

// allowed reports whether a client at src may query this network.
func (t *table) allowed(src netip.Addr) bool {
	if len(t.subnets) == 0 {
		return true
	}
	for _, p := range t.subnets {
		if p.Contains(src) {
			return true
		}
	}
	return false
}

// local answers q from t, or returns nil when the name is not ours; s.mu must be held.
func (s *Server) local(t *table, laddr net.Addr, req *mdns.Msg, q mdns.Question) *mdns.Msg {
	if q.Qclass != mdns.ClassINET {
		return nil
	}
	name := normalize(q.Name)
	var ips []netip.Addr
	switch {
	case name == hostDockerInternal:
		ips = t.gateways
		if len(ips) == 0 {
			if a := addrOf(laddr); a.IsValid() {
				ips = []netip.Addr{a}
			}
		}
	case q.Qtype == mdns.TypePTR && (strings.HasSuffix(name, ".in-addr.arpa") || strings.HasSuffix(name, ".ip6.arpa")):
		ip, ok := parseReverse(name)
		if !ok {
			return nil
		}
		o, ok := t.ptr[ip]
		if !ok {
			return nil
		}
		m := answer(req)
		m.Answer = []mdns.RR{&mdns.PTR{
			Hdr: mdns.RR_Header{Name: q.Name, Rrtype: mdns.TypePTR, Class: mdns.ClassINET, Ttl: ttl},
			Ptr: mdns.Fqdn(o.name + "." + t.name),
		}}
		return m
	default:
		rs, ok := t.names[name]
		if !ok {
			base, cut := strings.CutSuffix(name, "."+t.name)
			if !cut {
				return nil
			}
			if rs, ok = t.names[base]; !ok {
				return nil
			}
		}
		ips = make([]netip.Addr, len(rs))
		for i, r := range rs {
			ips[i] = r.ip
		}
	}
	m := answer(req)
	var want []netip.Addr
	for _, ip := range ips {
		if (q.Qtype == mdns.TypeA && ip.Is4()) || (q.Qtype == mdns.TypeAAAA && ip.Is6()) {
			want = append(want, ip)
		}
	}
	if n := len(want); n > 1 {
		k := int(s.rr.Add(1) % uint32(n))
		want = append(want[k:], want[:k]...)
	}
	for _, ip := range want {
		hdr := mdns.RR_Header{Name: q.Name, Class: mdns.ClassINET, Ttl: ttl}
		if ip.Is4() {
			hdr.Rrtype = mdns.TypeA
			m.Answer = append(m.Answer, &mdns.A{Hdr: hdr, A: ip.AsSlice()})
		} else {
			hdr.Rrtype = mdns.TypeAAAA
			m.Answer = append(m.Answer, &mdns.AAAA{Hdr: hdr, AAAA: ip.AsSlice()})
		}
	}
	return m
}

// answer starts an authoritative NOERROR reply to req.
func answer(req *mdns.Msg) *mdns.Msg {
	m := new(mdns.Msg)
	m.SetReply(req)
	m.Authoritative = true
	m.RecursionAvailable = true
	return m
}

// parseReverse turns an in-addr.arpa or ip6.arpa name into the address it names.
func parseReverse(name string) (netip.Addr, bool) {
	if rest, ok := strings.CutSuffix(name, ".in-addr.arpa"); ok {
		p := strings.Split(rest, ".")
		if len(p) != 4 {
			return netip.Addr{}, false
		}
		a, err := netip.ParseAddr(p[3] + "." + p[2] + "." + p[1] + "." + p[0])
		return a, err == nil
	}
	rest, _ := strings.CutSuffix(name, ".ip6.arpa")
	p := strings.Split(rest, ".")
	if len(p) != 32 {
		return netip.Addr{}, false
	}
	var b [16]byte
	for i, nib := range p {
		if len(nib) != 1 {
			return netip.Addr{}, false
		}
		v := strings.IndexByte("0123456789abcdef", nib[0])
		if v < 0 {
			return netip.Addr{}, false
		}
		j := 31 - i // nibbles are listed least significant first
		b[j/2] |= byte(v) << (4 * (1 - j%2))
	}
	return netip.AddrFrom16(b), true
}

// forward sends req to upstreams in turn and returns the first answer,
// retrying over TCP when a UDP answer is truncated; SERVFAIL if none answers.
func (s *Server) forward(w mdns.ResponseWriter, req *mdns.Msg, upstreams []netip.AddrPort) *mdns.Msg {
	proto := "udp"
	if _, ok := w.RemoteAddr().(*net.TCPAddr); ok {
		proto = "tcp"
	}
	for _, up := range upstreams {
		addr := up.String()
		resp, err := s.exchange(proto, req, addr)
		if err == nil && resp.Truncated && proto == "udp" {
			resp, err = s.exchange("tcp", req, addr)
		}
		if err == nil && resp.Rcode != mdns.RcodeServerFailure && resp.Rcode != mdns.RcodeRefused {
			return resp
		}
	}
	m := new(mdns.Msg)
	m.SetRcode(req, mdns.RcodeServerFailure)
	m.RecursionAvailable = true
	return m
}

func (s *Server) exchange(proto string, req *mdns.Msg, addr string) (*mdns.Msg, error) {
	c := mdns.Client{Net: proto, Timeout: s.timeout}
	ctx, cancel := context.WithTimeout(context.Background(), s.timeout)
	defer cancel()
	resp, _, err := c.ExchangeContext(ctx, req, addr)
	return resp, err
}

// reply writes resp, truncated to what a UDP client can receive.
func reply(w mdns.ResponseWriter, req, resp *mdns.Msg) {
	resp.Id = req.Id
	if _, ok := w.RemoteAddr().(*net.UDPAddr); ok {
		size := mdns.MinMsgSize
		if opt := req.IsEdns0(); opt != nil && int(opt.UDPSize()) > size {
			size = int(opt.UDPSize())
		}
		resp.Truncate(size)
	}
	_ = w.WriteMsg(resp)
}
