package server

import (
	"net/http"

	"github.com/berth-dev/berth/daemon"
	"github.com/moby/moby/api/types/jsonstream"
	"github.com/moby/moby/api/types/registry"
)

// pushRoutes registers the image push and registry login endpoints.
func (s *Server) pushRoutes() {
	s.imageOp("POST", "push", s.imagePush)
	s.handle("POST /auth", s.login)
}

// imagePush is POST /images/{name}/push?tag=: a push, streamed as Docker's JSON messages.
func (s *Server) imagePush(w http.ResponseWriter, r *http.Request, name string) error {
	ac, err := daemon.DecodeRegistryAuth(r.Header.Get(registry.AuthHeader))
	if err != nil {
		return err
	}
	sw := &streamWriter{w: w}
	err = s.d.Push(daemon.WithRegistryAuth(r.Context(), ac), name, r.URL.Query().Get("tag"), sw.message)
	if err == nil {
		return nil
	}
	if !sw.started {
		return s.registryError(w, err)
	}
	sw.message(jsonstream.Message{Error: &jsonstream.Error{Message: err.Error()}})
	return nil
}

// login is POST /auth: checks credentials against a registry.
func (s *Server) login(w http.ResponseWriter, r *http.Request) error {
	var ac registry.AuthConfig
	if err := decodeBody(r, &ac); err != nil {
		return err
	}
	resp, err := s.d.Login(r.Context(), ac)
	if err != nil {
		return s.registryError(w, err)
	}
	return writeJSON(w, http.StatusOK, resp)
}

// registryError answers 401 for credentials a registry refused, like dockerd;
// other errors go back to the router.
func (s *Server) registryError(w http.ResponseWriter, err error) error {
	if daemon.IsUnauthorized(err) {
		return writeJSON(w, http.StatusUnauthorized, map[string]string{"message": err.Error()})
	}
	return err
}

// withRegistryAuth is r's context carrying the credentials of its X-Registry-Auth header.
func withRegistryAuth(r *http.Request) (*http.Request, error) {
	ac, err := daemon.DecodeRegistryAuth(r.Header.Get(registry.AuthHeader))
	if err != nil {
		return nil, err
	}
	return r.WithContext(daemon.WithRegistryAuth(r.Context(), ac)), nil
}
