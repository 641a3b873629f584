package server

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"regexp"
	"strconv"
	"strings"

	"github.com/berth-dev/berth/daemon"
	"github.com/berth-dev/berth/errdefs"
	"github.com/berth-dev/berth/internal/version"
)

// Server routes Docker Engine API requests to the daemon.
type Server struct {
	d        *daemon.Daemon
	log      *slog.Logger
	mux      *http.ServeMux
	imageOps map[string]imageOpFunc
}

// New returns the API handler for d.
func New(d *daemon.Daemon, log *slog.Logger) *Server {
	s := &Server{d: d, log: log, mux: http.NewServeMux()}
	s.routes()
	return s
}

type handler func(w http.ResponseWriter, r *http.Request) error

func (s *Server) handle(pattern string, h handler) {
	s.mux.HandleFunc(pattern, func(w http.ResponseWriter, r *http.Request) {
		if err := h(w, r); err != nil {
			s.writeError(w, r, err)
		}
	})
}

func (s *Server) routes() {
	s.handle("GET /_ping", s.ping)
	s.handle("HEAD /_ping", s.ping)
	s.handle("GET /version", s.version)
	s.handle("GET /info", s.info)

	s.handle("POST /images/create", s.imageCreate)
	s.handle("GET /images/{rest...}", s.imagesDispatch)
	s.handle("POST /images/{rest...}", s.imagesDispatch)
	s.handle("DELETE /images/{rest...}", s.imagesDispatch)
	s.imageOp("GET", "json", s.imageInspect)
	s.pushRoutes()
	s.imageManageRoutes()
	s.imageArchiveRoutes()
	s.searchRoutes()

	s.handle("POST /containers/create", s.containerCreate)
	s.handle("GET /containers/json", s.containerList)
	s.handle("GET /containers/{id}/json", s.containerInspect)
	s.handle("POST /containers/{id}/start", s.containerStart)
	s.handle("POST /containers/{id}/stop", s.containerStop)
	s.handle("POST /containers/{id}/restart", s.containerRestart)
	s.handle("POST /containers/{id}/kill", s.containerKill)
	s.handle("POST /containers/{id}/wait", s.containerWait)
	s.handle("POST /containers/{id}/attach", s.containerAttach)
	s.handle("GET /containers/{id}/logs", s.containerLogs)
	s.handle("DELETE /containers/{id}", s.containerDelete)
	s.manageRoutes()
	s.networkRoutes()
	s.volumeRoutes()
	s.buildRoutes()
	s.fsRoutes()

	s.handle("/", func(w http.ResponseWriter, r *http.Request) error {
		return errdefs.New(errdefs.ErrNotImplemented, fmt.Sprintf("%s %s is not supported by Berth %s yet", r.Method, r.URL.Path, version.Version))
	})
}

var versionPrefix = regexp.MustCompile(`^/v(\d+\.\d+)(/.*)$`)

// ServeHTTP strips and checks the /vX.Y prefix, sets Docker's headers and routes.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set("Api-Version", daemon.APIVersion)
	h.Set("Docker-Experimental", "false")
	h.Set("Ostype", "linux")
	h.Set("Server", "Berth/"+version.Version+" (linux)")
	if m := versionPrefix.FindStringSubmatch(r.URL.Path); m != nil {
		v := m[1]
		if versionLess(daemon.APIVersion, v) {
			s.writeError(w, r, errdefs.InvalidParameter(fmt.Sprintf("client version %s is too new. Maximum supported API version is %s", v, daemon.APIVersion)))
			return
		}
		if versionLess(v, daemon.MinAPIVersion) {
			s.writeError(w, r, errdefs.InvalidParameter(fmt.Sprintf("client version %s is too old. Minimum supported API version is %s, please upgrade your client to a newer version", v, daemon.MinAPIVersion)))
			return
		}
		r.URL.Path = m[2]
		r.URL.RawPath = ""
	}
	s.log.Debug("api", "method", r.Method, "path", r.URL.Path)
	s.mux.ServeHTTP(w, r)
}

// versionLess compares "major.minor" API versions.
func versionLess(a, b string) bool {
	am, an, _ := strings.Cut(a, ".")
	bm, bn, _ := strings.Cut(b, ".")
	ai, _ := strconv.Atoi(am)
	bi, _ := strconv.Atoi(bm)
	if ai != bi {
		return ai < bi
	}
	aj, _ := strconv.Atoi(an)
	bj, _ := strconv.Atoi(bn)
	return aj < bj
}

func (s *Server) writeError(w http.ResponseWriter, r *http.Request, err error) {
	status := errdefs.HTTPStatus(err)
	if status == http.StatusNotModified {
		w.WriteHeader(status)
		return
	}
	if status >= 500 {
		s.log.Error("request failed", "method", r.Method, "path", r.URL.Path, "err", err)
	} else {
		s.log.Debug("request refused", "method", r.Method, "path", r.URL.Path, "status", status, "err", err)
	}
	writeJSON(w, status, map[string]string{"message": err.Error()})
}

func writeJSON(w http.ResponseWriter, status int, v any) error {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	return json.NewEncoder(w).Encode(v)
}

// boolValue parses a query flag as dockerd does.
func boolValue(r *http.Request, key string) bool {
	switch strings.ToLower(strings.TrimSpace(r.URL.Query().Get(key))) {
	case "", "0", "no", "false", "none":
		return false
	}
	return true
}

// decodeFilters accepts both filter encodings docker clients send.
func decodeFilters(raw string) (map[string][]string, error) {
	out := map[string][]string{}
	if raw == "" {
		return out, nil
	}
	var m map[string]map[string]bool
	if err := json.Unmarshal([]byte(raw), &m); err == nil {
		for k, vals := range m {
			for v, on := range vals {
				if on {
					out[k] = append(out[k], v)
				}
			}
		}
		return out, nil
	}
	var l map[string][]string
	if err := json.Unmarshal([]byte(raw), &l); err != nil {
		return nil, errdefs.InvalidParameter("invalid filter: " + err.Error())
	}
	return l, nil
}

func decodeBody(r *http.Request, v any) error {
	if r.Body == nil || r.ContentLength == 0 {
		return errdefs.InvalidParameter("invalid JSON: request body is empty")
	}
	if err := json.NewDecoder(r.Body).Decode(v); err != nil {
		return errdefs.InvalidParameter("invalid JSON: " + err.Error())
	}
	return nil
}

var (
	errNoStreams = errors.New("Bad parameters: you must choose at least one stream")
	errEOF       = io.EOF
)
