package dns

import (
	"net/netip"
	"testing"
)

func TestResolvConf(t *testing.T) {
	const host = "# generated\nnameserver 192.0.2.53\nnameserver 127.0.0.53\nnameserver ::1\nnameserver 2001:db8::53\nsearch corp.example lab.example\noptions edns0 timeout:2\n"
	const stub = "nameserver 127.0.0.53\noptions edns0 trust-ad\nsearch .\n"
	embedded := netip.MustParseAddr("172.18.0.1")
	none := netip.Addr{}
	for _, tc := range []struct {
		name                 string
		host                 string
		ns                   netip.Addr
		dns, search, options []string
		want                 string
	}{
		{name: "host copied, loopback dropped", host: host, ns: none,
			want: "nameserver 192.0.2.53\nnameserver 2001:db8::53\nsearch corp.example lab.example\noptions edns0 timeout:2\n"},
		{name: "only loopback upstreams", host: stub, ns: none,
			want: "nameserver 8.8.8.8\nnameserver 8.8.4.4\nsearch .\noptions edns0 trust-ad\n"},
		{name: "empty host", host: "", ns: none, want: "nameserver 8.8.8.8\nnameserver 8.8.4.4\n"},
		{name: "custom dns replaces nameservers", host: host, ns: none, dns: []string{"1.1.1.1", "127.0.0.1"},
			want: "nameserver 1.1.1.1\nnameserver 127.0.0.1\nsearch corp.example lab.example\noptions edns0 timeout:2\n"},
		{name: "search and options overridden", host: host, ns: none, search: []string{"a.example"}, options: []string{"ndots:2"},
			want: "nameserver 192.0.2.53\nnameserver 2001:db8::53\nsearch a.example\noptions ndots:2\n"},
		{name: "search dot clears", host: host, ns: none, search: []string{"."},
			want: "nameserver 192.0.2.53\nnameserver 2001:db8::53\noptions edns0 timeout:2\n"},
		{name: "domain line", host: "domain home.example\nnameserver 192.0.2.1\n", ns: none,
			want: "nameserver 192.0.2.1\nsearch home.example\n"},
		{name: "embedded", host: host, ns: embedded,
			want: "nameserver 172.18.0.1\nsearch corp.example lab.example\noptions edns0 timeout:2 ndots:0\n"},
		{name: "embedded ignores custom dns", host: host, ns: embedded, dns: []string{"1.1.1.1"},
			want: "nameserver 172.18.0.1\nsearch corp.example lab.example\noptions edns0 timeout:2 ndots:0\n"},
		{name: "embedded keeps user ndots", host: host, ns: embedded, options: []string{"ndots:3", "rotate"},
			want: "nameserver 172.18.0.1\nsearch corp.example lab.example\noptions ndots:3 rotate\n"},
		{name: "embedded keeps host ndots", host: "nameserver 10.0.0.1\noptions ndots:5\n", ns: embedded,
			want: "nameserver 172.18.0.1\noptions ndots:5\n"},
		{name: "embedded empty host", host: "", ns: embedded, want: "nameserver 172.18.0.1\noptions ndots:0\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := string(ResolvConf([]byte(tc.host), tc.ns, tc.dns, tc.search, tc.options))
			if got != tc.want {
				t.Fatalf("got:\n%s\nwant:\n%s", got, tc.want)
			}
		})
	}
}
