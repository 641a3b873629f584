package daemon

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"strings"

	"github.com/berth-dev/berth/distribution"
	"github.com/berth-dev/berth/errdefs"
	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/moby/moby/api/types/registry"
)

// DecodeRegistryAuth decodes an X-Registry-Auth header (base64url JSON AuthConfig);
// an empty header is nil. Like dockerd, it accepts padded and unpadded encodings.
func DecodeRegistryAuth(header string) (*registry.AuthConfig, error) {
	if header == "" {
		return nil, nil
	}
	raw, err := base64.URLEncoding.DecodeString(header)
	if err != nil {
		raw, err = base64.RawURLEncoding.DecodeString(strings.TrimRight(header, "="))
	}
	if err != nil {
		return nil, errdefs.InvalidParameter("invalid X-Registry-Auth header: " + err.Error())
	}
	var ac registry.AuthConfig
	if err := json.Unmarshal(raw, &ac); err != nil {
		return nil, errdefs.InvalidParameter("invalid X-Registry-Auth header: " + err.Error())
	}
	return &ac, nil
}

// WithRegistryAuth returns ctx carrying ac (may be nil) as the credentials of the
// registry requests made on its behalf (pull, push).
func WithRegistryAuth(ctx context.Context, ac *registry.AuthConfig) context.Context {
	if ac == nil {
		return ctx
	}
	a := toAuthn(*ac)
	if a == (authn.AuthConfig{}) {
		return ctx
	}
	return distribution.WithAuth(ctx, authn.FromConfig(a))
}

func toAuthn(ac registry.AuthConfig) authn.AuthConfig {
	return authn.AuthConfig{Username: ac.Username, Password: ac.Password, Auth: ac.Auth,
		IdentityToken: ac.IdentityToken, RegistryToken: ac.RegistryToken}
}

// Login checks credentials against a registry as POST /auth does.
func (d *Daemon) Login(ctx context.Context, ac registry.AuthConfig) (registry.AuthResponse, error) {
	a := toAuthn(ac)
	if a.Auth != "" && a.Username == "" {
		if raw, err := base64.StdEncoding.DecodeString(a.Auth); err == nil {
			a.Username, a.Password, _ = strings.Cut(string(raw), ":")
			a.Auth = ""
		}
	}
	if err := d.puller.Login(ctx, ac.ServerAddress, a); err != nil {
		return registry.AuthResponse{}, err
	}
	return registry.AuthResponse{Status: "Login Succeeded"}, nil
}

// IsUnauthorized reports whether err is a registry's refusal of credentials (HTTP 401).
func IsUnauthorized(err error) bool { return errors.Is(err, distribution.ErrUnauthorized) }
