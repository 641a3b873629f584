package ipam

import (
	"encoding/json"
	"errors"
	"net/netip"
	"os"
	"testing"

	"github.com/berth-dev/berth/errdefs"
)

func pfx(s string) netip.Prefix { return netip.MustParsePrefix(s) }
func ip(s string) netip.Addr    { return netip.MustParseAddr(s) }

func TestDefaultPools(t *testing.T) {
	p := DefaultPools()
	if len(p) != 16 || p[0].Base != pfx("172.17.0.0/16") || p[14].Base != pfx("172.31.0.0/16") || p[15] != (Pool{pfx("192.168.0.0/16"), 20}) {
		t.Fatalf("pools = %v", p)
	}
}

func TestAllocateSubnet(t *testing.T) {
	all172 := []netip.Prefix{pfx("172.16.0.0/12")}
	tests := []struct {
		name  string
		pools []Pool
		avoid []netip.Prefix
		want  string
		err   error
	}{
		{"first", DefaultPools(), nil, "172.17.0.0/16", nil},
		{"skip host route", DefaultPools(), []netip.Prefix{pfx("172.17.5.0/24")}, "172.18.0.0/16", nil},
		{"skip networks", DefaultPools(), []netip.Prefix{pfx("172.17.0.0/16"), pfx("172.18.0.0/16"), pfx("172.19.0.0/24")}, "172.20.0.0/16", nil},
		{"wide route", DefaultPools(), []netip.Prefix{pfx("172.0.0.0/8")}, "192.168.0.0/20", nil},
		{"192 split", DefaultPools(), append(all172, pfx("192.168.0.0/20"), pfx("192.168.17.0/24")), "192.168.32.0/20", nil},
		{"exhausted", DefaultPools(), append(all172, pfx("192.168.0.0/16")), "", ErrPoolsExhausted},
		{"bad pool", []Pool{{pfx("10.0.0.0/8"), 4}}, nil, "", errdefs.ErrInvalidParameter},
		{"custom", []Pool{{pfx("10.10.0.0/16"), 24}}, []netip.Prefix{pfx("10.10.0.0/23")}, "10.10.2.0/24", nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := AllocateSubnet(tc.pools, tc.avoid)
			if tc.err != nil {
				if !errors.Is(err, tc.err) {
					t.Fatalf("err = %v, want %v", err, tc.err)
				}
				return
			}
			if err != nil || got != pfx(tc.want) {
				t.Fatalf("got %v, %v; want %s", got, err, tc.want)
			}
		})
	}
}

func TestNewNetworkValidation(t *testing.T) {
	others := []netip.Prefix{pfx("172.17.0.0/16")}
	tests := []struct {
		name string
		cfg  Config
		msg  string // empty: valid
		gw   string
	}{
		{"default gateway", Config{Subnet: pfx("10.1.0.0/24")}, "", "10.1.0.1"},
		{"explicit gateway", Config{Subnet: pfx("10.1.0.0/24"), Gateway: ip("10.1.0.254")}, "", "10.1.0.254"},
		{"ip-range", Config{Subnet: pfx("10.1.0.0/16"), IPRange: pfx("10.1.5.0/24")}, "", "10.1.0.1"},
		{"overlap", Config{Subnet: pfx("172.17.3.0/24")}, "Pool overlaps with other one on this address space", ""},
		{"overlap wider", Config{Subnet: pfx("172.0.0.0/8")}, "Pool overlaps with other one on this address space", ""},
		{"gateway outside", Config{Subnet: pfx("10.1.0.0/24"), Gateway: ip("10.2.0.1")}, "no matching subnet for gateway 10.2.0.1", ""},
		{"gateway broadcast", Config{Subnet: pfx("10.1.0.0/24"), Gateway: ip("10.1.0.255")}, "invalid gateway 10.1.0.255: it is the network or broadcast address of 10.1.0.0/24", ""},
		{"range outside", Config{Subnet: pfx("10.1.0.0/24"), IPRange: pfx("10.2.0.0/24")}, "no matching subnet for range 10.2.0.0/24", ""},
		{"range wider", Config{Subnet: pfx("10.1.0.0/24"), IPRange: pfx("10.1.0.0/16")}, "no matching subnet for range 10.1.0.0/16", ""},
		{"host bits", Config{Subnet: pfx("10.1.0.1/24")}, "invalid subnet 10.1.0.1/24: it should be 10.1.0.0/24", ""},
		{"ipv6", Config{Subnet: pfx("fd00::/64")}, "invalid subnet fd00::/64: only IPv4 is supported", ""},
		{"too small", Config{Subnet: pfx("10.1.0.0/31")}, "invalid subnet 10.1.0.0/31: too small, the prefix length must be at most 30", ""},
		{"missing", Config{}, "invalid network config: subnet is required", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			n, err := NewNetwork(tc.cfg, others)
			if tc.msg != "" {
				if err == nil || err.Error() != tc.msg {
					t.Fatalf("err = %v, want %q", err, tc.msg)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if n.Gateway() != ip(tc.gw) || !n.InUse(ip(tc.gw)) {
				t.Fatalf("gateway %s (in use %v), want %s", n.Gateway(), n.InUse(n.Gateway()), tc.gw)
			}
		})
	}
	if _, err := NewNetwork(Config{Subnet: pfx("172.17.0.0/24")}, others); !errors.Is(err, errdefs.ErrForbidden) {
		t.Fatalf("overlap class: %v", err)
	}
}

func TestAllocate(t *testing.T) {
	n, err := NewNetwork(Config{Subnet: pfx("10.9.0.0/29")}, nil) // .1 gateway, .2-.6 usable
	if err != nil {
		t.Fatal(err)
	}
	var got []netip.Addr
	for range 5 {
		a, err := n.Allocate(netip.Addr{})
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, a)
	}
	if got[0] != ip("10.9.0.2") || got[4] != ip("10.9.0.6") {
		t.Fatalf("allocated %v", got)
	}
	if _, err := n.Allocate(netip.Addr{}); !errors.Is(err, errdefs.ErrUnavailable) {
		t.Fatalf("full network: %v", err)
	}
	// Serial allocation: a released address is reused only after the cursor wraps.
	if err := n.Release(ip("10.9.0.3")); err != nil {
		t.Fatal(err)
	}
	if err := n.Release(ip("10.9.0.5")); err != nil {
		t.Fatal(err)
	}
	if a, _ := n.Allocate(netip.Addr{}); a != ip("10.9.0.3") {
		t.Fatalf("after wrap got %s", a)
	}
	if a, _ := n.Allocate(netip.Addr{}); a != ip("10.9.0.5") {
		t.Fatalf("next got %s", a)
	}
	if err := n.Release(n.Gateway()); !errdefs.IsInvalidParameter(err) {
		t.Fatalf("release gateway: %v", err)
	}
}

func TestAllocatePreferred(t *testing.T) {
	n, err := NewNetwork(Config{Subnet: pfx("10.1.0.0/24"), IPRange: pfx("10.1.0.128/25")}, nil)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		ip  string
		msg string
	}{
		{"10.1.0.5", ""}, // outside the ip-range but inside the subnet: static addresses live there
		{"10.1.0.5", "Address already in use"},
		{"10.1.0.1", "Address already in use"},
		{"10.1.1.5", "no configured subnet or ip-range contain the IP address 10.1.1.5"},
		{"10.1.0.0", "no configured subnet or ip-range contain the IP address 10.1.0.0"},
		{"10.1.0.255", "no configured subnet or ip-range contain the IP address 10.1.0.255"},
		{"10.1.0.200", ""},
	}
	for _, tc := range tests {
		a, err := n.Allocate(ip(tc.ip))
		if tc.msg != "" {
			if err == nil || err.Error() != tc.msg {
				t.Fatalf("Allocate(%s) err = %v, want %q", tc.ip, err, tc.msg)
			}
			continue
		}
		if err != nil || a != ip(tc.ip) {
			t.Fatalf("Allocate(%s) = %s, %v", tc.ip, a, err)
		}
	}
	// Dynamic addresses come from the ip-range only.
	a, err := n.Allocate(netip.Addr{})
	if err != nil || a != ip("10.1.0.128") {
		t.Fatalf("dynamic = %s, %v", a, err)
	}
	// The range's last address is the subnet's broadcast: 127 usable (.128-.254), 2 taken.
	for i := 0; ; i++ {
		if _, err := n.Allocate(netip.Addr{}); err != nil {
			if i != 125 || !errors.Is(err, errdefs.ErrUnavailable) {
				t.Fatalf("exhausted after %d: %v", i, err)
			}
			break
		}
	}
}

func TestJSONRoundTrip(t *testing.T) {
	n, err := NewNetwork(Config{Subnet: pfx("10.1.0.0/16"), IPRange: pfx("10.1.2.0/24"), Gateway: ip("10.1.0.254")}, nil)
	if err != nil {
		t.Fatal(err)
	}
	for range 3 {
		if _, err := n.Allocate(netip.Addr{}); err != nil {
			t.Fatal(err)
		}
	}
	n.Allocate(ip("10.1.7.7"))
	n.Release(ip("10.1.2.1")) // allocated: 10.1.2.0, .1, .2
	b, err := json.Marshal(n)
	if err != nil {
		t.Fatal(err)
	}
	var m Network
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatalf("%s: %v", b, err)
	}
	b2, _ := json.Marshal(&m)
	if string(b) != string(b2) {
		t.Fatalf("round trip:\n%s\n%s", b, b2)
	}
	if m.Subnet() != n.Subnet() || m.IPRange() != n.IPRange() || m.Gateway() != n.Gateway() || !m.InUse(ip("10.1.7.7")) || m.InUse(ip("10.1.2.1")) {
		t.Fatalf("restored %s", b2)
	}
	if a, _ := m.Allocate(netip.Addr{}); a != ip("10.1.2.3") {
		t.Fatalf("cursor not restored: %s", a)
	}
	if err := json.Unmarshal([]byte(`{"Subnet":"10.1.0.0/24","Gateway":"10.2.0.1"}`), &m); err == nil {
		t.Fatal("invalid state accepted")
	}
}

func TestHostRoutes(t *testing.T) {
	if _, err := os.Stat("/proc/net/route"); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("no /proc/net/route")
		}
		t.Skip("no /proc/net/route")
	}
	routes, err := HostRoutes()
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range routes {
		if !r.IsValid() || r.Bits() == 0 || r != r.Masked() {
			t.Fatalf("bad route %v", r)
		}
	}
}
