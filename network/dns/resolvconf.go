package dns

import (
	"bufio"
	"bytes"
	"net/netip"
	"strings"
)

// defaultNameservers are used by Docker when no usable host nameserver remains.
var defaultNameservers = []string{"8.8.8.8", "8.8.4.4"}

// resolvConf is the part of a resolv.conf file Berth cares about.
type resolvConf struct {
	nameservers []netip.Addr
	search      []string
	options     []string
}

// parseResolvConf reads nameserver, search, domain and options lines; the last
// search or domain line wins, as in the resolver.
func parseResolvConf(b []byte) resolvConf {
	var rc resolvConf
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) == 0 || f[0][0] == '#' || f[0][0] == ';' {
			continue
		}
		switch f[0] {
		case "nameserver":
			if len(f) > 1 {
				if a, err := netip.ParseAddr(f[1]); err == nil {
					rc.nameservers = append(rc.nameservers, a.Unmap())
				}
			}
		case "search":
			rc.search = append([]string(nil), f[1:]...)
		case "domain":
			if len(f) > 1 {
				rc.search = []string{f[1]}
			}
		case "options":
			rc.options = append(rc.options, f[1:]...)
		}
	}
	return rc
}

// ResolvConf renders a container's /etc/resolv.conf from the host's. With a
// valid nameserver (the embedded server) it is the only nameserver and
// "ndots:0" is added unless an ndots option is present; custom dns servers
// are then the embedded server's business, not the file's. Otherwise dns
// replaces the host's nameservers, loopback ones are dropped (unreachable from
// the container) and Google's are used if none remain. A non-empty search or
// options replaces the host's; search ["."] means no search domains.
func ResolvConf(hostResolvConf []byte, nameserver netip.Addr, dns []string, search []string, options []string) []byte {
	host := parseResolvConf(hostResolvConf)
	var ns []string
	if nameserver.IsValid() {
		ns = []string{nameserver.String()}
	} else {
		if len(dns) > 0 {
			ns = append(ns, dns...)
		} else {
			for _, a := range host.nameservers {
				if !a.IsLoopback() {
					ns = append(ns, a.String())
				}
			}
		}
		if len(ns) == 0 {
			ns = defaultNameservers
		}
	}
	if len(search) == 0 {
		search = host.search
	} else if len(search) == 1 && search[0] == "." {
		search = nil
	}
	if len(options) == 0 {
		options = host.options
	}
	if nameserver.IsValid() {
		hasNdots := false
		for _, o := range options {
			hasNdots = hasNdots || strings.HasPrefix(o, "ndots:")
		}
		if !hasNdots {
			options = append(append([]string(nil), options...), "ndots:0")
		}
	}
	var b bytes.Buffer
	for _, n := range ns {
		b.WriteString("nameserver " + n + "\n")
	}
	if len(search) > 0 {
		b.WriteString("search " + strings.Join(search, " ") + "\n")
	}
	if len(options) > 0 {
		b.WriteString("options " + strings.Join(options, " ") + "\n")
	}
	return b.Bytes()
}
