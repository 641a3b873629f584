package distribution

import (
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"strings"

	"github.com/distribution/reference"
	"github.com/google/go-containerregistry/pkg/name"
)

const (
	dockerHubDomain   = "docker.io"
	dockerHubRegistry = "registry-1.docker.io"
)

// endpoint is one registry a repository can be pulled from.
type endpoint struct {
	repo     name.Repository
	mirror   bool
	insecure bool
}

func (p *Puller) isInsecure(host string) bool {
	hostOnly := host
	if h, _, err := net.SplitHostPort(host); err == nil {
		hostOnly = h
	}
	for _, e := range p.opts.Insecure {
		if e == host || e == hostOnly {
			return true
		}
		if pfx, err := netip.ParsePrefix(e); err == nil {
			if ip, err := netip.ParseAddr(strings.Trim(hostOnly, "[]")); err == nil && pfx.Contains(ip) {
				return true
			}
		}
	}
	return false
}

// endpoints lists where to pull named from, in order: for docker.io the mirrors,
// then Docker Hub itself.
func (p *Puller) endpoints(named reference.Named) ([]endpoint, error) {
	domain, path := reference.Domain(named), reference.Path(named)
	var eps []endpoint
	add := func(host string, insecure, mirror bool) error {
		opts := []name.Option{name.StrictValidation}
		if insecure {
			opts = append(opts, name.Insecure)
		}
		repo, err := name.NewRepository(host+"/"+path, opts...)
		if err != nil {
			return fmt.Errorf("registry %s: %w", host, err)
		}
		eps = append(eps, endpoint{repo: repo, mirror: mirror, insecure: insecure})
		return nil
	}
	if domain == dockerHubDomain {
		for _, m := range p.opts.Mirrors {
			host, insecure, err := p.parseMirror(m)
			if err != nil {
				return nil, err
			}
			if err := add(host, insecure, true); err != nil {
				return nil, err
			}
		}
		if p.opts.NoHub {
			return eps, nil
		}
		hub := p.opts.Hub
		if hub == "" {
			hub = dockerHubRegistry
		}
		host, insecure, err := p.parseMirror(hub)
		if err != nil {
			return nil, err
		}
		return eps, add(host, insecure, false)
	}
	return eps, add(domain, p.isInsecure(domain), false)
}

// parseMirror splits "http://host:port", "https://host" or "host" into the host and
// whether plain HTTP may be used.
func (p *Puller) parseMirror(m string) (string, bool, error) {
	if !strings.Contains(m, "://") {
		return m, p.isInsecure(m), nil
	}
	u, err := url.Parse(m)
	if err != nil || u.Host == "" || (u.Scheme != "http" && u.Scheme != "https") {
		return "", false, fmt.Errorf("invalid registry mirror %q", m)
	}
	return u.Host, u.Scheme == "http" || p.isInsecure(u.Host), nil
}
