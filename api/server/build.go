package server

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/berth-dev/berth/daemon"
	"github.com/berth-dev/berth/errdefs"
	"github.com/moby/moby/api/types/jsonstream"
)

func (s *Server) buildRoutes() {
	s.handle("POST /build", s.build)
	s.handle("POST /build/prune", s.buildPrune)
}

// buildPrune is POST /build/prune: all=true, filters until=<duration or time>.
func (s *Server) buildPrune(w http.ResponseWriter, r *http.Request) error {
	f, err := decodeFilters(r.URL.Query().Get("filters"))
	if err != nil {
		return err
	}
	all := boolValue(r, "all")
	var until time.Time
	for k, v := range f {
		switch k {
		case "until":
			if len(v) > 0 {
				if until, err = daemon.ParseUntil(v[0]); err != nil {
					return err
				}
			}
		case "all":
			all = true
		default:
			return errdefs.InvalidParameter(fmt.Sprintf("invalid filter '%s'", k))
		}
	}
	rep, err := s.d.BuildPrune(r.Context(), all, until)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, rep)
}

// build runs the legacy builder (POST /build): a tar context in the body, a JSON
// message stream back; a failure after the stream started is its last message.
func (s *Server) build(w http.ResponseWriter, r *http.Request) error {
	q := r.URL.Query()
	o := daemon.BuildOptions{
		Context:     r.Body,
		Dockerfile:  q.Get("dockerfile"),
		Tags:        q["t"],
		Target:      q.Get("target"),
		NoCache:     boolValue(r, "nocache"),
		Pull:        boolValue(r, "pull"),
		Quiet:       boolValue(r, "q"),
		Platform:    q.Get("platform"),
		NetworkMode: q.Get("networkmode"),
	}
	if v := q.Get("extrahosts"); v != "" {
		o.ExtraHosts = strings.Split(v, ",")
	}
	if v := q.Get("buildargs"); v != "" {
		if err := json.Unmarshal([]byte(v), &o.BuildArgs); err != nil {
			return errdefs.InvalidParameter("invalid buildargs: " + err.Error())
		}
	}
	if v := q.Get("labels"); v != "" {
		if err := json.Unmarshal([]byte(v), &o.Labels); err != nil {
			return errdefs.InvalidParameter("invalid labels: " + err.Error())
		}
	}
	sw := &streamWriter{w: w}
	o.Out = func(m jsonstream.Message) {
		sw.message(m)
		if f, ok := w.(http.Flusher); ok {
			f.Flush()
		}
	}
	_, err := s.d.Build(r.Context(), o)
	if err == nil {
		return nil
	}
	if !sw.started {
		return err
	}
	je := &jsonstream.Error{Message: err.Error()}
	var coded interface{ Code() int }
	if errors.As(err, &coded) {
		je.Code = coded.Code()
	}
	sw.message(jsonstream.Message{Error: je})
	return nil
}
