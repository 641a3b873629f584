package distribution

import (
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"slices"
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

// endpoints lists where to pull named from, in order: the registry's mirrors, then the
// registry itself (for docker.io: Docker Hub, unless NoHub).
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
	for _, m := range p.mirrorsOf(domain) {
		host, insecure, err := p.parseMirror(m)
		if err != nil {
			return nil, err
		}
		if err := add(host, insecure, true); err != nil {
			return nil, err
		}
	}
	if domain != dockerHubDomain {
		return eps, add(domain, p.isInsecure(domain), false)
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

// mirrorsOf returns the mirrors configured for a registry host.
func (p *Puller) mirrorsOf(host string) []string {
	host = canonicalHost(host)
	var out []string
	if host == dockerHubDomain {
		out = slices.Clip(p.opts.Mirrors)
	}
	for h, ms := range p.opts.MirrorsByHost {
		if canonicalHost(h) == host {
			out = append(out, ms...)
		}
	}
	return out
}

// canonicalHost names Docker Hub's aliases docker.io and lowercases the rest.
func canonicalHost(host string) string {
	host = strings.ToLower(host)
	switch host {
	case "index.docker.io", "registry-1.docker.io":
		return dockerHubDomain
	}
	return host
}

// Validate checks the mirror and insecure-registry settings, so that a bad daemon
// configuration fails at start rather than at the first pull.
func (o Options) Validate() error {
	p := &Puller{opts: o}
	for _, m := range o.Mirrors {
		if _, _, err := p.parseMirror(m); err != nil {
			return err
		}
	}
	for host, ms := range o.MirrorsByHost {
		if host == "" || strings.Contains(host, "/") {
			return fmt.Errorf("invalid registry %q in registry-mirrors-by-host: want host[:port] without scheme or path", host)
		}
		if _, err := name.NewRegistry(host, name.StrictValidation); err != nil {
			return fmt.Errorf("invalid registry %q in registry-mirrors-by-host: %w", host, err)
		}
		for _, m := range ms {
			if _, _, err := p.parseMirror(m); err != nil {
				return fmt.Errorf("registry-mirrors-by-host %s: %w", host, err)
			}
		}
	}
	for _, e := range o.Insecure {
		if strings.Contains(e, "://") {
			return fmt.Errorf("insecure registry %s should not contain '://'", e)
		}
	}
	return nil
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
	if (u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.Fragment != "" || u.User != nil {
		return "", false, fmt.Errorf("invalid registry mirror %q: path, query, fragment or credentials are not supported", m)
	}
	return u.Host, u.Scheme == "http" || p.isInsecure(u.Host), nil
}
