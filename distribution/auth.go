package distribution

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"

	"github.com/berth-dev/berth/errdefs"
	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
)

// ErrUnauthorized is the class of errors for credentials a registry refused (HTTP 401).
var ErrUnauthorized = errors.New("unauthorized")

// unauthorized returns an error of class ErrUnauthorized with exactly msg as its message.
func unauthorized(msg string) error { return errdefs.New(ErrUnauthorized, msg) }

type authKey struct{}

// WithAuth returns ctx carrying the credentials presented to registries for one request.
func WithAuth(ctx context.Context, a authn.Authenticator) context.Context {
	return context.WithValue(ctx, authKey{}, a)
}

// authenticator picks the request's credentials, then the configured keychain, then none.
func (p *Puller) authenticator(ctx context.Context, reg name.Registry) (authn.Authenticator, error) {
	if a, ok := ctx.Value(authKey{}).(authn.Authenticator); ok && a != nil {
		return a, nil
	}
	if p.opts.Keychain != nil {
		return p.opts.Keychain.Resolve(reg)
	}
	return authn.Anonymous, nil
}

// isAnonymous reports whether a carries no credentials.
func isAnonymous(a authn.Authenticator) bool {
	if a == nil || a == authn.Anonymous {
		return true
	}
	c, err := a.Authorization()
	return err == nil && *c == (authn.AuthConfig{})
}

// IsDockerHub reports whether a login server address names Docker Hub.
func IsDockerHub(server string) bool {
	switch strings.TrimSuffix(strings.TrimPrefix(strings.TrimPrefix(server, "https://"), "http://"), "/") {
	case "", "docker.io", "index.docker.io", "index.docker.io/v1", "registry-1.docker.io":
		return true
	}
	return false
}

// loginRegistry turns a login server address ("host[:port]", "http://host", Docker
// Hub's "https://index.docker.io/v1/") into the registry to ask.
func (p *Puller) loginRegistry(server string) (name.Registry, error) {
	insecure := false
	host := server
	if IsDockerHub(server) {
		host = dockerHubRegistry
		switch {
		case p.opts.NoHub:
			return name.Registry{}, errdefs.InvalidParameter("Docker Hub is disabled on this daemon (--no-docker-hub)")
		case p.opts.Hub != "":
			h, ins, err := p.parseMirror(p.opts.Hub)
			if err != nil {
				return name.Registry{}, err
			}
			host, insecure = h, ins
		}
	} else if strings.Contains(server, "://") {
		u, err := url.Parse(server)
		if err != nil || u.Host == "" {
			return name.Registry{}, errdefs.InvalidParameter(fmt.Sprintf("invalid registry address %q", server))
		}
		host, insecure = u.Host, u.Scheme == "http" || p.isInsecure(u.Host)
	} else {
		host = strings.TrimSuffix(host, "/")
		insecure = p.isInsecure(host)
	}
	opts := []name.Option{name.StrictValidation}
	if insecure {
		opts = append(opts, name.Insecure)
	}
	reg, err := name.NewRegistry(host, opts...)
	if err != nil {
		return name.Registry{}, errdefs.InvalidParameter(fmt.Sprintf("invalid registry address %q: %v", server, err))
	}
	return reg, nil
}

// Login checks the credentials in auth against the registry at server (Basic or
// Bearer-token auth). Refused credentials are errors of class ErrUnauthorized.
func (p *Puller) Login(ctx context.Context, server string, auth authn.AuthConfig) error {
	reg, err := p.loginRegistry(server)
	if err != nil {
		return err
	}
	base := p.secure
	if reg.Scheme() == "http" {
		base = p.noTLS
	}
	endpoint := fmt.Sprintf("%s://%s/v2/", reg.Scheme(), reg.RegistryStr())
	tr, err := transport.NewWithContext(ctx, reg, authn.FromConfig(auth), base, nil)
	if err != nil {
		var terr *transport.Error
		if errors.As(err, &terr) && (terr.StatusCode == http.StatusUnauthorized || terr.StatusCode == http.StatusForbidden) {
			return unauthorized(fmt.Sprintf("Get %q: unauthorized: incorrect username or password", endpoint))
		}
		return errdefs.New(errdefs.ErrUnavailable, fmt.Sprintf("Get %q: %v", endpoint, err))
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, endpoint, nil)
	if err != nil {
		return err
	}
	resp, err := (&http.Client{Transport: tr}).Do(req)
	if err != nil {
		return errdefs.New(errdefs.ErrUnavailable, fmt.Sprintf("Get %q: %v", endpoint, err))
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode == http.StatusOK {
		return nil
	}
	msg := fmt.Sprintf("login attempt to %s failed with status: %d %s", endpoint, resp.StatusCode, http.StatusText(resp.StatusCode))
	if resp.StatusCode == http.StatusUnauthorized || resp.StatusCode == http.StatusForbidden {
		return unauthorized(msg)
	}
	return errdefs.New(errdefs.ErrUnavailable, msg)
}
