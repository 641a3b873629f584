package dns

import (
	"fmt"
	"net"
	"net/netip"
	"os"
	"sync/atomic"
	"testing"
	"time"

	mdns "github.com/miekg/dns"
)

var loopback = netip.AddrPortFrom(netip.MustParseAddr("127.0.0.1"), 0)

// upstream is a fake resolver on loopback that counts queries per protocol.
type upstream struct {
	addr     netip.AddrPort
	udp, tcp atomic.Int32
	lastID   atomic.Uint32
}

// startUpstream serves example.com (one A), big.example (100 A, truncated
// over UDP) and NXDOMAIN for anything else.
func startUpstream(t testing.TB) *upstream {
	t.Helper()
	pc, ln, err := listenPair(loopback)
	if err != nil {
		t.Fatal(err)
	}
	u := &upstream{addr: netip.MustParseAddrPort(pc.LocalAddr().String())}
	h := mdns.HandlerFunc(func(w mdns.ResponseWriter, req *mdns.Msg) {
		_, isUDP := w.RemoteAddr().(*net.UDPAddr)
		if isUDP {
			u.udp.Add(1)
		} else {
			u.tcp.Add(1)
		}
		u.lastID.Store(uint32(req.Id))
		m := new(mdns.Msg)
		m.SetReply(req)
		q := req.Question[0]
		switch q.Name {
		case "example.com.":
			m.Answer = append(m.Answer, &mdns.A{Hdr: mdns.RR_Header{Name: q.Name, Rrtype: mdns.TypeA, Class: mdns.ClassINET, Ttl: 60}, A: net.IPv4(192, 0, 2, 1)})
		case "big.example.":
			for i := 0; i < 100; i++ {
				m.Answer = append(m.Answer, &mdns.A{Hdr: mdns.RR_Header{Name: q.Name, Rrtype: mdns.TypeA, Class: mdns.ClassINET, Ttl: 60}, A: net.IPv4(192, 0, 2, byte(i))})
			}
		default:
			m.Rcode = mdns.RcodeNameError
		}
		if isUDP {
			m.Truncate(mdns.MinMsgSize)
		}
		_ = w.WriteMsg(m)
	})
	for _, srv := range []*mdns.Server{{PacketConn: pc, Handler: h}, {Listener: ln, Handler: h}} {
		started := make(chan struct{})
		srv.NotifyStartedFunc = func() { close(started) }
		go srv.ActivateAndServe() //nolint:errcheck
		<-started
		t.Cleanup(func() { _ = srv.Shutdown() })
	}
	return u
}

// deadAddr returns a loopback address nothing listens on.
func deadAddr(t testing.TB) netip.AddrPort {
	t.Helper()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	a := netip.MustParseAddrPort(pc.LocalAddr().String())
	pc.Close()
	return a
}

// newServer serves networks "a" and "b" on two loopback ports.
func newServer(t testing.TB, opts ...Option) (*Server, netip.AddrPort, netip.AddrPort) {
	t.Helper()
	s, err := New("", opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Shutdown)
	for _, n := range []string{"a", "b"} {
		if err := s.Listen(n, loopback); err != nil {
			t.Fatal(err)
		}
	}
	return s, s.Addrs("a")[0], s.Addrs("b")[0]
}

func query(t testing.TB, proto string, addr netip.AddrPort, name string, qtype uint16) *mdns.Msg {
	t.Helper()
	m := new(mdns.Msg)
	m.SetQuestion(name, qtype)
	c := mdns.Client{Net: proto, Timeout: 5 * time.Second}
	r, _, err := c.Exchange(m, addr.String())
	if err != nil {
		t.Fatalf("%s %s %s: %v", proto, name, mdns.TypeToString[qtype], err)
	}
	if r.Id != m.Id {
		t.Fatalf("reply id %d, query id %d", r.Id, m.Id)
	}
	return r
}

// addrs returns the A/AAAA/PTR data of r's answers as strings.
func addrs(r *mdns.Msg) map[string]bool {
	out := map[string]bool{}
	for _, rr := range r.Answer {
		switch v := rr.(type) {
		case *mdns.A:
			out[v.A.String()] = true
		case *mdns.AAAA:
			out[v.AAAA.String()] = true
		case *mdns.PTR:
			out[v.Ptr] = true
		}
	}
	return out
}

func expect(t *testing.T, r *mdns.Msg, rcode int, want ...string) {
	t.Helper()
	if r.Rcode != rcode {
		t.Fatalf("%s: rcode %s, want %s", r.Question[0].Name, mdns.RcodeToString[r.Rcode], mdns.RcodeToString[rcode])
	}
	got := addrs(r)
	if len(got) != len(want) || len(r.Answer) != len(want) {
		t.Fatalf("%s: answers %v, want %v", r.Question[0].Name, r.Answer, want)
	}
	for _, w := range want {
		if !got[w] {
			t.Fatalf("%s: answers %v, want %v", r.Question[0].Name, r.Answer, want)
		}
	}
}

func TestLocalRecords(t *testing.T) {
	u := startUpstream(t)
	s, a, b := newServer(t, WithUpstreams(u.addr))
	ip1, ip2 := netip.MustParseAddr("172.18.0.2"), netip.MustParseAddr("172.18.0.3")
	s.AddRecord("a", "c1", "web", ip1)
	s.AddRecord("a", "c1", "abcdef012345", ip1)
	s.AddRecord("a", "c1", "db-alias", ip1)
	s.AddRecord("a", "c2", "api", ip2)
	s.AddRecord("a", "c2", "db-alias", ip2)
	s.AddRecord("a", "c2", "DB-Alias.", ip2) // duplicate in another spelling
	s.AddRecord("b", "c3", "other", netip.MustParseAddr("172.19.0.2"))

	for _, proto := range []string{"udp", "tcp"} {
		t.Run(proto, func(t *testing.T) {
			expect(t, query(t, proto, a, "web.", mdns.TypeA), mdns.RcodeSuccess, "172.18.0.2")
			expect(t, query(t, proto, a, "WeB.", mdns.TypeA), mdns.RcodeSuccess, "172.18.0.2")
			expect(t, query(t, proto, a, "web.a.", mdns.TypeA), mdns.RcodeSuccess, "172.18.0.2")
			expect(t, query(t, proto, a, "abcdef012345.", mdns.TypeA), mdns.RcodeSuccess, "172.18.0.2")
			expect(t, query(t, proto, a, "db-alias.", mdns.TypeA), mdns.RcodeSuccess, "172.18.0.2", "172.18.0.3")
			// Known name, no IPv6 address: empty NOERROR, not NXDOMAIN, and not forwarded.
			before := u.udp.Load() + u.tcp.Load()
			expect(t, query(t, proto, a, "web.", mdns.TypeAAAA), mdns.RcodeSuccess)
			expect(t, query(t, proto, a, "web.", mdns.TypeMX), mdns.RcodeSuccess)
			if n := u.udp.Load() + u.tcp.Load(); n != before {
				t.Fatalf("local name was forwarded")
			}
			// Isolation: b sees only its own records, a does not see b's.
			expect(t, query(t, proto, b, "web.", mdns.TypeA), mdns.RcodeNameError)
			expect(t, query(t, proto, b, "other.", mdns.TypeA), mdns.RcodeSuccess, "172.19.0.2")
			expect(t, query(t, proto, a, "other.", mdns.TypeA), mdns.RcodeNameError)
			expect(t, query(t, proto, a, "other.b.", mdns.TypeA), mdns.RcodeNameError)
			// Reverse lookups name the container on its network.
			expect(t, query(t, proto, a, "2.0.18.172.in-addr.arpa.", mdns.TypePTR), mdns.RcodeSuccess, "web.a.")
			expect(t, query(t, proto, a, "3.0.18.172.in-addr.arpa.", mdns.TypePTR), mdns.RcodeSuccess, "api.a.")
			expect(t, query(t, proto, b, "2.0.18.172.in-addr.arpa.", mdns.TypePTR), mdns.RcodeNameError)
		})
	}

	// Answers to a shared alias rotate between containers.
	first := map[string]bool{}
	for i := 0; i < 4; i++ {
		r := query(t, "udp", a, "db-alias.", mdns.TypeA)
		first[r.Answer[0].(*mdns.A).A.String()] = true
	}
	if len(first) != 2 {
		t.Fatalf("alias answers do not rotate: first answers %v", first)
	}

	s.RemoveRecords("a", "c1")
	expect(t, query(t, "udp", a, "web.", mdns.TypeA), mdns.RcodeNameError)
	expect(t, query(t, "udp", a, "abcdef012345.", mdns.TypeA), mdns.RcodeNameError)
	expect(t, query(t, "udp", a, "db-alias.", mdns.TypeA), mdns.RcodeSuccess, "172.18.0.3")
	expect(t, query(t, "udp", a, "2.0.18.172.in-addr.arpa.", mdns.TypePTR), mdns.RcodeNameError)
	expect(t, query(t, "udp", a, "api.", mdns.TypeA), mdns.RcodeSuccess, "172.18.0.3")
	expect(t, query(t, "udp", b, "other.", mdns.TypeA), mdns.RcodeSuccess, "172.19.0.2")
}

func TestIPv6Records(t *testing.T) {
	s, a, _ := newServer(t)
	v6 := netip.MustParseAddr("fd00:1::2")
	s.AddRecord("a", "c1", "web", netip.MustParseAddr("172.18.0.2"))
	s.AddRecord("a", "c1", "web", v6)
	expect(t, query(t, "udp", a, "web.", mdns.TypeAAAA), mdns.RcodeSuccess, "fd00:1::2")
	expect(t, query(t, "udp", a, "web.", mdns.TypeA), mdns.RcodeSuccess, "172.18.0.2")
	arpa, err := mdns.ReverseAddr(v6.String())
	if err != nil {
		t.Fatal(err)
	}
	expect(t, query(t, "udp", a, arpa, mdns.TypePTR), mdns.RcodeSuccess, "web.a.")
}

func TestHostDockerInternal(t *testing.T) {
	s, a, b := newServer(t)
	// Without a gateway set, the address the query arrived on.
	expect(t, query(t, "udp", a, "host.docker.internal.", mdns.TypeA), mdns.RcodeSuccess, "127.0.0.1")
	s.SetGateway("a", netip.MustParseAddr("172.18.0.1"), netip.MustParseAddr("fd00:1::1"))
	s.SetGateway("b", netip.MustParseAddr("172.19.0.1"))
	expect(t, query(t, "udp", a, "Host.Docker.Internal.", mdns.TypeA), mdns.RcodeSuccess, "172.18.0.1")
	expect(t, query(t, "tcp", a, "host.docker.internal.", mdns.TypeAAAA), mdns.RcodeSuccess, "fd00:1::1")
	expect(t, query(t, "udp", b, "host.docker.internal.", mdns.TypeA), mdns.RcodeSuccess, "172.19.0.1")
	expect(t, query(t, "udp", b, "host.docker.internal.", mdns.TypeAAAA), mdns.RcodeSuccess)
}

func TestForward(t *testing.T) {
	u := startUpstream(t)
	_, a, _ := newServer(t, WithUpstreams(deadAddr(t), u.addr))

	r := query(t, "udp", a, "example.com.", mdns.TypeA)
	expect(t, r, mdns.RcodeSuccess, "192.0.2.1")
	if uint16(u.lastID.Load()) != r.Id {
		t.Fatalf("upstream saw id %d, client sent %d", u.lastID.Load(), r.Id)
	}
	expect(t, query(t, "udp", a, "nope.example.", mdns.TypeA), mdns.RcodeNameError)

	// Truncated over UDP upstream: the server retries over TCP, then truncates
	// for its own UDP client, which gets everything over TCP.
	udp0, tcp0 := u.udp.Load(), u.tcp.Load()
	r = query(t, "udp", a, "big.example.", mdns.TypeA)
	if !r.Truncated || len(r.Answer) == 0 || len(r.Answer) >= 100 {
		t.Fatalf("UDP answer: truncated=%v with %d records", r.Truncated, len(r.Answer))
	}
	if u.udp.Load() != udp0+1 || u.tcp.Load() != tcp0+1 {
		t.Fatalf("upstream queries udp %d tcp %d, want one each", u.udp.Load()-udp0, u.tcp.Load()-tcp0)
	}
	r = query(t, "tcp", a, "big.example.", mdns.TypeA)
	if r.Truncated || len(r.Answer) != 100 {
		t.Fatalf("TCP answer: truncated=%v with %d records", r.Truncated, len(r.Answer))
	}
	// A large-EDNS UDP client gets the whole answer.
	m := new(mdns.Msg)
	m.SetQuestion("big.example.", mdns.TypeA)
	m.SetEdns0(4096, false)
	r, _, err := (&mdns.Client{Timeout: 5 * time.Second}).Exchange(m, a.String())
	if err != nil || r.Truncated || len(r.Answer) != 100 {
		t.Fatalf("EDNS answer: %v truncated=%v", err, r != nil && r.Truncated)
	}
}

func TestForwardFailure(t *testing.T) {
	t.Run("refused", func(t *testing.T) {
		_, a, _ := newServer(t, WithUpstreams(deadAddr(t)))
		expect(t, query(t, "udp", a, "example.com.", mdns.TypeA), mdns.RcodeServerFailure)
		expect(t, query(t, "tcp", a, "example.com.", mdns.TypeA), mdns.RcodeServerFailure)
	})
	t.Run("silent", func(t *testing.T) {
		pc, err := net.ListenPacket("udp", "127.0.0.1:0") // never answers
		if err != nil {
			t.Fatal(err)
		}
		defer pc.Close()
		_, a, _ := newServer(t, WithUpstreams(netip.MustParseAddrPort(pc.LocalAddr().String())), WithTimeout(200*time.Millisecond))
		start := time.Now()
		expect(t, query(t, "udp", a, "example.com.", mdns.TypeA), mdns.RcodeServerFailure)
		if d := time.Since(start); d > 2*time.Second {
			t.Fatalf("SERVFAIL took %v", d)
		}
	})
	t.Run("none", func(t *testing.T) {
		_, a, _ := newServer(t)
		expect(t, query(t, "udp", a, "example.com.", mdns.TypeA), mdns.RcodeServerFailure)
	})
}

func TestClose(t *testing.T) {
	s, a, b := newServer(t)
	s.AddRecord("b", "c1", "web", netip.MustParseAddr("172.19.0.2"))
	s.Close("a")
	c := mdns.Client{Net: "tcp", Timeout: time.Second}
	m := new(mdns.Msg)
	m.SetQuestion("web.", mdns.TypeA)
	if _, _, err := c.Exchange(m, a.String()); err == nil {
		t.Fatal("closed network still answers")
	}
	expect(t, query(t, "udp", b, "web.", mdns.TypeA), mdns.RcodeSuccess, "172.19.0.2")
	if len(s.Addrs("a")) != 0 {
		t.Fatalf("closed network still has addresses %v", s.Addrs("a"))
	}
	// The port can be listened on again.
	if err := s.Listen("a", a); err != nil {
		t.Fatal(err)
	}
	if err := s.Listen("c", b); err == nil {
		t.Fatal("listening twice on one address succeeded")
	}
}

func TestNewReadsResolvConf(t *testing.T) {
	p := t.TempDir() + "/resolv.conf"
	if err := os.WriteFile(p, []byte("# comment\nnameserver 127.0.0.53\nnameserver 192.0.2.53\nnameserver fe80::1%eth0\nnameserver bogus\nsearch example.com\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	s, err := New(p)
	if err != nil {
		t.Fatal(err)
	}
	got := fmt.Sprint(s.Upstreams())
	if want := "[127.0.0.53:53 192.0.2.53:53 [fe80::1%eth0]:53]"; got != want {
		t.Fatalf("upstreams %s, want %s", got, want)
	}
	if s, err = New(t.TempDir() + "/missing"); err != nil || len(s.Upstreams()) != 0 {
		t.Fatalf("missing resolv.conf: %v %v", err, s.Upstreams())
	}
}

func BenchmarkLocalQuery(b *testing.B) {
	s, a, _ := newServer(b)
	s.AddRecord("a", "c1", "web", netip.MustParseAddr("172.18.0.2"))
	c := mdns.Client{Timeout: time.Second}
	conn, err := c.Dial(a.String())
	if err != nil {
		b.Fatal(err)
	}
	defer conn.Close()
	m := new(mdns.Msg)
	m.SetQuestion("web.", mdns.TypeA)
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		r, _, err := c.ExchangeWithConn(m, conn)
		if err != nil || len(r.Answer) != 1 {
			b.Fatal(err)
		}
	}
}

func BenchmarkForwardedQuery(b *testing.B) {
	u := startUpstream(b)
	_, a, _ := newServer(b, WithUpstreams(u.addr))
	c := mdns.Client{Timeout: time.Second}
	conn, err := c.Dial(a.String())
	if err != nil {
		b.Fatal(err)
	}
	defer conn.Close()
	m := new(mdns.Msg)
	m.SetQuestion("example.com.", mdns.TypeA)
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		r, _, err := c.ExchangeWithConn(m, conn)
		if err != nil || len(r.Answer) != 1 {
			b.Fatal(err)
		}
	}
}

func TestSubnets(t *testing.T) {
	s, a, _ := newServer(t)
	s.AddRecord("a", "c1", "web", netip.MustParseAddr("172.18.0.2"))
	s.SetSubnets("a", netip.MustParsePrefix("172.18.0.0/16"))
	expect(t, query(t, "udp", a, "web.", mdns.TypeA), mdns.RcodeRefused)
	expect(t, query(t, "tcp", a, "web.", mdns.TypeA), mdns.RcodeRefused)
	s.SetSubnets("a", netip.MustParsePrefix("172.18.0.0/16"), netip.MustParsePrefix("127.0.0.0/8"))
	expect(t, query(t, "udp", a, "web.", mdns.TypeA), mdns.RcodeSuccess, "172.18.0.2")
}

func TestContainerUpstreams(t *testing.T) {
	u := startUpstream(t)
	s, a, b := newServer(t, WithUpstreams(deadAddr(t)))
	client := netip.MustParseAddr("127.0.0.1") // the test's source address
	s.AddRecord("a", "c1", "web", netip.MustParseAddr("172.18.0.2"))
	s.SetUpstreams("a", "c1", client, []netip.AddrPort{u.addr})
	expect(t, query(t, "udp", a, "example.com.", mdns.TypeA), mdns.RcodeSuccess, "192.0.2.1")
	expect(t, query(t, "udp", a, "web.", mdns.TypeA), mdns.RcodeSuccess, "172.18.0.2")
	// Another network keeps the server's upstreams.
	expect(t, query(t, "udp", b, "example.com.", mdns.TypeA), mdns.RcodeServerFailure)
	s.RemoveRecords("a", "c1")
	expect(t, query(t, "udp", a, "example.com.", mdns.TypeA), mdns.RcodeServerFailure)
}
