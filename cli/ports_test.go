package cli

import (
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"testing"

	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/network"
)

// portMapString renders bindings as sorted "PORT=IP|HOSTPORT" items for comparison.
func portMapString(m network.PortMap) string {
	var out []string
	for p, bs := range m {
		for _, b := range bs {
			ip := ""
			if b.HostIP.IsValid() {
				ip = b.HostIP.String()
			}
			out = append(out, fmt.Sprintf("%s=%s|%s", p, ip, b.HostPort))
		}
	}
	slices.Sort(out)
	return strings.Join(out, " ")
}

func portSetString(s network.PortSet) string {
	var out []string
	for p := range s {
		out = append(out, p.String())
	}
	slices.Sort(out)
	return strings.Join(out, " ")
}

func TestParsePublish(t *testing.T) {
	for _, tc := range []struct {
		specs    []string
		exposed  string
		bindings string
	}{
		{[]string{"8080:80"}, "80/tcp", "80/tcp=|8080"},
		{[]string{"127.0.0.1:8080:80"}, "80/tcp", "80/tcp=127.0.0.1|8080"},
		{[]string{"8080:80/udp"}, "80/udp", "80/udp=|8080"},
		{[]string{"8080:80/UDP"}, "80/udp", "80/udp=|8080"},
		{[]string{"5000:5000/sctp"}, "5000/sctp", "5000/sctp=|5000"},
		{[]string{"80"}, "80/tcp", "80/tcp=|"},
		{[]string{"127.0.0.1::80"}, "80/tcp", "80/tcp=127.0.0.1|"},
		{[]string{"0.0.0.0:80:80"}, "80/tcp", "80/tcp=0.0.0.0|80"},
		{[]string{"8000-8002:80-82"}, "80/tcp 81/tcp 82/tcp", "80/tcp=|8000 81/tcp=|8001 82/tcp=|8002"},
		{[]string{"8000-8010:80"}, "80/tcp", "80/tcp=|8000-8010"},
		{[]string{"80-81"}, "80/tcp 81/tcp", "80/tcp=| 81/tcp=|"},
		{[]string{"[::1]:8080:80"}, "80/tcp", "80/tcp=::1|8080"},
		{[]string{"::1:8080:80"}, "80/tcp", "80/tcp=::1|8080"},
		{[]string{"[::]::80/udp"}, "80/udp", "80/udp=::|"},
		{[]string{"8080:80", "127.0.0.1:9090:80"}, "80/tcp", "80/tcp=127.0.0.1|9090 80/tcp=|8080"},
		{[]string{"65535:65535"}, "65535/tcp", "65535/tcp=|65535"},
		{[]string{"published=8080,target=80"}, "80/tcp", "80/tcp=|8080"},
		{[]string{"target=53,published=5353,protocol=udp"}, "53/udp", "53/udp=|5353"},
		{nil, "", ""},
	} {
		t.Run(strings.Join(tc.specs, " "), func(t *testing.T) {
			exposed, bindings, err := parsePublish(tc.specs)
			if err != nil {
				t.Fatal(err)
			}
			if got := portSetString(exposed); got != tc.exposed {
				t.Errorf("exposed %q, want %q", got, tc.exposed)
			}
			if got := portMapString(bindings); got != tc.bindings {
				t.Errorf("bindings %q, want %q", got, tc.bindings)
			}
		})
	}
}

func TestParsePublishErrors(t *testing.T) {
	for _, tc := range []struct{ spec, want string }{
		{"8080:80/foo", "invalid proto: foo"},
		{"8080:/udp", "invalid proto: "},
		{"8080:", "invalid proto: "}, // docker checks the protocol of the empty port first
		{"abc", "invalid containerPort: abc"},
		{"8080:70000", "invalid containerPort: 70000"},
		{"8080:90-80", "invalid containerPort: 90-80"},
		{"x:80", "invalid hostPort: x"},
		{"-1:80", "invalid hostPort: -1"},
		{"8000-8001:80-82", "invalid ranges specified for container and host Ports: 80-82 and 8000-8001"},
		{"8000:80-81", "invalid ranges specified for container and host Ports: 80-81 and 8000"},
		{"1.2.3:8080:80", "invalid IP address: 1.2.3"},
		{"localhost:8080:80", "invalid IP address: localhost"},
		{"[::1:8080:80", "invalid IP address [::1: address [::1:: missing ']' in address"},
		{"published=8080,target", "invalid publish opts format (should be name=value but got 'target')"},
		{"=1,target=80", "invalid publish opts format (should be name=value but got '=1')"},
	} {
		t.Run(tc.spec, func(t *testing.T) {
			_, _, err := parsePublish([]string{tc.spec})
			if err == nil || err.Error() != tc.want {
				t.Fatalf("err = %v, want %q", err, tc.want)
			}
		})
	}
}

func TestParseExpose(t *testing.T) {
	for _, tc := range []struct {
		specs []string
		want  string
		err   string
	}{
		{specs: []string{"80"}, want: "80/tcp"},
		{specs: []string{"53/udp", "80"}, want: "53/udp 80/tcp"},
		{specs: []string{"7000-7002/tcp"}, want: "7000/tcp 7001/tcp 7002/tcp"},
		{specs: []string{"8080:80"}, err: "invalid port format for --expose: 8080:80"},
		{specs: []string{"http"}, err: `invalid range format for --expose: http, error: strconv.ParseUint: parsing "http": invalid syntax`},
		{specs: []string{"90-80"}, err: "invalid range format for --expose: 90-80, error: invalid range specified for port: 90-80"},
		{specs: []string{"/tcp"}, err: "invalid range format for --expose: /tcp, error: empty string specified for ports"},
		{specs: []string{"99999"}, err: `invalid range format for --expose: 99999, error: strconv.ParseUint: parsing "99999": value out of range`},
	} {
		t.Run(strings.Join(tc.specs, " "), func(t *testing.T) {
			set := network.PortSet{}
			err := parseExpose(tc.specs, set)
			if tc.err != "" {
				if err == nil || err.Error() != tc.err {
					t.Fatalf("err = %v, want %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := portSetString(set); got != tc.want {
				t.Errorf("got %q, want %q", got, tc.want)
			}
		})
	}
}

func TestDisplayPortsLikeDocker(t *testing.T) {
	v4, v6 := netip.MustParseAddr("0.0.0.0"), netip.MustParseAddr("::")
	lo := netip.MustParseAddr("127.0.0.1")
	pub := func(ip netip.Addr, public, private uint16, typ string) container.PortSummary {
		return container.PortSummary{IP: ip, PublicPort: public, PrivatePort: private, Type: typ}
	}
	for _, tc := range []struct {
		name  string
		ports []container.PortSummary
		want  string
	}{
		{"both families", []container.PortSummary{pub(v6, 8080, 80, "tcp"), pub(v4, 8080, 80, "tcp")},
			"0.0.0.0:8080->80/tcp, [::]:8080->80/tcp"},
		{"same-number range grouped", []container.PortSummary{
			pub(v4, 8001, 8001, "tcp"), pub(v4, 8000, 8000, "tcp"), pub(v4, 8002, 8002, "tcp"),
			pub(v6, 8000, 8000, "tcp"), pub(v6, 8001, 8001, "tcp"), pub(v6, 8002, 8002, "tcp"),
		}, "0.0.0.0:8000-8002->8000-8002/tcp, [::]:8000-8002->8000-8002/tcp"},
		{"shifted range listed one by one", []container.PortSummary{
			pub(v4, 8000, 80, "tcp"), pub(v4, 8001, 81, "tcp"), pub(v4, 8002, 82, "tcp"),
		}, "0.0.0.0:8000->80/tcp, 0.0.0.0:8001->81/tcp, 0.0.0.0:8002->82/tcp"},
		{"exposed and published", []container.PortSummary{
			{PrivatePort: 443, Type: "tcp"}, pub(lo, 9999, 9, "udp"), {PrivatePort: 80, Type: "tcp"}, {PrivatePort: 81, Type: "tcp"},
		}, "80-81/tcp, 443/tcp, 127.0.0.1:9999->9/udp"},
		{"gap splits a group", []container.PortSummary{
			{PrivatePort: 1, Type: "tcp"}, {PrivatePort: 2, Type: "tcp"}, {PrivatePort: 4, Type: "tcp"},
		}, "1-2/tcp, 4/tcp"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := displayPorts(tc.ports); got != tc.want {
				t.Errorf("got %q, want %q", got, tc.want)
			}
		})
	}
}
